//! Return home interviews: the latest statement of each wins, by the event's
//! time. One for an episode not yet received waits for it, joined by id.

use sqlx::PgConnection;

use super::ChildId;
use crate::domain::child::{ReturnHomeInterview, RhiStatus};
use crate::domain::ids::{EpisodeId, LcsPersonId, RhiId};

/// The interviews for a child's episodes (those for an episode not yet
/// received join when it arrives).
pub async fn of_child(
    conn: &mut PgConnection,
    child_id: ChildId,
) -> anyhow::Result<Vec<ReturnHomeInterview>> {
    let rows = sqlx::query!(
        "SELECT r.rhi_id, r.episode_id, r.lcs_person_id, r.status, r.offered_at, r.completed_at
         FROM return_home_interviews r JOIN episodes e USING (episode_id) JOIN police_persons p USING (police_person_id)
         WHERE p.child_id = $1 ORDER BY r.rhi_id",
        child_id
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ReturnHomeInterview {
                rhi_id: RhiId::parse(&r.rhi_id)?,
                episode_id: EpisodeId::parse(&r.episode_id)?,
                lcs_person_id: r
                    .lcs_person_id
                    .as_deref()
                    .map(LcsPersonId::parse)
                    .transpose()?,
                status: RhiStatus::parse(&r.status)
                    .ok_or_else(|| anyhow::anyhow!("stored interview status unknown"))?,
                offered_at: r.offered_at,
                completed_at: r.completed_at,
            })
        })
        .collect()
}
