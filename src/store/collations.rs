//! Frozen agendas: one per collated Wednesday meeting (R3.1).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use crate::domain::agenda::Agenda;

/// Records the frozen agenda; `false` when the meeting was collated already
/// (by this instance or another).
pub async fn record(
    conn: &mut PgConnection,
    agenda: &Agenda,
    collated_at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO collations (meeting_date, meeting_at, collation_at, collated_at, agenda)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (meeting_date) DO NOTHING",
        agenda.meeting_date,
        agenda.meeting_at,
        agenda.collation_at,
        collated_at,
        serde_json::to_value(agenda)?
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn is_collated(conn: &mut PgConnection, meeting_date: NaiveDate) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM collations WHERE meeting_date = $1) AS "collated!""#,
        meeting_date
    )
    .fetch_one(conn)
    .await
}

/// The agenda as it was published.
pub async fn frozen(
    conn: &mut PgConnection,
    meeting_date: NaiveDate,
) -> anyhow::Result<Option<Agenda>> {
    let agenda = sqlx::query_scalar!(
        "SELECT agenda FROM collations WHERE meeting_date = $1",
        meeting_date
    )
    .fetch_optional(conn)
    .await?;
    Ok(agenda.map(serde_json::from_value).transpose()?)
}

/// A collated meeting, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collated {
    pub meeting_date: NaiveDate,
    pub meeting_at: DateTime<Utc>,
    pub collation_at: DateTime<Utc>,
    pub collated_at: DateTime<Utc>,
    pub children: i64,
}

/// Every collated meeting, newest first.
pub async fn list(conn: &mut PgConnection) -> sqlx::Result<Vec<Collated>> {
    sqlx::query_as!(
        Collated,
        r#"SELECT meeting_date, meeting_at, collation_at, collated_at,
                  jsonb_array_length(agenda->'items')::bigint AS "children!"
           FROM collations ORDER BY meeting_date DESC"#
    )
    .fetch_all(conn)
    .await
}
