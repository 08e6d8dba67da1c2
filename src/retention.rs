//! R8.6: records are kept for `retention.days` and then deleted. The
//! service is not the record of any child (LCS and the police are); it keeps
//! what the process needs while it needs it. Each run is one transaction,
//! safe on several instances at once, and counts by table what it deleted
//! (no identifiers are logged).
//!
//! What goes once older than the retention period (times on the service's
//! clock; meeting-keyed rows by meeting date):
//! - finished episodes (returned or cancelled, unchanged since), and their
//!   return home interviews; an episode still open is kept, however old;
//! - agenda items, frozen agendas, VPG agendas, meeting changes, outcomes,
//!   actions and VPG decisions of meetings before the cutoff;
//! - trigger plans received before the cutoff;
//! - published effects, and failed e-mails (with their payloads and names);
//!   effects still pending are never deleted;
//! - inbox (deduplication) entries, but the first one, which marks when the
//!   service began receiving (collation and the VPG agendas read it);
//! - a child, with their police identities, once nothing above refers to
//!   them, their LCS record has not changed since the cutoff, and they are
//!   not an active VEMT case. A child in use by an event being handled at
//!   that moment is left for the next run.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// How often the timer runs retention (the service's clock).
pub const RUN_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The tables retention deletes from, in the order it deletes: the metric
/// `vemt_retention_deleted_total` has a series for each from the start.
pub const TABLES: [&str; 14] = [
    "agenda_items",
    "collations",
    "vpg_agendas",
    "meeting_changes",
    "review_outcomes",
    "actions",
    "vpg_decisions",
    "episodes",
    "return_home_interviews",
    "trigger_plans",
    "outbox",
    "inbox",
    "police_persons",
    "children",
];

/// Rows deleted by one run, table by table, in the order deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged(pub Vec<(&'static str, u64)>);

impl Purged {
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

/// The instant before which records go.
pub fn cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - chrono::TimeDelta::days(i64::from(days))
}

/// Deletes everything older than `days` at `now`, in one transaction.
pub async fn purge(pool: &PgPool, now: DateTime<Utc>, days: u32) -> anyhow::Result<Purged> {
    let cutoff = cutoff(now, days);
    let before = cutoff.date_naive();
    let mut tx = pool.begin().await?;
    // One run at a time across instances; another instance's run is left
    // to finish (the next tick comes soon enough).
    let claimed = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock(hashtextextended('retention', 0)) AS "claimed!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    if !claimed {
        return Ok(Purged::default());
    }
    let mut purged = Purged::default();
    let c = &mut *tx;
    // One statement a table; the SQL stays literal for the checked macros.
    macro_rules! delete {
        ($table:literal, $sql:literal, $bound:expr) => {
            purged.0.push((
                $table,
                sqlx::query!($sql, $bound)
                    .execute(&mut *c)
                    .await?
                    .rows_affected(),
            ))
        };
    }
    delete!(
        "agenda_items",
        "DELETE FROM agenda_items WHERE meeting_date < $1",
        before
    );
    delete!(
        "collations",
        "DELETE FROM collations WHERE meeting_date < $1",
        before
    );
    delete!(
        "vpg_agendas",
        "DELETE FROM vpg_agendas WHERE meeting_date < $1",
        before
    );
    delete!(
        "meeting_changes",
        "DELETE FROM meeting_changes WHERE meeting_date < $1 AND coalesce(moved_to, meeting_date) < $1",
        before
    );
    delete!(
        "review_outcomes",
        "DELETE FROM review_outcomes WHERE meeting_date < $1",
        before
    );
    delete!(
        "actions",
        "DELETE FROM actions WHERE meeting_date < $1",
        before
    );
    delete!(
        "vpg_decisions",
        "DELETE FROM vpg_decisions WHERE meeting_date < $1",
        before
    );
    delete!(
        "episodes",
        "DELETE FROM episodes
         WHERE status <> 'open' AND changed_at < $1
           AND coalesce(returned_at, reported_missing_at) < $1",
        cutoff
    );
    delete!(
        "return_home_interviews",
        "DELETE FROM return_home_interviews r
         WHERE r.stated_at < $1
           AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.episode_id = r.episode_id)",
        cutoff
    );
    delete!(
        "trigger_plans",
        "DELETE FROM trigger_plans WHERE received_at < $1",
        cutoff
    );
    delete!(
        "outbox",
        "DELETE FROM outbox WHERE published_at < $1 OR failed_at < $1",
        cutoff
    );
    delete!(
        "inbox",
        "DELETE FROM inbox
         WHERE received_at < $1
           AND (source, event_id) <> ALL (
               SELECT source, event_id FROM inbox ORDER BY received_at, source, event_id LIMIT 1)",
        cutoff
    );
    let (persons, children) = purge_children(c, cutoff).await?;
    purged.0.push(("police_persons", persons));
    purged.0.push(("children", children));
    tx.commit().await?;
    debug_assert_eq!(
        purged.0.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        TABLES,
        "retention::TABLES names every table purged, in order"
    );
    Ok(purged)
}

