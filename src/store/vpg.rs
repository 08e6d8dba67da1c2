//! The weekly and monthly VPG agendas (R3.4, R6.4): the children they are
//! built from, and one row per published agenda.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::ChildId;

/// A child with an LCS record, as the VPG agendas read it.
#[derive(Debug, Clone)]
pub struct VpgChildRow {
    pub child_id: ChildId,
    pub lcs_person_id: String,
    pub police_person_ids: Vec<String>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub gender: Option<String>,
    pub vemt_status: String,
    pub vemt_category: Option<String>,
    pub vemt_risk_level: Option<String>,
}

/// The children whose LCS record gives one of these VEMT statuses.
pub async fn children_by_vemt_status(
    conn: &mut PgConnection,
    statuses: &[&str],
) -> sqlx::Result<Vec<VpgChildRow>> {
    let statuses: Vec<String> = statuses.iter().map(|s| (*s).to_owned()).collect();
    sqlx::query_as!(
        VpgChildRow,
        r#"SELECT c.child_id,
                  c.lcs_person_id AS "lcs_person_id!",
                  coalesce((SELECT array_agg(p.police_person_id ORDER BY p.police_person_id)
                            FROM police_persons p WHERE p.child_id = c.child_id), '{}') AS "police_person_ids!",
                  c.record->>'given_name' AS "given_name!",
                  c.record->>'family_name' AS "family_name!",
                  (c.record->>'date_of_birth')::date AS "date_of_birth!",
                  c.record->>'gender' AS gender,
                  c.record->'vemt'->>'status' AS "vemt_status!",
                  c.record->'vemt'->>'category' AS vemt_category,
                  c.record->'vemt'->>'risk_level' AS vemt_risk_level
           FROM children c
           WHERE c.record IS NOT NULL AND c.lcs_person_id IS NOT NULL
             AND c.record->'vemt'->>'status' = ANY($1)
           ORDER BY c.child_id"#,
        &statuses
    )
    .fetch_all(conn)
    .await
}

pub async fn is_published(
    conn: &mut PgConnection,
    kind: &str,
    meeting_date: NaiveDate,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM vpg_agendas WHERE kind = $1 AND meeting_date = $2) AS "published!""#,
        kind,
        meeting_date
    )
    .fetch_one(conn)
    .await
}

/// Records the published agenda; `false` when it was published already.
pub async fn record(
    conn: &mut PgConnection,
    kind: &str,
    meeting_date: NaiveDate,
    published_at: DateTime<Utc>,
    agenda: serde_json::Value,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO vpg_agendas (kind, meeting_date, published_at, agenda)
         VALUES ($1, $2, $3, $4) ON CONFLICT (kind, meeting_date) DO NOTHING",
        kind,
        meeting_date,
        published_at,
        agenda
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A published agenda and when it was published.
pub async fn stored(
    conn: &mut PgConnection,
    kind: &str,
    meeting_date: NaiveDate,
) -> sqlx::Result<Option<(DateTime<Utc>, serde_json::Value)>> {
    sqlx::query_as(
        "SELECT published_at, agenda FROM vpg_agendas WHERE kind = $1 AND meeting_date = $2",
    )
    .bind(kind)
    .bind(meeting_date)
    .fetch_optional(conn)
    .await
}

/// Every published agenda: kind, meeting date, published at; newest first.
pub async fn list(
    conn: &mut PgConnection,
) -> sqlx::Result<Vec<(String, NaiveDate, DateTime<Utc>)>> {
    sqlx::query_as(
        "SELECT kind, meeting_date, published_at FROM vpg_agendas ORDER BY meeting_date DESC, kind",
    )
    .fetch_all(conn)
    .await
}
