//! The state a batch of units of work needs, read from PostgreSQL in one
//! statement per table, and what they changed, written back the same way
//! (ARCHITECTURE.md: read, decide, write). The deciding is `process`'s.
//!
//! Every statement takes arrays (`= ANY`, `unnest`), so a batch of 200
//! events costs about twenty round trips, not twenty per event.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Row};

use super::ChildId;
use crate::contract::inbound::{InboundEvent, InboundPayload};
use crate::contract::outbound::OutboundEvent;
use crate::domain::calendar::Meeting;
use crate::domain::child::{ReturnHomeInterview, RhiStatus, VemtCategory, VemtStatus};
use crate::domain::episode::{EpisodeReport, EpisodeStatus, Gender, RiskLevel};
use crate::domain::ids::{
    ActionId, EhmId, EpisodeId, LcsPersonId, PolicePersonId, RhiId, TriggerPlanId,
};
use crate::domain::outcome::ActionStatus;
use crate::domain::queue::Item;
use crate::domain::trigger_plan::{DocumentUrl, MediaType, TriggerPlan};
use crate::process::state::{
    Child, HeldAction, HeldEpisode, HeldItem, HeldPlan, Keys, Link, PersonFacts, RecordFacts,
    RecordedReview, State,
};

/// The identities a batch names: what it locks and what it loads.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub police: BTreeSet<String>,
    pub lcs: BTreeSet<String>,
    pub episodes: BTreeSet<String>,
    pub interviews: BTreeSet<String>,
    pub plans: BTreeSet<String>,
    /// Children named by key (the sweep).
    pub children: BTreeSet<ChildId>,
    pub actions: BTreeSet<String>,
    /// Meetings outcomes name: when they sat is read.
    pub meetings: BTreeSet<NaiveDate>,
    /// Events that may create a child (an upper bound of the keys needed).
    pub may_create: usize,
    /// Read to show, not to change (an agenda): no row locked, and every
    /// interview of the children's episodes read too.
    pub reading: bool,
    /// Rows of history (`import`): identities, episodes and agenda items
    /// only, since no effect is made.
    pub history: bool,
}

impl Wanted {
    /// What the events name.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a InboundEvent>) -> Self {
        let mut wanted = Self::default();
        for event in events {
            match &event.payload {
                InboundPayload::MissingEpisode(report) => wanted.add_episode(report),
                InboundPayload::Child(record) => {
                    wanted.lcs.insert(record.lcs_person_id.to_string());
                    wanted
                        .police
                        .extend(record.police_person_ids.iter().map(|p| p.to_string()));
                    wanted.may_create += 1;
                }
                InboundPayload::ReturnHomeInterview(rhi) => {
                    wanted.interviews.insert(rhi.rhi_id.to_string());
                }
                InboundPayload::TriggerPlan(plan) => {
                    wanted.police.insert(plan.police_person_id.to_string());
                    wanted.plans.insert(plan.plan_id.to_string());
                }
                InboundPayload::ReviewOutcome(review) => {
                    wanted.lcs.insert(review.lcs_person_id.to_string());
                    wanted.meetings.insert(review.meeting_date);
                    wanted
                        .actions
                        .extend(review.actions.iter().map(|a| a.action_id.to_string()));
                }
                InboundPayload::ActionUpdated(update) => {
                    wanted.actions.insert(update.action_id.to_string());
                }
                InboundPayload::VpgDecision(decision) => {
                    wanted.lcs.insert(decision.lcs_person_id.to_string());
                }
            }
        }
        wanted
    }

    pub fn add_episode(&mut self, report: &EpisodeReport) {
        let person = &report.person;
        self.episodes.insert(report.episode_id.to_string());
        self.police.insert(person.police_person_id.to_string());
        self.lcs
            .extend(person.lcs_person_id.iter().map(|l| l.to_string()));
        self.may_create += 1;
    }

    /// The advisory-lock keys, as the per-event units name them.
    pub fn lock_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        keys.extend(self.police.iter().map(|k| format!("police:{k}")));
        keys.extend(self.lcs.iter().map(|k| format!("lcs:{k}")));
        keys.extend(self.episodes.iter().map(|k| format!("episode:{k}")));
        keys.extend(self.interviews.iter().map(|k| format!("rhi:{k}")));
        keys.extend(self.plans.iter().map(|k| format!("trigger-plan:{k}")));
        keys.extend(self.actions.iter().map(|k| format!("action:{k}")));
        keys
    }
}

