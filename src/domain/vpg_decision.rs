//! Decisions of the monthly VPG meeting (M3, R6): what closing a child's
//! VEMT case, or keeping it open, makes happen, and what follows either way
//! (a post-18 discussion, an NRM referral, sign-posting). Pure: the
//! decision and the facts of the child's LCS record in, effects out.

use chrono::NaiveDate;

use super::child::{Professional, ProfessionalRole, VemtCategory, VemtRiskLevel};
use super::effects::{
    CaseNote, CaseProfile, Effect, EhmCaseNote, HazardMarker, Letter, LetterRecipient,
    LetterTemplate, NoteType, NrmRequest, Occasion, Task, TaskKind,
};
use super::episode::Gender;
use super::ids::{EhmId, LcsPersonId, WorkerId};
use super::outcome::Action;
use super::template::CaseNoteTemplate;
use super::vpg::{StageUnmet, stage_unmet};

/// The placeholders the case-note template of a decision may use.
pub const NOTE_PLACEHOLDERS: [&str; 4] = ["meeting_date", "decision", "outcome", "actions"];

wire_enum!(
    /// What M3 decided for the child's VEMT case (R6.1, R6.2).
    Decision {
        Close = "close",
        Remain = "remain",
    }
);

wire_enum!(
    /// Services a child may be sign-posted to (R6.3).
    Signposting {
        Mappa = "mappa",
        Marac = "marac",
        Stage = "stage",
    }
);

/// The lead professional M3 identified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct LeadProfessional {
    pub worker_id: WorkerId,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// `meeting.vpg-decision.v1`. `category`, `risk_level` and
/// `lead_professional` are always present when the decision is `remain`
/// (the parser requires them then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpgDecision {
    pub meeting_date: NaiveDate,
    pub lcs_person_id: LcsPersonId,
    pub decision: Decision,
    /// Free text: it goes only into the case note, never stored or logged.
    pub outcome: String,
    pub category: Option<VemtCategory>,
    pub risk_level: Option<VemtRiskLevel>,
    pub lead_professional: Option<LeadProfessional>,
    /// Of the same shape as a review outcome's.
    pub actions: Vec<Action>,
    pub still_at_risk_post_18: bool,
    pub trafficked: bool,
    /// Each service once, in the order first given.
    pub signposting: Vec<Signposting>,
}

/// What the effects of a decision need of the child's LCS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedChild {
    pub lcs_person_id: LcsPersonId,
    pub ehm_id: Option<EhmId>,
    pub gender: Option<Gender>,
    pub date_of_birth: NaiveDate,
    pub category: Option<VemtCategory>,
    pub professionals: Vec<Professional>,
}

/// The roles asked to update the case mapping when a case remains open.
const CASE_MAPPING_ROLES: [ProfessionalRole; 3] = [
    ProfessionalRole::SocialWorker,
    ProfessionalRole::EarlyHelpWorker,
    ProfessionalRole::LeadProfessional,
];

/// R6: every effect of one decision for one child.
pub fn on_decision(
    decision: &VpgDecision,
    child: &DecidedChild,
    note: &CaseNoteTemplate,
) -> Vec<Effect> {
    effects_of(decision, child, note, true)
}

/// A decision that arrives after a later meeting's decision for the same
/// child was applied: the later decision stands, so nothing that sets the
/// case's state goes out (no marker closed, no closure letters, no profile
/// or case-mapping tasks). What the meeting said is still recorded (the
/// note dated its day, and the EHM copy), and what it asked for either way
/// still goes (post-18 task, NRM request, sign-posting): a late referral is
/// better than a lost one.
pub fn on_superseded_decision(
    decision: &VpgDecision,
    child: &DecidedChild,
    note: &CaseNoteTemplate,
) -> Vec<Effect> {
    effects_of(decision, child, note, false)
}

