//! Timers inside the service. Each run is safe on several instances at once:
//! collation is claimed per meeting under a lock, the sweep evaluates each
//! child under the child's row lock, and what either produces is keyed by
//! child and meeting. On start the first tick catches up on anything due
//! while the service was down.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::agendas::Agendas;
use crate::clock::Clock;
use crate::collation;
use crate::intake::{Intake, is_transient_error};
use crate::meetings::Meetings;
use crate::metrics::Metrics;
use crate::retention::Retention;
use crate::vpg_agendas::VpgAgendas;

pub struct Timers {
    pub intake: Intake,
    pub agendas: Agendas,
    pub meetings: Meetings,
    pub vpg: VpgAgendas,
    pub retention: Retention,
    pub metrics: Arc<Metrics>,
    pub source: String,
    pub clock: Arc<dyn Clock>,
    pub interval: Duration,
}

impl Timers {
    /// Every `interval`: roll the items of meetings that no longer sit
    /// (R2.4), collate what is due (R3.1), publish the VPG agendas due
    /// (R3.4), then sweep live episodes (R1.6)
    /// so that a meeting just sat counts as a review; hourly, delete what
    /// is past retention (R8.6).
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = self.clock.now();
            match self.meetings.roll_items(now).await {
                Ok(_) => {}
                Err(err) if is_transient_error(&err) => {
                    tracing::warn!(error = %err, "rolling agenda items postponed: database unavailable")
                }
                Err(err) => tracing::error!(error = ?err, "rolling agenda items failed"),
            }
            match collation::collate_due(&self.agendas, &self.source, now).await {
                Ok(_) => {}
                Err(err) if is_transient_error(&err) => {
                    tracing::warn!(error = %err, "collation postponed: database unavailable")
                }
                Err(err) => tracing::error!(error = ?err, "collation failed"),
            }
            match self.vpg.publish_due(&self.source, now).await {
                Ok(_) => {}
                Err(err) if is_transient_error(&err) => {
                    tracing::warn!(error = %err, "VPG agenda publication postponed: database unavailable")
                }
                Err(err) => tracing::error!(error = ?err, "VPG agenda publication failed"),
            }
            match self.intake.sweep(now).await {
                Ok(children) => tracing::debug!(children, "live episodes swept"),
                Err(err) if is_transient_error(&err) => {
                    tracing::warn!(error = %err, "sweep postponed: database unavailable")
                }
                Err(err) => tracing::error!(error = ?err, "sweep failed"),
            }
            match self.retention.run_if_due(now).await {
                Ok(Some(purged)) => {
                    self.metrics.retention_deleted(&purged);
                    if purged.total() > 0 {
                        let counts: Vec<String> = purged
                            .0
                            .iter()
                            .filter(|(_, n)| *n > 0)
                            .map(|(t, n)| format!("{t}={n}"))
                            .collect();
                        tracing::info!(deleted = %counts.join(" "), "records past retention deleted");
                    }
                }
                Ok(None) => {}
                Err(err) if is_transient_error(&err) => {
                    tracing::warn!(error = %err, "retention postponed: database unavailable")
                }
                Err(err) => tracing::error!(error = ?err, "retention failed"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}
