//! Settings: `config/default.toml`, then `config/{APP_ENV}.toml` (which must
//! exist unless APP_ENV is `local`), then `VEMT__SECTION__KEY` environment
//! variables. Secrets come only from the environment. Unknown keys are refused
//! so a misspelt setting fails at start instead of being silently ignored.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use serde::Deserialize;

use crate::domain::calendar::{MeetingCalendar, MeetingChanges};
use crate::domain::criteria::Thresholds;
use crate::domain::vpg::{VpgCalendar, WeekOfMonth};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub service: ServiceSettings,
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    pub criteria: Thresholds,
    pub meetings: MeetingSettings,
    pub vpg_weekly: VpgWeeklySettings,
    pub vpg_monthly: VpgMonthlySettings,
    pub sweep: SweepSettings,
    pub retention: RetentionSettings,
    pub outbox: OutboxSettings,
    pub email: EmailSettings,
    pub telemetry: TelemetrySettings,
    pub http: HttpSettings,
    /// Optional: the data-quality checks' settings (issue 11).
    #[serde(default)]
    pub data_quality: DataQualitySettings,
}

/// The data-quality flags on agenda items (issue 11, docs/http.md).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataQualitySettings {
    /// An episode open this many days with no update is flagged.
    pub open_without_update_days: u32,
}

