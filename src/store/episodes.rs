//! Police episodes: the highest revision wins, in any arrival order (R8.2).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::ChildId;
use crate::domain::episode::{Episode, EpisodeReport, EpisodeStatus, RiskLevel};
use crate::domain::ids::EpisodeId;

/// What storing one revision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A newer revision (or the first) became the episode's state.
    Applied,
    /// Not newer than the revision held: acknowledged and ignored, except
    /// that it was graded high, which the episode now remembers (R1.1).
    OlderButHigh,
    /// Not newer, and nothing in it that counts.
    Ignored,
}

fn episode_from_row(
    episode_id: &str,
    status: &str,
    risk_level: &str,
    ever_high: bool,
    reported_missing_at: DateTime<Utc>,
    returned_at: Option<DateTime<Utc>>,
    changed_at: DateTime<Utc>,
) -> anyhow::Result<Episode> {
    Ok(Episode {
        episode_id: EpisodeId::parse(episode_id)?,
        status: EpisodeStatus::parse(status)
            .ok_or_else(|| anyhow::anyhow!("stored episode status unknown"))?,
        risk_level: RiskLevel::parse(risk_level)
            .ok_or_else(|| anyhow::anyhow!("stored episode risk level unknown"))?,
        ever_high,
        reported_missing_at,
        returned_at,
        changed_at,
    })
}

/// What the store keeps of a report besides its columns; the import command
/// keeps the same.
pub fn document(report: &EpisodeReport) -> serde_json::Value {
    serde_json::json!({
        "person": report.person,
        "last_seen_at": report.last_seen_at,
        "missing_from": report.missing_from,
        "trigger_plan_in_place": report.trigger_plan_in_place,
    })
}

/// Every episode of the child, under any of their police identities.
pub async fn of_child(conn: &mut PgConnection, child_id: ChildId) -> anyhow::Result<Vec<Episode>> {
    let rows = sqlx::query!(
        "SELECT e.episode_id, e.status, e.risk_level, e.ever_high, e.reported_missing_at, e.returned_at, e.changed_at
         FROM episodes e JOIN police_persons p USING (police_person_id)
         WHERE p.child_id = $1 ORDER BY e.reported_missing_at, e.episode_id",
        child_id
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            episode_from_row(
                &r.episode_id,
                &r.status,
                &r.risk_level,
                r.ever_high,
                r.reported_missing_at,
                r.returned_at,
                r.changed_at,
            )
        })
        .collect()
}

/// The person as the police last reported them on one episode.
#[derive(Debug, Clone)]
pub struct ReportedPersonRow {
    pub police_person_id: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<chrono::NaiveDate>,
}
