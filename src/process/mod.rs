//! Each unit of work once (ARCHITECTURE.md): read the state the batch needs,
//! decide in the pure core, write the new state and the effects. The
//! functions here are the deciding step, over [`State`] in memory: the
//! service loads it from PostgreSQL for a batch and writes back what
//! changed (`store::batch`), `import` does the same for file rows, and
//! `simulate` keeps it all in memory. No I/O and no clock in here.

pub mod state;

use chrono::{DateTime, Utc};

use crate::contract::inbound::{InboundEvent, InboundPayload, Rejection};
use crate::domain::agenda::{ChildFacts, ItemFacts, LastReviewed, ReviewMeeting, TriggerPlanRef};
use crate::domain::calendar::{Meeting, MeetingCalendar};
use crate::domain::child::{ChildRecord, ReturnHomeInterview};
use crate::domain::criteria::{ChildContext, Thresholds};
use crate::domain::effects::{Effect, UnmatchedPersonAlert};
use crate::domain::episode::{self, Episode, EpisodeReport, EpisodeStatus, Revision};
use crate::domain::identity::{self, RecordLink, ReportedChild};
use crate::domain::outcome::{
    self, ActionStatus, ActionUpdate, NoteTemplates, OutcomeChild, ReviewOutcome,
};
use crate::domain::quality::EpisodeLink;
use crate::domain::queue::{self, RequestSubject};
use crate::domain::trigger_plan::{self, LinkedChild, TriggerPlan};
use crate::domain::vpg_decision::{self, DecidedChild, VpgDecision};
use crate::templates::Templates;

pub use state::{ChildKey, State};
use state::{HeldAction, HeldEpisode, HeldPlan, PersonFacts, RecordedReview};

/// What the rules need besides the state: the criteria, the calendar (with
/// the operations' changes laid over it) and the case notes' wording.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    pub thresholds: &'a Thresholds,
    pub calendar: &'a MeetingCalendar,
    pub templates: &'a Templates,
}

/// What an event did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Applied,
    /// Not newer than what is held: acknowledged, ignored.
    Ignored,
    /// The same fact (a meeting outcome, a VPG decision) already recorded
    /// under another event id: acknowledged, ignored.
    AlreadyRecorded,
}

/// An event that parsed but that the state refuses (an outcome for a child
/// the service does not know, say): nothing it did is kept, and the
/// consumer dead-letters it with the reason, like any other bad input
/// (R8.1). The checks come before any change to the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: {0}")]
pub struct Refused(pub Rejection);

/// The rule an outcome or a VPG decision for an unknown child breaks.
pub const UNKNOWN_CHILD_RULE: &str = "must be a child the service knows (send lcs.child.v1 first)";
/// The rule an update of an unknown action breaks.
pub const UNKNOWN_ACTION_RULE: &str =
    "must be an action of a recorded meeting outcome (send meeting.review-outcome.v1 first)";

/// Applies one event of any inbound type at `now`.
pub fn apply(
    state: &mut State,
    rules: &Rules<'_>,
    event: &InboundEvent,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) -> anyhow::Result<Handled> {
    Ok(match &event.payload {
        InboundPayload::MissingEpisode(report) => {
            apply_episode(state, rules, report, now, effects)?
        }
        InboundPayload::Child(record) => apply_child(state, rules, record, now, effects)?,
        InboundPayload::ReturnHomeInterview(rhi) => {
            apply_interview(state, rhi, event.envelope.time.unwrap_or(now))
        }
        InboundPayload::TriggerPlan(plan) => apply_trigger_plan(state, rules, plan, now, effects),
        InboundPayload::ReviewOutcome(review) => {
            apply_review_outcome(state, rules, review, now, effects)?
        }
        InboundPayload::ActionUpdated(update) => apply_action_update(state, update, now)?,
        InboundPayload::VpgDecision(decision) => {
            apply_vpg_decision(state, rules, decision, now, effects)?
        }
    })
}

fn unknown_child() -> Refused {
    Refused(Rejection {
        path: "$.data.lcs_person_id".to_owned(),
        rule: UNKNOWN_CHILD_RULE.to_owned(),
    })
}

