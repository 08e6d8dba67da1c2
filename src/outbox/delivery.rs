//! Whether GOV.UK Notify delivered an e-mail (issue 10 item 7). Notify's 201
//! only means it took the e-mail; an address that bounces is known later.
//! Each recipient Notify accepted is recorded in `email_deliveries` (with the
//! send, in the relay's transaction) and polled with
//! `GET /v2/notifications/{id}` until its status is final, backing off
//! between polls. A failure, or no final status within
//! `status_max_age_seconds` (counted as a technical failure), alerts
//! operations through the relay's own `alert_email_failed`, in the
//! transaction that records the final status: a crash before the commit
//! polls again, and the alert's id is the e-mail's, so it is written once.
//! Several instances share the polling through `FOR UPDATE SKIP LOCKED`.
//!
//! Logs name the e-mail's event, Notify's id, the recipient's index and
//! statuses only: never an address, a name or Notify's text.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::watch;
use uuid::Uuid;

use super::alert_email_failed;
use crate::intake::is_transient_error;
use crate::metrics::Metrics;
use crate::notify::{DeliveryStatus, Notifier, STATUS_TIMEOUT, SendError};

/// Notifications polled per transaction.
const BATCH: i64 = 50;

/// The shortest wait between passes, so that rows another instance holds
/// are not asked for in a tight loop.
const MIN_WAIT: Duration = Duration::from_millis(200);

/// Records a notification Notify accepted, first polled
/// `status_poll_base` from now.
pub async fn track(
    conn: &mut PgConnection,
    notification_id: Uuid,
    event_id: Uuid,
    recipient: i32,
    notifier: &Notifier,
) -> sqlx::Result<()> {
    // clock_timestamp(): the relay's transaction may have begun well before
    // this send.
    sqlx::query(
        "INSERT INTO email_deliveries (notification_id, event_id, recipient, accepted_at, next_poll_at)
         VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp() + make_interval(secs => $4))
         ON CONFLICT (notification_id) DO NOTHING",
    )
    .bind(notification_id)
    .bind(event_id)
    .bind(recipient)
    .bind(notifier.config().status_poll_base.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(())
}

pub struct DeliveryTracker {
    pool: PgPool,
    notifier: Notifier,
    /// CloudEvents `source` of the alerts.
    source: String,
    metrics: Arc<Metrics>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    pub claimed: usize,
    pub finished: usize,
}

