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
        let (effect, children) = match self.build(&mut tx, meeting, now).await? {
            VpgAgenda::Weekly(agenda) => {
                let sections = &agenda.sections;
                let count = sections.missing_category.len()
                    + sections.new_referrals.len()
                    + sections.deferred.len();
                (Effect::VpgWeeklyAgenda(Box::new(agenda)), count)
            }
            VpgAgenda::Monthly(agenda) => {
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

impl VpgAgendas {
    /// The agenda of `meeting` as it stands at `as_of` (what publication
    /// freezes; a preview before then).
    async fn build(
        &self,
        conn: &mut PgConnection,
        meeting: VpgMeeting,
        as_of: DateTime<Utc>,
    ) -> anyhow::Result<VpgAgenda> {
        Ok(match meeting.kind {
            VpgKind::Weekly => {
                let children = children(conn, &["active", "referred", "deferred"]).await?;
                let mut agenda = vpg::weekly_agenda(meeting, as_of, children, &self.thresholds);
                m1_outcomes(conn, &mut agenda, as_of).await?;
                VpgAgenda::Weekly(agenda)
            }
            VpgKind::Monthly => {
                let children = children(conn, &["active"]).await?;
                let mut agenda =
                    vpg::monthly_agenda(meeting, as_of, children, self.turning_18_horizon_days);
                outstanding_actions(conn, &mut agenda).await?;
                VpgAgenda::Monthly(agenda)
            }
        })
    }

    fn calendar(&self, kind: VpgKind) -> &VpgCalendar {
        match kind {
            VpgKind::Weekly => &self.weekly,
            VpgKind::Monthly => &self.monthly,
        }
    }

    /// The next meeting of `kind` that has not sat at `now`.
    pub fn next_sitting(&self, kind: VpgKind, now: DateTime<Utc>) -> VpgMeeting {
        self.calendar(kind).next_sitting(now)
    }

    /// The next meeting of each kind (published or not), then every
    /// published agenda, newest first (issue 11).
    pub async fn list(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<VpgSummary>> {
        let mut conn = self.pool.acquire().await?;
        let stored = published::list(&mut conn).await?;
        let published_at = |kind: VpgKind, date: NaiveDate| {
            stored
                .iter()
                .find(|(k, d, _)| k == kind.as_str() && *d == date)
                .map(|(_, _, at)| *at)
        };
        let mut list: Vec<VpgSummary> = [VpgKind::Weekly, VpgKind::Monthly]
            .into_iter()
            .map(|kind| {
                let m = self.next_sitting(kind, now);
                VpgSummary::of(m, published_at(kind, m.date))
            })
            .collect();
        for (kind, date, at) in &stored {
            let kind = match kind.as_str() {
                "weekly" => VpgKind::Weekly,
                _ => VpgKind::Monthly,
            };
            if list
                .iter()
                .any(|s| s.kind == kind.as_str() && s.date == *date)
            {
                continue;
            }
            if let Some(m) = self.calendar(kind).meeting_on(*date) {
                list.push(VpgSummary::of(m, Some(*at)));
            }
        }
        Ok(list)
    }

    /// The agenda of the `kind` meeting on `date`: as published, or a
    /// preview built at `now` of a meeting not yet sat whose agenda is not
    /// yet published; `None` when no such meeting sits that day (or it sat
    /// with no agenda published).
    pub async fn agenda(
        &self,
        kind: VpgKind,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<VpgView>> {
        let mut conn = self.pool.acquire().await?;
        if let Some((at, json)) = published::stored(&mut conn, kind.as_str(), date).await? {
            let agenda = match kind {
                VpgKind::Weekly => VpgAgenda::Weekly(serde_json::from_value(json)?),
                VpgKind::Monthly => VpgAgenda::Monthly(serde_json::from_value(json)?),
            };
            return Ok(Some(VpgView {
                agenda,
                published_at: Some(at),
            }));
        }
        let Some(meeting) = self
            .calendar(kind)
            .meeting_on(date)
            .filter(|m| m.meeting_at > now)
        else {
            return Ok(None);
        };
        Ok(Some(VpgView {
            agenda: self.build(&mut conn, meeting, now).await?,
            published_at: None,
        }))
    }
}

/// A weekly or monthly agenda.
#[derive(Debug, Clone, PartialEq)]
pub enum VpgAgenda {
    Weekly(VpgWeeklyAgenda),
    Monthly(VpgMonthlyAgenda),
}

/// An agenda as read by people and systems.
#[derive(Debug, Clone, PartialEq)]
pub struct VpgView {
    pub agenda: VpgAgenda,
    /// `None` for a preview.
    pub published_at: Option<DateTime<Utc>>,
}

impl VpgView {
    /// The agenda's JSON (the published event's data) with `preview`.
    pub fn json(&self) -> serde_json::Value {
        let mut value = match &self.agenda {
            VpgAgenda::Weekly(a) => serde_json::to_value(a),
            VpgAgenda::Monthly(a) => serde_json::to_value(a),
        }
        .unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("preview".into(), self.published_at.is_none().into());
        }
        value
    }
}

/// A VPG meeting in the list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VpgSummary {
    pub kind: &'static str,
    pub date: NaiveDate,
    pub meeting_at: DateTime<Utc>,
    pub publish_at: DateTime<Utc>,
    /// `None` until published.
    pub published_at: Option<DateTime<Utc>>,
}

impl VpgSummary {
    fn of(m: VpgMeeting, published_at: Option<DateTime<Utc>>) -> Self {
        Self {
            kind: m.kind.as_str(),
            date: m.date,
            meeting_at: m.meeting_at,
            publish_at: m.publish_at,
            published_at,
        }
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