/// Meeting outcomes (R5, R4.3): applied once per child and meeting,
/// whatever the CloudEvent id; one for a child the service does not know is
/// refused. The outcome's free text is never logged.
fn apply_review_outcome(
    state: &mut State,
    rules: &Rules<'_>,
    review: &ReviewOutcome,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) -> Result<Handled, Refused> {
    let lcs = &review.lcs_person_id;
    let Some(child) = state.by_lcs_person(lcs) else {
        return Err(unknown_child());
    };
    let recorded = state
        .reviews
        .iter()
        .any(|r| &r.lcs_person_id == lcs && r.meeting_date == review.meeting_date);
    if recorded {
        tracing::info!(lcs_person_id = %lcs, meeting_date = %review.meeting_date, "meeting outcome already recorded; ignored");
        return Ok(Handled::AlreadyRecorded);
    }
    let meeting_at = state.meeting_at(review.meeting_date);
    state.reviews.push(RecordedReview {
        lcs_person_id: lcs.clone(),
        meeting_date: review.meeting_date,
        meeting_at,
        recorded_at: now,
        outcome: review.outcome.clone(),
    });
    for action in &review.actions {
        // An action id already held (from another outcome) keeps its record.
        state
            .actions
            .entry(action.action_id.clone())
            .or_insert(HeldAction {
                status: ActionStatus::Open,
                updated_at: now,
            });
    }
    state.changes.outcomes.push((review.clone(), now));
    let held = state.children.get(&child).cloned();
    let record = held.as_ref().and_then(|c| c.record.as_ref());
    let police = match &review.trigger_plan {
        None => None,
        Some(_) => {
            let episodes = state.episodes_of(child);
            request_subject(state, child, &episodes).or_else(|| {
                let police = state.police_of(child).into_iter().next()?;
                let record = record?;
                Some(RequestSubject {
                    police_person_id: police,
                    lcs_person_id: Some(lcs.clone()),
                    given_name: record.given_name.clone(),
                    family_name: record.family_name.clone(),
                    date_of_birth: record.date_of_birth,
                })
            })
        }
    };
    if review.trigger_plan.is_some() && police.is_none() {
        tracing::warn!(lcs_person_id = %lcs, meeting_date = %review.meeting_date, "meeting asked for a trigger plan but no police person of the child is known; no request sent");
    }
    let outcome_child = OutcomeChild {
        lcs_person_id: lcs.clone(),
        vemt_active: record.is_some_and(|r| r.vemt_active),
        ehm_id: record.and_then(|r| r.ehm_id.clone()),
        professionals: record.map(|r| r.professionals.clone()).unwrap_or_default(),
        police,
    };
    effects.extend(outcome::on_outcome(
        review,
        &outcome_child,
        NoteTemplates {
            outcome: &rules.templates.review_outcome,
            plan_request: &rules.templates.trigger_plan_requested,
        },
    ));
    tracing::info!(
        lcs_person_id = %lcs,
        meeting_date = %review.meeting_date,
        actions = review.actions.len(),
        refer_to_vpg = review.refer_to_vpg,
        trigger_plan = ?review.trigger_plan.as_ref().map(|p| p.request),
        "meeting outcome recorded"
    );
    Ok(Handled::Applied)
}

/// R5.5: an action of the minutes changes status.
fn apply_action_update(
    state: &mut State,
    update: &ActionUpdate,
    now: DateTime<Utc>,
) -> Result<Handled, Refused> {
    let Some(held) = state.actions.get_mut(&update.action_id) else {
        return Err(Refused(Rejection {
            path: "$.data.action_id".to_owned(),
            rule: UNKNOWN_ACTION_RULE.to_owned(),
        }));
    };
    held.status = update.status;
    held.updated_at = now;
    state.changes.actions.insert(update.action_id.clone());
    tracing::info!(action_id = %update.action_id, status = update.status.as_str(), "action updated");
    Ok(Handled::Applied)
}

