//! Police missing episodes: what a report says and what the service keeps.

use chrono::{DateTime, NaiveDate, Utc};

use super::ids::{EpisodeId, LcsPersonId, PolicePersonId};

wire_enum!(EpisodeStatus {
    Open = "open",
    Returned = "returned",
    // Recorded in error by the police: counts for nothing (R1).
    Cancelled = "cancelled",
});

/// Police risk grade. The lowest band has had three names over the years
/// (`absent`, `no_apparent_risk`, `very_low`); they are one grade here (R1.4).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    High,
    Medium,
    Low,
    #[serde(alias = "absent", alias = "very_low")]
    NoApparentRisk,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::NoApparentRisk => "no_apparent_risk",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "high" => Self::High,
            "medium" => Self::Medium,
            "low" => Self::Low,
            "no_apparent_risk" | "absent" | "very_low" => Self::NoApparentRisk,
            _ => return None,
        })
    }
}

wire_enum!(Gender {
    Female = "female",
    Male = "male",
    Other = "other",
    Unknown = "unknown",
});

wire_enum!(MissingFrom {
    Home = "home",
    Care = "care",
    Other = "other",
});

/// The person an episode is about, as the police know them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportedPerson {
    pub police_person_id: PolicePersonId,
    pub lcs_person_id: Option<LcsPersonId>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub gender: Option<Gender>,
}

/// One revision of a police missing episode, as received (`police.missing-episode.v1`).
/// Built only by the contract parser, which enforces the status/returned_at rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeReport {
    pub episode_id: EpisodeId,
    pub revision: u32,
    pub person: ReportedPerson,
    pub status: EpisodeStatus,
    pub reported_missing_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    pub risk_level: RiskLevel,
    pub missing_from: Option<MissingFrom>,
    pub trigger_plan_in_place: Option<bool>,
}

/// What the criteria look at: the newest revision of an episode, plus two
/// facts that outlive revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub episode_id: EpisodeId,
    pub status: EpisodeStatus,
    pub risk_level: RiskLevel,
    /// Any revision ever received was graded high (R1.1), even one that
    /// arrived after a newer revision and so did not change the state.
    pub ever_high: bool,
    pub reported_missing_at: DateTime<Utc>,
    pub returned_at: Option<DateTime<Utc>>,
    /// When the service last applied a change to this episode: "updated
    /// since the last review" (R2.1) is measured on this.
    pub changed_at: DateTime<Utc>,
}

impl Episode {
    pub fn counts(&self) -> bool {
        self.status != EpisodeStatus::Cancelled
    }

    pub fn is_live(&self) -> bool {
        self.status == EpisodeStatus::Open
    }

    /// How long the child has been, or was, missing, measured from the
    /// report (the same instant the windows are measured on).
    pub fn duration(&self, now: DateTime<Utc>) -> chrono::Duration {
        let end = match self.status {
            EpisodeStatus::Open => now,
            _ => self.returned_at.unwrap_or(now),
        };
        (end - self.reported_missing_at).max(chrono::Duration::zero())
    }
}
