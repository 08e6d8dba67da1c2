//! Prometheus metrics (`GET /metrics`, OpenMetrics text). Each
//! `Application` owns its registry, so several apps in one process (the
//! integration tests) each count only their own work.
//!
//! Label values are bounded by construction: an event type is one the
//! contract names or `unknown`, a refusal reason is a JSON path (indexes
//! dropped) and a rule written in this crate. No value from a message, and
//! so no personal data, ever becomes a label (R8.4).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

use crate::broker::OUTBOUND_TYPES;
use crate::contract::inbound::Rejection;
use crate::domain::quality::DataQualityFlag;
use crate::intake::Outcome;
use crate::notify::DeliveryStatus;

/// The inbound types of the v1 contract (docs/asyncapi.yaml), for bounding labels.
pub const INBOUND_TYPES: [&str; 7] = [
    "police.missing-episode.v1",
    "lcs.child.v1",
    "lcs.return-home-interview.v1",
    "police.trigger-plan.v1",
    "meeting.review-outcome.v1",
    "meeting.action-updated.v1",
    "meeting.vpg-decision.v1",
];

/// What an unrecognised type is counted as.
pub const UNKNOWN_TYPE: &str = "unknown";

/// The longest reason label kept; longer ones are cut (they are written in
/// this crate, so this only guards against a future rule that grows).
const MAX_REASON_CHARS: usize = 200;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IgnoredLabels {
    r#type: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeadLetterLabels {
    r#type: &'static str,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgendaLabel {
    agenda: &'static str,
}

/// The agendas whose size is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgendaKind {
    /// The Wednesday meeting (M1): `agenda.missing-review.v1`.
    MissingReview,
    /// The weekly VPG meeting (M2).
    VpgWeekly,
    /// The monthly VPG meeting (M3).
    VpgMonthly,
}

impl AgendaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingReview => "missing_review",
            Self::VpgWeekly => "vpg_weekly",
            Self::VpgMonthly => "vpg_monthly",
        }
    }
}

/// What the database says at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StoredState {
    pub outbox_pending: i64,
    /// `None` when nothing is pending.
    pub outbox_oldest_pending_seconds: Option<f64>,
    pub outbox_failed: i64,
    /// Items on the latest published agenda of each kind; `None` before
    /// the first.
    pub missing_review_items: Option<i64>,
    pub vpg_weekly_items: Option<i64>,
    pub vpg_monthly_items: Option<i64>,
    /// Seconds the latest due collation is late (0 when done or not due).
    pub collation_overdue_seconds: f64,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

/// The crate version and the git revision it was built from (`unknown`
/// when built outside a git checkout without `VEMT_GIT_REVISION`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("VEMT_GIT_REVISION");

/// The reasons an acknowledged event changed nothing (`ignored_reason`).
const IGNORED_REASONS: [&str; 3] = ["duplicate", "old_revision", "already_recorded"];

