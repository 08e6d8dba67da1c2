//! Meeting outcomes (R5) and the actions of the minutes (R5.5). The outcome
//! text is kept for the agendas (R3.2, R3.4); the discussion never is.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

/// An outcome as the weekly VPG agenda shows it.
#[derive(Debug, Clone)]
pub struct OutcomeRow {
    pub lcs_person_id: String,
    pub meeting_date: NaiveDate,
    pub outcome: String,
}

/// R3.4/R5.4: the outcomes of the latest M1 recorded by `as_of`.
pub async fn latest_meeting_outcomes(
    conn: &mut PgConnection,
    as_of: DateTime<Utc>,
) -> sqlx::Result<Vec<OutcomeRow>> {
    sqlx::query_as!(
        OutcomeRow,
        "SELECT lcs_person_id, meeting_date, outcome FROM review_outcomes
         WHERE recorded_at <= $1
           AND meeting_date = (SELECT max(meeting_date) FROM review_outcomes WHERE recorded_at <= $1)
         ORDER BY lcs_person_id",
        as_of
    )
    .fetch_all(conn)
    .await
}

/// R5.4: outcomes referring the child to M2 recorded after `since` (the
/// previous weekly agenda's publication; all when `None`) and by `as_of`.
pub async fn referred_since(
    conn: &mut PgConnection,
    since: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> sqlx::Result<Vec<OutcomeRow>> {
    sqlx::query_as!(
        OutcomeRow,
        "SELECT lcs_person_id, meeting_date, outcome FROM review_outcomes
         WHERE refer_to_vpg AND recorded_at <= $2 AND ($1::timestamptz IS NULL OR recorded_at > $1)
         ORDER BY meeting_date, lcs_person_id",
        since,
        as_of
    )
    .fetch_all(conn)
    .await
}

/// An open action, for M3's agenda.
#[derive(Debug, Clone)]
pub struct OpenAction {
    pub lcs_person_id: String,
    pub meeting_date: NaiveDate,
    pub owner_role: String,
    pub description: String,
}

/// R5.5: every open action, oldest meeting first.
pub async fn open_actions(conn: &mut PgConnection) -> sqlx::Result<Vec<OpenAction>> {
    sqlx::query_as!(
        OpenAction,
        "SELECT lcs_person_id, meeting_date, owner_role, description FROM actions
         WHERE status = 'open' ORDER BY meeting_date, action_id"
    )
    .fetch_all(conn)
    .await
}

/// When the previous agenda of this kind (before `meeting_date`) was
/// published, if any.
pub async fn previous_published(
    conn: &mut PgConnection,
    kind: &str,
    meeting_date: NaiveDate,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        r#"SELECT max(published_at) AS "published_at" FROM vpg_agendas WHERE kind = $1 AND meeting_date < $2"#,
        kind,
        meeting_date
    )
    .fetch_one(conn)
    .await
}
