//! Meetings cancelled or moved by an operations command (R2.4).

use chrono::NaiveDate;
use sqlx::PgConnection;

use crate::domain::calendar::{MeetingCalendar, MeetingChanges};

/// The changes recorded by operations commands.
pub async fn changes(conn: &mut PgConnection) -> sqlx::Result<MeetingChanges> {
    let rows = sqlx::query!("SELECT meeting_date, moved_to FROM meeting_changes")
        .fetch_all(conn)
        .await?;
    let mut changes = MeetingChanges::default();
    for row in rows {
        match row.moved_to {
            Some(to) => changes.moved.insert(row.meeting_date, to),
            None => changes
                .cancelled
                .insert(row.meeting_date)
                .then_some(row.meeting_date),
        };
    }
    Ok(changes)
}

/// Cancels (`moved_to` None) or moves a regular meeting; a later command
/// for the same date replaces an earlier one.
pub async fn record(
    conn: &mut PgConnection,
    meeting_date: NaiveDate,
    moved_to: Option<NaiveDate>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO meeting_changes (meeting_date, moved_to) VALUES ($1, $2)
         ON CONFLICT (meeting_date) DO UPDATE SET moved_to = EXCLUDED.moved_to, changed_at = now()",
        meeting_date,
        moved_to
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The calendar as it stands: the configured one, with the operations
/// commands' changes laid over its own (a command wins for its date).
pub async fn calendar(
    conn: &mut PgConnection,
    configured: &MeetingCalendar,
) -> sqlx::Result<MeetingCalendar> {
    let commanded = changes(conn).await?;
    let mut merged = configured.changes.clone();
    for date in commanded.cancelled {
        merged.moved.remove(&date);
        merged.cancelled.insert(date);
    }
    for (date, to) in commanded.moved {
        merged.cancelled.remove(&date);
        merged.moved.insert(date, to);
    }
    Ok(configured.with_changes(merged))
}
