//! The inbox: an event is applied once per (source, id).

use sqlx::PgConnection;

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
