//! Dead-letter operations (`vemt dead-letters list | show | replay`): what
//! the dead-letter queue holds, one message in detail without its personal
//! data, and replaying a message (or a corrected body) through the inbound
//! exchange, so that it meets exactly the checks of any inbound message.
//!
//! RabbitMQ has no "peek". A pass reads the queue with `basic.get` and
//! manual acknowledgement, keeping every message it took unacknowledged (so
//! the broker does not hand it out again within the pass) until the queue
//! has no ready message left, then puts back what it did not remove with
//! one `basic.nack` (requeue). A nack is not counted as a failed delivery
//! (RabbitMQ 4 counts `basic.reject`), so reading never brings a message
//! nearer a delivery limit. Should the tool die half-way, the broker
//! requeues everything the channel held: nothing is lost. A pass keeps a
//! summary of each message, not its body; `basic.get` is not subject to
//! `basic.qos`, and the pass is bounded because every message it read stays
//! held by it until it ends. A replay is marked with the pass
//! (`x-vemt-replay-pass`, which the service keeps when it dead-letters the
//! message again), and a pass never replays a message carrying its own mark
//! or an id it already replayed: a replay of everything is one pass, never
//! a loop. A removal (a replay) is acked only after the broker has
//! confirmed the republish.
//!
//! The broker applies a requeue asynchronously: a pass started the moment
//! another ended may not see the messages that one put back yet.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::broker;
use crate::config::BrokerSettings;

/// The headers the service writes on a dead letter (`x-vemt-error`, the
/// reason `<json path>: <rule>`; its kind; the original routing key and
/// publisher; when it was first seen), and the one a replay carries to name
/// the user it is published on behalf of.
pub use crate::broker::ERROR_HEADER;
pub use crate::inbound::{
    ERROR_KIND_HEADER, FIRST_SEEN_HEADER, ORIGINAL_ROUTING_KEY_HEADER, ORIGINAL_USER_HEADER,
    REPLAY_OF_USER_HEADER,
};
/// On a replay: the pass that replayed it (a UUID), so the same pass does
/// not replay it again when the service refuses it again.
pub const REPLAY_PASS_HEADER: &str = "x-vemt-replay-pass";

/// What replaces a string value of the payload in `show`.
pub const REDACTED: &str = "[redacted]";

/// Bound on every single wait on the broker, so a stalled broker ends the
/// command with the step's name instead of hanging it.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// CloudEvents attributes `show` prints as they are (ids, names of types
/// and sources, times: never a person's data).
const ENVELOPE_ATTRIBUTES: [&str; 9] = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "dataschema",
    "subject",
    "correlationid",
];

/// The user a replayed message is published on behalf of: the value of
/// `x-vemt-replay-of-user-id`, if any. The inbound consumer honours it only
/// when the message's `user_id` is the service's own user (which RabbitMQ
/// lets only the service's own connections set).
pub fn replayed_for(properties: &BasicProperties) -> Option<String> {
    text_header(properties.headers().as_ref()?, REPLAY_OF_USER_HEADER)
}

/// One dead letter as read from the queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The routing key it was dead-lettered with.
    pub routing_key: String,
    pub exchange: String,
    pub redelivered: bool,
    pub properties: BasicProperties,
    pub body: Vec<u8>,
}

impl DeadLetter {
    fn of(delivery: &Delivery) -> Self {
        Self {
            routing_key: delivery.routing_key.to_string(),
            exchange: delivery.exchange.to_string(),
            redelivered: delivery.redelivered,
            properties: delivery.properties.clone(),
            body: delivery.data.clone(),
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        text_header(self.properties.headers().as_ref()?, name)
    }

    /// The CloudEvent envelope's `id` and `type`, when the body is a JSON
    /// object with them as strings. `data` is never looked at.
    fn envelope(&self) -> (Option<String>, Option<String>) {
        let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(&self.body) else {
            return (None, None);
        };
        let text = |key: &str| event.get(key).and_then(Value::as_str).map(one_line);
        (text("id"), text("type"))
    }

    /// The id operators name it by: the AMQP `message_id`, else the
    /// CloudEvent `id`.
    pub fn id(&self) -> Option<String> {
        self.properties
            .message_id()
            .as_ref()
            .map(|m| one_line(m.as_str()))
            .or_else(|| self.envelope().0)
    }

    /// The broker's own record of dead-lettering (`x-death`): the entry of
    /// the first death, as RabbitMQ names it in `x-first-death-queue`.
    fn first_death(&self) -> Option<&FieldTable> {
        let headers = self.properties.headers().as_ref()?;
        let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
            return None;
        };
        let tables: Vec<&FieldTable> = deaths
            .as_slice()
            .iter()
            .filter_map(|d| match d {
                AMQPValue::FieldTable(t) => Some(t),
                _ => None,
            })
            .collect();
        let first_queue = text_header(headers, "x-first-death-queue");
        tables
            .iter()
            .rev()
            .find(|t| first_queue.is_some() && text_header(t, "queue") == first_queue)
            .or(tables.last())
            .copied()
    }

