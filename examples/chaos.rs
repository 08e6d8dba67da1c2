//! The fault test (issue 10): the release binary, fed a few thousand events
//! for hundreds of synthetic children by several publisher users (bad
//! messages mixed in), while its broker connections are closed, it is
//! SIGKILLed and restarted, and its PostgreSQL backends are terminated in
//! the middle of transactions. Once everything has settled, every effect on
//! the outbound and dead-letter queues is counted against what the events
//! call for, and a table says what was expected, found, lost, unexpected
//! and duplicated. It exits 1 when anything but a transport redelivery (the
//! same CloudEvent id twice) is off.
//!
//! ```sh
//! SQLX_OFFLINE=true cargo build --release --bin vemt     # the service under test
//! SQLX_OFFLINE=true cargo run --example chaos -- [--children N] [--faults N]
//!     [--bad-from partners|service] [--seed N] [--stall-seconds N] [--bin PATH]
//! ```
//!
//! Runs on the servers of `VEMT_CHAOS_DATABASE_URL` and `VEMT_CHAOS_AMQP_URL`
//! (this machine's defaults otherwise; the AMQP user must be an
//! administrator), with its own database (`vemt_chaos_<tag>`), broker names
//! (`chaos<tag>.`) and RabbitMQ users (`vemt-chaos-<tag>-service`, `-police`,
//! `-lcs`, made with `rabbitmqctl`, which needs root or `sudo -n`). All are
//! removed at the end, on error or Ctrl-C too. The service's log goes to a
//! temporary folder, kept (and named) when the run fails.
//!
//! What the events call for, independently of the service's code: every
//! child has an episode graded high in every revision, so each is queued
//! once for the next meeting and the police get exactly one
//! `police.trigger-plan-request.v1` for them (R4.1); the children whose
//! police person no LCS record or report links get one `lcs.alert.v1`
//! (R7.1); each bad message is dead-lettered (R8.1); nothing else is
//! published. The meeting calendar's timers are moved about twelve hours
//! away from now, so no collation or VPG agenda falls inside the run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, Utc};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeleteOptions,
};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use uuid::Uuid;

use vemt::broker::{self, OUTBOUND_TYPES};
use vemt::config::{BrokerSettings, Settings};
use vemt::inbound::ORIGINAL_USER_HEADER;

const DEFAULT_CHILDREN: usize = 300;
/// Of each kind: SIGKILL and restart, broker connections closed,
/// PostgreSQL storm.
const DEFAULT_FAULTS: usize = 4;
const EPISODES_PER_CHILD: usize = 3;
const REVISIONS: u32 = 3;
/// Child records per linked child (revisions 1 and 2).
const RECORD_REVISIONS: u32 = 2;
/// Published but not yet handled events the publisher lets pile up, so the
/// stream lasts as long as the faults do.
const MAX_BACKLOG: usize = 600;
/// How long each PostgreSQL storm terminates the service's busy backends.
const STORM: Duration = Duration::from_millis(1500);
/// The probe's own connection, which the storms spare.
const PROBE_APP: &str = "vemt-chaos-probe";
const NOT_JSON_REASON: &str = "$: body must be valid JSON";
const MISSING_FIELD_REASON: &str = "$.data.reported_missing_at: is required";
const WRONG_USER_REASON: &str =
    "amqp.user_id: must be a user configured to publish this event type";

// ---- options ---------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadFrom {
    /// The bad messages come from the partner users (the police feed, LCS).
    Partners,
    /// They come from the service's own user (what works before the fix
    /// for dead-lettering a partner's message).
    Service,
}

struct Options {
    children: usize,
    faults: usize,
    bad_from: BadFrom,
    seed: u64,
    stall: Duration,
    binary: PathBuf,
}

const USAGE: &str = "usage: chaos [--children N] [--faults N] [--bad-from partners|service] [--seed N] [--stall-seconds N] [--bin PATH]";

fn parse_options() -> anyhow::Result<Options> {
    // target/<profile>/examples/chaos -> target/release/vemt: the driver
    // may be a debug build (its dev-dependencies are built already by
    // `cargo test`); the service under test is the release binary.
    let exe = std::env::current_exe()?;
    let binary = exe
        .ancestors()
        .nth(3)
        .map(|target| target.join("release").join("vemt"))
        .context("cannot tell where the vemt binary is; pass --bin")?;
    let mut options = Options {
        children: DEFAULT_CHILDREN,
        faults: DEFAULT_FAULTS,
        bad_from: BadFrom::Partners,
        seed: u64::from(Utc::now().timestamp_subsec_nanos()) ^ (Utc::now().timestamp() as u64),
        stall: Duration::from_secs(60),
        binary,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--children" => options.children = value()?.parse().context("--children")?,
            "--faults" => options.faults = value()?.parse().context("--faults")?,
            "--seed" => options.seed = value()?.parse().context("--seed")?,
            "--stall-seconds" => {
                options.stall = Duration::from_secs(value()?.parse().context("--stall-seconds")?)
            }
            "--bin" => options.binary = PathBuf::from(value()?),
            "--bad-from" => {
                options.bad_from = match value()?.as_str() {
                    "partners" => BadFrom::Partners,
                    "service" => BadFrom::Service,
                    other => bail!("--bad-from {other}: partners or service"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}; {USAGE}"),
        }
    }
    anyhow::ensure!(options.children >= 10, "--children must be at least 10");
    anyhow::ensure!(
        options.binary.is_file(),
        "no service binary at {} (cargo build --release --bin vemt, or --bin PATH)",
        options.binary.display()
    );
    Ok(options)
}

// ---- a small seeded generator (no rand dependency) --------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

// ---- what is set up, so that it can be removed ------------------------------

#[derive(Clone)]
struct Account {
    name: String,
    password: String,
}

impl Account {
    fn new(tag: &str, role: &str) -> Self {
        Self {
            name: format!("vemt-chaos-{tag}-{role}"),
            password: Uuid::new_v4().simple().to_string(),
        }
    }
}

#[derive(Default)]
struct Resources {
    users: Vec<String>,
    database: Option<(String, String)>,
    broker: Option<BrokerSettings>,
    admin_amqp_url: String,
    folder: Option<PathBuf>,
    keep_folder: bool,
    service: Option<Arc<Service>>,
}

impl Resources {
    /// Every step bounded, and attempted even when an earlier one failed.
    async fn clean_up(&mut self) {
        if let Some(service) = self.service.take() {
            service.kill().await;
        }
        if let Some(b) = self.broker.take() {
            let mut queues = vec![b.inbound_queue.clone(), b.dead_letter_queue.clone()];
            queues.extend(
                OUTBOUND_TYPES
                    .iter()
                    .map(|t| format!("{}{t}", b.outbound_queue_prefix)),
            );
            let connect =
                Connection::connect(&self.admin_amqp_url, ConnectionProperties::default());
            match tokio::time::timeout(Duration::from_secs(30), connect).await {
                Ok(Ok(connection)) => {
                    for queue in &queues {
                        let Ok(channel) = connection.create_channel().await else {
                            continue;
                        };
                        let delete = channel
                            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default());
                        if !matches!(
                            tokio::time::timeout(Duration::from_secs(30), delete).await,
                            Ok(Ok(_))
                        ) {
                            eprintln!("cleanup: could not delete queue {queue}");
                        }
                    }
                    for exchange in [
                        &b.inbound_exchange,
                        &b.outbound_exchange,
                        &b.dead_letter_exchange,
                    ] {
                        let Ok(channel) = connection.create_channel().await else {
                            continue;
                        };
                        let delete = channel.exchange_delete(
                            exchange.as_str().into(),
                            ExchangeDeleteOptions::default(),
                        );
                        let _ = tokio::time::timeout(Duration::from_secs(30), delete).await;
                    }
                    broker::close(&connection).await;
                }
                _ => eprintln!(
                    "cleanup: cannot reach RabbitMQ; delete the queues {}* by hand",
                    b.inbound_queue.trim_end_matches("vemt.inbound")
                ),
            }
        }
        if let Some((server, database)) = self.database.take() {
            let dropped = async {
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                anyhow::Ok(())
            };
            if !matches!(
                tokio::time::timeout(Duration::from_secs(30), dropped).await,
                Ok(Ok(()))
            ) {
                eprintln!("cleanup: could not drop database {database}");
            }
        }
        for user in std::mem::take(&mut self.users) {
            if let Err(err) = rabbitmqctl(&["delete_user", &user]).await {
                eprintln!("cleanup: could not delete RabbitMQ user {user}: {err:#}");
            }
        }
        if let Some(folder) = self.folder.take() {
            if self.keep_folder {
                eprintln!(
                    "the service's log is kept in {}",
                    folder.join("service.log").display()
                );
            } else {
                let _ = std::fs::remove_dir_all(&folder);
            }
        }
    }
}