impl Default for DataQualitySettings {
    fn default() -> Self {
        Self {
            open_without_update_days: crate::domain::quality::DEFAULT_OPEN_WITHOUT_UPDATE_DAYS,
        }
    }
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
    /// `quorum` (replicated, the default) or `classic`.
    pub outbound_queue_type: QueueType,
    pub dead_letter_exchange: String,
    pub dead_letter_queue: String,
    pub prefetch: u16,
    /// Deliveries applied in one transaction at most (issue 13).
    pub batch_size: u16,
    /// How long a batch waits for more deliveries once it has one.
    pub batch_linger_ms: u64,
    pub delivery_limit: u32,
    pub confirm_timeout_seconds: u64,
    /// Inbound type -> RabbitMQ users allowed to publish it (R8.5).
    #[serde(default)]
    pub publishers: BTreeMap<String, Vec<String>>,
    /// A PEM file of the CA certificate(s) that signed the broker's
    /// certificate, trusted on top of the system's roots. Only with an
    /// `amqps://` URL; unset (or empty): the system's roots alone.
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl BrokerSettings {
    /// The configured CA file, treating an empty value as unset.
    pub fn tls_ca_file(&self) -> Option<&Path> {
        self.tls_ca_file
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
    }

    /// A batch larger than the prefetch would never fill: the broker sends
    /// no more than `prefetch` unacked deliveries.
    fn check_batch(&self) -> Result<(), SettingsError> {
        if self.batch_size == 0 || self.batch_size > self.prefetch {
            return Err(SettingsError::Invalid {
                key: "broker.batch_size",
                rule: format!("must be from 1 to broker.prefetch ({})", self.prefetch),
            });
        }
        if self.batch_linger_ms > 1_000 {
            return Err(SettingsError::Invalid {
                key: "broker.batch_linger_ms",
                rule: "must be at most 1000 (a second): events wait that long at most".into(),
            });
        }
        Ok(())
    }

    /// A CA file only means something over TLS: with `amqp://` it would be
    /// silently ignored and the password sent in clear.
    fn check_tls(&self) -> Result<(), SettingsError> {
        let tls = <lapin::uri::AMQPUri as std::str::FromStr>::from_str(&self.url)
            .is_ok_and(|uri| uri.scheme == lapin::uri::AMQPScheme::AMQPS);
        if self.tls_ca_file().is_some() && !tls {
            return Err(SettingsError::Invalid {
                key: "broker.tls_ca_file",
                rule: "is set, so broker.url must be an amqps:// URL".into(),
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("url", &"[redacted]")
            .field("inbound_exchange", &self.inbound_exchange)
            .field("inbound_queue", &self.inbound_queue)
            .field("outbound_exchange", &self.outbound_exchange)
            .field("tls_ca_file", &self.tls_ca_file)
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
    /// Regular meeting dates that will not sit (R2.4).
    #[serde(default)]
    pub cancelled: Vec<String>,
    /// Regular meeting date -> the date it sits instead (R2.4).
    #[serde(default)]
    pub moved: BTreeMap<String, String>,
}

/// The weekly VPG meeting (M2), in `meetings.timezone`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpgWeeklySettings {
    pub weekday: String,
    pub time: String,
    /// Days before the meeting its agenda is published (0..=6).
    pub publish_days_before: u32,
    pub publish_time: String,
}

/// The monthly VPG meeting (M3), in `meetings.timezone`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpgMonthlySettings {
    /// 1..=4, or 5 for the last such weekday of the month.
    pub week_of_month: u8,
    pub weekday: String,
    pub time: String,
    /// Days before the meeting its agenda is circulated (0..=27).
    pub publish_days_before: u32,
    pub publish_time: String,
    /// Children turning 18 within this many days of the meeting are flagged (R6.4).
    pub turning_18_horizon_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSettings {
    pub interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// R8.6: records older than this many days are deleted (see `retention`).
    pub days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    pub poll_interval_ms: u64,
    pub batch_size: i64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
}

/// How `email.v1` effects leave the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTransport {
    /// Published on the bus like every other effect.
    #[default]
    Bus,
    /// Sent through GOV.UK Notify's HTTP API; never published.
    GovukNotify,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    #[serde(default)]
    pub transport: EmailTransport,
    pub govuk_notify: NotifySettings,
}

/// GOV.UK Notify (`email.transport = "govuk_notify"`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    pub base_url: String,
    /// `EmailTemplate` value (e.g. `trigger_plan_received`) -> Notify template id.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
    /// Tries per e-mail before it is marked failed and operations alerted.
    pub max_attempts: u32,
    /// Wait before retrying after a 429, a 5xx or no answer (doubles per attempt).
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub timeout_seconds: u64,
    /// Wait after Notify accepts an e-mail before asking for its delivery
    /// status, doubling per poll up to `status_poll_max_ms`.
    pub status_poll_base_ms: u64,
    pub status_poll_max_ms: u64,
    /// With no final status this long after Notify accepted it, an e-mail
    /// counts as a technical failure and operations are alerted.
    pub status_max_age_seconds: u64,
    /// `{key_name}-{service_id}-{secret}`. A secret: set it only through
    /// VEMT__EMAIL__GOVUK_NOTIFY__API_KEY.
    #[serde(default)]
    pub api_key: Option<String>,
}

// The API key is a secret: never print it.
impl std::fmt::Debug for NotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySettings")
            .field("base_url", &self.base_url)
            .field("templates", &self.templates)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base_ms", &self.retry_base_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("status_poll_base_ms", &self.status_poll_base_ms)
            .field("status_poll_max_ms", &self.status_poll_max_ms)
            .field("status_max_age_seconds", &self.status_max_age_seconds)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl EmailSettings {
    /// The Notify settings checked, when Notify is the transport: the key
    /// parses, and every e-mail kind has a template id.
    pub fn notify(&self) -> Result<Option<crate::notify::NotifyConfig>, SettingsError> {
        if self.transport != EmailTransport::GovukNotify {
            return Ok(None);
        }
        crate::notify::NotifyConfig::from_settings(&self.govuk_notify).map(Some)
    }
}

/// The HTTP server: health, meetings and agenda views.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Address and port to listen on (port 0: any free port, for tests).
    pub bind: std::net::SocketAddr,
    /// The bearer token every route but health requires. A secret: set it
    /// only through VEMT__HTTP__TOKEN. Unset (or empty), those routes answer
    /// 503: the agenda views are never open by default.
    #[serde(default)]
    pub token: Option<String>,
}

impl HttpSettings {
    /// The shortest token accepted: a guessable token would guard children's
    /// data with nothing.
    pub const MIN_TOKEN_CHARS: usize = 16;

    /// The configured token, treating an empty value as unset.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }
}

// The token is a secret: never print it.
impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("bind", &self.bind)
            .field("token", &self.token().map(|_| "[redacted]"))
            .finish()
    }
}

/// The type of the outbound queues the service declares for partners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    Quorum,
    Classic,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quorum => "quorum",
            Self::Classic => "classic",
        }
    }
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
    #[error(
        "APP_ENV `{app_env}` has no settings file: looked for {} and found none \
         (environments with a file: {}; `{DEFAULT_APP_ENV}` runs on default.toml alone)",
        looked_for.display(),
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    UnknownEnvironment {
        app_env: String,
        looked_for: std::path::PathBuf,
        known: Vec<String>,
    },
    #[error(
        "setting `{key}` is a secret and must not be in a file: remove it from {} \
         and set {env} in the environment instead",
        file.display()
    )]
    SecretInFile {
        key: &'static str,
        env: String,
        file: std::path::PathBuf,
    },
}

