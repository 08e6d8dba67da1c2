//! Trigger plans the police sent (R4.2): the newest version of each plan,
//! and which version's effects have gone out.

use chrono::{DateTime, Utc};

use crate::domain::trigger_plan::TriggerPlan;

/// A plan held, with when its version was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub plan: TriggerPlan,
    pub received_at: DateTime<Utc>,
}
