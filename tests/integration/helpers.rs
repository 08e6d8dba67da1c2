//! Spawns an isolated copy of the service and talks to it over the broker.

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use vemt::broker::{self, OUTBOUND_TYPES};
use vemt::clock::ManualClock;
use vemt::config::Settings;
use vemt::startup::Application;
use vemt::templates::Templates;

pub const WAIT: Duration = Duration::from_secs(20);

/// The bearer token every test app's HTTP routes require.
pub const HTTP_TOKEN: &str = "test-http-token-0123456789";

/// The test PostgreSQL server (its `postgres` database).
pub fn database_server() -> String {
    std::env::var("VEMT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// The test RabbitMQ, plain AMQP.
pub fn amqp_url() -> String {
    std::env::var("VEMT_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            vemt::telemetry::init(vemt::config::LogFormat::Pretty);
        }
    });
}

pub fn date(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

pub struct TestApp {
    pub settings: Settings,
    pub pool: PgPool,
    pub clock: Arc<ManualClock>,
    /// Removed when the test ends, pass or fail; `None` for a second
    /// instance or a halted one that restarts.
    leftovers: Option<Leftovers>,
    channel: Channel,
    _connection: Connection,
    stop: watch::Sender<bool>,
    running: Option<JoinHandle<anyhow::Result<()>>>,
    http: std::net::SocketAddr,
}

/// The shipped templates (`config/templates/`), as `serve` loads them.
pub fn templates() -> Templates {
    Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
        .expect("shipped templates load")
}

/// Settings for one isolated copy: its own database and broker names.
pub fn isolated_settings() -> (Settings, String) {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load(&config, "test").expect("test settings load");
    let tag = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let database = format!("vemt_test_{tag}");
    let server = database_server();
    let base = server
        .rsplit_once('/')
        .map_or(server.as_str(), |(base, _)| base);
    settings.database.url = format!("{base}/{database}");
    settings.database.create_if_missing = true;
    settings.database.max_connections = 4;
    let b = &mut settings.broker;
    b.url = amqp_url();
    b.inbound_exchange = format!("t{tag}.vemt.inbound");
    b.inbound_queue = format!("t{tag}.vemt.inbound");
    b.outbound_exchange = format!("t{tag}.vemt.outbound");
    b.outbound_queue_prefix = format!("t{tag}.vemt.out.");
    b.dead_letter_exchange = format!("t{tag}.vemt.dead-letter");
    b.dead_letter_queue = format!("t{tag}.vemt.dead-letter");
    settings.http.token = Some(HTTP_TOKEN.into());
    (settings, database)
}

impl TestApp {
    pub async fn spawn(now: DateTime<Utc>) -> Self {
        Self::spawn_with(now, |_| {}).await
    }

    pub async fn spawn_with(now: DateTime<Utc>, adjust: impl FnOnce(&mut Settings)) -> Self {
        init_logs();
        let (mut settings, database) = isolated_settings();
        adjust(&mut settings);
        let clock = Arc::new(ManualClock::new(now));
        Self::start(settings, database, clock).await
    }

    /// Starts the service on these settings and waits until its topology
    /// is declared.
    pub async fn start(settings: Settings, database: String, clock: Arc<ManualClock>) -> Self {
        let app = Application::build(settings.clone(), templates(), clock.clone())
            .await
            .expect("application builds");
        let pool = app.pool().clone();
        let http = app.http_address();
        let mut connected = app.broker_connected();
        let (stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(app.run_until_stopped(shutdown));
        // Every wait on the broker is bounded: a hang must fail the test
        // with the step's name, not stall the whole run.
        let connection = broker::connect(&settings.broker)
            .await
            .expect("test connects to RabbitMQ");
        let channel = tokio::time::timeout(WAIT, broker::confirm_channel(&connection))
            .await
            .expect("test channel opens in time")
            .expect("test channel");
        tokio::time::timeout(WAIT, connected.wait_for(|up| *up))
            .await
            .expect("the service connects to the broker in time")
            .expect("the service is running");
        let leftovers = (!database.is_empty()).then(|| Leftovers::of(&settings, database));
        Self {
            settings,
            pool,
            clock,
            leftovers,
            channel,
            _connection: connection,
            stop,
            running: Some(running),
            http,
        }
    }

    /// The service's HTTP root, e.g. `http://127.0.0.1:41234`.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Publishes a CloudEvent to the inbound exchange as the `guest` user.
    pub async fn publish(&self, event: &Value) {
        let routing_key = event["type"].as_str().unwrap_or("unknown").to_owned();
        let body = serde_json::to_vec(event).expect("event serialises");
        self.publish_raw(&body, &routing_key, Some("guest")).await;
    }

    pub async fn publish_raw(&self, body: &[u8], routing_key: &str, user: Option<&str>) {
        self.publish_inbound_on(&self.channel, body, routing_key, user)
            .await;
    }

    /// Publishes to this app's inbound exchange on any channel (a partner's
    /// own connection), as a partner does: persistent, a message id, and
    /// `user_id` when given.
    pub async fn publish_inbound_on(
        &self,
        channel: &Channel,
        body: &[u8],
        routing_key: &str,
        user: Option<&str>,
    ) {
        let mut properties = BasicProperties::default()
            .with_content_type(broker::CLOUDEVENTS_JSON.into())
            .with_delivery_mode(2)
            .with_message_id(Uuid::new_v4().to_string().as_str().into());
        if let Some(user) = user {
            properties = properties.with_user_id(user.into());
        }
        broker::publish_confirmed(
            channel,
            &self.settings.broker.inbound_exchange,
            routing_key,
            body,
            properties,
            Duration::from_secs(10),
        )
        .await
        .expect("inbound publish confirmed");
    }

    /// `/metrics` as Prometheus reads it.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("{}/metrics", self.http_base()))
            .await
            .expect("the service answers /metrics")
            .text()
            .await
            .expect("a text body")
    }

    pub fn outbound_queue(&self, event_type: &str) -> String {
        format!("{}{event_type}", self.settings.broker.outbound_queue_prefix)
    }

    /// Takes exactly `n` messages from a queue, failing if they do not come.
    pub async fn take(&self, queue: &str, n: usize) -> Vec<lapin::message::Delivery> {
        let mut taken = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while taken.len() < n {
            let get = self
                .channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: true });
            match tokio::time::timeout(WAIT, get)
                .await
                .unwrap_or_else(|_| panic!("basic_get on {queue} did not answer in time"))
            {
                Ok(Some(message)) => taken.push(message.delivery),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(None) => panic!("expected {n} messages on {queue}, got {}", taken.len()),
                Err(err) => panic!("basic_get on {queue}: {err}"),
            }
        }
        taken
    }

    /// The `data` of exactly `n` events of one outbound type.
    pub async fn take_events(&self, event_type: &str, n: usize) -> Vec<Value> {
        self.take(&self.outbound_queue(event_type), n)
            .await
            .iter()
            .map(|d| {
                let event: Value = serde_json::from_slice(&d.data).expect("outbound body is JSON");
                assert_eq!(event["type"], event_type);
                event
            })
            .collect()
    }

    /// Reads events of one type until `n` distinct event ids have come.
    /// The relay is at-least-once: a repeat must carry the same id and the
    /// same content, so that partners can drop it.
    pub async fn take_distinct_events(&self, event_type: &str, n: usize) -> Vec<Value> {
        let mut seen: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
        while seen.len() < n {
            let event = self.take_events(event_type, 1).await.remove(0);
            let id = event["id"].as_str().expect("event id").to_owned();
            if let Some(earlier) = seen.get(&id) {
                assert_eq!(
                    earlier["data"], event["data"],
                    "a repeated event id carries the same effect"
                );
            } else {
                seen.insert(id, event);
            }
        }
        seen.into_values().collect()
    }

    /// Asserts nothing (more) is waiting on an outbound queue, once every
    /// inbound event has been handled and the outbox is drained.
    pub async fn assert_no_more(&self, event_type: &str) {
        self.wait_outbox_drained().await;
        let queue = self.outbound_queue(event_type);
        let got = self
            .channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get");
        if let Some(message) = got {
            panic!(
                "unexpected message on {queue}: {}",
                String::from_utf8_lossy(&message.delivery.data)
            );
        }
    }

    /// Waits until `n` inbound events have been recorded in the inbox.
    pub async fn wait_handled(&self, n: i64) {
        eventually(&format!("{n} events handled"), || async {
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
                .fetch_one(&self.pool)
                .await
                .ok()?;
            (count >= n).then_some(())
        })
        .await;
    }

    pub async fn wait_outbox_drained(&self) {
        eventually("the outbox is drained", || async {
            let pending: i64 =
                // A failed row (an e-mail Notify refused) is kept, not pending.
                sqlx::query_scalar(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL",
                )
                    .fetch_one(&self.pool)
                    .await
                    .ok()?;
            (pending == 0).then_some(())
        })
        .await;
    }

    /// The criteria of a child's item on a meeting's agenda, by LCS or
    /// police person id; `None` when the child has no item there.
    pub async fn item(&self, meeting: &str, person: &str) -> Option<Value> {
        sqlx::query_scalar(
            "SELECT a.assessment FROM agenda_items a JOIN children c USING (child_id)
             WHERE a.meeting_date = $1::date AND (c.lcs_person_id = $2 OR EXISTS (
                 SELECT 1 FROM police_persons p WHERE p.child_id = c.child_id AND p.police_person_id = $2))",
        )
        .bind(meeting)
        .bind(person)
        .fetch_optional(&self.pool)
        .await
        .expect("agenda query")
    }

    /// The criteria names of an item, sorted.
    pub async fn criteria(&self, meeting: &str, person: &str) -> Vec<String> {
        let Some(item) = self.item(meeting, person).await else {
            return Vec::new();
        };
        let mut names: Vec<String> = item
            .as_object()
            .expect("assessment object")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Stops the service; dropping it removes its database and names.
    pub async fn stop(mut self) {
        self.halt().await;
        self.pool.close().await;
    }

    /// Starts a halted app again on the same database, names and clock.
    pub async fn restart(mut halted: Self) -> Self {
        let database = halted
            .leftovers
            .take()
            .map(|l| l.database)
            .unwrap_or_default();
        let (settings, clock) = (halted.settings.clone(), halted.clock.clone());
        drop(halted);
        Self::start(settings, database, clock).await
    }

    /// A second copy of the service on the same database and queues.
    pub async fn second_instance(&self) -> Self {
        Self::start(
            self.settings.clone(),
            String::new(),
            Arc::clone(&self.clock),
        )
        .await
    }

    /// Stops the service but keeps its state, for restart tests.
    pub async fn halt(&mut self) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(60), running)
                .await
                .expect("the service stops within 60 s")
                .expect("service task joins")
                .expect("service stops cleanly");
        }
    }
}

