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

/// What one revision of a police report does to the episode held (R8.2):
/// the highest revision wins in any arrival order, and a high grade in any
/// revision is never forgotten (R1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// The first revision, or a higher one: the episode as it now stands.
    Applied(Episode),
    /// Not higher than the one held, but graded high: the held state with
    /// `ever_high` set, changed now (so the child is looked at again).
    OlderButHigh(Episode),
    /// Not higher, and nothing in it that counts.
    Ignored,
}

/// `held` is the episode as held with the revision number it came from.
pub fn revise(
    held: Option<(&Episode, u32)>,
    report: &EpisodeReport,
    now: DateTime<Utc>,
) -> Revision {
    let high = report.risk_level == RiskLevel::High;
    match held {
        Some((episode, revision)) if revision >= report.revision => {
            if high && !episode.ever_high {
                Revision::OlderButHigh(Episode {
                    ever_high: true,
                    changed_at: now,
                    ..episode.clone()
                })
            } else {
                Revision::Ignored
            }
        }
        _ => Revision::Applied(Episode {
            episode_id: report.episode_id.clone(),
            status: report.status,
            risk_level: report.risk_level,
            ever_high: high || held.is_some_and(|(e, _)| e.ever_high),
            reported_missing_at: report.reported_missing_at,
            returned_at: report.returned_at,
            changed_at: now,
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 16, hour, 0, 0).unwrap()
    }

    fn report(revision: u32, status: EpisodeStatus, risk: RiskLevel) -> EpisodeReport {
        EpisodeReport {
            episode_id: EpisodeId::parse("CP-1").unwrap(),
            revision,
            person: ReportedPerson {
                police_person_id: PolicePersonId::parse("P-1").unwrap(),
                lcs_person_id: None,
                given_name: "Given".into(),
                family_name: "Family".into(),
                date_of_birth: NaiveDate::from_ymd_opt(2011, 3, 4).unwrap(),
                gender: None,
            },
            status,
            reported_missing_at: at(1),
            last_seen_at: None,
            returned_at: (status == EpisodeStatus::Returned).then(|| at(3)),
            risk_level: risk,
            missing_from: None,
            trigger_plan_in_place: None,
        }
    }

    fn applied(revision: Revision) -> Episode {
        match revision {
            Revision::Applied(e) => e,
            other => panic!("expected Applied, got {other:?}"),
        }
    }

    // R8.2: the first revision and any higher one become the state; an equal
    // or lower one is ignored, whatever order they arrive in.
    #[test]
    fn r8_2_the_highest_revision_wins_in_any_order() {
        let first = applied(revise(
            None,
            &report(2, EpisodeStatus::Open, RiskLevel::Low),
            at(4),
        ));
        assert_eq!(first.status, EpisodeStatus::Open);
        assert_eq!(first.changed_at, at(4));
        let third = report(3, EpisodeStatus::Returned, RiskLevel::Medium);
        let now_returned = applied(revise(Some((&first, 2)), &third, at(5)));
        assert_eq!(now_returned.status, EpisodeStatus::Returned);
        assert_eq!(now_returned.returned_at, Some(at(3)));
        assert_eq!(now_returned.risk_level, RiskLevel::Medium);
        let late = report(1, EpisodeStatus::Open, RiskLevel::Low);
        assert_eq!(
            revise(Some((&now_returned, 3)), &late, at(6)),
            Revision::Ignored
        );
        let repeat = report(3, EpisodeStatus::Returned, RiskLevel::Medium);
        assert_eq!(
            revise(Some((&now_returned, 3)), &repeat, at(6)),
            Revision::Ignored
        );
    }

    // R1.1: a high grade in any revision is kept: by a newer revision graded
    // lower, and from an older revision that arrives late.
    #[test]
    fn r1_1_a_high_grade_in_any_revision_is_remembered() {
        let high = applied(revise(
            None,
            &report(1, EpisodeStatus::Open, RiskLevel::High),
            at(2),
        ));
        assert!(high.ever_high);
        let lowered = applied(revise(
            Some((&high, 1)),
            &report(2, EpisodeStatus::Open, RiskLevel::Low),
            at(3),
        ));
        assert!(lowered.ever_high);
        assert_eq!(lowered.risk_level, RiskLevel::Low);

        let low = applied(revise(
            None,
            &report(5, EpisodeStatus::Open, RiskLevel::Low),
            at(2),
        ));
        assert!(!low.ever_high);
        let Revision::OlderButHigh(remembered) = revise(
            Some((&low, 5)),
            &report(4, EpisodeStatus::Open, RiskLevel::High),
            at(7),
        ) else {
            panic!("an older high revision is remembered");
        };
        assert!(remembered.ever_high);
        assert_eq!(
            remembered.risk_level,
            RiskLevel::Low,
            "state stays the newest"
        );
        assert_eq!(remembered.changed_at, at(7));
        // Once remembered, another old high revision changes nothing.
        assert_eq!(
            revise(
                Some((&remembered, 5)),
                &report(3, EpisodeStatus::Open, RiskLevel::High),
                at(8)
            ),
            Revision::Ignored
        );
    }
}
