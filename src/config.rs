//! Settings: `config/default.toml`, then `config/{APP_ENV}.toml` if present,
//! then `VEMT__SECTION__KEY` environment variables. Unknown keys are refused
//! so a misspelt setting fails at start instead of being silently ignored.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveTime, Weekday};
use serde::Deserialize;

use crate::domain::calendar::MeetingCalendar;
use crate::domain::criteria::Thresholds;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub service: ServiceSettings,
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    pub criteria: Thresholds,
    pub meetings: MeetingSettings,
    pub sweep: SweepSettings,
    pub outbox: OutboxSettings,
    pub telemetry: TelemetrySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    pub source: String,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub create_if_missing: bool,
}

// The URL holds a password: never print it.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &"[redacted]")
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    pub url: String,
    pub inbound_exchange: String,
    pub inbound_queue: String,
    pub outbound_exchange: String,
    pub outbound_queue_prefix: String,
    pub declare_outbound_queues: bool,
    pub dead_letter_exchange: String,
    pub dead_letter_queue: String,
    pub prefetch: u16,
    pub delivery_limit: u32,
    pub confirm_timeout_seconds: u64,
    /// Inbound type -> RabbitMQ users allowed to publish it (R8.5).
    #[serde(default)]
    pub publishers: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("url", &"[redacted]")
            .field("inbound_exchange", &self.inbound_exchange)
            .field("inbound_queue", &self.inbound_queue)
            .field("outbound_exchange", &self.outbound_exchange)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingSettings {
    pub timezone: String,
    pub review_weekday: String,
    pub review_time: String,
    pub collation_weekday: String,
    pub collation_time: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSettings {
    pub interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    pub poll_interval_ms: u64,
    pub batch_size: i64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("setting `{key}` {rule}")]
    Invalid { key: &'static str, rule: String },
}

impl Settings {
    /// Reads `dir/default.toml`, `dir/{app_env}.toml` (optional) and the
    /// `VEMT__…` environment.
    pub fn load(dir: &Path, app_env: &str) -> Result<Self, SettingsError> {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")))
            .add_source(config::File::from(dir.join(format!("{app_env}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("VEMT")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()?
            .try_deserialize()?;
        settings.calendar()?;
        Ok(settings)
    }

    /// The meeting calendar these settings describe, checked.
    pub fn calendar(&self) -> Result<MeetingCalendar, SettingsError> {
        let m = &self.meetings;
        Ok(MeetingCalendar {
            timezone: m.timezone.parse().map_err(|_| SettingsError::Invalid {
                key: "meetings.timezone",
                rule: "must be an IANA time zone name such as Europe/London".into(),
            })?,
            meeting_weekday: weekday("meetings.review_weekday", &m.review_weekday)?,
            meeting_time: time_of_day("meetings.review_time", &m.review_time)?,
            collation_weekday: weekday("meetings.collation_weekday", &m.collation_weekday)?,
            collation_time: time_of_day("meetings.collation_time", &m.collation_time)?,
        })
    }
}

fn weekday(key: &'static str, raw: &str) -> Result<Weekday, SettingsError> {
    raw.parse().map_err(|_| SettingsError::Invalid {
        key,
        rule: "must be a weekday such as wednesday".into(),
    })
}

fn time_of_day(key: &'static str, raw: &str) -> Result<NaiveTime, SettingsError> {
    NaiveTime::parse_from_str(raw, "%H:%M").map_err(|_| SettingsError::Invalid {
        key,
        rule: "must be a time of day HH:MM".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn shipped_defaults_load_and_match_product_defaults() {
        let s = Settings::load(&config_dir(), "none").expect("defaults load");
        assert_eq!(s.criteria, Thresholds::default());
        assert_eq!(s.calendar().unwrap(), MeetingCalendar::default());
    }

    #[test]
    fn production_file_switches_to_json_logs() {
        let s = Settings::load(&config_dir(), "production").expect("production loads");
        assert_eq!(s.telemetry.format, LogFormat::Json);
        assert!(!s.database.create_if_missing);
    }
}