/// What a test leaves on the shared servers: its queues, exchanges and
/// database. Removed straight on the servers (plain AMQP, the `postgres`
/// database), whatever route, TLS proxy included, the app itself took.
struct Leftovers {
    amqp_url: String,
    queues: Vec<String>,
    exchanges: Vec<String>,
    database: String,
}

impl Leftovers {
    fn of(settings: &Settings, database: String) -> Self {
        let b = &settings.broker;
        let mut queues = vec![b.inbound_queue.clone(), b.dead_letter_queue.clone()];
        queues.extend(
            OUTBOUND_TYPES
                .iter()
                .map(|t| format!("{}{t}", b.outbound_queue_prefix)),
        );
        Self {
            amqp_url: amqp_url(),
            queues,
            exchanges: vec![
                b.inbound_exchange.clone(),
                b.outbound_exchange.clone(),
                b.dead_letter_exchange.clone(),
            ],
            database,
        }
    }

    async fn remove(self) {
        let connect = Connection::connect(&self.amqp_url, ConnectionProperties::default());
        if let Ok(Ok(connection)) = tokio::time::timeout(WAIT, connect).await {
            // A failed delete closes the channel: each name gets a fresh
            // one then, so one failure does not leave the rest behind.
            let mut channel = connection.create_channel().await.ok();
            for queue in &self.queues {
                let Some(ch) = &channel else { break };
                if let Err(err) = ch
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await
                {
                    eprintln!("test cleanup: queue {queue} not deleted: {err}");
                    channel = connection.create_channel().await.ok();
                }
            }
            for exchange in &self.exchanges {
                let Some(ch) = &channel else { break };
                if let Err(err) = ch
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await
                {
                    eprintln!("test cleanup: exchange {exchange} not deleted: {err}");
                    channel = connection.create_channel().await.ok();
                }
            }
            broker::close(&connection).await;
        }
        if let Ok(mut admin) = PgConnection::connect(&database_server()).await {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

impl Drop for TestApp {
    /// Runs on its own thread and runtime, so it works when a test has
    /// panicked (and the test's runtime is going away).
    fn drop(&mut self) {
        // A test that did not stop its service: stop it now, or it would
        // reconnect and declare its queues again after they are removed.
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            running.abort();
        }
        if let Some(leftovers) = self.leftovers.take() {
            leftovers.remove_now();
        }
    }
}

impl Leftovers {
    /// Removes them on a thread and runtime of its own, so it works when a
    /// test has panicked (and the test's runtime is going away).
    fn remove_now(self) {
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                // Bounded, like every other wait on the servers. The
                // timer is made inside the runtime: outside it, tokio
                // panics and nothing would be removed.
                let _ = runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(60), self.remove()).await
                });
            }
        })
        .join();
    }
}

