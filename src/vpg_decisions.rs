//! `meeting.vpg-decision.v1` (R6): the monthly VPG meeting's decision for
//! one child, applied once per meeting and child. A decision for a child
//! whose LCS record the service does not hold is refused (dead-lettered
//! with the reason). Decisions take effect in order of meeting date: one
//! arriving after a later meeting's decision for the child keeps its note
//! and referrals but does not change the case's state. The free-text outcome is never stored or logged: it
//! goes only into the case note (R7.2, R8.4).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::contract::inbound::Rejection;
use crate::domain::child::VemtCategory;
use crate::domain::effects::Effect;
use crate::domain::episode::Gender;
use crate::domain::ids::{EhmId, LcsPersonId};
use crate::domain::vpg_decision::{self, DecidedChild, VpgDecision};
use crate::intake::{Outcome, Refused};
use crate::store::{self, children};
use crate::templates::Templates;

/// The reason a decision for an unknown child is dead-lettered.
pub const UNKNOWN_CHILD_RULE: &str = "must be a child the service knows (send lcs.child.v1 first)";

/// Applies a decision inside the caller's transaction, adding its effects.
/// `Ignored` when this meeting's decision for the child was applied before.
pub async fn apply(
    conn: &mut PgConnection,
    decision: &VpgDecision,
    now: DateTime<Utc>,
    templates: &Templates,
    effects: &mut Vec<Effect>,
) -> anyhow::Result<Outcome> {
    let lcs = &decision.lcs_person_id;
    store::lock_keys(conn, vec![format!("lcs:{lcs}")]).await?;
    let Some(child_id) = children::by_lcs_person(conn, lcs).await? else {
        return Err(unknown_child().into());
    };
    children::lock(conn, child_id).await?;
    let Some(child) = decided_child(conn, child_id).await? else {
        return Err(unknown_child().into());
    };
    // Decisions are applied in order of meeting date: one older than a
    // decision already applied for the child must not undo it.
    let later = sqlx::query_scalar!(
        "SELECT max(meeting_date) FROM vpg_decisions WHERE lcs_person_id = $1 AND meeting_date > $2",
        lcs.as_str(),
        decision.meeting_date
    )
    .fetch_one(&mut *conn)
    .await?;
    let recorded = sqlx::query!(
        "INSERT INTO vpg_decisions (meeting_date, lcs_person_id, decision, recorded_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        decision.meeting_date,
        lcs.as_str(),
        decision.decision.as_str(),
        now
    )
    .execute(&mut *conn)
    .await?;
    if recorded.rows_affected() == 0 {
        tracing::info!(
            lcs_person_id = %lcs,
            meeting_date = %decision.meeting_date,
            "VPG decision already applied; ignored"
        );
        return Ok(Outcome::AlreadyRecorded);
    }
    let effects_of = match later {
        None => vpg_decision::on_decision,
        Some(_) => vpg_decision::on_superseded_decision,
    };
    effects.extend(effects_of(decision, &child, &templates.vpg_decision));
    match later {
        None => tracing::info!(
            lcs_person_id = %lcs,
            meeting_date = %decision.meeting_date,
            decision = decision.decision.as_str(),
            "VPG decision applied"
        ),
        Some(later) => tracing::warn!(
            lcs_person_id = %lcs,
            meeting_date = %decision.meeting_date,
            later_meeting_date = %later,
            decision = decision.decision.as_str(),
            "VPG decision arrived after a later meeting's decision: its note and referrals sent, the later decision's case state kept"
        ),
    }
    Ok(Outcome::Applied)
}

fn unknown_child() -> Refused {
    Refused(Rejection {
        path: "$.data.lcs_person_id".to_owned(),
        rule: UNKNOWN_CHILD_RULE.to_owned(),
    })
}

/// The facts of the child's held LCS record the effects need; `None` while
/// only police reports of the child are held.
async fn decided_child(
    conn: &mut PgConnection,
    child_id: store::ChildId,
) -> anyhow::Result<Option<DecidedChild>> {
    let row = sqlx::query!(
        r#"SELECT lcs_person_id AS "lcs_person_id!",
                  record->>'ehm_id' AS ehm_id,
                  record->>'gender' AS gender,
                  (record->>'date_of_birth')::date AS "date_of_birth!",
                  record->'vemt'->>'category' AS category,
                  coalesce(record->'professionals', '[]'::jsonb) AS "professionals!"
           FROM children
           WHERE child_id = $1 AND record IS NOT NULL AND lcs_person_id IS NOT NULL"#,
        child_id
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let professionals = crate::store::professionals(r.professionals)?;
        Ok(DecidedChild {
            lcs_person_id: LcsPersonId::parse(&r.lcs_person_id)?,
            ehm_id: r.ehm_id.as_deref().map(EhmId::parse).transpose()?,
            gender: r.gender.as_deref().and_then(Gender::parse),
            date_of_birth: r.date_of_birth,
            category: r.category.as_deref().and_then(VemtCategory::parse),
            professionals,
        })
    })
    .transpose()
}
