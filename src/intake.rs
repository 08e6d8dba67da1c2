//! One inbound event, one transaction (ARCHITECTURE.md): record it in the
//! inbox, apply it, re-evaluate the child, write the effects to the outbox,
//! commit. A crash before the commit redelivers the event; after it, the
//! inbox makes the redelivery a no-op.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::contract::inbound::{InboundEvent, InboundPayload};
use crate::contract::outbound::{self, Cause};
use crate::domain::calendar::MeetingCalendar;
use crate::domain::child::ChildRecord;
use crate::domain::criteria::{ChildContext, Thresholds};
use crate::domain::effects::{Effect, UnmatchedPersonAlert};
use crate::domain::episode::{Episode, EpisodeReport};
use crate::domain::identity::{self, RecordLink, ReportedChild};
use crate::domain::ids::{LcsPersonId, PolicePersonId};
use crate::domain::queue::{self, RequestSubject};
use crate::domain::trigger_plan::{self, TriggerPlan};
use crate::store::agenda;
use crate::store::children::{self, ChildRow};
use crate::store::episodes::{self, Stored};
use crate::store::{self, ChildId, inbox, return_home_interviews, trigger_plans};
use crate::templates::Templates;

mod outcomes;

/// An event that parsed but that the service's state refuses (an outcome
/// for a child it does not know, say): nothing it did is kept (the
/// transaction rolls back), and the consumer dead-letters it with the
/// reason, like any other bad input (R8.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: {0}")]
pub struct Refused(pub crate::contract::inbound::Rejection);

/// Why an event was not applied, classified once here by what the consumer
/// does with it (ARCHITECTURE.md): dead-letter it now, or retry it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The service's state refuses it (R8.1): dead-letter now.
    #[error("refused: {0}")]
    Refused(crate::contract::inbound::Rejection),
    /// PostgreSQL refused the event's own data (SQLSTATE class 22 data
    /// exception, 23 integrity constraint, 54 program limit such as an
    /// index row too large): the same event fails the same way every time.
    #[error("refused by the database: SQLSTATE {code}")]
    DataRefused { code: String },
    /// The database is unreachable, restarting, or asked for a retry
    /// (serialization failure, deadlock): retry with backoff.
    #[error("database unavailable: {0:#}")]
    Transient(anyhow::Error),
    /// A fault in the service, not in the message: dead-letter with a reason,
    /// so it never blocks the queue and can be replayed once fixed.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl Failure {
    pub fn classify(err: anyhow::Error) -> Self {
        let err = match err.downcast::<Refused>() {
            Ok(Refused(rejection)) => return Self::Refused(rejection),
            Err(err) => err,
        };
        if is_transient_error(&err) {
            return Self::Transient(err);
        }
        if let Some(code) = data_error_code(&err) {
            return Self::DataRefused { code };
        }
        Self::Internal(err)
    }

    /// The reason given in `x-vemt-error`: a path and a rule, never a value
    /// (PostgreSQL's message text can repeat the data, so only the code).
    pub fn rejection(&self) -> crate::contract::inbound::Rejection {
        use crate::contract::inbound::Rejection;
        match self {
            Self::Refused(rejection) => rejection.clone(),
            Self::DataRefused { code } => Rejection {
                path: "$".into(),
                rule: format!(
                    "refused by the database (SQLSTATE {code}): the data cannot be stored"
                ),
            },
            Self::Transient(_) | Self::Internal(_) => Rejection {
                path: "$".into(),
                rule: "the service failed to apply this event (internal error; see its log)".into(),
            },
        }
    }

    /// `x-vemt-error-kind` of the dead letter.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refused(_) => "rejected",
            Self::DataRefused { .. } => "data",
            Self::Transient(_) | Self::Internal(_) => "internal",
        }
    }
}

/// The SQLSTATE of a database error the event's data caused.
fn data_error_code(err: &anyhow::Error) -> Option<String> {
    let sqlx::Error::Database(db) = err.downcast_ref::<sqlx::Error>()? else {
        return None;
    };
    let code = db.code()?;
    ["22", "23", "54"]
        .iter()
        .any(|class| code.starts_with(class))
        .then(|| code.into_owned())
}

