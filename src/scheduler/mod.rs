//! Timers inside the service. Each run is safe on several instances at once:
//! the sweep evaluates each child under the child's row lock, and what it
//! queues is keyed by child and meeting.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::intake::{Intake, is_transient_error};

/// R1.6: re-evaluates children with live episodes every `interval`, so an
/// episode crossing 72 hours reaches the agenda with no message to say so.
pub async fn run_sweep(
    intake: Intake,
    clock: Arc<dyn Clock>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match intake.sweep(clock.now()).await {
            Ok(children) => tracing::debug!(children, "live episodes swept"),
            Err(err) if is_transient_error(&err) => {
                tracing::warn!(error = %err, "sweep postponed: database unavailable")
            }
            Err(err) => tracing::error!(error = ?err, "sweep failed"),
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
