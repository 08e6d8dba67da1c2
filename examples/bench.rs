//! The benchmark: the broker's own ceiling, then the real service, in one
//! run on the same machine, so the service is reported as a ratio of what
//! RabbitMQ alone does here (absolute figures move ±20% between runs).
//!
//! ```sh
//! SQLX_OFFLINE=true cargo run --release --example bench -- [--events N]
//! ```
//!
//! Uses its own database (`vemt_bench_<tag>`) and broker names
//! (`bench<tag>.`) on the servers of `VEMT_BENCH_DATABASE_URL` and
//! `VEMT_BENCH_AMQP_URL` (this machine's defaults otherwise), and removes
//! them at the end, on error or Ctrl-C too. Events are synthetic; nothing
//! about any event's content is printed. Service logs are off unless
//! `RUST_LOG` is set (the log writer is then part of what is measured).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

use vemt::broker::{self, OUTBOUND_TYPES};
use vemt::clock::SystemClock;
use vemt::config::Settings;
use vemt::startup::Application;
use vemt::templates::Templates;

const DEFAULT_EVENTS: usize = 20_000;
/// Confirms outstanding at once: a pipelining publisher, not one that
/// waits for each confirm (the broker's ceiling, not the client's latency).
const CONFIRM_WINDOW: usize = 1_000;
/// Episodes per police person: four within 30 days meet `top_missing`.
const EPISODES_PER_PERSON: usize = 4;
/// A step that makes no progress for this long fails the run.
const STALL: Duration = Duration::from_secs(60);

struct Run {
    events: usize,
    event_bytes: usize,
    ceiling: Ceiling,
    service: ServiceFigures,
    relay: RelayFigures,
}

/// The relay alone: effects already in the outbox when the service starts.
struct RelayFigures {
    effects: usize,
    drained: Duration,
}

struct Ceiling {
    publish: Duration,
    consume: Duration,
}

struct ServiceFigures {
    handled: Duration,
    drained: Duration,
    effects: i64,
    service_time_p50: Duration,
    service_time_p99: Duration,
    peak_rss_kib: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = parse_events()?;
    if std::env::var_os("RUST_LOG").is_some() {
        vemt::telemetry::init(vemt::config::LogFormat::Pretty);
    }
    let tag = Uuid::new_v4().simple().to_string()[..10].to_owned();
    let (settings, server) = bench_settings(&tag)?;
    let database = format!("vemt_bench_{tag}");
    let ceiling_queue = format!("bench{tag}.ceiling");
    let outcome = tokio::select! {
        run = run(&settings, &ceiling_queue, events) => run,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    clean_up(&settings, &server, &database, &ceiling_queue).await;
    print(&outcome?);
    Ok(())
}

fn parse_events() -> anyhow::Result<usize> {
    let mut args = std::env::args().skip(1);
    let mut events = DEFAULT_EVENTS;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => {
                events = args
                    .next()
                    .context("--events needs a number")?
                    .parse()
                    .context("--events needs a number")?;
            }
            other => bail!("unknown argument {other}; usage: bench [--events N]"),
        }
    }
    anyhow::ensure!(events > 0, "--events must be at least 1");
    Ok(events)
}

