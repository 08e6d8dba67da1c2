//! Police episodes: the highest revision wins, in any arrival order (R8.2).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::ChildId;
use crate::domain::episode::{Episode, EpisodeReport, EpisodeStatus, Revision, RiskLevel, revise};
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
    let held = sqlx::query!(
        "SELECT revision, status, risk_level, ever_high, reported_missing_at, returned_at, changed_at
         FROM episodes WHERE episode_id = $1",
        report.episode_id.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| -> anyhow::Result<(Episode, u32)> {
        let episode = episode_from_row(
            report.episode_id.as_str(),
            &r.status,
            &r.risk_level,
            r.ever_high,
            r.reported_missing_at,
            r.returned_at,
            r.changed_at,
        )?;
        Ok((episode, u32::try_from(r.revision)?))
    })
    .transpose()?;
    // The rule is the domain's; the upsert keeps its guard so that a writer
    // racing outside the caller's lock still never lets a lower revision win.
    let episode = match revise(held.as_ref().map(|(e, r)| (e, *r)), report, now) {
        Revision::Ignored => return Ok(Stored::Ignored),
        Revision::OlderButHigh(episode) => {
            return Ok(match remember_high(conn, &episode).await? {
                true => Stored::OlderButHigh,
                false => Stored::Ignored,
            });
        }
        Revision::Applied(episode) => episode,
    };
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
        episode.episode_id.as_str(),
        report.person.police_person_id.as_str(),
        revision,
        episode.status.as_str(),
        episode.risk_level.as_str(),
        episode.ever_high,
        episode.reported_missing_at,
        episode.returned_at,
        episode.changed_at,
        document
    )
    .execute(&mut *conn)
    .await?;
    if applied.rows_affected() == 1 {
        return Ok(Stored::Applied);
    }
    // Lost that race: the newer revision held stands, but a high grade counts.
    if report.risk_level == RiskLevel::High {
        let remembered = Episode {
            ever_high: true,
            changed_at: now,
            ..episode
        };
        if remember_high(conn, &remembered).await? {
            return Ok(Stored::OlderButHigh);
        }
    }
    Ok(Stored::Ignored)
}

/// Sets `ever_high` on a held episode that lacks it; `false` if it had it.
async fn remember_high(conn: &mut PgConnection, episode: &Episode) -> sqlx::Result<bool> {
    let remembered = sqlx::query!(
        "UPDATE episodes SET ever_high = true, changed_at = $2 WHERE episode_id = $1 AND NOT ever_high",
        episode.episode_id.as_str(),
        episode.changed_at
    )
    .execute(conn)
    .await?;
    Ok(remembered.rows_affected() == 1)
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

/// For each episode of a child's police persons, the police person and the
/// LCS person its newest report names (the data-quality checks, issue 11).
pub async fn links_of_child(
    conn: &mut PgConnection,
    child_id: ChildId,
) -> anyhow::Result<Vec<crate::domain::quality::EpisodeLink>> {
    use crate::domain::ids::{LcsPersonId, PolicePersonId};
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT e.episode_id, e.police_person_id, e.report->'person'->>'lcs_person_id'
         FROM episodes e JOIN police_persons p USING (police_person_id)
         WHERE p.child_id = $1 ORDER BY e.episode_id",
    )
    .bind(child_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(episode, police, lcs)| {
            Ok(crate::domain::quality::EpisodeLink {
                episode_id: EpisodeId::parse(&episode)?,
                police_person_id: PolicePersonId::parse(&police)?,
                lcs_person_id: lcs.as_deref().map(LcsPersonId::parse).transpose()?,
            })
        })
        .collect()
}
