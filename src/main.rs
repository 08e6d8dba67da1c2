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