/// R6: the monthly VPG meeting's decision for one child, applied once per
/// meeting and child, for a child whose LCS record is held. Decisions take
/// effect in order of meeting date: one arriving after a later meeting's
/// decision keeps its note and referrals but does not change the case's
/// state. The free-text outcome goes only into the case note.
fn apply_vpg_decision(
    state: &mut State,
    rules: &Rules<'_>,
    decision: &VpgDecision,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) -> Result<Handled, Refused> {
    let lcs = &decision.lcs_person_id;
    let child = state
        .by_lcs_person(lcs)
        .and_then(|child| state.children.get(&child))
        .and_then(|held| held.record.as_ref())
        .map(|record| DecidedChild {
            lcs_person_id: lcs.clone(),
            ehm_id: record.ehm_id.clone(),
            gender: record.gender,
            date_of_birth: record.date_of_birth,
            category: record.vemt_category,
            professionals: record.professionals.clone(),
        })
        .ok_or_else(unknown_child)?;
    let decided = state.decisions.entry(lcs.clone()).or_default();
    if decided.contains(&decision.meeting_date) {
        tracing::info!(lcs_person_id = %lcs, meeting_date = %decision.meeting_date, "VPG decision already applied; ignored");
        return Ok(Handled::AlreadyRecorded);
    }
    let later = decided
        .iter()
        .filter(|date| **date > decision.meeting_date)
        .max()
        .copied();
    decided.insert(decision.meeting_date);
    state
        .changes
        .decisions
        .push((decision.meeting_date, lcs.clone(), decision.decision, now));
    let effects_of = match later {
        None => vpg_decision::on_decision,
        Some(_) => vpg_decision::on_superseded_decision,
    };
    effects.extend(effects_of(decision, &child, &rules.templates.vpg_decision));
    match later {
        None => {
            tracing::info!(lcs_person_id = %lcs, meeting_date = %decision.meeting_date, decision = decision.decision.as_str(), "VPG decision applied")
        }
        Some(later) => tracing::warn!(
            lcs_person_id = %lcs,
            meeting_date = %decision.meeting_date,
            later_meeting_date = %later,
            decision = decision.decision.as_str(),
            "VPG decision arrived after a later meeting's decision: its note and referrals sent, the later decision's case state kept"
        ),
    }
    Ok(Handled::Applied)
}

fn apply_episode(
    state: &mut State,
    rules: &Rules<'_>,
    report: &EpisodeReport,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) -> anyhow::Result<Handled> {
    let person = &report.person;
    let child = reported_child(state, rules.thresholds, report, now, Some(effects))?;
    if person.lcs_person_id.is_some() {
        // The report may have just linked this police person to a child
        // whose record is held: plans waiting for that link go out now.
        release_trigger_plans(state, rules, child, effects);
    }
    if !store_revision(state, report, now) {
        return Ok(Handled::Ignored);
    }
    evaluate(state, rules, child, now, effects);
    Ok(Handled::Applied)
}

/// `import`: one row of police history, under the live rules for identity
/// (R7.1) and revisions (R8.2), with none of the effects: nobody alerted,
/// no plan released, no agenda item (the history counts when the child is
/// next evaluated). `changed_at` stands for the clock: when the row last
/// changed the episode, as far as it tells. `true` when the row changed
/// the episode (imported), `false` when it was held already (skipped).
pub fn backfill_episode(
    state: &mut State,
    thresholds: &Thresholds,
    report: &EpisodeReport,
    changed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    reported_child(state, thresholds, report, now, None)?;
    Ok(store_revision(state, report, changed_at))
}

