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

pub async fn store(
    conn: &mut PgConnection,
    report: &EpisodeReport,
    now: DateTime<Utc>,
) -> anyhow::Result<Stored> {
    let high = report.risk_level == RiskLevel::High;
    let revision = i32::try_from(report.revision)?;
    let document = document(report);
    let applied = sqlx::query!(
        "INSERT INTO episodes (episode_id, police_person_id, revision, status, risk_level, ever_high,
                               reported_missing_at, returned_at, changed_at, report)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (episode_id) DO UPDATE SET
             police_person_id = EXCLUDED.police_person_id, revision = EXCLUDED.revision,
             status = EXCLUDED.status, risk_level = EXCLUDED.risk_level,
             ever_high = episodes.ever_high OR EXCLUDED.ever_high,
             reported_missing_at = EXCLUDED.reported_missing_at, returned_at = EXCLUDED.returned_at,
             changed_at = EXCLUDED.changed_at, report = EXCLUDED.report
         WHERE episodes.revision < EXCLUDED.revision",
        report.episode_id.as_str(),
        report.person.police_person_id.as_str(),
        revision,
        report.status.as_str(),
        report.risk_level.as_str(),
        high,
        report.reported_missing_at,
        report.returned_at,
        now,
        document
    )
    .execute(&mut *conn)
    .await?;
    if applied.rows_affected() == 1 {
        return Ok(Stored::Applied);
    }
    if high {
        let remembered = sqlx::query!(
            "UPDATE episodes SET ever_high = true, changed_at = $2 WHERE episode_id = $1 AND NOT ever_high",
            report.episode_id.as_str(),
            now
        )
        .execute(conn)
        .await?;
        if remembered.rows_affected() == 1 {
            return Ok(Stored::OlderButHigh);
        }
    }
    Ok(Stored::Ignored)
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
            Ok(Episode {
                episode_id: EpisodeId::parse(&r.episode_id)?,
                status: EpisodeStatus::parse(&r.status)
                    .ok_or_else(|| anyhow::anyhow!("stored episode status unknown"))?,
                risk_level: RiskLevel::parse(&r.risk_level)
                    .ok_or_else(|| anyhow::anyhow!("stored episode risk level unknown"))?,
                ever_high: r.ever_high,
                reported_missing_at: r.reported_missing_at,
                returned_at: r.returned_at,
                changed_at: r.changed_at,
            })
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

pub async fn reported_person(
    conn: &mut PgConnection,
    episode_id: &EpisodeId,
) -> sqlx::Result<ReportedPersonRow> {
    sqlx::query_as!(
        ReportedPersonRow,
        r#"SELECT police_person_id,
                  report->'person'->>'given_name' AS given_name,
                  report->'person'->>'family_name' AS family_name,
                  (report->'person'->>'date_of_birth')::date AS date_of_birth
           FROM episodes WHERE episode_id = $1"#,
        episode_id.as_str()
    )
    .fetch_one(conn)
    .await
}
