//! The inbound consumer: manual acks, bounded prefetch, batches of
//! deliveries (up to `broker.batch_size`, or what arrives within
//! `broker.batch_linger_ms`) applied as one unit of work and acked together,
//! with `multiple`, only after its transaction commits.
//!
//! Each delivery ends one of three ways: applied (or a duplicate, or an old
//! revision) and acked; refused and dead-lettered with the reason in
//! `x-vemt-error`, then acked; or, while the database is unavailable, kept
//! unacked and retried here with backoff, never requeued in a loop (a quorum
//! queue counts every redelivery toward its delivery limit, and would
//! dead-letter innocent messages held with a failing one).
//!
//! A refusal never ends the session: the dead-letter copy is published as
//! the service (a partner's `user_id` would be refused by the broker, which
//! closes the channel), on its own channel that is reopened when it fails,
//! and a message that cannot be dead-lettered after a few tries is rejected
//! without requeue, so the inbound queue's own dead-lettering takes it.

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::{Mutex, watch};
use tracing::Instrument;

use crate::broker::{self, ERROR_HEADER};
use crate::clock::Clock;
use crate::config::BrokerSettings;
use crate::contract::inbound::{self, InboundEvent, Limits, Rejection};
use crate::intake::{Failure, Intake};
use crate::metrics::Metrics;
use crate::telemetry::untrusted;

/// Headers of a dead letter, besides `x-vemt-error` (the reason).
pub const ERROR_KIND_HEADER: &str = "x-vemt-error-kind";
pub const ORIGINAL_ROUTING_KEY_HEADER: &str = "x-vemt-original-routing-key";
pub const ORIGINAL_USER_HEADER: &str = "x-vemt-original-user-id";
pub const FIRST_SEEN_HEADER: &str = "x-vemt-first-seen";
/// Set by `vemt dead-letters replay`, published as the service's own user:
/// the message is checked as if this user had published it (R8.5).
pub const REPLAY_OF_USER_HEADER: &str = "x-vemt-replay-of-user-id";

/// What kind of refusal a dead letter is (`x-vemt-error-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Not a JSON CloudEvent at all.
    Malformed,
    /// A rule of the contract or of the service's state.
    Rejected,
    /// PostgreSQL refused the event's data.
    Data,
    /// The service failed on it.
    Internal,
}

impl RefusalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Rejected => "rejected",
            Self::Data => "data",
            Self::Internal => "internal",
        }
    }
}

pub struct Consumer {
    consume: Channel,
    /// Reopened when a publish on it fails: a closed dead-letter channel
    /// must not end the session.
    dead_letters: Mutex<Channel>,
    intake: Intake,
    clock: Arc<dyn Clock>,
    settings: BrokerSettings,
    /// The broker user the service connects as.
    service_user: String,
    limits: Limits,
    metrics: Arc<Metrics>,
}

impl Consumer {
    pub async fn new(
        connection: &Connection,
        intake: Intake,
        clock: Arc<dyn Clock>,
        settings: BrokerSettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let consume = connection.create_channel().await?;
        consume
            .basic_qos(settings.prefetch, BasicQosOptions::default())
            .await?;
        Ok(Self {
            consume,
            dead_letters: Mutex::new(broker::confirm_channel(connection).await?),
            intake,
            clock,
            service_user: broker::user_name(&settings)?,
            settings,
            limits: Limits::default(),
            metrics,
        })
    }