impl DeliveryTracker {
    pub fn new(pool: PgPool, notifier: Notifier, source: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            pool,
            notifier,
            source: source.to_owned(),
            metrics,
        }
    }

    /// Polls until shutdown. Errors are waited out with backoff: stopping
    /// here would leave every later failure unreported.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut outage = crate::retry::database_outage();
        loop {
            let wait = match self.poll_due().await {
                Ok(polled) if polled.claimed >= BATCH as usize => continue,
                Ok(_) => {
                    outage = crate::retry::database_outage();
                    self.next_wait().await.unwrap_or(MIN_WAIT)
                }
                Err(err) => {
                    let wait = outage.next().unwrap_or(Duration::from_secs(30));
                    if is_transient_error(&err) {
                        tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "e-mail delivery statuses unavailable; will retry");
                    } else {
                        tracing::error!(error = %err, retry_in_ms = wait.as_millis() as u64, "e-mail delivery statuses not recorded; will retry");
                    }
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Until the next notification is due, at most `status_poll_base` (a
    /// newly accepted one is due that long after it is recorded).
    async fn next_wait(&self) -> sqlx::Result<Duration> {
        let due: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM min(next_poll_at) - now())::float8
             FROM email_deliveries WHERE finished_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let most = self.notifier.config().status_poll_base.max(MIN_WAIT);
        Ok(due
            .map_or(most, |secs| Duration::from_secs_f64(secs.max(0.0)))
            .clamp(MIN_WAIT, most))
    }

    /// One batch: claim the due notifications, ask Notify for each, and
    /// record final statuses (with any alert) or when to ask again.
    pub async fn poll_due(&self) -> anyhow::Result<Polled> {
        let config = self.notifier.config();
        let max_age = config.status_max_age.as_secs_f64();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT d.notification_id, d.event_id, d.recipient, d.polls, o.body,
                    d.accepted_at + make_interval(secs => $2) <= now() AS expired
             FROM email_deliveries d JOIN outbox o USING (event_id)
             WHERE d.finished_at IS NULL AND d.next_poll_at <= now()
             ORDER BY d.next_poll_at LIMIT $1
             FOR UPDATE OF d SKIP LOCKED",
        )
        .bind(BATCH)
        .bind(max_age)
        .fetch_all(&mut *tx)
        .await?;
        let claimed = rows.len();
        let mut finished: Vec<DeliveryStatus> = Vec::new();
        // Once Notify is down or rate-limiting, the rest of the batch waits
        // its turn rather than each waiting out a timeout.
        let mut unavailable: Option<String> = None;
        for row in rows {
            let id: Uuid = row.try_get("notification_id")?;
            let event_id: Uuid = row.try_get("event_id")?;
            let recipient: i32 = row.try_get("recipient")?;
            let polls: i32 = row.try_get("polls")?;
            let expired: bool = row.try_get("expired")?;
            let answer = match &unavailable {
                Some(code) => Err(SendError::Transient { code: code.clone() }),
                None => self.notifier.status(id).await,
            };
            let (status, error) = match answer {
                Ok(status) => (Some(status), None),
                Err(err) => {
                    if let SendError::Transient { code } = &err {
                        unavailable.get_or_insert_with(|| code.clone());
                    }
                    (None, Some(err.code().to_owned()))
                }
            };
            let outcome = match status {
                Some(status) if status.is_final() => {
                    Some((status, status.is_failure().then(|| status.as_str())))
                }
                _ if expired => Some((DeliveryStatus::TechnicalFailure, Some(STATUS_TIMEOUT))),
                _ => None,
            };
            let seen = status.map(DeliveryStatus::as_str);
            let Some((final_status, failure)) = outcome else {
                let delay = config.poll_delay(polls.saturating_add(1));
                sqlx::query(
                    "UPDATE email_deliveries SET polls = polls + 1,
                         status = coalesce($2, status), last_error = $3,
                         next_poll_at = least(now() + make_interval(secs => $4),
                                              accepted_at + make_interval(secs => $5))
                     WHERE notification_id = $1",
                )
                .bind(id)
                .bind(seen)
                .bind(error.as_deref())
                .bind(delay.as_secs_f64())
                .bind(max_age)
                .execute(&mut *tx)
                .await?;
                match (&error, seen) {
                    (Some(code), _) => {
                        tracing::warn!(%event_id, notification_id = %id, recipient, error_code = %code, retry_in_ms = delay.as_millis() as u64, "e-mail delivery status not read from GOV.UK Notify; will ask again");
                    }
                    (None, status) => {
                        tracing::debug!(%event_id, notification_id = %id, recipient, status = status.unwrap_or("unknown"), retry_in_ms = delay.as_millis() as u64, "e-mail not delivered yet");
                    }
                }
                continue;
            };
            sqlx::query(
                "UPDATE email_deliveries SET polls = polls + 1,
                     status = coalesce($2, status), last_error = $3,
                     final_status = $4, failure = $5, finished_at = now()
                 WHERE notification_id = $1",
            )
            .bind(id)
            .bind(seen)
            .bind(error.as_deref())
            .bind(final_status.as_str())
            .bind(failure)
            .execute(&mut *tx)
            .await?;
            if let Some(code) = failure {
                let body: serde_json::Value = row.try_get("body")?;
                tracing::error!(%event_id, notification_id = %id, recipient, status = final_status.as_str(), error_code = code, "e-mail not delivered by GOV.UK Notify; reported to operations");
                alert_email_failed(&mut tx, &body, code, &self.source).await?;
            } else {
                tracing::debug!(%event_id, notification_id = %id, recipient, "e-mail delivered");
            }
            finished.push(final_status);
        }
        tx.commit().await?;
        // Counted once committed: a pass that rolls back is polled again.
        for status in &finished {
            self.metrics.email_delivery(*status);
        }
        Ok(Polled {
            claimed,
            finished: finished.len(),
        })
    }
}
