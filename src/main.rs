use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use vemt::clock::SystemClock;
use vemt::config::Settings;
use vemt::startup::Application;
use vemt::templates::Templates;

/// The VEMT missing-children integration service.
#[derive(Parser)]
#[command(version = VERSION, about, after_help = vemt::exit::HELP)]
struct Cli {
    /// Folder holding default.toml and {APP_ENV}.toml.
    #[arg(long, env = "VEMT_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
    /// Which environment file ({APP_ENV}.toml) to layer over the defaults;
    /// it must exist, except for `local` (the defaults alone).
    #[arg(long, env = "APP_ENV", default_value = vemt::config::DEFAULT_APP_ENV, global = true)]
    app_env: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: consume, queue, publish.
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Ask the running service's /readyz (on this host, at http.bind's
    /// port) and exit 0 when it is ready, 1 when not: the container's
    /// HEALTHCHECK, as the image has no HTTP client.
    Healthcheck,
    /// Publish CloudEvents, one JSON object a line, to the inbound exchange
    /// as the configured broker user (to try the service; dead letters are
    /// replayed with `dead-letters replay`).
    Publish {
        /// A JSONL file of CloudEvents.
        file: PathBuf,
    },
    /// Dead letters (what the service refused, or the broker gave up on):
    /// list them, show one without its personal data, replay them through
    /// the inbound checks. Connects as the service's broker user.
    #[command(name = "dead-letters")]
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
    /// Print an agenda: the Wednesday review's (default), or the weekly or
    /// monthly VPG meeting's. The next meeting's as it stands now (a
    /// preview until collated or published), or the one of --date. Reads
    /// the database only. Holds children's data: print it only where it
    /// may be seen.
    Agenda {
        /// Which meeting.
        #[arg(long, value_enum, default_value_t = AgendaMeeting::Review)]
        meeting: AgendaMeeting,
        /// The meeting date, YYYY-MM-DD.
        #[arg(long, value_parser = parse_meeting_date)]
        date: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value_t = AgendaFormat::Table)]
        format: AgendaFormat,
    },
    /// Backfill historical police missing episodes from a CSV export or a
    /// JSONL file (docs/import.md): highest revision wins, no effects sent.
    /// Applies the migrations first. Exits 4 when rows were rejected.
    Import {
        /// The file: columns as documented (CSV), or one episode's `data`
        /// or whole CloudEvent a line (JSONL).
        file: PathBuf,
        /// Default: from the file's extension (.csv, .jsonl or .ndjson).
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
        /// Write every rejection (line, field, rule; never the value) here.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Cancel or move a Wednesday meeting (R2.4); its children roll to the
    /// meeting that replaces it. Reads and writes the database only.
    Meeting {
        #[command(subcommand)]
        change: MeetingChange,
    },
    /// Run a JSONL file of inbound CloudEvents through the service's rules,
    /// with no database or broker, and print the Wednesday agendas and the
    /// effects it would produce (to try the criteria on past data). The
    /// text names children by id only; the JSON holds the agendas whole.
    /// Exits 4 when lines were refused (after printing everything else).
    Simulate {
        /// A JSONL file of CloudEvents, applied in order of their `time`.
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = SimulateFormat::Text)]
        format: SimulateFormat,
        /// Run the timers (collation, 72-hour sweep) up to this RFC 3339
        /// time; by default up to the last event's.
        #[arg(long, value_parser = parse_instant)]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[derive(Subcommand)]
