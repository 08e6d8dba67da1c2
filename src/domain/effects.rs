//! What the process makes happen, as values. The outbox turns each into one
//! outbound event; nothing here sends anything.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::agenda::Agenda;
use super::child::ProfessionalRole;
use super::ids::{LcsPersonId, PolicePersonId, TriggerPlanId, WorkerId};
use super::trigger_plan::{DocumentUrl, MediaType};
use super::vpg::{VpgMonthlyAgenda, VpgWeeklyAgenda};

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

/// What a note, e-mail, alert or document is about. Part of its key, so it
/// names the effect among everything its cause produces, and the id
/// partners see (`note_id`, `email_id`, …) is the same whatever caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occasion {
    /// R4.2: one version of a police trigger plan received.
    TriggerPlanReceived {
        plan_id: TriggerPlanId,
        version: u32,
    },
}

impl Occasion {
    pub fn key(&self) -> String {
        match self {
            Self::TriggerPlanReceived { plan_id, version } => {
                format!("trigger-plan-received/{plan_id}/v{version}")
            }
        }
    }
}

/// `lcs.document.v1`: a document to file on the child's LCS record, by
/// reference (R4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
    pub title: String,
    pub url: DocumentUrl,
    pub media_type: MediaType,
}

wire_enum!(
    /// The kind of an LCS case note.
    NoteType {
        Vemt = "vemt",
        MissingEpisode = "missing_episode",
    }
);

/// `lcs.case-note.v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseNote {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
    pub note_type: NoteType,
    pub dated: NaiveDate,
    pub title: String,
    pub body: String,
}

wire_enum!(
    /// The e-mail templates the service sends with (GOV.UK Notify or the
    /// partner's mailer holds the words).
    EmailTemplate {
        TriggerPlanReceived = "trigger_plan_received",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EmailRecipient {
    pub role: ProfessionalRole,
    pub worker_id: WorkerId,
    pub email: String,
}

/// `email.v1`: one e-mail to several professionals. The personalisation
/// holds ids and references, never names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
    pub to: Vec<EmailRecipient>,
    pub template: EmailTemplate,
    pub personalisation: BTreeMap<&'static str, String>,
}

wire_enum!(
    /// Why professionals are alerted in LCS.
    AlertReason {
        TriggerPlanReceived = "trigger_plan_received",
    }
);

wire_enum!(AlertPriority {
    Normal = "normal",
    High = "high",
});

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertRecipient {
    pub role: ProfessionalRole,
    pub worker_id: WorkerId,
}

/// `lcs.alert.v1` to the professionals involved with a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfessionalAlert {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
    pub recipients: Vec<AlertRecipient>,
    pub reason: AlertReason,
    pub priority: AlertPriority,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    TriggerPlanRequest(TriggerPlanRequest),
    UnmatchedPersonAlert(UnmatchedPersonAlert),
    /// `agenda.missing-review.v1`: the frozen agenda of a meeting (R3.1).
    MissingReviewAgenda(Box<Agenda>),
    /// `agenda.vpg-weekly.v1`: the agenda of a weekly VPG meeting (R3.4).
    VpgWeeklyAgenda(Box<VpgWeeklyAgenda>),
    /// `agenda.vpg-monthly.v1`: the agenda of a monthly VPG meeting (R3.4, R6.4).
    VpgMonthlyAgenda(Box<VpgMonthlyAgenda>),
    Document(Document),
    CaseNote(CaseNote),
    Email(Email),
    ProfessionalAlert(ProfessionalAlert),
}

impl Effect {
    /// The outbound event type, which is also its routing key.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::TriggerPlanRequest(_) => "police.trigger-plan-request.v1",
            Self::UnmatchedPersonAlert(_) => "lcs.alert.v1",
            Self::MissingReviewAgenda(_) => "agenda.missing-review.v1",
            Self::VpgWeeklyAgenda(_) => "agenda.vpg-weekly.v1",
            Self::VpgMonthlyAgenda(_) => "agenda.vpg-monthly.v1",
            Self::Document(_) => "lcs.document.v1",
            Self::CaseNote(_) => "lcs.case-note.v1",
            Self::Email(_) => "email.v1",
            Self::ProfessionalAlert(_) => "lcs.alert.v1",
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
            Self::VpgWeeklyAgenda(a) => format!("agenda/vpg-weekly/{}", a.meeting_date),
            Self::VpgMonthlyAgenda(a) => format!("agenda/vpg-monthly/{}", a.meeting_date),
            Self::Document(d) => format!("document/{}/{}", d.occasion.key(), d.lcs_person_id),
            Self::CaseNote(n) => format!("case-note/{}/{}", n.occasion.key(), n.lcs_person_id),
            Self::Email(e) => format!(
                "email/{}/{}/{}",
                e.template.as_str(),
                e.occasion.key(),
                e.lcs_person_id
            ),
            Self::ProfessionalAlert(a) => format!(
                "alert/{}/{}/{}",
                a.reason.as_str(),
                a.occasion.key(),
                a.lcs_person_id
            ),
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