    /// The publisher it came from (see `original_publisher`).
    pub fn publisher(&self, own_user: &str) -> Option<String> {
        original_publisher(&self.properties, own_user)
    }

    /// The routing key it was first published with.
    pub fn original_routing_key(&self) -> String {
        self.header(ORIGINAL_ROUTING_KEY_HEADER)
            .or_else(|| {
                let death = self.first_death()?;
                match death.inner().get("routing-keys")? {
                    AMQPValue::FieldArray(keys) => keys.as_slice().iter().find_map(text),
                    _ => None,
                }
            })
            .unwrap_or_else(|| self.routing_key.clone())
    }

    /// Why it is here: the service's `x-vemt-error`, or `broker: <reason>`
    /// for a message the broker dead-lettered (its delivery limit).
    pub fn reason(&self) -> Option<String> {
        if let Some(reason) = self.header(ERROR_HEADER) {
            return Some(one_line(&reason));
        }
        let reason = self
            .properties
            .headers()
            .as_ref()
            .and_then(|h| text_header(h, "x-first-death-reason"))
            .or_else(|| text_header(self.first_death()?, "reason"))?;
        Some(format!("broker: {}", one_line(&reason)))
    }

    /// `malformed`, `rejected`, `data`, `internal` (the service's kinds),
    /// or `broker`.
    pub fn kind(&self) -> Option<String> {
        self.header(ERROR_KIND_HEADER)
            .map(|k| one_line(&k))
            .or_else(|| {
                (self.header(ERROR_HEADER).is_none() && self.reason().is_some())
                    .then(|| "broker".to_owned())
            })
    }

    /// When it was first seen: `x-vemt-first-seen`, else when the broker
    /// dead-lettered it, else the AMQP `timestamp`.
    pub fn time(&self) -> Option<String> {
        if let Some(seen) = self.header(FIRST_SEEN_HEADER) {
            return Some(match DateTime::parse_from_rfc3339(&seen) {
                Ok(t) => rfc3339(t.with_timezone(&Utc)),
                Err(_) => one_line(&seen),
            });
        }
        let death_time = self
            .first_death()
            .and_then(|d| match d.inner().get("time")? {
                AMQPValue::Timestamp(t) => Some(*t),
                _ => None,
            });
        death_time
            .or(*self.properties.timestamp())
            .and_then(|t| DateTime::from_timestamp(i64::try_from(t).ok()?, 0))
            .map(rfc3339)
    }

    pub fn summary(&self, own_user: &str) -> Summary {
        let (event_id, event_type) = self.envelope();
        Summary {
            id: self.id(),
            message_id: self
                .properties
                .message_id()
                .as_ref()
                .map(|m| one_line(m.as_str())),
            event_id,
            event_type,
            routing_key: self.original_routing_key(),
            reason: self.reason(),
            kind: self.kind(),
            publisher: self.publisher(own_user),
            time: self.time(),
        }
    }
}

/// One line of `list`: no payload value, ever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// What `show` and `replay` take: `message_id`, else `event_id`.
    pub id: Option<String>,
    pub message_id: Option<String>,
    /// The CloudEvent `id` and `type`, when the body is JSON.
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// The routing key it was first published with (a replay uses it).
    pub routing_key: String,
    pub reason: Option<String>,
    pub kind: Option<String>,
    /// The RabbitMQ user that published it.
    pub publisher: Option<String>,
    /// RFC 3339, UTC.
    pub time: Option<String>,
}

