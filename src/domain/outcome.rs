//! Outcomes of the Wednesday missing children review (M1, R5) and the
//! trigger plan requests they may make (R4.3): the outcome as recorded by
//! the minutes tool, and what it makes happen for the child: the e-mail of
//! outcome and actions, the VEMT case note (and its EHM copy), the alerts,
//! and, when the meeting asks for one, the request to the police with its
//! copy, note and alerts.
//!
//! The outcome, discussion and actions are free text: they go into the
//! child's own records and to the child's own professionals, and are never
//! logged.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::child::{Professional, ProfessionalRole};
use super::effects::{
    AlertPriority, AlertReason, AlertRecipient, CaseNote, Effect, EhmCaseNote, Email,
    EmailRecipient, EmailTemplate, NoteType, Occasion, ProfessionalAlert, TriggerPlanRequest,
    TriggerPlanRequestKind,
};
use super::ids::{ActionId, EhmId, LcsPersonId};
use super::queue::RequestSubject;
use super::template::CaseNoteTemplate;

/// The placeholders the outcome's case-note template may use.
pub const NOTE_PLACEHOLDERS: [&str; 4] = ["meeting_date", "outcome", "discussion", "actions"];
/// The placeholders the trigger-plan-request case-note template may use.
pub const PLAN_NOTE_PLACEHOLDERS: [&str; 3] = ["meeting_date", "request", "details"];

wire_enum!(
    /// Where an action of the minutes stands.
    ActionStatus {
        Open = "open",
        Done = "done",
        Cancelled = "cancelled",
    }
);

/// One action of the minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub action_id: ActionId,
    pub description: String,
    /// The role that owns it, as the minutes name it (`social_worker`, …).
    pub owner_role: String,
    pub due_date: Option<NaiveDate>,
}

/// What the meeting asked of the police trigger plan (R4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDecision {
    /// `Create` or `Update`, never `Copy`.
    pub request: TriggerPlanRequestKind,
    pub details: Option<String>,
}

/// `meeting.review-outcome.v1`: the outcome of one child's review at M1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewOutcome {
    pub meeting_date: NaiveDate,
    pub lcs_person_id: LcsPersonId,
    pub outcome: String,
    /// Goes into the case note only; never stored.
    pub discussion: Option<String>,
    pub actions: Vec<Action>,
    pub refer_to_vpg: bool,
    pub trigger_plan: Option<PlanDecision>,
}

/// `meeting.action-updated.v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionUpdate {
    pub action_id: ActionId,
    pub status: ActionStatus,
}

/// What the effects of an outcome need of the child's LCS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeChild {
    pub lcs_person_id: LcsPersonId,
    pub vemt_active: bool,
    pub ehm_id: Option<EhmId>,
    pub professionals: Vec<Professional>,
    /// Whom a trigger plan request names; `None` when the service knows no
    /// police person of the child.
    pub police: Option<RequestSubject>,
}

/// The words of the notes an outcome writes.
#[derive(Debug, Clone, Copy)]
pub struct NoteTemplates<'a> {
    pub outcome: &'a CaseNoteTemplate,
    pub plan_request: &'a CaseNoteTemplate,
}

/// R5.1–R5.3 and R4.3: every effect of one outcome, in a stable order.
pub fn on_outcome(
    outcome: &ReviewOutcome,
    child: &OutcomeChild,
    notes: NoteTemplates<'_>,
) -> Vec<Effect> {
    let occasion = Occasion::ReviewOutcome {
        meeting_date: outcome.meeting_date,
    };
    let mut effects = Vec::new();
    effects.extend(outcome_email(outcome, child).map(Effect::Email));
    let note = outcome_note(outcome, child, notes.outcome);
    effects.extend(ehm_copy(&note, child));
    effects.push(Effect::CaseNote(note));
    effects.extend(
        alert(
            occasion,
            child,
            outcome_recipients(child),
            AlertReason::ReviewOutcome,
        )
        .map(Effect::ProfessionalAlert),
    );
    if let Some(decision) = &outcome.trigger_plan {
        effects.extend(on_plan_decision(
            outcome.meeting_date,
            decision,
            child,
            notes.plan_request,
        ));
    }
    effects
}

