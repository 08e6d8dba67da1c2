//! The benchmark: the broker's own ceiling, then the real service (the
//! release `vemt` binary, run as child processes), in one run on the same
//! machine, so the service is reported as a ratio of what RabbitMQ alone
//! does here (absolute figures move ±20% between runs).
//!
//! ```sh
//! SQLX_OFFLINE=true cargo run --release --example bench -- [--quick] [--json FILE]
//!     [--events N] [--drain N] [--stored A,B] [--latency-seconds S] [--no-analyze]
//! ```
//!
//! One run measures, in this order: the broker's ceiling; an N-event backlog
//! through one `vemt serve`, then through two consuming the same queue (with
//! the effects compared); the latency from publish to effect at a fixed
//! offered rate of 1,000 events/s; the N-event backlog again over 10,000
//! and over 1,000,000 episodes backfilled with `vemt import` (then
//! `ANALYZE`); the time to drain a 100,000-event backlog; the outbox relay
//! alone. Every run counts the effects arriving on the outbound queues
//! against what it expects: a lost or duplicated effect fails the bench
//! (exit status 1, after the table). `--quick` (under two minutes) makes
//! everything smaller and says so. The table goes to stdout; `--json FILE`
//! writes the same rows (and the details) as JSON.
//!
//! It first builds `target/release/vemt` (`cargo build --release --bin
//! vemt`; `VEMT_BENCH_BIN` names a binary to use instead), so the service
//! measured is the one in this checkout, with `config/default.toml`. Peak
//! RSS is each `vemt serve` process's own (VmHWM). When the server's
//! autovacuum is off, the bench runs `ANALYZE` every 10 s while the service
//! runs, as auto-analyze would (`--no-analyze`: it does not).
//!
//! Uses its own database (`vemt_bench_<tag>`, recreated for each run) and
//! broker names (`bench<tag>.`) on the servers of `VEMT_BENCH_DATABASE_URL`
//! and `VEMT_BENCH_AMQP_URL` (this machine's defaults otherwise), and
//! removes them at the end, on error, Ctrl-C or SIGTERM too. Events are synthetic;
//! nothing about any event's content is printed. Service logs are at
//! `warn` unless `RUST_LOG` is set (it is passed to the service).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, PgConnection, PgPool};
use uuid::Uuid;

use vemt::broker::{self, OUTBOUND_TYPES};
use vemt::config::Settings;

/// Confirms outstanding at once: a pipelining publisher, not one that
/// waits for each confirm (the broker's ceiling, not the client's latency).
const CONFIRM_WINDOW: usize = 1_000;
/// The broker's ceiling is measured on at least this many messages.
const CEILING_MIN: usize = 10_000;
/// Episodes per police person in the backlog: the third within 90 days
/// meets `frequent_missing`, the fourth within 30 days `top_missing`.
const EPISODES_PER_PERSON: usize = 4;
/// Episodes per police person in a backfill.
const BACKFILL_EPISODES_PER_PERSON: usize = 5;
/// The latency run's offered rate, events per second.
const OFFERED_RATE: u32 = 1_000;
/// A step that makes no progress for this long fails the run.
const STALL: Duration = Duration::from_secs(60);
/// Once the service has handled every event and drained its outbox, how
/// long the bench waits for effects still missing before counting them lost.
const GRACE: Duration = Duration::from_secs(10);
/// How often a run's progress is looked at.
const POLL: Duration = Duration::from_millis(100);
/// With autovacuum off, the bench analyzes the database this often while
/// the service runs (see `Analyzer`).
const ANALYZE_EVERY: Duration = Duration::from_secs(10);

/// What one run measures; `--quick` and the flags set it.
#[derive(Debug, Clone, Serialize)]
struct Options {
    quick: bool,
    /// The backlog of every throughput run (one instance, two, stored).
    events: usize,
    /// The backlog whose drain time is measured.
    drain: usize,
    /// Episodes backfilled before a throughput run, one run each.
    stored: Vec<usize>,
    /// How long the paced publisher offers `OFFERED_RATE` events/s.
    latency_seconds: u64,
    /// Leave the statistics alone even when autovacuum is off.
    no_analyze: bool,
    #[serde(skip)]
    json: Option<PathBuf>,
}

impl Options {
    /// The full run, or `--quick`'s (under two minutes here).
    fn defaults(quick: bool) -> Self {
        let (events, drain, stored, latency_seconds) = if quick {
            (1_000, 4_000, vec![10_000, 50_000], 2)
        } else {
            (20_000, 100_000, vec![10_000, 1_000_000], 30)
        };
        Self {
            quick,
            events,
            drain,
            stored,
            latency_seconds,
            no_analyze: false,
            json: None,
        }
    }

    fn parse() -> anyhow::Result<Self> {
        const USAGE: &str = "usage: bench [--quick] [--json FILE] [--events N] [--drain N] [--stored A,B] [--latency-seconds S] [--no-analyze]";
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let mut options = Self::defaults(quick);
        let number = |value: Option<&String>, flag: &str| -> anyhow::Result<usize> {
            let value = value.with_context(|| format!("{flag} needs a number; {USAGE}"))?;
            value
                .replace('_', "")
                .parse()
                .with_context(|| format!("{flag} needs a number; {USAGE}"))
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => {}
                "--no-analyze" => options.no_analyze = true,
                "--events" => options.events = number(args.next(), "--events")?,
                "--drain" => options.drain = number(args.next(), "--drain")?,
                "--latency-seconds" => {
                    options.latency_seconds = number(args.next(), "--latency-seconds")? as u64
                }
                "--stored" => {
                    let list = args.next().context("--stored needs A,B")?;
                    options.stored = list
                        .split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| number(Some(&s.trim().to_owned()), "--stored"))
                        .collect::<anyhow::Result<_>>()?;
                }
                "--json" => {
                    options.json = Some(args.next().context("--json needs a file")?.into());
                }
                other => bail!("unknown argument {other}; {USAGE}"),
            }
        }
        anyhow::ensure!(options.events > 0, "--events must be at least 1");
        anyhow::ensure!(options.drain > 0, "--drain must be at least 1");
        anyhow::ensure!(
            options.latency_seconds > 0,
            "--latency-seconds must be at least 1"
        );
        Ok(options)
    }
}

/// One line of the table (and of the JSON's `rows`).
#[derive(Debug, Default, Serialize)]
struct Row {
    run: String,
    instances: Option<usize>,
    stored_episodes: Option<usize>,
    /// Messages, events or imported rows.
    events: Option<usize>,
    seconds: f64,
    /// Messages, events or rows per second.
    events_per_second: Option<f64>,
    /// `events_per_second` over the broker's end-to-end rate of this run.
    events_vs_broker: Option<f64>,
    effects: Option<usize>,
    effects_per_second: Option<f64>,
    effects_vs_broker: Option<f64>,
    latency_p50_ms: Option<f64>,
    latency_p99_ms: Option<f64>,
    latency_p999_ms: Option<f64>,
    /// Per `vemt serve` process (VmHWM).
    peak_rss_mib: Vec<f64>,
    lost: Option<usize>,
    duplicate: Option<usize>,
    /// Details the table leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<Value>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    options: Option<Options>,
    /// The size of one backlog event, in bytes.
    event_bytes: usize,
    offered_rate: u32,
    broker_end_to_end_per_second: f64,
    rows: Vec<Row>,
    /// The two-instance run against the one-instance run.
    two_instances: Option<Value>,
    notes: Vec<String>,
    /// Lost or duplicate effects, dead letters, effects that differ: any
    /// entry fails the bench.
    failures: Vec<String>,
    /// False when the run stopped early (an error or Ctrl-C).
    complete: bool,
    load_average_start: String,
    load_average_end: String,
    wall_seconds: f64,
}