/// The original publisher of a dead letter: `x-vemt-original-user-id`
/// (written by the service, which publishes the dead-letter copy as its own
/// user), else the message's `user_id` (a message the broker dead-lettered,
/// or one from a service version that kept the publisher's `user_id`). A
/// replay refused again is named by the user it was replayed for.
pub fn original_publisher(properties: &BasicProperties, own_user: &str) -> Option<String> {
    let headers = properties.headers().as_ref();
    let replay_of = headers.and_then(|h| text_header(h, REPLAY_OF_USER_HEADER));
    let original = headers
        .and_then(|h| text_header(h, ORIGINAL_USER_HEADER))
        .or_else(|| properties.user_id().as_ref().map(|u| u.to_string()));
    match (original, replay_of) {
        (Some(user), Some(of)) if user == own_user => Some(of),
        (None, Some(of)) => Some(of),
        (original, _) => original,
    }
}

/// Headers a replay does not carry over: the reasons and routes of this
/// dead-lettering (the service writes its own if it refuses the message
/// again) and the broker's delivery bookkeeping. `x-vemt-first-seen` stays.
fn dropped_on_replay(name: &str) -> bool {
    matches!(
        name,
        ERROR_HEADER
            | ERROR_KIND_HEADER
            | ORIGINAL_ROUTING_KEY_HEADER
            | ORIGINAL_USER_HEADER
            | REPLAY_OF_USER_HEADER
            | REPLAY_PASS_HEADER
            | "x-death"
            | "x-delivery-count"
    ) || name.starts_with("x-first-death-")
        || name.starts_with("x-last-death-")
}

