//! Builds the running service from settings, so that `main` and the tests
//! run the same thing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::agendas::Agendas;
use crate::broker;
use crate::clock::Clock;
use crate::config::Settings;
use crate::http;
use crate::inbound::Consumer;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::outbox::Relay;
use crate::outbox::delivery::DeliveryTracker;
use crate::scheduler;
use crate::store;
use crate::templates::Templates;
use crate::vpg_agendas::VpgAgendas;

pub struct Application {
    settings: Settings,
    pool: PgPool,
    intake: Intake,
    agendas: Agendas,
    /// The calendar of the settings; operations commands' changes are read
    /// from the database over it.
    configured_calendar: crate::domain::calendar::MeetingCalendar,
    clock: Arc<dyn Clock>,
    /// True while a broker session is up with the topology declared.
    broker_connected: watch::Sender<bool>,
    /// Bound in `build`, so the address is known (port 0 in tests) before
    /// the service runs; served by `run_until_stopped`.
    http_listener: Option<tokio::net::TcpListener>,
    http_address: std::net::SocketAddr,
    /// GOV.UK Notify, when it is the e-mail transport.
    notifier: Option<crate::notify::Notifier>,
    /// This instance's own registry: no global recorder, so apps sharing a
    /// process (the tests) never count each other's work.
    metrics: Arc<Metrics>,
}