// ---- main --------------------------------------------------------------------

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("chaos: {err:#}");
            return ExitCode::from(2);
        }
    };
    let mut resources = Resources::default();
    let outcome = tokio::select! {
        report = run(&options, &mut resources) => report,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    resources.keep_folder = !matches!(&outcome, Ok(report) if report.passed());
    resources.clean_up().await;
    match outcome {
        Ok(report) => {
            report.print();
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("chaos: the run could not complete: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(options: &Options, resources: &mut Resources) -> anyhow::Result<Report> {
    let tag = Uuid::new_v4().simple().to_string()[..10].to_owned();
    let server = std::env::var("VEMT_CHAOS_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
    let admin_amqp = std::env::var("VEMT_CHAOS_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    resources.admin_amqp_url = admin_amqp.clone();
    let now = Utc::now();

    // Users: the service's own, and one per partner.
    let service_user = Account::new(&tag, "service");
    let police = Account::new(&tag, "police");
    let lcs = Account::new(&tag, "lcs");
    let prefix = format!("chaos{tag}.");
    let vhost = vhost_of(&admin_amqp);
    let escaped = prefix.replace('.', "\\.");
    for account in [&service_user, &police, &lcs] {
        rabbitmqctl(&["add_user", &account.name, &account.password]).await?;
        resources.users.push(account.name.clone());
    }
    let service_names = format!("^{escaped}");
    let inbound_only = format!("^{escaped}vemt\\.inbound$");
    let grants = [
        (
            &service_user,
            service_names.as_str(),
            service_names.as_str(),
            service_names.as_str(),
        ),
        (&police, "^$", inbound_only.as_str(), "^$"),
        (&lcs, "^$", inbound_only.as_str(), "^$"),
    ];
    for (account, configure, write, read) in grants {
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &vhost,
            &account.name,
            configure,
            write,
            read,
        ])
        .await?;
    }

    // The service's settings: a folder with the shipped defaults and
    // templates, and a `chaos.toml` with this run's names, publishers and
    // timers. The URLs (with passwords) go by environment only.
    let folder = std::env::temp_dir().join(format!("vemt-chaos-{tag}"));
    resources.folder = Some(folder.clone());
    let repo_config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let defaults = Settings::load(&repo_config, vemt::config::DEFAULT_APP_ENV)?;
    let timezone: chrono_tz::Tz = defaults
        .meetings
        .timezone
        .parse()
        .map_err(|_| anyhow::anyhow!("meetings.timezone is not a time zone"))?;
    let far_time = (now + chrono::Duration::hours(12))
        .with_timezone(&timezone)
        .format("%H:%M")
        .to_string();
    write_config(
        &folder,
        &repo_config,
        &prefix,
        &police.name,
        &lcs.name,
        &far_time,
    )?;
    let database = format!("vemt_chaos_{tag}");
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    let database_url = format!("{base}/{database}");
    let service_amqp = with_user(&admin_amqp, &service_user)?;
    let mut settings = Settings::load(&folder, "chaos")?;
    settings.database.url = database_url.clone();
    settings.broker.url = service_amqp.clone();
    let meeting_date = settings.calendar()?.next_open_meeting(now).date;

    // The database, made here so the probe can wait on it from the start.
    {
        let mut admin = PgConnection::connect(&server).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await?;
        resources.database = Some((server.clone(), database.clone()));
    }
    // The topology, declared exactly as the service declares it, so the
    // partners can publish before it first starts.
    resources.broker = Some(settings.broker.clone());
    {
        let connection = broker::connect(&BrokerSettings {
            url: admin_amqp.clone(),
            ..settings.broker.clone()
        })
        .await?;
        let channel = connection.create_channel().await?;
        broker::declare_topology(&channel, &settings.broker).await?;
        broker::close(&connection).await;
    }

    let users = Users {
        police: police.name.clone(),
        lcs: lcs.name.clone(),
        service: service_user.name.clone(),
    };
    let plan = Plan::new(options, &tag, &users, now, meeting_date);

    let service = Arc::new(Service {
        binary: options.binary.clone(),
        folder: folder.clone(),
        env: vec![
            ("VEMT__DATABASE__URL".into(), database_url.clone()),
            ("VEMT__BROKER__URL".into(), service_amqp.clone()),
            (
                "RUST_LOG".into(),
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            ),
            ("NO_COLOR".into(), "1".into()),
        ],
        child: Mutex::new(None),
        starts: AtomicUsize::new(0),
        exits: Mutex::new(Vec::new()),
        stopping: AtomicBool::new(false),
    });
    resources.service = Some(service.clone());
    service.start().await?;

    let probe = Probe::connect(&database_url).await?;
    let mut publishers = Publishers {
        police: Publisher::new(with_user(&admin_amqp, &police)?, police.name.clone()),
        lcs: Publisher::new(with_user(&admin_amqp, &lcs)?, lcs.name.clone()),
        service: Publisher::new(service_amqp.clone(), service_user.name.clone()),
    };
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let faults = faults_plan(options);
    let watchdog = async {
        while !done.load(Ordering::Relaxed) {
            service.restart_if_exited().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let work = async {
        let outcome = async {
            let (streamed, injected) = tokio::join!(
                stream(&plan, &mut publishers, &settings.broker, &probe, options),
                inject(
                    &faults,
                    plan.valid,
                    &probe,
                    &service,
                    &service_user.name,
                    &server,
                    &database,
                    options.stall,
                ),
            );
            streamed?;
            let injected = injected?;
            let settled = settle(
                &plan,
                &probe,
                &admin_amqp,
                &settings.broker,
                &vhost,
                options.stall,
            )
            .await?;
            anyhow::Ok((injected, settled))
        }
        .await;
        done.store(true, Ordering::Relaxed);
        outcome
    };
    let (outcome, ()) = tokio::join!(work, watchdog);
    let (injected, settled) = outcome?;
    let elapsed = started.elapsed();
    service.stop().await;
    publishers.close().await;
    let handled = probe
        .count("SELECT count(*) FROM inbox")
        .await
        .unwrap_or(-1);
    probe.pool.close().await;

    let counted = count(&plan, &admin_amqp, &settings.broker).await?;
    let log = std::fs::read_to_string(folder.join("service.log")).unwrap_or_default();
    Ok(Report {
        options_bad_from: options.bad_from,
        seed: options.seed,
        children: options.children,
        plan_summary: plan.summary(),
        faults: injected,
        service_starts: service.starts.load(Ordering::Relaxed),
        service_exits: service.exits.lock().await.clone(),
        database_retries: log.matches("database unavailable; will retry").count(),
        broker_reconnects: log.matches("broker session ended; reconnecting").count(),
        settled,
        elapsed,
        handled,
        counted,
    })
}

// ---- configuration ------------------------------------------------------------

fn write_config(
    folder: &Path,
    repo_config: &Path,
    prefix: &str,
    police_user: &str,
    lcs_user: &str,
    far_time: &str,
) -> anyhow::Result<()> {
    let templates = folder.join("templates");
    std::fs::create_dir_all(&templates)?;
    std::fs::copy(
        repo_config.join("default.toml"),
        folder.join("default.toml"),
    )?;
    for entry in std::fs::read_dir(repo_config.join("templates"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), templates.join(entry.file_name()))?;
    }
    let toml = format!(
        r#"# Written by examples/chaos.rs for one run.
[broker]
inbound_exchange = "{prefix}vemt.inbound"
inbound_queue = "{prefix}vemt.inbound"
outbound_exchange = "{prefix}vemt.outbound"
outbound_queue_prefix = "{prefix}vemt.out."
dead_letter_exchange = "{prefix}vemt.dead-letter"
dead_letter_queue = "{prefix}vemt.dead-letter"

[broker.publishers]
"police.missing-episode.v1" = ["{police_user}"]
"lcs.child.v1" = ["{lcs_user}"]

# No collation or VPG agenda falls within the run.
[meetings]
collation_time = "{far_time}"

[vpg_weekly]
publish_time = "{far_time}"

[vpg_monthly]
publish_time = "{far_time}"

[http]
bind = "127.0.0.1:0"

[database]
create_if_missing = false
"#
    );
    std::fs::write(folder.join("chaos.toml"), toml)?;
    Ok(())
}

/// `amqp://user:pass@host:port/vhost` with another user.
fn with_user(url: &str, account: &Account) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .context("the AMQP URL has no scheme")?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    Ok(format!(
        "{scheme}://{}:{}@{host}",
        account.name, account.password
    ))
}

fn vhost_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split('?').next().unwrap_or_default();
    match rest.split_once('/') {
        Some((_, vhost)) if !vhost.is_empty() => vhost.replace("%2f", "/").replace("%2F", "/"),
        _ => "/".into(),
    }
}

/// `rabbitmqctl`, as root directly, else through `sudo -n`.
async fn rabbitmqctl(args: &[&str]) -> anyhow::Result<String> {
    let program = [
        "/usr/sbin/rabbitmqctl",
        "/usr/local/sbin/rabbitmqctl",
        "/sbin/rabbitmqctl",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap_or("rabbitmqctl");
    let mut command = if is_root() {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("-n").arg(program);
        sudo
    };
    command.arg("-q").args(args).stdin(Stdio::null());
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .with_context(|| format!("rabbitmqctl {} did not finish in 60 s", args[0]))?
        .with_context(|| format!("running rabbitmqctl {}", args[0]))?;
    if !output.status.success() {
        bail!(
            "rabbitmqctl {} failed: {}",
            args[0],
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?.to_owned();
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

// ---- the events ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Police,
    Lcs,
    Service,
}

struct Users {
    police: String,
    lcs: String,
    service: String,
}

impl Users {
    fn name(&self, who: Who) -> &str {
        match who {
            Who::Police => &self.police,
            Who::Lcs => &self.lcs,
            Who::Service => &self.service,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    NotJson,
    MissingField,
    WrongUser,
}

impl Bad {
    fn reason(self) -> &'static str {
        match self {
            Self::NotJson => NOT_JSON_REASON,
            Self::MissingField => MISSING_FIELD_REASON,
            Self::WrongUser => WRONG_USER_REASON,
        }
    }
}

struct Outgoing {
    who: Who,
    routing_key: &'static str,
    body: Vec<u8>,
    /// The CloudEvent id for a valid event; a fresh UUID for a bad one.
    message_id: String,
    valid: bool,
}

struct Plan {
    messages: Vec<Outgoing>,
    valid: usize,
    episodes: usize,
    records: usize,
    bad: BTreeMap<String, Bad>,
    /// Bad message id -> the user who published it.
    bad_publisher: HashMap<String, String>,
    valid_ids: HashSet<String>,
    /// Police person id -> one trigger-plan request each.
    expected_requests: BTreeSet<String>,
    /// Police person id -> one unmatched-person alert each.
    expected_alerts: BTreeSet<String>,
    meeting_date: NaiveDate,
    bad_from: BadFrom,
}

impl Plan {
    /// Children alternate: even ones are linked to an LCS record (their
    /// reports carry the LCS id, and LCS sends two revisions of their
    /// record); odd ones are police persons no LCS record links. Each has
    /// three episodes of three revisions (the first open), the first graded
    /// high in every revision; all are shuffled together with the bad ones.
    fn new(
        options: &Options,
        tag: &str,
        users: &Users,
        now: DateTime<Utc>,
        meeting_date: NaiveDate,
    ) -> Self {
        let mut rng = Rng(options.seed);
        let mut messages = Vec::new();
        let mut plan = Plan {
            messages: Vec::new(),
            valid: 0,
            episodes: 0,
            records: 0,
            bad: BTreeMap::new(),
            bad_publisher: HashMap::new(),
            valid_ids: HashSet::new(),
            expected_requests: BTreeSet::new(),
            expected_alerts: BTreeSet::new(),
            meeting_date,
            bad_from: options.bad_from,
        };
        for child in 0..options.children {
            let police = format!("CHAOS-P-{tag}-{child:05}");
            let lcs = (child % 2 == 0).then(|| format!("CHAOS-L-{tag}-{child:05}"));
            plan.expected_requests.insert(police.clone());
            if lcs.is_none() {
                plan.expected_alerts.insert(police.clone());
            }
            for k in 0..EPISODES_PER_CHILD {
                for revision in 1..=REVISIONS {
                    let event = episode(tag, child, k, revision, &police, lcs.as_deref(), now);
                    messages.push(valid(Who::Police, "police.missing-episode.v1", &event));
                    plan.episodes += 1;
                }
            }
            if let Some(lcs) = &lcs {
                for revision in 1..=RECORD_REVISIONS {
                    let event = child_record(child, revision, lcs, &police, now);
                    messages.push(valid(Who::Lcs, "lcs.child.v1", &event));
                    plan.records += 1;
                }
            }
        }
        plan.valid = messages.len();
        plan.valid_ids = messages.iter().map(|m| m.message_id.clone()).collect();

        // Bad messages: one in about thirty.
        let per_kind = (options.children / 10).max(3);
        let (from_police, from_lcs) = match options.bad_from {
            BadFrom::Partners => (Who::Police, Who::Lcs),
            BadFrom::Service => (Who::Service, Who::Service),
        };
        for j in 0..per_kind {
            let id = Uuid::new_v4().to_string();
            messages.push(Outgoing {
                who: from_police,
                routing_key: "police.missing-episode.v1",
                body: format!("chaos message {j}: this is not JSON").into_bytes(),
                message_id: id.clone(),
                valid: false,
            });
            plan.bad.insert(id, Bad::NotJson);

            let mut broken = episode(tag, j, 0, 1, &format!("CHAOS-BAD-{tag}-{j:05}"), None, now);
            broken["data"]
                .as_object_mut()
                .expect("data is an object")
                .remove("reported_missing_at");
            let id = Uuid::new_v4().to_string();
            messages.push(Outgoing {
                who: from_police,
                routing_key: "police.missing-episode.v1",
                body: serde_json::to_vec(&broken).expect("JSON serialises"),
                message_id: id.clone(),
                valid: false,
            });
            plan.bad.insert(id, Bad::MissingField);

            // Valid and high risk: if the service took it from a user not
            // allowed to send it, a request and an alert would show up.
            let foreign = episode(
                tag,
                j,
                0,
                2,
                &format!("CHAOS-WRONG-{tag}-{j:05}"),
                None,
                now,
            );
            let id = Uuid::new_v4().to_string();
            messages.push(Outgoing {
                who: from_lcs,
                routing_key: "police.missing-episode.v1",
                body: serde_json::to_vec(&foreign).expect("JSON serialises"),
                message_id: id.clone(),
                valid: false,
            });
            plan.bad.insert(id, Bad::WrongUser);
        }
        for message in messages.iter().filter(|m| !m.valid) {
            plan.bad_publisher.insert(
                message.message_id.clone(),
                users.name(message.who).to_owned(),
            );
        }
        rng.shuffle(&mut messages);
        plan.messages = messages;
        plan
    }

    fn summary(&self) -> String {
        format!(
            "{} events ({} police.missing-episode.v1, {} lcs.child.v1) and {} bad messages ({} not JSON, {} missing reported_missing_at, {} from a user not allowed the type) from {}",
            self.valid,
            self.episodes,
            self.records,
            self.bad.len(),
            self.bad.values().filter(|b| **b == Bad::NotJson).count(),
            self.bad
                .values()
                .filter(|b| **b == Bad::MissingField)
                .count(),
            self.bad.values().filter(|b| **b == Bad::WrongUser).count(),
            match self.bad_from {
                BadFrom::Partners => "the partner users",
                BadFrom::Service => "the service's own user",
            }
        )
    }
}

fn valid(who: Who, routing_key: &'static str, event: &Value) -> Outgoing {
    Outgoing {
        who,
        routing_key,
        body: serde_json::to_vec(event).expect("JSON serialises"),
        message_id: event["id"].as_str().expect("event id").to_owned(),
        valid: true,
    }
}

/// Revision 1 is open; 2 and 3 returned. Episode 0 is high in every
/// revision; the others move between medium, high and low.
fn episode(
    tag: &str,
    child: usize,
    k: usize,
    revision: u32,
    police: &str,
    lcs: Option<&str>,
    now: DateTime<Utc>,
) -> Value {
    let reported = now
        - chrono::Duration::days(1 + 4 * k as i64)
        - chrono::Duration::minutes((child % 600) as i64);
    let risk = match (k, revision) {
        (0, _) | (_, 2) => "high",
        (_, 1) => "medium",
        _ => "low",
    };
    let mut person = json!({
        "police_person_id": police,
        "given_name": "Chaoschild",
        "family_name": format!("Family-{child:05}"),
        "date_of_birth": "2011-05-06",
        "gender": "female",
    });
    if let Some(lcs) = lcs {
        person["lcs_person_id"] = json!(lcs);
    }
    let mut data = json!({
        "episode_id": format!("CHAOS-E-{tag}-{police}-{k}"),
        "revision": revision,
        "person": person,
        "status": if revision == 1 { "open" } else { "returned" },
        "reported_missing_at": reported,
        "last_seen_at": reported - chrono::Duration::hours(1),
        "risk_level": risk,
        "missing_from": "home",
    });
    if revision > 1 {
        data["returned_at"] = json!(reported + chrono::Duration::hours(2 + i64::from(revision)));
    }
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": "urn:chaos:police",
        "type": "police.missing-episode.v1",
        "time": reported + chrono::Duration::minutes(i64::from(revision)),
        "datacontenttype": "application/json",
        "data": data,
    })
}

fn child_record(child: usize, revision: u32, lcs: &str, police: &str, now: DateTime<Utc>) -> Value {
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": "urn:chaos:lcs",
        "type": "lcs.child.v1",
        "time": now - chrono::Duration::hours(i64::from(3 - revision)),
        "datacontenttype": "application/json",
        "data": {
            "lcs_person_id": lcs,
            "revision": revision,
            "given_name": "Chaoschild",
            "family_name": format!("Family-{child:05}"),
            "date_of_birth": "2011-05-06",
            "gender": "female",
            "police_person_ids": [police],
            "vemt": { "status": "none" },
        },
    })
}

// ---- publishing -----------------------------------------------------------------

/// One partner's connection, reopened when it fails; publishes with
/// confirms and publishes again what was not confirmed (a repeat is a
/// transport duplicate the inbox absorbs).
struct Publisher {
    url: String,
    user: String,
    open: Option<(Connection, Channel)>,
}

impl Publisher {
    fn new(url: String, user: String) -> Self {
        Self {
            url,
            user,
            open: None,
        }
    }

    async fn channel(&mut self) -> anyhow::Result<Channel> {
        if let Some((connection, channel)) = &self.open
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let connection = tokio::time::timeout(
            Duration::from_secs(30),
            Connection::connect(&self.url, ConnectionProperties::default()),
        )
        .await
        .context("connecting a publisher timed out")??;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.open = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn publish(&mut self, exchange: &str, messages: &[&Outgoing]) -> anyhow::Result<()> {
        let mut todo: Vec<&Outgoing> = messages.to_vec();
        for _attempt in 0..20 {
            if todo.is_empty() {
                return Ok(());
            }
            let channel = match self.channel().await {
                Ok(channel) => channel,
                Err(err) => {
                    eprintln!("chaos: publisher {} cannot connect: {err:#}", self.user);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let mut pending = Vec::new();
            let mut failed = Vec::new();
            for message in todo {
                let properties = BasicProperties::default()
                    .with_content_type(broker::CLOUDEVENTS_JSON.into())
                    .with_delivery_mode(2)
                    .with_message_id(message.message_id.as_str().into())
                    .with_user_id(self.user.as_str().into());
                let published = channel
                    .basic_publish(
                        exchange.into(),
                        message.routing_key.into(),
                        BasicPublishOptions {
                            mandatory: true,
                            ..BasicPublishOptions::default()
                        },
                        &message.body,
                        properties,
                    )
                    .await;
                match published {
                    Ok(confirm) => pending.push((message, confirm)),
                    Err(_) => failed.push(message),
                }
            }
            for (message, confirm) in pending {
                match tokio::time::timeout(Duration::from_secs(30), confirm).await {
                    Ok(Ok(Confirmation::Ack(None))) => {}
                    _ => failed.push(message),
                }
            }
            if !failed.is_empty() {
                self.open = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            todo = failed;
        }
        bail!(
            "publisher {} could not publish after 20 attempts",
            self.user
        )
    }

    async fn close(&mut self) {
        if let Some((connection, _)) = self.open.take() {
            broker::close(&connection).await;
        }
    }
}

struct Publishers {
    police: Publisher,
    lcs: Publisher,
    service: Publisher,
}

impl Publishers {
    async fn close(&mut self) {
        self.police.close().await;
        self.lcs.close().await;
        self.service.close().await;
    }
}

/// Publishes the shuffled messages in bursts of 50 to 400 with short
/// pauses, keeping at most `MAX_BACKLOG` valid events ahead of the service
/// so that the stream lasts while the faults come.
async fn stream(
    plan: &Plan,
    publishers: &mut Publishers,
    b: &BrokerSettings,
    probe: &Probe,
    options: &Options,
) -> anyhow::Result<()> {
    let mut rng = Rng(options.seed ^ 0x5eed);
    let mut published_valid = 0usize;
    let mut at = 0;
    // Once the service has stalled, the rest goes out without waiting.
    let mut stalled = false;
    while at < plan.messages.len() {
        let size = rng.range(50, 400) as usize;
        let burst = &plan.messages[at..(at + size).min(plan.messages.len())];
        // Wait for the service to catch up, but never longer than a stall.
        let mut last = (-1, Instant::now());
        while !stalled {
            let handled = probe.handled().await;
            if published_valid.saturating_sub(handled.max(0) as usize) < MAX_BACKLOG {
                break;
            }
            if handled != last.0 {
                last = (handled, Instant::now());
            } else if last.1.elapsed() > options.stall {
                stalled = true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (who, publisher) in [
            (Who::Police, &mut publishers.police),
            (Who::Lcs, &mut publishers.lcs),
            (Who::Service, &mut publishers.service),
        ] {
            let group: Vec<&Outgoing> = burst.iter().filter(|m| m.who == who).collect();
            publisher.publish(&b.inbound_exchange, &group).await?;
        }
        published_valid += burst.iter().filter(|m| m.valid).count();
        at += burst.len();
        tokio::time::sleep(Duration::from_millis(rng.range(50, 500))).await;
    }
    Ok(())
}

// ---- the service process ------------------------------------------------------------

struct Service {
    binary: PathBuf,
    folder: PathBuf,
    env: Vec<(String, String)>,
    child: Mutex<Option<Child>>,
    starts: AtomicUsize,
    /// Exits nobody asked for (a crash), by exit status.
    exits: Mutex<Vec<String>>,
    stopping: AtomicBool,
}

impl Service {
    async fn start(&self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.folder.join("service.log"))?;
        let child = Command::new(&self.binary)
            .arg("--config-dir")
            .arg(&self.folder)
            .arg("--app-env")
            .arg("chaos")
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        *self.child.lock().await = Some(child);
        self.starts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// SIGKILL, and wait for it to be gone.
    async fn kill(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM, as an operator stops it; SIGKILL after 30 s.
    async fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let mut held = self.child.lock().await;
        let Some(mut child) = held.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(Ok(status)) if !status.success() => {
                self.exits
                    .lock()
                    .await
                    .push(format!("on SIGTERM: {status}"));
            }
            Ok(_) => {}
            Err(_) => {
                self.exits
                    .lock()
                    .await
                    .push("did not stop within 30 s of SIGTERM".into());
                let _ = child.kill().await;
            }
        }
    }

    /// A service that exited on its own is a finding; it is started again
    /// so that the run can still be counted.
    async fn restart_if_exited(&self) {
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        let exited = {
            let mut held = self.child.lock().await;
            match held.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(status))) => {
                    held.take();
                    Some(status.to_string())
                }
                _ => None,
            }
        };
        if let Some(status) = exited {
            eprintln!("chaos: the service exited on its own ({status}); starting it again");
            self.exits.lock().await.push(status);
            if let Err(err) = self.start().await {
                eprintln!("chaos: could not start the service again: {err:#}");
            }
        }
    }
}

// ---- progress -------------------------------------------------------------------------

struct Probe {
    pool: PgPool,
}

impl Probe {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.application_name(PROBE_APP))
            .await?;
        Ok(Self { pool })
    }

    async fn count(&self, query: &'static str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(query).fetch_one(&self.pool).await?)
    }

    /// Events in the inbox (0 until the service has made its tables).
    async fn handled(&self) -> i64 {
        self.count("SELECT count(*) FROM inbox").await.unwrap_or(0)
    }

    async fn pending(&self) -> i64 {
        self.count("SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL")
            .await
            .unwrap_or(-1)
    }
}

// ---- faults ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    CloseConnections,
    DatabaseStorm,
}

#[derive(Debug, Default)]
struct Injected {
    kills: usize,
    closes: usize,
    storms: usize,
    /// Backends terminated while `active` (a statement running, so a
    /// transaction open).
    cut_active: usize,
    /// Backends terminated while `idle in transaction`.
    cut_idle_in_transaction: usize,
    /// Idle backends terminated at the end of each storm.
    cut_idle: usize,
    /// Faults left out because the service stopped making progress.
    skipped: usize,
}

/// Interleaves the kinds: kill, close, storm, kill, ...
fn faults_plan(options: &Options) -> Vec<Fault> {
    let mut faults = Vec::new();
    for _ in 0..options.faults {
        faults.extend([Fault::Kill, Fault::CloseConnections, Fault::DatabaseStorm]);
    }
    faults
}

/// Each fault waits for a milestone of handled events, spread from 5% to
/// 85% of the run, so that each hits a service that has recovered from the
/// one before and has work in hand.
#[allow(clippy::too_many_arguments)]
async fn inject(
    faults: &[Fault],
    valid: usize,
    probe: &Probe,
    service: &Service,
    service_user: &str,
    server: &str,
    database: &str,
    stall: Duration,
) -> anyhow::Result<Injected> {
    let mut injected = Injected::default();
    let mut rng = Rng(0xfa17 ^ valid as u64);
    let mut admin = PgConnection::connect(server).await?;
    for (j, fault) in faults.iter().enumerate() {
        let milestone = (valid * (5 + 80 * j / faults.len().max(1)) / 100) as i64;
        let mut last = (-1, Instant::now());
        let reached = loop {
            let handled = probe.handled().await;
            if handled >= milestone {
                break true;
            }
            if handled != last.0 {
                last = (handled, Instant::now());
            } else if last.1.elapsed() > stall {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if !reached {
            injected.skipped = faults.len() - j;
            break;
        }
        match fault {
            Fault::Kill => {
                service.kill().await;
                tokio::time::sleep(Duration::from_millis(rng.range(100, 1500))).await;
                service.start().await?;
                injected.kills += 1;
            }
            Fault::CloseConnections => {
                rabbitmqctl(&["close_all_user_connections", service_user, "chaos test"]).await?;
                injected.closes += 1;
            }
            Fault::DatabaseStorm => {
                storm(&mut admin, database, &mut injected).await?;
                injected.storms += 1;
            }
        }
    }
    admin.close().await?;
    Ok(injected)
}

/// Terminates, in a tight loop for `STORM`, every backend of the service
/// that is inside a transaction (running a statement, or idle in one);
/// then, once, the idle ones (pooled connections and the relay's LISTEN).
async fn storm(
    admin: &mut PgConnection,
    database: &str,
    injected: &mut Injected,
) -> anyhow::Result<()> {
    let end = Instant::now() + STORM;
    while Instant::now() < end {
        let states: Vec<String> = sqlx::query_scalar(
            "WITH victims AS MATERIALIZED (
                 SELECT pid, state FROM pg_stat_activity
                 WHERE datname = $1 AND application_name <> $2 AND pid <> pg_backend_pid()
                   AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')
             )
             SELECT state FROM victims WHERE pg_terminate_backend(pid)",
        )
        .bind(database)
        .bind(PROBE_APP)
        .fetch_all(&mut *admin)
        .await?;
        for state in states {
            if state == "active" {
                injected.cut_active += 1;
            } else {
                injected.cut_idle_in_transaction += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let idle: Vec<String> = sqlx::query_scalar(
        "WITH victims AS MATERIALIZED (
             SELECT pid, state FROM pg_stat_activity
             WHERE datname = $1 AND application_name <> $2 AND pid <> pg_backend_pid()
               AND state = 'idle'
         )
         SELECT state FROM victims WHERE pg_terminate_backend(pid)",
    )
    .bind(database)
    .bind(PROBE_APP)
    .fetch_all(&mut *admin)
    .await?;
    injected.cut_idle += idle.len();
    Ok(())
}

// ---- settling and counting --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    handled: i64,
    pending: i64,
    dead: i64,
    inbound_ready: i64,
}

#[derive(Debug)]
struct Settled {
    done: bool,
    last: Snapshot,
    waited: Duration,
}

/// Waits until every valid event is in the inbox, the outbox is drained,
/// the inbound queue is empty and every bad message has been
/// dead-lettered; gives up when nothing moves for `stall`, or after twice
/// that in all (a service that keeps failing the same messages moves a
/// little at each broker redelivery).
async fn settle(
    plan: &Plan,
    probe: &Probe,
    admin_amqp: &str,
    b: &BrokerSettings,
    vhost: &str,
    stall: Duration,
) -> anyhow::Result<Settled> {
    let started = Instant::now();
    let connection = Connection::connect(admin_amqp, ConnectionProperties::default()).await?;
    let mut last: Option<(Snapshot, Instant)> = None;
    let result = loop {
        let snapshot = Snapshot {
            handled: probe.handled().await,
            pending: probe.pending().await,
            dead: queue_length(&connection, &b.dead_letter_queue).await?,
            inbound_ready: queue_length(&connection, &b.inbound_queue).await?,
        };
        if snapshot.handled >= plan.valid as i64
            && snapshot.pending == 0
            && snapshot.dead >= plan.bad.len() as i64
            && snapshot.inbound_ready == 0
            // A repeated dead letter can make up the count while a bad
            // message is still in the consumer's hands.
            && unacked(vhost, &b.inbound_queue).await? == 0
        {
            break Settled {
                done: true,
                last: snapshot,
                waited: started.elapsed(),
            };
        }
        match last {
            Some((seen, since)) if seen == snapshot || started.elapsed() > 2 * stall => {
                if since.elapsed() > stall || started.elapsed() > 2 * stall {
                    break Settled {
                        done: false,
                        last: snapshot,
                        waited: started.elapsed(),
                    };
                }
            }
            _ => last = Some((snapshot, Instant::now())),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    broker::close(&connection).await;
    Ok(result)
}

/// Messages delivered to a consumer and not yet acknowledged.
async fn unacked(vhost: &str, queue: &str) -> anyhow::Result<i64> {
    let listing = rabbitmqctl(&[
        "list_queues",
        "-p",
        vhost,
        "name",
        "messages_unacknowledged",
    ])
    .await?;
    listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .find(|(name, _)| *name == queue)
        .and_then(|(_, count)| count.trim().parse().ok())
        .with_context(|| format!("rabbitmqctl list_queues did not list {queue}"))
}

/// Messages ready on a queue (a passive declare, on its own channel since
/// a failed one closes it).
async fn queue_length(connection: &Connection, queue: &str) -> anyhow::Result<i64> {
    let channel = connection.create_channel().await?;
    let declared = vemt::broker::inspect(&channel, queue).await?;
    let _ = channel.close(200, "done".into()).await;
    Ok(i64::from(declared.message_count()))
}

/// One row of the table.
#[derive(Debug, Default)]
struct Tally {
    expected: usize,
    found: usize,
    lost: usize,
    /// Distinct ids of messages nothing called for.
    unexpected: usize,
    /// Extra copies of an id already seen: transport redeliveries.
    redelivered: usize,
    /// Further ids for a key already found: the same effect sent twice.
    duplicates: usize,
}

/// `seen` holds (key, id) of every message: key `None` when the message
/// matches nothing expected.
fn tally(expected: &BTreeSet<String>, seen: &[(Option<String>, String)]) -> Tally {
    let mut copies: HashMap<&str, usize> = HashMap::new();
    let mut ids_by_key: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut unexpected: HashSet<&str> = HashSet::new();
    for (key, id) in seen {
        *copies.entry(id.as_str()).or_default() += 1;
        match key {
            Some(key) if expected.contains(key) => {
                ids_by_key
                    .entry(key.as_str())
                    .or_default()
                    .insert(id.as_str());
            }
            _ => {
                unexpected.insert(id.as_str());
            }
        }
    }
    let found = ids_by_key.len();
    Tally {
        expected: expected.len(),
        found,
        lost: expected.len() - found,
        unexpected: unexpected.len(),
        redelivered: seen.len() - copies.len(),
        duplicates: ids_by_key.values().map(|ids| ids.len() - 1).sum(),
    }
}

#[derive(Debug, Default)]
struct Counted {
    requests: Tally,
    alerts: Tally,
    other: Tally,
    other_types: BTreeMap<String, usize>,
    dead: Tally,
    /// Valid events found on the dead-letter queue (distinct ids).
    valid_dead: usize,
    /// Dead letters without the service's reason header: the broker's
    /// delivery limit put them there.
    by_delivery_limit: usize,
    /// Bad messages dead-lettered with another reason than their fault's.
    wrong_reason: usize,
    /// Dead letters whose `x-vemt-original-user-id` is not the user who
    /// published the message.
    wrong_publisher: usize,
    /// Left on the inbound queue after the service stopped.
    inbound_left: i64,
}

async fn count(plan: &Plan, admin_amqp: &str, b: &BrokerSettings) -> anyhow::Result<Counted> {
    let connection = Connection::connect(admin_amqp, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let mut counted = Counted {
        inbound_left: queue_length(&connection, &b.inbound_queue).await?,
        ..Counted::default()
    };
    let meeting = plan.meeting_date.to_string();

    let mut requests = Vec::new();
    let mut alerts = Vec::new();
    let mut other = Vec::new();
    for event_type in OUTBOUND_TYPES {
        let queue = format!("{}{event_type}", b.outbound_queue_prefix);
        for body in drain(&channel, &queue).await? {
            let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let id = event["id"].as_str().unwrap_or("(no id)").to_owned();
            let data = &event["data"];
            let police = data["police_person_id"].as_str().map(str::to_owned);
            match event_type {
                "police.trigger-plan-request.v1" => {
                    let right = data["kind"] == "copy" && data["meeting_date"] == meeting.as_str();
                    requests.push((police.filter(|_| right), id));
                }
                "lcs.alert.v1" if data["reason"] == "unmatched_police_person" => {
                    alerts.push((police, id));
                }
                _ => {
                    *counted
                        .other_types
                        .entry(event_type.to_owned())
                        .or_default() += 1;
                    other.push((None, id));
                }
            }
        }
    }
    counted.requests = tally(&plan.expected_requests, &requests);
    counted.alerts = tally(&plan.expected_alerts, &alerts);
    counted.other = tally(&BTreeSet::new(), &other);

    let mut dead = Vec::new();
    let mut valid_dead = HashSet::new();
    let deliveries = drain_deliveries(&channel, &b.dead_letter_queue).await?;
    for delivery in &deliveries {
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_else(|| "(no message id)".into());
        let reason = header(delivery, broker::ERROR_HEADER);
        if reason.is_none() {
            counted.by_delivery_limit += 1;
        }
        if plan.valid_ids.contains(&id) {
            valid_dead.insert(id);
            continue;
        }
        if let Some(publisher) = plan.bad_publisher.get(&id)
            && header(delivery, ORIGINAL_USER_HEADER).as_deref() != Some(publisher.as_str())
        {
            counted.wrong_publisher += 1;
        }
        let key = match plan.bad.get(&id) {
            Some(bad) if reason.as_deref() == Some(bad.reason()) => Some(id.clone()),
            Some(_) => {
                counted.wrong_reason += 1;
                Some(id.clone())
            }
            None => None,
        };
        dead.push((key, id));
    }
    let bad_ids: BTreeSet<String> = plan.bad.keys().cloned().collect();
    counted.dead = tally(&bad_ids, &dead);
    counted.valid_dead = valid_dead.len();
    broker::close(&connection).await;
    Ok(counted)
}

async fn drain(channel: &Channel, queue: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    Ok(drain_deliveries(channel, queue)
        .await?
        .into_iter()
        .map(|d| d.data)
        .collect())
}

async fn drain_deliveries(
    channel: &Channel,
    queue: &str,
) -> anyhow::Result<Vec<lapin::message::Delivery>> {
    let mut taken = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .with_context(|| format!("reading {queue}"))?
    {
        taken.push(message.delivery);
    }
    Ok(taken)
}

fn header(delivery: &lapin::message::Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

// ---- the report ---------------------------------------------------------------------------

struct Report {
    options_bad_from: BadFrom,
    seed: u64,
    children: usize,
    plan_summary: String,
    faults: Injected,
    service_starts: usize,
    service_exits: Vec<String>,
    database_retries: usize,
    broker_reconnects: usize,
    settled: Settled,
    elapsed: Duration,
    handled: i64,
    counted: Counted,
}

impl Report {
    fn failures(&self) -> Vec<String> {
        let c = &self.counted;
        let mut failures = Vec::new();
        let rows = [
            ("trigger-plan requests", &c.requests),
            ("unmatched-person alerts", &c.alerts),
            ("other effects", &c.other),
            ("dead letters", &c.dead),
        ];
        for (name, t) in rows {
            if t.lost > 0 {
                failures.push(format!("{} {name} lost", t.lost));
            }
            if t.unexpected > 0 {
                failures.push(format!("{} unexpected {name}", t.unexpected));
            }
            if t.duplicates > 0 {
                failures.push(format!(
                    "{} {name} sent twice under different ids",
                    t.duplicates
                ));
            }
        }
        if c.valid_dead > 0 {
            failures.push(format!("{} valid events dead-lettered", c.valid_dead));
        }
        if c.wrong_reason > 0 {
            failures.push(format!(
                "{} bad messages dead-lettered with the wrong reason",
                c.wrong_reason
            ));
        }
        if c.wrong_publisher > 0 {
            failures.push(format!(
                "{} dead letters do not name their publisher in {ORIGINAL_USER_HEADER}",
                c.wrong_publisher
            ));
        }
        if c.inbound_left > 0 {
            failures.push(format!(
                "{} messages left on the inbound queue",
                c.inbound_left
            ));
        }
        if !self.settled.done {
            failures.push(format!(
                "did not settle: nothing moved for the stall time ({:?})",
                self.settled.last
            ));
        }
        if !self.service_exits.is_empty() {
            failures.push(format!(
                "the service exited on its own: {}",
                self.service_exits.join("; ")
            ));
        }
        if self.faults.skipped > 0 {
            failures.push(format!(
                "{} faults not injected (no progress)",
                self.faults.skipped
            ));
        }
        failures
    }

    fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    fn print(&self) {
        let f = &self.faults;
        let c = &self.counted;
        println!(
            "vemt chaos (seed {}, {} children, bad messages from {}):",
            self.seed,
            self.children,
            match self.options_bad_from {
                BadFrom::Partners => "partners",
                BadFrom::Service => "the service's user",
            }
        );
        println!("  sent: {}", self.plan_summary);
        println!(
            "  faults: {} SIGKILL and restart, {} closes of the service's broker connections, {} PostgreSQL storms",
            f.kills, f.closes, f.storms
        );
        println!(
            "  backends terminated: {} inside a transaction ({} running a statement, {} idle in transaction), {} idle",
            f.cut_active + f.cut_idle_in_transaction,
            f.cut_active,
            f.cut_idle_in_transaction,
            f.cut_idle
        );
        println!(
            "  service: {} starts; its log shows {} retries after database errors and {} broker reconnects",
            self.service_starts, self.database_retries, self.broker_reconnects
        );
        println!(
            "  {} events in the inbox; {} in {:.1} s (settling {:.1} s)",
            self.handled,
            if self.settled.done {
                "settled"
            } else {
                "did NOT settle"
            },
            self.elapsed.as_secs_f64(),
            self.settled.waited.as_secs_f64()
        );
        println!();
        println!(
            "| effect | expected | found | lost | unexpected | same-id redeliveries | duplicates (new id) |"
        );
        println!("|---|---|---|---|---|---|---|");
        let row = |name: &str, t: &Tally| {
            println!(
                "| {name} | {} | {} | {} | {} | {} | {} |",
                t.expected, t.found, t.lost, t.unexpected, t.redelivered, t.duplicates
            );
        };
        row(
            "police.trigger-plan-request.v1 (one per child)",
            &c.requests,
        );
        row("lcs.alert.v1 (one per unmatched police person)", &c.alerts);
        row("any other effect", &c.other);
        row("dead letters (one per bad message)", &c.dead);
        println!(
            "| valid events dead-lettered | 0 | {} | | | | |",
            c.valid_dead
        );
        println!();
        if !c.other_types.is_empty() {
            println!("  other effects by type: {:?}", c.other_types);
        }
        if c.by_delivery_limit > 0 {
            println!(
                "  {} dead letters came from the broker's delivery limit (no x-vemt-error)",
                c.by_delivery_limit
            );
        }
        let failures = self.failures();
        if failures.is_empty() {
            println!(
                "PASS: nothing lost, nothing unexpected, no effect twice (redeliveries of the same id aside)"
            );
        } else {
            println!("FAIL: {}", failures.join("; "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(pairs: &[(Option<&str>, &str)]) -> Vec<(Option<String>, String)> {
        pairs
            .iter()
            .map(|(key, id)| (key.map(str::to_owned), (*id).to_owned()))
            .collect()
    }

    #[test]
    fn tally_tells_redeliveries_from_duplicates_and_losses() {
        let expected: BTreeSet<String> = ["a", "b", "c"].into_iter().map(String::from).collect();
        let t = tally(
            &expected,
            &seen(&[
                (Some("a"), "1"),
                (Some("a"), "1"), // the same id again: a redelivery
                (Some("b"), "2"),
                (Some("b"), "3"), // b under a new id: a real duplicate
                (Some("x"), "4"), // nothing called for x
                (None, "5"),      // matches nothing expected
            ]),
        );
        assert_eq!(t.expected, 3);
        assert_eq!(t.found, 2);
        assert_eq!(t.lost, 1);
        assert_eq!(t.unexpected, 2);
        assert_eq!(t.redelivered, 1);
        assert_eq!(t.duplicates, 1);
    }

    #[test]
    fn broker_urls_for_other_users() {
        let account = Account {
            name: "u".into(),
            password: "p".into(),
        };
        let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
        assert_eq!(
            with_user(url, &account).unwrap(),
            "amqp://u:p@127.0.0.1:5672/%2f"
        );
        assert_eq!(vhost_of(url), "/");
        assert_eq!(vhost_of("amqps://h:5671/vemt?heartbeat=10"), "vemt");
        assert_eq!(vhost_of("amqp://h"), "/");
    }
}