fn ehm_copy(note: &CaseNote, child: &OutcomeChild) -> Option<Effect> {
    child
        .ehm_id
        .clone()
        .map(|ehm| Effect::EhmCaseNote(EhmCaseNote::copy_of(note, ehm)))
}

fn with_role(child: &OutcomeChild, role: ProfessionalRole) -> Vec<&Professional> {
    child
        .professionals
        .iter()
        .filter(|p| p.role == role)
        .collect()
}

/// The social worker, or the early-help worker where the record lists no
/// social worker (R5.1), with the manager of that role.
fn lead(child: &OutcomeChild) -> (Vec<&Professional>, Vec<&Professional>) {
    let social = with_role(child, ProfessionalRole::SocialWorker);
    if social.is_empty() {
        (
            with_role(child, ProfessionalRole::EarlyHelpWorker),
            with_role(child, ProfessionalRole::EarlyHelpManager),
        )
    } else {
        (social, with_role(child, ProfessionalRole::TeamManager))
    }
}

/// R5.3: the SW or early-help worker, their manager, and the IRO.
pub fn outcome_recipients(child: &OutcomeChild) -> Vec<&Professional> {
    let (workers, managers) = lead(child);
    let mut all = workers;
    all.extend(managers);
    all.extend(with_role(child, ProfessionalRole::Iro));
    all
}

/// R4.3: the SW, TM and IRO.
pub fn plan_recipients(child: &OutcomeChild) -> Vec<&Professional> {
    [
        ProfessionalRole::SocialWorker,
        ProfessionalRole::TeamManager,
        ProfessionalRole::Iro,
    ]
    .into_iter()
    .flat_map(|role| with_role(child, role))
    .collect()
}

fn email_to(professionals: &[&Professional]) -> Vec<EmailRecipient> {
    professionals
        .iter()
        .filter_map(|p| {
            p.email.as_ref().map(|email| EmailRecipient {
                role: p.role,
                worker_id: p.worker_id.clone(),
                email: email.clone(),
            })
        })
        .collect()
}