/// What an event did, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Seen before (same source and id): nothing done again.
    Duplicate,
    /// Not newer than what is held (an old revision): acknowledged, ignored.
    Ignored,
    /// The same fact (a meeting outcome, a VPG decision) already recorded
    /// under another event id: acknowledged, ignored.
    AlreadyRecorded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::AlreadyRecorded => "already_recorded",
        }
    }
}

#[derive(Clone)]
pub struct Intake {
    pool: PgPool,
    thresholds: Thresholds,
    calendar: MeetingCalendar,
    source: String,
    templates: Arc<Templates>,
}

impl Intake {
    pub fn new(
        pool: PgPool,
        thresholds: Thresholds,
        calendar: MeetingCalendar,
        source: String,
        templates: Templates,
    ) -> Self {
        Self {
            pool,
            thresholds,
            calendar,
            source,
            templates: Arc::new(templates),
        }
    }

    /// Applies one event in one transaction; a failure says what the
    /// consumer must do with the delivery.
    pub async fn handle(
        &self,
        event: &InboundEvent,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        self.apply(event, now).await.map_err(Failure::classify)
    }

    async fn apply(&self, event: &InboundEvent, now: DateTime<Utc>) -> anyhow::Result<Outcome> {
        let envelope = &event.envelope;
        let mut tx = self.pool.begin().await?;
        if !inbox::record(
            &mut tx,
            &envelope.source,
            &envelope.id,
            &envelope.event_type,
            now,
        )
        .await?
        {
            tx.rollback().await?;
            return Ok(Outcome::Duplicate);
        }
        let mut effects = Vec::new();
        let outcome = match &event.payload {
            InboundPayload::MissingEpisode(report) => {
                self.apply_episode(&mut tx, report, now, &mut effects)
                    .await?
            }
            InboundPayload::Child(record) => {
                self.apply_child(&mut tx, record, now, &mut effects).await?
            }
            InboundPayload::ReturnHomeInterview(rhi) => {
                let stated_at = envelope.time.unwrap_or(now);
                match return_home_interviews::store(&mut tx, rhi, stated_at).await? {
                    true => Outcome::Applied,
                    false => Outcome::Ignored,
                }
            }
            InboundPayload::VpgDecision(decision) => {
                crate::vpg_decisions::apply(&mut tx, decision, now, &self.templates, &mut effects)
                    .await?
            }
            InboundPayload::TriggerPlan(plan) => {
                self.apply_trigger_plan(&mut tx, plan, now, &mut effects)
                    .await?
            }
            InboundPayload::ReviewOutcome(outcome) => {
                self.apply_review_outcome(&mut tx, outcome, now, &mut effects)
                    .await?
            }
            InboundPayload::ActionUpdated(update) => {
                self.apply_action_update(&mut tx, update, now).await?
            }
        };
        let cause = Cause::inbound(&envelope.id, envelope.correlation_id.as_deref());
        self.write_effects(&mut tx, &effects, &cause, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// R1.6/R1.7: time alone moves a live episode over the 72-hour line, and
    /// a child still missing after their meeting sat is due at the next one.
    /// Re-evaluates every child with a live episode; returns how many.
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let live = children::with_live_episodes(&mut *self.pool.acquire().await?).await?;
        let calendar =
            store::meetings::calendar(&mut *self.pool.acquire().await?, &self.calendar).await?;
        let meeting = calendar.next_open_meeting(now);
        for child in &live {
            let mut tx = self.pool.begin().await?;
            let mut effects = Vec::new();
            if !self.evaluate(&mut tx, *child, now, &mut effects).await? {
                continue; // merged into another child since the list was read
            }
            let cause = Cause::timer(&format!("sweep/{child}/{}", meeting.date));
            self.write_effects(&mut tx, &effects, &cause, now).await?;
            tx.commit().await?;
        }
        Ok(live.len())
    }

    async fn write_effects(
        &self,
        conn: &mut PgConnection,
        effects: &[Effect],
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        for effect in effects {
            store::outbox::enqueue(conn, &outbound::build(effect, cause, &self.source, now)?)
                .await?;
        }
        Ok(())
    }

    async fn apply_episode(
        &self,
        conn: &mut PgConnection,
        report: &EpisodeReport,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<Outcome> {
        let person = &report.person;
        let mut keys = vec![
            format!("episode:{}", report.episode_id),
            format!("police:{}", person.police_person_id),
        ];
        keys.extend(person.lcs_person_id.iter().map(|l| format!("lcs:{l}")));
        store::lock_keys(conn, keys).await?;

        let child = self
            .reported_child(
                conn,
                &person.police_person_id,
                person.lcs_person_id.as_ref(),
                now,
                effects,
            )
            .await?;
        if person.lcs_person_id.is_some() {
            // The report may have just linked this police person to a child
            // whose record is held: plans waiting for that link go out now.
            self.release_trigger_plans(conn, child, effects).await?;
        }
        if episodes::store(conn, report, now).await? == Stored::Ignored {
            return Ok(Outcome::Ignored);
        }
        self.evaluate(conn, child, now, effects).await?;
        Ok(Outcome::Applied)
    }

    /// The child a police report is about (R7.1). A police person no LCS
    /// record links is kept as an unmatched child, and operations are told
    /// once; the LCS link joins them later.
    async fn reported_child(
        &self,
        conn: &mut PgConnection,
        police: &PolicePersonId,
        lcs: Option<&LcsPersonId>,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<ChildId> {
        let linked = children::by_police_person(conn, police).await?;
        let linked = linked.as_ref().map(|(c, l)| (*c, l.as_deref()));
        match identity::reported_child(linked, lcs) {
            ReportedChild::Linked { child, overruled } => {
                if overruled {
                    // The LCS record is the authority on links; keep its one.
                    tracing::warn!(police_person_id = %police, "episode names another LCS person than the LCS record links; the LCS link is kept");
                }
                Ok(child)
            }
            ReportedChild::Join { unmatched, lcs } => self.join(conn, unmatched, lcs, now).await,
            ReportedChild::LinkToLcs(lcs) => {
                let child = match children::by_lcs_person(conn, lcs).await? {
                    Some(child) => child,
                    None => children::create(conn, Some(lcs), now).await?,
                };
                children::link_police_person(conn, police, child, false).await?;
                Ok(child)
            }
            ReportedChild::NewUnmatched => {
                let child = children::create(conn, None, now).await?;
                children::link_police_person(conn, police, child, true).await?;
                tracing::info!(police_person_id = %police, "police person not linked to any LCS child: kept as unmatched");
                effects.push(Effect::UnmatchedPersonAlert(UnmatchedPersonAlert {
                    police_person_id: police.clone(),
                }));
                Ok(child)
            }
        }
    }

    /// An unmatched child now known by an LCS id: either that id is new to
    /// the service, or it is a child the service already holds.
    async fn join(
        &self,
        conn: &mut PgConnection,
        unmatched: ChildId,
        lcs: &LcsPersonId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<ChildId> {
        match children::by_lcs_person(conn, lcs).await? {
            None => {
                children::set_lcs_person(conn, unmatched, lcs, now).await?;
                Ok(unmatched)
            }
            Some(known) => {
                self.absorb(conn, unmatched, known, now).await?;
                Ok(known)
            }
        }
    }

    /// Folds child `from` into child `into` (see [`absorb`]).
    async fn absorb(
        &self,
        conn: &mut PgConnection,
        from: ChildId,
        into: ChildId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        absorb(conn, from, into, now, &self.thresholds).await
    }

    async fn apply_child(
        &self,
        conn: &mut PgConnection,
        record: &ChildRecord,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<Outcome> {
        let mut keys = vec![format!("lcs:{}", record.lcs_person_id)];
        keys.extend(
            record
                .police_person_ids
                .iter()
                .map(|p| format!("police:{p}")),
        );
        store::lock_keys(conn, keys).await?;

        let target = match children::by_lcs_person(conn, &record.lcs_person_id).await? {
            Some(child) => child,
            None => self.adopt_or_create(conn, record, now).await?,
        };
        let held = children::lock(conn, target).await?;
        if held
            .record_revision
            .is_some_and(|held| i64::from(held) >= i64::from(record.revision))
        {
            return Ok(Outcome::Ignored);
        }
        let mut others = Vec::new();
        for police in &record.police_person_ids {
            let linked = children::by_police_person(conn, police).await?;
            match identity::record_link(&target, linked.as_ref().map(|(c, l)| (*c, l.as_deref()))) {
                RecordLink::New => {
                    children::link_police_person(conn, police, target, false).await?
                }
                RecordLink::Same => {}
                RecordLink::Absorb(child) => self.absorb(conn, child, target, now).await?,
                RecordLink::MoveFrom(child) => {
                    // LCS now links this police person to this child: move it,
                    // and look again at the child it leaves.
                    children::link_police_person(conn, police, target, false).await?;
                    others.push(child);
                }
            }
        }
        children::store_record(conn, target, record, now).await?;
        self.release_trigger_plans(conn, target, effects).await?;
        self.evaluate(conn, target, now, effects).await?;
        for other in others {
            self.evaluate(conn, other, now, effects).await?;
        }
        Ok(Outcome::Applied)
    }

    /// A new LCS id: the child may already be held as an unmatched police
    /// person the record lists; if so that child takes the id.
    async fn adopt_or_create(
        &self,
        conn: &mut PgConnection,
        record: &ChildRecord,
        now: DateTime<Utc>,
    ) -> anyhow::Result<ChildId> {
        for police in &record.police_person_ids {
            if let Some((child, None)) = children::by_police_person(conn, police).await? {
                children::set_lcs_person(conn, child, &record.lcs_person_id, now).await?;
                return Ok(child);
            }
        }
        Ok(children::create(conn, Some(&record.lcs_person_id), now).await?)
    }

    /// Runs the criteria for one child at `now` and keeps their item on the
    /// next open meeting's agenda in step (R2.1), requesting the trigger plan
    /// the first time the child is queued for that meeting (R4.1). Returns
    /// `false` when the child no longer exists (merged into another).
    async fn evaluate(
        &self,
        conn: &mut PgConnection,
        child: ChildId,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<bool> {
        let row = match children::lock(conn, child).await {
            Ok(row) => row,
            Err(sqlx::Error::RowNotFound) => return Ok(false),
            Err(err) => return Err(err.into()),
        };
        let episodes = episodes::of_child(conn, child).await?;
        let context = ChildContext {
            vemt_active: row.vemt_active,
            last_reviewed: agenda::last_reviewed(conn, child, now)
                .await?
                .map(|r| r.meeting_at),
        };
        let calendar = store::meetings::calendar(conn, &self.calendar).await?;
        let decision = queue::decide(&episodes, context, now, &self.thresholds, &calendar);
        let meeting = decision
            .as_ref()
            .map_or_else(|| calendar.next_open_meeting(now), |d| d.meeting);
        let held = agenda::item(conn, meeting.date, child).await?;
        let Some(mut item) = queue::updated_item(
            held.as_ref(),
            decision.map(|d| d.assessment),
            &episodes,
            &self.thresholds,
        ) else {
            return Ok(true);
        };
        if item.needs_trigger_plan_request()
            && let Some(subject) = self.request_subject(conn, &row, &episodes).await?
        {
            effects.push(Effect::TriggerPlanRequest(
                queue::trigger_plan_copy_request(subject, &meeting),
            ));
            item.trigger_plan_requested = true;
        }
        if held.as_ref() != Some(&item) {
            agenda::save(conn, &meeting, child, &item).await?;
        }
        Ok(true)
    }

    /// The police person of the child's newest episode, named as LCS names
    /// the child when the service holds their record.
    async fn request_subject(
        &self,
        conn: &mut PgConnection,
        child: &ChildRow,
        episodes: &[Episode],
    ) -> anyhow::Result<Option<RequestSubject>> {
        let Some(newest) = queue::newest_counted(episodes) else {
            return Ok(None);
        };
        let reported = episodes::reported_person(conn, &newest.episode_id).await?;
        let missing =
            || anyhow::anyhow!("stored episode report lacks the person's name or date of birth");
        let (given_name, family_name, date_of_birth) =
            match (&child.given_name, &child.family_name, child.date_of_birth) {
                (Some(given), Some(family), Some(dob)) => (given.clone(), family.clone(), dob),
                _ => (
                    reported.given_name.ok_or_else(missing)?,
                    reported.family_name.ok_or_else(missing)?,
                    reported.date_of_birth.ok_or_else(missing)?,
                ),
            };
        Ok(Some(RequestSubject {
            police_person_id: PolicePersonId::parse(&reported.police_person_id)?,
            lcs_person_id: child
                .lcs_person_id
                .as_deref()
                .map(LcsPersonId::parse)
                .transpose()?,
            given_name,
            family_name,
            date_of_birth,
        }))
    }
}

/// Trigger plans received (R4.2).
impl Intake {
    /// Keeps the plan (or its newer version; an equal or older one is
    /// ignored). Its effects go out now when its police person is linked to
    /// a child whose LCS record is held, else when that record arrives
    /// (`apply_child`). The free-text summary was never read (R8.4).
    async fn apply_trigger_plan(
        &self,
        conn: &mut PgConnection,
        plan: &TriggerPlan,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<Outcome> {
        let keys = vec![
            format!("police:{}", plan.police_person_id),
            format!("trigger-plan:{}", plan.plan_id),
        ];
        store::lock_keys(conn, keys).await?;
        // The child's row before the plan's, in the order `apply_child`
        // takes them.
        let child = match children::by_police_person(conn, &plan.police_person_id).await? {
            Some((child, _)) => Some(children::lock(conn, child).await?.child_id),
            None => None,
        };
        if !trigger_plans::store(conn, plan, now).await? {
            return Ok(Outcome::Ignored);
        }
        match child {
            Some(child) => self.release_trigger_plans(conn, child, effects).await?,
            None => tracing::info!(
                police_person_id = %plan.police_person_id,
                plan_id = %plan.plan_id,
                "trigger plan kept until an LCS child record links its police person"
            ),
        }
        Ok(Outcome::Applied)
    }

    /// Once the child's LCS record is held: the document, case note, e-mail
    /// and alert of every plan of the child's police persons whose held
    /// version has not had them, each version once.
    async fn release_trigger_plans(
        &self,
        conn: &mut PgConnection,
        child: ChildId,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<()> {
        let Some(linked) = trigger_plans::linked_child(conn, child).await? else {
            return Ok(());
        };
        for held in trigger_plans::unsent_of_child(conn, child).await? {
            effects.extend(trigger_plan::on_received(
                &held.plan,
                &linked,
                held.received_at,
                self.calendar.timezone,
                &self.templates.trigger_plan_received,
            ));
            trigger_plans::mark_sent(conn, &held.plan.plan_id, held.plan.version).await?;
            tracing::info!(
                plan_id = %held.plan.plan_id,
                version = held.plan.version,
                lcs_person_id = %linked.lcs_person_id,
                "trigger plan passed on"
            );
        }
        Ok(())
    }
}

/// Folds child `from` into child `into`: police identities move, agenda
/// items for the same meeting merge, nothing is lost. Shared with the import
/// command, which joins identities as intake does.
pub(crate) async fn absorb(
    conn: &mut PgConnection,
    from: ChildId,
    into: ChildId,
    now: DateTime<Utc>,
    thresholds: &Thresholds,
) -> anyhow::Result<()> {
    for child in [from.min(into), from.max(into)] {
        children::lock(conn, child).await?;
    }
    let open = agenda::open_items(conn, from, now).await?;
    children::absorb_police_links(conn, from, into).await?;
    let episodes = episodes::of_child(conn, into).await?;
    for (meeting, item) in open {
        if let Some(held) = agenda::item(conn, meeting.date, into).await? {
            let merged = held.merged_with(&item, &episodes, thresholds);
            agenda::save(conn, &meeting, into, &merged).await?;
        }
    }
    agenda::move_items(conn, from, into).await?;
    children::delete(conn, from).await?;
    Ok(())
}

/// Failures that time may cure: the database unreachable, restarting,
/// overloaded, or a deadlock or serialisation conflict between instances.
pub fn is_transient_error(err: &anyhow::Error) -> bool {
    let Some(err) = err.downcast_ref::<sqlx::Error>() else {
        return false;
    };
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}