/// The child a police report is about (R7.1). A police person no LCS
/// record links is kept as an unmatched child, and operations are told
/// once; the LCS link joins them later.
/// `effects` is `None` for history (`import`): nobody is alerted, and the
/// link records that nobody was.
fn reported_child(
    state: &mut State,
    thresholds: &Thresholds,
    report: &EpisodeReport,
    now: DateTime<Utc>,
    effects: Option<&mut Vec<Effect>>,
) -> anyhow::Result<ChildKey> {
    let police = &report.person.police_person_id;
    match identity::reported_child(state.linked(police), report.person.lcs_person_id.as_ref()) {
        ReportedChild::Linked { child, overruled } => {
            if overruled {
                // The LCS record is the authority on links; keep its one.
                tracing::warn!(police_person_id = %police, "episode names another LCS person than the LCS record links; the LCS link is kept");
            }
            Ok(child)
        }
        ReportedChild::Join { unmatched, lcs } => match state.by_lcs_person(lcs) {
            None => {
                state.set_lcs_person(unmatched, lcs);
                Ok(unmatched)
            }
            Some(known) => {
                absorb(state, thresholds, unmatched, known, now);
                Ok(known)
            }
        },
        ReportedChild::LinkToLcs(lcs) => {
            let child = match state.by_lcs_person(lcs) {
                Some(child) => child,
                None => state.create(Some(lcs))?,
            };
            state.link(police, child, false);
            Ok(child)
        }
        ReportedChild::NewUnmatched => {
            let child = state.create(None)?;
            state.link(police, child, effects.is_some());
            if let Some(effects) = effects {
                tracing::info!(police_person_id = %police, "police person not linked to any LCS child: kept as unmatched");
                effects.push(Effect::UnmatchedPersonAlert(UnmatchedPersonAlert {
                    police_person_id: police.clone(),
                }));
            }
            Ok(child)
        }
    }
}

/// Folds child `from` into child `into`: police links move, items of
/// meetings still open merge, every other item of `from` moves where `into`
/// has none, and `from` is gone; nothing is lost.
fn absorb(
    state: &mut State,
    thresholds: &Thresholds,
    from: ChildKey,
    into: ChildKey,
    now: DateTime<Utc>,
) {
    let open: Vec<(Meeting, queue::Item)> = state
        .items
        .iter()
        .filter(|((_, child), held)| *child == from && held.meeting.collation_at > now)
        .map(|(_, held)| (held.meeting, held.item.clone()))
        .collect();
    for police in state.police_of(from) {
        state.link(&police, into, false);
    }
    let episodes = state.episodes_of(into);
    for (meeting, item) in open {
        if let Some(held) = state.items.get(&(meeting.date, into)) {
            let merged = held.item.merged_with(&item, &episodes, thresholds);
            state.save_item(meeting, into, merged);
        }
    }
    let of_from: Vec<_> = state
        .items
        .keys()
        .filter(|(_, child)| *child == from)
        .copied()
        .collect();
    for key in of_from {
        let Some(held) = state.items.remove(&key) else {
            continue;
        };
        state.changes.items.insert(key);
        if !state.items.contains_key(&(key.0, into)) {
            state.save_item(held.meeting, into, held.item);
        }
    }
    state.delete_child(from);
}

fn apply_child(
    state: &mut State,
    rules: &Rules<'_>,
    record: &ChildRecord,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) -> anyhow::Result<Handled> {
    let target = match state.by_lcs_person(&record.lcs_person_id) {
        Some(child) => child,
        None => adopt_or_create(state, record)?,
    };
    let held = state.children.get(&target).and_then(|c| c.record.as_ref());
    if held.is_some_and(|held| held.revision >= record.revision) {
        return Ok(Handled::Ignored);
    }
    let mut others = Vec::new();
    for police in &record.police_person_ids {
        match identity::record_link(&target, state.linked(police)) {
            RecordLink::New => state.link(police, target, false),
            RecordLink::Same => {}
            RecordLink::Absorb(child) => absorb(state, rules.thresholds, child, target, now),
            RecordLink::MoveFrom(child) => {
                // LCS now links this police person to this child: move it,
                // and look again at the child it leaves.
                state.link(police, target, false);
                others.push(child);
            }
        }
    }
    state.store_record(target, record);
    release_trigger_plans(state, rules, target, effects);
    evaluate(state, rules, target, now, effects);
    for other in others {
        evaluate(state, rules, other, now, effects);
    }
    Ok(Handled::Applied)
}

/// A new LCS id: the child may already be held as an unmatched police
/// person the record lists; if so that child takes the id.
fn adopt_or_create(state: &mut State, record: &ChildRecord) -> anyhow::Result<ChildKey> {
    for police in &record.police_person_ids {
        if let Some((child, None)) = state.linked(police) {
            state.set_lcs_person(child, &record.lcs_person_id);
            return Ok(child);
        }
    }
    state.create(Some(&record.lcs_person_id))
}