/// The APP_ENV that needs no file of its own: the shipped defaults, for
/// running on one machine.
pub const DEFAULT_APP_ENV: &str = "local";

/// The settings that are secrets. They come from the environment only
/// (`env_var`); a config file holding one is refused. The database and
/// broker URLs hold passwords too: they are refused with a password in an
/// environment's file, and default.toml holds only local ones.
pub const SECRETS: [&str; 2] = ["http.token", "email.govuk_notify.api_key"];
pub const SECRET_URLS: [&str; 2] = ["database.url", "broker.url"];

/// `http.token` -> `VEMT__HTTP__TOKEN`: the environment variable that sets
/// a setting.
pub fn env_var(key: &str) -> String {
    format!("VEMT__{}", key.replace('.', "__").to_uppercase())
}

/// `VEMT__HTTP__TOKEN` -> `http.token`; `None` for a variable that is not a
/// setting's.
pub fn setting_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("VEMT__")?;
    Some(
        rest.split("__")
            .collect::<Vec<_>>()
            .join(".")
            .to_lowercase(),
    )
}

/// Whether a URL carries a password (`scheme://user:password@host`).
fn has_password(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

impl Settings {
    /// Reads `dir/default.toml`, `dir/{app_env}.toml` and the `VEMT__…`
    /// environment. `app_env` must have its file unless it is `local`.
    pub fn load(dir: &Path, app_env: &str) -> Result<Self, SettingsError> {
        Self::load_with_env(dir, app_env, None)
    }

    /// `load` with `env` standing for the process environment (`None`: the
    /// process's own), for checking deployment files against the settings.
    pub fn load_with_env(
        dir: &Path,
        app_env: &str,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        let defaults = dir.join("default.toml");
        let own = dir.join(format!("{app_env}.toml"));
        if app_env != DEFAULT_APP_ENV && !own.is_file() {
            return Err(SettingsError::UnknownEnvironment {
                app_env: app_env.to_owned(),
                looked_for: own,
                known: environments(dir),
            });
        }
        check_no_secrets(&defaults, false)?;
        if own.is_file() {
            check_no_secrets(&own, true)?;
        }
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(defaults))
            .add_source(config::File::from(own).required(false))
            .add_source(
                config::Environment::with_prefix("VEMT")
                    .prefix_separator("__")
                    .separator("__")
                    .source(env.map(|vars| vars.into_iter().collect())),
            )
            .build()?
            .try_deserialize()?;
        settings.calendar()?;
        settings.vpg_weekly()?;
        settings.vpg_monthly()?;
        settings.email.notify()?;
        settings.check_retention()?;
        settings.broker.check_tls()?;
        settings.broker.check_batch()?;
        if settings
            .http
            .token()
            .is_some_and(|t| t.chars().count() < HttpSettings::MIN_TOKEN_CHARS)
        {
            return Err(SettingsError::Invalid {
                key: "http.token",
                rule: format!(
                    "must be at least {} characters",
                    HttpSettings::MIN_TOKEN_CHARS
                ),
            });
        }
        Ok(settings)
    }

    /// The meeting calendar these settings describe, checked. Cancelled and
    /// moved dates must be regular meeting dates.
    pub fn calendar(&self) -> Result<MeetingCalendar, SettingsError> {
        let m = &self.meetings;
        let meeting_weekday = weekday("meetings.review_weekday", &m.review_weekday)?;
        let regular = |key: &'static str, raw: &str| -> Result<NaiveDate, SettingsError> {
            let date =
                NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| SettingsError::Invalid {
                    key,
                    rule: "must hold dates YYYY-MM-DD".into(),
                })?;
            if date.weekday() != meeting_weekday {
                return Err(SettingsError::Invalid {
                    key,
                    rule: "must name regular meeting dates (the review weekday)".into(),
                });
            }
            Ok(date)
        };
        let mut changes = MeetingChanges::default();
        for raw in &m.cancelled {
            changes
                .cancelled
                .insert(regular("meetings.cancelled", raw)?);
        }
        for (from, to) in &m.moved {
            let to =
                NaiveDate::parse_from_str(to, "%Y-%m-%d").map_err(|_| SettingsError::Invalid {
                    key: "meetings.moved",
                    rule: "must map dates YYYY-MM-DD to dates YYYY-MM-DD".into(),
                })?;
            changes.moved.insert(regular("meetings.moved", from)?, to);
        }
        Ok(MeetingCalendar {
            timezone: m.timezone.parse().map_err(|_| SettingsError::Invalid {
                key: "meetings.timezone",
                rule: "must be an IANA time zone name such as Europe/London".into(),
            })?,
            meeting_weekday,
            meeting_time: time_of_day("meetings.review_time", &m.review_time)?,
            collation_weekday: weekday("meetings.collation_weekday", &m.collation_weekday)?,
            collation_time: time_of_day("meetings.collation_time", &m.collation_time)?,
            changes,
        })
    }
}

