//! Meeting outcomes (R5) and the actions of the minutes (R5.5). The outcome
//! text is kept for the agendas (R3.2, R3.4); the discussion never is.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::ChildId;
use crate::domain::child::Professional;
use crate::domain::ids::{EhmId, LcsPersonId, PolicePersonId};
use crate::domain::outcome::{ActionUpdate, ReviewOutcome};

/// What an outcome's effects need of a child the service knows by LCS id.
#[derive(Debug, Clone)]
pub struct KnownChild {
    pub child_id: ChildId,
    pub vemt_active: bool,
    pub ehm_id: Option<EhmId>,
    pub professionals: Vec<Professional>,
    /// The police persons linked to the child, in id order.
    pub police_person_ids: Vec<PolicePersonId>,
}

/// The child with this LCS id, or `None` when the service holds none.
pub async fn known_child(
    conn: &mut PgConnection,
    lcs: &LcsPersonId,
) -> anyhow::Result<Option<KnownChild>> {
    let row = sqlx::query!(
        r#"SELECT c.child_id, c.vemt_active,
                  c.record->>'ehm_id' AS ehm_id,
                  coalesce(c.record->'professionals', '[]'::jsonb) AS "professionals!",
                  coalesce((SELECT array_agg(p.police_person_id ORDER BY p.police_person_id)
                            FROM police_persons p WHERE p.child_id = c.child_id), '{}') AS "police_person_ids!"
           FROM children c WHERE c.lcs_person_id = $1"#,
        lcs.as_str()
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let professionals = super::professionals(r.professionals)?;
        Ok(KnownChild {
            child_id: r.child_id,
            vemt_active: r.vemt_active,
            ehm_id: r.ehm_id.as_deref().map(EhmId::parse).transpose()?,
            professionals,
            police_person_ids: r
                .police_person_ids
                .iter()
                .map(|p| PolicePersonId::parse(p))
                .collect::<Result<_, _>>()?,
        })
    })
    .transpose()
}

/// Keeps the outcome and its actions; `false` when an outcome for this
/// child and meeting is held already (nothing is changed then).
pub async fn record(
    conn: &mut PgConnection,
    outcome: &ReviewOutcome,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO review_outcomes (meeting_date, lcs_person_id, outcome, refer_to_vpg, recorded_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (meeting_date, lcs_person_id) DO NOTHING",
        outcome.meeting_date,
        outcome.lcs_person_id.as_str(),
        outcome.outcome,
        outcome.refer_to_vpg,
        now
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for action in &outcome.actions {
        // An action id already held (from another outcome) keeps its record.
        sqlx::query!(
            "INSERT INTO actions (action_id, lcs_person_id, meeting_date, description, owner_role, due_date, status, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) ON CONFLICT (action_id) DO NOTHING",
            action.action_id.as_str(),
            outcome.lcs_person_id.as_str(),
            outcome.meeting_date,
            action.description,
            action.owner_role,
            action.due_date,
            now
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Sets an action's status; `false` when no such action is held.
pub async fn update_action(
    conn: &mut PgConnection,
    update: &ActionUpdate,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE actions SET status = $2, updated_at = $3 WHERE action_id = $1",
        update.action_id.as_str(),
        update.status.as_str(),
        now
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The outcome recorded for a child (by service id) at an M1.
pub async fn outcome_of(
    conn: &mut PgConnection,
    child_id: ChildId,
    meeting_date: NaiveDate,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "SELECT o.outcome FROM review_outcomes o JOIN children c ON c.lcs_person_id = o.lcs_person_id
         WHERE c.child_id = $1 AND o.meeting_date = $2",
        child_id,
        meeting_date
    )
    .fetch_optional(conn)
    .await
}

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
