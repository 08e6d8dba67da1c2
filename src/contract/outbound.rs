//! Outbound CloudEvents, built from domain effects.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde_json::Value;
use uuid::Uuid;

use super::schema::{DataContentType, SpecVersion};
use crate::domain::child::{ProfessionalRole, VemtCategory, VemtRiskLevel};
use crate::domain::effects::{
    AlertPriority, AlertReason, Effect, EmailRecipient, EmailTemplate, LetterRecipient,
    LetterTemplate, NoteType, TaskKind, TriggerPlanRequestKind,
};
use crate::domain::ids::{EhmId, LcsPersonId, PolicePersonId, WorkerId};
use crate::domain::trigger_plan::{DocumentUrl, MediaType};
use crate::domain::vpg::StageUnmet;
use crate::domain::vpg_decision::LeadProfessional;

/// The namespace of every id the service derives (UUIDv5).
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f0e_4c1b_8f0a_4d3e_9b57_2a1c_5d7e_9f30);

/// What caused an effect: the inbound event, or a timer standing in for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub causation_id: String,
    pub correlation_id: String,
}

impl Cause {
    /// An inbound event causes its effects; the correlation carries through.
    pub fn inbound(event_id: &str, correlation_id: Option<&str>) -> Self {
        Self {
            causation_id: event_id.to_owned(),
            correlation_id: correlation_id.unwrap_or(event_id).to_owned(),
        }
    }

    /// A timer's run (the 72-hour sweep, say): a stable id named after what
    /// it looked at, so a re-run derives the same event ids.
    pub fn timer(name: &str) -> Self {
        let id = Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()).to_string();
        Self {
            causation_id: id.clone(),
            correlation_id: id,
        }
    }
}

/// One event ready for the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundEvent {
    pub id: Uuid,
    pub event_type: String,
    /// The whole CloudEvent, in structured JSON mode.
    pub body: Value,
}

/// The same cause and effect give the same id, so a re-published effect
/// can be deduplicated by partners.
pub fn event_id(cause: &Cause, effect: &Effect) -> Uuid {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{}|{}", cause.causation_id, effect.key()).as_bytes(),
    )
}

/// An id named by the effect alone (a document's, a note's): the same
/// whatever caused it, so partners see one document, one note.
fn effect_id(effect: &Effect) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, effect.key().as_bytes())
}

/// The CloudEvents 1.0 envelope of every outbound event (structured JSON
/// mode); `data` is the event type's payload.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct OutboundEnvelope<D> {
    pub specversion: SpecVersion,
    /// A UUIDv5 of cause and effect: an effect published again has the same
    /// `id`, so partners dedupe on (`source`, `id`).
    pub id: Uuid,
    /// `urn:vemt:integration-service` by default (`service.source`).
    pub source: String,
    /// The event type, which is also the routing key.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event was built, in UTC with milliseconds
    /// (`2026-11-20T21:20:06.412Z`).
    #[schemars(with = "DateTime<Utc>")]
    pub time: String,
    pub datacontenttype: DataContentType,
    /// The cause's `correlationid`, else the cause's `id`.
    #[schemars(length(min = 1))]
    pub correlationid: String,
    /// The `id` of the inbound event that caused this one; for a timer, a
    /// UUIDv5 naming the timer run.
    #[schemars(length(min = 1))]
    pub causationid: String,
    pub data: D,
}

/// `police.trigger-plan-request.v1` data.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct TriggerPlanRequestData {
    /// A UUIDv5 of the police person, meeting date and kind: the same for
    /// every repeat of the request, whatever caused it.
    pub request_id: Uuid,
    /// The police person of the child's newest counted episode.
    pub police_person_id: PolicePersonId,
    /// Null when no LCS child record is linked yet.
    pub lcs_person_id: Option<LcsPersonId>,
    /// As LCS names the child when the service holds their record, else as
    /// the police reported them.
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub kind: TriggerPlanRequestKind,
    /// The date of the missing children review meeting the plan is for.
    pub meeting_date: NaiveDate,
}

/// Why an alert is raised. `unmatched_police_person` and `email_failed` go
/// to operations; the others to the child's professionals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertReasonData {
    UnmatchedPolicePerson,
    EmailFailed,
    TriggerPlanReceived,
    ReviewOutcome,
    TriggerPlanRequested,
}

impl From<AlertReason> for AlertReasonData {
    fn from(reason: AlertReason) -> Self {
        match reason {
            AlertReason::TriggerPlanReceived => Self::TriggerPlanReceived,
            AlertReason::ReviewOutcome => Self::ReviewOutcome,
            AlertReason::TriggerPlanRequested => Self::TriggerPlanRequested,
        }
    }
}