/// The latest statement of an interview wins, by the event's time.
fn apply_interview(
    state: &mut State,
    rhi: &ReturnHomeInterview,
    stated_at: DateTime<Utc>,
) -> Handled {
    match state.interviews.get(&rhi.rhi_id) {
        Some((_, held)) if *held >= stated_at => Handled::Ignored,
        _ => {
            state
                .interviews
                .insert(rhi.rhi_id.clone(), (rhi.clone(), stated_at));
            state.changes.interviews.insert(rhi.rhi_id.clone());
            Handled::Applied
        }
    }
}

/// Keeps the plan (or its newer version; an equal or older one is
/// ignored). Its effects go out now when its police person is linked to a
/// child whose LCS record is held, else when that record arrives. The
/// free-text summary was never read (R8.4).
fn apply_trigger_plan(
    state: &mut State,
    rules: &Rules<'_>,
    plan: &TriggerPlan,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) -> Handled {
    if state
        .plans
        .get(&plan.plan_id)
        .is_some_and(|held| held.plan.version >= plan.version)
    {
        return Handled::Ignored;
    }
    let sent = state
        .plans
        .get(&plan.plan_id)
        .and_then(|held| held.effects_sent_version);
    state.plans.insert(
        plan.plan_id.clone(),
        HeldPlan {
            plan: plan.clone(),
            received_at: now,
            effects_sent_version: sent,
        },
    );
    state.changes.plans.insert(plan.plan_id.clone());
    match state.linked(&plan.police_person_id) {
        Some((child, _)) => release_trigger_plans(state, rules, child, effects),
        None => tracing::info!(
            police_person_id = %plan.police_person_id,
            plan_id = %plan.plan_id,
            "trigger plan kept until an LCS child record links its police person"
        ),
    }
    Handled::Applied
}

/// Once the child's LCS record is held (R4.2): the document, case note,
/// e-mail and alert of every plan of the child's police persons whose held
/// version has not had them, each version once, oldest issued first.
fn release_trigger_plans(
    state: &mut State,
    rules: &Rules<'_>,
    child: ChildKey,
    effects: &mut Vec<Effect>,
) {
    let Some(held) = state.children.get(&child) else {
        return;
    };
    let (Some(lcs_person_id), Some(record)) = (&held.lcs_person_id, &held.record) else {
        return;
    };
    let linked = LinkedChild {
        lcs_person_id: lcs_person_id.clone(),
        vemt_active: record.vemt_active,
        professionals: record.professionals.clone(),
    };
    let police = state.police_of(child);
    let mut unsent: Vec<&HeldPlan> = state
        .plans
        .values()
        .filter(|h| police.contains(&h.plan.police_person_id))
        .filter(|h| {
            h.effects_sent_version
                .is_none_or(|sent| sent < h.plan.version)
        })
        .collect();
    unsent.sort_by(|a, b| {
        (a.plan.issued_at, a.plan.version, &a.plan.plan_id).cmp(&(
            b.plan.issued_at,
            b.plan.version,
            &b.plan.plan_id,
        ))
    });
    let mut sent = Vec::new();
    for held in unsent {
        effects.extend(trigger_plan::on_received(
            &held.plan,
            &linked,
            held.received_at,
            rules.calendar.timezone,
            &rules.templates.trigger_plan_received,
        ));
        tracing::info!(
            plan_id = %held.plan.plan_id,
            version = held.plan.version,
            lcs_person_id = %linked.lcs_person_id,
            "trigger plan passed on"
        );
        sent.push(held.plan.plan_id.clone());
    }
    for plan_id in sent {
        if let Some(held) = state.plans.get_mut(&plan_id) {
            held.effects_sent_version = Some(held.plan.version);
            state.changes.plans_sent.insert(plan_id);
        }
    }
}

