//! The state a unit of work reads and writes, in memory: what the tables
//! hold, for the children a batch touches (the service, loaded from
//! PostgreSQL by `store::batch` and written back from [`Changes`]) or for
//! everything (`simulate`, which starts empty and keeps it all).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::calendar::Meeting;
use crate::domain::child::{
    ChildRecord, Professional, ReturnHomeInterview, VemtCategory, VemtStatus,
};
use crate::domain::episode::{Episode, EpisodeReport, Gender};
use crate::domain::ids::{
    ActionId, EhmId, EpisodeId, LcsPersonId, PolicePersonId, RhiId, TriggerPlanId,
};
use crate::domain::outcome::{ActionStatus, ReviewOutcome};
use crate::domain::queue::Item;
use crate::domain::trigger_plan::TriggerPlan;
use crate::domain::vpg_decision::Decision;

/// A child's key: the `children.child_id` of the store.
pub type ChildKey = i64;

/// A child as held: known by an LCS id, or (unmatched) only by police ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub lcs_person_id: Option<LcsPersonId>,
    pub record: Option<RecordFacts>,
}

/// What the process reads of a held LCS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    pub revision: u32,
    pub vemt_status: VemtStatus,
    pub vemt_active: bool,
    pub vemt_category: Option<VemtCategory>,
    pub ehm_id: Option<EhmId>,
    pub gender: Option<Gender>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub professionals: Vec<Professional>,
}

impl RecordFacts {
    pub fn of(record: &ChildRecord) -> Self {
        Self {
            revision: record.revision,
            vemt_status: record.vemt.status,
            vemt_active: record.vemt_active(),
            vemt_category: record.vemt.category,
            ehm_id: record.ehm_id.clone(),
            gender: record.gender,
            given_name: record.given_name.clone(),
            family_name: record.family_name.clone(),
            date_of_birth: record.date_of_birth,
            professionals: record.professionals.clone(),
        }
    }
}

/// A police person's link to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub child: ChildKey,
    /// Operations were told no LCS child is linked (once).
    pub unmatched_alerted: bool,
}

/// Who the police said the person is on an episode's applied revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFacts {
    pub lcs_person_id: Option<LcsPersonId>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
}

/// The newest revision of an episode, as the `episodes` table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldEpisode {
    pub episode: Episode,
    pub revision: u32,
    pub police_person_id: PolicePersonId,
    pub person: PersonFacts,
}

/// A child's item on one meeting's agenda.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldItem {
    pub meeting: Meeting,
    pub item: Item,
}

/// A trigger plan's newest version, and which version's effects went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPlan {
    pub plan: TriggerPlan,
    pub received_at: DateTime<Utc>,
    pub effects_sent_version: Option<u32>,
}

/// A review outcome recorded for an LCS person (R5): the meeting it was
/// recorded at counts as a review from that meeting's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedReview {
    pub lcs_person_id: LcsPersonId,
    pub meeting_date: NaiveDate,
    /// The meeting's time when an agenda for it was held, else the start
    /// (UTC) of its day.
    pub meeting_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// The meeting's outcome as recorded (shown on later agendas, R3.2).
    pub outcome: String,
}

/// An action of a meeting's minutes (R5.5), with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAction {
    pub status: ActionStatus,
    pub updated_at: DateTime<Utc>,
}