impl Settings {
    /// Retention must outlast every look-back of the criteria, so deleting
    /// a record never changes whether a child meets one.
    fn check_retention(&self) -> Result<(), SettingsError> {
        let c = &self.criteria;
        let longest = [
            c.top_missing.days,
            c.frequent_missing.days,
            c.frequent_no_apparent_risk.days,
            c.over_hours.div_ceil(24),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        if self.retention.days <= longest {
            return Err(SettingsError::Invalid {
                key: "retention.days",
                rule: format!("must be more than the longest criteria window ({longest} days)"),
            });
        }
        Ok(())
    }

    /// The weekly VPG calendar (M2), checked.
    pub fn vpg_weekly(&self) -> Result<VpgCalendar, SettingsError> {
        let w = &self.vpg_weekly;
        let timezone = self.calendar()?.timezone;
        let weekday = weekday("vpg_weekly.weekday", &w.weekday)?;
        let time = time_of_day("vpg_weekly.time", &w.time)?;
        let publish_time = time_of_day("vpg_weekly.publish_time", &w.publish_time)?;
        publish_before(
            "vpg_weekly.publish_days_before",
            w.publish_days_before,
            6,
            publish_time,
            time,
        )?;
        Ok(VpgCalendar::weekly(
            timezone,
            weekday,
            time,
            w.publish_days_before,
            publish_time,
        ))
    }

    /// The monthly VPG calendar (M3), checked.
    pub fn vpg_monthly(&self) -> Result<VpgCalendar, SettingsError> {
        let m = &self.vpg_monthly;
        let timezone = self.calendar()?.timezone;
        let week = match m.week_of_month {
            1..=4 => WeekOfMonth::Nth(m.week_of_month),
            5 => WeekOfMonth::Last,
            _ => {
                return Err(SettingsError::Invalid {
                    key: "vpg_monthly.week_of_month",
                    rule: "must be 1 to 4, or 5 for the last in the month".into(),
                });
            }
        };
        let weekday = weekday("vpg_monthly.weekday", &m.weekday)?;
        let time = time_of_day("vpg_monthly.time", &m.time)?;
        let publish_time = time_of_day("vpg_monthly.publish_time", &m.publish_time)?;
        publish_before(
            "vpg_monthly.publish_days_before",
            m.publish_days_before,
            27,
            publish_time,
            time,
        )?;
        if m.turning_18_horizon_days > 3660 {
            return Err(SettingsError::Invalid {
                key: "vpg_monthly.turning_18_horizon_days",
                rule: "must be at most 3660 days".into(),
            });
        }
        Ok(VpgCalendar::monthly(
            timezone,
            week,
            weekday,
            time,
            m.publish_days_before,
            publish_time,
        ))
    }
}

/// The environments with a file in `dir`, sorted.
fn environments(dir: &Path) -> Vec<String> {
    let mut known: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".toml")?;
            (stem != "default").then(|| stem.to_owned())
        })
        .collect();
    known.sort();
    known
}

/// Refuses a secret written in `file`; with `urls`, also a database or
/// broker URL holding a password.
fn check_no_secrets(file: &Path, urls: bool) -> Result<(), SettingsError> {
    let Ok(raw) = config::Config::builder()
        .add_source(config::File::from(file))
        .build()
    else {
        // Unreadable or malformed: the full load says so.
        return Ok(());
    };
    let found = |key: &str| raw.get_string(key).ok().filter(|v| !v.is_empty());
    let refused = SECRETS.iter().find(|key| found(key).is_some()).or_else(|| {
        SECRET_URLS
            .iter()
            .filter(|_| urls)
            .find(|key| found(key).is_some_and(|url| has_password(&url)))
    });
    match refused {
        Some(key) => Err(SettingsError::SecretInFile {
            key,
            env: env_var(key),
            file: file.to_owned(),
        }),
        None => Ok(()),
    }
}

