//! What `GET /metrics` reads from the database at each scrape: one round
//! trip, each part served by an index (pending and failed rows by their
//! partial indexes, the latest agendas by their primary keys).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::calendar::MeetingCalendar;
use crate::metrics::StoredState;
use crate::store::{collations, inbox};

pub async fn read(conn: &mut PgConnection) -> sqlx::Result<StoredState> {
    // The weekly agenda counts the children it lists for discussion, as
    // `vpg_agendas` logs them; M1's outcomes are context, not items.
    let row = sqlx::query!(
        r#"SELECT
             (SELECT count(*) FROM outbox
               WHERE published_at IS NULL AND failed_at IS NULL) AS "pending!",
             (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM outbox
               WHERE published_at IS NULL AND failed_at IS NULL) AS oldest_pending_seconds,
             (SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL) AS "failed!",
             (SELECT jsonb_array_length(agenda->'items')::bigint FROM collations
               ORDER BY meeting_date DESC LIMIT 1) AS missing_review_items,
             (SELECT (coalesce(jsonb_array_length(agenda->'sections'->'missing_category'), 0)
                    + coalesce(jsonb_array_length(agenda->'sections'->'new_referrals'), 0)
                    + coalesce(jsonb_array_length(agenda->'sections'->'deferred'), 0))::bigint
               FROM vpg_agendas WHERE kind = 'weekly'
               ORDER BY meeting_date DESC LIMIT 1) AS vpg_weekly_items,
             (SELECT jsonb_array_length(agenda->'items')::bigint FROM vpg_agendas
               WHERE kind = 'monthly' ORDER BY meeting_date DESC LIMIT 1) AS vpg_monthly_items"#
    )
    .fetch_one(conn)
    .await?;
    Ok(StoredState {
        outbox_pending: row.pending,
        outbox_oldest_pending_seconds: row.oldest_pending_seconds,
        outbox_failed: row.failed,
        missing_review_items: row.missing_review_items,
        vpg_weekly_items: row.vpg_weekly_items,
        vpg_monthly_items: row.vpg_monthly_items,
        collation_overdue_seconds: 0.0,
    })
}

/// Seconds since the collation of the latest meeting whose collation time
/// has passed, when that meeting is not collated yet; 0 otherwise. The same
/// test as `collation::collate_due`: a meeting before the service received
/// anything is not owed an agenda.
pub async fn collation_overdue_seconds(
    conn: &mut PgConnection,
    calendar: &MeetingCalendar,
    now: DateTime<Utc>,
) -> sqlx::Result<f64> {
    let Some(latest) = calendar.latest_past_collation(now) else {
        return Ok(0.0);
    };
    if collations::is_collated(conn, latest.date).await?
        || !inbox::any_before(conn, latest.collation_at).await?
    {
        return Ok(0.0);
    }
    Ok((now - latest.collation_at).as_seconds_f64().max(0.0))
}

/// The data-quality flags on the items of the latest collated Wednesday
/// agenda, counted by flag (issue 11); flags this build does not know are
/// left out.
pub async fn data_quality_flags(
    conn: &mut PgConnection,
) -> sqlx::Result<Vec<(crate::domain::quality::DataQualityFlag, i64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT f->>'flag', count(*) FROM
           (SELECT agenda FROM collations ORDER BY meeting_date DESC LIMIT 1) c,
           jsonb_array_elements(c.agenda->'items') i,
           jsonb_array_elements(coalesce(i->'data_quality', '[]'::jsonb)) f
         GROUP BY 1",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(flag, n)| {
            crate::domain::quality::DataQualityFlag::parse(&flag).map(|f| (f, n))
        })
        .collect())
}
