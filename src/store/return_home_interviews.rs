//! Return home interviews: the latest statement of each wins, by the event's
//! time. One for an episode not yet received waits for it, joined by id.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::child::ReturnHomeInterview;

/// `false` when a statement at least as recent is already held.
pub async fn store(
    conn: &mut PgConnection,
    rhi: &ReturnHomeInterview,
    stated_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO return_home_interviews (rhi_id, episode_id, lcs_person_id, status, offered_at, completed_at, stated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (rhi_id) DO UPDATE SET
             episode_id = EXCLUDED.episode_id, lcs_person_id = EXCLUDED.lcs_person_id, status = EXCLUDED.status,
             offered_at = EXCLUDED.offered_at, completed_at = EXCLUDED.completed_at, stated_at = EXCLUDED.stated_at
         WHERE return_home_interviews.stated_at < EXCLUDED.stated_at",
        rhi.rhi_id.as_str(),
        rhi.episode_id.as_str(),
        rhi.lcs_person_id.as_ref().map(|id| id.as_str()),
        rhi.status.as_str(),
        rhi.offered_at,
        rhi.completed_at,
        stated_at
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
