//! RabbitMQ: the connection, the topology of docs/asyncapi.yaml, and publishing
//! with confirms. Topology is declared idempotently at every (re)connect.

use std::str::FromStr;
use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties,
    DefaultConnectionBuilder, ExchangeKind,
};

use crate::config::{BrokerSettings, QueueType};

/// Every outbound type of the contract (docs/asyncapi.yaml): each gets its `vemt.out.<type>` queue.
pub const OUTBOUND_TYPES: [&str; 14] = [
    "lcs.case-note.v1",
    "ehm.case-note.v1",
    "lcs.alert.v1",
    "police.trigger-plan-request.v1",
    "email.v1",
    "lcs.document.v1",
    "lcs.hazard-marker.v1",
    "lcs.case-profile.v1",
    "letter.v1",
    "lcs.task.v1",
    "referral.nrm-request.v1",
    "agenda.missing-review.v1",
    "agenda.vpg-weekly.v1",
    "agenda.vpg-monthly.v1",
];

pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

/// The header that says why a message was dead-lettered.
pub const ERROR_HEADER: &str = "x-vemt-error";

/// Opens a connection, giving up after `CONNECT_TIMEOUT`: a handshake the
/// broker never completes (or lapin never reports) must end in a reconnect,
/// not a service that waits forever. With `amqps://`, the broker's
/// certificate is verified against the system's roots and
/// `broker.tls_ca_file`, for the URL's host name. The error names the broker
/// by scheme, host and port (never the password) and says what was wrong
/// with a refused certificate.
pub async fn connect(settings: &BrokerSettings) -> anyhow::Result<Connection> {
    let uri = lapin::uri::AMQPUri::from_str(&settings.url)
        .map_err(|_| anyhow::anyhow!("broker.url is not a valid AMQP URI"))?;
    let endpoint = format!(
        "{}://{}:{}",
        uri.scheme, uri.authority.host, uri.authority.port
    );
    let builder = DefaultConnectionBuilder::new()?
        .with_uri(uri)
        .with_properties(ConnectionProperties::default())
        .with_tls_config(tls_config(settings)?);
    let unreachable = |reason: String, check: &str| -> anyhow::Error {
        crate::exit::Unreachable {
            server: "RabbitMQ",
            endpoint: endpoint.clone(),
            reason,
            check: check.to_owned(),
        }
        .into()
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, builder.connect()).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) => {
            let err = err.to_string();
            match crate::tls::explain(&err, "the broker", "broker.tls_ca_file") {
                Some(reason) => Err(unreachable(
                    format!("{reason} ({err})"),
                    "the broker's certificate and VEMT__BROKER__TLS_CA_FILE",
                )),
                None if err.contains("ACCESS_REFUSED") || err.contains("authentication") => Err(
                    unreachable(err, "the user and password in VEMT__BROKER__URL"),
                ),
                None if err.contains("NOT_ALLOWED") || err.contains("vhost") => Err(unreachable(
                    err,
                    "the virtual host in VEMT__BROKER__URL (`%2f` is `/`) and the user's permissions on it",
                )),
                None => Err(unreachable(
                    err,
                    "that RabbitMQ is running and reachable there, and the host and port of VEMT__BROKER__URL (broker.url)",
                )),
            }
        }
        Err(_) => Err(unreachable(
            format!("no AMQP connection within {CONNECT_TIMEOUT:?}"),
            "the network path to the broker (firewall, port) and the host and port of VEMT__BROKER__URL",
        )),
    }
}