/// Who an alert is for: `operations`, or a professional role of
/// `lcs.child.v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    Operations,
    SocialWorker,
    TeamManager,
    EarlyHelpWorker,
    EarlyHelpManager,
    Iro,
    LeadProfessional,
}

impl From<ProfessionalRole> for RecipientRole {
    fn from(role: ProfessionalRole) -> Self {
        match role {
            ProfessionalRole::SocialWorker => Self::SocialWorker,
            ProfessionalRole::TeamManager => Self::TeamManager,
            ProfessionalRole::EarlyHelpWorker => Self::EarlyHelpWorker,
            ProfessionalRole::EarlyHelpManager => Self::EarlyHelpManager,
            ProfessionalRole::Iro => Self::Iro,
            ProfessionalRole::LeadProfessional => Self::LeadProfessional,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct AlertRecipientData {
    pub role: RecipientRole,
    /// Null when the alert goes to a role, not a named worker (as for
    /// `operations`).
    pub worker_id: Option<WorkerId>,
}

/// `lcs.alert.v1` data. Ids only: the people who act on it look the child up.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct AlertData {
    /// A UUID naming the alert (the event `id` for `unmatched_police_person`).
    pub alert_id: Uuid,
    /// Null for an unmatched police person; the child's LCS person id otherwise.
    pub lcs_person_id: Option<LcsPersonId>,
    /// On `unmatched_police_person` alerts only: the police person no LCS
    /// child record links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub police_person_id: Option<PolicePersonId>,
    /// On `email_failed` alerts only: the `email_id` of the `email.v1` that
    /// could not be delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_id: Option<Uuid>,
    /// On `email_failed` alerts only: GOV.UK Notify's error name (such as
    /// `ValidationError`), or `http_<status>`, `no_response`, `timeout`; for
    /// an e-mail Notify took but did not deliver, its status
    /// (`permanent-failure`, `temporary-failure`, `technical-failure`) or
    /// `delivery_status_timeout`. Never free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub recipients: Vec<AlertRecipientData>,
    pub reason: AlertReasonData,
    /// `high` on `email_failed`, else `normal`.
    pub priority: AlertPriority,
}

/// `lcs.document.v1` data: a document filed by reference.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct DocumentData {
    /// A UUIDv5 naming the document, the same whatever caused it.
    pub document_id: Uuid,
    pub lcs_person_id: LcsPersonId,
    pub title: String,
    /// The document's link, as its owner gave it.
    pub url: DocumentUrl,
    pub media_type: MediaType,
}

/// `lcs.case-note.v1` data.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct CaseNoteData {
    /// A UUIDv5 naming the note, the same whatever caused it.
    pub note_id: Uuid,
    pub lcs_person_id: LcsPersonId,
    pub note_type: NoteType,
    /// The day the note is about, in the meetings' time zone.
    pub dated: NaiveDate,
    pub title: String,
    pub body: String,
}

/// `ehm.case-note.v1` data: the Early Help Module's copy of a case note.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct EhmCaseNoteData {
    /// A UUIDv5 naming the note, the same whatever caused it.
    pub note_id: Uuid,
    pub ehm_id: EhmId,
    pub lcs_person_id: LcsPersonId,
    pub dated: NaiveDate,
    pub title: String,
    pub body: String,
}

/// The hazard marker concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HazardMarkerKind {
    Vemt,
}

/// What to do with the hazard marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HazardMarkerAction {
    Close,
}

/// `lcs.hazard-marker.v1` data.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct HazardMarkerData {
    pub lcs_person_id: LcsPersonId,
    pub marker: HazardMarkerKind,
    pub action: HazardMarkerAction,
}

/// `letter.v1` data: no address or GP details; the LCS adapter resolves
/// them from `lcs_person_id` (R7.2).
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct LetterData {
    /// A UUIDv5 of the child, meeting, recipient and template.
    pub letter_id: Uuid,
    pub lcs_person_id: LcsPersonId,
    pub recipient: LetterRecipient,
    pub template: LetterTemplate,
}

/// `lcs.case-profile.v1` data: the VEMT case profile the meeting decided.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct CaseProfileData {
    pub lcs_person_id: LcsPersonId,
    pub category: VemtCategory,
    pub risk_level: VemtRiskLevel,
    pub lead_professional: LeadProfessional,
}

/// `lcs.task.v1` data.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct TaskData {
    /// A UUIDv5 of the child, meeting, kind and assignee.
    pub task_id: Uuid,
    pub lcs_person_id: LcsPersonId,
    pub assignee_role: ProfessionalRole,
    /// Null when the record lists no one in the role.
    pub assignee_worker_id: Option<WorkerId>,
    pub kind: TaskKind,
    pub description: String,
    /// On `signpost_stage` tasks only: the STAGE conditions that do not hold
    /// (empty when they all do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_unmet: Option<Vec<StageUnmet>>,
}

