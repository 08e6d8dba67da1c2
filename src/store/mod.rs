//! PostgreSQL persistence. Every function takes the caller's transaction (as
//! a connection); only the unit of work commits.

pub mod agenda;
pub mod batch;
pub mod children;
pub mod collations;
pub mod episodes;
pub mod inbox;
pub mod meetings;
pub mod metrics;
pub mod outbox;
pub mod outcomes;
pub mod return_home_interviews;
pub mod trigger_plans;
pub mod vpg;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::DatabaseSettings;

/// The schema, embedded: `migrate` and `serve` apply the same migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub type ChildId = i64;

/// The professionals of a stored LCS record (`[]` when it lists none).
pub fn professionals(
    stored: serde_json::Value,
) -> anyhow::Result<Vec<crate::domain::child::Professional>> {
    match stored {
        serde_json::Value::Null => Ok(Vec::new()),
        listed => serde_json::from_value(listed)
            .map_err(|_| anyhow::anyhow!("stored professionals are malformed")),
    }
}

/// Connects, creating the database first when configured to (local use).
/// TLS is as `database.url` asks (`sslmode=verify-full&sslrootcert=…` across a
/// network): a refused certificate is named in the error, as is the server
/// (host, port and database; never the password).
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    use anyhow::Context as _;
    let options = PgConnectOptions::from_str(&settings.url)
        .context("database.url is not a valid PostgreSQL URL")?
        // Every statement planned for its own parameters and the tables as
        // they are: a generic plan cached while the tables were small (a
        // full scan per key, say) would otherwise stay as they grow, on a
        // server whose statistics may be stale (issue 13).
        .options([("plan_cache_mode", "force_custom_plan")]);
    if settings.create_if_missing {
        create_database_if_missing(&options).await?;
    }
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(options.clone())
        .await
        .map_err(|err| refused(&options, &err))
}

/// The error for a connection PostgreSQL (or its certificate) refused:
/// the server (never the password), why, and what to check.
fn refused(options: &PgConnectOptions, err: &sqlx::Error) -> anyhow::Error {
    let sslmode = match options.get_ssl_mode() {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    };
    let endpoint = format!(
        "{}:{}/{} (sslmode={sslmode})",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default(),
    );
    // A server's error as PostgreSQL words it, without its source file and
    // line (which read like a line of our configuration).
    let text = match err.as_database_error() {
        Some(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_owned(),
        },
        None => err.to_string(),
    };
    let code = err
        .as_database_error()
        .and_then(|db| db.code().map(|c| c.into_owned()));
    let (reason, check) = match crate::tls::explain(&text, "PostgreSQL", "database.url sslrootcert")
    {
        Some(reason) => (
            format!("{reason} ({text})"),
            "the server's certificate and the sslrootcert of VEMT__DATABASE__URL".to_owned(),
        ),
        None => {
            let check = match code.as_deref() {
                // invalid_password, invalid_authorization_specification
                Some("28P01" | "28000") => "the user and password in VEMT__DATABASE__URL",
                // invalid_catalog_name
                Some("3D000") => {
                    "the database name in VEMT__DATABASE__URL (or set VEMT__DATABASE__CREATE_IF_MISSING=true where the service may create it)"
                }
                Some("53300") => "the server's max_connections and database.max_connections",
                _ => {
                    "that PostgreSQL is running and reachable there, and the host and port of VEMT__DATABASE__URL (database.url)"
                }
            };
            (text, check.to_owned())
        }
    };
    crate::exit::Unreachable {
        server: "PostgreSQL",
        endpoint,
        reason,
        check,
    }
    .into()
}

async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let admin_options = options.clone().database("postgres");
    let mut admin = admin_options
        .connect()
        .await
        .map_err(|err| refused(&admin_options, &err))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut admin)
            .await;
        // Two instances starting together may race to create it.
        if let Err(err) = created {
            let lost_race = err
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !lost_race {
                return Err(err).context("cannot create the database");
            }
        }
        tracing::info!(database = %name, "created database");
    }
    admin.close().await?;
    Ok(())
}

/// Serialises work on the identities a unit of work touches (a police
/// person, an LCS person, an episode) across every instance, until the
/// transaction ends. Keys are taken in sorted order so two units never wait
/// on each other in a cycle.
pub async fn lock_keys(conn: &mut sqlx::PgConnection, mut keys: Vec<String>) -> sqlx::Result<()> {
    keys.sort();
    keys.dedup();
    for key in keys {
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