/// Children nothing refers to any more, unchanged since the cutoff and not
/// active VEMT cases. Each is deleted only if the advisory locks intake takes
/// on its identities are free, so an event being applied to the child now
/// is never left pointing at a deleted row.
async fn purge_children(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
) -> anyhow::Result<(u64, u64)> {
    let candidates = sqlx::query!(
        r#"SELECT c.child_id AS "child_id!", c.lcs_person_id,
                  coalesce((SELECT array_agg(p.police_person_id ORDER BY p.police_person_id)
                            FROM police_persons p WHERE p.child_id = c.child_id),
                           '{}') AS "police_person_ids!"
           FROM children c
           WHERE c.updated_at < $1 AND NOT c.vemt_active
             AND NOT EXISTS (SELECT 1 FROM agenda_items a WHERE a.child_id = c.child_id)
             AND NOT EXISTS (SELECT 1 FROM police_persons p JOIN episodes e USING (police_person_id)
                             WHERE p.child_id = c.child_id)
             AND NOT EXISTS (SELECT 1 FROM police_persons p JOIN trigger_plans t USING (police_person_id)
                             WHERE p.child_id = c.child_id)
             AND NOT EXISTS (SELECT 1 FROM review_outcomes o WHERE o.lcs_person_id = c.lcs_person_id)
             AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.lcs_person_id = c.lcs_person_id)
             AND NOT EXISTS (SELECT 1 FROM vpg_decisions d WHERE d.lcs_person_id = c.lcs_person_id)
           ORDER BY c.child_id
           FOR UPDATE OF c SKIP LOCKED"#,
        cutoff
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut gone = Vec::new();
    'child: for child in candidates {
        let keys = child
            .lcs_person_id
            .iter()
            .map(|l| format!("lcs:{l}"))
            .chain(
                child
                    .police_person_ids
                    .iter()
                    .map(|p| format!("police:{p}")),
            );
        for key in keys {
            let free = sqlx::query_scalar!(
                r#"SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS "free!""#,
                key
            )
            .fetch_one(&mut *conn)
            .await?;
            if !free {
                continue 'child;
            }
        }
        gone.push(child.child_id);
    }
    let persons = sqlx::query!("DELETE FROM police_persons WHERE child_id = ANY($1)", &gone)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let children = sqlx::query!("DELETE FROM children WHERE child_id = ANY($1)", &gone)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok((persons, children))
}

/// Runs retention at most every `RUN_EVERY` of the service's clock.
pub struct Retention {
    pool: PgPool,
    days: u32,
    last_run: Option<DateTime<Utc>>,
}

impl Retention {
    pub fn new(pool: PgPool, days: u32) -> Self {
        Self {
            pool,
            days,
            last_run: None,
        }
    }

    /// Purges if due; `None` when not due (or another instance is running).
    pub async fn run_if_due(&mut self, now: DateTime<Utc>) -> anyhow::Result<Option<Purged>> {
        if self.last_run.is_some_and(|last| now - last < RUN_EVERY) {
            return Ok(None);
        }
        let purged = purge(&self.pool, now, self.days).await?;
        self.last_run = Some(now);
        Ok(Some(purged))
    }
}