    /// Consumes until shutdown, or until the broker connection fails (the
    /// caller reconnects). On shutdown the consumer is cancelled first, so
    /// the broker sends nothing more, and the delivery in hand is finished.
    pub async fn run(
        self,
        connection: &Connection,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let tag = ShortString::from("");
        let mut deliveries = self
            .consume
            .basic_consume(
                self.settings.inbound_queue.as_str().into(),
                tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %self.settings.inbound_queue, "consuming");
        let linger = std::time::Duration::from_millis(self.settings.batch_linger_ms);
        let size = usize::from(self.settings.batch_size);
        loop {
            let first = tokio::select! {
                // Checked first: deliveries already buffered must not keep
                // a stopping service busy.
                biased;
                _ = shutdown.changed() => break,
                next = deliveries.next() => next,
            };
            let mut batch = match first {
                None => anyhow::bail!("the broker cancelled the consumer"),
                Some(Err(err)) => return Err(err.into()),
                Some(Ok(delivery)) => vec![delivery],
            };
            // What else arrives within the linger (what is buffered already
            // is taken at once), up to a batch.
            let until = tokio::time::Instant::now() + linger;
            let mut ended = None;
            while batch.len() < size {
                match tokio::time::timeout_at(until, deliveries.next()).await {
                    Ok(Some(Ok(delivery))) => batch.push(delivery),
                    Ok(Some(Err(err))) => {
                        ended = Some(anyhow::Error::from(err));
                        break;
                    }
                    Ok(None) => {
                        ended = Some(anyhow::anyhow!("the broker cancelled the consumer"));
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !self.process(connection, batch, &mut shutdown).await? {
                break;
            }
            if let Some(err) = ended {
                return Err(err);
            }
        }
        self.stop(deliveries.tag()).await;
        Ok(())
    }

    /// Cancels the consumer and closes this session's channels, in that
    /// order; what was delivered but not acked goes back to the queue.
    async fn stop(&self, tag: ShortString) {
        let cancelled = self
            .consume
            .basic_cancel(tag, BasicCancelOptions::default())
            .await;
        if let Err(err) = cancelled {
            tracing::info!(error = %err, "consumer already cancelled");
        }
        for channel in [&self.consume, &*self.dead_letters.lock().await] {
            if channel.status().connected() {
                let _ = channel.close(200, "shutting down".into()).await;
            }
        }
    }

    /// Applies a batch of deliveries: each checked alone (a refused one is
    /// dead-lettered alone), the admitted ones in one unit of work, then
    /// acked together after its commit. Returns `false` when shutdown
    /// interrupted a retry (the deliveries stay unacked and come back to
    /// whichever instance runs next).
    async fn process(
        &self,
        connection: &Connection,
        deliveries: Vec<Delivery>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<bool> {
        let received = Instant::now();
        let now = self.clock.now();
        let mut admitted = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            match self.admit(&delivery, now) {
                Ok(event) => {
                    self.metrics.event_consumed(&event.envelope.event_type);
                    admitted.push((delivery, event));
                }
                Err((kind, rejection)) => {
                    // Not an event (yet): the routing key is the type by
                    // contract, and the metrics bound it to the known ones.
                    let event_type = delivery.routing_key.as_str();
                    self.metrics.event_consumed(event_type);
                    self.refuse(connection, &delivery, kind, &rejection).await?;
                    self.metrics
                        .observe_processing(event_type, received.elapsed());
                }
            }
        }
        if admitted.is_empty() {
            return Ok(true);
        }
        let events: Vec<&InboundEvent> = admitted.iter().map(|(_, e)| e).collect();
        let mut outage = crate::retry::database_outage();
        let results = loop {
            let failure = match self.intake.handle_batch(&events, self.clock.now()).await {
                Ok(results) => break results,
                Err(failure) => failure,
            };
            let delay = outage.next().unwrap_or(std::time::Duration::from_secs(30));
            tracing::warn!(error = %untrusted(&failure.to_string(), 500), events = events.len(), retry_in_ms = delay.as_millis() as u64, "database unavailable; will retry");
            tokio::select! {
                _ = shutdown.changed() => return Ok(false),
                _ = tokio::time::sleep(delay) => {}
            }
        };
        let mut last_applied = None;
        for ((delivery, event), result) in admitted.iter().zip(results) {
            let envelope = &event.envelope;
            let event_type = envelope.event_type.as_str();
            let span = crate::intake::event_span(event);
            let _entered = span.enter();
            match result {
                Ok(outcome) => {
                    tracing::info!(outcome = outcome.as_str(), "event handled");
                    self.metrics.event_handled(event_type, outcome);
                    last_applied = Some(delivery);
                }
                Err(failure) => {
                    let kind = match &failure {
                        Failure::Refused(_) => RefusalKind::Rejected,
                        Failure::DataRefused { .. } => RefusalKind::Data,
                        Failure::Internal(err) | Failure::Transient(err) => {
                            tracing::error!(error = %untrusted(&format!("{err:#}"), 500), "event failed in the service; dead-lettered");
                            self.metrics.event_failed(event_type);
                            RefusalKind::Internal
                        }
                    };
                    drop(_entered);
                    self.refuse(connection, delivery, kind, &failure.rejection())
                        .instrument(span.clone())
                        .await?;
                }
            }
        }
        // Every earlier delivery on the channel is settled (applied, or
        // dead-lettered and acked one by one above): one ack covers them.
        if let Some(delivery) = last_applied
            && !delivery.ack(BasicAckOptions { multiple: true }).await?
        {
            anyhow::bail!("ack not delivered: the channel is closed");
        }
        for (_, event) in &admitted {
            self.metrics
                .observe_processing(&event.envelope.event_type, received.elapsed());
        }
        Ok(true)
    }

    /// The checks before any state is touched: who sent it (R8.5), then what
    /// it says (docs/asyncapi.yaml).
    fn admit(
        &self,
        delivery: &Delivery,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<InboundEvent, (RefusalKind, Rejection)> {
        let rejected = |rejection| (RefusalKind::Rejected, rejection);
        let Some(user) = delivery.properties.user_id().as_ref() else {
            return Err(rejected(Rejection {
                path: "amqp.user_id".into(),
                rule: "is required: publishers set it to their RabbitMQ user".into(),
            }));
        };
        let publisher = self.publisher(delivery, user.as_str());
        let event = inbound::parse_inbound(&delivery.data, now, &self.limits).map_err(|r| {
            // `$` alone: the body is not a JSON CloudEvent object at all.
            let kind = if r.path == "$" {
                RefusalKind::Malformed
            } else {
                RefusalKind::Rejected
            };
            (kind, r)
        })?;
        if let Some(allowed) = self.settings.publishers.get(&event.envelope.event_type)
            && !allowed.iter().any(|u| u.as_str() == publisher)
        {
            return Err(rejected(Rejection {
                path: "amqp.user_id".into(),
                rule: "must be a user configured to publish this event type".into(),
            }));
        }
        Ok(event)
    }

    /// Who a message is checked as: its `user_id`, which the broker has
    /// validated; or, for a dead letter the service's own user replays, the
    /// partner that first published it.
    fn publisher<'a>(&self, delivery: &'a Delivery, user: &'a str) -> &'a str {
        if user != self.service_user {
            return user;
        }
        match header(&delivery.properties, REPLAY_OF_USER_HEADER) {
            Some(original) => original,
            None => user,
        }
    }

    /// Dead-letters a refused message and acks it; logs and counts it.
    async fn refuse(
        &self,
        connection: &Connection,
        delivery: &Delivery,
        kind: RefusalKind,
        rejection: &Rejection,
    ) -> anyhow::Result<()> {
        let event_type = delivery.routing_key.as_str();
        tracing::warn!(
            message_id = %untrusted(delivery.properties.message_id().as_ref().map(|m| m.as_str()).unwrap_or(""), 128),
            kind = kind.as_str(),
            reason = %rejection,
            "message refused: dead-lettered"
        );
        if self
            .dead_letter(connection, delivery, kind, rejection)
            .await
        {
            ack(delivery).await?;
            self.metrics.event_dead_lettered(event_type, rejection);
        } else {
            // The queue's own dead-letter exchange (at-least-once) takes it.
            tracing::error!(
                "the dead-letter exchange refused the copy; rejecting the message without requeue"
            );
            if !delivery
                .reject(BasicRejectOptions { requeue: false })
                .await?
            {
                anyhow::bail!("reject not delivered: the channel is closed");
            }
            self.metrics.event_dead_letter_fallback(event_type);
        }
        Ok(())
    }

    /// Publishes the refused message to the dead-letter exchange, as the
    /// service, with why, what and who in headers; `false` when the broker
    /// did not confirm it after `DEAD_LETTER_TRIES`.
    async fn dead_letter(
        &self,
        connection: &Connection,
        delivery: &Delivery,
        kind: RefusalKind,
        rejection: &Rejection,
    ) -> bool {
        let properties = self.dead_letter_properties(delivery, kind, rejection);
        let timeout = std::time::Duration::from_secs(self.settings.confirm_timeout_seconds);
        let mut delays = crate::retry::dead_letter_publish();
        loop {
            let published = {
                let mut channel = self.dead_letters.lock().await;
                if !channel.status().connected() {
                    match broker::confirm_channel(connection).await {
                        Ok(fresh) => *channel = fresh,
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot reopen the dead-letter channel");
                        }
                    }
                }
                broker::publish_confirmed(
                    &channel,
                    &self.settings.dead_letter_exchange,
                    delivery.routing_key.as_str(),
                    &delivery.data,
                    properties.clone(),
                    timeout,
                )
                .await
            };
            let err = match published {
                Ok(()) => return true,
                Err(err) => err,
            };
            let Some(delay) = delays.next() else {
                tracing::warn!(error = %err, "dead-letter publish failed; giving up");
                return false;
            };
            tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "dead-letter publish failed; will retry");
            tokio::time::sleep(delay).await;
        }
    }

    fn dead_letter_properties(
        &self,
        delivery: &Delivery,
        kind: RefusalKind,
        rejection: &Rejection,
    ) -> BasicProperties {
        let original = &delivery.properties;
        // A partner's own `x-vemt-original-user-id` is not kept: only the
        // broker-validated `user_id` says who published.
        let mut headers = FieldTable::default();
        for (key, value) in original.headers().iter().flat_map(|h| h.inner()) {
            if key.as_str() != ORIGINAL_USER_HEADER {
                headers.insert(key.clone(), value.clone());
            }
        }
        let text = |s: &str| AMQPValue::LongString(s.into());
        headers.insert(ERROR_HEADER.into(), text(&rejection.to_string()));
        headers.insert(ERROR_KIND_HEADER.into(), text(kind.as_str()));
        headers.insert(
            ORIGINAL_ROUTING_KEY_HEADER.into(),
            text(delivery.routing_key.as_str()),
        );
        if let Some(user) = original.user_id() {
            let publisher = self.publisher(delivery, user.as_str());
            headers.insert(ORIGINAL_USER_HEADER.into(), text(publisher));
        }
        // A replayed dead letter keeps the time it was first refused.
        if header(original, FIRST_SEEN_HEADER).is_none() {
            headers.insert(
                FIRST_SEEN_HEADER.into(),
                text(
                    &self
                        .clock
                        .now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            );
        }
        broker::republished_properties(original, headers, &self.service_user)
    }
}

/// A text header of a message.
pub fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a str> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

async fn ack(delivery: &Delivery) -> anyhow::Result<()> {
    // `Ok(false)`: the channel died; the broker will redeliver and the inbox
    // makes that a no-op. Reconnect.
    if !delivery.ack(BasicAckOptions::default()).await? {
        anyhow::bail!("ack not delivered: the channel is closed");
    }
    Ok(())
}