pub struct Metrics {
    registry: Registry,
    /// `process_*`, without the `vemt_` prefix (the names every
    /// Prometheus client uses).
    process: Registry,
    events_consumed: Family<TypeLabel, Counter>,
    events_applied: Family<TypeLabel, Counter>,
    events_ignored: Family<IgnoredLabels, Counter>,
    events_dead_lettered: Family<DeadLetterLabels, Counter>,
    events_failed: Family<TypeLabel, Counter>,
    events_dead_letter_fallback: Family<TypeLabel, Counter>,
    processing: Family<TypeLabel, Histogram, fn() -> Histogram>,
    effects_published: Family<TypeLabel, Counter>,
    emails_sent: Counter,
    emails_failed: Counter,
    email_delivery: Family<StatusLabel, Counter>,
    outbox_pending: Gauge,
    outbox_oldest_pending: Gauge<f64, AtomicU64>,
    outbox_failed: Gauge,
    collation_overdue: Gauge<f64, AtomicU64>,
    agenda_items: Family<AgendaLabel, Gauge>,
    data_quality_flags: Family<FlagLabel, Gauge>,
    broker_connected: Gauge,
    database_up: Gauge,
    retention_deleted: Family<TableLabel, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlagLabel {
    flag: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn processing_histogram() -> Histogram {
    // 1 ms to about 33 s: a unit of work is milliseconds; the top buckets
    // catch retries through a database outage.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vemt");
        let events_consumed = Family::default();
        registry.register(
            "events_consumed",
            "Inbound deliveries received, by CloudEvent type",
            events_consumed.clone(),
        );
        let events_applied = Family::default();
        registry.register(
            "events_applied",
            "Inbound events applied (committed), by type",
            events_applied.clone(),
        );
        let events_ignored = Family::default();
        registry.register(
            "events_ignored",
            "Inbound events handled but changing nothing, by type and reason (duplicate, old_revision, already_recorded)",
            events_ignored.clone(),
        );
        let events_dead_lettered = Family::default();
        registry.register(
            "events_dead_lettered",
            "Inbound messages refused and dead-lettered, by type and reason (JSON path and rule)",
            events_dead_lettered.clone(),
        );
        let events_failed = Family::default();
        registry.register(
            "events_failed",
            "Inbound events the service failed on (a fault in the service, not in the message), dead-lettered with an internal-error reason",
            events_failed.clone(),
        );
        let events_dead_letter_fallback = Family::default();
        registry.register(
            "events_dead_letter_fallback",
            "Refused messages the dead-letter exchange would not take, rejected to the inbound queue's own dead-lettering (no x-vemt-error)",
            events_dead_letter_fallback.clone(),
        );
        let processing = Family::<TypeLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            processing_histogram,
        );
        registry.register_with_unit(
            "event_processing_duration",
            "Time from receiving a delivery to acknowledging it (applied, ignored or dead-lettered), by type",
            Unit::Seconds,
            processing.clone(),
        );
        let effects_published = Family::default();
        registry.register(
            "effects_published",
            "Outbox effects the broker confirmed, by type",
            effects_published.clone(),
        );
        let emails_sent = Counter::default();
        registry.register(
            "notify_emails_sent",
            "E-mails GOV.UK Notify accepted (one per recipient)",
            emails_sent.clone(),
        );
        let emails_failed = Counter::default();
        registry.register(
            "notify_emails_failed",
            "E-mail effects marked failed: refused by GOV.UK Notify or out of attempts",
            emails_failed.clone(),
        );
        let email_delivery = Family::<StatusLabel, Counter>::default();
        // Every final status from the start, so a rate of failures reads 0
        // rather than nothing before the first.
        for status in DeliveryStatus::FINAL {
            drop(email_delivery.get_or_create(&StatusLabel {
                status: status.as_str(),
            }));
        }
        registry.register(
            "email_delivery",
            "GOV.UK Notify e-mails (one per recipient) by final status: delivered, permanent-failure, temporary-failure, technical-failure (including no final status in time)",
            email_delivery.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Effects waiting to be published (read from the database at scrape)",
            outbox_pending.clone(),
        );
        let outbox_oldest_pending = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "outbox_oldest_pending_age",
            "Age of the oldest effect waiting to be published; 0 when none",
            Unit::Seconds,
            outbox_oldest_pending.clone(),
        );
        let outbox_failed = Gauge::default();
        registry.register(
            "outbox_failed",
            "Effects permanently failed (kept, never retried)",
            outbox_failed.clone(),
        );
        let collation_overdue = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "collation_overdue",
            "How late the collation of the latest meeting whose collation time has passed is; 0 when it is done",
            Unit::Seconds,
            collation_overdue.clone(),
        );
        let agenda_items = Family::default();
        registry.register(
            "agenda_items",
            "Items on the latest published agenda of each kind (0 before the first)",
            agenda_items.clone(),
        );
        let data_quality_flags = Family::default();
        registry.register(
            "agenda_data_quality_flags",
            "Data-quality flags on the items of the latest collated Wednesday agenda, by flag (issue 11)",
            data_quality_flags.clone(),
        );
        let broker_connected = Gauge::default();
        registry.register(
            "broker_connected",
            "1 while a broker session is up with the topology declared",
            broker_connected.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "database_up",
            "1 when the database answered the scrape's query",
            database_up.clone(),
        );
        let retention_deleted = Family::default();
        registry.register(
            "retention_deleted",
            "Rows deleted as past the retention period (R8.6), by table",
            retention_deleted.clone(),
        );
        registry.register(
            "build",
            "The running build: crate version and git revision",
            Info::new(BuildLabels {
                version: VERSION,
                revision: REVISION,
            }),
        );
        // Every series whose labels are known in advance exists from the
        // start at 0, so that `increase()` and `rate()` see the first
        // occurrence. Only `events_dead_lettered` waits: its reason label
        // is the broken rule.
        let with_unknown = || INBOUND_TYPES.iter().copied().chain([UNKNOWN_TYPE]);
        for r#type in with_unknown() {
            let label = TypeLabel { r#type };
            drop(events_consumed.get_or_create(&label));
            drop(events_applied.get_or_create(&label));
            drop(events_failed.get_or_create(&label));
            drop(events_dead_letter_fallback.get_or_create(&label));
            drop(processing.get_or_create(&label));
            for reason in IGNORED_REASONS {
                drop(events_ignored.get_or_create(&IgnoredLabels { r#type, reason }));
            }
        }
        for r#type in OUTBOUND_TYPES.iter().copied().chain([UNKNOWN_TYPE]) {
            drop(effects_published.get_or_create(&TypeLabel { r#type }));
        }
        for kind in [
            AgendaKind::MissingReview,
            AgendaKind::VpgWeekly,
            AgendaKind::VpgMonthly,
        ] {
            drop(agenda_items.get_or_create(&AgendaLabel {
                agenda: kind.as_str(),
            }));
        }
        for table in crate::retention::TABLES {
            drop(retention_deleted.get_or_create(&TableLabel { table }));
        }
        for flag in DataQualityFlag::ALL {
            drop(data_quality_flags.get_or_create(&FlagLabel {
                flag: flag.as_str(),
            }));
        }
        let mut process = Registry::default();
        process.register_collector(Box::new(crate::process_metrics::ProcessCollector));
        Self {
            registry,
            process,
            events_consumed,
            events_applied,
            events_ignored,
            events_dead_lettered,
            events_failed,
            events_dead_letter_fallback,
            processing,
            effects_published,
            emails_sent,
            emails_failed,
            email_delivery,
            outbox_pending,
            outbox_oldest_pending,
            outbox_failed,
            collation_overdue,
            agenda_items,
            data_quality_flags,
            broker_connected,
            database_up,
            retention_deleted,
        }
    }

    pub fn event_consumed(&self, event_type: &str) {
        self.events_consumed
            .get_or_create(&inbound_label(event_type))
            .inc();
    }

    /// Counts how an event ended, once it is acknowledged.
    pub fn event_handled(&self, event_type: &str, outcome: Outcome) {
        let r#type = inbound_type(event_type);
        match ignored_reason(outcome) {
            None => {
                self.events_applied
                    .get_or_create(&TypeLabel { r#type })
                    .inc();
            }
            Some(reason) => {
                self.events_ignored
                    .get_or_create(&IgnoredLabels { r#type, reason })
                    .inc();
            }
        }
    }

    pub fn event_dead_lettered(&self, event_type: &str, rejection: &Rejection) {
        let labels = DeadLetterLabels {
            r#type: inbound_type(event_type),
            reason: reason_label(rejection),
        };
        self.events_dead_lettered.get_or_create(&labels).inc();
    }

    pub fn event_dead_letter_fallback(&self, event_type: &str) {
        self.events_dead_letter_fallback
            .get_or_create(&inbound_label(event_type))
            .inc();
    }

    pub fn event_failed(&self, event_type: &str) {
        self.events_failed
            .get_or_create(&inbound_label(event_type))
            .inc();
    }

    pub fn observe_processing(&self, event_type: &str, took: Duration) {
        self.processing
            .get_or_create(&inbound_label(event_type))
            .observe(took.as_secs_f64());
    }

    pub fn effect_published(&self, event_type: &str) {
        let r#type = OUTBOUND_TYPES
            .iter()
            .copied()
            .find(|t| *t == event_type)
            .unwrap_or(UNKNOWN_TYPE);
        self.effects_published
            .get_or_create(&TypeLabel { r#type })
            .inc();
    }

    pub fn retention_deleted(&self, purged: &crate::retention::Purged) {
        for (table, n) in &purged.0 {
            self.retention_deleted
                .get_or_create(&TableLabel { table })
                .inc_by(*n);
        }
    }

    pub fn email_sent(&self) {
        self.emails_sent.inc();
    }

    pub fn email_failed(&self) {
        self.emails_failed.inc();
    }

    /// One recipient's e-mail reached a final status.
    pub fn email_delivery(&self, status: DeliveryStatus) {
        if status.is_final() {
            self.email_delivery
                .get_or_create(&StatusLabel {
                    status: status.as_str(),
                })
                .inc();
        }
    }

    pub fn set_broker_connected(&self, up: bool) {
        self.broker_connected.set(i64::from(up));
    }

    /// `None`: the database did not answer; the gauges read from it keep
    /// their last values, and `vemt_database_up` says they are stale.
    pub fn set_stored(&self, stored: Option<&StoredState>) {
        self.database_up.set(i64::from(stored.is_some()));
        let Some(s) = stored else {
            return;
        };
        self.outbox_pending.set(s.outbox_pending);
        self.outbox_oldest_pending
            .set(s.outbox_oldest_pending_seconds.unwrap_or(0.0).max(0.0));
        self.outbox_failed.set(s.outbox_failed);
        self.collation_overdue.set(s.collation_overdue_seconds);
        for (kind, items) in [
            (AgendaKind::MissingReview, s.missing_review_items),
            (AgendaKind::VpgWeekly, s.vpg_weekly_items),
            (AgendaKind::VpgMonthly, s.vpg_monthly_items),
        ] {
            // An agenda never published keeps 0.
            if let Some(items) = items {
                self.agenda_items
                    .get_or_create(&AgendaLabel {
                        agenda: kind.as_str(),
                    })
                    .set(items);
            }
        }
    }

    /// The data-quality flags of the latest collated Wednesday agenda: every
    /// flag has a series, 0 when none was raised (or nothing is collated).
    pub fn set_data_quality_flags(&self, raised: &[(DataQualityFlag, i64)]) {
        for flag in DataQualityFlag::ALL {
            let count = raised
                .iter()
                .filter(|(f, _)| f == flag)
                .map(|(_, n)| *n)
                .sum();
            self.data_quality_flags
                .get_or_create(&FlagLabel {
                    flag: flag.as_str(),
                })
                .set(count);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut text, &self.registry)
            .and_then(|()| encode_registry(&mut text, &self.process))
            .and_then(|()| encode_eof(&mut text));
        text
    }
}

/// The content type of `Metrics::encode`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A contract inbound type, or `unknown`.
pub fn inbound_type(raw: &str) -> &'static str {
    INBOUND_TYPES
        .iter()
        .copied()
        .find(|t| *t == raw)
        .unwrap_or(UNKNOWN_TYPE)
}

fn inbound_label(raw: &str) -> TypeLabel {
    TypeLabel {
        r#type: inbound_type(raw),
    }
}

/// Why an acknowledged event changed nothing; `None` when it was applied.
pub fn ignored_reason(outcome: Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Applied => None,
        Outcome::Duplicate => Some("duplicate"),
        Outcome::Ignored => Some("old_revision"),
        Outcome::AlreadyRecorded => Some("already_recorded"),
    }
}

/// `path: rule` with array indexes dropped (`$.data.professionals[].role:
/// is required`), so one broken rule is one series however many items a
/// message has.
pub fn reason_label(rejection: &Rejection) -> String {
    let mut path = String::with_capacity(rejection.path.len());
    let mut in_index = false;
    for c in rejection.path.chars() {
        match c {
            '[' => {
                in_index = true;
                path.push('[');
            }
            ']' => {
                in_index = false;
                path.push(']');
            }
            _ if in_index => {}
            c => path.push(c),
        }
    }
    let mut label = format!("{path}: {}", rejection.rule);
    if label.chars().count() > MAX_REASON_CHARS {
        label = label.chars().take(MAX_REASON_CHARS).collect();
    }
    label
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::contract::inbound::{Limits, parse_inbound};

    fn rejection(path: &str, rule: &str) -> Rejection {
        Rejection {
            path: path.into(),
            rule: rule.into(),
        }
    }

    #[test]
    fn reasons_drop_array_indexes_and_keep_path_and_rule() {
        assert_eq!(
            reason_label(&rejection("$.data.professionals[12].role", "is required")),
            "$.data.professionals[].role: is required"
        );
        assert_eq!(
            reason_label(&rejection("$.data.a[0].b[3]", "must be a string")),
            "$.data.a[].b[]: must be a string"
        );
        assert_eq!(
            reason_label(&rejection("$", "body must be valid JSON")),
            "$: body must be valid JSON"
        );
        let long = "x".repeat(500);
        assert_eq!(
            reason_label(&rejection("$", &long)).chars().count(),
            MAX_REASON_CHARS
        );
    }

    #[test]
    fn types_outside_the_contract_are_counted_as_unknown() {
        assert_eq!(
            inbound_type("police.missing-episode.v1"),
            "police.missing-episode.v1"
        );
        assert_eq!(inbound_type("police.missing-episode.v2"), UNKNOWN_TYPE);
        assert_eq!(inbound_type("Testchild Family"), UNKNOWN_TYPE);
        let metrics = Metrics::new();
        metrics.effect_published("not.a.type");
        metrics.event_consumed("some input");
        let text = metrics.encode();
        assert!(text.contains(r#"vemt_effects_published_total{type="unknown"} 1"#));
        assert!(text.contains(r#"vemt_events_consumed_total{type="unknown"} 1"#));
        assert!(!text.contains("some input"));
    }

    /// The list here must name exactly the types the parser knows: each
    /// listed type passes the type check (its refusal, if any, is about
    /// the data), and a type not listed does not.
    #[test]
    fn the_inbound_types_are_the_ones_the_parser_knows() {
        let now = Utc.with_ymd_and_hms(2026, 11, 16, 9, 0, 0).unwrap();
        let parse = |event_type: &str| {
            let body = json!({
                "specversion": "1.0", "id": "E-1", "source": "urn:test",
                "type": event_type, "data": {},
            });
            parse_inbound(body.to_string().as_bytes(), now, &Limits::default())
        };
        for event_type in INBOUND_TYPES {
            let refused = parse(event_type).expect_err("empty data is refused");
            assert!(
                refused.path.starts_with("$.data"),
                "{event_type}: {refused}"
            );
        }
        assert_eq!(parse("police.unknown.v1").unwrap_err().path, "$.type");
    }

    #[test]
    fn outcomes_are_counted_as_applied_or_ignored_with_a_reason() {
        let metrics = Metrics::new();
        let episode = "police.missing-episode.v1";
        metrics.event_handled(episode, Outcome::Applied);
        metrics.event_handled(episode, Outcome::Duplicate);
        metrics.event_handled(episode, Outcome::Ignored);
        metrics.event_handled("meeting.vpg-decision.v1", Outcome::AlreadyRecorded);
        metrics.event_dead_lettered(episode, &rejection("$.data.x[3]", "is required"));
        metrics.observe_processing(episode, Duration::from_millis(3));
        let text = metrics.encode();
        for line in [
            r#"vemt_events_applied_total{type="police.missing-episode.v1"} 1"#,
            r#"vemt_events_ignored_total{type="police.missing-episode.v1",reason="duplicate"} 1"#,
            r#"vemt_events_ignored_total{type="police.missing-episode.v1",reason="old_revision"} 1"#,
            r#"vemt_events_ignored_total{type="meeting.vpg-decision.v1",reason="already_recorded"} 1"#,
            r#"vemt_events_dead_lettered_total{type="police.missing-episode.v1",reason="$.data.x[]: is required"} 1"#,
            r#"vemt_event_processing_duration_seconds_count{type="police.missing-episode.v1"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn stored_state_sets_the_gauges_and_a_failed_read_only_database_up() {
        let metrics = Metrics::new();
        metrics.set_stored(Some(&StoredState {
            outbox_pending: 3,
            outbox_oldest_pending_seconds: Some(12.5),
            outbox_failed: 1,
            missing_review_items: Some(4),
            vpg_weekly_items: None,
            vpg_monthly_items: Some(0),
            collation_overdue_seconds: 90.0,
        }));
        metrics.set_broker_connected(true);
        let text = metrics.encode();
        for line in [
            "vemt_outbox_pending 3",
            "vemt_outbox_oldest_pending_age_seconds 12.5",
            "vemt_outbox_failed 1",
            r#"vemt_agenda_items{agenda="missing_review"} 4"#,
            r#"vemt_agenda_items{agenda="vpg_monthly"} 0"#,
            r#"vemt_agenda_items{agenda="vpg_weekly"} 0"#,
            "vemt_collation_overdue_seconds 90.0",
            "vemt_database_up 1",
            "vemt_broker_connected 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        metrics.set_stored(None);
        let text = metrics.encode();
        assert!(text.contains("vemt_database_up 0"));
        assert!(text.contains("vemt_outbox_pending 3"));
    }

    #[test]
    fn each_instance_counts_only_its_own() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.email_sent();
        a.email_sent();
        b.email_failed();
        assert!(a.encode().contains("vemt_notify_emails_sent_total 2"));
        assert!(b.encode().contains("vemt_notify_emails_sent_total 0"));
        assert!(b.encode().contains("vemt_notify_emails_failed_total 1"));
    }

    #[test]
    fn every_final_email_status_is_exported_from_zero() {
        let metrics = Metrics::new();
        let text = metrics.encode();
        for status in DeliveryStatus::FINAL {
            let line = format!(
                r#"vemt_email_delivery_total{{status="{}"}} 0"#,
                status.as_str()
            );
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        metrics.email_delivery(DeliveryStatus::PermanentFailure);
        metrics.email_delivery(DeliveryStatus::Sending);
        let text = metrics.encode();
        assert!(text.contains(r#"vemt_email_delivery_total{status="permanent-failure"} 1"#));
        assert!(!text.contains("sending"), "only final statuses are counted");
    }

    /// Every family but the dead letters (whose reason is the broken rule)
    /// has its series at 0 from the start, so the first occurrence is an
    /// increase an alert sees.
    #[test]
    fn every_series_with_known_labels_is_exported_at_zero_from_the_start() {
        let text = Metrics::new().encode();
        for t in INBOUND_TYPES.iter().chain(&[UNKNOWN_TYPE]) {
            for name in [
                "vemt_events_consumed_total",
                "vemt_events_applied_total",
                "vemt_events_failed_total",
                "vemt_events_dead_letter_fallback_total",
                "vemt_event_processing_duration_seconds_count",
            ] {
                let line = format!(r#"{name}{{type="{t}"}} 0"#);
                assert!(text.contains(&line), "{line} missing from\n{text}");
            }
            for reason in IGNORED_REASONS {
                let line =
                    format!(r#"vemt_events_ignored_total{{type="{t}",reason="{reason}"}} 0"#);
                assert!(text.contains(&line), "{line} missing");
            }
        }
        for t in OUTBOUND_TYPES {
            let line = format!(r#"vemt_effects_published_total{{type="{t}"}} 0"#);
            assert!(text.contains(&line), "{line} missing");
        }
        for table in crate::retention::TABLES {
            let line = format!(r#"vemt_retention_deleted_total{{table="{table}"}} 0"#);
            assert!(text.contains(&line), "{line} missing");
        }
        for line in [
            r#"vemt_agenda_items{agenda="missing_review"} 0"#,
            "vemt_notify_emails_sent_total 0",
            "vemt_notify_emails_failed_total 0",
            "vemt_outbox_pending 0",
            "vemt_outbox_oldest_pending_age_seconds 0.0",
            "vemt_collation_overdue_seconds 0.0",
            "vemt_broker_connected 0",
            "vemt_database_up 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    #[test]
    fn build_info_and_process_metrics_are_exported() {
        let text = Metrics::new().encode();
        let build = format!(
            r#"vemt_build_info{{version="{}",revision="{}"}} 1"#,
            env!("CARGO_PKG_VERSION"),
            REVISION
        );
        assert!(text.contains(&build), "{build} missing from\n{text}");
        assert!(!REVISION.is_empty());
        if cfg!(target_os = "linux") {
            for name in [
                "process_cpu_seconds_total ",
                "process_resident_memory_bytes ",
                "process_virtual_memory_bytes ",
                "process_open_fds ",
                "process_max_fds ",
                "process_start_time_seconds ",
            ] {
                assert!(
                    text.lines().any(|l| l.starts_with(name)),
                    "{name} missing from\n{text}"
                );
            }
        }
    }
}