/// What changed, for the store to write back (set-based, once per batch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub created: BTreeSet<ChildKey>,
    /// Children whose LCS id or record changed (created ones included).
    pub children: BTreeSet<ChildKey>,
    /// Full LCS records stored, as received.
    pub records: BTreeMap<ChildKey, ChildRecord>,
    pub deleted: BTreeSet<ChildKey>,
    pub links: BTreeSet<PolicePersonId>,
    /// Episodes given a newer revision, with the report that made it.
    pub revised: BTreeMap<EpisodeId, EpisodeReport>,
    /// Older revisions graded high: `ever_high` set on the held one.
    pub remembered_high: BTreeSet<EpisodeId>,
    pub interviews: BTreeSet<RhiId>,
    /// Items saved; an item no longer in [`State::items`] was deleted.
    pub items: BTreeSet<(NaiveDate, ChildKey)>,
    pub plans: BTreeSet<TriggerPlanId>,
    pub plans_sent: BTreeSet<TriggerPlanId>,
    /// Meeting outcomes recorded (with their actions), as received.
    pub outcomes: Vec<(ReviewOutcome, DateTime<Utc>)>,
    /// Actions whose status changed.
    pub actions: BTreeSet<ActionId>,
    /// VPG decisions recorded: (meeting, child) -> decision, when.
    pub decisions: Vec<(NaiveDate, LcsPersonId, Decision, DateTime<Utc>)>,
}

/// Where new children's keys come from.
#[derive(Debug, Clone)]
pub enum Keys {
    /// In memory: counting up.
    Counter(ChildKey),
    /// Reserved from the store's sequence for this batch.
    Reserved(VecDeque<ChildKey>),
}

/// Every table the units of work read and write, for the children loaded.
#[derive(Debug, Clone)]
pub struct State {
    pub children: BTreeMap<ChildKey, Child>,
    pub police: BTreeMap<PolicePersonId, Link>,
    pub episodes: BTreeMap<EpisodeId, HeldEpisode>,
    /// Each interview's latest statement, with when it was stated.
    pub interviews: BTreeMap<RhiId, (ReturnHomeInterview, DateTime<Utc>)>,
    pub items: BTreeMap<(NaiveDate, ChildKey), HeldItem>,
    /// Meetings whose agenda was collated (of the items held).
    pub collated: BTreeSet<NaiveDate>,
    pub plans: BTreeMap<TriggerPlanId, HeldPlan>,
    pub reviews: Vec<RecordedReview>,
    /// Of the meetings outcomes name: when they sat, by the agendas held
    /// for them (any child's item; `store::batch` reads them).
    pub meeting_times: BTreeMap<NaiveDate, DateTime<Utc>>,
    pub actions: BTreeMap<ActionId, HeldAction>,
    /// The VPG meetings (by date) that decided for each child.
    pub decisions: BTreeMap<LcsPersonId, BTreeSet<NaiveDate>>,
    pub changes: Changes,
    keys: Keys,
}

impl State {
    pub fn new(keys: Keys) -> Self {
        Self {
            children: BTreeMap::new(),
            police: BTreeMap::new(),
            episodes: BTreeMap::new(),
            interviews: BTreeMap::new(),
            items: BTreeMap::new(),
            collated: BTreeSet::new(),
            plans: BTreeMap::new(),
            reviews: Vec::new(),
            meeting_times: BTreeMap::new(),
            actions: BTreeMap::new(),
            decisions: BTreeMap::new(),
            changes: Changes::default(),
            keys,
        }
    }

    /// The same state, taking new children's keys from `keys`.
    pub fn with_keys(self, keys: Keys) -> Self {
        Self { keys, ..self }
    }

    /// An empty world whose children are numbered from 1 (`simulate`).
    pub fn in_memory() -> Self {
        Self::new(Keys::Counter(1))
    }

    /// The child a police person is linked to, with that child's LCS id.
    pub fn linked(&self, police: &PolicePersonId) -> Option<(ChildKey, Option<&str>)> {
        let link = self.police.get(police)?;
        let lcs = self
            .children
            .get(&link.child)
            .and_then(|c| c.lcs_person_id.as_ref());
        Some((link.child, lcs.map(LcsPersonId::as_str)))
    }

    pub fn by_lcs_person(&self, lcs: &LcsPersonId) -> Option<ChildKey> {
        self.children
            .iter()
            .find(|(_, c)| c.lcs_person_id.as_ref() == Some(lcs))
            .map(|(key, _)| *key)
    }