/// `referral.nrm-request.v1` data.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct NrmRequestData {
    /// A UUIDv5 of the child and meeting.
    pub request_id: Uuid,
    pub lcs_person_id: LcsPersonId,
}

/// `email.v1` data.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct EmailData {
    /// A UUIDv5 naming the e-mail, the same whatever caused it.
    pub email_id: Uuid,
    /// The child the e-mail is about.
    pub lcs_person_id: LcsPersonId,
    #[schemars(length(min = 1))]
    pub to: Vec<EmailRecipient>,
    pub template: EmailTemplate,
    /// The template's values, as text: ids, dates and, for a meeting's
    /// outcome, the minutes' words; never a name.
    pub personalisation: BTreeMap<String, String>,
}

pub fn build(
    effect: &Effect,
    cause: &Cause,
    source: &str,
    now: DateTime<Utc>,
) -> serde_json::Result<OutboundEvent> {
    let id = event_id(cause, effect);
    let data = match effect {
        Effect::TriggerPlanRequest(r) => serde_json::to_value(TriggerPlanRequestData {
            // One request per child, meeting and kind, whatever caused it.
            request_id: effect_id(effect),
            police_person_id: r.police_person_id.clone(),
            lcs_person_id: r.lcs_person_id.clone(),
            given_name: r.given_name.clone(),
            family_name: r.family_name.clone(),
            date_of_birth: r.date_of_birth,
            kind: r.kind,
            meeting_date: r.meeting_date,
        }),
        Effect::UnmatchedPersonAlert(a) => serde_json::to_value(AlertData {
            alert_id: id,
            lcs_person_id: None,
            police_person_id: Some(a.police_person_id.clone()),
            email_id: None,
            error_code: None,
            recipients: vec![AlertRecipientData {
                role: RecipientRole::Operations,
                worker_id: None,
            }],
            reason: AlertReasonData::UnmatchedPolicePerson,
            priority: AlertPriority::Normal,
        }),
        // The agenda's own serialisation is the contract's item shape.
        Effect::MissingReviewAgenda(agenda) => serde_json::to_value(agenda),
        Effect::VpgWeeklyAgenda(agenda) => serde_json::to_value(agenda),
        Effect::VpgMonthlyAgenda(agenda) => serde_json::to_value(agenda),
        Effect::Document(d) => serde_json::to_value(DocumentData {
            document_id: effect_id(effect),
            lcs_person_id: d.lcs_person_id.clone(),
            title: d.title.clone(),
            url: d.url.clone(),
            media_type: d.media_type.clone(),
        }),
        Effect::CaseNote(n) => serde_json::to_value(CaseNoteData {
            note_id: effect_id(effect),
            lcs_person_id: n.lcs_person_id.clone(),
            note_type: n.note_type,
            dated: n.dated,
            title: n.title.clone(),
            body: n.body.clone(),
        }),
        Effect::HazardMarker(m) => serde_json::to_value(HazardMarkerData {
            lcs_person_id: m.lcs_person_id.clone(),
            marker: HazardMarkerKind::Vemt,
            action: HazardMarkerAction::Close,
        }),
        Effect::Letter(l) => serde_json::to_value(LetterData {
            // One letter per child, meeting, recipient and template.
            letter_id: effect_id(effect),
            lcs_person_id: l.lcs_person_id.clone(),
            recipient: l.recipient,
            template: l.template,
        }),
        Effect::CaseProfile(p) => serde_json::to_value(CaseProfileData {
            lcs_person_id: p.lcs_person_id.clone(),
            category: p.category,
            risk_level: p.risk_level,
            lead_professional: p.lead_professional.clone(),
        }),
        Effect::Task(t) => serde_json::to_value(TaskData {
            task_id: effect_id(effect),
            lcs_person_id: t.lcs_person_id.clone(),
            assignee_role: t.assignee_role,
            assignee_worker_id: t.assignee_worker_id.clone(),
            kind: t.kind,
            description: t.description.clone(),
            stage_unmet: (t.kind == TaskKind::SignpostStage).then(|| t.stage_unmet.clone()),
        }),
        Effect::NrmRequest(r) => serde_json::to_value(NrmRequestData {
            request_id: effect_id(effect),
            lcs_person_id: r.lcs_person_id.clone(),
        }),
        Effect::EhmCaseNote(n) => serde_json::to_value(EhmCaseNoteData {
            note_id: effect_id(effect),
            ehm_id: n.ehm_id.clone(),
            lcs_person_id: n.lcs_person_id.clone(),
            dated: n.dated,
            title: n.title.clone(),
            body: n.body.clone(),
        }),
        Effect::Email(e) => serde_json::to_value(EmailData {
            email_id: effect_id(effect),
            lcs_person_id: e.lcs_person_id.clone(),
            to: e.to.clone(),
            template: e.template,
            personalisation: e
                .personalisation
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.clone()))
                .collect(),
        }),
        Effect::ProfessionalAlert(a) => serde_json::to_value(AlertData {
            alert_id: effect_id(effect),
            lcs_person_id: Some(a.lcs_person_id.clone()),
            police_person_id: None,
            email_id: None,
            error_code: None,
            recipients: a
                .recipients
                .iter()
                .map(|r| AlertRecipientData {
                    role: r.role.into(),
                    worker_id: Some(r.worker_id.clone()),
                })
                .collect(),
            reason: a.reason.into(),
            priority: a.priority,
        }),
    }?;
    let body = serde_json::to_value(OutboundEnvelope {
        specversion: SpecVersion::V1_0,
        id,
        source: source.to_owned(),
        event_type: effect.event_type().to_owned(),
        time: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        datacontenttype: DataContentType::Json,
        correlationid: cause.correlation_id.clone(),
        causationid: cause.causation_id.clone(),
        data,
    })?;
    Ok(OutboundEvent {
        id,
        event_type: effect.event_type().to_owned(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::effects::UnmatchedPersonAlert;
    use crate::domain::ids::PolicePersonId;

    fn alert() -> Effect {
        Effect::UnmatchedPersonAlert(UnmatchedPersonAlert {
            police_person_id: PolicePersonId::parse("P-1").unwrap(),
        })
    }

    #[test]
    fn ids_are_deterministic_per_cause_and_effect() {
        let a = Cause::inbound("e-1", None);
        let b = Cause::inbound("e-2", Some("corr"));
        assert_eq!(event_id(&a, &alert()), event_id(&a, &alert()));
        assert_ne!(event_id(&a, &alert()), event_id(&b, &alert()));
    }

    fn case_note() -> Effect {
        use crate::domain::effects::{CaseNote, NoteType, Occasion};
        use crate::domain::ids::{LcsPersonId, TriggerPlanId};
        Effect::CaseNote(CaseNote {
            occasion: Occasion::TriggerPlanReceived {
                plan_id: TriggerPlanId::parse("TP-1").unwrap(),
                version: 2,
            },
            lcs_person_id: LcsPersonId::parse("LCS-1").unwrap(),
            note_type: NoteType::MissingEpisode,
            dated: "2026-11-24".parse().unwrap(),
            title: "Title".into(),
            body: "Body".into(),
        })
    }

    #[test]
    fn a_note_keeps_its_id_whatever_caused_it_while_the_event_id_follows_the_cause() {
        let now = Utc::now();
        let a = build(&case_note(), &Cause::inbound("e-1", None), "urn:test", now).unwrap();
        let b = build(&case_note(), &Cause::inbound("e-2", None), "urn:test", now).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.body["data"]["note_id"], b.body["data"]["note_id"]);
        assert_eq!(a.event_type, "lcs.case-note.v1");
        assert_eq!(
            a.body["data"],
            serde_json::json!({
                "note_id": a.body["data"]["note_id"],
                "lcs_person_id": "LCS-1",
                "note_type": "missing_episode",
                "dated": "2026-11-24",
                "title": "Title",
                "body": "Body",
            })
        );
    }

    #[test]
    fn alert_reasons_and_roles_are_spelt_on_the_wire_as_the_domain_spells_them() {
        for reason in AlertReason::ALL {
            let wire = serde_json::to_value(AlertReasonData::from(*reason)).unwrap();
            assert_eq!(wire, reason.as_str());
        }
        for role in ProfessionalRole::ALL {
            let wire = serde_json::to_value(RecipientRole::from(*role)).unwrap();
            assert_eq!(wire, role.as_str());
        }
    }

    #[test]
    fn correlation_falls_back_to_the_cause() {
        let now = Utc::now();
        let event = build(&alert(), &Cause::inbound("e-1", None), "urn:test", now).unwrap();
        assert_eq!(event.body["correlationid"], "e-1");
        assert_eq!(event.body["causationid"], "e-1");
        let event = build(
            &alert(),
            &Cause::inbound("e-1", Some("c-9")),
            "urn:test",
            now,
        )
        .unwrap();
        assert_eq!(event.body["correlationid"], "c-9");
        assert_eq!(event.body["type"], "lcs.alert.v1");
        assert_eq!(event.body["data"]["lcs_person_id"], Value::Null);
    }
}
