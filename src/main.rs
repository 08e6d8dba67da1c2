use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use vemt::clock::SystemClock;
use vemt::config::Settings;
use vemt::startup::Application;

/// The VEMT missing-children integration service.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Folder holding default.toml and {APP_ENV}.toml.
    #[arg(long, env = "VEMT_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
    /// Which environment file to layer over the defaults.
    #[arg(long, env = "APP_ENV", default_value = "local", global = true)]
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
    /// Publish CloudEvents, one JSON object a line, to the inbound exchange
    /// as the configured broker user (to try the service, or to replay
    /// corrected dead letters).
    Publish {
        /// A JSONL file of CloudEvents.
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(&cli.config_dir, &cli.app_env)
        .with_context(|| format!("loading settings from {}", cli.config_dir.display()))?;
    vemt::telemetry::init(settings.telemetry.format);
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
        Command::Serve => {
            let app = Application::build(settings, Arc::new(SystemClock)).await?;
            let (stop, shutdown) = watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stopping: finishing the message in hand");
                let _ = stop.send(true);
            });
            app.run_until_stopped(shutdown).await?;
        }
    }
    Ok(())
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
    let _ = connection.close(200, "done".into()).await;
    tracing::info!(published, exchange = %b.inbound_exchange, "published");
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