impl Report {
    fn ratio(&self, per_second: f64) -> Option<f64> {
        (self.broker_end_to_end_per_second > 0.0)
            .then(|| per_second / self.broker_end_to_end_per_second)
    }

    fn push(&mut self, row: Row) {
        eprintln!("bench: done: {} ({:.1} s)", row.run, row.seconds);
        self.rows.push(row);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    let binary = service_binary()?;
    // The run's own time, not the build's.
    let wall = Instant::now();
    let tag = Uuid::new_v4().simple().to_string()[..10].to_owned();
    let (settings, server) = bench_settings(&tag)?;
    let database = format!("vemt_bench_{tag}");
    let ceiling_queue = format!("bench{tag}.ceiling");
    let mut report = Report {
        options: Some(options.clone()),
        offered_rate: OFFERED_RATE,
        load_average_start: load_average(),
        ..Report::default()
    };
    let outcome = tokio::select! {
        run = run(&settings, &server, &binary, &tag, &ceiling_queue, &options, &mut report) => run,
        signal = stop_requested() => Err(anyhow::anyhow!("{signal}")),
    };
    clean_up(
        &settings,
        &server,
        &database,
        &ceiling_queue,
        &tag,
        &options,
    )
    .await;
    report.complete = outcome.is_ok();
    report.load_average_end = load_average();
    report.wall_seconds = wall.elapsed().as_secs_f64();
    if !report.rows.is_empty() {
        print(&report);
    }
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    outcome?;
    if !report.failures.is_empty() {
        bail!(
            "{} failure(s): {}",
            report.failures.len(),
            report.failures.join("; ")
        );
    }
    Ok(())
}

/// Ctrl-C or SIGTERM: the run stops, its processes are killed, and what it
/// made is removed.
async fn stop_requested() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "interrupted";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term.recv() => "terminated (SIGTERM)",
    }
}