/// The CA certificates of `broker.tls_ca_file`, added to the roots the
/// broker's certificate is checked against.
fn tls_config(settings: &BrokerSettings) -> anyhow::Result<OwnedTLSConfig> {
    let Some(path) = settings.tls_ca_file() else {
        return Ok(OwnedTLSConfig::default());
    };
    let pem = std::fs::read_to_string(path).map_err(|err| {
        anyhow::anyhow!("cannot read broker.tls_ca_file {}: {err}", path.display())
    })?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        anyhow::bail!(
            "broker.tls_ca_file {} holds no PEM certificate",
            path.display()
        );
    }
    Ok(OwnedTLSConfig {
        identity: None,
        cert_chain: Some(pem),
    })
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Closes a connection, waiting at most `CLOSE_TIMEOUT` for the broker's
/// close-ok (a connection that already failed never sends one).
pub async fn close(connection: &Connection) {
    let closing = connection.close(200, "shutting down".into());
    if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
        tracing::warn!("the broker did not confirm the connection close in time");
    }
}

pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The broker user the service connects as: RabbitMQ checks the `user_id`
/// property of what it publishes against it (R8.5).
pub fn user_name(settings: &BrokerSettings) -> anyhow::Result<String> {
    let uri = lapin::uri::AMQPUri::from_str(&settings.url)
        .map_err(|_| anyhow::anyhow!("broker.url is not a valid AMQP URI"))?;
    Ok(uri.authority.userinfo.username)
}

fn quorum(extra: &[(&str, AMQPValue)]) -> FieldTable {
    of_type(QueueType::Quorum, extra)
}

fn of_type(queue_type: QueueType, extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(queue_type.as_str().into()),
    );
    for (key, value) in extra {
        args.insert(ShortString::from(*key), value.clone());
    }
    args
}

fn durable() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

pub async fn declare_topology(channel: &Channel, b: &BrokerSettings) -> lapin::Result<()> {
    let queue_options = QueueDeclareOptions::durable();
    channel
        .exchange_declare(
            b.dead_letter_exchange.as_str().into(),
            ExchangeKind::Topic,
            durable(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            b.dead_letter_queue.as_str().into(),
            queue_options,
            quorum(&[]),
        )
        .await?;
    bind(channel, &b.dead_letter_queue, &b.dead_letter_exchange, "#").await?;

    channel
        .exchange_declare(
            b.inbound_exchange.as_str().into(),
            ExchangeKind::Topic,
            durable(),
            FieldTable::default(),
        )
        .await?;
    // The broker dead-letters what passes the delivery limit (a crash loop,
    // a message that keeps failing): at-least-once, so nothing is dropped.
    let inbound_args = quorum(&[
        (
            "x-delivery-limit",
            AMQPValue::LongLongInt(i64::from(b.delivery_limit)),
        ),
        (
            "x-dead-letter-exchange",
            AMQPValue::LongString(b.dead_letter_exchange.as_str().into()),
        ),
        (
            "x-dead-letter-strategy",
            AMQPValue::LongString("at-least-once".into()),
        ),
        ("x-overflow", AMQPValue::LongString("reject-publish".into())),
    ]);
    channel
        .queue_declare(b.inbound_queue.as_str().into(), queue_options, inbound_args)
        .await?;
    bind(channel, &b.inbound_queue, &b.inbound_exchange, "#").await?;

    channel
        .exchange_declare(
            b.outbound_exchange.as_str().into(),
            ExchangeKind::Topic,
            durable(),
            FieldTable::default(),
        )
        .await?;
    if b.declare_outbound_queues {
        for event_type in OUTBOUND_TYPES {
            let queue = format!("{}{event_type}", b.outbound_queue_prefix);
            channel
                .queue_declare(
                    queue.as_str().into(),
                    queue_options,
                    of_type(b.outbound_queue_type, &[]),
                )
                .await?;
            bind(channel, &queue, &b.outbound_exchange, event_type).await?;
        }
    }
    Ok(())
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// A channel in confirm mode, for publishing.
pub async fn confirm_channel(connection: &Connection) -> lapin::Result<Channel> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// Why a publish did not land.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker took the message but no queue is bound for its routing key.
    #[error("no queue is bound for routing key {0}")]
    Unroutable(String),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no publisher confirm within {0:?}")]
    TimedOut(Duration),
    #[error("the channel is not in confirm mode")]
    NotConfirmed,
    /// The channel or connection failed: reconnect.
    #[error("broker channel failed: {0}")]
    Channel(#[from] lapin::Error),
}

/// Publishes persistently with the mandatory flag and returns once the
/// broker has confirmed. `Ack` with a returned message is an unroutable
/// publish, not a success.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
    timeout: Duration,
) -> Result<(), PublishError> {
    let pending = publish(channel, exchange, routing_key, body, properties).await?;
    pending
        .confirmed(tokio::time::Instant::now() + timeout)
        .await
}

/// A publish the broker has not confirmed yet. Many can be outstanding on
/// one channel: the broker confirms them as a window, so a batch costs
/// about one round trip instead of one each.
pub struct PendingConfirm {
    confirm: lapin::PublisherConfirm,
    routing_key: String,
}

/// Sends a persistent, mandatory publish without waiting for its confirm.
pub async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<PendingConfirm, PublishError> {
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties,
        )
        .await?;
    Ok(PendingConfirm {
        confirm,
        routing_key: routing_key.to_owned(),
    })
}

