//! The missing criteria (R1): who is reviewed at the Wednesday meeting.
//!
//! Pure: the episodes, the child's VEMT status, the last review and "now"
//! come in as arguments; the criteria met, each with its evidence, come out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::episode::{Episode, RiskLevel};
use super::ids::EpisodeId;

/// The named criteria, in the order the agenda shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    HighRisk,
    TopMissing,
    FrequentMissing,
    FrequentNoApparentRisk,
    ActiveVemtCase,
    Over72Hours,
    Live,
}

impl Criterion {
    pub const ALL: [Criterion; 7] = [
        Self::HighRisk,
        Self::TopMissing,
        Self::FrequentMissing,
        Self::FrequentNoApparentRisk,
        Self::ActiveVemtCase,
        Self::Over72Hours,
        Self::Live,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HighRisk => "high_risk",
            Self::TopMissing => "top_missing",
            Self::FrequentMissing => "frequent_missing",
            Self::FrequentNoApparentRisk => "frequent_no_apparent_risk",
            Self::ActiveVemtCase => "active_vemt_case",
            Self::Over72Hours => "over_72_hours",
            Self::Live => "live",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// N episodes or more within the last D days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CountInWindow {
    pub count: usize,
    pub days: u32,
}

/// Every count, window and limit of R1, with the defaults of PRODUCT.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// R1.2. Default 4 in 30 days: see the README for why not 3.
    pub top_missing: CountInWindow,
    /// R1.3.
    pub frequent_missing: CountInWindow,
    /// R1.4.
    pub frequent_no_apparent_risk: CountInWindow,
    /// R1.6, in hours.
    pub over_hours: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            top_missing: CountInWindow { count: 4, days: 30 },
            frequent_missing: CountInWindow { count: 3, days: 90 },
            frequent_no_apparent_risk: CountInWindow { count: 3, days: 90 },
            over_hours: 72,
        }
    }
}

impl Thresholds {
    /// The longest window any criterion looks back over: the agenda lists the
    /// episodes inside it.
    pub fn longest_window_days(&self) -> u32 {
        self.top_missing
            .days
            .max(self.frequent_missing.days)
            .max(self.frequent_no_apparent_risk.days)
    }
}

/// The criteria a child meets, each with the episodes that meet it.
pub type Assessment = BTreeMap<Criterion, Vec<EpisodeId>>;

/// What the criteria need to know about the child besides their episodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildContext {
    pub vemt_active: bool,
    /// The meeting time of the child's last review at M1 (R2.2), if any.
    pub last_reviewed: Option<DateTime<Utc>>,
}

/// An episode not yet reviewed: reported or updated after the last review,
/// or still live. A child never reviewed has every episode in view.
pub fn is_unreviewed(episode: &Episode, last_reviewed: Option<DateTime<Utc>>) -> bool {
    match last_reviewed {
        None => true,
        Some(at) => {
            episode.is_live() || episode.reported_missing_at > at || episode.changed_at > at
        }
    }
}

/// R1.1-R1.7 at `now`. Cancelled episodes count for nothing.
pub fn evaluate(
    episodes: &[Episode],
    child: ChildContext,
    now: DateTime<Utc>,
    thresholds: &Thresholds,
) -> Assessment {
    let counted: Vec<&Episode> = episodes.iter().filter(|e| e.counts()).collect();
    let unreviewed: Vec<&Episode> = counted
        .iter()
        .copied()
        .filter(|e| is_unreviewed(e, child.last_reviewed))
        .collect();

    let mut met = Assessment::new();
    let mut record = |criterion: Criterion, evidence: Vec<&Episode>| {
        if !evidence.is_empty() {
            met.insert(criterion, ids_newest_first(evidence));
        }
    };

    // Single-episode criteria look only at what the meeting has not yet seen.
    record(
        Criterion::HighRisk,
        unreviewed.iter().copied().filter(|e| e.ever_high).collect(),
    );
    if child.vemt_active {
        record(Criterion::ActiveVemtCase, unreviewed.clone());
    }
    let limit = Duration::hours(i64::from(thresholds.over_hours));
    record(
        Criterion::Over72Hours,
        unreviewed
            .iter()
            .copied()
            .filter(|e| e.duration(now) > limit)
            .collect(),
    );
    record(
        Criterion::Live,
        unreviewed.iter().copied().filter(|e| e.is_live()).collect(),
    );

    // Counting criteria are about a pattern: every episode in the window counts.
    let in_window = |days: u32| -> Vec<&Episode> {
        let start = now - Duration::hours(24 * i64::from(days));
        counted
            .iter()
            .copied()
            .filter(|e| e.reported_missing_at >= start && e.reported_missing_at <= now)
            .collect()
    };
    let count_rule = |rule: CountInWindow, keep: &dyn Fn(&Episode) -> bool| {
        let hits: Vec<&Episode> = in_window(rule.days)
            .into_iter()
            .filter(|e| keep(e))
            .collect();
        if hits.len() >= rule.count.max(1) {
            hits
        } else {
            Vec::new()
        }
    };
    record(
        Criterion::TopMissing,
        count_rule(thresholds.top_missing, &|_| true),
    );
    record(
        Criterion::FrequentMissing,
        count_rule(thresholds.frequent_missing, &|_| true),
    );
    record(
        Criterion::FrequentNoApparentRisk,
        count_rule(thresholds.frequent_no_apparent_risk, &|e| {
            e.risk_level == RiskLevel::NoApparentRisk
        }),
    );
    met
}

/// R2.1/R2.2: the child goes onto the next meeting's agenda only when an
/// episode of theirs is new, updated or live since their last review, and
/// they meet at least one criterion.
pub fn should_queue(episodes: &[Episode], child: ChildContext, assessment: &Assessment) -> bool {
    !assessment.is_empty()
        && episodes
            .iter()
            .any(|e| e.counts() && is_unreviewed(e, child.last_reviewed))
}

fn ids_newest_first(mut episodes: Vec<&Episode>) -> Vec<EpisodeId> {
    episodes.sort_by(|a, b| {
        b.reported_missing_at
            .cmp(&a.reported_missing_at)
            .then_with(|| a.episode_id.cmp(&b.episode_id))
    });
    episodes.into_iter().map(|e| e.episode_id.clone()).collect()
}