/// The properties of a replay: the original's (message id, type,
/// timestamp, correlation id, content type, its own headers), persistent,
/// published as `own_user` (RabbitMQ checks it is the connection's user)
/// on behalf of the original publisher, named in `x-vemt-replay-of-user-id`,
/// and marked with the replaying pass (`x-vemt-replay-pass`). No
/// `expiration`: a replay must not vanish.
pub fn replay_properties(dead: &DeadLetter, own_user: &str, pass: &str) -> BasicProperties {
    let p = &dead.properties;
    let mut headers: BTreeMap<ShortString, AMQPValue> = p
        .headers()
        .as_ref()
        .map(|h| {
            h.inner()
                .iter()
                .filter(|(name, _)| !dropped_on_replay(name.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    headers.insert(
        REPLAY_PASS_HEADER.into(),
        AMQPValue::LongString(pass.into()),
    );
    if let Some(publisher) = dead.publisher(own_user).filter(|u| u != own_user) {
        headers.insert(
            REPLAY_OF_USER_HEADER.into(),
            AMQPValue::LongString(publisher.into()),
        );
    }
    broker::republished_properties(p, FieldTable::from(headers), own_user)
}

/// The body with its personal data hidden: every string value inside `data`
/// (and inside any member that is not a CloudEvents attribute) replaced by
/// `[redacted]`, keys, numbers, booleans and nulls kept. `None` when the
/// body is not JSON: nothing of it can be shown safely.
pub fn redact_body(body: &[u8]) -> Option<Value> {
    let value: Value = serde_json::from_slice(body).ok()?;
    Some(match value {
        Value::Object(event) => Value::Object(
            event
                .into_iter()
                .map(|(key, value)| {
                    let keep = ENVELOPE_ATTRIBUTES.contains(&key.as_str())
                        && !matches!(value, Value::Object(_) | Value::Array(_));
                    let value = if keep { value } else { redact(value) };
                    (key, value)
                })
                .collect::<Map<_, _>>(),
        ),
        other => redact(other),
    })
}

fn redact(value: Value) -> Value {
    match value {
        Value::String(_) => Value::String(REDACTED.into()),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        Value::Object(members) => {
            Value::Object(members.into_iter().map(|(k, v)| (k, redact(v))).collect())
        }
        other => other,
    }
}

/// How `show` prints the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyView {
    /// String values of the payload redacted (the default).
    Redacted,
    /// The body as received: holds personal data.
    Raw,
}

/// `show`: every property and header, the reason, and the body.
pub fn render_show(dead: &DeadLetter, own_user: &str, body: BodyView) -> Vec<u8> {
    let s = dead.summary(own_user);
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let _ = writeln!(out, "id:           {}", dash(&s.id));
    let _ = writeln!(out, "type:         {}", dash(&s.event_type));
    let _ = writeln!(out, "event id:     {}", dash(&s.event_id));
    let _ = writeln!(out, "reason:       {}", dash(&s.reason));
    let _ = writeln!(out, "kind:         {}", dash(&s.kind));
    let _ = writeln!(out, "publisher:    {}", dash(&s.publisher));
    let _ = writeln!(out, "time:         {}", dash(&s.time));
    let _ = writeln!(out, "routing key:  {} (a replay uses it)", s.routing_key);
    let _ = writeln!(
        out,
        "delivery:     exchange {:?}, routing key {:?}, redelivered {}",
        dead.exchange, dead.routing_key, dead.redelivered
    );
    out.push_str("properties:\n");
    for (name, value) in properties(&dead.properties) {
        let _ = writeln!(out, "  {name}: {value}");
    }
    out.push_str("headers:\n");
    if let Some(headers) = dead.properties.headers() {
        for (name, value) in headers {
            let _ = writeln!(out, "  {name}: {}", json_of(value));
        }
    }
    let mut out = out.into_bytes();
    match body {
        BodyView::Raw => {
            out.extend_from_slice(
                format!(
                    "body ({} bytes, as received; holds personal data):\n",
                    dead.body.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(&dead.body);
            if !dead.body.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
        BodyView::Redacted => match redact_body(&dead.body) {
            Some(redacted) => {
                out.extend_from_slice(
                    format!(
                        "body ({} bytes; string values of the payload {REDACTED}, --body prints it whole):\n",
                        dead.body.len()
                    )
                    .as_bytes(),
                );
                let text = serde_json::to_string_pretty(&redacted).unwrap_or_default();
                out.extend_from_slice(text.as_bytes());
                out.push(b'\n');
            }
            None => out.extend_from_slice(
                format!(
                    "body ({} bytes): not JSON, not shown (--body prints it whole)\n",
                    dead.body.len()
                )
                .as_bytes(),
            ),
        },
    }
    out
}

fn properties(p: &BasicProperties) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut text = |name, value: &Option<ShortString>| {
        if let Some(v) = value {
            out.push((name, v.to_string()));
        }
    };
    text("content_type", p.content_type());
    text("content_encoding", p.content_encoding());
    text("correlation_id", p.correlation_id());
    text("reply_to", p.reply_to());
    text("expiration", p.expiration());
    text("message_id", p.message_id());
    text("type", p.kind());
    text("user_id", p.user_id());
    text("app_id", p.app_id());
    text("cluster_id", p.cluster_id());
    if let Some(mode) = p.delivery_mode() {
        out.push(("delivery_mode", mode.to_string()));
    }
    if let Some(priority) = p.priority() {
        out.push(("priority", priority.to_string()));
    }
    if let Some(t) = p.timestamp() {
        let when = i64::try_from(*t)
            .ok()
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(rfc3339)
            .unwrap_or_default();
        out.push(("timestamp", format!("{t} ({when})")));
    }
    out
}

/// `list`, for a terminal: one line per dead letter.
pub fn render_list(letters: &[Summary]) -> String {
    let rows: Vec<[String; 5]> = letters
        .iter()
        .map(|s| {
            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            [
                dash(&s.time),
                dash(&s.id),
                dash(&s.event_type),
                dash(&s.publisher),
                dash(&s.reason),
            ]
        })
        .collect();
    let header = ["TIME", "ID", "TYPE", "PUBLISHER", "REASON"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What `replay` names: one message by id, or the whole queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Id(String),
    All,
}

/// One message republished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    pub id: Option<String>,
    pub routing_key: String,
    /// The user it was published on behalf of.
    pub on_behalf_of: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Republished (broker confirmed) and removed from the dead-letter queue.
    pub replayed: Vec<Replayed>,
    /// Left in the queue: replayed earlier in this pass and refused again,
    /// or a copy of a message (same id) replayed earlier in this pass.
    pub skipped: usize,
    /// The first republish that failed, which ended the pass; that message
    /// and the ones after it are still in the queue.
    pub failed: Option<String>,
}

/// A connection to the broker as the service's own user.
pub struct DeadLetters {
    connection: Connection,
    publish: Channel,
    settings: BrokerSettings,
    own_user: String,
}

impl DeadLetters {
    pub async fn connect(settings: &BrokerSettings) -> anyhow::Result<Self> {
        let connection = broker::connect(settings).await?;
        let publish = step("opening a channel", broker::confirm_channel(&connection)).await?;
        Ok(Self {
            connection,
            publish,
            settings: settings.clone(),
            own_user: broker::user_name(settings)?,
        })
    }

    /// The broker user this tool (and the service) connects as.
    pub fn own_user(&self) -> &str {
        &self.own_user
    }

    /// Messages ready in the dead-letter queue.
    pub async fn count(&self) -> anyhow::Result<u32> {
        let channel = step("opening a channel", self.connection.create_channel()).await?;
        let count = ready(&channel, &self.settings.dead_letter_queue).await;
        let _ = step("closing a channel", channel.close(200, "done".into())).await;
        count
    }

    /// Every dead letter, in queue order, summarised.
    pub async fn list(&self) -> anyhow::Result<Vec<Summary>> {
        let mut pass = Pass::start(&self.connection, &self.settings.dead_letter_queue).await?;
        let mut out = Vec::new();
        let read = async {
            while let Some(delivery) = pass.next().await? {
                out.push(DeadLetter::of(&delivery).summary(&self.own_user));
            }
            anyhow::Ok(())
        }
        .await;
        pass.finish().await?;
        read?;
        Ok(out)
    }

    /// The first dead letter with this id (see `DeadLetter::id`).
    pub async fn find(&self, id: &str) -> anyhow::Result<Option<DeadLetter>> {
        let mut pass = Pass::start(&self.connection, &self.settings.dead_letter_queue).await?;
        let found = async {
            while let Some(delivery) = pass.next().await? {
                let dead = DeadLetter::of(&delivery);
                if dead.id().as_deref() == Some(id) {
                    return anyhow::Ok(Some(dead));
                }
            }
            Ok(None)
        }
        .await;
        pass.finish().await?;
        found
    }

    /// Republishes to the inbound exchange, with its original routing key,
    /// the message with this id (or every message in one pass), each
    /// removed from the dead-letter queue once the broker has confirmed
    /// it. `corrected` (only with an id) is published instead of the
    /// stored body. Returns `Ok` with an empty report when no message has
    /// the id.
    pub async fn replay(
        &self,
        target: &Target,
        corrected: Option<&[u8]>,
    ) -> anyhow::Result<ReplayReport> {
        if corrected.is_some() && *target == Target::All {
            anyhow::bail!("a corrected body replaces one message: name its id");
        }
        let mut pass = Pass::start(&self.connection, &self.settings.dead_letter_queue).await?;
        let mut report = ReplayReport::default();
        let mut seen = HashSet::new();
        let mark = uuid::Uuid::new_v4().to_string();
        let run = async {
            while let Some(delivery) = pass.next().await? {
                let dead = DeadLetter::of(&delivery);
                let id = dead.id();
                if let Target::Id(wanted) = target
                    && id.as_deref() != Some(wanted.as_str())
                {
                    continue;
                }
                // Back already, refused again: left for the operator.
                if dead.header(REPLAY_PASS_HEADER).as_deref() == Some(mark.as_str())
                    || id.as_ref().is_some_and(|id| seen.contains(id))
                {
                    report.skipped += 1;
                    continue;
                }
                let routing_key = dead.original_routing_key();
                let properties = replay_properties(&dead, &self.own_user, &mark);
                let on_behalf_of = replayed_for(&properties);
                let body = corrected.unwrap_or(&dead.body);
                if let Err(err) = broker::publish_confirmed(
                    &self.publish,
                    &self.settings.inbound_exchange,
                    &routing_key,
                    body,
                    properties,
                    Duration::from_secs(self.settings.confirm_timeout_seconds),
                )
                .await
                {
                    report.failed = Some(format!(
                        "{}: not replayed: {err}",
                        id.as_deref().unwrap_or("-")
                    ));
                    return anyhow::Ok(());
                }
                pass.remove(&delivery).await?;
                if let Some(id) = &id {
                    seen.insert(id.clone());
                }
                report.replayed.push(Replayed {
                    id,
                    routing_key,
                    on_behalf_of,
                });
                if matches!(target, Target::Id(_)) {
                    break;
                }
            }
            Ok(())
        }
        .await;
        pass.finish().await?;
        run?;
        Ok(report)
    }

    pub async fn close(self) {
        broker::close(&self.connection).await;
    }
}

/// One pass over a queue: see the module's comment.
struct Pass {
    channel: Channel,
    queue: String,
    /// Delivery tags read and neither removed nor put back yet.
    held: BTreeSet<u64>,
    done: bool,
}

impl Pass {
    async fn start(connection: &Connection, queue: &str) -> anyhow::Result<Self> {
        let channel = step("opening a channel", connection.create_channel()).await?;
        // Fails, naming the queue, when it does not exist.
        ready(&channel, queue).await?;
        Ok(Self {
            channel,
            queue: queue.to_owned(),
            held: BTreeSet::new(),
            done: false,
        })
    }

    async fn next(&mut self) -> anyhow::Result<Option<Delivery>> {
        if self.done {
            return Ok(None);
        }
        let got = step(
            "reading the dead-letter queue",
            self.channel.basic_get(
                self.queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            ),
        )
        .await?;
        let Some(message) = got else {
            self.done = true;
            return Ok(None);
        };
        self.held.insert(message.delivery.delivery_tag);
        Ok(Some(message.delivery))
    }

    /// Removes a message of this pass from the queue.
    async fn remove(&mut self, delivery: &Delivery) -> anyhow::Result<()> {
        step(
            "removing a replayed message",
            self.channel
                .basic_ack(delivery.delivery_tag, BasicAckOptions::default()),
        )
        .await?;
        self.held.remove(&delivery.delivery_tag);
        Ok(())
    }

    /// Puts back everything read and not removed, then closes the channel
    /// (which would put them back as well).
    async fn finish(self) -> anyhow::Result<()> {
        // `multiple` up to the highest tag still held: a tag already acked
        // would be an unknown tag to the broker, which closes the channel.
        if let Some(&tag) = self.held.last() {
            step(
                "returning messages to the dead-letter queue",
                self.channel.basic_nack(
                    tag,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                ),
            )
            .await?;
        }
        step("closing a channel", self.channel.close(200, "done".into())).await?;
        Ok(())
    }
}

/// Messages ready in a queue, by a passive declare (which fails, closing
/// the channel, when the queue does not exist).
async fn ready(channel: &Channel, queue: &str) -> anyhow::Result<u32> {
    let declared = step(
        "reading the dead-letter queue's length",
        broker::inspect(channel, queue),
    )
    .await
    .map_err(|err| anyhow::anyhow!("queue {queue}: {err:#}"))?;
    Ok(declared.message_count())
}

async fn step<T, E>(
    what: &str,
    future: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: Into<anyhow::Error>,
{
    match tokio::time::timeout(STEP_TIMEOUT, future).await {
        Ok(result) => result.map_err(|e| e.into().context(what.to_owned())),
        Err(_) => anyhow::bail!("{what}: no answer from the broker within {STEP_TIMEOUT:?}"),
    }
}

fn text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

fn text_header(table: &FieldTable, name: &str) -> Option<String> {
    text(table.inner().get(name)?)
}

/// A header value as JSON, for `show`.
pub fn json_of(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Float(n) => Value::from(f64::from(*n)),
        AMQPValue::Double(n) => Value::from(*n),
        AMQPValue::DecimalValue(d) => Value::String(format!("{}e-{}", d.value, d.scale)),
        AMQPValue::ShortString(_) | AMQPValue::LongString(_) => {
            Value::String(text(value).unwrap_or_default())
        }
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(json_of).collect())
        }
        AMQPValue::Timestamp(t) => i64::try_from(*t)
            .ok()
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map_or_else(|| Value::from(*t), |t| Value::String(rfc3339(t))),
        AMQPValue::FieldTable(table) => Value::Object(
            table
                .inner()
                .iter()
                .map(|(k, v)| (k.to_string(), json_of(v)))
                .collect(),
        ),
        AMQPValue::ByteArray(bytes) => Value::String(format!("({} bytes)", bytes.len())),
        AMQPValue::Void => Value::Null,
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A value from a message, safe on one line of a terminal: control
/// characters replaced, at most 200 characters.
fn one_line(raw: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = raw
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if raw.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in entries {
            t.insert((*k).into(), v.clone());
        }
        t
    }

    fn long(s: &str) -> AMQPValue {
        AMQPValue::LongString(s.into())
    }

    fn dead(properties: BasicProperties, body: &[u8]) -> DeadLetter {
        DeadLetter {
            routing_key: "police.missing-episode.v1".into(),
            exchange: "vemt.dead-letter".into(),
            redelivered: false,
            properties,
            body: body.to_vec(),
        }
    }

    fn episode() -> Vec<u8> {
        serde_json::to_vec(&json!({
            "specversion": "1.0",
            "id": "ev-1",
            "source": "urn:test:police",
            "type": "police.missing-episode.v1",
            "data": {
                "episode_id": "CP-1",
                "revision": 2,
                "person": { "given_name": "Secretname", "date_of_birth": "2011-03-04" },
                "aliases": ["Othername"],
                "returned": true,
            },
            "extra": "Freetext",
        }))
        .unwrap()
    }

    #[test]
    fn a_service_dead_letter_is_summarised_from_its_headers() {
        let headers = table(&[
            (ERROR_HEADER, long("$.data.risk_level: must be one of high")),
            (ERROR_KIND_HEADER, long("rejected")),
            (
                ORIGINAL_ROUTING_KEY_HEADER,
                long("police.missing-episode.v1"),
            ),
            (ORIGINAL_USER_HEADER, long("police-feed")),
            (FIRST_SEEN_HEADER, long("2026-11-16T10:00:00+01:00")),
        ]);
        let d = dead(
            BasicProperties::default()
                .with_message_id("m-1".into())
                .with_user_id("vemt".into())
                .with_headers(headers),
            &episode(),
        );
        let s = d.summary("vemt");
        assert_eq!(s.id.as_deref(), Some("m-1"));
        assert_eq!(s.event_id.as_deref(), Some("ev-1"));
        assert_eq!(s.event_type.as_deref(), Some("police.missing-episode.v1"));
        assert_eq!(
            s.reason.as_deref(),
            Some("$.data.risk_level: must be one of high")
        );
        assert_eq!(s.kind.as_deref(), Some("rejected"));
        assert_eq!(s.publisher.as_deref(), Some("police-feed"));
        assert_eq!(s.time.as_deref(), Some("2026-11-16T09:00:00Z"));
        let listed = render_list(&[s]);
        assert!(!listed.contains("Secretname") && !listed.contains("2011-03-04"));
    }

    #[test]
    fn without_the_service_headers_the_message_itself_is_read() {
        let d = dead(
            BasicProperties::default()
                .with_user_id("police-feed".into())
                .with_timestamp(1_763_283_600),
            b"not json",
        );
        let s = d.summary("vemt");
        assert_eq!(s.id, None);
        assert_eq!(s.event_type, None);
        assert_eq!(s.reason, None);
        assert_eq!(s.publisher.as_deref(), Some("police-feed"));
        assert_eq!(s.routing_key, "police.missing-episode.v1");
        assert_eq!(s.time.as_deref(), Some("2025-11-16T09:00:00Z"));
        let line = render_list(&[s]);
        assert!(line.lines().nth(1).unwrap().contains(" -  "), "{line}");
    }

    #[test]
    fn a_broker_dead_letter_is_read_from_x_death() {
        let death = table(&[
            ("count", AMQPValue::LongLongInt(1)),
            ("reason", long("delivery_limit")),
            ("queue", long("vemt.inbound")),
            ("exchange", long("vemt.inbound")),
            (
                "routing-keys",
                AMQPValue::FieldArray(vec![long("lcs.child.v1")].into()),
            ),
            ("time", AMQPValue::Timestamp(1_763_283_600)),
        ]);
        let headers = table(&[
            (
                "x-death",
                AMQPValue::FieldArray(vec![AMQPValue::FieldTable(death)].into()),
            ),
            ("x-first-death-reason", long("delivery_limit")),
            ("x-first-death-queue", long("vemt.inbound")),
        ]);
        let d = dead(
            BasicProperties::default()
                .with_user_id("lcs".into())
                .with_headers(headers),
            &episode(),
        );
        let s = d.summary("vemt");
        assert_eq!(s.reason.as_deref(), Some("broker: delivery_limit"));
        assert_eq!(s.kind.as_deref(), Some("broker"));
        assert_eq!(s.routing_key, "lcs.child.v1");
        assert_eq!(s.publisher.as_deref(), Some("lcs"));
        assert_eq!(s.time.as_deref(), Some("2025-11-16T09:00:00Z"));
        assert_eq!(s.id.as_deref(), Some("ev-1"), "the CloudEvent id stands in");
    }

    #[test]
    fn a_replay_is_published_as_the_own_user_on_behalf_of_the_publisher() {
        let headers = table(&[
            (ERROR_HEADER, long("$.data: x")),
            (ORIGINAL_USER_HEADER, long("police-feed")),
            (FIRST_SEEN_HEADER, long("2026-11-16T09:00:00Z")),
            ("x-first-death-reason", long("delivery_limit")),
            ("x-partner", long("kept")),
        ]);
        let d = dead(
            BasicProperties::default()
                .with_message_id("m-1".into())
                .with_type("police.missing-episode.v1".into())
                .with_expiration("60000".into())
                .with_user_id("vemt".into())
                .with_headers(headers),
            b"{}",
        );
        let p = replay_properties(&d, "vemt", "pass-1");
        assert_eq!(p.user_id().as_ref().unwrap().as_str(), "vemt");
        assert_eq!(p.message_id().as_ref().unwrap().as_str(), "m-1");
        assert_eq!(p.expiration(), &None);
        assert_eq!(replayed_for(&p).as_deref(), Some("police-feed"));
        let names: Vec<&str> = p
            .headers()
            .as_ref()
            .unwrap()
            .inner()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "x-partner",
                FIRST_SEEN_HEADER,
                REPLAY_OF_USER_HEADER,
                REPLAY_PASS_HEADER
            ]
        );
    }

    #[test]
    fn a_refused_replay_is_named_by_its_original_publisher() {
        // Dead-lettered again: the service's user, replayed for police-feed.
        let headers = table(&[
            (ORIGINAL_USER_HEADER, long("vemt")),
            (REPLAY_OF_USER_HEADER, long("police-feed")),
        ]);
        let p = BasicProperties::default()
            .with_user_id("vemt".into())
            .with_headers(headers);
        assert_eq!(
            original_publisher(&p, "vemt").as_deref(),
            Some("police-feed")
        );
        // Its own user's message is replayed with no on-behalf header.
        let own = dead(
            BasicProperties::default().with_user_id("vemt".into()),
            b"{}",
        );
        assert_eq!(
            replayed_for(&replay_properties(&own, "vemt", "pass-1")),
            None
        );
    }

    #[test]
    fn show_redacts_every_string_of_the_payload_but_keeps_the_envelope() {
        let d = dead(
            BasicProperties::default().with_message_id("m-1".into()),
            &episode(),
        );
        let shown = String::from_utf8(render_show(&d, "vemt", BodyView::Redacted)).unwrap();
        for secret in ["Secretname", "2011-03-04", "Othername", "Freetext", "CP-1"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for kept in [
            "\"given_name\": \"[redacted]\"",
            "\"revision\": 2",
            "\"returned\": true",
            "\"id\": \"ev-1\"",
            "message_id: m-1",
        ] {
            assert!(shown.contains(kept), "{kept} not in {shown}");
        }
        let raw = String::from_utf8(render_show(&d, "vemt", BodyView::Raw)).unwrap();
        assert!(raw.contains("Secretname"));
        let broken = dead(
            BasicProperties::default(),
            b"{\"given_name\": \"Secretname\"",
        );
        let shown = String::from_utf8(render_show(&broken, "vemt", BodyView::Redacted)).unwrap();
        assert!(!shown.contains("Secretname") && shown.contains("not JSON"));
    }

    #[test]
    fn values_from_a_message_stay_on_one_line() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
        assert_eq!(one_line(&"x".repeat(300)).chars().count(), 201);
    }
}
