//! The inbox: an event is applied once per (source, id).

use sqlx::PgConnection;

/// Records the event; `false` when it was already recorded (a duplicate).
pub async fn record(
    conn: &mut PgConnection,
    source: &str,
    event_id: &str,
    event_type: &str,
    received_at: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO inbox (source, event_id, event_type, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        source,
        event_id,
        event_type,
        received_at
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the service had received anything before `at`: it was running
/// then, so a meeting collated at `at` with no child is worth saying so.
pub async fn any_before(
    conn: &mut PgConnection,
    at: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM inbox WHERE received_at < $1) AS "any!""#,
        at
    )
    .fetch_one(conn)
    .await
}