enum DeadLetterCommand {
    /// One line per dead letter: time, id, CloudEvent type, publisher,
    /// reason. Never a payload value. Every message stays in the queue.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// One dead letter: every property and header, the reason, and the
    /// body with the string values of its payload redacted.
    Show {
        /// The AMQP message_id, or the CloudEvent id when it has none (as
        /// `list` prints it).
        id: String,
        /// Print the body as received instead. It holds personal data
        /// (names, dates of birth, free text): only where it may be seen.
        #[arg(long)]
        body: bool,
    },
    /// Republish to the inbound exchange with the original routing key, as
    /// the service's user on behalf of the original publisher, so the
    /// service checks it like any inbound message; each is removed from
    /// the dead-letter queue once the broker confirmed its republish.
    Replay {
        /// The message to replay (as `list` prints it).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every message in the queue, in one pass (one refused again
        /// comes back to the queue and is not replayed twice).
        #[arg(long)]
        all: bool,
        /// Publish this file's content (a corrected CloudEvent, one JSON
        /// object) instead of the stored body.
        #[arg(long, requires = "id", conflicts_with = "all")]
        from: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SimulateFormat {
    /// Agendas by child id, criteria and evidence; effects; totals.
    Text,
    /// The agendas and effects as the service would publish their data.
    Json,
}

fn parse_instant(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            "must be an RFC 3339 time with an offset, such as 2027-03-01T00:00:00Z".to_owned()
        })
}

#[derive(Subcommand)]
enum MeetingChange {
    /// The regular meeting on DATE will not sit; its children go to the next.
    Cancel {
        #[arg(value_parser = parse_meeting_date)]
        date: chrono::NaiveDate,
    },
    /// The regular meeting on DATE sits on --to instead (same time of day).
    Move {
        #[arg(value_parser = parse_meeting_date)]
        date: chrono::NaiveDate,
        #[arg(long, value_parser = parse_meeting_date)]
        to: chrono::NaiveDate,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AgendaMeeting {
    /// M1, the Wednesday missing children review.
    Review,
    /// M2, the weekly VPG meeting.
    VpgWeekly,
    /// M3, the monthly VPG meeting.
    VpgMonthly,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AgendaFormat {
    /// One line per child, for a terminal.
    Table,
    /// One row per episode per child (RFC 4180).
    Csv,
    /// The agenda as the HTTP view and the published event carry it.
    Json,
    /// The printable page the HTTP view serves (save it, open it, print it).
    Html,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportFormat {
    Csv,
    Jsonl,
}

fn parse_meeting_date(raw: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == raw)
        .ok_or_else(|| "must be a date YYYY-MM-DD".to_owned())
}

/// `vemt --version`: the crate version and the git revision built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("VEMT_GIT_REVISION"),
    ")"
);

/// What a command that ran to its end reports: everything done, or the
/// input partly refused.
enum Done {
    All,
    Refused,
}

fn main() -> std::process::ExitCode {
    use vemt::exit;
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: cannot start the async runtime: {err}");
            return exit::FAILURE.into();
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(Done::All) => exit::SUCCESS,
        Ok(Done::Refused) => exit::REFUSED,
        Err(err) => {
            // The same text as anyhow's report from `main`, one cause a line.
            eprintln!("Error: {err:?}");
            exit::code(&err)
        }
    };
    code.into()
}

async fn run(cli: Cli) -> anyhow::Result<Done> {
    let settings = Settings::load(&cli.config_dir, &cli.app_env)
        .with_context(|| format!("loading settings from {}", cli.config_dir.display()))?;
    vemt::telemetry::init(settings.telemetry.format);
    let mut done = Done::All;
    match cli.command {
        Command::Migrate => {
            let pool = vemt::store::connect(&settings.database).await?;
            vemt::store::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
            tracing::info!("migrations applied");
        }
        Command::Publish { file } => publish(&settings, &file).await?,
        Command::Healthcheck => healthcheck(&settings).await?,
        Command::DeadLetters { command } => dead_letters(&settings, command).await?,
        Command::Simulate {
            file,
            format,
            until,
        } => done = simulate(&settings, &cli.config_dir, &file, format, until)?,
        Command::Agenda {
            meeting: AgendaMeeting::Review,
            date,
            format,
        } => print_agenda(&settings, date, format).await?,
        Command::Agenda {
            meeting,
            date,
            format,
        } => print_vpg_agenda(&settings, meeting, date, format).await?,
        Command::Import {
            file,
            format,
            rejects,
        } => done = import(&settings, &file, format, rejects).await?,
        Command::Meeting { change } => {
            let pool = vemt::store::connect(&settings.database).await?;
            vemt::store::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
            let meetings =
                vemt::meetings::Meetings::new(pool, settings.calendar()?, settings.criteria);
            let now = chrono::Utc::now();
            match change {
                MeetingChange::Cancel { date } => meetings.cancel(date, now).await?,
                MeetingChange::Move { date, to } => meetings.move_to(date, to, now).await?,
            }
            println!("done: the service uses the change at once; children queued for it roll over");
        }
        Command::Serve => {
            let templates = Templates::load(&cli.config_dir)?;
            let app = Application::build(settings, templates, Arc::new(SystemClock)).await?;
            let (stop, shutdown) = watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stopping: finishing the message in hand");
                let _ = stop.send(true);
            });
            app.run_until_stopped(shutdown).await?;
            tracing::info!("stopped");
        }
    }
    Ok(done)
}

