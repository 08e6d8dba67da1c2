//! The inbox: an event is applied once per (source, id).

use sqlx::PgConnection;

/// Records the event; `false` when it was already recorded (a duplicate).
pub async fn record(
    conn: &mut PgConnection,
    source: &str,
    event_id: &str,
    event_type: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO inbox (source, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        source,
        event_id,
        event_type
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