impl Application {
    /// Connects to the database and applies the migrations. `templates`
    /// are the texts loaded from the config dir (`Templates::load`).
    pub async fn build(
        settings: Settings,
        templates: Templates,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let calendar = settings.calendar()?;
        let notifier = settings
            .email
            .notify()?
            .map(crate::notify::Notifier::new)
            .transpose()?;
        let pool = store::connect(&settings.database).await?;
        store::MIGRATOR.run(&pool).await?;
        let intake = Intake::new(
            pool.clone(),
            settings.criteria,
            calendar.clone(),
            settings.service.source.clone(),
            templates,
        );
        let agendas = Agendas::new(pool.clone(), calendar.clone(), settings.criteria)
            .with_open_without_update_days(settings.data_quality.open_without_update_days);
        let http_listener = tokio::net::TcpListener::bind(settings.http.bind)
            .await
            .with_context(|| format!("cannot listen on http.bind {}", settings.http.bind))?;
        let http_address = http_listener.local_addr()?;
        Ok(Self {
            settings,
            pool,
            intake,
            agendas,
            configured_calendar: calendar,
            clock,
            broker_connected: watch::Sender::new(false),
            http_listener: Some(http_listener),
            http_address,
            notifier,
            metrics: Arc::new(Metrics::new()),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    pub fn agendas(&self) -> Agendas {
        self.agendas.clone()
    }

    /// Cancelling and moving meetings (R2.4).
    pub fn meetings(&self) -> crate::meetings::Meetings {
        crate::meetings::Meetings::new(
            self.pool.clone(),
            self.configured_calendar.clone(),
            self.settings.criteria,
        )
    }

    /// The weekly and monthly VPG agendas: published by the timers, read
    /// by the HTTP views and `vemt agenda --meeting`.
    pub fn vpg_agendas(&self) -> anyhow::Result<VpgAgendas> {
        Ok(VpgAgendas::new(
            self.pool.clone(),
            self.settings.vpg_weekly()?,
            self.settings.vpg_monthly()?,
            self.settings.criteria,
            self.settings.vpg_monthly.turning_18_horizon_days,
        ))
    }

    /// The metrics `/metrics` serves.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Where the HTTP server listens (health, meetings, agendas).
    pub fn http_address(&self) -> std::net::SocketAddr {
        self.http_address
    }

    /// Follows whether the service is connected to the broker with its
    /// topology declared (for readiness, and for tests to wait on).
    pub fn broker_connected(&self) -> watch::Receiver<bool> {
        self.broker_connected.subscribe()
    }

    /// Runs the consumer, the outbox relay and the timers until `shutdown`
    /// turns true. A broker outage is waited out (R8.3): the session is
    /// rebuilt with backoff, and nothing unacknowledged or unpublished is lost.
    pub async fn run_until_stopped(
        mut self,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let http = self.spawn_http(shutdown.clone())?;
        let timers = scheduler::Timers {
            intake: self.intake.clone(),
            agendas: self.agendas.clone(),
            meetings: self.meetings(),
            vpg: self.vpg_agendas()?,
            retention: crate::retention::Retention::new(
                self.pool.clone(),
                self.settings.retention.days,
            ),
            metrics: self.metrics.clone(),
            source: self.settings.service.source.clone(),
            clock: self.clock.clone(),
            interval: Duration::from_secs(self.settings.sweep.interval_seconds),
        };
        let timers = tokio::spawn(timers.run(shutdown.clone()));
        // Needs no broker: alerts go to the outbox, for the relay.
        let deliveries = self.notifier.clone().map(|notifier| {
            let tracker = DeliveryTracker::new(
                self.pool.clone(),
                notifier,
                &self.settings.service.source,
                self.metrics.clone(),
            );
            tokio::spawn(tracker.run(shutdown.clone()))
        });
        let mut outage = crate::retry::broker_reconnect();
        while !*shutdown.borrow() {
            match self.broker_session(shutdown.clone()).await {
                Ok(()) => outage = crate::retry::broker_reconnect(),
                Err(err) => {
                    let delay = outage.next().unwrap_or(Duration::from_secs(30));
                    tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "broker session ended; reconnecting");
                    let mut stop = shutdown.clone();
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        timers.await?;
        if let Some(deliveries) = deliveries {
            deliveries.await?;
        }
        // Requests in flight finish; a client holding a connection open
        // does not hold up the stop.
        if tokio::time::timeout(Duration::from_secs(10), http)
            .await
            .is_err()
        {
            tracing::warn!("HTTP server did not stop within 10 s");
        }
        self.pool.close().await;
        Ok(())
    }

    /// Serves the HTTP routes (`http::router`) until shutdown.
    fn spawn_http(
        &mut self,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let listener = self
            .http_listener
            .take()
            .context("the HTTP listener is served once")?;
        let state = http::HttpState::new(
            self.agendas.clone(),
            self.pool.clone(),
            self.broker_connected(),
            self.clock.clone(),
            self.settings.http.token(),
            http::render::Presentation {
                timezone: self.settings.calendar()?.timezone,
                thresholds: self.settings.criteria,
            },
            self.metrics.clone(),
        )
        .with_vpg(self.vpg_agendas()?);
        if self.settings.http.token().is_none() {
            tracing::warn!("http.token is not set: only /livez, /readyz and /metrics are served");
        }
        tracing::info!(address = %self.http_address, "HTTP server listening");
        Ok(tokio::spawn(async move {
            if let Err(err) = http::serve(listener, http::router(state), shutdown).await {
                tracing::error!(error = %err, "HTTP server failed");
            }
        }))
    }

    /// One connection: topology, consumer and relay, until either fails or
    /// shutdown.
    async fn broker_session(&self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let b = &self.settings.broker;
        let connection = broker::connect(b).await?;
        let topology = connection.create_channel().await?;
        broker::declare_topology(&topology, b).await?;
        let consumer = Consumer::new(
            &connection,
            self.intake.clone(),
            self.clock.clone(),
            b.clone(),
            self.metrics.clone(),
        )
        .await?;
        let relay = Relay::new(
            self.pool.clone(),
            &connection,
            b,
            self.settings.outbox.clone(),
            self.metrics.clone(),
        )
        .await?;
        let relay = match &self.notifier {
            Some(notifier) => relay.with_notify(notifier.clone(), &self.settings.service.source),
            None => relay,
        };
        tracing::info!("connected to the broker");
        self.broker_connected.send_replace(true);
        // Consumer and relay stop together and gracefully: on shutdown, or
        // when either fails, each finishes what it holds (the relay records
        // what the broker confirmed) rather than being dropped mid-batch.
        let (stop_session, session) = watch::channel(false);
        let stop_on_shutdown = async {
            let mut shutdown = shutdown.clone();
            let _ = shutdown.wait_for(|stop| *stop).await;
            stop_session.send_replace(true);
        };
        let consumer = async {
            let result = consumer.run(&connection, session.clone()).await;
            stop_session.send_replace(true);
            result
        };
        let relay = async {
            let result = relay.run(session.clone()).await;
            stop_session.send_replace(true);
            result
        };
        let both = async { tokio::join!(consumer, relay) };
        tokio::pin!(both);
        let (consumed, relayed) = tokio::select! {
            done = &mut both => done,
            () = stop_on_shutdown => both.await,
        };
        self.broker_connected.send_replace(false);
        broker::close(&connection).await;
        consumed.and(relayed)
    }
}
