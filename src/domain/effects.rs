//! What the process makes happen, as values. The outbox turns each into one
//! outbound event; nothing here sends anything.

use chrono::NaiveDate;

use super::agenda::Agenda;
use super::ids::{LcsPersonId, PolicePersonId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerPlanRequestKind {
    /// R4.1: a copy of the existing plan, for the meeting.
    Copy,
    /// R4.3: the meeting asks for a plan to be made.
    Create,
    /// R4.3: the meeting asks for the plan to be updated.
    Update,
}

/// `police.trigger-plan-request.v1`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TriggerPlanRequest {
    pub police_person_id: PolicePersonId,
    pub lcs_person_id: Option<LcsPersonId>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub kind: TriggerPlanRequestKind,
    pub meeting_date: NaiveDate,
}

/// `lcs.alert.v1` to operations: a police person no LCS child is linked to
/// (R7.1). It names ids only; the people who act on it look the child up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnmatchedPersonAlert {
    pub police_person_id: PolicePersonId,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    TriggerPlanRequest(TriggerPlanRequest),
    UnmatchedPersonAlert(UnmatchedPersonAlert),
    /// `agenda.missing-review.v1`: the frozen agenda of a meeting (R3.1).
    MissingReviewAgenda(Box<Agenda>),
}

impl Effect {
    /// The outbound event type, which is also its routing key.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::TriggerPlanRequest(_) => "police.trigger-plan-request.v1",
            Self::UnmatchedPersonAlert(_) => "lcs.alert.v1",
            Self::MissingReviewAgenda(_) => "agenda.missing-review.v1",
        }
    }

    /// Names this effect among everything its cause produces, so that the
    /// event id (a UUIDv5 of cause and key) is the same on every re-run.
    pub fn key(&self) -> String {
        match self {
            Self::TriggerPlanRequest(r) => format!(
                "trigger-plan-request/{}/{}/{}",
                r.kind_str(),
                r.meeting_date,
                r.police_person_id
            ),
            Self::UnmatchedPersonAlert(a) => format!("alert/unmatched/{}", a.police_person_id),
            Self::MissingReviewAgenda(a) => format!("agenda/missing-review/{}", a.meeting_date),
        }
    }
}

impl TriggerPlanRequest {
    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            TriggerPlanRequestKind::Copy => "copy",
            TriggerPlanRequestKind::Create => "create",
            TriggerPlanRequestKind::Update => "update",
        }
    }
}