/// Publishes each line of `file` with publisher confirms, routed by its
/// `type`, and says how many went. A line that is not a JSON object with a
/// string `type` stops the run with its line number; the service itself
/// judges everything else.
async fn publish(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    use vemt::broker;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let b = &settings.broker;
    let connection = broker::connect(b).await.context("connecting to RabbitMQ")?;
    let channel = broker::confirm_channel(&connection).await?;
    broker::declare_topology(&channel, b).await?;
    let user = broker::user_name(b)?;
    let mut published = 0;
    for (index, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line_number = index + 1;
        let event: serde_json::Value = serde_json::from_str(line)
            .map_err(|_| anyhow::anyhow!("line {line_number}: not a JSON object"))?;
        let event_type = event["type"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("line {line_number}: `type` must be a string"))?;
        let id = event["id"].as_str().unwrap_or_default();
        let properties = broker::event_properties(
            id,
            event_type,
            &user,
            chrono::Utc::now().timestamp().max(0) as u64,
        );
        broker::publish_confirmed(
            &channel,
            &b.inbound_exchange,
            event_type,
            line.as_bytes(),
            properties,
            std::time::Duration::from_secs(b.confirm_timeout_seconds),
        )
        .await
        .with_context(|| format!("line {line_number}: not published"))?;
        published += 1;
    }
    broker::close(&connection).await;
    tracing::info!(published, exchange = %b.inbound_exchange, "published");
    Ok(())
}

/// `vemt healthcheck`: GET /readyz on the loopback address at the bound port.
async fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{}/readyz", settings.http.bind.port());
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    println!("{body}");
    Ok(())
}

/// `vemt dead-letters`: results to stdout, counts to stderr. Exits 1 when
/// no message has the id, or a replay failed.
async fn dead_letters(settings: &Settings, command: DeadLetterCommand) -> anyhow::Result<()> {
    use std::io::Write as _;
    use vemt::dead_letters::{self, BodyView, DeadLetters, Target};
    let queue = &settings.broker.dead_letter_queue;
    // Read before connecting: a missing file must not touch the queue.
    let corrected = match &command {
        DeadLetterCommand::Replay {
            from: Some(file), ..
        } => {
            let body =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            anyhow::ensure!(
                !body.iter().all(u8::is_ascii_whitespace),
                "{} is empty",
                file.display()
            );
            Some(body)
        }
        _ => None,
    };
    let tool = DeadLetters::connect(&settings.broker)
        .await
        .context("connecting to RabbitMQ")?;
    let result = async {
        let mut out = std::io::stdout().lock();
        match command {
            DeadLetterCommand::List { format } => {
                let letters = tool.list().await?;
                match format {
                    ListFormat::Text => {
                        out.write_all(dead_letters::render_list(&letters).as_bytes())?
                    }
                    ListFormat::Json => {
                        serde_json::to_writer_pretty(&mut out, &letters)?;
                        out.write_all(b"\n")?;
                    }
                }
                eprintln!("{} dead letter(s) in {queue}", letters.len());
            }
            DeadLetterCommand::Show { id, body } => {
                let Some(dead) = tool.find(&id).await? else {
                    anyhow::bail!("no dead letter with id {id} in {queue}");
                };
                let view = if body {
                    BodyView::Raw
                } else {
                    BodyView::Redacted
                };
                out.write_all(&dead_letters::render_show(&dead, tool.own_user(), view))?;
            }
            DeadLetterCommand::Replay { id, all, .. } => {
                let target = match (id, all) {
                    (Some(id), false) => Target::Id(id),
                    _ => Target::All,
                };
                let report = tool.replay(&target, corrected.as_deref()).await?;
                for r in &report.replayed {
                    writeln!(
                        out,
                        "replayed {} to {} with routing key {}{}",
                        r.id.as_deref().unwrap_or("-"),
                        settings.broker.inbound_exchange,
                        r.routing_key,
                        r.on_behalf_of
                            .as_ref()
                            .map(|u| format!(", on behalf of {u}"))
                            .unwrap_or_default()
                    )?;
                }
                if report.skipped > 0 {
                    writeln!(
                        out,
                        "{} left in the queue: refused again after this run replayed it, \
                         or a copy (same id) of one it replayed",
                        report.skipped
                    )?;
                }
                eprintln!(
                    "{} replayed and removed from {queue}; the service checks them again, and \
                     any it refuses come back to {queue} (`vemt dead-letters list`)",
                    report.replayed.len()
                );
                if let Some(failed) = report.failed {
                    anyhow::bail!("{failed}; it and the messages after it stay in {queue}");
                }
                if let Target::Id(id) = &target {
                    anyhow::ensure!(
                        !report.replayed.is_empty(),
                        "no dead letter with id {id} in {queue}"
                    );
                }
            }
        }
        out.flush()?;
        anyhow::Ok(())
    }
    .await;
    tool.close().await;
    result
}

