//! Shared test fixtures for the core: a fixed clock and concise episodes.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::criteria::ChildContext;
use super::episode::Episode;
use super::episode::EpisodeStatus::{self, Returned};
use super::episode::RiskLevel::{self, Low};
use super::ids::EpisodeId;

pub const HOUR: i64 = 3600;
pub const DAY: i64 = 24 * HOUR;

/// The fixed clock: Monday 16 November 2026, 09:00 UTC (GMT in London).
/// Never `Utc::now()`.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 9, 0, 0).unwrap()
}

pub fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

pub fn id(raw: &str) -> EpisodeId {
    EpisodeId::parse(raw).unwrap()
}

pub fn ids(raw: &[&str]) -> Vec<EpisodeId> {
    raw.iter().map(|r| id(r)).collect()
}

/// An episode reported `reported_ago` before `now()`, back `returned_after`
/// after its report (when given), last changed by the service at `changed_at`.
pub fn episode(
    raw_id: &str,
    reported_ago: Duration,
    status: EpisodeStatus,
    risk_level: RiskLevel,
    ever_high: bool,
    returned_after: Option<Duration>,
    changed_at: DateTime<Utc>,
) -> Episode {
    let reported_missing_at = now() - reported_ago;
    Episode {
        episode_id: id(raw_id),
        status,
        risk_level,
        ever_high,
        reported_missing_at,
        returned_at: returned_after.map(|d| reported_missing_at + d),
        changed_at,
    }
}

/// A low-risk episode that lasted an hour, last changed when the child returned.
pub fn returned(raw_id: &str, reported_ago: Duration) -> Episode {
    let changed_at = now() - reported_ago + hours(1);
    episode(
        raw_id,
        reported_ago,
        Returned,
        Low,
        false,
        Some(hours(1)),
        changed_at,
    )
}

pub fn never_reviewed() -> ChildContext {
    ChildContext {
        vemt_active: false,
        last_reviewed: None,
    }
}
