//! GOV.UK Notify: the e-mail transport when `email.transport` is
//! `govuk_notify`. Notify sends to one address per request, so an `email.v1`
//! effect becomes one `POST /v2/notifications/email` per recipient, each
//! with an opaque `reference` (the e-mail id and the recipient's index).
//!
//! Authentication is a JWT (HS256) per request: `iss` the service id, `iat`
//! now, signed with the secret half of the API key. Only 429 and 5xx (and no
//! answer at all) are retried; any other refusal is permanent.
//!
//! A 201 only means Notify took the e-mail: each accepted notification's
//! status is then read with `GET /v2/notifications/{id}` until it is final
//! (`crate::outbox::delivery`).
//!
//! Nothing here logs an address, a name or Notify's free-text messages.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::{NotifySettings, SettingsError};
use crate::contract::outbound::{ID_NAMESPACE, OutboundEvent};
use crate::domain::effects::EmailTemplate;

/// The path Notify accepts e-mails on, under the base URL.
pub const EMAIL_PATH: &str = "/v2/notifications/email";

/// The path of one notification, for its status.
pub fn notification_path(id: Uuid) -> String {
    format!("/v2/notifications/{id}")
}

/// An e-mail notification's status, as `GET /v2/notifications/{id}` gives
/// it. Only these names are kept or logged; anything else is `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Created,
    Sending,
    Pending,
    Delivered,
    /// The address does not exist (a bounce).
    PermanentFailure,
    /// The inbox did not take it (full, or out of office) within 72 hours.
    TemporaryFailure,
    /// A problem between Notify and its provider; also what an e-mail with
    /// no final status after `status_max_age_seconds` counts as.
    TechnicalFailure,
    Unknown,
}

impl DeliveryStatus {
    /// The final statuses, each counted on `vemt_email_delivery_total`.
    pub const FINAL: [Self; 4] = [
        Self::Delivered,
        Self::PermanentFailure,
        Self::TemporaryFailure,
        Self::TechnicalFailure,
    ];

    pub fn parse(raw: &str) -> Self {
        match raw {
            "created" => Self::Created,
            "sending" => Self::Sending,
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "permanent-failure" => Self::PermanentFailure,
            "temporary-failure" => Self::TemporaryFailure,
            "technical-failure" => Self::TechnicalFailure,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Sending => "sending",
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::PermanentFailure => "permanent-failure",
            Self::TemporaryFailure => "temporary-failure",
            Self::TechnicalFailure => "technical-failure",
            Self::Unknown => "unknown",
        }
    }

    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }

    pub fn is_failure(self) -> bool {
        self.is_final() && self != Self::Delivered
    }
}

/// The alert's error code when no final status came within
/// `status_max_age_seconds` (counted as a technical failure).
pub const STATUS_TIMEOUT: &str = "delivery_status_timeout";

/// A Notify API key, `{key_name}-{service_id}-{secret}`: the last two UUIDs.
#[derive(Clone)]
pub struct ApiKey {
    service_id: Uuid,
    secret: String,
}

// The secret must never reach a log.
impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("service_id", &self.service_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Why a key was refused. Names the rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be a GOV.UK Notify API key: {{key_name}}-{{service_id}}-{{secret}}, the last two hyphenated UUIDs"
)]
pub struct MalformedKey;

impl ApiKey {
    const UUID_CHARS: usize = 36;

    pub fn parse(raw: &str) -> Result<Self, MalformedKey> {
        let raw = raw.trim();
        let n = Self::UUID_CHARS;
        // name, '-', service id, '-', secret
        if !raw.is_ascii() || raw.len() < 2 * n + 3 {
            return Err(MalformedKey);
        }
        let bytes = raw.as_bytes();
        let secret_at = raw.len() - n;
        let service_at = secret_at - 1 - n;
        if bytes[secret_at - 1] != b'-' || bytes[service_at - 1] != b'-' {
            return Err(MalformedKey);
        }
        let hyphenated = |s: &str| {
            (s.len() == n && s.as_bytes()[8] == b'-')
                .then(|| Uuid::try_parse(s).ok())
                .flatten()
        };
        let service_id = hyphenated(&raw[service_at..secret_at - 1]).ok_or(MalformedKey)?;
        let secret = hyphenated(&raw[secret_at..]).ok_or(MalformedKey)?;
        Ok(Self {
            service_id,
            secret: secret.hyphenated().to_string(),
        })
    }

