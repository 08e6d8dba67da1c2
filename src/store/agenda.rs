//! Agenda items: a child on one Wednesday meeting's agenda (R2.1).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use super::ChildId;
use crate::domain::calendar::Meeting;
use crate::domain::criteria::{Assessment, Criterion};
use crate::domain::ids::EpisodeId;

// The item is domain: `simulate` keeps the same items in memory.
pub use crate::domain::queue::Item;

// Also read and written one by one when operations move a meeting
// (`meetings.rs`); a batch's units of work use `store::batch`.
pub async fn item(
    conn: &mut PgConnection,
    meeting_date: NaiveDate,
    child_id: ChildId,
) -> anyhow::Result<Option<Item>> {
    let row = sqlx::query!(
        "SELECT assessment, trigger_plan_requested FROM agenda_items WHERE meeting_date = $1 AND child_id = $2",
        meeting_date,
        child_id
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Item {
            assessment: assessment_from_json(&r.assessment)?,
            trigger_plan_requested: r.trigger_plan_requested,
        })
    })
    .transpose()
}

pub async fn save(
    conn: &mut PgConnection,
    meeting: &Meeting,
    child_id: ChildId,
    item: &Item,
) -> anyhow::Result<()> {
    sqlx::query!(
        "INSERT INTO agenda_items (meeting_date, child_id, meeting_at, collation_at, assessment, trigger_plan_requested)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (meeting_date, child_id) DO UPDATE SET
             assessment = EXCLUDED.assessment, trigger_plan_requested = EXCLUDED.trigger_plan_requested,
             updated_at = now()",
        meeting.date,
        child_id,
        meeting.meeting_at,
        meeting.collation_at,
        serde_json::to_value(&item.assessment)?,
        item.trigger_plan_requested
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The children on a meeting's agenda, with what they met.
pub async fn queued(
    conn: &mut PgConnection,
    meeting_date: NaiveDate,
) -> anyhow::Result<Vec<(ChildId, Assessment)>> {
    Ok(items_of(conn, meeting_date)
        .await?
        .into_iter()
        .filter(|(_, item)| !item.assessment.is_empty())
        .map(|(child, item)| (child, item.assessment))
        .collect())
}

/// Meetings with children queued whose collation time has passed and which
/// have not been collated: due now, or missed while the service was down.
pub async fn uncollated_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Meeting>> {
    sqlx::query_as!(
        Meeting,
        r#"SELECT DISTINCT meeting_date AS "date!", meeting_at AS "meeting_at!", collation_at AS "collation_at!"
           FROM agenda_items a
           WHERE collation_at <= $1 AND assessment <> '{}'::jsonb
             AND NOT EXISTS (SELECT 1 FROM collations c WHERE c.meeting_date = a.meeting_date)
           ORDER BY 1"#,
        now
    )
    .fetch_all(conn)
    .await
}

/// Meetings not yet collated that have children queued, with how many.
pub async fn open_meetings(conn: &mut PgConnection) -> sqlx::Result<Vec<(Meeting, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT meeting_date, meeting_at, collation_at, count(*) AS "children!"
           FROM agenda_items a
           WHERE assessment <> '{}'::jsonb
             AND NOT EXISTS (SELECT 1 FROM collations c WHERE c.meeting_date = a.meeting_date)
           GROUP BY meeting_date, meeting_at, collation_at ORDER BY meeting_date"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                Meeting {
                    date: r.meeting_date,
                    meeting_at: r.meeting_at,
                    collation_at: r.collation_at,
                },
                r.children,
            )
        })
        .collect())
}

pub(crate) fn assessment_from_json(value: &Value) -> anyhow::Result<Assessment> {
    let object = value
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("stored assessment is not an object"))?;
    object
        .iter()
        .map(|(name, ids)| {
            let criterion = Criterion::parse(name)
                .ok_or_else(|| anyhow::anyhow!("stored criterion unknown"))?;
            let ids = ids
                .as_array()
                .ok_or_else(|| anyhow::anyhow!("stored evidence is not a list"))?
                .iter()
                .map(|id| Ok(EpisodeId::parse(id.as_str().unwrap_or_default())?))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok((criterion, ids))
        })
        .collect()
}

/// Meetings still to sit that have children queued.
pub async fn meetings_ahead(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Meeting>> {
    sqlx::query_as!(
        Meeting,
        r#"SELECT DISTINCT meeting_date AS "date!", meeting_at AS "meeting_at!", collation_at AS "collation_at!"
           FROM agenda_items WHERE meeting_at > $1 AND assessment <> '{}'::jsonb ORDER BY 1"#,
        now
    )
    .fetch_all(conn)
    .await
}

/// Every item of a meeting, empty ones included.
pub async fn items_of(
    conn: &mut PgConnection,
    meeting_date: NaiveDate,
) -> anyhow::Result<Vec<(ChildId, Item)>> {
    let rows = sqlx::query!(
        "SELECT child_id, assessment, trigger_plan_requested FROM agenda_items
         WHERE meeting_date = $1 ORDER BY child_id",
        meeting_date
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.child_id,
                Item {
                    assessment: assessment_from_json(&r.assessment)?,
                    trigger_plan_requested: r.trigger_plan_requested,
                },
            ))
        })
        .collect()
}

pub async fn delete(
    conn: &mut PgConnection,
    meeting_date: NaiveDate,
    child_id: ChildId,
) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM agenda_items WHERE meeting_date = $1 AND child_id = $2",
        meeting_date,
        child_id
    )
    .execute(conn)
    .await?;
    Ok(())
}