/// Takes every key's advisory lock in one statement, in one order (of the
/// keys' hashes) for every instance, so two batches never wait on each other
/// in a cycle. Held until the transaction ends.
pub async fn lock(conn: &mut PgConnection, keys: &[String]) -> sqlx::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock(h)) FROM (
             SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) k ORDER BY 1
         ) s",
    )
    .bind(keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records each event in the inbox in one statement; `true` for each one
/// not seen before (a repeat within the batch is a duplicate too).
pub async fn record_inbox(
    conn: &mut PgConnection,
    events: &[&InboundEvent],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<bool>> {
    let mut seen = BTreeSet::new();
    let mut sources = Vec::new();
    let mut ids = Vec::new();
    let mut types = Vec::new();
    for event in events {
        let e = &event.envelope;
        if seen.insert((e.source.as_str(), e.id.as_str())) {
            sources.push(e.source.clone());
            ids.push(e.id.clone());
            types.push(e.event_type.clone());
        }
    }
    let fresh: BTreeSet<(String, String)> = sqlx::query(
        "INSERT INTO inbox (source, event_id, event_type, received_at)
         SELECT s, i, t, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(s, i, t)
         ON CONFLICT DO NOTHING RETURNING source, event_id",
    )
    .bind(&sources)
    .bind(&ids)
    .bind(&types)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    let mut first = BTreeSet::new();
    Ok(events
        .iter()
        .map(|event| {
            let key = (event.envelope.source.clone(), event.envelope.id.clone());
            fresh.contains(&key) && first.insert(key)
        })
        .collect())
}

/// Reads the state the wanted identities need, locking their children's
/// rows (in key order) until the transaction ends.
pub async fn load(conn: &mut PgConnection, wanted: &Wanted) -> anyhow::Result<State> {
    // Every read below is by key, through an index; with statistics stale
    // or never gathered (a bulk load, autovacuum off) the planner guesses a
    // key matches thousands of rows and scans the table instead: 660 ms
    // for one batch's episodes among 1,000,000, against 10 ms by index.
    // For the rest of the transaction, index scans only where one exists.
    sqlx::query("SELECT set_config('enable_seqscan', 'off', true)")
        .execute(&mut *conn)
        .await?;
    let police: Vec<String> = wanted.police.iter().cloned().collect();
    let lcs: Vec<String> = wanted.lcs.iter().cloned().collect();
    let named: Vec<ChildId> = wanted.children.iter().copied().collect();
    let keys: Vec<ChildId> = sqlx::query_scalar(
        "SELECT child_id FROM police_persons WHERE police_person_id = ANY($1)
         UNION SELECT child_id FROM children WHERE lcs_person_id = ANY($2)
         UNION SELECT unnest($3::bigint[])",
    )
    .bind(&police)
    .bind(&lcs)
    .bind(&named)
    .fetch_all(&mut *conn)
    .await?;

    let mut state = State::new(Keys::Reserved(VecDeque::new()));
    let lock = if wanted.reading { "" } else { "FOR UPDATE" };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT child_id, lcs_person_id, record_revision, vemt_active,
                record->>'given_name', record->>'family_name', (record->>'date_of_birth')::date,
                record->'vemt'->>'status', record->>'ehm_id',
                coalesce(record->'professionals', '[]'::jsonb),
                record->'vemt'->>'category', record->>'gender'
         FROM children WHERE child_id = ANY($1) ORDER BY child_id {lock}"
    )))
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let revision: Option<i32> = row.get(2);
        let record = match revision {
            None => None,
            Some(revision) => Some(RecordFacts {
                revision: u32::try_from(revision)?,
                vemt_active: row.get(3),
                given_name: stored(row.get(4), "given name")?,
                family_name: stored(row.get(5), "family name")?,
                date_of_birth: stored(row.get(6), "date of birth")?,
                vemt_status: VemtStatus::parse(&stored::<String>(row.get(7), "VEMT status")?)
                    .ok_or_else(|| anyhow::anyhow!("stored VEMT status unknown"))?,
                ehm_id: row
                    .get::<Option<&str>, _>(8)
                    .map(EhmId::parse)
                    .transpose()?,
                professionals: super::professionals(row.get(9))?,
                vemt_category: row.get::<Option<&str>, _>(10).and_then(VemtCategory::parse),
                gender: row.get::<Option<&str>, _>(11).and_then(Gender::parse),
            }),
        };
        let lcs_person_id: Option<String> = row.get(1);
        state.children.insert(
            row.get(0),
            Child {
                lcs_person_id: lcs_person_id
                    .as_deref()
                    .map(LcsPersonId::parse)
                    .transpose()?,
                record,
            },
        );
    }
    let held: Vec<ChildId> = state.children.keys().copied().collect();
    if held.len() != keys.len() && !wanted.reading {
        // A child merged away between finding and locking it: the batch
        // is retried, and finds its successor.
        return Err(Vanished.into());
    }

    let rows = sqlx::query(
        "SELECT police_person_id, child_id, unmatched_alerted FROM police_persons
         WHERE child_id = ANY($1)",
    )
    .bind(&held)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        state.police.insert(
            PolicePersonId::parse(row.get::<&str, _>(0))?,
            Link {
                child: row.get(1),
                unmatched_alerted: row.get(2),
            },
        );
    }
    let mut all_police: Vec<String> = state.police.keys().map(|p| p.to_string()).collect();
    all_police.extend(police.iter().cloned());
    all_police.sort();
    all_police.dedup();

    let episode_ids: Vec<String> = wanted.episodes.iter().cloned().collect();
    let rows = sqlx::query(
        "SELECT episode_id, police_person_id, revision, status, risk_level, ever_high,
                reported_missing_at, returned_at, changed_at,
                report->'person'->>'lcs_person_id', report->'person'->>'given_name',
                report->'person'->>'family_name', (report->'person'->>'date_of_birth')::date
         FROM episodes WHERE police_person_id = ANY($1) OR episode_id = ANY($2)",
    )
    .bind(&all_police)
    .bind(&episode_ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let episode = crate::domain::episode::Episode {
            episode_id: EpisodeId::parse(row.get::<&str, _>(0))?,
            status: EpisodeStatus::parse(row.get::<&str, _>(3))
                .ok_or_else(|| anyhow::anyhow!("stored episode status unknown"))?,
            risk_level: RiskLevel::parse(row.get::<&str, _>(4))
                .ok_or_else(|| anyhow::anyhow!("stored episode risk level unknown"))?,
            ever_high: row.get(5),
            reported_missing_at: row.get(6),
            returned_at: row.get(7),
            changed_at: row.get(8),
        };
        let lcs: Option<String> = row.get(9);
        state.episodes.insert(
            episode.episode_id.clone(),
            HeldEpisode {
                revision: u32::try_from(row.get::<i32, _>(2))?,
                police_person_id: PolicePersonId::parse(row.get::<&str, _>(1))?,
                person: PersonFacts {
                    lcs_person_id: lcs.as_deref().map(LcsPersonId::parse).transpose()?,
                    given_name: row.get(10),
                    family_name: row.get(11),
                    date_of_birth: row.get(12),
                },
                episode,
            },
        );
    }

    let rows = sqlx::query(
        "SELECT a.meeting_date, a.child_id, a.meeting_at, a.collation_at, a.assessment,
                a.trigger_plan_requested,
                EXISTS (SELECT 1 FROM collations c WHERE c.meeting_date = a.meeting_date)
         FROM agenda_items a WHERE a.child_id = ANY($1)",
    )
    .bind(&held)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let date: NaiveDate = row.get(0);
        if row.get::<bool, _>(6) {
            state.collated.insert(date);
        }
        state.items.insert(
            (date, row.get(1)),
            HeldItem {
                meeting: Meeting {
                    date,
                    meeting_at: row.get(2),
                    collation_at: row.get(3),
                },
                item: Item {
                    assessment: super::agenda::assessment_from_json(&row.get(4))?,
                    trigger_plan_requested: row.get(5),
                },
            },
        );
    }

    // History (import) makes no effect: outcomes, decisions, actions and
    // plans are not read for it.
    if !wanted.history {
        let mut all_lcs: Vec<String> = state
            .children
            .values()
            .filter_map(|c| c.lcs_person_id.as_ref().map(|l| l.to_string()))
            .collect();
        all_lcs.extend(lcs.iter().cloned());
        let rows = sqlx::query(
            "SELECT o.lcs_person_id, o.meeting_date,
                    coalesce((SELECT max(i.meeting_at) FROM agenda_items i WHERE i.meeting_date = o.meeting_date),
                             o.meeting_date::timestamp AT TIME ZONE 'UTC'),
                    o.recorded_at, o.outcome
             FROM review_outcomes o WHERE o.lcs_person_id = ANY($1)",
        )
        .bind(&all_lcs)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            state.reviews.push(RecordedReview {
                lcs_person_id: LcsPersonId::parse(row.get::<&str, _>(0))?,
                meeting_date: row.get(1),
                meeting_at: row.get(2),
                recorded_at: row.get(3),
                outcome: row.get(4),
            });
        }

        let rows = sqlx::query(
            "SELECT lcs_person_id, meeting_date FROM vpg_decisions WHERE lcs_person_id = ANY($1)",
        )
        .bind(&all_lcs)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            state
                .decisions
                .entry(LcsPersonId::parse(row.get::<&str, _>(0))?)
                .or_default()
                .insert(row.get(1));
        }
        if !wanted.meetings.is_empty() {
            let dates: Vec<NaiveDate> = wanted.meetings.iter().copied().collect();
            let rows = sqlx::query(
                "SELECT meeting_date, max(meeting_at) FROM agenda_items
                 WHERE meeting_date = ANY($1) GROUP BY meeting_date",
            )
            .bind(&dates)
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                state.meeting_times.insert(row.get(0), row.get(1));
            }
        }
        if !wanted.actions.is_empty() {
            let ids: Vec<String> = wanted.actions.iter().cloned().collect();
            let rows = sqlx::query(
                "SELECT action_id, status, updated_at FROM actions WHERE action_id = ANY($1)",
            )
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                state.actions.insert(
                    ActionId::parse(row.get::<&str, _>(0))?,
                    HeldAction {
                        status: ActionStatus::parse(row.get::<&str, _>(1))
                            .ok_or_else(|| anyhow::anyhow!("stored action status unknown"))?,
                        updated_at: row.get(2),
                    },
                );
            }
        }

        let plan_ids: Vec<String> = wanted.plans.iter().cloned().collect();
        let rows = sqlx::query(
            "SELECT plan_id, police_person_id, version, issued_at, url, media_type, received_at,
                    effects_sent_version
             FROM trigger_plans WHERE police_person_id = ANY($1) OR plan_id = ANY($2)",
        )
        .bind(&all_police)
        .bind(&plan_ids)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let plan = TriggerPlan {
                plan_id: TriggerPlanId::parse(row.get::<&str, _>(0))?,
                police_person_id: PolicePersonId::parse(row.get::<&str, _>(1))?,
                version: u32::try_from(row.get::<i32, _>(2))?,
                issued_at: row.get(3),
                url: DocumentUrl::parse(row.get::<&str, _>(4))?,
                media_type: row
                    .get::<Option<&str>, _>(5)
                    .map(|m| {
                        MediaType::parse(m)
                            .ok_or_else(|| anyhow::anyhow!("stored media type is malformed"))
                    })
                    .transpose()?,
            };
            state.plans.insert(
                plan.plan_id.clone(),
                HeldPlan {
                    plan,
                    received_at: row.get(6),
                    effects_sent_version: row
                        .get::<Option<i32>, _>(7)
                        .map(u32::try_from)
                        .transpose()?,
                },
            );
        }
    }

    if !wanted.interviews.is_empty() || wanted.reading {
        let rhi_ids: Vec<String> = wanted.interviews.iter().cloned().collect();
        let of_episodes: Vec<String> = match wanted.reading {
            true => state.episodes.keys().map(|e| e.to_string()).collect(),
            false => Vec::new(),
        };
        let rows = sqlx::query(
            "SELECT rhi_id, episode_id, lcs_person_id, status, offered_at, completed_at, stated_at
             FROM return_home_interviews WHERE rhi_id = ANY($1) OR episode_id = ANY($2)",
        )
        .bind(&rhi_ids)
        .bind(&of_episodes)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let rhi = ReturnHomeInterview {
                rhi_id: RhiId::parse(row.get::<&str, _>(0))?,
                episode_id: EpisodeId::parse(row.get::<&str, _>(1))?,
                lcs_person_id: row
                    .get::<Option<&str>, _>(2)
                    .map(LcsPersonId::parse)
                    .transpose()?,
                status: RhiStatus::parse(row.get::<&str, _>(3))
                    .ok_or_else(|| anyhow::anyhow!("stored interview status unknown"))?,
                offered_at: row.get(4),
                completed_at: row.get(5),
            };
            state
                .interviews
                .insert(rhi.rhi_id.clone(), (rhi, row.get(6)));
        }
    }

    // Keys for the children this batch may create, reserved from the
    // store's own sequence (a key not used is a gap, never a clash).
    let unlinked = wanted
        .police
        .iter()
        .filter(|p| {
            PolicePersonId::parse(p)
                .map(|p| !state.police.contains_key(&p))
                .unwrap_or(true)
        })
        .count();
    let reserve = match wanted.reading {
        true => 0,
        false => wanted.may_create.min(unlinked + wanted.lcs.len()),
    };
    if reserve > 0 {
        let keys: Vec<ChildId> = sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('children', 'child_id')) FROM generate_series(1, $1)",
        )
        .bind(i32::try_from(reserve)?)
        .fetch_all(&mut *conn)
        .await?;
        state = state.with_keys(Keys::Reserved(keys.into()));
    }
    Ok(state)
}