fn effects_of(
    decision: &VpgDecision,
    child: &DecidedChild,
    note: &CaseNoteTemplate,
    sets_state: bool,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    let case_note = case_note(decision, child, note);
    match decision.decision {
        _ if !sets_state => effects.extend(notes(case_note, child)),
        Decision::Close => {
            effects.push(Effect::HazardMarker(hazard_marker(decision, child)));
            effects.extend(
                closure_letters(decision, child)
                    .into_iter()
                    .map(Effect::Letter),
            );
            effects.extend(notes(case_note, child));
        }
        Decision::Remain => {
            effects.extend(notes(case_note, child));
            effects.extend(case_profile(decision, child).map(Effect::CaseProfile));
            effects.extend(
                case_mapping_tasks(decision, child)
                    .into_iter()
                    .map(Effect::Task),
            );
        }
    }
    effects.extend(either_way(decision, child).into_iter().map(Effect::Task));
    if decision.trafficked {
        effects.push(Effect::NrmRequest(nrm_request(decision, child)));
    }
    effects
}

fn occasion(decision: &VpgDecision) -> Occasion {
    Occasion::VpgDecision {
        meeting_date: decision.meeting_date,
    }
}

fn notes(note: CaseNote, child: &DecidedChild) -> Vec<Effect> {
    let copy = child
        .ehm_id
        .clone()
        .map(|ehm_id| Effect::EhmCaseNote(EhmCaseNote::copy_of(&note, ehm_id)));
    std::iter::once(Effect::CaseNote(note))
        .chain(copy)
        .collect()
}

/// R6.1: close the VEMT hazard marker.
pub fn hazard_marker(decision: &VpgDecision, child: &DecidedChild) -> HazardMarker {
    HazardMarker {
        occasion: occasion(decision),
        lcs_person_id: child.lcs_person_id.clone(),
    }
}

/// R6.1: the closure letters: to the lead professional, the young person
/// and the parent/carer, and the GP's. No addresses: the LCS adapter
/// resolves them (R7.2).
pub fn closure_letters(decision: &VpgDecision, child: &DecidedChild) -> Vec<Letter> {
    [
        (
            LetterRecipient::LeadProfessional,
            LetterTemplate::VemtClosure,
        ),
        (LetterRecipient::YoungPerson, LetterTemplate::VemtClosure),
        (LetterRecipient::ParentCarer, LetterTemplate::VemtClosure),
        (LetterRecipient::Gp, LetterTemplate::VemtClosureGp),
    ]
    .into_iter()
    .map(|(recipient, template)| Letter {
        occasion: occasion(decision),
        lcs_person_id: child.lcs_person_id.clone(),
        recipient,
        template,
    })
    .collect()
}

/// The VEMT case note of the decision, dated the meeting day, with the
/// outcome and the actions; the words come from the template.
pub fn case_note(
    decision: &VpgDecision,
    child: &DecidedChild,
    note: &CaseNoteTemplate,
) -> CaseNote {
    let meeting_date = decision.meeting_date.format("%-d %B %Y").to_string();
    let decided = match decision.decision {
        Decision::Close => "closed to VEMT",
        Decision::Remain => "to remain subject to VEMT",
    };
    let actions = actions_text(&decision.actions);
    let values = [
        ("meeting_date", meeting_date.as_str()),
        ("decision", decided),
        ("outcome", decision.outcome.as_str()),
        ("actions", actions.as_str()),
    ];
    CaseNote {
        occasion: occasion(decision),
        lcs_person_id: child.lcs_person_id.clone(),
        note_type: NoteType::Vemt,
        dated: decision.meeting_date,
        title: note.title.render(&values),
        body: note.body.render(&values),
    }
}