    pub fn service_id(&self) -> Uuid {
        self.service_id
    }
}

/// The claims Notify checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub iat: i64,
}

/// The bearer token for one request made at `now`.
pub fn token(key: &ApiKey, now: DateTime<Utc>) -> jsonwebtoken::errors::Result<String> {
    let claims = Claims {
        iss: key.service_id.to_string(),
        iat: now.timestamp(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.secret.as_bytes())?,
    )
}

/// Notify's answer, classified once: what happens to the e-mail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 429, 5xx or no answer: try again later.
    #[error("GOV.UK Notify did not take the e-mail for now ({code})")]
    Transient { code: String },
    /// Any other refusal (400, 403, 404...): retrying cannot help.
    #[error("GOV.UK Notify refused the e-mail ({code})")]
    Permanent { code: String },
}

impl SendError {
    /// Notify's error name (e.g. `ValidationError`), or what stood in for
    /// one: never free text.
    pub fn code(&self) -> &str {
        match self {
            Self::Transient { code } | Self::Permanent { code } => code,
        }
    }
}

/// Classifies a response by status; the body gives the error name.
pub fn classify(status: u16, body: &[u8]) -> Result<(), SendError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let code = error_name(body).unwrap_or_else(|| format!("http_{status}"));
    if status == 429 || (500..600).contains(&status) {
        Err(SendError::Transient { code })
    } else {
        Err(SendError::Permanent { code })
    }
}

/// The first `errors[].error` of a Notify error body, when it is a plain
/// name (letters only), as Notify's are.
fn error_name(body: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(body).ok()?;
    let name = body["errors"].get(0)?["error"].as_str()?;
    (!name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| name.to_owned())
}

/// The checked Notify settings.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub base_url: String,
    pub key: ApiKey,
    /// `EmailTemplate` value -> Notify template id, one for every value.
    pub templates: BTreeMap<String, Uuid>,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub timeout: Duration,
    pub status_poll_base: Duration,
    pub status_poll_max: Duration,
    pub status_max_age: Duration,
}

impl NotifyConfig {
    pub fn from_settings(s: &NotifySettings) -> Result<Self, SettingsError> {
        let invalid = |key: &'static str, rule: &str| SettingsError::Invalid {
            key,
            rule: rule.to_owned(),
        };
        let raw = s.api_key.as_deref().filter(|k| !k.is_empty()).ok_or_else(|| {
            invalid(
                "email.govuk_notify.api_key",
                "must be set (only through VEMT__EMAIL__GOVUK_NOTIFY__API_KEY) when email.transport is govuk_notify",
            )
        })?;
        let key = ApiKey::parse(raw).map_err(|err| SettingsError::Invalid {
            key: "email.govuk_notify.api_key",
            rule: err.to_string(),
        })?;
        let base_url = reqwest::Url::parse(&s.base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
            .ok_or_else(|| invalid("email.govuk_notify.base_url", "must be an http(s) URL"))?;
        let mut templates = BTreeMap::new();
        for (kind, id) in &s.templates {
            if EmailTemplate::parse(kind).is_none() {
                return Err(invalid(
                    "email.govuk_notify.templates",
                    "must name only e-mail kinds the service sends",
                ));
            }
            let id = Uuid::try_parse(id).map_err(|_| {
                invalid(
                    "email.govuk_notify.templates",
                    "must map each e-mail kind to a Notify template id (a UUID)",
                )
            })?;
            templates.insert(kind.clone(), id);
        }
        if let Some(missing) = EmailTemplate::ALL
            .iter()
            .find(|t| !templates.contains_key(t.as_str()))
        {
            return Err(SettingsError::Invalid {
                key: "email.govuk_notify.templates",
                rule: format!("has no Notify template id for `{}`", missing.as_str()),
            });
        }
        if s.max_attempts == 0 {
            return Err(invalid(
                "email.govuk_notify.max_attempts",
                "must be at least 1",
            ));
        }
        if s.status_poll_base_ms == 0 || s.status_poll_max_ms < s.status_poll_base_ms {
            return Err(invalid(
                "email.govuk_notify.status_poll_base_ms",
                "must be at least 1 and at most status_poll_max_ms",
            ));
        }
        if s.status_max_age_seconds == 0 {
            return Err(invalid(
                "email.govuk_notify.status_max_age_seconds",
                "must be at least 1",
            ));
        }
        Ok(Self {
            base_url: base_url.as_str().trim_end_matches('/').to_owned(),
            key,
            templates,
            max_attempts: s.max_attempts,
            retry_base_ms: s.retry_base_ms,
            retry_max_ms: s.retry_max_ms,
            timeout: Duration::from_secs(s.timeout_seconds.max(1)),
            status_poll_base: Duration::from_millis(s.status_poll_base_ms),
            status_poll_max: Duration::from_millis(s.status_poll_max_ms),
            status_max_age: Duration::from_secs(s.status_max_age_seconds),
        })
    }