/// A child found by its identities was gone when its row was locked.
#[derive(Debug, thiserror::Error)]
#[error("a child was merged into another while the batch read it")]
pub struct Vanished;

fn stored<T>(value: Option<T>, what: &str) -> anyhow::Result<T> {
    value.ok_or_else(|| anyhow::anyhow!("stored LCS record lacks its {what}"))
}

/// Writes back what the batch changed, one statement per table, and the
/// effects' outbox rows.
pub async fn save(
    conn: &mut PgConnection,
    state: &State,
    outbox: &[OutboundEvent],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let changes = &state.changes;
    if !changes.created.is_empty() {
        let keys: Vec<ChildId> = changes.created.iter().copied().collect();
        sqlx::query(
            "INSERT INTO children (child_id, created_at, updated_at) OVERRIDING SYSTEM VALUE
             SELECT k, $2, $2 FROM unnest($1::bigint[]) k",
        )
        .bind(&keys)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    if !changes.children.is_empty() {
        let mut keys = Vec::new();
        let mut lcs = Vec::new();
        let mut records: Vec<Option<String>> = Vec::new();
        let mut revisions: Vec<Option<i32>> = Vec::new();
        let mut active: Vec<Option<bool>> = Vec::new();
        for key in &changes.children {
            let Some(child) = state.children.get(key) else {
                continue;
            };
            keys.push(*key);
            lcs.push(child.lcs_person_id.as_ref().map(|l| l.to_string()));
            match changes.records.get(key) {
                Some(record) => {
                    records.push(Some(serde_json::to_string(record)?));
                    revisions.push(Some(i32::try_from(record.revision)?));
                    active.push(Some(record.vemt_active()));
                }
                None => {
                    records.push(None);
                    revisions.push(None);
                    active.push(None);
                }
            }
        }
        sqlx::query(
            "UPDATE children c SET lcs_person_id = u.lcs,
                 record = coalesce(u.record::jsonb, c.record),
                 record_revision = coalesce(u.revision, c.record_revision),
                 vemt_active = coalesce(u.active, c.vemt_active),
                 updated_at = $6
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::bool[])
                  AS u(child_id, lcs, record, revision, active)
             WHERE c.child_id = u.child_id",
        )
        .bind(&keys)
        .bind(&lcs)
        .bind(&records)
        .bind(&revisions)
        .bind(&active)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    if !changes.links.is_empty() {
        let mut police = Vec::new();
        let mut children = Vec::new();
        let mut alerted = Vec::new();
        for p in &changes.links {
            if let Some(link) = state.police.get(p) {
                police.push(p.to_string());
                children.push(link.child);
                alerted.push(link.unmatched_alerted);
            }
        }
        sqlx::query(
            "INSERT INTO police_persons (police_person_id, child_id, unmatched_alerted)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bool[])
             ON CONFLICT (police_person_id) DO UPDATE SET child_id = EXCLUDED.child_id",
        )
        .bind(&police)
        .bind(&children)
        .bind(&alerted)
        .execute(&mut *conn)
        .await?;
    }
    save_items(conn, state).await?;
    if !changes.deleted.is_empty() {
        let keys: Vec<ChildId> = changes.deleted.iter().copied().collect();
        sqlx::query("DELETE FROM children WHERE child_id = ANY($1)")
            .bind(&keys)
            .execute(&mut *conn)
            .await?;
    }
    save_episodes(conn, state).await?;
    save_interviews(conn, state).await?;
    save_plans(conn, state).await?;
    save_outcomes(conn, state).await?;
    enqueue(conn, outbox).await?;
    Ok(())
}

async fn save_items(conn: &mut PgConnection, state: &State) -> anyhow::Result<()> {
    let changes = &state.changes.items;
    if changes.is_empty() {
        return Ok(());
    }
    let (mut gone_dates, mut gone_children) = (Vec::new(), Vec::new());
    let mut dates = Vec::new();
    let mut children = Vec::new();
    let mut meeting_at = Vec::new();
    let mut collation_at = Vec::new();
    let mut assessments = Vec::new();
    let mut requested = Vec::new();
    for key in changes {
        match state.items.get(key) {
            None => {
                gone_dates.push(key.0);
                gone_children.push(key.1);
            }
            Some(held) => {
                dates.push(key.0);
                children.push(key.1);
                meeting_at.push(held.meeting.meeting_at);
                collation_at.push(held.meeting.collation_at);
                assessments.push(serde_json::to_string(&held.item.assessment)?);
                requested.push(held.item.trigger_plan_requested);
            }
        }
    }
    if !gone_dates.is_empty() {
        sqlx::query(
            "DELETE FROM agenda_items a USING unnest($1::date[], $2::bigint[]) AS g(d, c)
             WHERE a.meeting_date = g.d AND a.child_id = g.c",
        )
        .bind(&gone_dates)
        .bind(&gone_children)
        .execute(&mut *conn)
        .await?;
    }
    if !dates.is_empty() {
        sqlx::query(
            "INSERT INTO agenda_items (meeting_date, child_id, meeting_at, collation_at, assessment, trigger_plan_requested)
             SELECT d, c, m, k, a::jsonb, r
             FROM unnest($1::date[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::bool[])
                  AS u(d, c, m, k, a, r)
             ON CONFLICT (meeting_date, child_id) DO UPDATE SET
                 assessment = EXCLUDED.assessment, trigger_plan_requested = EXCLUDED.trigger_plan_requested,
                 updated_at = now()",
        )
        .bind(&dates)
        .bind(&children)
        .bind(&meeting_at)
        .bind(&collation_at)
        .bind(&assessments)
        .bind(&requested)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn save_episodes(conn: &mut PgConnection, state: &State) -> anyhow::Result<()> {
    let changes = &state.changes;
    if !changes.revised.is_empty() {
        let mut ids = Vec::new();
        let mut police = Vec::new();
        let mut revisions = Vec::new();
        let mut statuses = Vec::new();
        let mut risks = Vec::new();
        let mut high = Vec::new();
        let mut reported = Vec::new();
        let mut returned = Vec::new();
        let mut changed = Vec::new();
        let mut documents = Vec::new();
        for (id, report) in &changes.revised {
            let Some(held) = state.episodes.get(id) else {
                continue;
            };
            let e = &held.episode;
            ids.push(id.to_string());
            police.push(held.police_person_id.to_string());
            revisions.push(i32::try_from(held.revision)?);
            statuses.push(e.status.as_str());
            risks.push(e.risk_level.as_str());
            high.push(e.ever_high);
            reported.push(e.reported_missing_at);
            returned.push(e.returned_at);
            changed.push(e.changed_at);
            documents.push(serde_json::to_string(&super::episodes::document(report))?);
        }
        sqlx::query(
            "INSERT INTO episodes (episode_id, police_person_id, revision, status, risk_level, ever_high,
                                   reported_missing_at, returned_at, changed_at, report)
             SELECT i, p, r, s, k, h, m, t, c, d::jsonb
             FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bool[],
                         $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::text[])
                  AS u(i, p, r, s, k, h, m, t, c, d)
             ON CONFLICT (episode_id) DO UPDATE SET
                 police_person_id = EXCLUDED.police_person_id, revision = EXCLUDED.revision,
                 status = EXCLUDED.status, risk_level = EXCLUDED.risk_level,
                 ever_high = episodes.ever_high OR EXCLUDED.ever_high,
                 reported_missing_at = EXCLUDED.reported_missing_at, returned_at = EXCLUDED.returned_at,
                 changed_at = EXCLUDED.changed_at, report = EXCLUDED.report
             WHERE episodes.revision < EXCLUDED.revision",
        )
        .bind(&ids)
        .bind(&police)
        .bind(&revisions)
        .bind(&statuses)
        .bind(&risks)
        .bind(&high)
        .bind(&reported)
        .bind(&returned)
        .bind(&changed)
        .bind(&documents)
        .execute(&mut *conn)
        .await?;
    }
    if !changes.remembered_high.is_empty() {
        let (mut ids, mut at) = (Vec::new(), Vec::new());
        for id in &changes.remembered_high {
            if let Some(held) = state.episodes.get(id) {
                ids.push(id.to_string());
                at.push(held.episode.changed_at);
            }
        }
        sqlx::query(
            "UPDATE episodes e SET ever_high = true, changed_at = GREATEST(e.changed_at, u.at)
             FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
             WHERE e.episode_id = u.id AND NOT e.ever_high",
        )
        .bind(&ids)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn save_interviews(conn: &mut PgConnection, state: &State) -> anyhow::Result<()> {
    if state.changes.interviews.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut episodes = Vec::new();
    let mut lcs = Vec::new();
    let mut statuses = Vec::new();
    let mut offered = Vec::new();
    let mut completed = Vec::new();
    let mut stated = Vec::new();
    for id in &state.changes.interviews {
        let Some((rhi, stated_at)) = state.interviews.get(id) else {
            continue;
        };
        ids.push(rhi.rhi_id.to_string());
        episodes.push(rhi.episode_id.to_string());
        lcs.push(rhi.lcs_person_id.as_ref().map(|l| l.to_string()));
        statuses.push(rhi.status.as_str());
        offered.push(rhi.offered_at);
        completed.push(rhi.completed_at);
        stated.push(*stated_at);
    }
    sqlx::query(
        "INSERT INTO return_home_interviews (rhi_id, episode_id, lcs_person_id, status, offered_at, completed_at, stated_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                              $6::timestamptz[], $7::timestamptz[])
         ON CONFLICT (rhi_id) DO UPDATE SET
             episode_id = EXCLUDED.episode_id, lcs_person_id = EXCLUDED.lcs_person_id, status = EXCLUDED.status,
             offered_at = EXCLUDED.offered_at, completed_at = EXCLUDED.completed_at, stated_at = EXCLUDED.stated_at
         WHERE return_home_interviews.stated_at < EXCLUDED.stated_at",
    )
    .bind(&ids)
    .bind(&episodes)
    .bind(&lcs)
    .bind(&statuses)
    .bind(&offered)
    .bind(&completed)
    .bind(&stated)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn save_plans(conn: &mut PgConnection, state: &State) -> anyhow::Result<()> {
    let changes = &state.changes;
    let touched: BTreeMap<&TriggerPlanId, &HeldPlan> = changes
        .plans
        .iter()
        .chain(&changes.plans_sent)
        .filter_map(|id| state.plans.get(id).map(|held| (id, held)))
        .collect();
    if touched.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut police = Vec::new();
    let mut versions = Vec::new();
    let mut issued = Vec::new();
    let mut urls = Vec::new();
    let mut media = Vec::new();
    let mut received = Vec::new();
    let mut sent: Vec<Option<i32>> = Vec::new();
    for (id, held) in touched {
        let plan = &held.plan;
        ids.push(id.to_string());
        police.push(plan.police_person_id.to_string());
        versions.push(i32::try_from(plan.version)?);
        issued.push(plan.issued_at);
        urls.push(plan.url.as_str().to_owned());
        media.push(plan.media_type.as_ref().map(|m| m.as_str()));
        received.push(held.received_at);
        sent.push(held.effects_sent_version.map(i32::try_from).transpose()?);
    }
    sqlx::query(
        "INSERT INTO trigger_plans (plan_id, police_person_id, version, issued_at, url, media_type,
                                    received_at, effects_sent_version)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[],
                              $6::text[], $7::timestamptz[], $8::int[])
         ON CONFLICT (plan_id) DO UPDATE SET
             police_person_id = EXCLUDED.police_person_id, version = EXCLUDED.version,
             issued_at = EXCLUDED.issued_at, url = EXCLUDED.url, media_type = EXCLUDED.media_type,
             received_at = EXCLUDED.received_at, effects_sent_version = EXCLUDED.effects_sent_version
         WHERE trigger_plans.version <= EXCLUDED.version",
    )
    .bind(&ids)
    .bind(&police)
    .bind(&versions)
    .bind(&issued)
    .bind(&urls)
    .bind(&media)
    .bind(&received)
    .bind(&sent)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Meeting outcomes and their actions, action statuses and VPG decisions.
async fn save_outcomes(conn: &mut PgConnection, state: &State) -> anyhow::Result<()> {
    let changes = &state.changes;
    if !changes.outcomes.is_empty() {
        let (mut dates, mut lcs, mut texts, mut refer, mut at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut ids, mut a_lcs, mut a_dates, mut descriptions, mut owners, mut due, mut a_at) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for (review, recorded_at) in &changes.outcomes {
            dates.push(review.meeting_date);
            lcs.push(review.lcs_person_id.to_string());
            texts.push(review.outcome.as_str());
            refer.push(review.refer_to_vpg);
            at.push(*recorded_at);
            for action in &review.actions {
                ids.push(action.action_id.to_string());
                a_lcs.push(review.lcs_person_id.to_string());
                a_dates.push(review.meeting_date);
                descriptions.push(action.description.as_str());
                owners.push(action.owner_role.as_str());
                due.push(action.due_date);
                a_at.push(*recorded_at);
            }
        }
        sqlx::query(
            "INSERT INTO review_outcomes (meeting_date, lcs_person_id, outcome, refer_to_vpg, recorded_at)
             SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::bool[], $5::timestamptz[])
             ON CONFLICT (meeting_date, lcs_person_id) DO NOTHING",
        )
        .bind(&dates)
        .bind(&lcs)
        .bind(&texts)
        .bind(&refer)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
        if !ids.is_empty() {
            // An action id already held (from another outcome) keeps its record.
            sqlx::query(
                "INSERT INTO actions (action_id, lcs_person_id, meeting_date, description, owner_role, due_date, status, updated_at)
                 SELECT i, l, m, d, o, u, 'open', t
                 FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], $6::date[], $7::timestamptz[])
                      AS x(i, l, m, d, o, u, t)
                 ON CONFLICT (action_id) DO NOTHING",
            )
            .bind(&ids)
            .bind(&a_lcs)
            .bind(&a_dates)
            .bind(&descriptions)
            .bind(&owners)
            .bind(&due)
            .bind(&a_at)
            .execute(&mut *conn)
            .await?;
        }
    }
    if !changes.actions.is_empty() {
        let (mut ids, mut statuses, mut at) = (Vec::new(), Vec::new(), Vec::new());
        for id in &changes.actions {
            if let Some(held) = state.actions.get(id) {
                ids.push(id.to_string());
                statuses.push(held.status.as_str());
                at.push(held.updated_at);
            }
        }
        sqlx::query(
            "UPDATE actions a SET status = u.s, updated_at = u.t
             FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(i, s, t)
             WHERE a.action_id = u.i",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    }
    if !changes.decisions.is_empty() {
        let dates: Vec<NaiveDate> = changes.decisions.iter().map(|d| d.0).collect();
        let lcs: Vec<String> = changes.decisions.iter().map(|d| d.1.to_string()).collect();
        let decisions: Vec<&str> = changes.decisions.iter().map(|d| d.2.as_str()).collect();
        let at: Vec<DateTime<Utc>> = changes.decisions.iter().map(|d| d.3).collect();
        sqlx::query(
            "INSERT INTO vpg_decisions (meeting_date, lcs_person_id, decision, recorded_at)
             SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::timestamptz[])
             ON CONFLICT DO NOTHING",
        )
        .bind(&dates)
        .bind(&lcs)
        .bind(&decisions)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Writes the effects' events unless one with the same (deterministic) id
/// is there, in one statement.
pub async fn enqueue(conn: &mut PgConnection, events: &[OutboundEvent]) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let bodies = events
        .iter()
        .map(|e| serde_json::to_string(&e.body))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, body)
         SELECT i, t, b::jsonb FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS u(i, t, b, n)
         ORDER BY n
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&bodies)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
