//! Outbound CloudEvents, built from domain effects.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::effects::Effect;

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

pub fn build(
    effect: &Effect,
    cause: &Cause,
    source: &str,
    now: DateTime<Utc>,
) -> serde_json::Result<OutboundEvent> {
    let id = event_id(cause, effect);
    let data = match effect {
        Effect::TriggerPlanRequest(r) => json!({
            // One request per child, meeting and kind, whatever caused it.
            "request_id": effect_id(effect),
            "police_person_id": r.police_person_id,
            "lcs_person_id": r.lcs_person_id,
            "given_name": r.given_name,
            "family_name": r.family_name,
            "date_of_birth": r.date_of_birth,
            "kind": r.kind,
            "meeting_date": r.meeting_date,
        }),
        Effect::UnmatchedPersonAlert(a) => json!({
            "alert_id": id,
            "lcs_person_id": null,
            "police_person_id": a.police_person_id,
            "recipients": [{ "role": "operations", "worker_id": null }],
            "reason": "unmatched_police_person",
            "priority": "normal",
        }),
        // The agenda's own serialisation is the contract's item shape.
        Effect::MissingReviewAgenda(agenda) => serde_json::to_value(agenda)?,
        Effect::VpgWeeklyAgenda(agenda) => serde_json::to_value(agenda)?,
        Effect::VpgMonthlyAgenda(agenda) => serde_json::to_value(agenda)?,
        Effect::Document(d) => json!({
            "document_id": effect_id(effect),
            "lcs_person_id": d.lcs_person_id,
            "title": d.title,
            "url": d.url,
            "media_type": d.media_type,
        }),
        Effect::CaseNote(n) => json!({
            "note_id": effect_id(effect),
            "lcs_person_id": n.lcs_person_id,
            "note_type": n.note_type,
            "dated": n.dated,
            "title": n.title,
            "body": n.body,
        }),
        Effect::HazardMarker(m) => json!({
            "lcs_person_id": m.lcs_person_id,
            "marker": "vemt",
            "action": "close",
        }),
        Effect::Letter(l) => json!({
            // One letter per child, meeting, recipient and template.
            "letter_id": effect_id(effect),
            "lcs_person_id": l.lcs_person_id,
            "recipient": l.recipient,
            "template": l.template,
        }),
        Effect::CaseProfile(p) => json!({
            "lcs_person_id": p.lcs_person_id,
            "category": p.category,
            "risk_level": p.risk_level,
            "lead_professional": p.lead_professional,
        }),
        Effect::Task(t) => {
            let mut data = json!({
                "task_id": effect_id(effect),
                "lcs_person_id": t.lcs_person_id,
                "assignee_role": t.assignee_role,
                "assignee_worker_id": t.assignee_worker_id,
                "kind": t.kind,
                "description": t.description,
            });
            if t.kind == crate::domain::effects::TaskKind::SignpostStage {
                data["stage_unmet"] = serde_json::to_value(&t.stage_unmet)?;
            }
            data
        }
        Effect::NrmRequest(r) => json!({
            "request_id": effect_id(effect),
            "lcs_person_id": r.lcs_person_id,
        }),
        Effect::EhmCaseNote(n) => json!({
            "note_id": effect_id(effect),
            "ehm_id": n.ehm_id,
            "lcs_person_id": n.lcs_person_id,
            "dated": n.dated,
            "title": n.title,
            "body": n.body,
        }),
        Effect::Email(e) => json!({
            "email_id": effect_id(effect),
            "lcs_person_id": e.lcs_person_id,
            "to": e.to,
            "template": e.template,
            "personalisation": e.personalisation,
        }),
        Effect::ProfessionalAlert(a) => json!({
            "alert_id": effect_id(effect),
            "lcs_person_id": a.lcs_person_id,
            "recipients": a.recipients,
            "reason": a.reason,
            "priority": a.priority,
        }),
    };
    Ok(OutboundEvent {
        id,
        event_type: effect.event_type().to_owned(),
        body: json!({
            "specversion": "1.0",
            "id": id,
            "source": source,
            "type": effect.event_type(),
            "time": now.to_rfc3339_opts(SecondsFormat::Millis, true),
            "datacontenttype": "application/json",
            "correlationid": cause.correlation_id,
            "causationid": cause.causation_id,
            "data": data,
        }),
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
