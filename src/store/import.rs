//! Set-based SQL for the import command: one statement per step for a whole
//! batch of history rows, with the semantics of the live intake's
//! one-row functions (`episodes::store`, `children::create`,
//! `children::link_police_person`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Police persons already linked to a child, with whether that child has an
/// LCS id (`false`: held as unmatched, R7.1).
pub async fn linked_persons(
    conn: &mut PgConnection,
    police: &[String],
) -> sqlx::Result<HashMap<String, bool>> {
    let rows = sqlx::query!(
        r#"SELECT p.police_person_id, c.lcs_person_id IS NOT NULL AS "matched!"
           FROM police_persons p JOIN children c USING (child_id)
           WHERE p.police_person_id = ANY($1)"#,
        police
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.police_person_id, r.matched))
        .collect())
}

/// `store::lock_keys` for many keys in one round trip. `keys` must be sorted
/// and distinct (Rust's byte order, as `lock_keys` sorts), so the import and
/// the live intake always take the locks they share in the same order.
pub async fn lock_sorted_keys(conn: &mut PgConnection, keys: &[String]) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
         FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n",
        keys
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Police persons not yet linked, each with the LCS id a row names: linked
/// to that LCS child, created first when the service does not hold it.
pub async fn link_to_lcs_children(
    conn: &mut PgConnection,
    police: &[String],
    lcs: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO children (lcs_person_id)
         SELECT DISTINCT t.l FROM unnest($1::text[], $2::text[]) AS t(p, l)
         WHERE NOT EXISTS (SELECT 1 FROM police_persons p WHERE p.police_person_id = t.p)
         ON CONFLICT (lcs_person_id) DO NOTHING",
        police,
        lcs
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO police_persons (police_person_id, child_id, unmatched_alerted)
         SELECT t.p, c.child_id, false
         FROM unnest($1::text[], $2::text[]) AS t(p, l) JOIN children c ON c.lcs_person_id = t.l
         ON CONFLICT (police_person_id) DO NOTHING",
        police,
        lcs
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Police persons not yet linked and named with no LCS id: one new child
/// each, with no LCS id (unmatched, R7.1). `unmatched_alerted` stays false:
/// the import sends no alert.
pub async fn create_unmatched(conn: &mut PgConnection, police: &[String]) -> sqlx::Result<u64> {
    // Ids are drawn first so each new child can be linked to its person in
    // the same statement (RETURNING has no order to match them by).
    let done = sqlx::query!(
        "WITH fresh AS MATERIALIZED (
             SELECT t.p, nextval(pg_get_serial_sequence('children', 'child_id')) AS child_id
             FROM unnest($1::text[]) AS t(p)
             WHERE NOT EXISTS (SELECT 1 FROM police_persons p WHERE p.police_person_id = t.p)
         ), made AS (
             INSERT INTO children (child_id) OVERRIDING SYSTEM VALUE SELECT child_id FROM fresh
         )
         INSERT INTO police_persons (police_person_id, child_id, unmatched_alerted)
         SELECT p, child_id, false FROM fresh",
        police
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The revision and `ever_high` held for each of these episodes.
pub async fn held_episodes(
    conn: &mut PgConnection,
    episode_ids: &[String],
) -> sqlx::Result<HashMap<String, (i32, bool)>> {
    let rows = sqlx::query!(
        "SELECT episode_id, revision, ever_high FROM episodes WHERE episode_id = ANY($1)",
        episode_ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.episode_id, (r.revision, r.ever_high)))
        .collect())
}

/// One episode's newest state in a batch, in the columns of `episodes`.
#[derive(Debug, Default)]
pub struct EpisodeColumns {
    pub episode_id: Vec<String>,
    pub police_person_id: Vec<String>,
    pub revision: Vec<i32>,
    pub status: Vec<String>,
    pub risk_level: Vec<String>,
    pub ever_high: Vec<bool>,
    pub reported_missing_at: Vec<DateTime<Utc>>,
    pub returned_at: Vec<Option<DateTime<Utc>>>,
    pub changed_at: Vec<DateTime<Utc>>,
    pub report: Vec<serde_json::Value>,
}

/// `episodes::store` for many episodes at once (each at most once): the
/// highest revision wins and `ever_high` is kept (R1.1). `changed_at` only
/// moves forward. Returns the episodes whose state changed.
pub async fn upsert_episodes(
    conn: &mut PgConnection,
    c: &EpisodeColumns,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "INSERT INTO episodes (episode_id, police_person_id, revision, status, risk_level, ever_high,
                               reported_missing_at, returned_at, changed_at, report)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::text[], $5::text[], $6::bool[],
                              $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::jsonb[])
         ON CONFLICT (episode_id) DO UPDATE SET
             police_person_id = EXCLUDED.police_person_id, revision = EXCLUDED.revision,
             status = EXCLUDED.status, risk_level = EXCLUDED.risk_level,
             ever_high = episodes.ever_high OR EXCLUDED.ever_high,
             reported_missing_at = EXCLUDED.reported_missing_at, returned_at = EXCLUDED.returned_at,
             changed_at = GREATEST(episodes.changed_at, EXCLUDED.changed_at), report = EXCLUDED.report
         WHERE episodes.revision < EXCLUDED.revision
         RETURNING episode_id",
        &c.episode_id,
        &c.police_person_id,
        &c.revision,
        &c.status,
        &c.risk_level,
        &c.ever_high,
        &c.reported_missing_at,
        &c.returned_at as &[Option<DateTime<Utc>>],
        &c.changed_at,
        &c.report
    )
    .fetch_all(conn)
    .await
}

/// An older revision graded high marks the episode high (R1.1), as
/// `episodes::store` does. Returns the episodes that changed.
pub async fn remember_high(
    conn: &mut PgConnection,
    episode_ids: &[String],
    changed_at: &[DateTime<Utc>],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "UPDATE episodes e SET ever_high = true, changed_at = GREATEST(e.changed_at, t.at)
         FROM unnest($1::text[], $2::timestamptz[]) AS t(id, at)
         WHERE e.episode_id = t.id AND NOT e.ever_high
         RETURNING e.episode_id",
        episode_ids,
        changed_at
    )
    .fetch_all(conn)
    .await
}

/// For the rest of the transaction, plans every statement for the tables
/// as they are now. A cached generic plan made while the import started on
/// small tables (a full scan per key, say) would otherwise stay for the
/// whole run and slow each batch as the tables grow.
pub async fn plan_each_statement(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::raw_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(conn)
        .await?;
    Ok(())
}
