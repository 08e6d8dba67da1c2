//! The Wednesday agenda (R3.2): what the meeting sees of each child. Built
//! from plain facts at a given instant; the field names are the contract's
//! (`agenda.missing-review.v1`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::calendar::Meeting;
use super::child::{ReturnHomeInterview, RhiStatus, VemtStatus};
use super::criteria::{Assessment, Criterion, Thresholds};
use super::episode::{Episode, EpisodeStatus, RiskLevel};
use super::ids::{EpisodeId, LcsPersonId, PolicePersonId, RhiId};
use super::quality::{self, DataQualityIssue, EpisodeLink, QualityFacts};

/// Statutory expectation: a return home interview offered within 72 hours
/// of the child's return (REFERENCES.md).
pub const RHI_OFFER_HOURS: i64 = 72;

/// Who the child is, from the LCS record when held, else the police report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFacts {
    pub lcs_person_id: Option<LcsPersonId>,
    pub police_person_ids: Vec<PolicePersonId>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    /// `None` until the LCS record arrives.
    pub vemt_status: Option<VemtStatus>,
    pub early_help: bool,
}

/// The meeting that last discussed a child.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReviewMeeting {
    /// M1, the Wednesday missing children review.
    MissingReview,
    /// M2, the weekly VPG meeting.
    Vpg,
}

#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct LastReviewed {
    pub date: NaiveDate,
    pub meeting: ReviewMeeting,
    /// The meeting's outcome, when one was recorded.
    pub outcome: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct TriggerPlanRef {
    pub plan_id: String,
    pub version: u32,
    /// The plan's document link, as the police gave it.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct AgendaEpisode {
    pub episode_id: EpisodeId,
    pub reported_missing_at: DateTime<Utc>,
    pub returned_at: Option<DateTime<Utc>>,
    /// Hours missing, to one decimal; for a live episode, so far.
    pub duration_hours: f64,
    pub risk_level: RiskLevel,
    pub status: EpisodeStatus,
    /// The child returned more than 72 hours ago and no return home
    /// interview was offered within those 72 hours.
    pub rhi_not_offered_within_72_hours: bool,
}

#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct AgendaRhi {
    pub rhi_id: RhiId,
    pub episode_id: EpisodeId,
    pub status: RhiStatus,
    pub offered_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// One child's item (docs/asyncapi.yaml, `agenda.missing-review.v1`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct AgendaItem {
    /// Null while no LCS child record is linked (unmatched).
    pub lcs_person_id: Option<LcsPersonId>,
    pub police_person_ids: Vec<PolicePersonId>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    /// Null until the child's LCS record is received.
    pub vemt_status: Option<VemtStatus>,
    /// The LCS record names an EHM id.
    pub early_help: bool,
    /// The R1 criteria the child meets, in R1 order.
    pub criteria: Vec<Criterion>,
    /// For each criterion met, the episodes that met it.
    pub evidence: BTreeMap<Criterion, Vec<EpisodeId>>,
    pub last_reviewed: Option<LastReviewed>,
    /// The episodes reported within the longest criterion window (90 days
    /// by default) or still live, newest first; cancelled ones left out.
    pub episodes: Vec<AgendaEpisode>,
    /// The return home interviews of those episodes.
    pub return_home_interviews: Vec<AgendaRhi>,
    /// The newest plan received (by `issued_at`, then `version`) for any of
    /// the child's police persons; null when none has been.
    pub trigger_plan: Option<TriggerPlanRef>,
    /// What is wrong with the child's data (issue 11): shown for the
    /// meeting to question, never a reason to leave anything out. Absent
    /// when all is well (and from agendas frozen before the checks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_quality: Vec<DataQualityIssue>,
}

/// The agenda of one Wednesday meeting, as of `as_of` (the collation time
/// once collated; before that, a preview).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Agenda {
    /// The meeting's date in the meetings' time zone (Europe/London).
    pub meeting_date: NaiveDate,
    pub meeting_at: DateTime<Utc>,
    /// When the agenda was due to be frozen: it is as it stood then.
    pub collation_at: DateTime<Utc>,
    /// When it was frozen and published (later than `collation_at` after an
    /// outage); null only for a preview of a meeting not yet collated.
    pub collated_at: Option<DateTime<Utc>>,
    pub items: Vec<AgendaItem>,
}