/// Production defaults (`config/default.toml`: quorum queues, prefetch 100,
/// 8 database connections) with this run's own names.
fn bench_settings(tag: &str) -> anyhow::Result<(Settings, String)> {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    // No `bench.toml` exists: only the defaults (and any VEMT__ variables).
    let mut settings = Settings::load(&config, "local")?;
    let server = std::env::var("VEMT_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    settings.database.url = format!("{base}/vemt_bench_{tag}");
    settings.database.create_if_missing = true;
    settings.http.bind = "127.0.0.1:0".parse()?;
    settings.http.token = None;
    let b = &mut settings.broker;
    b.url = std::env::var("VEMT_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    b.inbound_exchange = format!("bench{tag}.vemt.inbound");
    b.inbound_queue = format!("bench{tag}.vemt.inbound");
    b.outbound_exchange = format!("bench{tag}.vemt.outbound");
    b.outbound_queue_prefix = format!("bench{tag}.vemt.out.");
    b.dead_letter_exchange = format!("bench{tag}.vemt.dead-letter");
    b.dead_letter_queue = format!("bench{tag}.vemt.dead-letter");
    Ok((settings, server))
}

async fn run(settings: &Settings, ceiling_queue: &str, events: usize) -> anyhow::Result<Run> {
    let now = Utc::now();
    let event_bytes = serde_json::to_vec(&synthetic_event(0, events, now))?.len();
    let ceiling = broker_ceiling(settings, ceiling_queue, events, event_bytes).await?;
    let service = service(settings, events, now).await?;
    let relay = relay(settings, events).await?;
    Ok(Run {
        events,
        event_bytes,
        ceiling,
        service,
        relay,
    })
}

/// RabbitMQ alone: N persistent messages of the events' size through a
/// quorum queue, published with confirms, then consumed with the service's
/// prefetch and one manual ack each.
async fn broker_ceiling(
    settings: &Settings,
    queue: &str,
    n: usize,
    bytes: usize,
) -> anyhow::Result<Ceiling> {
    let connection = broker::connect(&settings.broker).await?;
    let result = async {
        let publisher = broker::confirm_channel(&connection).await?;
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        publisher
            .queue_declare(queue.into(), QueueDeclareOptions::durable(), args)
            .await?;
        let body = vec![b'x'; bytes];
        let started = Instant::now();
        publish_all(
            &publisher,
            "",
            (0..n).map(|_| (queue.to_owned(), body.clone(), properties())),
        )
        .await?;
        let publish = started.elapsed();
        let consumer = connection.create_channel().await?;
        consumer
            .basic_qos(settings.broker.prefetch, BasicQosOptions::default())
            .await?;
        let started = Instant::now();
        let mut deliveries = consumer
            .basic_consume(
                queue.into(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        for _ in 0..n {
            let delivery = tokio::time::timeout(STALL, deliveries.next())
                .await
                .context("the ceiling consumer stalled")?
                .context("the broker cancelled the ceiling consumer")??;
            delivery.ack(BasicAckOptions::default()).await?;
        }
        Ok(Ceiling {
            publish,
            consume: started.elapsed(),
        })
    }
    .await;
    broker::close(&connection).await;
    result
}

fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type(broker::CLOUDEVENTS_JSON.into())
        .with_delivery_mode(2)
        .with_message_id(Uuid::new_v4().to_string().as_str().into())
        .with_user_id("guest".into())
}

/// Publishes with at most `CONFIRM_WINDOW` confirms outstanding; fails on
/// any nack or unroutable message.
async fn publish_all(
    channel: &Channel,
    exchange: &str,
    messages: impl Iterator<Item = (String, Vec<u8>, BasicProperties)>,
) -> anyhow::Result<()> {
    let mut pending = VecDeque::with_capacity(CONFIRM_WINDOW);
    for (routing_key, body, properties) in messages {
        if pending.len() >= CONFIRM_WINDOW {
            settle(pending.pop_front()).await?;
        }
        let confirm = channel
            .basic_publish(
                exchange.into(),
                routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &body,
                properties,
            )
            .await?;
        pending.push_back(confirm);
    }
    while !pending.is_empty() {
        settle(pending.pop_front()).await?;
    }
    Ok(())
}

async fn settle(confirm: Option<lapin::PublisherConfirm>) -> anyhow::Result<()> {
    let Some(confirm) = confirm else {
        return Ok(());
    };
    match tokio::time::timeout(STALL, confirm)
        .await
        .context("no publisher confirm in time")??
    {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => bail!("a benchmark message was unroutable"),
        Confirmation::Nack(_) => bail!("the broker nacked a benchmark message"),
        Confirmation::NotRequested => bail!("the channel is not in confirm mode"),
    }
}

/// The service: N episodes waiting on its inbound queue, then the service
/// started and timed until every event is in the inbox and every effect is
/// published.
async fn service(
    settings: &Settings,
    n: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<ServiceFigures> {
    // The backlog is published before the consumer starts, so the timing
    // is the service's, not the publisher's.
    let connection = broker::connect(&settings.broker).await?;
    let published = async {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        broker::declare_topology(&channel, &settings.broker).await?;
        let events = (0..n).map(|i| {
            let event = synthetic_event(i, n, now);
            let body = serde_json::to_vec(&event).expect("a JSON value serialises");
            ("police.missing-episode.v1".to_owned(), body, properties())
        });
        publish_all(&channel, &settings.broker.inbound_exchange, events).await
    }
    .await;
    broker::close(&connection).await;
    published?;

    let templates = Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))?;
    let app = Application::build(settings.clone(), templates, Arc::new(SystemClock)).await?;
    // The bench's own queries get their own connection, not one of the
    // service's eight.
    let probe = PgPoolOptions::new()
        .max_connections(1)
        .connect(&settings.database.url)
        .await?;
    reset_peak_rss();
    let (stop, shutdown) = watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn(app.run_until_stopped(shutdown));
    let measured = measure(&probe, n, started).await;
    let peak_rss_kib = peak_rss_kib();
    stop.send_replace(true);
    match tokio::time::timeout(Duration::from_secs(60), running).await {
        Ok(joined) => joined??,
        Err(_) => bail!("the service did not stop within 60 s"),
    }
    let mut figures = measured?;
    figures.peak_rss_kib = peak_rss_kib;
    probe.close().await;
    Ok(figures)
}

/// The relay alone: N effects of about the events' size written to the
/// outbox while the service is stopped, then the service started and timed
/// until the broker has confirmed them all.
async fn relay(settings: &Settings, n: usize) -> anyhow::Result<RelayFigures> {
    let probe = PgPoolOptions::new()
        .max_connections(1)
        .connect(&settings.database.url)
        .await?;
    let body = json!({
        "specversion": "1.0",
        "type": "lcs.alert.v1",
        "source": "urn:bench",
        "data": { "reason": "unmatched_police_person", "padding": "x".repeat(400) },
    });
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, body)
         SELECT gen_random_uuid(), 'lcs.alert.v1', $1 FROM generate_series(1, $2)",
    )
    .bind(&body)
    .bind(i32::try_from(n)?)
    .execute(&probe)
    .await?;
    let templates = Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))?;
    let app = Application::build(settings.clone(), templates, Arc::new(SystemClock)).await?;
    let (stop, shutdown) = watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn(app.run_until_stopped(shutdown));
    let pending_count =
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL";
    let drained = wait_until(&probe, pending_count, |c| c == 0, "relay drained").await;
    let drained = drained.map(|()| started.elapsed());
    stop.send_replace(true);
    match tokio::time::timeout(Duration::from_secs(60), running).await {
        Ok(joined) => joined??,
        Err(_) => bail!("the service did not stop within 60 s"),
    }
    probe.close().await;
    Ok(RelayFigures {
        effects: n,
        drained: drained?,
    })
}

