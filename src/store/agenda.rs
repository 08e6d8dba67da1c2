//! Agenda items: a child on one Wednesday meeting's agenda (R2.1).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use super::ChildId;
use crate::domain::calendar::Meeting;
use crate::domain::criteria::{Assessment, Criterion};
use crate::domain::ids::EpisodeId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub assessment: Assessment,
    pub trigger_plan_requested: bool,
}

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

/// Items of a child still open for change (collation not yet passed), to be
/// merged when the child turns out to be another child (R7.1).
pub async fn open_items(
    conn: &mut PgConnection,
    child_id: ChildId,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(Meeting, Item)>> {
    let rows = sqlx::query!(
        "SELECT meeting_date, meeting_at, collation_at, assessment, trigger_plan_requested
         FROM agenda_items WHERE child_id = $1 AND collation_at > $2 ORDER BY meeting_date",
        child_id,
        now
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                Meeting {
                    date: r.meeting_date,
                    meeting_at: r.meeting_at,
                    collation_at: r.collation_at,
                },
                Item {
                    assessment: assessment_from_json(&r.assessment)?,
                    trigger_plan_requested: r.trigger_plan_requested,
                },
            ))
        })
        .collect()
}

/// Hands every item of `from` to `into`, for meetings where `into` has none;
/// the caller merges the rest itself.
pub async fn move_items(conn: &mut PgConnection, from: ChildId, into: ChildId) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE agenda_items a SET child_id = $2 WHERE child_id = $1
         AND NOT EXISTS (SELECT 1 FROM agenda_items b WHERE b.child_id = $2 AND b.meeting_date = a.meeting_date)",
        from,
        into
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM agenda_items WHERE child_id = $1", from)
        .execute(conn)
        .await?;
    Ok(())
}

/// R2.2: the meeting time of the latest M1 that held the child and has sat.
pub async fn last_reviewed(
    conn: &mut PgConnection,
    child_id: ChildId,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "SELECT max(meeting_at) FROM agenda_items
         WHERE child_id = $1 AND meeting_at <= $2 AND assessment <> '{}'::jsonb",
        child_id,
        now
    )
    .fetch_one(conn)
    .await
}

fn assessment_from_json(value: &Value) -> anyhow::Result<Assessment> {
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