/// Everything known about one queued child, for `item`.
#[derive(Debug, Clone)]
pub struct ItemFacts {
    pub child: ChildFacts,
    pub assessment: Assessment,
    pub episodes: Vec<Episode>,
    pub interviews: Vec<ReturnHomeInterview>,
    pub last_reviewed: Option<LastReviewed>,
    pub trigger_plan: Option<TriggerPlanRef>,
    /// For each of the child's episodes, the police person and the LCS
    /// person its report names (the data-quality checks).
    pub links: Vec<EpisodeLink>,
    /// `data_quality.open_without_update_days`.
    pub open_without_update_days: u32,
}

/// R3.2: the item as the meeting reads it at `as_of`. Lists the episodes
/// reported within the longest criterion window or still live, newest
/// first, cancelled ones left out.
pub fn item(facts: ItemFacts, as_of: DateTime<Utc>, thresholds: &Thresholds) -> AgendaItem {
    let (episodes, interviews) =
        episodes_and_interviews(&facts.episodes, &facts.interviews, as_of, thresholds);
    let data_quality = quality::check(
        QualityFacts {
            lcs_person_id: facts.child.lcs_person_id.as_ref(),
            episodes: &facts.episodes,
            interviews: &facts.interviews,
            links: &facts.links,
        },
        as_of,
        facts.open_without_update_days,
    );
    AgendaItem {
        lcs_person_id: facts.child.lcs_person_id,
        police_person_ids: facts.child.police_person_ids,
        given_name: facts.child.given_name,
        family_name: facts.child.family_name,
        date_of_birth: facts.child.date_of_birth,
        vemt_status: facts.child.vemt_status,
        early_help: facts.child.early_help,
        criteria: facts.assessment.keys().copied().collect(),
        evidence: facts.assessment,
        last_reviewed: facts.last_reviewed,
        episodes,
        return_home_interviews: interviews,
        trigger_plan: facts.trigger_plan,
        data_quality,
    }
}

/// A child's episodes and return home interviews as an agenda lists them
/// at `as_of` (R3.2): the episodes reported within the longest criterion
/// window or still live, newest first, cancelled ones left out, each with
/// the 72-hour RHI flag; the interviews of those episodes. Shared by the
/// Wednesday agenda and the weekly VPG agenda's MISSING section (R3.4).
pub fn episodes_and_interviews(
    episodes: &[Episode],
    interviews: &[ReturnHomeInterview],
    as_of: DateTime<Utc>,
    thresholds: &Thresholds,
) -> (Vec<AgendaEpisode>, Vec<AgendaRhi>) {
    let start = as_of - Duration::hours(24 * i64::from(thresholds.longest_window_days()));
    let mut listed: Vec<&Episode> = episodes
        .iter()
        .filter(|e| e.counts() && (e.is_live() || e.reported_missing_at >= start))
        .collect();
    listed.sort_by_key(|e| std::cmp::Reverse(e.reported_missing_at));
    let listed_episodes = listed
        .iter()
        .map(|e| AgendaEpisode {
            episode_id: e.episode_id.clone(),
            reported_missing_at: e.reported_missing_at,
            returned_at: e.returned_at,
            duration_hours: (e.duration(as_of).num_minutes() as f64 / 6.0).round() / 10.0,
            risk_level: e.risk_level,
            status: e.status,
            rhi_not_offered_within_72_hours: rhi_overdue(e, interviews, as_of),
        })
        .collect();
    let mut listed_interviews: Vec<AgendaRhi> = interviews
        .iter()
        .filter(|r| listed.iter().any(|e| e.episode_id == r.episode_id))
        .map(|r| AgendaRhi {
            rhi_id: r.rhi_id.clone(),
            episode_id: r.episode_id.clone(),
            status: r.status,
            offered_at: r.offered_at,
            completed_at: r.completed_at,
        })
        .collect();
    listed_interviews.sort_by(|a, b| {
        a.episode_id
            .cmp(&b.episode_id)
            .then_with(|| a.rhi_id.cmp(&b.rhi_id))
    });
    (listed_episodes, listed_interviews)
}

