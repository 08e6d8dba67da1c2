//! What the process makes happen, as values. The outbox turns each into one
//! outbound event; nothing here sends anything.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::agenda::Agenda;
use super::child::ProfessionalRole;
use super::ids::{EhmId, LcsPersonId, PolicePersonId, TriggerPlanId, WorkerId};
use super::trigger_plan::{DocumentUrl, MediaType};
use super::vpg::{VpgMonthlyAgenda, VpgWeeklyAgenda};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
    /// R6: the monthly VPG meeting's decision for a child.
    VpgDecision { meeting_date: NaiveDate },
    /// R4.2: one version of a police trigger plan received.
    TriggerPlanReceived {
        plan_id: TriggerPlanId,
        version: u32,
    },
    /// R5: the outcome of the child's review at the M1 of this date.
    ReviewOutcome { meeting_date: NaiveDate },
    /// R4.3: the M1 of this date asked for a trigger plan to be created or
    /// updated.
    TriggerPlanRequested { meeting_date: NaiveDate },
}

impl Occasion {
    pub fn key(&self) -> String {
        match self {
            Self::VpgDecision { meeting_date } => format!("vpg-decision/{meeting_date}"),
            Self::TriggerPlanReceived { plan_id, version } => {
                format!("trigger-plan-received/{plan_id}/v{version}")
            }
            Self::ReviewOutcome { meeting_date } => format!("review-outcome/{meeting_date}"),
            Self::TriggerPlanRequested { meeting_date } => {
                format!("trigger-plan-requested/{meeting_date}")
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
        ReviewOutcome = "review_outcome",
        TriggerPlanRequested = "trigger_plan_requested",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
        ReviewOutcome = "review_outcome",
        TriggerPlanRequested = "trigger_plan_requested",
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

/// `ehm.case-note.v1`: the copy of an LCS case note for the Early Help
/// Module, where early help is involved (R5.2, R6.1, R6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EhmCaseNote {
    pub occasion: Occasion,
    pub ehm_id: EhmId,
    pub lcs_person_id: LcsPersonId,
    pub dated: NaiveDate,
    pub title: String,
    pub body: String,
}

impl EhmCaseNote {
    /// The EHM copy of an LCS case note.
    pub fn copy_of(note: &CaseNote, ehm_id: EhmId) -> Self {
        Self {
            occasion: note.occasion.clone(),
            ehm_id,
            lcs_person_id: note.lcs_person_id.clone(),
            dated: note.dated,
            title: note.title.clone(),
            body: note.body.clone(),
        }
    }
}

/// `lcs.hazard-marker.v1`: close the child's VEMT hazard marker (R6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HazardMarker {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
}

wire_enum!(
    /// Who a `letter.v1` is for; the LCS adapter finds the address (R7.2).
    LetterRecipient {
        LeadProfessional = "lead_professional",
        YoungPerson = "young_person",
        ParentCarer = "parent_carer",
        Gp = "gp",
    }
);

wire_enum!(
    /// The letter templates (the LCS adapter holds the words).
    LetterTemplate {
        VemtClosure = "vemt_closure",
        VemtClosureGp = "vemt_closure_gp",
    }
);

/// `letter.v1` (R6.1): no address, no GP details (R7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
    pub recipient: LetterRecipient,
    pub template: LetterTemplate,
}

/// `lcs.case-profile.v1`: the VEMT case profile as M3 decided it (R6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseProfile {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
    pub category: super::child::VemtCategory,
    pub risk_level: super::child::VemtRiskLevel,
    pub lead_professional: super::vpg_decision::LeadProfessional,
}

wire_enum!(
    /// What an LCS task asks for (R6.2, R6.3).
    TaskKind {
        UpdateCaseMapping = "update_case_mapping",
        Post18Discussion = "post_18_discussion",
        SignpostMappa = "signpost_mappa",
        SignpostMarac = "signpost_marac",
        SignpostStage = "signpost_stage",
    }
);

/// `lcs.task.v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
    pub assignee_role: ProfessionalRole,
    /// `None` when the record lists no one in the role.
    pub assignee_worker_id: Option<WorkerId>,
    pub kind: TaskKind,
    pub description: String,
    /// For STAGE sign-posting: the conditions that do not hold (R6.3).
    pub stage_unmet: Vec<super::vpg::StageUnmet>,
}

/// `referral.nrm-request.v1`: ask for a National Referral Mechanism
/// referral for a trafficked child (R6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NrmRequest {
    pub occasion: Occasion,
    pub lcs_person_id: LcsPersonId,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// `lcs.hazard-marker.v1` (R6.1).
    HazardMarker(HazardMarker),
    /// `letter.v1` (R6.1).
    Letter(Letter),
    /// `lcs.case-profile.v1` (R6.2).
    CaseProfile(CaseProfile),
    /// `lcs.task.v1` (R6.2, R6.3).
    Task(Task),
    /// `referral.nrm-request.v1` (R6.3).
    NrmRequest(NrmRequest),
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
    EhmCaseNote(EhmCaseNote),
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
            Self::EhmCaseNote(_) => "ehm.case-note.v1",
            Self::HazardMarker(_) => "lcs.hazard-marker.v1",
            Self::Letter(_) => "letter.v1",
            Self::CaseProfile(_) => "lcs.case-profile.v1",
            Self::Task(_) => "lcs.task.v1",
            Self::NrmRequest(_) => "referral.nrm-request.v1",
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
            Self::EhmCaseNote(n) => {
                format!("ehm-case-note/{}/{}", n.occasion.key(), n.lcs_person_id)
            }
            Self::HazardMarker(m) => {
                format!(
                    "hazard-marker/vemt/close/{}/{}",
                    m.occasion.key(),
                    m.lcs_person_id
                )
            }
            Self::Letter(l) => format!(
                "letter/{}/{}/{}/{}",
                l.template.as_str(),
                l.recipient.as_str(),
                l.occasion.key(),
                l.lcs_person_id
            ),
            Self::CaseProfile(p) => {
                format!("case-profile/{}/{}", p.occasion.key(), p.lcs_person_id)
            }
            Self::Task(t) => format!(
                "task/{}/{}/{}/{}/{}",
                t.kind.as_str(),
                t.assignee_role.as_str(),
                t.assignee_worker_id.as_ref().map_or("-", |w| w.as_str()),
                t.occasion.key(),
                t.lcs_person_id
            ),
            Self::NrmRequest(r) => {
                format!("nrm-request/{}/{}", r.occasion.key(), r.lcs_person_id)
            }
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
