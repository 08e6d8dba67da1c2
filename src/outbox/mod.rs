//! The outbox relay: publishes pending effects with publisher confirms and
//! the mandatory flag, and marks them published. At-least-once: a crash
//! after the broker confirms but before the commit publishes again, with the
//! same deterministic event id. Several instances share the work through
//! `FOR UPDATE SKIP LOCKED`.
//!
//! With `email.transport = "govuk_notify"`, `email.v1` effects go to GOV.UK
//! Notify instead of the broker (one request per recipient; those Notify
//! accepted are recorded and never sent again). A refusal, or running out of
//! attempts, marks the row failed (kept, never deleted) and writes an
//! `lcs.alert.v1` for operations in the same transaction. Each accepted
//! recipient's notification id is recorded with it, for `delivery` to follow
//! until Notify says it was delivered or failed.

pub mod delivery;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lapin::{Channel, Connection};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use uuid::Uuid;

use crate::broker::{self, PublishError};
use crate::config::{BrokerSettings, OutboxSettings};
use crate::intake::is_transient_error;
use crate::metrics::Metrics;
use crate::notify::{self, EmailRequest, Notifier, SendError};
use crate::store;

pub const CHANNEL: &str = "vemt_outbox";

/// The effect that Notify delivers when it is the e-mail transport.
const EMAIL_TYPE: &str = "email.v1";

pub struct Relay {
    pool: PgPool,
    channel: Channel,
    exchange: String,
    user: String,
    confirm_timeout: Duration,
    settings: OutboxSettings,
    /// Set when e-mails go through GOV.UK Notify rather than the bus.
    notify: Option<Notifier>,
    /// CloudEvents `source` of the alerts the relay itself writes.
    source: String,
    metrics: Arc<Metrics>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub published: usize,
    pub failed: usize,
}