/// An agenda is published before its meeting, and before the next one's is.
fn publish_before(
    key: &'static str,
    days: u32,
    max: u32,
    publish_time: NaiveTime,
    meeting_time: NaiveTime,
) -> Result<(), SettingsError> {
    if days > max {
        return Err(SettingsError::Invalid {
            key,
            rule: format!("must be 0 to {max} days"),
        });
    }
    if days == 0 && publish_time > meeting_time {
        return Err(SettingsError::Invalid {
            key,
            rule: "is 0, so publish_time must not be after the meeting time".into(),
        });
    }
    Ok(())
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

    /// docs/operations.md is the configuration reference: every key the
    /// defaults file sets must be in its table, so a new setting cannot ship
    /// undocumented.
    #[test]
    fn every_default_key_is_in_the_operations_guide() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let defaults = std::fs::read_to_string(root.join("config/default.toml")).unwrap();
        let guide = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
        let mut section = String::new();
        let mut keys = Vec::new();
        for line in defaults.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                keys.push(section.clone());
            } else if let Some((key, _)) = line.split_once('=')
                && !line.starts_with('#')
            {
                keys.push(format!("{section}.{}", key.trim()));
            }
        }
        assert!(keys.len() > 40, "parsed only {keys:?}");
        let missing: Vec<_> = keys
            .iter()
            .filter(|key| key.contains('.'))
            .filter(|key| !guide.contains(&format!("`{key}")))
            .collect();
        assert!(missing.is_empty(), "not in docs/operations.md: {missing:?}");
    }

    #[test]
    fn shipped_defaults_load_and_match_product_defaults() {
        let s = Settings::load(&config_dir(), "local").expect("defaults load");
        assert_eq!(s.criteria, Thresholds::default());
        assert_eq!(s.calendar().unwrap(), MeetingCalendar::default());
    }

    #[test]
    fn vpg_defaults_load_and_bad_values_name_the_key() {
        let mut s = Settings::load(&config_dir(), "local").expect("defaults load");
        let weekly = s.vpg_weekly().unwrap();
        assert_eq!(weekly.weekday, Weekday::Thu);
        assert_eq!(weekly.publish_days_before, 1);
        let monthly = s.vpg_monthly().unwrap();
        assert_eq!(monthly.week_of_month, Some(WeekOfMonth::Nth(1)));
        assert_eq!(monthly.publish_days_before, 7);
        assert_eq!(s.vpg_monthly.turning_18_horizon_days, 90);
        s.vpg_monthly.week_of_month = 6;
        let err = s.vpg_monthly().unwrap_err().to_string();
        assert!(err.contains("vpg_monthly.week_of_month"), "{err}");
        s.vpg_monthly.week_of_month = 5;
        assert_eq!(
            s.vpg_monthly().unwrap().week_of_month,
            Some(WeekOfMonth::Last)
        );
        s.vpg_weekly.publish_days_before = 7;
        let err = s.vpg_weekly().unwrap_err().to_string();
        assert!(err.contains("vpg_weekly.publish_days_before"), "{err}");
        s.vpg_weekly.publish_days_before = 1;
        s.vpg_weekly.weekday = "thorsday".into();
        let err = s.vpg_weekly().unwrap_err().to_string();
        assert!(err.contains("vpg_weekly.weekday"), "{err}");
    }

    #[test]
    fn retention_must_outlast_the_longest_criteria_window() {
        let mut s = Settings::load(&config_dir(), "local").expect("defaults load");
        assert_eq!(s.retention.days, 730);
        s.retention.days = 90;
        let err = s.check_retention().unwrap_err().to_string();
        assert_eq!(
            err,
            "setting `retention.days` must be more than the longest criteria window (90 days)"
        );
        s.retention.days = 91;
        s.check_retention().unwrap();
        s.criteria.top_missing.days = 120;
        assert!(s.check_retention().is_err());
    }

    #[test]
    fn production_file_switches_to_json_logs() {
        let s = Settings::load(&config_dir(), "production").expect("production loads");
        assert_eq!(s.telemetry.format, LogFormat::Json);
        assert!(!s.database.create_if_missing);
    }

    #[test]
    fn a_broker_ca_file_needs_an_amqps_url() {
        let mut s = Settings::load(&config_dir(), "local").expect("defaults load");
        assert_eq!(s.broker.tls_ca_file(), None);
        s.broker.tls_ca_file = Some("".into());
        assert_eq!(s.broker.tls_ca_file(), None);
        s.broker.check_tls().unwrap();
        s.broker.tls_ca_file = Some("/etc/vemt/broker-ca.pem".into());
        let err = s.broker.check_tls().unwrap_err().to_string();
        assert_eq!(
            err,
            "setting `broker.tls_ca_file` is set, so broker.url must be an amqps:// URL"
        );
        s.broker.url = "amqps://vemt:secret@rabbit.example:5671/%2f".into();
        s.broker.check_tls().unwrap();
        let printed = format!("{:?}", s.broker);
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("broker-ca.pem"), "{printed}");
    }

    #[test]
    fn the_http_token_is_off_by_default_and_never_printed() {
        let mut s = Settings::load(&config_dir(), "local").expect("defaults load");
        assert_eq!(s.http.token(), None);
        assert_eq!(s.http.bind.to_string(), "127.0.0.1:8080");
        s.http.token = Some("a-secret-token-of-some-length".into());
        let printed = format!("{:?}", s.http);
        assert!(!printed.contains("a-secret"), "{printed}");
        assert!(printed.contains("[redacted]"));
        s.http.token = Some(String::new());
        assert_eq!(s.http.token(), None);
    }

    /// A config folder of the shipped defaults and one environment file.
    fn folder_with(env_file: &str, content: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vemt-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
        std::fs::write(dir.join(env_file), content).unwrap();
        dir
    }

    #[test]
    fn an_unknown_app_env_is_refused_naming_the_file_looked_for() {
        let err = Settings::load(&config_dir(), "prod")
            .unwrap_err()
            .to_string();
        let looked_for = config_dir().join("prod.toml");
        assert!(
            err.contains(&format!("looked for {}", looked_for.display())),
            "{err}"
        );
        assert!(err.contains("production, test"), "{err}");
        assert!(err.contains("`local` runs on default.toml alone"), "{err}");
        Settings::load(&config_dir(), "local").expect("local needs no file");
        Settings::load(&config_dir(), "test").expect("test has its file");
    }

    #[test]
    fn a_secret_in_a_file_is_refused_naming_the_variable_to_use() {
        let dir = folder_with("staging.toml", "[http]\ntoken = \"0123456789abcdef0123\"\n");
        let err = Settings::load(&dir, "staging").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "setting `http.token` is a secret and must not be in a file: remove it from {} \
                 and set VEMT__HTTP__TOKEN in the environment instead",
                dir.join("staging.toml").display()
            )
        );
        let dir = folder_with(
            "staging.toml",
            "[email.govuk_notify]\napi_key = \"key-00000000-0000-0000-0000-000000000000-00000000-0000-0000-0000-000000000000\"\n",
        );
        let err = Settings::load(&dir, "staging").unwrap_err().to_string();
        assert!(err.contains("VEMT__EMAIL__GOVUK_NOTIFY__API_KEY"), "{err}");
        // A URL with a password, in an environment's file.
        let dir = folder_with(
            "staging.toml",
            "[database]\nurl = \"postgres://vemt:hunter2@db.example/vemt\"\n",
        );
        let err = Settings::load(&dir, "staging").unwrap_err().to_string();
        assert!(err.contains("set VEMT__DATABASE__URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        // Without one it is fine (the password comes from elsewhere).
        let dir = folder_with(
            "staging.toml",
            "[broker]\nurl = \"amqps://rabbit.example:5671/%2f\"\n",
        );
        let s = Settings::load(&dir, "staging").expect("no password, no secret");
        assert_eq!(s.broker.url, "amqps://rabbit.example:5671/%2f");
    }

    #[test]
    fn secrets_come_from_the_environment() {
        let env = [
            ("VEMT__HTTP__TOKEN", "0123456789abcdef0123"),
            ("VEMT__DATABASE__URL", "postgres://vemt:pw@db.example/vemt"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = Settings::load_with_env(&config_dir(), "production", Some(env)).unwrap();
        assert_eq!(s.http.token(), Some("0123456789abcdef0123"));
        assert_eq!(s.database.url, "postgres://vemt:pw@db.example/vemt");
        assert_eq!(
            env_var("email.govuk_notify.api_key"),
            "VEMT__EMAIL__GOVUK_NOTIFY__API_KEY"
        );
        assert_eq!(
            setting_key("VEMT__EMAIL__GOVUK_NOTIFY__API_KEY").as_deref(),
            Some("email.govuk_notify.api_key")
        );
        assert_eq!(setting_key("APP_ENV"), None);
        assert!(has_password("amqp://guest:guest@127.0.0.1:5672/%2f"));
        assert!(!has_password("amqps://rabbit.example:5671/%2f"));
        assert!(!has_password("postgres://vemt@db/vemt"));
    }
}