    /// The wait before the next try after `attempts` tries.
    pub fn retry_delay(&self, attempts: i32) -> Duration {
        crate::retry::after(
            Duration::from_millis(self.retry_base_ms),
            Duration::from_millis(self.retry_max_ms),
            u32::try_from(attempts.saturating_sub(1)).unwrap_or(0),
        )
    }

    /// The wait before the next status poll after `polls` polls (the first
    /// poll comes `status_poll_base` after acceptance).
    pub fn poll_delay(&self, polls: i32) -> Duration {
        crate::retry::after(
            self.status_poll_base,
            self.status_poll_max,
            u32::try_from(polls).unwrap_or(0),
        )
    }
}

/// The body of one Notify e-mail request.
#[derive(Debug, Serialize)]
pub struct EmailRequest<'a> {
    pub email_address: &'a str,
    pub template_id: Uuid,
    pub personalisation: &'a Value,
    pub reference: &'a str,
}

/// Sends e-mails through Notify.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    config: NotifyConfig,
}

impl Notifier {
    pub fn new(config: NotifyConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("vemt/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, config })
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    /// The Notify template id of an e-mail kind.
    pub fn template_id(&self, template: &str) -> Option<Uuid> {
        self.config.templates.get(template).copied()
    }

    /// One e-mail to one address: Notify's notification id once accepted
    /// (`None` if its 201 had no readable id: the e-mail went, but its
    /// delivery cannot be followed).
    pub async fn send(&self, request: &EmailRequest<'_>) -> Result<Option<Uuid>, SendError> {
        let url = format!("{}{EMAIL_PATH}", self.config.base_url);
        let body = self.call(self.client.post(url).json(request)).await?;
        Ok(notification_id(&body))
    }

    /// The status of a notification Notify accepted.
    pub async fn status(&self, id: Uuid) -> Result<DeliveryStatus, SendError> {
        let url = format!("{}{}", self.config.base_url, notification_path(id));
        let body = self.call(self.client.get(url)).await?;
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        Ok(body["status"]
            .as_str()
            .map_or(DeliveryStatus::Unknown, DeliveryStatus::parse))
    }

    /// One authenticated request; the body of a 2xx, else the error.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, SendError> {
        let token = token(&self.config.key, Utc::now()).map_err(|_| SendError::Permanent {
            code: "jwt_not_signed".into(),
        })?;
        let response =
            request
                .bearer_auth(token)
                .send()
                .await
                .map_err(|err| SendError::Transient {
                    code: if err.is_timeout() {
                        "timeout".into()
                    } else {
                        "no_response".into()
                    },
                })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default().to_vec();
        classify(status, &body).map(|()| body)
    }
}

/// The `id` of Notify's 201 answer.
pub fn notification_id(body: &[u8]) -> Option<Uuid> {
    let body: Value = serde_json::from_slice(body).ok()?;
    Uuid::try_parse(body["id"].as_str()?).ok()
}

/// The opaque `reference` of one recipient's copy: no personal data.
pub fn reference(email_id: &str, recipient: usize) -> String {
    format!("{email_id}-{recipient}")
}

/// `lcs.alert.v1` to operations: an e-mail could not be delivered. Ids and
/// Notify's error name only; never the address or anyone's name. The id is
/// named by the e-mail, so a second failure report is the same event.
pub fn failure_alert(
    email_event: &Value,
    error_code: &str,
    source: &str,
    now: DateTime<Utc>,
) -> OutboundEvent {
    let data = &email_event["data"];
    let email_id = data["email_id"].as_str().unwrap_or_default();
    let id = Uuid::new_v5(
        &ID_NAMESPACE,
        format!("alert/email_failed/{email_id}").as_bytes(),
    );
    let event_type = "lcs.alert.v1";
    let causation = email_event["id"].clone();
    let correlation = match &email_event["correlationid"] {
        Value::Null => causation.clone(),
        c => c.clone(),
    };
    OutboundEvent {
        id,
        event_type: event_type.to_owned(),
        body: json!({
            "specversion": "1.0",
            "id": id,
            "source": source,
            "type": event_type,
            "time": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "datacontenttype": "application/json",
            "correlationid": correlation,
            "causationid": causation,
            "data": {
                "alert_id": id,
                "lcs_person_id": data["lcs_person_id"],
                "recipients": [{ "role": "operations", "worker_id": null }],
                "reason": "email_failed",
                "priority": "high",
                "email_id": email_id,
                "error_code": error_code,
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    const SERVICE: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
    const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";

    fn key() -> ApiKey {
        ApiKey::parse(&format!("vemt_live-{SERVICE}-{SECRET}")).expect("a good key parses")
    }

    #[test]
    fn a_good_key_gives_the_service_id_and_secret() {
        let key = key();
        assert_eq!(key.service_id().to_string(), SERVICE);
        assert_eq!(key.secret, SECRET);
        // Key names may hold hyphens.
        let named = ApiKey::parse(&format!("my-team-key-{SERVICE}-{SECRET}")).unwrap();
        assert_eq!(named.service_id().to_string(), SERVICE);
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        for bad in [
            String::new(),
            format!("{SERVICE}-{SECRET}"),
            format!("name-{SERVICE}{SECRET}"),
            format!("name-{SERVICE}-not-a-uuid-at-all-but-36-characters"),
            format!("name-{SERVICE}-{}", SECRET.replace('-', "")),
            format!("name_{SERVICE}_{SECRET}"),
        ] {
            let err = ApiKey::parse(&bad).expect_err(&format!("refused: {bad}"));
            assert!(!err.to_string().contains(SECRET));
        }
    }

    #[test]
    fn the_secret_is_never_printed() {
        let printed = format!("{:?}", key());
        assert!(!printed.contains(SECRET), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn the_jwt_is_hs256_with_the_service_id_and_now() {
        let now = Utc::now();
        let jwt = token(&key(), now).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(
            &jwt,
            &DecodingKey::from_secret(SECRET.as_bytes()).unwrap(),
            &validation,
        )
        .expect("signed with the secret")
        .claims;
        assert_eq!(
            claims,
            Claims {
                iss: SERVICE.into(),
                iat: now.timestamp()
            }
        );
        assert!(
            jsonwebtoken::decode::<Claims>(
                &jwt,
                &DecodingKey::from_secret(b"another secret").unwrap(),
                &validation
            )
            .is_err()
        );
    }

    #[test]
    fn responses_are_classified_once() {
        let error = |name: &str| {
            format!(
                r#"{{"status_code":0,"errors":[{{"error":"{name}","message":"x@example.org is wrong"}}]}}"#
            )
        };
        assert_eq!(classify(201, b"{}"), Ok(()));
        assert_eq!(classify(200, b""), Ok(()));
        assert_eq!(
            classify(429, error("RateLimitError").as_bytes()),
            Err(SendError::Transient {
                code: "RateLimitError".into()
            })
        );
        assert_eq!(
            classify(500, b"<html>"),
            Err(SendError::Transient {
                code: "http_500".into()
            })
        );
        assert_eq!(
            classify(503, b""),
            Err(SendError::Transient {
                code: "http_503".into()
            })
        );
        for (status, name) in [
            (400, "ValidationError"),
            (403, "AuthError"),
            (404, "NotFound"),
        ] {
            let got = classify(status, error(name).as_bytes()).unwrap_err();
            assert_eq!(got, SendError::Permanent { code: name.into() });
            assert!(!got.to_string().contains("example.org"));
        }
        // Free text where a name belongs is not taken as a code.
        assert_eq!(
            classify(400, error("bad x@example.org").as_bytes()).unwrap_err(),
            SendError::Permanent {
                code: "http_400".into()
            }
        );
    }

    fn settings() -> NotifySettings {
        NotifySettings {
            base_url: "https://api.notifications.service.gov.uk".into(),
            templates: EmailTemplate::ALL
                .iter()
                .map(|t| (t.as_str().to_owned(), Uuid::new_v4().to_string()))
                .collect(),
            max_attempts: 8,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            timeout_seconds: 30,
            status_poll_base_ms: 30_000,
            status_poll_max_ms: 1_800_000,
            status_max_age_seconds: 345_600,
            api_key: Some(format!("vemt_live-{SERVICE}-{SECRET}")),
        }
    }

    #[test]
    fn settings_need_a_key_and_every_template() {
        assert!(NotifyConfig::from_settings(&settings()).is_ok());
        let mut s = settings();
        s.api_key = Some(format!("vemt_live-{SERVICE}"));
        let err = NotifyConfig::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("email.govuk_notify.api_key"), "{err}");
        assert!(!err.contains(SERVICE), "{err}");
        s.api_key = None;
        assert!(NotifyConfig::from_settings(&s).is_err());
        let mut s = settings();
        s.templates.clear();
        let err = NotifyConfig::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("trigger_plan_received"), "{err}");
        let mut s = settings();
        s.templates
            .insert("no_such_kind".into(), Uuid::new_v4().to_string());
        assert!(NotifyConfig::from_settings(&s).is_err());
    }

    #[test]
    fn only_notifys_final_statuses_end_polling() {
        for (raw, done, failed) in [
            ("created", false, false),
            ("sending", false, false),
            ("pending", false, false),
            ("delivered", true, false),
            ("permanent-failure", true, true),
            ("temporary-failure", true, true),
            ("technical-failure", true, true),
            ("x@example.org bounced", false, false),
        ] {
            let status = DeliveryStatus::parse(raw);
            assert_eq!(
                (status.is_final(), status.is_failure()),
                (done, failed),
                "{raw}"
            );
        }
        assert_eq!(
            DeliveryStatus::parse("x@example.org bounced").as_str(),
            "unknown",
            "free text is never kept"
        );
        for status in DeliveryStatus::FINAL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), status);
        }
    }

    #[test]
    fn the_accepted_notification_id_is_read_from_the_201() {
        let id = Uuid::new_v4();
        let body = json!({ "id": id, "reference": "r", "uri": "https://x" }).to_string();
        assert_eq!(notification_id(body.as_bytes()), Some(id));
        assert_eq!(notification_id(b"{}"), None);
        assert_eq!(notification_id(br#"{"id":"not-a-uuid"}"#), None);
        assert_eq!(notification_id(b""), None);
    }

    #[test]
    fn status_polls_back_off_to_the_max_and_settings_are_checked() {
        let mut s = settings();
        s.status_poll_base_ms = 1000;
        s.status_poll_max_ms = 5000;
        let config = NotifyConfig::from_settings(&s).unwrap();
        // Jittered: between the exponential delay and twice it.
        for (n, plain) in [
            (0, 1000),
            (1, 2000),
            (2, 4000),
            (3, 5000),
            (4, 5000),
            (i32::MAX, 5000),
        ] {
            let wait = config.poll_delay(n).as_millis() as u64;
            assert!((plain..=2 * plain).contains(&wait), "{n} polls: {wait} ms");
        }
        s.status_poll_max_ms = 500;
        let err = NotifyConfig::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("status_poll_base_ms"), "{err}");
        let mut s = settings();
        s.status_max_age_seconds = 0;
        let err = NotifyConfig::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("status_max_age_seconds"), "{err}");
    }

    #[test]
    fn the_failure_alert_names_ids_only() {
        let email = json!({
            "id": "e1", "correlationid": "c1",
            "data": { "email_id": "m1", "lcs_person_id": "LCS-1",
                      "to": [{ "role": "social_worker", "worker_id": "W-1", "email": "sw@example.org" }] }
        });
        let alert = failure_alert(&email, "ValidationError", "urn:test", Utc::now());
        let text = alert.body.to_string();
        assert!(!text.contains("example.org"), "{text}");
        assert_eq!(alert.body["data"]["reason"], "email_failed");
        assert_eq!(alert.body["data"]["priority"], "high");
        assert_eq!(alert.body["data"]["email_id"], "m1");
        assert_eq!(alert.body["data"]["lcs_person_id"], "LCS-1");
        assert_eq!(alert.body["causationid"], "e1");
    }
}