impl Relay {
    pub async fn new(
        pool: PgPool,
        connection: &Connection,
        broker: &BrokerSettings,
        settings: OutboxSettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            channel: broker::confirm_channel(connection).await?,
            exchange: broker.outbound_exchange.clone(),
            user: broker::user_name(broker)?,
            confirm_timeout: Duration::from_secs(broker.confirm_timeout_seconds),
            settings,
            notify: None,
            source: String::new(),
            metrics,
        })
    }

    /// Sends `email.v1` through GOV.UK Notify; failure alerts carry `source`.
    pub fn with_notify(mut self, notifier: Notifier, source: &str) -> Self {
        self.notify = Some(notifier);
        self.source = source.to_owned();
        self
    }

    /// Publishes until shutdown. A database outage is waited out here; a
    /// broker failure is returned, for the caller to reconnect.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let mut listener: Option<PgListener> = None;
        let mut outage = crate::retry::database_outage();
        loop {
            if listener.is_none() {
                listener = self.listen().await.ok();
            }
            match self.publish_pending().await {
                Ok(pass) => {
                    outage = crate::retry::database_outage();
                    if pass.published + pass.failed >= self.batch_size() {
                        continue; // more may be waiting
                    }
                }
                Err(err) if is_transient_error(&err) => {
                    let delay = outage.next().unwrap_or(Duration::from_secs(30));
                    tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "outbox unavailable; will retry");
                    tokio::select! {
                        _ = shutdown.changed() => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    continue;
                }
                Err(err) => return Err(err),
            }
            let notified = async {
                match listener.as_mut() {
                    Some(listener) => listener.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                woken = notified => if woken.is_err() { listener = None; },
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Wakes the relay as soon as an effect is written; polling covers the
    /// time it is not listening.
    async fn listen(&self) -> sqlx::Result<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    fn batch_size(&self) -> usize {
        usize::try_from(self.settings.batch_size).unwrap_or(1)
    }

    /// One batch: claim due rows, publish them, record what happened.
    pub async fn publish_pending(&self) -> anyhow::Result<Pass> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query!(
            "SELECT event_id, event_type, body, attempts, email_sent_to, email_refused_to, email_refusal
             FROM outbox
             WHERE published_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
             ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
            self.settings.batch_size
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut pass = Pass::default();
        let mut published: Vec<Uuid> = Vec::with_capacity(rows.len());
        // Every broker row of the batch is sent before any confirm is
        // awaited (a window of outstanding confirms, in `seq` order on one
        // channel); e-mails through Notify go one by one.
        let mut in_flight = Vec::with_capacity(rows.len());
        let mut channel_failed = None;
        for row in rows {
            if let (EMAIL_TYPE, Some(notifier)) = (row.event_type.as_str(), &self.notify) {
                let email = PendingEmail {
                    event_id: row.event_id,
                    body: &row.body,
                    attempts: row.attempts,
                    sent_to: &row.email_sent_to,
                    refused_to: &row.email_refused_to,
                    refusal: row.email_refusal.as_deref(),
                };
                match self.deliver_email(&mut tx, notifier, email).await? {
                    true => published.push(row.event_id),
                    false => pass.failed += 1,
                }
                continue;
            }
            if channel_failed.is_some() {
                continue;
            }
            let body = serde_json::to_vec(&row.body)?;
            let id = row.event_id.to_string();
            let properties = broker::event_properties(
                &id,
                &row.event_type,
                &self.user,
                Utc::now().timestamp().max(0) as u64,
            );
            match broker::publish(
                &self.channel,
                &self.exchange,
                &row.event_type,
                &body,
                properties,
            )
            .await
            {
                Ok(pending) => {
                    in_flight.push((row.event_id, row.event_type, row.attempts, pending))
                }
                Err(err) => channel_failed = Some(err),
            }
        }
        let deadline = tokio::time::Instant::now() + self.confirm_timeout;
        for (event_id, event_type, attempts, pending) in in_flight {
            match pending.confirmed(deadline).await {
                Ok(()) => {
                    // Counted on the broker's confirm: a crash before the
                    // commit below publishes it again, and that is counted too.
                    self.metrics.effect_published(&event_type);
                    published.push(event_id);
                }
                // The channel is gone: what was confirmed is recorded below;
                // the rest stays pending for the next connection.
                Err(PublishError::Channel(err)) => {
                    channel_failed.get_or_insert(PublishError::Channel(err));
                }
                Err(err) => {
                    pass.failed += 1;
                    let delay = self.retry_delay(attempts);
                    tracing::warn!(event_id = %event_id, r#type = %event_type, error = %err, retry_in_ms = delay.as_millis() as u64, "effect not published; kept pending");
                    sqlx::query!(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                             next_attempt_at = now() + make_interval(secs => $3)
                         WHERE event_id = $1",
                        event_id,
                        err.to_string(),
                        delay.as_secs_f64()
                    )
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        if let Some(err) = channel_failed {
            mark_published(&mut tx, &published).await?;
            tx.commit().await?;
            return Err(err.into());
        }
        pass.published = published.len();
        mark_published(&mut tx, &published).await?;
        tx.commit().await?;
        if pass.published > 0 {
            tracing::debug!(published = pass.published, "effects published");
        }
        Ok(pass)
    }

    /// Sends one e-mail to each recipient Notify has neither accepted nor
    /// refused. True when every recipient has it. A recipient refused for
    /// good is reported to operations at once and not asked again; while
    /// another recipient is only rate-limited or Notify is down, the row
    /// stays pending for them, and it is marked failed (kept, with the
    /// alert) once nothing is left to retry or the attempts run out.
    async fn deliver_email(
        &self,
        tx: &mut sqlx::PgConnection,
        notifier: &Notifier,
        email: PendingEmail<'_>,
    ) -> anyhow::Result<bool> {
        let data = &email.body["data"];
        let email_id = data["email_id"].as_str().unwrap_or_default();
        let mut sent_to = email.sent_to.to_vec();
        let mut refused_to = email.refused_to.to_vec();
        let mut refusal: Option<String> = email.refusal.map(str::to_owned);
        let mut unavailable: Option<String> = None;
        match data["template"]
            .as_str()
            .and_then(|t| notifier.template_id(t))
        {
            None => {
                refusal.get_or_insert_with(|| "unknown_template".into());
            }
            Some(template_id) => {
                let to = data["to"].as_array().map(Vec::as_slice).unwrap_or_default();
                for (index, recipient) in to.iter().enumerate() {
                    let index_i32 = i32::try_from(index)?;
                    if sent_to.contains(&index_i32) || refused_to.contains(&index_i32) {
                        continue;
                    }
                    let Some(address) = recipient["email"].as_str() else {
                        refused_to.push(index_i32);
                        refusal.get_or_insert_with(|| "no_address".into());
                        continue;
                    };
                    let reference = notify::reference(email_id, index);
                    let request = EmailRequest {
                        email_address: address,
                        template_id,
                        personalisation: &data["personalisation"],
                        reference: &reference,
                    };
                    match notifier.send(&request).await {
                        Ok(notification) => {
                            self.metrics.email_sent();
                            sent_to.push(index_i32);
                            match notification {
                                Some(id) => {
                                    delivery::track(tx, id, email.event_id, index_i32, notifier)
                                        .await?;
                                }
                                None => {
                                    tracing::warn!(event_id = %email.event_id, recipient = index, "GOV.UK Notify accepted an e-mail without a notification id; its delivery is not followed");
                                }
                            }
                        }
                        Err(SendError::Transient { code }) => {
                            unavailable.get_or_insert(code);
                        }
                        Err(SendError::Permanent { code }) => {
                            refused_to.push(index_i32);
                            refusal.get_or_insert(code);
                        }
                    }
                }
            }
        }
        if sent_to.len() != email.sent_to.len() || refused_to.len() != email.refused_to.len() {
            sqlx::query!(
                "UPDATE outbox SET email_sent_to = $2, email_refused_to = $3, email_refusal = $4
                 WHERE event_id = $1",
                email.event_id,
                &sent_to,
                &refused_to,
                refusal.as_deref()
            )
            .execute(&mut *tx)
            .await?;
        }
        let newly_refused = refusal.is_some() && email.refusal.is_none();
        let attempts = email.attempts.saturating_add(1);
        let max_attempts = i32::try_from(notifier.config().max_attempts).unwrap_or(i32::MAX);
        let failed = match (refusal, unavailable) {
            (None, None) => return Ok(true),
            (refusal, Some(code)) if attempts < max_attempts => {
                if let (Some(refused), true) = (&refusal, newly_refused) {
                    // Operations hear of a refused recipient now, not when the
                    // others are through (the alert's id is the e-mail's, so
                    // the final report is the same event).
                    tracing::error!(event_id = %email.event_id, error_code = %refused, "a recipient was refused by GOV.UK Notify; reported to operations, the others retried");
                    alert_email_failed(tx, email.body, refused, &self.source).await?;
                }
                let delay = notifier.config().retry_delay(attempts);
                tracing::warn!(event_id = %email.event_id, error_code = %code, attempts, retry_in_ms = delay.as_millis() as u64, "e-mail not taken by GOV.UK Notify; kept pending");
                sqlx::query!(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                         next_attempt_at = now() + make_interval(secs => $3)
                     WHERE event_id = $1",
                    email.event_id,
                    format!("govuk_notify: {code}"),
                    delay.as_secs_f64()
                )
                .execute(&mut *tx)
                .await?;
                return Ok(false);
            }
            (Some(code), _) | (None, Some(code)) => code,
        };
        tracing::error!(event_id = %email.event_id, error_code = %failed, attempts, "e-mail not delivered by GOV.UK Notify; marked failed and reported to operations");
        sqlx::query!(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, failed_at = now()
             WHERE event_id = $1",
            email.event_id,
            format!("govuk_notify: {failed}")
        )
        .execute(&mut *tx)
        .await?;
        alert_email_failed(tx, email.body, &failed, &self.source).await?;
        self.metrics.email_failed();
        Ok(false)
    }

    fn retry_delay(&self, attempts: i32) -> Duration {
        crate::retry::after(
            Duration::from_millis(self.settings.retry_base_ms),
            Duration::from_millis(self.settings.retry_max_ms),
            u32::try_from(attempts).unwrap_or(0),
        )
    }
}

/// An `email.v1` row as the relay claimed it.
struct PendingEmail<'a> {
    event_id: Uuid,
    body: &'a serde_json::Value,
    attempts: i32,
    /// Indexes into `to` of the recipients Notify has accepted.
    sent_to: &'a [i32],
    /// Indexes into `to` of the recipients Notify refused for good.
    refused_to: &'a [i32],
    /// The error name of the first refusal.
    refusal: Option<&'a str>,
}

/// Tells operations an e-mail failed (`lcs.alert.v1`, `email_failed`): the
/// one way a refused send, a send out of attempts and a failed delivery are
/// reported, in the caller's transaction. The alert is named by the e-mail,
/// so however many of its recipients fail, and however often this runs,
/// operations get one alert per e-mail.
pub(crate) async fn alert_email_failed(
    conn: &mut sqlx::PgConnection,
    email: &serde_json::Value,
    error_code: &str,
    source: &str,
) -> sqlx::Result<()> {
    let alert = notify::failure_alert(email, error_code, source, Utc::now());
    store::outbox::enqueue(conn, &alert).await
}

async fn mark_published(conn: &mut sqlx::PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL
         WHERE event_id = ANY($1)",
        ids
    )
    .execute(conn)
    .await?;
    Ok(())
}
