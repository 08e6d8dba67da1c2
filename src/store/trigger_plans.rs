//! Trigger plans the police sent (R4.2): the newest version of each plan,
//! and which version's effects have gone out.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::ChildId;
use crate::domain::agenda::TriggerPlanRef;
use crate::domain::ids::{LcsPersonId, PolicePersonId, TriggerPlanId};
use crate::domain::trigger_plan::{DocumentUrl, LinkedChild, MediaType, TriggerPlan};

/// Keeps the plan when it is new or newer than the version held; `false`
/// when an equal or newer version is already there (acknowledged, ignored).
pub async fn store(
    conn: &mut PgConnection,
    plan: &TriggerPlan,
    received_at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let version = i32::try_from(plan.version)?;
    let done = sqlx::query!(
        "INSERT INTO trigger_plans (plan_id, police_person_id, version, issued_at, url, media_type, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (plan_id) DO UPDATE SET
             police_person_id = EXCLUDED.police_person_id, version = EXCLUDED.version,
             issued_at = EXCLUDED.issued_at, url = EXCLUDED.url, media_type = EXCLUDED.media_type,
             received_at = EXCLUDED.received_at
         WHERE trigger_plans.version < EXCLUDED.version",
        plan.plan_id.as_str(),
        plan.police_person_id.as_str(),
        version,
        plan.issued_at,
        plan.url.as_str(),
        plan.media_type.as_ref().map(MediaType::as_str),
        received_at
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A plan held, with when its version was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub plan: TriggerPlan,
    pub received_at: DateTime<Utc>,
}

/// The plans of the child's police persons whose held version has not had
/// its effects yet, oldest issued first, locked until the transaction ends.
pub async fn unsent_of_child(
    conn: &mut PgConnection,
    child_id: ChildId,
) -> anyhow::Result<Vec<Held>> {
    let rows = sqlx::query!(
        "SELECT t.plan_id, t.police_person_id, t.version, t.issued_at, t.url, t.media_type, t.received_at
         FROM trigger_plans t JOIN police_persons p USING (police_person_id)
         WHERE p.child_id = $1 AND (t.effects_sent_version IS NULL OR t.effects_sent_version < t.version)
         ORDER BY t.issued_at, t.version, t.plan_id
         FOR UPDATE OF t",
        child_id
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Held {
                plan: TriggerPlan {
                    plan_id: TriggerPlanId::parse(&r.plan_id)?,
                    police_person_id: PolicePersonId::parse(&r.police_person_id)?,
                    version: u32::try_from(r.version)?,
                    issued_at: r.issued_at,
                    url: DocumentUrl::parse(&r.url)?,
                    media_type: r
                        .media_type
                        .as_deref()
                        .map(|m| {
                            MediaType::parse(m)
                                .ok_or_else(|| anyhow::anyhow!("stored media type is malformed"))
                        })
                        .transpose()?,
                },
                received_at: r.received_at,
            })
        })
        .collect()
}

/// Records that the effects of `version` of the plan have been produced.
pub async fn mark_sent(
    conn: &mut PgConnection,
    plan_id: &TriggerPlanId,
    version: u32,
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE trigger_plans SET effects_sent_version = $2 WHERE plan_id = $1",
        plan_id.as_str(),
        i32::try_from(version)?
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What a plan's effects need of the child's LCS record; `None` while the
/// service holds no LCS record for the child.
pub async fn linked_child(
    conn: &mut PgConnection,
    child_id: ChildId,
) -> anyhow::Result<Option<LinkedChild>> {
    let row = sqlx::query!(
        r#"SELECT lcs_person_id AS "lcs_person_id!", vemt_active,
                  coalesce(record->'professionals', '[]'::jsonb) AS "professionals!"
           FROM children
           WHERE child_id = $1 AND record IS NOT NULL AND lcs_person_id IS NOT NULL"#,
        child_id
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let professionals = super::professionals(r.professionals)?;
        Ok(LinkedChild {
            lcs_person_id: LcsPersonId::parse(&r.lcs_person_id)?,
            vemt_active: r.vemt_active,
            professionals,
        })
    })
    .transpose()
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