    /// A new child; `None` when the store reserved too few keys (a fault in
    /// the caller's count, never in the data).
    pub fn create(&mut self, lcs: Option<&LcsPersonId>) -> anyhow::Result<ChildKey> {
        let key = match &mut self.keys {
            Keys::Counter(next) => {
                let key = *next;
                *next += 1;
                key
            }
            Keys::Reserved(keys) => keys
                .pop_front()
                .ok_or_else(|| anyhow::anyhow!("no child key left reserved for this batch"))?,
        };
        self.children.insert(
            key,
            Child {
                lcs_person_id: lcs.cloned(),
                record: None,
            },
        );
        self.changes.created.insert(key);
        self.changes.children.insert(key);
        Ok(key)
    }

    pub fn set_lcs_person(&mut self, child: ChildKey, lcs: &LcsPersonId) {
        if let Some(held) = self.children.get_mut(&child) {
            held.lcs_person_id = Some(lcs.clone());
            self.changes.children.insert(child);
        }
    }

    pub fn store_record(&mut self, child: ChildKey, record: &ChildRecord) {
        if let Some(held) = self.children.get_mut(&child) {
            held.record = Some(RecordFacts::of(record));
            self.changes.children.insert(child);
            self.changes.records.insert(child, record.clone());
        }
    }

    /// Links a police person to a child (moving the link if it pointed
    /// elsewhere); `unmatched_alerted` is kept from a link held before.
    pub fn link(&mut self, police: &PolicePersonId, child: ChildKey, unmatched_alerted: bool) {
        let alerted = self
            .police
            .get(police)
            .map_or(unmatched_alerted, |held| held.unmatched_alerted);
        self.police.insert(
            police.clone(),
            Link {
                child,
                unmatched_alerted: alerted,
            },
        );
        self.changes.links.insert(police.clone());
    }

    /// The police persons linked to the child.
    pub fn police_of(&self, child: ChildKey) -> Vec<PolicePersonId> {
        self.police
            .iter()
            .filter(|(_, link)| link.child == child)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Every episode of the child under any of their police identities, in
    /// the order the store lists them.
    pub fn episodes_of(&self, child: ChildKey) -> Vec<Episode> {
        let mut episodes: Vec<Episode> = self
            .held_episodes_of(child)
            .map(|h| h.episode.clone())
            .collect();
        episodes.sort_by(|a, b| {
            (a.reported_missing_at, &a.episode_id).cmp(&(b.reported_missing_at, &b.episode_id))
        });
        episodes
    }

    pub fn held_episodes_of(&self, child: ChildKey) -> impl Iterator<Item = &HeldEpisode> {
        self.episodes
            .values()
            .filter(move |h| self.police.get(&h.police_person_id).map(|l| l.child) == Some(child))
    }

    pub fn save_item(&mut self, meeting: Meeting, child: ChildKey, item: Item) {
        self.items
            .insert((meeting.date, child), HeldItem { meeting, item });
        self.changes.items.insert((meeting.date, child));
    }

    pub fn delete_child(&mut self, child: ChildKey) {
        self.children.remove(&child);
        self.changes.children.remove(&child);
        self.changes.records.remove(&child);
        if !self.changes.created.remove(&child) {
            self.changes.deleted.insert(child);
        }
    }

    /// When a meeting sat, for an outcome recorded at it: the time of the
    /// agenda held for it (any child's item), else the start (UTC) of its
    /// day.
    pub fn meeting_at(&self, date: NaiveDate) -> DateTime<Utc> {
        let held = self
            .items
            .iter()
            .filter(|((d, _), _)| *d == date)
            .map(|(_, h)| h.meeting.meeting_at);
        held.chain(self.meeting_times.get(&date).copied())
            .max()
            .unwrap_or_else(|| date.and_time(chrono::NaiveTime::MIN).and_utc())
    }

    /// The review outcomes recorded for the child's LCS person.
    pub fn reviews_of(&self, child: ChildKey) -> impl Iterator<Item = &RecordedReview> {
        let lcs = self
            .children
            .get(&child)
            .and_then(|c| c.lcs_person_id.clone());
        self.reviews
            .iter()
            .filter(move |r| Some(&r.lcs_person_id) == lcs.as_ref())
    }
}
