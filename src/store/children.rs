//! Children and the police identities linked to them (R7.1).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::ChildId;
use crate::domain::child::ChildRecord;
use crate::domain::ids::{LcsPersonId, PolicePersonId};

/// What the queue needs to know about a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRow {
    pub child_id: ChildId,
    pub lcs_person_id: Option<String>,
    pub record_revision: Option<i32>,
    pub vemt_active: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
}

/// The child's row, locked until the transaction ends, so that two units of
/// work never evaluate one child at once.
pub async fn lock(conn: &mut PgConnection, child_id: ChildId) -> sqlx::Result<ChildRow> {
    sqlx::query_as!(
        ChildRow,
        r#"SELECT child_id, lcs_person_id, record_revision, vemt_active,
                  record->>'given_name' AS given_name,
                  record->>'family_name' AS family_name,
                  (record->>'date_of_birth')::date AS date_of_birth
           FROM children WHERE child_id = $1 FOR UPDATE"#,
        child_id
    )
    .fetch_one(conn)
    .await
}

pub async fn by_lcs_person(
    conn: &mut PgConnection,
    lcs: &LcsPersonId,
) -> sqlx::Result<Option<ChildId>> {
    sqlx::query_scalar!(
        "SELECT child_id FROM children WHERE lcs_person_id = $1",
        lcs.as_str()
    )
    .fetch_optional(conn)
    .await
}

/// The child a police person is linked to, with that child's LCS id.
pub async fn by_police_person(
    conn: &mut PgConnection,
    police: &PolicePersonId,
) -> sqlx::Result<Option<(ChildId, Option<String>)>> {
    let row = sqlx::query!(
        "SELECT c.child_id, c.lcs_person_id FROM police_persons p JOIN children c USING (child_id)
         WHERE p.police_person_id = $1",
        police.as_str()
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.child_id, r.lcs_person_id)))
}

/// `now` (the service's clock) stamps the row: retention (R8.6) counts from it.
pub async fn create(
    conn: &mut PgConnection,
    lcs: Option<&LcsPersonId>,
    now: DateTime<Utc>,
) -> sqlx::Result<ChildId> {
    sqlx::query_scalar!(
        "INSERT INTO children (lcs_person_id, created_at, updated_at) VALUES ($1, $2, $2) RETURNING child_id",
        lcs.map(LcsPersonId::as_str),
        now
    )
    .fetch_one(conn)
    .await
}

pub async fn set_lcs_person(
    conn: &mut PgConnection,
    child_id: ChildId,
    lcs: &LcsPersonId,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE children SET lcs_person_id = $2, updated_at = $3 WHERE child_id = $1",
        child_id,
        lcs.as_str(),
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Links a police person to a child, moving the link if it pointed elsewhere.
/// `unmatched` records that operations were told no LCS child is linked.
pub async fn link_police_person(
    conn: &mut PgConnection,
    police: &PolicePersonId,
    child_id: ChildId,
    unmatched: bool,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO police_persons (police_person_id, child_id, unmatched_alerted) VALUES ($1, $2, $3)
         ON CONFLICT (police_person_id) DO UPDATE SET child_id = EXCLUDED.child_id",
        police.as_str(),
        child_id,
        unmatched
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores the record when it is newer than the one held; `false` when an
/// equal or newer revision is already there.
pub async fn store_record(
    conn: &mut PgConnection,
    child_id: ChildId,
    record: &ChildRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let revision = i32::try_from(record.revision)?;
    let done = sqlx::query!(
        "UPDATE children SET record = $2, record_revision = $3, vemt_active = $4, updated_at = $5
         WHERE child_id = $1 AND (record_revision IS NULL OR record_revision < $3)",
        child_id,
        serde_json::to_value(record)?,
        revision,
        record.vemt_active(),
        now
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves every police identity of `from` to `into` (an unmatched child turned
/// out, by an LCS link, to be a known one).
pub async fn absorb_police_links(
    conn: &mut PgConnection,
    from: ChildId,
    into: ChildId,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE police_persons SET child_id = $2 WHERE child_id = $1",
        from,
        into
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut PgConnection, child_id: ChildId) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM children WHERE child_id = $1", child_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Police persons no LCS child is linked to yet, for operations (R7.1).
pub async fn unmatched_police_persons(conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT p.police_person_id FROM police_persons p JOIN children c USING (child_id)
         WHERE c.lcs_person_id IS NULL ORDER BY p.police_person_id"
    )
    .fetch_all(conn)
    .await
}

/// Children with an episode still open: the sweep looks at them (R1.6, R1.7).
pub async fn with_live_episodes(conn: &mut PgConnection) -> sqlx::Result<Vec<ChildId>> {
    sqlx::query_scalar!(
        "SELECT DISTINCT p.child_id AS \"child_id!\" FROM episodes e JOIN police_persons p USING (police_person_id)
         WHERE e.status = 'open' ORDER BY 1"
    )
    .fetch_all(conn)
    .await
}

/// Who a child is, for the agenda: from the LCS record when held, else from
/// the police's newest report of them.
#[derive(Debug, Clone)]
pub struct Identity {
    pub lcs_person_id: Option<String>,
    pub police_person_ids: Vec<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub vemt_status: Option<String>,
    pub early_help: bool,
}

pub async fn identity(conn: &mut PgConnection, child_id: ChildId) -> sqlx::Result<Identity> {
    sqlx::query_as!(
        Identity,
        r#"SELECT c.lcs_person_id,
                  coalesce((SELECT array_agg(p.police_person_id ORDER BY p.police_person_id)
                            FROM police_persons p WHERE p.child_id = c.child_id), '{}') AS "police_person_ids!",
                  coalesce(c.record->>'given_name', r.report->'person'->>'given_name') AS given_name,
                  coalesce(c.record->>'family_name', r.report->'person'->>'family_name') AS family_name,
                  coalesce(c.record->>'date_of_birth', r.report->'person'->>'date_of_birth')::date AS date_of_birth,
                  c.record->'vemt'->>'status' AS vemt_status,
                  coalesce(c.record->>'ehm_id', '') <> '' AS "early_help!"
           FROM children c
           LEFT JOIN LATERAL (
               SELECT e.report FROM episodes e JOIN police_persons p USING (police_person_id)
               WHERE p.child_id = c.child_id ORDER BY e.reported_missing_at DESC LIMIT 1
           ) r ON true
           WHERE c.child_id = $1"#,
        child_id
    )
    .fetch_one(conn)
    .await
}