/// The release `vemt` binary beside this example's build (built now, so it
/// is this checkout's), or `VEMT_BENCH_BIN`.
fn service_binary() -> anyhow::Result<PathBuf> {
    if let Some(binary) = std::env::var_os("VEMT_BENCH_BIN") {
        return Ok(binary.into());
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: cargo build --release --bin vemt");
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--bin", "vemt", "--manifest-path"])
        .arg(&manifest)
        // `cargo run` hands the build script's `rustc-env` values to this
        // process; passed on, they would make the build script (it watches
        // VEMT_GIT_REVISION) run again and rebuild the crate every time.
        .env_remove("VEMT_GIT_REVISION")
        .env_remove("VEMT_BUILD_TARGET")
        .stdin(Stdio::null())
        .status()
        .context("running cargo build --release --bin vemt")?;
    anyhow::ensure!(status.success(), "cargo build --release --bin vemt failed");
    // target/<profile>/examples/bench -> target/release/vemt
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .context("cannot find the target directory from this executable's path")?;
    let binary = target.join("release").join("vemt");
    anyhow::ensure!(binary.is_file(), "{} was not built", binary.display());
    Ok(binary)
}

/// Production defaults (`config/default.toml`: quorum queues, prefetch 100,
/// 8 database connections, and whatever else it says) with this run's own
/// names. The service processes get the same through `VEMT__` variables.
fn bench_settings(tag: &str) -> anyhow::Result<(Settings, String)> {
    let config = config_dir();
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

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// What every run shares: the servers, the binary, one broker connection.
struct Bench {
    settings: Settings,
    server: String,
    binary: PathBuf,
    tag: String,
    /// Event ids are UUIDv5s in this namespace, so a backlog has the same
    /// ids (and so its effects the same ids) in every run of the bench.
    namespace: Uuid,
    /// The backlog's episodes are dated back from this instant.
    now: DateTime<Utc>,
    /// The broker user the events claim (`user_id` must be the sender's).
    user: String,
    http_token: String,
    connection: Connection,
    /// Queue states (passive declares) and purges.
    status: Channel,
    /// Whether the bench stands in for auto-analyze (`Analyzer`).
    analyze: bool,
}

async fn run(
    settings: &Settings,
    server: &str,
    binary: &Path,
    tag: &str,
    ceiling_queue: &str,
    options: &Options,
    report: &mut Report,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let connection = broker::connect(&settings.broker).await?;
    let status = connection.create_channel().await?;
    broker::declare_topology(&status, &settings.broker).await?;
    let user = settings
        .broker
        .url
        .parse::<lapin::uri::AMQPUri>()
        .map(|uri| uri.authority.userinfo.username)
        .unwrap_or_else(|_| "guest".into());
    let bench = Bench {
        settings: settings.clone(),
        server: server.to_owned(),
        binary: binary.to_owned(),
        tag: tag.to_owned(),
        namespace: Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("vemt-bench/{tag}").as_bytes()),
        now,
        user,
        http_token: Uuid::new_v4().simple().to_string(),
        connection,
        status,
        analyze: !options.no_analyze && !autovacuum(server).await?,
    };
    if bench.analyze {
        report.notes.push(format!(
            "autovacuum is off on this server, so the bench runs ANALYZE every {} s while the service runs, as auto-analyze would (--no-analyze: not)",
            ANALYZE_EVERY.as_secs()
        ));
    }
    let result = bench.all(ceiling_queue, options, report).await;
    broker::close(&bench.connection).await;
    result
}

impl Bench {
    async fn all(
        &self,
        ceiling_queue: &str,
        options: &Options,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let n = options.events;
        report.event_bytes =
            serde_json::to_vec(&synthetic_event(0, n, self.now, Uuid::nil()))?.len();
        if options.quick {
            let full = Options::defaults(false);
            report.notes.push(format!(
                "QUICK RUN (not the full run's sizes): backlogs of {n} events instead of {}; {} episodes stored instead of {}; a {}-event drain instead of {}; {} s at the offered rate instead of {}",
                full.events,
                join(&options.stored),
                join(&full.stored),
                options.drain,
                full.drain,
                options.latency_seconds,
                full.latency_seconds,
            ));
        }

        // RabbitMQ alone.
        // Every ratio divides by it: not a run of a fraction of a second.
        let messages = n.max(CEILING_MIN);
        let ceiling = broker_ceiling(
            &self.settings,
            &self.connection,
            &self.user,
            ceiling_queue,
            messages,
            report.event_bytes,
        )
        .await?;
        let publish = per_second(messages as f64, ceiling.publish);
        let consume = per_second(messages as f64, ceiling.consume);
        let end_to_end = per_second(messages as f64, ceiling.publish + ceiling.consume);
        report.broker_end_to_end_per_second = end_to_end;
        for (run, seconds, rate) in [
            (
                format!("broker: publish, confirms (window {CONFIRM_WINDOW})"),
                ceiling.publish,
                publish,
            ),
            (
                format!(
                    "broker: consume, prefetch {}, manual acks",
                    self.settings.broker.prefetch
                ),
                ceiling.consume,
                consume,
            ),
            (
                "broker: publish then consume (end to end)".into(),
                ceiling.publish + ceiling.consume,
                end_to_end,
            ),
        ] {
            let row = Row {
                run,
                events: Some(messages),
                seconds: seconds.as_secs_f64(),
                events_per_second: Some(rate),
                events_vs_broker: report.ratio(rate),
                ..Row::default()
            };
            report.push(row);
        }

        // The backlog through one instance, then through two consuming the
        // same queue, and their effects compared.
        let one = self.backlog(report, n, 1, None, false).await?;
        let two = self.backlog(report, n, 2, None, false).await?;
        compare(&one, &two, report);

        // Latency at a fixed offered rate.
        self.latency(report, options.latency_seconds).await?;

        // The backlog over a store already holding episodes.
        for &stored in &options.stored {
            self.backlog(report, n, 1, Some(stored), false).await?;
        }

        // A long backlog drained.
        self.backlog(report, options.drain, 1, None, true).await?;

        // The relay alone.
        self.relay(report, n).await?;
        Ok(())
    }

    fn inbound_queue(&self) -> &str {
        &self.settings.broker.inbound_queue
    }

    fn outbound_queues(&self) -> Vec<String> {
        OUTBOUND_TYPES
            .iter()
            .map(|t| format!("{}{t}", self.settings.broker.outbound_queue_prefix))
            .collect()
    }

    /// A `vemt` command with this run's settings in `VEMT__` variables.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let b = &self.settings.broker;
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg("--config-dir")
            .arg(config_dir())
            .args(args)
            .env("APP_ENV", "local")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("VEMT__DATABASE__URL", &self.settings.database.url)
            .env("VEMT__HTTP__BIND", "127.0.0.1:0")
            // Set as in production (a token nobody uses): no warning.
            .env("VEMT__HTTP__TOKEN", &self.http_token)
            .env("VEMT__BROKER__URL", &b.url)
            .env("VEMT__BROKER__INBOUND_EXCHANGE", &b.inbound_exchange)
            .env("VEMT__BROKER__INBOUND_QUEUE", &b.inbound_queue)
            .env("VEMT__BROKER__OUTBOUND_EXCHANGE", &b.outbound_exchange)
            .env(
                "VEMT__BROKER__OUTBOUND_QUEUE_PREFIX",
                &b.outbound_queue_prefix,
            )
            .env(
                "VEMT__BROKER__DEAD_LETTER_EXCHANGE",
                &b.dead_letter_exchange,
            )
            .env("VEMT__BROKER__DEAD_LETTER_QUEUE", &b.dead_letter_queue)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// An empty database with the migrations applied (`vemt migrate`), and
    /// empty queues: every run starts from nothing.
    async fn fresh_start(&self) -> anyhow::Result<()> {
        let database = format!("vemt_bench_{}", self.tag);
        let mut admin = PgConnection::connect(&self.server).await?;
        for statement in [
            format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
            format!("CREATE DATABASE {database}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await?;
        }
        admin.close().await?;
        let status = self
            .command(&["migrate"])
            .stdout(Stdio::null())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "vemt migrate failed ({status})");
        let mut queues = vec![
            self.inbound_queue().to_owned(),
            self.settings.broker.dead_letter_queue.clone(),
        ];
        queues.extend(self.outbound_queues());
        for queue in queues {
            self.status
                .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
                .await?;
        }
        Ok(())
    }

    async fn probe(&self) -> anyhow::Result<PgPool> {
        // The bench's own queries get their own connection, not one of the
        // service's.
        Ok(PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.settings.database.url)
            .await?)
    }

    /// (messages ready, consumers) of a queue.
    async fn queue_state(&self, queue: &str) -> anyhow::Result<(u32, u32)> {
        let state = vemt::broker::inspect(&self.status, queue).await?;
        Ok((state.message_count(), state.consumer_count()))
    }

    /// Starts `count` `vemt serve` processes and returns once that many
    /// consumers are on the inbound queue: the instant the measurement starts.
    async fn start(&self, count: usize) -> anyhow::Result<(Vec<Instance>, Instant, DateTime<Utc>)> {
        let mut instances = Vec::with_capacity(count);
        for _ in 0..count {
            let child = self
                .command(&["serve"])
                .stdout(Stdio::null())
                .spawn()
                .context("starting vemt serve")?;
            let pid = child.id().context("vemt serve has no pid")?;
            instances.push(Instance { child, pid });
        }
        let deadline = Instant::now() + STALL;
        loop {
            check_running(&mut instances)?;
            let (_, consumers) = self.queue_state(self.inbound_queue()).await?;
            if consumers as usize >= count {
                return Ok((instances, Instant::now(), Utc::now()));
            }
            if Instant::now() > deadline {
                bail!("vemt serve did not start consuming within {STALL:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Publishes with confirms, before any consumer runs.
    async fn publish_events(
        &self,
        events: impl Iterator<Item = (Uuid, Value)>,
    ) -> anyhow::Result<()> {
        let channel = broker::confirm_channel(&self.connection).await?;
        let messages = events.map(|(id, event)| {
            let body = serde_json::to_vec(&event).expect("a JSON value serialises");
            (
                "police.missing-episode.v1".to_owned(),
                body,
                properties(id, &self.user),
            )
        });
        let published =
            publish_all(&channel, &self.settings.broker.inbound_exchange, messages).await;
        let _ = channel.close(200, "published".into()).await;
        published
    }

    /// The dead-letter queue's depth: an event the service refused.
    async fn dead_letters(&self, run: &str, report: &mut Report) -> anyhow::Result<()> {
        let (dead, _) = self
            .queue_state(&self.settings.broker.dead_letter_queue)
            .await?;
        if dead > 0 {
            report
                .failures
                .push(format!("{run}: {dead} events dead-lettered"));
        }
        Ok(())
    }

    /// N synthetic episodes waiting on the inbound queue, then `instances`
    /// service processes started and timed until every event is in the
    /// inbox and every effect has arrived on its outbound queue. With
    /// `stored`, that many episodes are imported first (`vemt import`,
    /// then `ANALYZE`).
    async fn backlog(
        &self,
        report: &mut Report,
        n: usize,
        instances: usize,
        stored: Option<usize>,
        drain: bool,
    ) -> anyhow::Result<Backlog> {
        let run = match (instances, stored) {
            _ if drain => format!("service: drain a {n}-event backlog"),
            (1, None) => format!("service: {n}-event backlog"),
            (k, None) => format!("service: {n}-event backlog, {k} instances"),
            (_, Some(s)) => format!("service: {n}-event backlog, {s} episodes stored"),
        };
        eprintln!("bench: {run}");
        self.fresh_start().await?;
        if let Some(stored) = stored {
            let row = self.backfill(stored).await?;
            report.push(row);
        }
        let probe = self.probe().await?;
        let ids: Vec<Uuid> = (0..n)
            .map(|i| Uuid::new_v5(&self.namespace, format!("backlog/{i}").as_bytes()))
            .collect();
        let expected = expected_backlog(n);
        // The table statistics from here on are the service's (superuser
        // only; without it they include the migrations and the import).
        let _ = sqlx::query("SELECT pg_stat_reset()").execute(&probe).await;
        let collector = Collector::start(self, &ids).await?;
        self.publish_events(
            ids.iter()
                .enumerate()
                .map(|(i, id)| (*id, synthetic_event(i, n, self.now, *id))),
        )
        .await?;
        let (mut running, started, started_at) = self.start(instances).await?;
        let analyzer = self.analyzer();
        let waited = self
            .wait(&probe, &mut running, &collector, n, expected.values().sum())
            .await;
        let analyzed = Analyzer::finish(analyzer).await;
        let rss = stop(running).await;
        let tally = collector.stop().await;
        waited?;
        let rss = rss?;
        let analyzed = analyzed?;
        self.dead_letters(&run, report).await?;

        let last_received: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT max(received_at) FROM inbox")
                .fetch_one(&probe)
                .await?;
        let handled = last_received
            .and_then(|t| (t - started_at).to_std().ok())
            .unwrap_or_default();
        let outbox: Vec<(Uuid, String)> = sqlx::query_as("SELECT event_id, event_type FROM outbox")
            .fetch_all(&probe)
            .await?;
        // Sequential scans: what makes the time per event grow with the
        // store (the service's processes have exited, so theirs are in).
        let scans: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, seq_scan, seq_tup_read FROM pg_stat_user_tables
             WHERE seq_tup_read > 0 ORDER BY seq_tup_read DESC LIMIT 5",
        )
        .fetch_all(&probe)
        .await
        .unwrap_or_default();
        // One consumer takes deliveries one after another, so the gap
        // between consecutive `received_at` (the service clock when it
        // handles the event) is the time one event takes. Not with two.
        let gaps = if instances == 1 {
            let received: Vec<DateTime<Utc>> =
                sqlx::query_scalar("SELECT received_at FROM inbox ORDER BY received_at")
                    .fetch_all(&probe)
                    .await?;
            let mut gaps: Vec<Duration> = received
                .windows(2)
                .filter_map(|w| (w[1] - w[0]).to_std().ok())
                .collect();
            gaps.sort_unstable();
            Some((quantile(&gaps, 0.5), quantile(&gaps, 0.99)))
        } else {
            None
        };
        probe.close().await;

        let check = tally.check(&expected, &outbox);
        check.fail(&run, report);
        let drained = tally
            .last
            .map(|t| t.saturating_duration_since(started))
            .unwrap_or(handled)
            .max(handled);
        let events_per_second = per_second(n as f64, handled);
        let effects = tally.ours_total();
        let effects_per_second = per_second(effects as f64, drained);
        let row = Row {
            run: run.clone(),
            instances: Some(instances),
            stored_episodes: Some(stored.unwrap_or(0)),
            events: Some(n),
            seconds: drained.as_secs_f64(),
            events_per_second: Some(events_per_second),
            events_vs_broker: report.ratio(events_per_second),
            effects: Some(effects),
            effects_per_second: Some(effects_per_second),
            effects_vs_broker: report.ratio(effects_per_second),
            peak_rss_mib: rss.iter().map(|k| *k as f64 / 1024.0).collect(),
            lost: Some(check.lost),
            duplicate: Some(check.duplicate),
            detail: Some(json!({
                "events_handled_seconds": handled.as_secs_f64(),
                "effects_arrived_seconds": drained.as_secs_f64(),
                "effects_expected": expected,
                "effects_received": tally.ours,
                "effects_in_outbox": check.outbox_by_type,
                "effects_not_caused_by_bench_events": tally.other,
                "analyzed_during_run": analyzed,
                "per_event_gap_ms": gaps.map(|(p50, p99)| json!({"p50": ms(p50), "p99": ms(p99)})),
                "sequential_scans": scans
                    .iter()
                    .map(|(table, scans, rows)| json!({"table": table, "scans": scans, "rows_read": rows}))
                    .collect::<Vec<_>>(),
            })),
            ..Row::default()
        };
        report.push(row);
        Ok(Backlog {
            outbox_ids: outbox.iter().map(|(id, _)| *id).collect(),
            by_type: check.outbox_by_type,
            events_per_second,
            gaps,
        })
    }

    /// Waits until the service has handled `n` events and `expected` of
    /// their effects have arrived; fails when nothing moves for `STALL`.
    async fn wait(
        &self,
        probe: &PgPool,
        running: &mut [Instance],
        collector: &Collector,
        n: usize,
        expected: usize,
    ) -> anyhow::Result<()> {
        let target = i64::try_from(n)?;
        let mut handled = false;
        let mut drained_since: Option<Instant> = None;
        let mut last = ((u32::MAX, -1, usize::MAX, -1), Instant::now());
        loop {
            check_running(running)?;
            let (ready, _) = self.queue_state(self.inbound_queue()).await?;
            let mut inbox: i64 = -1;
            // The inbox is counted only near the end (a count is a scan).
            if !handled && ready == 0 {
                inbox = sqlx::query_scalar("SELECT count(*) FROM inbox")
                    .fetch_one(probe)
                    .await?;
                handled = inbox >= target;
            }
            let received = collector.ours_total();
            if handled && received >= expected {
                return Ok(());
            }
            let mut pending: i64 = -1;
            if handled {
                // Handled, but effects missing: once the outbox is drained
                // they are on their queues, or lost.
                pending = sqlx::query_scalar(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL",
                )
                .fetch_one(probe)
                .await?;
                if pending == 0 && drained_since.get_or_insert_with(Instant::now).elapsed() > GRACE
                {
                    return Ok(());
                }
            }
            let progress = (ready, inbox, received, pending);
            if progress != last.0 {
                last = (progress, Instant::now());
            } else if last.1.elapsed() > STALL {
                let (dead, _) = self
                    .queue_state(&self.settings.broker.dead_letter_queue)
                    .await?;
                bail!(
                    "stalled: {ready} events waiting, inbox {inbox}, {received} of {expected} effects arrived, outbox pending {pending}, {dead} dead letters"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The latency from publishing an event to its effect arriving on the
    /// outbound queue, at `OFFERED_RATE` events/s for `seconds`. Each event
    /// is a new police person with no LCS id: one `lcs.alert.v1`
    /// (unmatched police person) each, caused by that event.
    async fn latency(&self, report: &mut Report, seconds: u64) -> anyhow::Result<()> {
        let run = format!("service: latency at {OFFERED_RATE} events/s offered for {seconds} s");
        eprintln!("bench: {run}");
        self.fresh_start().await?;
        let total = usize::try_from(u64::from(OFFERED_RATE) * seconds)?;
        let ids: Vec<Uuid> = (0..total)
            .map(|i| Uuid::new_v5(&self.namespace, format!("latency/{i}").as_bytes()))
            .collect();
        let bodies: Vec<Vec<u8>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| serde_json::to_vec(&unmatched_event(i, self.now, *id)))
            .collect::<Result<_, _>>()?;
        let collector = Collector::start(self, &ids).await?;
        let (mut running, _, _) = self.start(1).await?;
        let analyzer = self.analyzer();
        let channel = broker::confirm_channel(&self.connection).await?;

        // The paced publisher: every tick publishes what is due by then;
        // the confirms are awaited beside it, in order.
        let (confirms, mut to_settle) =
            tokio::sync::mpsc::unbounded_channel::<lapin::PublisherConfirm>();
        let settler = tokio::spawn(async move {
            while let Some(confirm) = to_settle.recv().await {
                settle(Some(confirm)).await?;
            }
            anyhow::Ok(())
        });
        let mut published_at = Vec::with_capacity(total);
        let mut ticks = tokio::time::interval(Duration::from_millis(5));
        let first = Instant::now();
        let publishing = async {
            while published_at.len() < total {
                ticks.tick().await;
                let due =
                    ((first.elapsed().as_secs_f64() * f64::from(OFFERED_RATE)) as usize).min(total);
                while published_at.len() < due {
                    let i = published_at.len();
                    published_at.push(Instant::now());
                    let confirm = channel
                        .basic_publish(
                            self.settings.broker.inbound_exchange.as_str().into(),
                            "police.missing-episode.v1".into(),
                            BasicPublishOptions {
                                mandatory: true,
                                ..BasicPublishOptions::default()
                            },
                            &bodies[i],
                            properties(ids[i], &self.user),
                        )
                        .await?;
                    confirms.send(confirm)?;
                }
            }
            drop(confirms);
            settler.await??;
            anyhow::Ok(())
        };
        let published = publishing.await;
        let published_in = first.elapsed();
        let _ = channel.close(200, "published".into()).await;
        let probe = self.probe().await?;
        let waited = match published {
            Ok(()) => {
                self.wait(&probe, &mut running, &collector, total, total)
                    .await
            }
            Err(err) => Err(err),
        };
        let analyzed = Analyzer::finish(analyzer).await;
        let rss = stop(running).await;
        let tally = collector.stop().await;
        waited?;
        let rss = rss?;
        analyzed?;
        self.dead_letters(&run, report).await?;
        let outbox: Vec<(Uuid, String)> = sqlx::query_as("SELECT event_id, event_type FROM outbox")
            .fetch_all(&probe)
            .await?;
        probe.close().await;
        let expected = BTreeMap::from([("lcs.alert.v1".to_owned(), total)]);
        let check = tally.check(&expected, &outbox);
        check.fail(&run, report);

        let mut latencies: Vec<Duration> = tally
            .first
            .iter()
            .zip(&published_at)
            .filter_map(|(arrived, published)| {
                arrived.map(|a| a.saturating_duration_since(*published))
            })
            .collect();
        latencies.sort_unstable();
        let elapsed = tally
            .last
            .map_or(published_in, |t| t.saturating_duration_since(first));
        let achieved = per_second(total as f64, elapsed);
        let offered = per_second(total as f64, published_in);
        if achieved < 0.95 * f64::from(OFFERED_RATE) {
            report.notes.push(format!(
                "latency run: the service did not keep up with {OFFERED_RATE} events/s (it did {achieved:.0}/s overall), so its latencies are mostly time queued behind earlier events and grow with --latency-seconds"
            ));
        }
        let row = Row {
            run,
            instances: Some(1),
            stored_episodes: Some(0),
            events: Some(total),
            seconds: elapsed.as_secs_f64(),
            events_per_second: Some(achieved),
            events_vs_broker: report.ratio(achieved),
            effects: Some(tally.ours_total()),
            effects_per_second: Some(achieved),
            effects_vs_broker: report.ratio(achieved),
            latency_p50_ms: Some(ms(quantile(&latencies, 0.5))),
            latency_p99_ms: Some(ms(quantile(&latencies, 0.99))),
            latency_p999_ms: Some(ms(quantile(&latencies, 0.999))),
            peak_rss_mib: rss.iter().map(|k| *k as f64 / 1024.0).collect(),
            lost: Some(check.lost),
            duplicate: Some(check.duplicate),
            detail: Some(json!({
                "published_per_second": offered,
                "latency_max_ms": ms(latencies.last().copied().unwrap_or_default()),
                "effects_not_caused_by_bench_events": tally.other,
            })),
        };
        report.push(row);
        Ok(())
    }

    /// `stored` synthetic episodes in a CSV file, imported with `vemt
    /// import`, then `ANALYZE` (autovacuum may be off, and the planner
    /// needs the statistics of a bulk load). The row: import rows/s.
    async fn backfill(&self, stored: usize) -> anyhow::Result<Row> {
        let path = history_file(&self.tag, stored);
        write_history(&path, stored, self.now)?;
        let file = path.to_str().context("temporary path is not UTF-8")?;
        let started = Instant::now();
        let output = self
            .command(&["import", file])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .await;
        let wall = started.elapsed();
        let _ = std::fs::remove_file(&path);
        let output = output?;
        anyhow::ensure!(
            output.status.success(),
            "vemt import failed ({}); rows rejected or the store refused",
            output.status
        );
        let summary = String::from_utf8_lossy(&output.stdout);
        let (imported, seconds) = parse_import_summary(&summary)
            .with_context(|| "cannot read the summary of vemt import")?;
        anyhow::ensure!(
            imported == stored,
            "vemt import imported {imported} of {stored} rows"
        );
        let probe = self.probe().await?;
        let analyzed = Instant::now();
        sqlx::query("ANALYZE").execute(&probe).await?;
        let analyze = analyzed.elapsed();
        probe.close().await;
        let rate = per_second(stored as f64, Duration::from_secs_f64(seconds));
        Ok(Row {
            run: format!("import: {stored} episodes, CSV (rows/s)"),
            stored_episodes: Some(stored),
            events: Some(stored),
            seconds,
            events_per_second: Some(rate),
            detail: Some(json!({
                "process_seconds": wall.as_secs_f64(),
                "analyze_seconds": analyze.as_secs_f64(),
                "police_persons": stored.div_ceil(BACKFILL_EPISODES_PER_PERSON),
            })),
            ..Row::default()
        })
    }

    /// The relay alone: N effects of about the events' size written to the
    /// outbox while the service is stopped, then the service started and
    /// timed until all have arrived on their queue.
    async fn relay(&self, report: &mut Report, n: usize) -> anyhow::Result<()> {
        let run = format!("relay alone: {n} effects waiting in the outbox");
        eprintln!("bench: {run}");
        self.fresh_start().await?;
        let causes: Vec<Uuid> = (0..n)
            .map(|i| Uuid::new_v5(&self.namespace, format!("relay/{i}").as_bytes()))
            .collect();
        let ids: Vec<Uuid> = causes
            .iter()
            .map(|c| Uuid::new_v5(&self.namespace, c.as_bytes()))
            .collect();
        let bodies: Vec<String> = ids
            .iter()
            .zip(&causes)
            .map(|(id, cause)| {
                json!({
                    "specversion": "1.0",
                    "id": id,
                    "type": "lcs.alert.v1",
                    "source": "urn:bench",
                    "causationid": cause,
                    "correlationid": cause,
                    "data": { "reason": "unmatched_police_person", "padding": "x".repeat(400) },
                })
                .to_string()
            })
            .collect();
        let probe = self.probe().await?;
        sqlx::query(
            "INSERT INTO outbox (event_id, event_type, body)
             SELECT id, 'lcs.alert.v1', body::jsonb FROM UNNEST($1::uuid[], $2::text[]) AS e(id, body)",
        )
        .bind(&ids)
        .bind(&bodies)
        .execute(&probe)
        .await?;
        let collector = Collector::start(self, &causes).await?;
        let (mut running, started, _) = self.start(1).await?;
        let waited = self.wait_effects(&mut running, &collector, n).await;
        let rss = stop(running).await;
        let tally = collector.stop().await;
        waited?;
        let rss = rss?;
        let outbox: Vec<(Uuid, String)> = sqlx::query_as("SELECT event_id, event_type FROM outbox")
            .fetch_all(&probe)
            .await?;
        probe.close().await;
        let expected = BTreeMap::from([("lcs.alert.v1".to_owned(), n)]);
        let check = tally.check(&expected, &outbox);
        check.fail(&run, report);
        let drained = tally
            .last
            .map(|t| t.saturating_duration_since(started))
            .unwrap_or_default();
        let rate = per_second(n as f64, drained);
        report.push(Row {
            run,
            instances: Some(1),
            stored_episodes: Some(0),
            seconds: drained.as_secs_f64(),
            effects: Some(tally.ours_total()),
            effects_per_second: Some(rate),
            effects_vs_broker: report.ratio(rate),
            peak_rss_mib: rss.iter().map(|k| *k as f64 / 1024.0).collect(),
            lost: Some(check.lost),
            duplicate: Some(check.duplicate),
            ..Row::default()
        });
        Ok(())
    }

    /// Waits until `expected` effects of the run have arrived (no events).
    async fn wait_effects(
        &self,
        running: &mut [Instance],
        collector: &Collector,
        expected: usize,
    ) -> anyhow::Result<()> {
        let mut last = (usize::MAX, Instant::now());
        loop {
            check_running(running)?;
            let received = collector.ours_total();
            if received >= expected {
                return Ok(());
            }
            if received != last.0 {
                last = (received, Instant::now());
            } else if last.1.elapsed() > STALL {
                bail!("stalled: {received} of {expected} effects arrived");
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Auto-analyze, for a server with autovacuum off (as on the development
/// machine). Without it a table the service fills during a run never gets
/// statistics, and a plan its connections cached while the table was nearly
/// empty (a sequential scan) stays in use: every event then reads all of
/// `episodes`, more with each event. ANALYZE invalidates those plans.
struct Analyzer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<u32>>,
}

impl Bench {
    fn analyzer(&self) -> Option<Analyzer> {
        if !self.analyze {
            return None;
        }
        let url = self.settings.database.url.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut connection = PgConnection::connect(&url).await?;
            let mut runs = 0;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(ANALYZE_EVERY) => {}
                }
                sqlx::query("ANALYZE").execute(&mut connection).await?;
                runs += 1;
            }
            connection.close().await?;
            Ok(runs)
        });
        Some(Analyzer { stop, task })
    }
}

impl Analyzer {
    /// How many times it analyzed.
    async fn finish(analyzer: Option<Self>) -> anyhow::Result<u32> {
        let Some(analyzer) = analyzer else {
            return Ok(0);
        };
        let _ = analyzer.stop.send(());
        analyzer.task.await?
    }
}

async fn autovacuum(server: &str) -> anyhow::Result<bool> {
    let mut admin = PgConnection::connect(server).await?;
    let setting: String = sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(&mut admin)
        .await?;
    admin.close().await?;
    Ok(setting == "on")
}

/// What the one- and two-instance runs are compared on.
struct Backlog {
    outbox_ids: BTreeSet<Uuid>,
    by_type: BTreeMap<String, usize>,
    events_per_second: f64,
    gaps: Option<(Duration, Duration)>,
}

/// Two instances must make the same effects as one: the same count of
/// each type (a failure otherwise) and, unless two events of one person
/// were handled at once, the same outbox ids (UUIDv5 of cause and effect).
fn compare(one: &Backlog, two: &Backlog, report: &mut Report) {
    let same_types = one.by_type == two.by_type;
    if !same_types {
        report.failures.push(format!(
            "two instances made other effects than one: {:?} vs {:?}",
            one.by_type, two.by_type
        ));
    }
    let differing = one.outbox_ids.symmetric_difference(&two.outbox_ids).count();
    let speedup = two.events_per_second / one.events_per_second.max(f64::EPSILON);
    report.notes.push(format!(
        "two instances vs one: {speedup:.2}x the events/s; effects per type {}; outbox ids {}",
        if same_types { "identical" } else { "DIFFER" },
        if differing == 0 {
            format!("identical ({})", one.outbox_ids.len())
        } else {
            format!("differ in {differing} (another event of the same person caused them)")
        }
    ));
    if let Some((p50, p99)) = one.gaps {
        report.notes.push(format!(
            "one instance's time per event (gap between consecutive inbox rows): p50 {:.2} ms, p99 {:.2} ms",
            ms(p50),
            ms(p99)
        ));
    }
    report.two_instances = Some(json!({
        "events_per_second_vs_one": speedup,
        "effects_per_type_identical": same_types,
        "outbox_ids_identical": differing == 0,
        "outbox_ids_differing": differing,
        "effects": one.outbox_ids.len(),
    }));
}

/// A `vemt serve` process.
struct Instance {
    child: tokio::process::Child,
    pid: u32,
}

fn check_running(instances: &mut [Instance]) -> anyhow::Result<()> {
    for instance in instances {
        if let Some(status) = instance.child.try_wait()? {
            bail!("vemt serve (pid {}) exited early: {status}", instance.pid);
        }
    }
    Ok(())
}

/// Each process's peak RSS (KiB), read just before it is asked to stop
/// (SIGTERM, as an orchestrator stops it); fails if one does not stop
/// cleanly within 60 s.
async fn stop(instances: Vec<Instance>) -> anyhow::Result<Vec<u64>> {
    let mut peaks = Vec::with_capacity(instances.len());
    for instance in &instances {
        peaks.push(peak_rss_kib(instance.pid).unwrap_or(0));
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &instance.pid.to_string()])
            .status();
    }
    for mut instance in instances {
        match tokio::time::timeout(Duration::from_secs(60), instance.child.wait()).await {
            Ok(status) => {
                let status = status?;
                anyhow::ensure!(status.success(), "vemt serve stopped with {status}");
            }
            Err(_) => bail!("vemt serve did not stop within 60 s"),
        }
    }
    Ok(peaks)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Consumes every outbound queue (no acks: the bench only counts) and
/// tallies what arrives, by AMQP `message_id` (the outbound event id).
struct Collector {
    channel: Channel,
    tally: Arc<Mutex<Tally>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Tally {
    /// This run's events (by id): their index.
    causes: HashMap<Uuid, usize>,
    seen: HashSet<Uuid>,
    /// Deliveries of an id already seen.
    duplicate: usize,
    /// Deliveries without a message id.
    unidentified: usize,
    /// Distinct effects caused by this run's events, by type.
    ours: BTreeMap<String, usize>,
    /// Distinct effects with another cause (a timer's).
    other: usize,
    /// When the first effect of each event arrived.
    first: Vec<Option<Instant>>,
    /// When the last distinct effect of this run's events arrived.
    last: Option<Instant>,
}

impl Tally {
    fn ours_total(&self) -> usize {
        self.ours.values().sum()
    }

    fn record(&mut self, delivery: &lapin::message::Delivery, at: Instant) {
        let Some(id) = delivery
            .properties
            .message_id()
            .as_ref()
            .and_then(|id| Uuid::parse_str(id.as_str()).ok())
        else {
            self.unidentified += 1;
            return;
        };
        if !self.seen.insert(id) {
            self.duplicate += 1;
            return;
        }
        let cause = serde_json::from_slice::<Value>(&delivery.data)
            .ok()
            .and_then(|body| {
                body.get("causationid")
                    .and_then(Value::as_str)
                    .and_then(|c| Uuid::parse_str(c).ok())
            })
            .and_then(|cause| self.causes.get(&cause).copied());
        match cause {
            Some(index) => {
                *self
                    .ours
                    .entry(delivery.routing_key.as_str().to_owned())
                    .or_default() += 1;
                self.first[index].get_or_insert(at);
                self.last = Some(at);
            }
            None => self.other += 1,
        }
    }

    /// Lost: effects expected (per type, and every outbox row) that never
    /// arrived. Duplicate: deliveries of an effect already received.
    fn check(&self, expected: &BTreeMap<String, usize>, outbox: &[(Uuid, String)]) -> Check {
        let short: usize = expected
            .iter()
            .map(|(t, n)| n.saturating_sub(self.ours.get(t).copied().unwrap_or(0)))
            .sum();
        let unexpected: usize = self
            .ours
            .iter()
            .map(|(t, n)| n.saturating_sub(expected.get(t).copied().unwrap_or(0)))
            .sum();
        let never_arrived = outbox
            .iter()
            .filter(|(id, _)| !self.seen.contains(id))
            .count();
        let mut outbox_by_type = BTreeMap::new();
        for (_, event_type) in outbox {
            *outbox_by_type.entry(event_type.clone()).or_default() += 1;
        }
        Check {
            lost: short.max(never_arrived),
            duplicate: self.duplicate,
            unexpected,
            unidentified: self.unidentified,
            outbox_by_type,
        }
    }
}

struct Check {
    lost: usize,
    duplicate: usize,
    unexpected: usize,
    unidentified: usize,
    outbox_by_type: BTreeMap<String, usize>,
}

impl Check {
    fn fail(&self, run: &str, report: &mut Report) {
        if self.lost > 0 {
            report
                .failures
                .push(format!("{run}: {} effects lost", self.lost));
        }
        if self.duplicate > 0 {
            report
                .failures
                .push(format!("{run}: {} duplicate effects", self.duplicate));
        }
        if self.unexpected > 0 {
            report.failures.push(format!(
                "{run}: {} effects the bench did not expect (more than its events should cause)",
                self.unexpected
            ));
        }
        if self.unidentified > 0 {
            report.failures.push(format!(
                "{run}: {} effects without a message id",
                self.unidentified
            ));
        }
    }
}

impl Collector {
    async fn start(bench: &Bench, causes: &[Uuid]) -> anyhow::Result<Self> {
        let tally = Arc::new(Mutex::new(Tally {
            causes: causes.iter().enumerate().map(|(i, c)| (*c, i)).collect(),
            first: vec![None; causes.len()],
            ..Tally::default()
        }));
        let channel = bench.connection.create_channel().await?;
        let mut tasks = Vec::new();
        for queue in bench.outbound_queues() {
            let mut deliveries = channel
                .basic_consume(
                    queue.as_str().into(),
                    ShortString::from(""),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..BasicConsumeOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            let tally = tally.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(Ok(delivery)) = deliveries.next().await {
                    let at = Instant::now();
                    tally
                        .lock()
                        .expect("the tally is never poisoned")
                        .record(&delivery, at);
                }
            }));
        }
        Ok(Self {
            channel,
            tally,
            tasks,
        })
    }

    fn ours_total(&self) -> usize {
        self.tally
            .lock()
            .expect("the tally is never poisoned")
            .ours_total()
    }

    /// Called once the service has stopped: a moment for deliveries
    /// still in flight (a duplicate published while stopping counts too).
    async fn stop(self) -> Tally {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let _ = self.channel.close(200, "counted".into()).await;
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        std::mem::take(&mut *self.tally.lock().expect("the tally is never poisoned"))
    }
}

struct Ceiling {
    publish: Duration,
    consume: Duration,
}

/// RabbitMQ alone: N persistent messages of the events' size through a
/// quorum queue, published with confirms, then consumed with the service's
/// prefetch and one manual ack each.
async fn broker_ceiling(
    settings: &Settings,
    connection: &Connection,
    user: &str,
    queue: &str,
    n: usize,
    bytes: usize,
) -> anyhow::Result<Ceiling> {
    eprintln!("bench: broker ceiling");
    let publisher = broker::confirm_channel(connection).await?;
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
        (0..n).map(|_| {
            (
                queue.to_owned(),
                body.clone(),
                properties(Uuid::new_v4(), user),
            )
        }),
    )
    .await?;
    let publish = started.elapsed();
    let _ = publisher.close(200, "published".into()).await;
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
    let consume = started.elapsed();
    let _ = consumer.close(200, "consumed".into()).await;
    Ok(Ceiling { publish, consume })
}

fn properties(id: Uuid, user: &str) -> BasicProperties {
    BasicProperties::default()
        .with_content_type(broker::CLOUDEVENTS_JSON.into())
        .with_delivery_mode(2)
        .with_message_id(id.to_string().as_str().into())
        .with_user_id(user.into())
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

/// Event `i` of `n`: four episodes for each police person, interleaved so
/// that one person's episodes do not arrive together. Even persons have all
/// four within 30 days (the third meets `frequent_missing`: queued, one
/// trigger-plan request); odd ones 100 days apart (no criterion). One
/// person in four (odd) has no LCS link: one `lcs.alert.v1` (unmatched
/// police person) at their first episode. Synthetic ids only.
fn synthetic_event(i: usize, n: usize, now: DateTime<Utc>, id: Uuid) -> Value {
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
    episode_event(id, format!("BENCH-E-{person:06}-{k}"), subject, reported)
}

/// The effects `n` backlog events cause, by type.
fn expected_backlog(n: usize) -> BTreeMap<String, usize> {
    let persons = n.div_ceil(EPISODES_PER_PERSON);
    let (mut requests, mut alerts) = (0, 0);
    for person in 0..persons {
        let episodes = (0..EPISODES_PER_PERSON)
            .filter(|k| k * persons + person < n)
            .count();
        // Three within 90 days: frequent_missing; one request per child
        // and meeting, whatever the fourth adds.
        if person % 2 == 0 && episodes >= 3 {
            requests += 1;
        }
        if person % 4 == 1 {
            alerts += 1;
        }
    }
    [
        ("police.trigger-plan-request.v1".to_owned(), requests),
        ("lcs.alert.v1".to_owned(), alerts),
    ]
    .into_iter()
    .filter(|(_, count)| *count > 0)
    .collect()
}

/// Latency event `i`: the only episode of a new police person with no LCS
/// id, returned, low risk: no criterion is met, and the one effect is the
/// unmatched-person `lcs.alert.v1`, at once.
fn unmatched_event(i: usize, now: DateTime<Utc>, id: Uuid) -> Value {
    let subject = json!({
        "police_person_id": format!("BENCH-U-{i:07}"),
        "given_name": "Benchchild",
        "family_name": format!("Family-U-{i:07}"),
        "date_of_birth": "2012-05-06",
        "gender": "male",
    });
    episode_event(
        id,
        format!("BENCH-UE-{i:07}"),
        subject,
        now - chrono::Duration::days(5),
    )
}

fn episode_event(id: Uuid, episode: String, subject: Value, reported: DateTime<Utc>) -> Value {
    json!({
        "specversion": "1.0",
        "id": id.to_string(),
        "source": "urn:bench:police",
        "type": "police.missing-episode.v1",
        "time": reported,
        "datacontenttype": "application/json",
        "data": {
            "episode_id": episode,
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

fn history_file(tag: &str, stored: usize) -> PathBuf {
    std::env::temp_dir().join(format!("vemt_bench_{tag}_history_{stored}.csv"))
}

/// A backfill of `rows` synthetic episodes (docs/import.md's CSV): five per
/// police person (`BENCH-H-…`, none of the backlog's), spread over the last
/// 700 days (inside retention), all returned, risk levels and places
/// mixed; one person in four has no LCS id (an unmatched child).
fn write_history(path: &Path, rows: usize, now: DateTime<Utc>) -> anyhow::Result<()> {
    const RISKS: [&str; 4] = ["low", "medium", "high", "no_apparent_risk"];
    const PLACES: [&str; 3] = ["home", "care", "other"];
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(
        out,
        "episode_id,revision,police_person_id,lcs_person_id,given_name,family_name,date_of_birth,gender,status,risk_level,reported_missing_at,last_seen_at,returned_at,missing_from"
    )?;
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    for row in 0..rows {
        let (person, k) = (
            row / BACKFILL_EPISODES_PER_PERSON,
            row % BACKFILL_EPISODES_PER_PERSON,
        );
        let lcs = if person % 4 == 1 {
            String::new()
        } else {
            format!("BENCH-HL-{person:07}")
        };
        let days = 1 + (person * 7 + k * 131) % 700;
        let reported = now
            - chrono::Duration::days(days as i64)
            - chrono::Duration::minutes((row % 1440) as i64);
        let born = chrono::NaiveDate::from_ymd_opt(2008, 1, 1).expect("a date")
            + chrono::Duration::days((person % 3000) as i64);
        writeln!(
            out,
            "BENCH-HE-{person:07}-{k},1,BENCH-H-{person:07},{lcs},Benchchild,Family-H-{person:07},{born},{},returned,{},{},{},{},{}",
            ["female", "male"][person % 2],
            RISKS[(person + k) % RISKS.len()],
            time(reported),
            time(reported),
            time(reported + chrono::Duration::hours(2 + (row % 30) as i64)),
            PLACES[row % PLACES.len()],
        )?;
    }
    out.flush()?;
    Ok(())
}

/// `read N rows: I imported, …; S s, R rows/s` -> (I, S).
fn parse_import_summary(summary: &str) -> Option<(usize, f64)> {
    let line = summary.lines().find(|l| l.starts_with("read "))?;
    let imported = line
        .split_once(": ")?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let seconds = line
        .rsplit_once("; ")?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((imported, seconds))
}

/// Removes the run's queues, exchanges, database and files; every step is
/// bounded and attempted even when an earlier one failed.
async fn clean_up(
    settings: &Settings,
    server: &str,
    database: &str,
    ceiling_queue: &str,
    tag: &str,
    options: &Options,
) {
    for &stored in &options.stored {
        let _ = std::fs::remove_file(history_file(tag, stored));
    }
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The nearest-rank quantile of sorted samples.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn join(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn print(report: &Report) {
    let number =
        |v: Option<f64>, places: usize| v.map_or(String::new(), |v| format!("{v:.places$}"));
    let count = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
    if let Some(options) = &report.options {
        println!(
            "vemt bench{}: backlogs of {} police.missing-episode.v1 events of ~{} bytes; release `vemt serve` processes with config/default.toml",
            if options.quick { " --quick" } else { "" },
            options.events,
            report.event_bytes
        );
    }
    if !report.complete {
        println!("INCOMPLETE: the run stopped early; the rows it finished:");
    }
    println!();
    println!(
        "| run | inst. | stored | events | s | events/s | vs broker | effects | effects/s | vs broker | p50 ms | p99 ms | p99.9 ms | peak RSS MiB | lost | dup. |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in &report.rows {
        let rss = row
            .peak_rss_mib
            .iter()
            .map(|m| format!("{m:.1}"))
            .collect::<Vec<_>>()
            .join(" / ");
        println!(
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.run,
            count(row.instances),
            count(row.stored_episodes),
            count(row.events),
            row.seconds,
            number(row.events_per_second, 0),
            number(row.events_vs_broker, 3),
            count(row.effects),
            number(row.effects_per_second, 0),
            number(row.effects_vs_broker, 3),
            number(row.latency_p50_ms, 1),
            number(row.latency_p99_ms, 1),
            number(row.latency_p999_ms, 1),
            rss,
            count(row.lost),
            count(row.duplicate),
        );
    }
    println!();
    println!(
        "vs broker: the rate over the broker's end-to-end rate in this run ({:.0} msg/s). Latency: publish to the effect on its outbound queue. Load average {} at the start, {} at the end; {:.0} s in all.",
        report.broker_end_to_end_per_second,
        report.load_average_start,
        report.load_average_end,
        report.wall_seconds
    );
    for note in &report.notes {
        println!("{note}");
    }
    for failure in &report.failures {
        println!("FAILED: {failure}");
    }
}