async fn measure(probe: &PgPool, n: usize, started: Instant) -> anyhow::Result<ServiceFigures> {
    let target = i64::try_from(n)?;
    let handled_count = "SELECT count(*) FROM inbox";
    // Rows Notify refused would be failed, not pending (not used here).
    let pending_count =
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL";
    wait_until(probe, handled_count, |c| c >= target, "events handled").await?;
    let handled = started.elapsed();
    wait_until(probe, pending_count, |c| c == 0, "outbox drained").await?;
    let drained = started.elapsed();
    let effects: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(probe)
        .await?;
    // The consumer takes one delivery at a time, so the gap between
    // consecutive `received_at` (the service clock when it handles the
    // event) is the time one event takes: transaction, ack, next parse.
    let received: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT received_at FROM inbox ORDER BY received_at")
            .fetch_all(probe)
            .await?;
    let mut gaps: Vec<Duration> = received
        .windows(2)
        .filter_map(|w| (w[1] - w[0]).to_std().ok())
        .collect();
    gaps.sort_unstable();
    let quantile = |q: f64| {
        gaps.get(((gaps.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Ok(ServiceFigures {
        handled,
        drained,
        effects,
        service_time_p50: quantile(0.5),
        service_time_p99: quantile(0.99),
        peak_rss_kib: None,
    })
}

/// Polls a count until `done`; fails when it stops moving for `STALL`
/// (a dead-lettered event never reaches the inbox).
async fn wait_until(
    probe: &PgPool,
    query: &'static str,
    done: impl Fn(i64) -> bool,
    what: &str,
) -> anyhow::Result<()> {
    let mut last = (-1, Instant::now());
    loop {
        let count: i64 = sqlx::query_scalar(query).fetch_one(probe).await?;
        if done(count) {
            return Ok(());
        }
        if count != last.0 {
            last = (count, Instant::now());
        } else if last.1.elapsed() > STALL {
            bail!("stalled waiting until {what} (count {count})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Event `i` of `n`: four episodes for each police person, interleaved so
/// that one person's episodes do not arrive together. Even persons have all
/// four within 30 days (`top_missing`: queued, one trigger-plan request);
/// odd ones 100 days apart (no criterion). One person in four has no LCS
/// link (an `lcs.alert.v1` for operations when queued). Synthetic ids only.
fn synthetic_event(i: usize, n: usize, now: DateTime<Utc>) -> Value {
    let persons = n.div_ceil(EPISODES_PER_PERSON);
    let (person, k) = (i % persons, i / persons);
    let days_ago = if person % 2 == 0 {
        3 + 6 * k
    } else {
        10 + 100 * k
    };
    let reported = now - chrono::Duration::days(days_ago as i64);
    let police = format!("BENCH-P-{person:06}");
    let mut subject = json!({
        "police_person_id": police,
        "given_name": "Benchchild",
        "family_name": format!("Family-{person:06}"),
        "date_of_birth": "2011-03-04",
        "gender": "female",
    });
    if person % 4 != 1 {
        subject["lcs_person_id"] = json!(format!("BENCH-L-{person:06}"));
    }
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": "urn:bench:police",
        "type": "police.missing-episode.v1",
        "time": reported,
        "datacontenttype": "application/json",
        "data": {
            "episode_id": format!("BENCH-E-{person:06}-{k}"),
            "revision": 1,
            "person": subject,
            "status": "returned",
            "reported_missing_at": reported,
            "last_seen_at": reported,
            "returned_at": reported + chrono::Duration::hours(1),
            "risk_level": "low",
            "missing_from": "home",
        },
    })
}

/// Resets the kernel's peak-RSS mark (Linux `clear_refs` 5), so that VmHWM
/// covers the service, not the ceiling run or the publishing before it.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Removes the run's queues, exchanges and database; every step is
/// bounded and attempted even when an earlier one failed.
async fn clean_up(settings: &Settings, server: &str, database: &str, ceiling_queue: &str) {
    let b = &settings.broker;
    let mut queues = vec![
        ceiling_queue.to_owned(),
        b.inbound_queue.clone(),
        b.dead_letter_queue.clone(),
    ];
    queues.extend(
        OUTBOUND_TYPES
            .iter()
            .map(|t| format!("{}{t}", b.outbound_queue_prefix)),
    );
    let exchanges = [
        &b.inbound_exchange,
        &b.outbound_exchange,
        &b.dead_letter_exchange,
    ];
    let connect = Connection::connect(&b.url, ConnectionProperties::default());
    match tokio::time::timeout(Duration::from_secs(30), connect).await {
        Ok(Ok(connection)) => {
            if let Ok(channel) = connection.create_channel().await {
                for queue in &queues {
                    let delete =
                        channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default());
                    let _ = tokio::time::timeout(Duration::from_secs(30), delete).await;
                }
                for exchange in exchanges {
                    let delete = channel.exchange_delete(
                        exchange.as_str().into(),
                        ExchangeDeleteOptions::default(),
                    );
                    let _ = tokio::time::timeout(Duration::from_secs(30), delete).await;
                }
            }
            broker::close(&connection).await;
        }
        _ => eprintln!("cleanup: cannot reach RabbitMQ; delete queues bench*.* by hand"),
    }
    let dropped = async {
        let mut admin = PgConnection::connect(server).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
        anyhow::Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(30), dropped).await {
        Ok(Ok(())) => {}
        _ => eprintln!("cleanup: could not drop database {database}"),
    }
}

fn per_second(count: f64, elapsed: Duration) -> f64 {
    count / elapsed.as_secs_f64().max(f64::EPSILON)
}

fn print(run: &Run) {
    let n = run.events as f64;
    let c = &run.ceiling;
    let s = &run.service;
    let publish = per_second(n, c.publish);
    let consume = per_second(n, c.consume);
    let end_to_end = per_second(n, c.publish + c.consume);
    let applied = per_second(n, s.handled);
    let effects = per_second(s.effects as f64, s.drained);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "vemt bench: {} police.missing-episode.v1 events of ~{} bytes",
        run.events, run.event_bytes
    );
    println!();
    println!("| measure | rate | vs broker end-to-end | vs broker consume |");
    println!("|---|---|---|---|");
    println!("| broker: publish, confirms (window {CONFIRM_WINDOW}) | {publish:.0} msg/s | | |");
    println!("| broker: consume, prefetch 100, manual acks | {consume:.0} msg/s | | |");
    println!("| broker: publish then consume (end-to-end) | {end_to_end:.0} msg/s | 1.00 | |");
    println!(
        "| service: events applied | {applied:.0} events/s | {:.2} | {:.2} |",
        applied / end_to_end,
        applied / consume
    );
    println!(
        "| service: effects published ({} effects, outbox drained at {:.1} s) | {effects:.0} effects/s | {:.2} | |",
        s.effects,
        s.drained.as_secs_f64(),
        effects / end_to_end
    );
    let relay = per_second(run.relay.effects as f64, run.relay.drained);
    println!(
        "| relay alone: {} effects waiting in the outbox, published with confirms | {relay:.0} effects/s | {:.2} | |",
        run.relay.effects,
        relay / end_to_end
    );
    println!();
    println!(
        "relay alone vs the broker's own confirmed publish rate: {:.2}",
        relay / publish
    );
    println!(
        "per-event time (gap between consecutive inbox transactions): p50 {:.2} ms, p99 {:.2} ms",
        ms(s.service_time_p50),
        ms(s.service_time_p99)
    );
    match s.peak_rss_kib {
        Some(kib) => println!(
            "peak RSS while the service ran: {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("peak RSS: not available (/proc/self/status)"),
    }
}
