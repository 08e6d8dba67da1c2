//! Collation (R3.1): at the configured Tuesday time the coming meeting's
//! agenda is frozen and published, once across instances; a service that
//! was down then collates as soon as it is back.

use chrono::{DateTime, NaiveDate, Utc};

use crate::agendas::Agendas;
use crate::contract::outbound::{self, Cause};
use crate::domain::calendar::Meeting;
use crate::domain::effects::Effect;
use crate::store::{self, agenda as items, collations, inbox};

/// Collates every meeting whose collation time has passed and which is not
/// collated yet; returns the dates collated by this call.
pub async fn collate_due(
    agendas: &Agendas,
    source: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<NaiveDate>> {
    let mut conn = agendas.pool().acquire().await?;
    let mut due = items::uncollated_due(&mut conn, now).await?;
    // The latest meeting whose collation has passed is published even with
    // no child on it ("nobody met the criteria this week"), provided the
    // service was running before it: a new deployment does not announce
    // agendas for weeks it never saw.
    let calendar = agendas.calendar(&mut conn).await?;
    let latest = calendar.latest_past_collation(now);
    if let Some(latest) = latest
        && !due.iter().any(|m| m.date == latest.date)
        && !collations::is_collated(&mut conn, latest.date).await?
        && inbox::any_before(&mut conn, latest.collation_at).await?
    {
        due.push(latest);
    }
    drop(conn);
    due.sort_by_key(|m| m.date);
    let mut collated = Vec::new();
    for meeting in due {
        if collate(agendas, source, meeting, now).await? {
            collated.push(meeting.date);
        }
    }
    Ok(collated)
}

/// Freezes one meeting's agenda as it stood at collation time and writes it
/// to the outbox, in one transaction; `false` if another instance did it.
async fn collate(
    agendas: &Agendas,
    source: &str,
    meeting: Meeting,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let mut tx = agendas.pool().begin().await?;
    store::lock_keys(&mut tx, vec![format!("collation:{}", meeting.date)]).await?;
    if collations::is_collated(&mut tx, meeting.date).await? {
        return Ok(false);
    }
    let agenda = agendas
        .build(&mut tx, meeting, meeting.collation_at, Some(now))
        .await?;
    collations::record(&mut tx, &agenda, now).await?;
    let children = agenda.items.len();
    let effect = Effect::MissingReviewAgenda(Box::new(agenda));
    let cause = Cause::timer(&format!("collation/{}", meeting.date));
    store::outbox::enqueue(&mut tx, &outbound::build(&effect, &cause, source, now)?).await?;
    tx.commit().await?;
    tracing::info!(meeting = %meeting.date, children, "agenda collated and published");
    Ok(true)
}