fn actions_text(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "None.".to_owned();
    }
    actions
        .iter()
        .map(|a| {
            let mut line = format!(
                "- {} ({}); owner: {}",
                a.description, a.action_id, a.owner_role
            );
            if let Some(due) = a.due_date {
                line.push_str(&format!("; due {}", due.format("%-d %B %Y")));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// R6.2: the VEMT case profile as M3 decided it.
pub fn case_profile(decision: &VpgDecision, child: &DecidedChild) -> Option<CaseProfile> {
    Some(CaseProfile {
        occasion: occasion(decision),
        lcs_person_id: child.lcs_person_id.clone(),
        category: decision.category?,
        risk_level: decision.risk_level?,
        lead_professional: decision.lead_professional.clone()?,
    })
}

/// R6.2: a task to update the case mapping for each involved professional
/// the record lists (social worker, early-help worker, lead professional)
/// and for the lead professional M3 named, each worker once.
pub fn case_mapping_tasks(decision: &VpgDecision, child: &DecidedChild) -> Vec<Task> {
    let mut assignees: Vec<(ProfessionalRole, Option<WorkerId>)> = Vec::new();
    for role in CASE_MAPPING_ROLES {
        for p in child.professionals.iter().filter(|p| p.role == role) {
            if !assignees
                .iter()
                .any(|(_, w)| w.as_ref() == Some(&p.worker_id))
            {
                assignees.push((p.role, Some(p.worker_id.clone())));
            }
        }
    }
    if let Some(lead) = &decision.lead_professional
        && !assignees
            .iter()
            .any(|(_, w)| w.as_ref() == Some(&lead.worker_id))
    {
        assignees.push((
            ProfessionalRole::LeadProfessional,
            Some(lead.worker_id.clone()),
        ));
    }
    assignees
        .into_iter()
        .map(|(role, worker_id)| Task {
            occasion: occasion(decision),
            lcs_person_id: child.lcs_person_id.clone(),
            assignee_role: role,
            assignee_worker_id: worker_id,
            kind: TaskKind::UpdateCaseMapping,
            description:
                "The VPG meeting kept this VEMT case open: please update the case mapping."
                    .to_owned(),
            stage_unmet: Vec::new(),
        })
        .collect()
}

/// Who a post-18 or sign-posting task goes to: the lead professional M3
/// named, else the one the record lists, else the social worker, else the
/// early-help worker; the lead professional role, unnamed, when none is.
fn lead(decision: &VpgDecision, child: &DecidedChild) -> (ProfessionalRole, Option<WorkerId>) {
    if let Some(lead) = &decision.lead_professional {
        return (
            ProfessionalRole::LeadProfessional,
            Some(lead.worker_id.clone()),
        );
    }
    [
        ProfessionalRole::LeadProfessional,
        ProfessionalRole::SocialWorker,
        ProfessionalRole::EarlyHelpWorker,
    ]
    .into_iter()
    .find_map(|role| child.professionals.iter().find(|p| p.role == role))
    .map_or((ProfessionalRole::LeadProfessional, None), |p| {
        (p.role, Some(p.worker_id.clone()))
    })
}

/// R6.3: the post-18 discussion and a task per sign-posting. STAGE is
/// checked (female, 16 or over on the meeting day, CSE: the category M3
/// decided, else the record's) and the task says which condition does not
/// hold rather than being dropped.
pub fn either_way(decision: &VpgDecision, child: &DecidedChild) -> Vec<Task> {
    let (assignee_role, assignee_worker_id) = lead(decision, child);
    let task = |kind: TaskKind, description: String, unmet: Vec<StageUnmet>| Task {
        occasion: occasion(decision),
        lcs_person_id: child.lcs_person_id.clone(),
        assignee_role,
        assignee_worker_id: assignee_worker_id.clone(),
        kind,
        description,
        stage_unmet: unmet,
    };
    let mut tasks = Vec::new();
    if decision.still_at_risk_post_18 {
        tasks.push(task(
            TaskKind::Post18Discussion,
            "Still at risk of exploitation past 18: arrange a discussion with adult services, \
             mental health and/or the leaving care team to decide future support."
                .to_owned(),
            Vec::new(),
        ));
    }
    for service in &decision.signposting {
        tasks.push(match service {
            Signposting::Mappa => task(
                TaskKind::SignpostMappa,
                "Sign-post to MAPPA (multi-agency public protection arrangements).".to_owned(),
                Vec::new(),
            ),
            Signposting::Marac => task(
                TaskKind::SignpostMarac,
                "Sign-post to MARAC (multi-agency risk assessment conference).".to_owned(),
                Vec::new(),
            ),
            Signposting::Stage => {
                let category = decision.category.or(child.category);
                let unmet = stage_unmet(
                    child.gender,
                    child.date_of_birth,
                    category,
                    decision.meeting_date,
                );
                let mut description = "Sign-post to the STAGE project (for females aged 16 or \
                                       over groomed for sexual exploitation)."
                    .to_owned();
                if !unmet.is_empty() {
                    let reasons: Vec<&str> = unmet.iter().map(|u| stage_reason(*u)).collect();
                    description.push_str(&format!(
                        " Check eligibility: the STAGE conditions do not all hold: {}.",
                        reasons.join("; ")
                    ));
                }
                task(TaskKind::SignpostStage, description, unmet)
            }
        });
    }
    tasks
}

fn stage_reason(unmet: StageUnmet) -> &'static str {
    match unmet {
        StageUnmet::NotFemale => "the record does not say the child is female",
        StageUnmet::Under16 => "the child is under 16 on the meeting date",
        StageUnmet::NotCse => "the category of exploitation is not CSE",
    }
}

/// R6.3: a trafficked child's NRM referral request.
pub fn nrm_request(decision: &VpgDecision, child: &DecidedChild) -> NrmRequest {
    NrmRequest {
        occasion: occasion(decision),
        lcs_person_id: child.lcs_person_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(raw: &str) -> NaiveDate {
        raw.parse().unwrap()
    }

    fn worker(role: ProfessionalRole, id: &str) -> Professional {
        Professional {
            role,
            worker_id: WorkerId::parse(id).unwrap(),
            name: None,
            email: None,
        }
    }

    fn decision(kind: Decision) -> VpgDecision {
        VpgDecision {
            meeting_date: date("2026-12-03"),
            lcs_person_id: LcsPersonId::parse("LCS-1").unwrap(),
            decision: kind,
            outcome: "Outcome text".to_owned(),
            category: Some(VemtCategory::Cse),
            risk_level: Some(VemtRiskLevel::Medium),
            lead_professional: Some(LeadProfessional {
                worker_id: WorkerId::parse("W-LEAD").unwrap(),
                name: Some("Lee Lead".to_owned()),
                email: None,
            }),
            actions: vec![Action {
                action_id: crate::domain::ids::ActionId::parse("A-1").unwrap(),
                description: "Do the thing".to_owned(),
                owner_role: "social_worker".to_owned(),
                due_date: Some(date("2026-12-10")),
            }],
            still_at_risk_post_18: false,
            trafficked: false,
            signposting: Vec::new(),
        }
    }

    fn child(ehm: bool) -> DecidedChild {
        DecidedChild {
            lcs_person_id: LcsPersonId::parse("LCS-1").unwrap(),
            ehm_id: ehm.then(|| EhmId::parse("EHM-1").unwrap()),
            gender: Some(Gender::Female),
            date_of_birth: date("2010-05-06"),
            category: Some(VemtCategory::Cse),
            professionals: vec![
                worker(ProfessionalRole::TeamManager, "W-TM"),
                worker(ProfessionalRole::EarlyHelpWorker, "W-EH"),
                worker(ProfessionalRole::SocialWorker, "W-SW"),
            ],
        }
    }

    fn template() -> CaseNoteTemplate {
        CaseNoteTemplate::parse(
            "VPG {meeting_date}: {decision}\nOutcome: {outcome}\nActions:\n{actions}",
            &NOTE_PLACEHOLDERS,
        )
        .unwrap()
    }

    fn types(effects: &[Effect]) -> Vec<&'static str> {
        effects.iter().map(Effect::event_type).collect()
    }

    fn tasks(effects: &[Effect]) -> Vec<&Task> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Task(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn close_with_early_help_closes_the_marker_writes_four_letters_and_both_notes() {
        let effects = on_decision(&decision(Decision::Close), &child(true), &template());
        assert_eq!(
            types(&effects),
            [
                "lcs.hazard-marker.v1",
                "letter.v1",
                "letter.v1",
                "letter.v1",
                "letter.v1",
                "lcs.case-note.v1",
                "ehm.case-note.v1",
            ]
        );
        let letters: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Letter(l) => Some((l.recipient, l.template)),
                _ => None,
            })
            .collect();
        assert_eq!(
            letters,
            [
                (
                    LetterRecipient::LeadProfessional,
                    LetterTemplate::VemtClosure
                ),
                (LetterRecipient::YoungPerson, LetterTemplate::VemtClosure),
                (LetterRecipient::ParentCarer, LetterTemplate::VemtClosure),
                (LetterRecipient::Gp, LetterTemplate::VemtClosureGp),
            ]
        );
        let Effect::CaseNote(note) = &effects[5] else {
            panic!("a note")
        };
        assert_eq!(note.note_type, NoteType::Vemt);
        assert_eq!(note.dated, date("2026-12-03"));
        assert_eq!(note.title, "VPG 3 December 2026: closed to VEMT");
        assert!(note.body.contains("Outcome text"), "{}", note.body);
        assert!(
            note.body
                .contains("- Do the thing (A-1); owner: social_worker; due 10 December 2026"),
            "{}",
            note.body
        );
        let Effect::EhmCaseNote(copy) = &effects[6] else {
            panic!("a copy")
        };
        assert_eq!(copy.body, note.body);
        assert_eq!(copy.ehm_id.as_str(), "EHM-1");
    }

    #[test]
    fn close_without_early_help_has_no_ehm_copy() {
        let effects = on_decision(&decision(Decision::Close), &child(false), &template());
        assert!(!types(&effects).contains(&"ehm.case-note.v1"));
        assert!(types(&effects).contains(&"lcs.case-note.v1"));
        assert!(tasks(&effects).is_empty());
    }

    #[test]
    fn remain_writes_notes_profile_and_case_mapping_tasks_to_involved_professionals() {
        let effects = on_decision(&decision(Decision::Remain), &child(true), &template());
        assert_eq!(
            types(&effects),
            [
                "lcs.case-note.v1",
                "ehm.case-note.v1",
                "lcs.case-profile.v1",
                "lcs.task.v1",
                "lcs.task.v1",
                "lcs.task.v1",
            ]
        );
        let Effect::CaseProfile(profile) = &effects[2] else {
            panic!("a profile")
        };
        assert_eq!(profile.category, VemtCategory::Cse);
        assert_eq!(profile.risk_level, VemtRiskLevel::Medium);
        assert_eq!(profile.lead_professional.worker_id.as_str(), "W-LEAD");
        let assignees: Vec<_> = tasks(&effects)
            .iter()
            .map(|t| {
                (
                    t.kind,
                    t.assignee_role,
                    t.assignee_worker_id.clone().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            assignees,
            [
                (
                    TaskKind::UpdateCaseMapping,
                    ProfessionalRole::SocialWorker,
                    "W-SW".to_owned()
                ),
                (
                    TaskKind::UpdateCaseMapping,
                    ProfessionalRole::EarlyHelpWorker,
                    "W-EH".to_owned()
                ),
                (
                    TaskKind::UpdateCaseMapping,
                    ProfessionalRole::LeadProfessional,
                    "W-LEAD".to_owned()
                ),
            ]
        );
        let no_ehm = on_decision(&decision(Decision::Remain), &child(false), &template());
        assert!(!types(&no_ehm).contains(&"ehm.case-note.v1"));
        assert!(!types(&no_ehm).contains(&"lcs.hazard-marker.v1"));
    }

    #[test]
    fn post_18_and_trafficked_apply_either_way() {
        for kind in [Decision::Close, Decision::Remain] {
            let mut d = decision(kind);
            d.still_at_risk_post_18 = true;
            d.trafficked = true;
            let effects = on_decision(&d, &child(false), &template());
            let post_18: Vec<_> = tasks(&effects)
                .into_iter()
                .filter(|t| t.kind == TaskKind::Post18Discussion)
                .collect();
            assert_eq!(post_18.len(), 1);
            assert_eq!(post_18[0].assignee_role, ProfessionalRole::LeadProfessional);
            assert!(post_18[0].description.contains("adult services"));
            assert_eq!(types(&effects).last(), Some(&"referral.nrm-request.v1"));
        }
        let effects = on_decision(&decision(Decision::Close), &child(false), &template());
        assert!(!types(&effects).contains(&"referral.nrm-request.v1"));
    }

    fn stage_task(d: &VpgDecision, c: &DecidedChild) -> Task {
        let mut d = d.clone();
        d.signposting = vec![Signposting::Stage];
        either_way(&d, c).remove(0)
    }

    #[test]
    fn stage_for_a_female_of_16_in_cse_says_nothing_more() {
        let task = stage_task(&decision(Decision::Remain), &child(false));
        assert_eq!(task.kind, TaskKind::SignpostStage);
        assert!(task.stage_unmet.is_empty());
        assert!(!task.description.contains("do not all hold"));
    }

    #[test]
    fn stage_says_which_condition_fails_each_way() {
        let mut young = child(false);
        young.date_of_birth = date("2011-01-01");
        let task = stage_task(&decision(Decision::Remain), &young);
        assert_eq!(task.stage_unmet, [StageUnmet::Under16]);
        assert!(
            task.description.contains("under 16"),
            "{}",
            task.description
        );

        let mut male = child(false);
        male.gender = Some(Gender::Male);
        let task = stage_task(&decision(Decision::Remain), &male);
        assert_eq!(task.stage_unmet, [StageUnmet::NotFemale]);
        assert!(task.description.contains("female"));

        let mut cce = decision(Decision::Remain);
        cce.category = Some(VemtCategory::Cce);
        let task = stage_task(&cce, &child(false));
        assert_eq!(task.stage_unmet, [StageUnmet::NotCse]);
        assert!(task.description.contains("not CSE"));

        // Without a category from the meeting, the record's counts.
        let mut none = decision(Decision::Close);
        none.category = None;
        let mut record_cce = child(false);
        record_cce.category = Some(VemtCategory::Cce);
        assert_eq!(
            stage_task(&none, &record_cce).stage_unmet,
            [StageUnmet::NotCse]
        );
    }

    #[test]
    fn mappa_and_marac_become_tasks_in_order() {
        let mut d = decision(Decision::Close);
        d.signposting = vec![Signposting::Marac, Signposting::Mappa];
        let kinds: Vec<_> = either_way(&d, &child(false))
            .iter()
            .map(|t| t.kind)
            .collect();
        assert_eq!(kinds, [TaskKind::SignpostMarac, TaskKind::SignpostMappa]);
    }

    #[test]
    fn without_a_named_lead_the_tasks_go_to_the_social_worker() {
        let mut d = decision(Decision::Close);
        d.lead_professional = None;
        d.still_at_risk_post_18 = true;
        let task = either_way(&d, &child(false)).remove(0);
        assert_eq!(task.assignee_role, ProfessionalRole::SocialWorker);
        assert_eq!(task.assignee_worker_id.unwrap().as_str(), "W-SW");
    }

    #[test]
    fn a_superseded_decision_records_its_note_and_referrals_but_sets_no_state() {
        for kind in [Decision::Close, Decision::Remain] {
            let mut d = decision(kind);
            d.trafficked = true;
            d.still_at_risk_post_18 = true;
            let effects = on_superseded_decision(&d, &child(true), &template());
            assert_eq!(
                types(&effects),
                [
                    "lcs.case-note.v1",
                    "ehm.case-note.v1",
                    "lcs.task.v1",
                    "referral.nrm-request.v1"
                ],
                "{kind:?}"
            );
            assert_eq!(tasks(&effects)[0].kind, TaskKind::Post18Discussion);
        }
    }

    #[test]
    fn every_effect_has_a_distinct_key() {
        let mut d = decision(Decision::Remain);
        d.still_at_risk_post_18 = true;
        d.trafficked = true;
        d.signposting = vec![Signposting::Mappa, Signposting::Marac, Signposting::Stage];
        let effects = on_decision(&d, &child(true), &template());
        let mut keys: Vec<_> = effects.iter().map(Effect::key).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