/// `vemt simulate`: the pure core over a file of events, to stdout.
fn simulate(
    settings: &Settings,
    config_dir: &std::path::Path,
    file: &std::path::Path,
    format: SimulateFormat,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<Done> {
    use std::io::Write as _;
    use vemt::simulate;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let templates = vemt::templates::Templates::load(config_dir)?;
    let options = simulate::Options {
        until,
        ..simulate::Options::from_settings(settings, &templates)?
    };
    let run = simulate::simulate(&text, &options)?;
    let out = match format {
        SimulateFormat::Text => simulate::render_text(&run),
        SimulateFormat::Json => {
            serde_json::to_string_pretty(&simulate::render_json(&run, &options.source)?)? + "\n"
        }
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing to stdout")?;
    if run.refused.is_empty() {
        Ok(Done::All)
    } else {
        eprintln!(
            "{} line(s) refused: listed in the output; exit code {}",
            run.refused.len(),
            vemt::exit::REFUSED
        );
        Ok(Done::Refused)
    }
}

/// `vemt import`: the summary to stdout; the progress bar only on a
/// terminal's stderr.
async fn import(
    settings: &Settings,
    file: &std::path::Path,
    format: Option<ImportFormat>,
    rejects: Option<PathBuf>,
) -> anyhow::Result<Done> {
    use std::io::IsTerminal as _;
    use vemt::import::{Format, ImportOptions};
    let format = match format {
        Some(ImportFormat::Csv) => Format::Csv,
        Some(ImportFormat::Jsonl) => Format::Jsonl,
        None => Format::from_path(file).with_context(|| {
            format!(
                "{}: cannot tell the format from the extension: pass --format csv or --format jsonl",
                file.display()
            )
        })?,
    };
    let pool = vemt::store::connect(&settings.database).await?;
    vemt::store::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    let mut options = ImportOptions::new(format, chrono::Utc::now(), settings.criteria);
    options.progress = std::io::stderr().is_terminal();
    options.rejects = rejects.clone();
    let summary = vemt::import::import_file(&pool, file, &options).await?;
    pool.close().await;
    print!("{summary}");
    if let Some(rejects) = rejects {
        println!("all rejections written to {}", rejects.display());
    }
    std::io::Write::flush(&mut std::io::stdout()).context("writing to stdout")?;
    Ok(if summary.rejected > 0 {
        Done::Refused
    } else {
        Done::All
    })
}

/// `vemt agenda`: the same renderers as the HTTP views, to stdout.
async fn print_agenda(
    settings: &Settings,
    date: Option<chrono::NaiveDate>,
    format: AgendaFormat,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    use vemt::http::render;
    let calendar = settings.calendar()?;
    let pool = vemt::store::connect(&settings.database)
        .await
        .context("connecting to PostgreSQL")?;
    let agendas = vemt::agendas::Agendas::new(pool.clone(), calendar.clone(), settings.criteria)
        .with_open_without_update_days(settings.data_quality.open_without_update_days);
    let now = chrono::Utc::now();
    // The calendar as it stands, with the meetings cancelled or moved by
    // `vemt meeting` (the HTTP views read the same one).
    let date = match date {
        Some(date) => date,
        None => {
            agendas
                .next_meeting(now)
                .await
                .context("reading the meeting calendar (has `vemt migrate` run?)")?
                .date
        }
    };
    let agenda = agendas
        .agenda(date, now)
        .await
        .context("reading the agenda (has `vemt migrate` run?)")?;
    let agenda = match agenda {
        Some(agenda) => agenda,
        None => {
            let why = agendas.why_no_meeting(date).await?;
            pool.close().await;
            anyhow::bail!("no agenda for {date}: {why}");
        }
    };
    pool.close().await;
    let text = match format {
        AgendaFormat::Table => render::table(
            &agenda,
            &render::Presentation {
                timezone: calendar.timezone,
                thresholds: settings.criteria,
            },
        ),
        AgendaFormat::Csv => render::csv(&agenda),
        AgendaFormat::Json => serde_json::to_string_pretty(&agenda)? + "\n",
        AgendaFormat::Html => vemt::http::page::html(
            &agenda,
            &render::Presentation {
                timezone: calendar.timezone,
                thresholds: settings.criteria,
            },
            now,
        ),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}

/// `vemt agenda --meeting vpg-weekly|vpg-monthly`: the same renderers as
/// the HTTP views, to stdout.
async fn print_vpg_agenda(
    settings: &Settings,
    meeting: AgendaMeeting,
    date: Option<chrono::NaiveDate>,
    format: AgendaFormat,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    use vemt::domain::vpg::VpgKind;
    use vemt::http::{page, render};
    use vemt::vpg_agendas::{VpgAgenda, VpgAgendas};
    let kind = match meeting {
        AgendaMeeting::VpgMonthly => VpgKind::Monthly,
        _ => VpgKind::Weekly,
    };
    let presentation = render::Presentation {
        timezone: settings.calendar()?.timezone,
        thresholds: settings.criteria,
    };
    let pool = vemt::store::connect(&settings.database)
        .await
        .context("connecting to PostgreSQL")?;
    let vpg = VpgAgendas::new(
        pool.clone(),
        settings.vpg_weekly()?,
        settings.vpg_monthly()?,
        settings.criteria,
        settings.vpg_monthly.turning_18_horizon_days,
    );
    let now = chrono::Utc::now();
    let date = date.unwrap_or_else(|| vpg.next_sitting(kind, now).date);
    let view = vpg
        .agenda(kind, date, now)
        .await
        .context("reading the agenda (has `vemt migrate` run?)")?;
    pool.close().await;
    let view = view.with_context(|| {
        format!(
            "no {} VPG agenda for {date}: no meeting sits that day, or it sat with none published",
            kind.as_str()
        )
    })?;
    let preview = view.published_at.is_none();
    let text = match (&view.agenda, format) {
        (_, AgendaFormat::Json) => serde_json::to_string_pretty(&view.json())? + "\n",
        (VpgAgenda::Weekly(a), AgendaFormat::Csv) => render::vpg_weekly_csv(a, preview),
        (VpgAgenda::Monthly(a), AgendaFormat::Csv) => render::vpg_monthly_csv(a, preview),
        (VpgAgenda::Weekly(a), AgendaFormat::Html) => {
            page::weekly_html(a, view.published_at, &presentation, now)
        }
        (VpgAgenda::Monthly(a), AgendaFormat::Html) => {
            page::monthly_html(a, view.published_at, &presentation, now)
        }
        (VpgAgenda::Weekly(a), AgendaFormat::Table) => {
            render::vpg_weekly_table(a, view.published_at, &presentation)
        }
        (VpgAgenda::Monthly(a), AgendaFormat::Table) => {
            render::vpg_monthly_table(a, view.published_at, &presentation)
        }
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
