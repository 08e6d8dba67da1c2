//! A batch of inbound events, one transaction (ARCHITECTURE.md): record them
//! in the inbox, read the state they need, apply them in order (the rules
//! are `process`'s), write the new state and the effects to the outbox,
//! commit. A crash before the commit redelivers the events; after it, the
//! inbox makes the redelivery a no-op.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::contract::inbound::InboundEvent;
use crate::contract::outbound::{self, Cause};
use crate::domain::calendar::MeetingCalendar;
use crate::domain::criteria::Thresholds;
use crate::domain::effects::Effect;
use crate::process;
use crate::store::{self, batch, children};
use crate::templates::Templates;

pub use crate::process::Refused;

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
        if is_transient_error(&err) || err.is::<batch::Vanished>() {
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

    /// Applies one event (a batch of one).
    pub async fn handle(
        &self,
        event: &InboundEvent,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        match self.handle_batch(&[event], now).await {
            Ok(mut results) => results.pop().expect("one result per event"),
            Err(failure) => Err(failure),
        }
    }

    /// Applies a batch of events in delivery order, as few transactions as
    /// the events allow: all in one when nothing fails. An event the rules
    /// or the database refuse is taken out and the rest run again, so it
    /// never holds the others back; a database error that no single event
    /// is known to cause splits the batch in halves until one is found. One
    /// result per event, in order. `Err` only when the database is
    /// unavailable: the caller retries the whole batch later (what was
    /// committed meanwhile is then a duplicate, by the inbox).
    pub async fn handle_batch(
        &self,
        events: &[&InboundEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<Outcome, Failure>>, Failure> {
        let mut results: Vec<Option<Result<Outcome, Failure>>> =
            std::iter::repeat_with(|| None).take(events.len()).collect();
        // Groups of indexes still to apply, in order; a lone event refused
        // by the database once gets one more try (a clash between instances
        // passes, the event's own data does not).
        let mut pending: VecDeque<(Vec<usize>, bool)> = VecDeque::new();
        pending.push_back(((0..events.len()).collect(), false));
        while let Some((group, retried)) = pending.pop_front() {
            let batch: Vec<&InboundEvent> = group.iter().map(|&i| events[i]).collect();
            match self.apply_batch(&batch, now).await {
                Ok(outcomes) => {
                    for (i, outcome) in group.into_iter().zip(outcomes) {
                        results[i] = Some(Ok(outcome));
                    }
                }
                Err(BatchFailure::At(at, failure)) => {
                    if let Failure::Transient(_) = failure {
                        return Err(failure);
                    }
                    if matches!(failure, Failure::DataRefused { .. }) && !retried {
                        pending.push_front((group, true));
                        continue;
                    }
                    results[group[at]] = Some(Err(failure));
                    let rest: Vec<usize> = group
                        .into_iter()
                        .enumerate()
                        .filter(|(k, _)| *k != at)
                        .map(|(_, i)| i)
                        .collect();
                    if !rest.is_empty() {
                        pending.push_front((rest, false));
                    }
                }
                Err(BatchFailure::Whole(failure)) => match failure {
                    Failure::Transient(_) => return Err(failure),
                    _ if group.len() > 1 => {
                        let (first, second) = group.split_at(group.len() / 2);
                        pending.push_front((second.to_vec(), false));
                        pending.push_front((first.to_vec(), false));
                    }
                    Failure::DataRefused { .. } if !retried => {
                        pending.push_front((group, true));
                    }
                    failure => results[group[0]] = Some(Err(failure)),
                },
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every event decided"))
            .collect())
    }

    /// One transaction: the inbox for every event in one statement, the
    /// identities' locks in one, then the state the events name read in one
    /// statement per table, every event applied to it in delivery order
    /// (the rules are `process`'s), and what changed written back with the
    /// effects, again one statement per table.
    async fn apply_batch(
        &self,
        events: &[&InboundEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, BatchFailure> {
        let whole = |err: anyhow::Error| BatchFailure::Whole(Failure::classify(err));
        let started = std::time::Instant::now();
        let mut tx = self.pool.begin().await.map_err(|e| whole(e.into()))?;
        let fresh = batch::record_inbox(&mut tx, events, now)
            .await
            .map_err(|e| whole(e.into()))?;
        let applied = || {
            events
                .iter()
                .zip(&fresh)
                .filter(|(_, fresh)| **fresh)
                .map(|(e, _)| *e)
        };
        let wanted = batch::Wanted::of(applied());
        batch::lock(&mut tx, &wanted.lock_keys())
            .await
            .map_err(|e| whole(e.into()))?;
        let calendar = store::meetings::calendar(&mut tx, &self.calendar)
            .await
            .map_err(|e| whole(e.into()))?;
        let rules = process::Rules {
            thresholds: &self.thresholds,
            calendar: &calendar,
            templates: &self.templates,
        };
        let locked = started.elapsed();
        let mut state = batch::load(&mut tx, &wanted).await.map_err(whole)?;
        let loaded = started.elapsed();
        let mut outcomes = vec![Outcome::Duplicate; events.len()];
        let mut outbox = Vec::new();
        for (k, event) in events.iter().enumerate() {
            if !fresh[k] {
                continue;
            }
            let mut effects = Vec::new();
            let handled = event_span(event)
                .in_scope(|| process::apply(&mut state, &rules, event, now, &mut effects))
                .map_err(|err| match err.downcast::<process::Refused>() {
                    Ok(process::Refused(rejection)) => {
                        BatchFailure::At(k, Failure::Refused(rejection))
                    }
                    Err(err) => whole(err),
                })?;
            outcomes[k] = match handled {
                process::Handled::Applied => Outcome::Applied,
                process::Handled::Ignored => Outcome::Ignored,
                process::Handled::AlreadyRecorded => Outcome::AlreadyRecorded,
            };
            let cause =
                Cause::inbound(&event.envelope.id, event.envelope.correlation_id.as_deref());
            outbox.extend(
                self.outbound(&effects, &cause, now)
                    .map_err(|err| BatchFailure::At(k, Failure::classify(err)))?,
            );
        }
        let decided = started.elapsed();
        batch::save(&mut tx, &state, &outbox, now)
            .await
            .map_err(whole)?;
        let saved = started.elapsed();
        tx.commit().await.map_err(|e| whole(e.into()))?;
        // Where a batch's time goes, for tuning (debug level: never data).
        tracing::debug!(
            events = events.len(),
            effects = outbox.len(),
            inbox_and_locks_us = locked.as_micros() as u64,
            read_us = (loaded - locked).as_micros() as u64,
            decide_us = (decided - loaded).as_micros() as u64,
            write_us = (saved - decided).as_micros() as u64,
            commit_us = (started.elapsed() - saved).as_micros() as u64,
            "batch applied"
        );
        Ok(outcomes)
    }

    fn outbound(
        &self,
        effects: &[Effect],
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<outbound::OutboundEvent>> {
        effects
            .iter()
            .map(|effect| Ok(outbound::build(effect, cause, &self.source, now)?))
            .collect()
    }

    /// R1.6/R1.7: time alone moves a live episode over the 72-hour line, and
    /// a child still missing after their meeting sat is due at the next one.
    /// Re-evaluates every child with a live episode, `SWEEP_CHILDREN` to a
    /// transaction (read, decide, write); returns how many.
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let live = children::with_live_episodes(&mut *self.pool.acquire().await?).await?;
        for chunk in live.chunks(SWEEP_CHILDREN) {
            let mut tx = self.pool.begin().await?;
            let calendar = store::meetings::calendar(&mut tx, &self.calendar).await?;
            let rules = process::Rules {
                thresholds: &self.thresholds,
                calendar: &calendar,
                templates: &self.templates,
            };
            let meeting = calendar.next_open_meeting(now);
            let wanted = batch::Wanted {
                children: chunk.iter().copied().collect(),
                ..batch::Wanted::default()
            };
            let mut state = match batch::load(&mut tx, &wanted).await {
                Ok(state) => state,
                // Merged into another since the list was read: the next
                // sweep sees the child it joined.
                Err(err) if err.is::<batch::Vanished>() => continue,
                Err(err) => return Err(err),
            };
            let mut outbox = Vec::new();
            for &child in chunk {
                let mut effects = Vec::new();
                if !process::evaluate(&mut state, &rules, child, now, &mut effects) {
                    continue;
                }
                let cause = Cause::timer(&format!("sweep/{child}/{}", meeting.date));
                outbox.extend(self.outbound(&effects, &cause, now)?);
            }
            batch::save(&mut tx, &state, &outbox, now).await?;
            tx.commit().await?;
        }
        Ok(live.len())
    }
}

/// The span of one event's work and logs. The envelope's attributes are
/// bounded and free of control characters (the parser refuses others), so
/// they are fit to log.
pub fn event_span(event: &InboundEvent) -> tracing::Span {
    let envelope = &event.envelope;
    tracing::info_span!(
        "event",
        id = %envelope.id,
        r#type = %envelope.event_type,
        correlationid = envelope.correlation_id.as_deref().unwrap_or(envelope.id.as_str()),
    )
}

/// Children the sweep evaluates in one transaction.
const SWEEP_CHILDREN: usize = 200;

/// Why a batch's transaction did not commit.
enum BatchFailure {
    /// The event at this index of the batch failed on its own.
    At(usize, Failure),
    /// The batch failed, and no one event is known to be the cause.
    Whole(Failure),
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
