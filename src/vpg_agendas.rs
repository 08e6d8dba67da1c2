//! Publication of the weekly (M2) and monthly (M3) VPG agendas (R3.4,
//! R6.4): when a meeting's publication instant has passed, its agenda is
//! built from the children's VEMT cases and published once across
//! instances; a service that was down then publishes as soon as it is back.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

use crate::contract::outbound::{self, Cause};
use crate::domain::child::{ProfessionalRole, Vemt, VemtCategory, VemtRiskLevel, VemtStatus};
use crate::domain::criteria::Thresholds;
use crate::domain::effects::Effect;
use crate::domain::episode::Gender;
use crate::domain::ids::{LcsPersonId, PolicePersonId};
use crate::domain::vpg::{
    self, M1Outcome, OutstandingAction, VpgCalendar, VpgChildFacts, VpgKind, VpgMeeting,
    VpgMonthlyAgenda, VpgWeeklyAgenda,
};
use crate::store::{self, episodes, inbox, outcomes, return_home_interviews, vpg as published};

#[derive(Clone)]
pub struct VpgAgendas {
    pool: PgPool,
    weekly: VpgCalendar,
    monthly: VpgCalendar,
    thresholds: Thresholds,
    turning_18_horizon_days: u32,
}

impl VpgAgendas {
    pub fn new(
        pool: PgPool,
        weekly: VpgCalendar,
        monthly: VpgCalendar,
        thresholds: Thresholds,
        turning_18_horizon_days: u32,
    ) -> Self {
        Self {
            pool,
            weekly,
            monthly,
            thresholds,
            turning_18_horizon_days,
        }
    }

    /// Publishes the latest weekly and monthly agendas whose publication
    /// instant has passed, if not yet published and if the service was
    /// receiving before that instant (a new deployment does not publish for
    /// meetings it never saw). Returns what this call published.
    pub async fn publish_due(
        &self,
        source: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(VpgKind, NaiveDate)>> {
        let mut done = Vec::new();
        for calendar in [&self.weekly, &self.monthly] {
            let Some(meeting) = calendar.latest_due(now) else {
                continue;
            };
            let mut conn = self.pool.acquire().await?;
            let due = !published::is_published(&mut conn, meeting.kind.as_str(), meeting.date)
                .await?
                && inbox::any_before(&mut conn, meeting.publish_at).await?;
            drop(conn);
            if due && self.publish(source, meeting, now).await? {
                done.push((meeting.kind, meeting.date));
            }
        }
        Ok(done)
    }

    /// Builds and publishes one agenda in one transaction; `false` if
    /// another instance did it.
    async fn publish(
        &self,
        source: &str,
        meeting: VpgMeeting,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let kind = meeting.kind.as_str();
        let mut tx = self.pool.begin().await?;
        store::lock_keys(&mut tx, vec![format!("vpg-agenda:{kind}:{}", meeting.date)]).await?;
        if published::is_published(&mut tx, kind, meeting.date).await? {
            return Ok(false);
        }
        let (effect, children) = match meeting.kind {
            VpgKind::Weekly => {
                let children = children(&mut tx, &["active", "referred", "deferred"]).await?;
                let mut agenda = vpg::weekly_agenda(meeting, now, children, &self.thresholds);
                m1_outcomes(&mut tx, &mut agenda, now).await?;
                let sections = &agenda.sections;
                let count = sections.missing_category.len()
                    + sections.new_referrals.len()
                    + sections.deferred.len();
                (Effect::VpgWeeklyAgenda(Box::new(agenda)), count)
            }
            VpgKind::Monthly => {
                let children = children(&mut tx, &["active"]).await?;
                let mut agenda =
                    vpg::monthly_agenda(meeting, now, children, self.turning_18_horizon_days);
                outstanding_actions(&mut tx, &mut agenda).await?;
                let count = agenda.items.len();
                (Effect::VpgMonthlyAgenda(Box::new(agenda)), count)
            }
        };
        let event = outbound::build(
            &effect,
            &Cause::timer(&format!("vpg-agenda/{kind}/{}", meeting.date)),
            source,
            now,
        )?;
        let data = event.body["data"].clone();
        published::record(&mut tx, kind, meeting.date, now, data).await?;
        store::outbox::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        tracing::info!(kind, meeting = %meeting.date, children, "VPG agenda published");
        Ok(true)
    }
}

/// R3.4, R5.4: M1's latest outcomes, and the children M1 referred to M2
/// since the previous weekly agenda was published.
async fn m1_outcomes(
    conn: &mut PgConnection,
    agenda: &mut VpgWeeklyAgenda,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let to_section = |rows: Vec<outcomes::OutcomeRow>| -> anyhow::Result<Vec<M1Outcome>> {
        rows.into_iter()
            .map(|r| {
                Ok(M1Outcome {
                    lcs_person_id: LcsPersonId::parse(&r.lcs_person_id)?,
                    meeting_date: r.meeting_date,
                    outcome: r.outcome,
                })
            })
            .collect()
    };
    agenda.sections.m1_outcomes = to_section(outcomes::latest_meeting_outcomes(conn, now).await?)?;
    let since =
        outcomes::previous_published(conn, VpgKind::Weekly.as_str(), agenda.meeting_date).await?;
    agenda.sections.referred_by_m1 = to_section(outcomes::referred_since(conn, since, now).await?)?;
    Ok(())
}

/// R5.5: the open actions of each active VEMT case on M3's agenda.
async fn outstanding_actions(
    conn: &mut PgConnection,
    agenda: &mut VpgMonthlyAgenda,
) -> anyhow::Result<()> {
    let open = outcomes::open_actions(conn).await?;
    for item in &mut agenda.items {
        item.outstanding_actions = open
            .iter()
            .filter(|a| a.lcs_person_id == item.identity.lcs_person_id.as_str())
            .map(|a| OutstandingAction {
                meeting_date: a.meeting_date,
                assignee_role: ProfessionalRole::parse(&a.owner_role),
                description: a.description.clone(),
            })
            .collect();
    }
    Ok(())
}

/// The facts of every child with one of these VEMT statuses; episodes and
/// interviews only for the active MISSING-category cases that list them.
async fn children(
    conn: &mut PgConnection,
    statuses: &[&str],
) -> anyhow::Result<Vec<VpgChildFacts>> {
    let mut facts = Vec::new();
    for row in published::children_by_vemt_status(conn, statuses).await? {
        let Some(status) = VemtStatus::parse(&row.vemt_status) else {
            continue;
        };
        let vemt = Vemt {
            status,
            category: row.vemt_category.as_deref().and_then(VemtCategory::parse),
            risk_level: row
                .vemt_risk_level
                .as_deref()
                .and_then(VemtRiskLevel::parse),
        };
        let lists_episodes =
            vemt.status == VemtStatus::Active && vemt.category == Some(VemtCategory::Missing);
        let (child_episodes, interviews) = if lists_episodes {
            (
                episodes::of_child(conn, row.child_id).await?,
                return_home_interviews::of_child(conn, row.child_id).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        facts.push(VpgChildFacts {
            lcs_person_id: LcsPersonId::parse(&row.lcs_person_id)?,
            police_person_ids: row
                .police_person_ids
                .iter()
                .map(|p| PolicePersonId::parse(p))
                .collect::<Result<_, _>>()?,
            given_name: row.given_name,
            family_name: row.family_name,
            date_of_birth: row.date_of_birth,
            gender: row.gender.as_deref().and_then(Gender::parse),
            vemt,
            episodes: child_episodes,
            interviews,
        });
    }
    Ok(facts)
}
