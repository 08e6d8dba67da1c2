//! Trigger plans the police sent (R4.2): the newest version of each plan,
//! and which version's effects have gone out.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::ChildId;
use crate::domain::agenda::TriggerPlanRef;
use crate::domain::trigger_plan::TriggerPlan;

/// A plan held, with when its version was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub plan: TriggerPlan,
    pub received_at: DateTime<Utc>,
}

/// R3.2: the newest plan (by issue time, then version) of any of the
/// child's police persons, for their agenda item.
pub async fn newest_of_child(
    conn: &mut PgConnection,
    child_id: ChildId,
) -> anyhow::Result<Option<TriggerPlanRef>> {
    let row = sqlx::query!(
        "SELECT t.plan_id, t.version, t.url
         FROM trigger_plans t JOIN police_persons p USING (police_person_id)
         WHERE p.child_id = $1
         ORDER BY t.issued_at DESC, t.version DESC, t.plan_id DESC
         LIMIT 1",
        child_id
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(TriggerPlanRef {
            plan_id: r.plan_id,
            version: u32::try_from(r.version)?,
            url: r.url,
        })
    })
    .transpose()
}