/// R2.2: the latest M1 whose collated agenda held the child and whose
/// meeting time has passed at `now`, or at which an outcome for the child
/// was recorded by `now` (R5), whichever is later.
pub fn last_reviewed(
    state: &State,
    child: ChildKey,
    now: DateTime<Utc>,
) -> Option<(chrono::NaiveDate, DateTime<Utc>)> {
    let collated = state
        .items
        .iter()
        .filter(|((date, c), held)| {
            *c == child
                && state.collated.contains(date)
                && held.meeting.meeting_at <= now
                && !held.item.assessment.is_empty()
        })
        .map(|(_, held)| (held.meeting.date, held.meeting.meeting_at));
    let recorded = state
        .reviews_of(child)
        .filter(|r| r.recorded_at <= now)
        .map(|r| (r.meeting_date, r.meeting_at));
    collated
        .chain(recorded)
        .max_by_key(|(date, at)| (*at, *date))
}

/// Runs the criteria for one child at `now` and keeps their item on the
/// next open meeting's agenda in step (R2.1), requesting the trigger plan
/// the first time the child is queued for that meeting (R4.1). `false` when
/// the child no longer exists (merged into another).
pub fn evaluate(
    state: &mut State,
    rules: &Rules<'_>,
    child: ChildKey,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) -> bool {
    let Some(held_child) = state.children.get(&child) else {
        return false;
    };
    let episodes = state.episodes_of(child);
    let context = ChildContext {
        vemt_active: held_child.record.as_ref().is_some_and(|r| r.vemt_active),
        last_reviewed: last_reviewed(state, child, now).map(|(_, at)| at),
    };
    let decision = queue::decide(&episodes, context, now, rules.thresholds, rules.calendar);
    let meeting = decision
        .as_ref()
        .map_or_else(|| rules.calendar.next_open_meeting(now), |d| d.meeting);
    let held = state.items.get(&(meeting.date, child)).map(|h| &h.item);
    let Some(mut item) = queue::updated_item(
        held,
        decision.map(|d| d.assessment),
        &episodes,
        rules.thresholds,
    ) else {
        return true;
    };
    if item.needs_trigger_plan_request()
        && let Some(subject) = request_subject(state, child, &episodes)
    {
        effects.push(Effect::TriggerPlanRequest(
            queue::trigger_plan_copy_request(subject, &meeting),
        ));
        item.trigger_plan_requested = true;
    }
    if held != Some(&item) {
        state.save_item(meeting, child, item);
    }
    true
}

/// The police person of the child's newest episode, named as LCS names the
/// child when the record is held.
pub fn request_subject(
    state: &State,
    child: ChildKey,
    episodes: &[Episode],
) -> Option<RequestSubject> {
    let newest = queue::newest_counted(episodes)?;
    let reported = state.episodes.get(&newest.episode_id)?;
    let held = state.children.get(&child)?;
    let (given_name, family_name, date_of_birth) = match &held.record {
        Some(r) => (r.given_name.clone(), r.family_name.clone(), r.date_of_birth),
        None => (
            reported.person.given_name.clone()?,
            reported.person.family_name.clone()?,
            reported.person.date_of_birth?,
        ),
    };
    Some(RequestSubject {
        police_person_id: reported.police_person_id.clone(),
        lcs_person_id: held.lcs_person_id.clone(),
        given_name,
        family_name,
        date_of_birth,
    })
}

/// R1.6/R1.7: the children the sweep looks at, those with an episode still
/// open, by key.
pub fn with_live_episodes(state: &State) -> Vec<ChildKey> {
    let live: std::collections::BTreeSet<ChildKey> = state
        .episodes
        .values()
        .filter(|h| h.episode.status == EpisodeStatus::Open)
        .filter_map(|h| state.police.get(&h.police_person_id).map(|l| l.child))
        .collect();
    live.into_iter().collect()
}