/// The statutory check: returned, 72 hours gone by, and no interview offered
/// (or held) within them.
fn rhi_overdue(
    episode: &Episode,
    interviews: &[ReturnHomeInterview],
    as_of: DateTime<Utc>,
) -> bool {
    let Some(returned_at) = episode
        .returned_at
        .filter(|_| episode.status == EpisodeStatus::Returned)
    else {
        return false;
    };
    let due = returned_at + Duration::hours(RHI_OFFER_HOURS);
    if as_of < due {
        return false;
    }
    !interviews.iter().any(|r| {
        r.episode_id == episode.episode_id
            && [r.offered_at, r.completed_at]
                .into_iter()
                .flatten()
                .any(|at| at <= due)
    })
}

/// The agenda with its items in the order a chair reads them: by family
/// name, given name, then id.
pub fn agenda(
    meeting: Meeting,
    collated_at: Option<DateTime<Utc>>,
    mut items: Vec<AgendaItem>,
) -> Agenda {
    items.sort_by(|a, b| {
        (
            a.family_name.to_lowercase(),
            a.given_name.to_lowercase(),
            &a.lcs_person_id,
            &a.police_person_ids,
        )
            .cmp(&(
                b.family_name.to_lowercase(),
                b.given_name.to_lowercase(),
                &b.lcs_person_id,
                &b.police_person_ids,
            ))
    });
    Agenda {
        meeting_date: meeting.date,
        meeting_at: meeting.meeting_at,
        collation_at: meeting.collation_at,
        collated_at,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::MeetingCalendar;
    use crate::domain::child::RhiStatus;
    use crate::domain::episode::EpisodeStatus::{Cancelled, Open, Returned};
    use crate::domain::episode::RiskLevel::{High, Low};
    use crate::domain::fixtures::*;

    fn facts(episodes: Vec<Episode>, interviews: Vec<ReturnHomeInterview>) -> ItemFacts {
        ItemFacts {
            child: ChildFacts {
                lcs_person_id: None,
                police_person_ids: vec![PolicePersonId::parse("P-1").unwrap()],
                given_name: "Given".into(),
                family_name: "Family".into(),
                date_of_birth: NaiveDate::from_ymd_opt(2011, 3, 4).unwrap(),
                vemt_status: None,
                early_help: false,
            },
            assessment: Assessment::from([(Criterion::Live, ids(&["E1"]))]),
            episodes,
            interviews,
            last_reviewed: None,
            trigger_plan: None,
            links: vec![],
            open_without_update_days: quality::DEFAULT_OPEN_WITHOUT_UPDATE_DAYS,
        }
    }

    fn offered(episode: &str, at: DateTime<Utc>) -> ReturnHomeInterview {
        ReturnHomeInterview {
            rhi_id: RhiId::parse(&format!("RHI-{episode}")).unwrap(),
            episode_id: id(episode),
            lcs_person_id: None,
            status: RhiStatus::Offered,
            offered_at: Some(at),
            completed_at: None,
        }
    }

    /// Returned `returned_hours_ago` before now, after an hour missing.
    fn back(raw_id: &str, returned_hours_ago: i64) -> Episode {
        let reported_ago = hours(returned_hours_ago + 1);
        episode(
            raw_id,
            reported_ago,
            Returned,
            Low,
            false,
            Some(hours(1)),
            now(),
        )
    }

    #[test]
    fn r3_2_rhi_flag_is_raised_only_once_72_hours_have_passed_without_an_offer() {
        let cases = [(71, false), (72, true), (100, true)];
        for (returned_hours_ago, flagged) in cases {
            let built = item(
                facts(vec![back("E1", returned_hours_ago)], vec![]),
                now(),
                &Thresholds::default(),
            );
            assert_eq!(
                built.episodes[0].rhi_not_offered_within_72_hours, flagged,
                "returned {returned_hours_ago}h ago"
            );
        }
    }

    #[test]
    fn r3_2_an_offer_within_72_hours_clears_the_flag_and_a_late_one_does_not() {
        let e = back("E1", 100);
        let returned_at = e.returned_at.unwrap();
        let in_time = item(
            facts(
                vec![e.clone()],
                vec![offered("E1", returned_at + hours(72))],
            ),
            now(),
            &Thresholds::default(),
        );
        assert!(!in_time.episodes[0].rhi_not_offered_within_72_hours);
        let late = item(
            facts(vec![e], vec![offered("E1", returned_at + hours(73))]),
            now(),
            &Thresholds::default(),
        );
        assert!(late.episodes[0].rhi_not_offered_within_72_hours);
        assert_eq!(late.return_home_interviews.len(), 1);
    }

    #[test]
    fn r3_2_live_and_cancelled_episodes_are_never_flagged_and_cancelled_are_not_listed() {
        let live = episode("E1", hours(200), Open, High, true, None, now());
        let cancelled = episode(
            "E2",
            hours(150),
            Cancelled,
            Low,
            false,
            Some(hours(1)),
            now(),
        );
        let built = item(
            facts(vec![live, cancelled], vec![]),
            now(),
            &Thresholds::default(),
        );
        assert_eq!(built.episodes.len(), 1);
        assert_eq!(built.episodes[0].episode_id, id("E1"));
        assert!(!built.episodes[0].rhi_not_offered_within_72_hours);
        assert_eq!(built.episodes[0].duration_hours, 200.0, "live: so far");
    }

    #[test]
    fn r3_2_episodes_listed_are_those_within_90_days_or_live_newest_first_with_durations_to_a_tenth()
     {
        let old = returned("OLD", hours(24 * 91));
        let recent = episode(
            "NEW",
            hours(30),
            Returned,
            Low,
            false,
            Some(Duration::minutes(95)),
            now(),
        );
        let middle = returned("MID", hours(24 * 10));
        let built = item(
            facts(vec![old, middle, recent], vec![]),
            now(),
            &Thresholds::default(),
        );
        let listed: Vec<&str> = built
            .episodes
            .iter()
            .map(|e| e.episode_id.as_str())
            .collect();
        assert_eq!(listed, ["NEW", "MID"]);
        assert_eq!(built.episodes[0].duration_hours, 1.6, "95 minutes");
    }

    #[test]
    fn r3_3_items_are_in_the_order_a_chair_reads_them() {
        let meeting = MeetingCalendar::default().next_open_meeting(now());
        let named = |family: &str, given: &str| {
            let mut f = facts(vec![], vec![]);
            f.child.family_name = family.into();
            f.child.given_name = given.into();
            item(f, now(), &Thresholds::default())
        };
        let built = agenda(
            meeting,
            None,
            vec![
                named("smith", "Zoe"),
                named("Abbott", "Ann"),
                named("Smith", "Adam"),
            ],
        );
        let order: Vec<(&str, &str)> = built
            .items
            .iter()
            .map(|i| (i.family_name.as_str(), i.given_name.as_str()))
            .collect();
        assert_eq!(
            order,
            [("Abbott", "Ann"), ("Smith", "Adam"), ("smith", "Zoe")]
        );
        assert_eq!(built.meeting_date, meeting.date);
    }

    #[test]
    fn an_agenda_reads_back_as_it_was_written() {
        let meeting = MeetingCalendar::default().next_open_meeting(now());
        let built = agenda(
            meeting,
            Some(now()),
            vec![item(
                facts(vec![back("E1", 80)], vec![]),
                now(),
                &Thresholds::default(),
            )],
        );
        let json = serde_json::to_value(&built).unwrap();
        let read: Agenda = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(read, built);
        assert_eq!(json["items"][0]["criteria"], serde_json::json!(["live"]));
    }
}