impl PendingConfirm {
    /// Waits for the confirm until `deadline`. `Ack` with a returned
    /// message is an unroutable publish, not a success.
    pub async fn confirmed(self, deadline: tokio::time::Instant) -> Result<(), PublishError> {
        let waited = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout_at(deadline, self.confirm).await {
            Err(_) => Err(PublishError::TimedOut(waited)),
            Ok(Err(err)) => Err(PublishError::Channel(err)),
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(_)))) => Err(PublishError::Unroutable(self.routing_key)),
            Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked),
            Ok(Ok(Confirmation::NotRequested)) => Err(PublishError::NotConfirmed),
        }
    }
}

/// The properties for republishing a message the service received (a dead
/// letter, a replay): persistent, with `headers`, published as `user` (the
/// broker refuses another user's `user_id`; none when the URL names no user),
/// and everything else of the original but its expiry (it waits for people).
pub fn republished_properties(
    original: &BasicProperties,
    headers: FieldTable,
    user: &str,
) -> BasicProperties {
    let mut out = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    if !user.is_empty() {
        out = out.with_user_id(user.into());
    }
    if let Some(v) = original.content_type() {
        out = out.with_content_type(v.clone());
    }
    if let Some(v) = original.content_encoding() {
        out = out.with_content_encoding(v.clone());
    }
    if let Some(v) = original.priority() {
        out = out.with_priority(*v);
    }
    if let Some(v) = original.correlation_id() {
        out = out.with_correlation_id(v.clone());
    }
    if let Some(v) = original.reply_to() {
        out = out.with_reply_to(v.clone());
    }
    if let Some(v) = original.message_id() {
        out = out.with_message_id(v.clone());
    }
    if let Some(v) = original.timestamp() {
        out = out.with_timestamp(*v);
    }
    if let Some(v) = original.kind() {
        out = out.with_type(v.clone());
    }
    if let Some(v) = original.app_id() {
        out = out.with_app_id(v.clone());
    }
    out
}

/// AMQP properties of an outbound CloudEvent (docs/asyncapi.yaml).
pub fn event_properties(id: &str, event_type: &str, user: &str, timestamp: u64) -> BasicProperties {
    BasicProperties::default()
        .with_content_type(CLOUDEVENTS_JSON.into())
        .with_delivery_mode(2)
        .with_message_id(id.into())
        .with_type(event_type.into())
        .with_timestamp(timestamp)
        .with_user_id(user.into())
}

/// A queue as the broker holds it (messages ready, consumers), by a passive
/// declare: it fails, closing the channel, when the queue does not exist.
pub async fn inspect(channel: &Channel, queue: &str) -> lapin::Result<lapin::Queue> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}
