//! The outbox: effects written in the same transaction as the state that
//! caused them; the relay (`crate::outbox`) publishes them.

use sqlx::PgConnection;

use crate::contract::outbound::OutboundEvent;

/// Writes the event unless one with the same (deterministic) id is there.
pub async fn enqueue(conn: &mut PgConnection, event: &OutboundEvent) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO outbox (event_id, event_type, body) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING",
        event.id,
        event.event_type,
        event.body
    )
    .execute(conn)
    .await?;
    Ok(())
}