/// Settings of an isolated copy for a test that runs the service as its own
/// process (the release or debug binary); its database and names are
/// removed when this is dropped.
pub struct IsolatedNames {
    pub settings: Settings,
    leftovers: Option<Leftovers>,
}

impl IsolatedNames {
    pub fn new() -> Self {
        let (settings, database) = isolated_settings();
        let leftovers = Some(Leftovers::of(&settings, database));
        Self {
            settings,
            leftovers,
        }
    }

    /// The environment that points `vemt` at these names.
    pub fn env(&self) -> Vec<(String, String)> {
        binary_env(&self.settings)
    }
}

/// The environment that points the `vemt` binary at these settings' names.
pub fn binary_env(settings: &Settings) -> Vec<(String, String)> {
    {
        let b = &settings.broker;
        [
            ("VEMT__DATABASE__URL", settings.database.url.as_str()),
            ("VEMT__DATABASE__CREATE_IF_MISSING", "true"),
            ("VEMT__BROKER__URL", b.url.as_str()),
            (
                "VEMT__BROKER__INBOUND_EXCHANGE",
                b.inbound_exchange.as_str(),
            ),
            ("VEMT__BROKER__INBOUND_QUEUE", b.inbound_queue.as_str()),
            (
                "VEMT__BROKER__OUTBOUND_EXCHANGE",
                b.outbound_exchange.as_str(),
            ),
            (
                "VEMT__BROKER__OUTBOUND_QUEUE_PREFIX",
                b.outbound_queue_prefix.as_str(),
            ),
            (
                "VEMT__BROKER__DEAD_LETTER_EXCHANGE",
                b.dead_letter_exchange.as_str(),
            ),
            (
                "VEMT__BROKER__DEAD_LETTER_QUEUE",
                b.dead_letter_queue.as_str(),
            ),
            ("VEMT__HTTP__BIND", "127.0.0.1:0"),
            ("VEMT__HTTP__TOKEN", HTTP_TOKEN),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for IsolatedNames {
    fn drop(&mut self) {
        if let Some(leftovers) = self.leftovers.take() {
            leftovers.remove_now();
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test after `WAIT`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A header of a delivery as text.
pub fn header(delivery: &lapin::message::Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

// ---- synthetic events (no real child's data) ----

pub fn cloud_event(event_type: &str, source: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": source,
        "type": event_type,
        "time": "2026-01-01T00:00:00Z",
        "datacontenttype": "application/json",
        "data": data,
    })
}

/// A police missing episode.
#[derive(Clone)]
pub struct EpisodeSpec<'a> {
    pub episode_id: &'a str,
    pub revision: u32,
    pub police_person_id: &'a str,
    pub lcs_person_id: Option<&'a str>,
    pub status: &'a str,
    pub reported_missing_at: DateTime<Utc>,
    pub returned_at: Option<DateTime<Utc>>,
    pub risk_level: &'a str,
}

impl<'a> EpisodeSpec<'a> {
    /// A low-risk episode that ended an hour after it was reported.
    pub fn returned(
        episode_id: &'a str,
        police: &'a str,
        lcs: Option<&'a str>,
        reported: DateTime<Utc>,
    ) -> Self {
        Self {
            episode_id,
            revision: 1,
            police_person_id: police,
            lcs_person_id: lcs,
            status: "returned",
            reported_missing_at: reported,
            returned_at: Some(reported + chrono::Duration::hours(1)),
            risk_level: "low",
        }
    }

    pub fn event(&self) -> Value {
        let mut person = json!({
            "police_person_id": self.police_person_id,
            "given_name": "Testchild",
            "family_name": format!("Family-{}", self.police_person_id),
            "date_of_birth": "2011-03-04",
            "gender": "female",
        });
        if let Some(lcs) = self.lcs_person_id {
            person["lcs_person_id"] = json!(lcs);
        }
        let mut event = cloud_event(
            "police.missing-episode.v1",
            "urn:test:police",
            json!({
                "episode_id": self.episode_id,
                "revision": self.revision,
                "person": person,
                "status": self.status,
                "reported_missing_at": self.reported_missing_at,
                "last_seen_at": self.reported_missing_at,
                "returned_at": self.returned_at,
                "risk_level": self.risk_level,
                "missing_from": "home",
            }),
        );
        event["time"] = json!(self.reported_missing_at);
        event
    }
}

/// An LCS child record.
pub fn child_record(lcs: &str, revision: u32, police_ids: &[&str], vemt_status: &str) -> Value {
    cloud_event(
        "lcs.child.v1",
        "urn:test:lcs",
        json!({
            "lcs_person_id": lcs,
            "revision": revision,
            "given_name": "Recordchild",
            "family_name": format!("Record-{lcs}"),
            "date_of_birth": "2010-05-06",
            "gender": "female",
            "police_person_ids": police_ids,
            "ehm_id": null,
            "vemt": { "status": vemt_status, "category": "missing", "risk_level": "medium" },
            "professionals": [
                { "role": "social_worker", "worker_id": "W-1", "name": "Test Worker", "email": "worker@example.org" }
            ],
        }),
    )
}