/// R8.2: keeps the report when it is newer than the revision held, or
/// remembers its high grade (R1.1); `false` when it changes nothing.
fn store_revision(state: &mut State, report: &EpisodeReport, now: DateTime<Utc>) -> bool {
    let held = state
        .episodes
        .get(&report.episode_id)
        .map(|h| (&h.episode, h.revision));
    match episode::revise(held, report, now) {
        Revision::Ignored => return false,
        Revision::OlderButHigh(episode) => {
            if let Some(held) = state.episodes.get_mut(&report.episode_id) {
                held.episode = episode;
                state
                    .changes
                    .remembered_high
                    .insert(report.episode_id.clone());
            }
        }
        Revision::Applied(episode) => {
            state.episodes.insert(
                report.episode_id.clone(),
                HeldEpisode {
                    episode,
                    revision: report.revision,
                    police_person_id: report.person.police_person_id.clone(),
                    person: PersonFacts {
                        lcs_person_id: report.person.lcs_person_id.clone(),
                        given_name: Some(report.person.given_name.clone()),
                        family_name: Some(report.person.family_name.clone()),
                        date_of_birth: Some(report.person.date_of_birth),
                    },
                },
            );
            state.changes.remembered_high.remove(&report.episode_id);
            state
                .changes
                .revised
                .insert(report.episode_id.clone(), report.clone());
        }
    }
    true
}

/// What an agenda item shows of a child at `as_of` (R3.2), for the meeting
/// of `meeting_date`: who they are (from the LCS record when held, else the
/// police's newest report), their episodes and interviews, their last
/// review before this meeting with its outcome, the newest trigger plan and
/// each episode's links (the data-quality checks). `None` when neither a
/// record nor a report names the child.
pub fn item_facts(
    state: &State,
    child: ChildKey,
    assessment: crate::domain::criteria::Assessment,
    meeting_date: chrono::NaiveDate,
    as_of: DateTime<Utc>,
    open_without_update_days: u32,
) -> Option<ItemFacts> {
    let held = state.children.get(&child)?;
    let newest_report = state
        .held_episodes_of(child)
        .max_by_key(|h| h.episode.reported_missing_at)
        .map(|h| &h.person);
    let (given_name, family_name, date_of_birth) = match (&held.record, newest_report) {
        (Some(r), _) => (r.given_name.clone(), r.family_name.clone(), r.date_of_birth),
        (None, Some(p)) => (
            p.given_name.clone()?,
            p.family_name.clone()?,
            p.date_of_birth?,
        ),
        (None, None) => return None,
    };
    let police = state.police_of(child);
    let newest_plan = state
        .plans
        .values()
        .filter(|h| police.contains(&h.plan.police_person_id))
        .max_by(|a, b| {
            (a.plan.issued_at, a.plan.version, &a.plan.plan_id).cmp(&(
                b.plan.issued_at,
                b.plan.version,
                &b.plan.plan_id,
            ))
        })
        .map(|h| TriggerPlanRef {
            plan_id: h.plan.plan_id.to_string(),
            version: h.plan.version,
            url: h.plan.url.as_str().to_owned(),
        });
    let mut links: Vec<EpisodeLink> = state
        .held_episodes_of(child)
        .map(|h| EpisodeLink {
            episode_id: h.episode.episode_id.clone(),
            police_person_id: h.police_person_id.clone(),
            lcs_person_id: h.person.lcs_person_id.clone(),
        })
        .collect();
    links.sort_by(|a, b| a.episode_id.cmp(&b.episode_id));
    let interviews = state
        .interviews
        .values()
        .filter(|(rhi, _)| {
            state.episodes.get(&rhi.episode_id).is_some_and(|h| {
                state.police.get(&h.police_person_id).map(|l| l.child) == Some(child)
            })
        })
        .map(|(rhi, _)| rhi.clone())
        .collect();
    Some(ItemFacts {
        child: ChildFacts {
            lcs_person_id: held.lcs_person_id.clone(),
            police_person_ids: police,
            given_name,
            family_name,
            date_of_birth,
            vemt_status: held.record.as_ref().map(|r| r.vemt_status),
            early_help: held.record.as_ref().is_some_and(|r| r.ehm_id.is_some()),
        },
        assessment,
        episodes: state.episodes_of(child),
        interviews,
        last_reviewed: last_reviewed(state, child, as_of)
            .filter(|(date, _)| *date != meeting_date)
            .map(|(date, _)| LastReviewed {
                date,
                meeting: ReviewMeeting::MissingReview,
                outcome: state
                    .reviews_of(child)
                    .find(|r| r.meeting_date == date)
                    .map(|r| r.outcome.clone()),
            }),
        trigger_plan: newest_plan,
        links,
        open_without_update_days,
    })
}
