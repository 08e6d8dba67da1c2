//! Queueing for the Wednesday meeting (R2): which meeting a child goes to,
//! and what their agenda item says.

use chrono::{DateTime, NaiveDate, Utc};

use super::calendar::{Meeting, MeetingCalendar};
use super::criteria::{self, Assessment, ChildContext, Criterion, Thresholds};
use super::effects::{TriggerPlanRequest, TriggerPlanRequestKind};
use super::episode::{Episode, EpisodeStatus};
use super::ids::{LcsPersonId, PolicePersonId};

/// The decision to put a child on a meeting's agenda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queueing {
    pub meeting: Meeting,
    pub assessment: Assessment,
}

/// R2.1: evaluate the child at `now` and, if they must be reviewed, name the
/// next meeting whose agenda is still open.
pub fn decide(
    episodes: &[Episode],
    child: ChildContext,
    now: DateTime<Utc>,
    thresholds: &Thresholds,
    calendar: &MeetingCalendar,
) -> Option<Queueing> {
    let assessment = criteria::evaluate(episodes, child, now, thresholds);
    criteria::should_queue(episodes, child, &assessment).then(|| Queueing {
        meeting: calendar.next_open_meeting(now),
        assessment,
    })
}

/// The item of a meeting not yet collated, after a new evaluation: later
/// matches add their criteria (R2.1). Episodes the police have since
/// cancelled count for nothing, so their evidence is withdrawn, and a
/// counting criterion left short of its count is withdrawn with it.
pub fn merge_item(
    existing: &Assessment,
    fresh: &Assessment,
    episodes: &[Episode],
    thresholds: &Thresholds,
) -> Assessment {
    let cancelled = |id: &_| {
        episodes
            .iter()
            .any(|e| &e.episode_id == id && e.status == EpisodeStatus::Cancelled)
    };
    let mut merged = Assessment::new();
    for (criterion, evidence) in existing.iter().chain(fresh.iter()) {
        let entry = merged.entry(*criterion).or_default();
        for id in evidence {
            if !cancelled(id) && !entry.contains(id) {
                entry.push(id.clone());
            }
        }
    }
    merged.retain(|criterion, evidence| evidence.len() >= minimum_evidence(*criterion, thresholds));
    for evidence in merged.values_mut() {
        sort_newest_first(evidence, episodes);
    }
    merged
}

fn minimum_evidence(criterion: Criterion, thresholds: &Thresholds) -> usize {
    match criterion {
        Criterion::TopMissing => thresholds.top_missing.count,
        Criterion::FrequentMissing => thresholds.frequent_missing.count,
        Criterion::FrequentNoApparentRisk => thresholds.frequent_no_apparent_risk.count,
        _ => 1,
    }
    .max(1)
}

fn sort_newest_first(ids: &mut [super::ids::EpisodeId], episodes: &[Episode]) {
    let reported = |id: &super::ids::EpisodeId| {
        episodes
            .iter()
            .find(|e| &e.episode_id == id)
            .map(|e| e.reported_missing_at)
    };
    ids.sort_by(|a, b| reported(b).cmp(&reported(a)).then_with(|| a.cmp(b)));
}

/// Who the police are asked about: the LCS record's names when the service
/// has one, else the police's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSubject {
    pub police_person_id: PolicePersonId,
    pub lcs_person_id: Option<LcsPersonId>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
}

/// R4.1: one request for a copy of the trigger plan, made when the child is
/// first queued for a meeting.
pub fn trigger_plan_copy_request(subject: RequestSubject, meeting: &Meeting) -> TriggerPlanRequest {
    TriggerPlanRequest {
        police_person_id: subject.police_person_id,
        lcs_person_id: subject.lcs_person_id,
        given_name: subject.given_name,
        family_name: subject.family_name,
        date_of_birth: subject.date_of_birth,
        kind: TriggerPlanRequestKind::Copy,
        meeting_date: meeting.date,
    }
}