/// The actions as lines of text, for the e-mail and the note.
pub fn actions_text(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "None.".to_owned();
    }
    actions
        .iter()
        .map(|a| {
            let due = a
                .due_date
                .map(|d| format!(", due {}", d.format("%-d %B %Y")))
                .unwrap_or_default();
            format!(
                "- {} ({}; owner: {}{due})",
                a.description, a.action_id, a.owner_role
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

/// R5.1: the outcome and actions to the SW, or to the early-help worker
/// where there is no SW. `None` when that worker has no address.
pub fn outcome_email(outcome: &ReviewOutcome, child: &OutcomeChild) -> Option<Email> {
    let to = email_to(&lead(child).0);
    if to.is_empty() {
        return None;
    }
    let personalisation = BTreeMap::from([
        ("meeting_date", outcome.meeting_date.to_string()),
        ("lcs_person_id", child.lcs_person_id.to_string()),
        ("outcome", outcome.outcome.clone()),
        ("actions", actions_text(&outcome.actions)),
        ("action_count", outcome.actions.len().to_string()),
    ]);
    Some(Email {
        occasion: Occasion::ReviewOutcome {
            meeting_date: outcome.meeting_date,
        },
        lcs_person_id: child.lcs_person_id.clone(),
        to,
        template: EmailTemplate::ReviewOutcome,
        personalisation,
    })
}

/// R5.2: the VEMT case note dated the meeting day, with the outcome, the
/// discussion and the actions.
pub fn outcome_note(
    outcome: &ReviewOutcome,
    child: &OutcomeChild,
    template: &CaseNoteTemplate,
) -> CaseNote {
    let meeting_date = long_date(outcome.meeting_date);
    let actions = actions_text(&outcome.actions);
    let values = [
        ("meeting_date", meeting_date.as_str()),
        ("outcome", outcome.outcome.as_str()),
        (
            "discussion",
            outcome.discussion.as_deref().unwrap_or("None recorded."),
        ),
        ("actions", actions.as_str()),
    ];
    CaseNote {
        occasion: Occasion::ReviewOutcome {
            meeting_date: outcome.meeting_date,
        },
        lcs_person_id: child.lcs_person_id.clone(),
        note_type: NoteType::Vemt,
        dated: outcome.meeting_date,
        title: template.title.render(&values),
        body: template.body.render(&values),
    }
}

fn alert(
    occasion: Occasion,
    child: &OutcomeChild,
    professionals: Vec<&Professional>,
    reason: AlertReason,
) -> Option<ProfessionalAlert> {
    let recipients: Vec<AlertRecipient> = professionals
        .into_iter()
        .map(|p| AlertRecipient {
            role: p.role,
            worker_id: p.worker_id.clone(),
        })
        .collect();
    (!recipients.is_empty()).then(|| ProfessionalAlert {
        occasion,
        lcs_person_id: child.lcs_person_id.clone(),
        recipients,
        reason,
        priority: AlertPriority::Normal,
    })
}

/// R4.3: the request to the police (when the service knows a police person
/// of the child), its copy e-mailed to the SW, TM and IRO, the case note
/// (VEMT while the VEMT case is active, else missing episode, as R4.2) and
/// the alert.
pub fn on_plan_decision(
    meeting_date: NaiveDate,
    decision: &PlanDecision,
    child: &OutcomeChild,
    template: &CaseNoteTemplate,
) -> Vec<Effect> {
    let occasion = Occasion::TriggerPlanRequested { meeting_date };
    let mut effects = Vec::new();
    if let Some(subject) = &child.police {
        effects.push(Effect::TriggerPlanRequest(TriggerPlanRequest {
            police_person_id: subject.police_person_id.clone(),
            lcs_person_id: Some(child.lcs_person_id.clone()),
            given_name: subject.given_name.clone(),
            family_name: subject.family_name.clone(),
            date_of_birth: subject.date_of_birth,
            kind: decision.request,
            meeting_date,
        }));
    }
    let request = match decision.request {
        TriggerPlanRequestKind::Update => "updated",
        _ => "created",
    };
    let recipients = plan_recipients(child);
    let to = email_to(&recipients);
    if !to.is_empty() {
        let mut personalisation = BTreeMap::from([
            ("meeting_date", meeting_date.to_string()),
            ("lcs_person_id", child.lcs_person_id.to_string()),
            ("request", request.to_owned()),
            ("details", decision.details.clone().unwrap_or_default()),
        ]);
        if let Some(subject) = &child.police {
            personalisation.insert("police_person_id", subject.police_person_id.to_string());
        }
        effects.push(Effect::Email(Email {
            occasion: occasion.clone(),
            lcs_person_id: child.lcs_person_id.clone(),
            to,
            template: EmailTemplate::TriggerPlanRequested,
            personalisation,
        }));
    }
    let meeting_day = long_date(meeting_date);
    let values = [
        ("meeting_date", meeting_day.as_str()),
        ("request", request),
        (
            "details",
            decision.details.as_deref().unwrap_or("None recorded."),
        ),
    ];
    effects.push(Effect::CaseNote(CaseNote {
        occasion: occasion.clone(),
        lcs_person_id: child.lcs_person_id.clone(),
        note_type: if child.vemt_active {
            NoteType::Vemt
        } else {
            NoteType::MissingEpisode
        },
        dated: meeting_date,
        title: template.title.render(&values),
        body: template.body.render(&values),
    }));
    effects.extend(
        alert(
            occasion,
            child,
            recipients,
            AlertReason::TriggerPlanRequested,
        )
        .map(Effect::ProfessionalAlert),
    );
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{PolicePersonId, WorkerId};

    fn date(raw: &str) -> NaiveDate {
        raw.parse().unwrap()
    }

    fn worker(role: ProfessionalRole, id: &str) -> Professional {
        Professional {
            role,
            worker_id: WorkerId::parse(id).unwrap(),
            name: Some(format!("Name of {id}")),
            email: Some(format!("{id}@example.org")),
        }
    }

    fn child(professionals: Vec<Professional>, ehm: bool) -> OutcomeChild {
        OutcomeChild {
            lcs_person_id: LcsPersonId::parse("LCS-1").unwrap(),
            vemt_active: true,
            ehm_id: ehm.then(|| EhmId::parse("EHM-1").unwrap()),
            professionals,
            police: Some(RequestSubject {
                police_person_id: PolicePersonId::parse("P-1").unwrap(),
                lcs_person_id: Some(LcsPersonId::parse("LCS-1").unwrap()),
                given_name: "Ada".into(),
                family_name: "Smith".into(),
                date_of_birth: date("2011-03-04"),
            }),
        }
    }

    fn full() -> Vec<Professional> {
        vec![
            worker(ProfessionalRole::Iro, "W-IRO"),
            worker(ProfessionalRole::TeamManager, "W-TM"),
            worker(ProfessionalRole::EarlyHelpWorker, "W-EH"),
            worker(ProfessionalRole::EarlyHelpManager, "W-EHM"),
            worker(ProfessionalRole::SocialWorker, "W-SW"),
        ]
    }

    fn early_help_only() -> Vec<Professional> {
        vec![
            worker(ProfessionalRole::EarlyHelpManager, "W-EHM"),
            worker(ProfessionalRole::EarlyHelpWorker, "W-EH"),
        ]
    }

    fn outcome(plan: Option<TriggerPlanRequestKind>) -> ReviewOutcome {
        ReviewOutcome {
            meeting_date: date("2026-11-25"),
            lcs_person_id: LcsPersonId::parse("LCS-1").unwrap(),
            outcome: "Keep under review".into(),
            discussion: Some("Talked it through".into()),
            actions: vec![Action {
                action_id: ActionId::parse("A-1").unwrap(),
                description: "Visit".into(),
                owner_role: "social_worker".into(),
                due_date: Some(date("2026-12-02")),
            }],
            refer_to_vpg: false,
            trigger_plan: plan.map(|request| PlanDecision {
                request,
                details: Some("New address".into()),
            }),
        }
    }

    fn templates() -> (CaseNoteTemplate, CaseNoteTemplate) {
        (
            CaseNoteTemplate::parse(
                "Review {meeting_date}\n{outcome}|{discussion}|{actions}",
                &NOTE_PLACEHOLDERS,
            )
            .unwrap(),
            CaseNoteTemplate::parse(
                "Plan {request} {meeting_date}\n{details}",
                &PLAN_NOTE_PLACEHOLDERS,
            )
            .unwrap(),
        )
    }

    fn effects(outcome: &ReviewOutcome, child: &OutcomeChild) -> Vec<Effect> {
        let (note, plan) = templates();
        on_outcome(
            outcome,
            child,
            NoteTemplates {
                outcome: &note,
                plan_request: &plan,
            },
        )
    }

    fn ids(people: impl IntoIterator<Item = WorkerId>) -> Vec<String> {
        people.into_iter().map(|w| w.to_string()).collect()
    }

    fn kinds(effects: &[Effect]) -> Vec<&'static str> {
        effects.iter().map(Effect::event_type).collect()
    }

    #[test]
    fn with_a_social_worker_iro_and_ehm_id() {
        let effects = effects(&outcome(None), &child(full(), true));
        assert_eq!(
            kinds(&effects),
            [
                "email.v1",
                "ehm.case-note.v1",
                "lcs.case-note.v1",
                "lcs.alert.v1"
            ]
        );
        let Effect::Email(email) = &effects[0] else {
            panic!()
        };
        assert_eq!(ids(email.to.iter().map(|t| t.worker_id.clone())), ["W-SW"]);
        assert_eq!(email.template, EmailTemplate::ReviewOutcome);
        assert_eq!(email.personalisation["outcome"], "Keep under review");
        assert!(
            email.personalisation["actions"]
                .contains("Visit (A-1; owner: social_worker, due 2 December 2026)")
        );
        let Effect::CaseNote(note) = &effects[2] else {
            panic!()
        };
        assert_eq!(note.note_type, NoteType::Vemt);
        assert_eq!(note.dated, date("2026-11-25"));
        assert_eq!(note.title, "Review 25 November 2026");
        assert!(
            note.body
                .starts_with("Keep under review|Talked it through|- Visit")
        );
        let Effect::EhmCaseNote(copy) = &effects[1] else {
            panic!()
        };
        assert_eq!(
            (copy.body.as_str(), copy.dated),
            (note.body.as_str(), note.dated)
        );
        let Effect::ProfessionalAlert(alert) = &effects[3] else {
            panic!()
        };
        assert_eq!(
            ids(alert.recipients.iter().map(|r| r.worker_id.clone())),
            ["W-SW", "W-TM", "W-IRO"]
        );
        assert_eq!(alert.reason, AlertReason::ReviewOutcome);
    }

    #[test]
    fn without_a_social_worker_the_early_help_worker_and_manager() {
        let effects = effects(&outcome(None), &child(early_help_only(), false));
        assert_eq!(
            kinds(&effects),
            ["email.v1", "lcs.case-note.v1", "lcs.alert.v1"]
        );
        let Effect::Email(email) = &effects[0] else {
            panic!()
        };
        assert_eq!(ids(email.to.iter().map(|t| t.worker_id.clone())), ["W-EH"]);
        let Effect::ProfessionalAlert(alert) = &effects[2] else {
            panic!()
        };
        assert_eq!(
            ids(alert.recipients.iter().map(|r| r.worker_id.clone())),
            ["W-EH", "W-EHM"]
        );
    }

    #[test]
    fn nobody_listed_still_gets_the_note() {
        let effects = effects(&outcome(None), &child(Vec::new(), false));
        assert_eq!(kinds(&effects), ["lcs.case-note.v1"]);
    }

    #[test]
    fn a_trigger_plan_create_or_update_goes_to_the_police_with_copy_note_and_alert() {
        for kind in [
            TriggerPlanRequestKind::Create,
            TriggerPlanRequestKind::Update,
        ] {
            let effects = effects(&outcome(Some(kind)), &child(full(), false));
            assert_eq!(
                kinds(&effects),
                [
                    "email.v1",
                    "lcs.case-note.v1",
                    "lcs.alert.v1",
                    "police.trigger-plan-request.v1",
                    "email.v1",
                    "lcs.case-note.v1",
                    "lcs.alert.v1"
                ]
            );
            let Effect::TriggerPlanRequest(request) = &effects[3] else {
                panic!()
            };
            assert_eq!(request.kind, kind);
            assert_eq!(request.meeting_date, date("2026-11-25"));
            let Effect::Email(copy) = &effects[4] else {
                panic!()
            };
            assert_eq!(copy.template, EmailTemplate::TriggerPlanRequested);
            assert_eq!(
                ids(copy.to.iter().map(|t| t.worker_id.clone())),
                ["W-SW", "W-TM", "W-IRO"]
            );
            let Effect::CaseNote(note) = &effects[5] else {
                panic!()
            };
            let word = if kind == TriggerPlanRequestKind::Create {
                "created"
            } else {
                "updated"
            };
            assert_eq!(note.title, format!("Plan {word} 25 November 2026"));
            let Effect::ProfessionalAlert(alert) = &effects[6] else {
                panic!()
            };
            assert_eq!(alert.reason, AlertReason::TriggerPlanRequested);
            // Every effect has its own key (so its own id).
            let keys: std::collections::HashSet<String> = effects.iter().map(Effect::key).collect();
            assert_eq!(keys.len(), effects.len());
        }
    }

    #[test]
    fn a_plan_request_note_is_a_missing_episode_note_outside_an_active_case() {
        let mut child = child(Vec::new(), false);
        child.vemt_active = false;
        child.police = None;
        let effects = effects(&outcome(Some(TriggerPlanRequestKind::Create)), &child);
        assert_eq!(kinds(&effects), ["lcs.case-note.v1", "lcs.case-note.v1"]);
        let Effect::CaseNote(note) = &effects[1] else {
            panic!()
        };
        assert_eq!(note.note_type, NoteType::MissingEpisode);
    }

    #[test]
    fn without_an_iro_the_plan_copy_goes_to_sw_and_tm() {
        let people = vec![
            worker(ProfessionalRole::SocialWorker, "W-SW"),
            worker(ProfessionalRole::TeamManager, "W-TM"),
        ];
        let child = child(people, false);
        assert_eq!(
            ids(plan_recipients(&child).iter().map(|p| p.worker_id.clone())),
            ["W-SW", "W-TM"]
        );
        assert_eq!(
            ids(outcome_recipients(&child)
                .iter()
                .map(|p| p.worker_id.clone())),
            ["W-SW", "W-TM"]
        );
    }
}
