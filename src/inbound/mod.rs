//! The inbound consumer: manual acks, bounded prefetch, one unit of work per
//! delivery, acked only after its transaction commits.
//!
//! Each delivery ends one of three ways: applied (or a duplicate, or an old
//! revision) and acked; refused as bad input and dead-lettered with the
//! reason in `x-vemt-error`, then acked; or, when the database fails, kept
//! unacked and retried here with backoff, never requeued in a loop (a quorum
//! queue counts every redelivery toward its delivery limit).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection};
use tokio::sync::watch;
use tracing::Instrument;

use crate::broker::{self, ERROR_HEADER};
use crate::clock::Clock;
use crate::config::BrokerSettings;
use crate::contract::inbound::{self, InboundEvent, Limits, Rejection};
use crate::intake::{Intake, Refused, is_transient_error};
use crate::metrics::Metrics;

pub struct Consumer {
    consume: Channel,
    dead_letters: Channel,
    intake: Intake,
    clock: Arc<dyn Clock>,
    settings: BrokerSettings,
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
    ) -> lapin::Result<Self> {
        let consume = connection.create_channel().await?;
        consume
            .basic_qos(settings.prefetch, BasicQosOptions::default())
            .await?;
        Ok(Self {
            consume,
            dead_letters: broker::confirm_channel(connection).await?,
            intake,
            clock,
            settings,
            limits: Limits::default(),
            metrics,
        })
    }

    /// Consumes until shutdown, or until the broker connection fails (the
    /// caller reconnects).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut deliveries = self
            .consume
            .basic_consume(
                self.settings.inbound_queue.as_str().into(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %self.settings.inbound_queue, "consuming");
        loop {
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                next = deliveries.next() => match next {
                    None => anyhow::bail!("the broker cancelled the consumer"),
                    Some(Err(err)) => return Err(err.into()),
                    Some(Ok(delivery)) => {
                        if !self.process(delivery, &mut shutdown).await? {
                            return Ok(());
                        }
                    }
                },
            }
        }
    }

    /// Returns `false` when shutdown interrupted a retry (the delivery stays
    /// unacked and comes back to whichever instance runs next).
    async fn process(
        &self,
        delivery: Delivery,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<bool> {
        let received = Instant::now();
        let now = self.clock.now();
        let event = match self.admit(&delivery, now) {
            Ok(event) => event,
            Err(rejection) => {
                // Not an event (yet): the routing key is the type by
                // contract, and the metrics bound it to the known ones.
                let event_type = delivery.routing_key.as_str();
                self.metrics.event_consumed(event_type);
                self.dead_letter(&delivery, &rejection).await?;
                self.metrics.event_dead_lettered(event_type, &rejection);
                self.metrics
                    .observe_processing(event_type, received.elapsed());
                return Ok(true);
            }
        };
        let envelope = &event.envelope;
        let event_type = envelope.event_type.as_str();
        self.metrics.event_consumed(event_type);
        let span = tracing::info_span!(
            "event",
            id = %envelope.id,
            r#type = %envelope.event_type,
            correlationid = envelope.correlation_id.as_deref().unwrap_or(envelope.id.as_str()),
        );
        async {
            let mut backoff = Duration::from_millis(100);
            loop {
                let err = match self.intake.handle(&event, self.clock.now()).await {
                    Ok(outcome) => {
                        tracing::info!(outcome = outcome.as_str(), "event handled");
                        ack(&delivery).await?;
                        self.metrics.event_handled(event_type, outcome);
                        self.metrics
                            .observe_processing(event_type, received.elapsed());
                        return Ok(true);
                    }
                    Err(err) => match err.downcast::<Refused>() {
                        Ok(Refused(rejection)) => {
                            self.dead_letter(&delivery, &rejection).await?;
                            self.metrics.event_dead_lettered(event_type, &rejection);
                            self.metrics
                                .observe_processing(event_type, received.elapsed());
                            return Ok(true);
                        }
                        Err(err) => err,
                    },
                };
                if is_transient_error(&err) {
                    tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "database unavailable; will retry");
                    tokio::select! {
                        _ = shutdown.changed() => return Ok(false),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                } else {
                    // A fault in the service, not in the message: let the
                    // broker redeliver, and its delivery limit dead-letter
                    // the message if the fault persists.
                    tracing::error!(error = ?err, "event failed; returned to the queue");
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await?;
                    self.metrics.event_requeued(event_type);
                    return Ok(true);
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The checks before any state is touched: who sent it (R8.5), then what
    /// it says (CONTRACT.md).
    fn admit(
        &self,
        delivery: &Delivery,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<InboundEvent, Rejection> {
        let Some(user) = delivery.properties.user_id().as_ref() else {
            return Err(Rejection {
                path: "amqp.user_id".into(),
                rule: "is required: publishers set it to their RabbitMQ user".into(),
            });
        };
        let event = inbound::parse_inbound(&delivery.data, now, &self.limits)?;
        if let Some(allowed) = self.settings.publishers.get(&event.envelope.event_type) {
            if !allowed.iter().any(|u| u.as_str() == user.as_str()) {
                return Err(Rejection {
                    path: "amqp.user_id".into(),
                    rule: "must be a user configured to publish this event type".into(),
                });
            }
        }
        Ok(event)
    }

    /// Republishes the message, unchanged but for the reason header, to the
    /// dead-letter exchange, and acks it once the broker has confirmed.
    async fn dead_letter(&self, delivery: &Delivery, rejection: &Rejection) -> anyhow::Result<()> {
        tracing::warn!(
            message_id = delivery.properties.message_id().as_ref().map(|m| m.as_str()).unwrap_or(""),
            reason = %rejection,
            "message refused: dead-lettered"
        );
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(
            ERROR_HEADER.into(),
            AMQPValue::LongString(rejection.to_string().into()),
        );
        headers.insert(
            "x-vemt-original-routing-key".into(),
            AMQPValue::LongString(delivery.routing_key.as_str().into()),
        );
        let properties = delivery.properties.clone().with_headers(headers);
        broker::publish_confirmed(
            &self.dead_letters,
            &self.settings.dead_letter_exchange,
            delivery.routing_key.as_str(),
            &delivery.data,
            properties,
            Duration::from_secs(self.settings.confirm_timeout_seconds),
        )
        .await?;
        ack(delivery).await
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
