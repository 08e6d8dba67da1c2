//! Meetings cancelled or moved (R2.4): recorded by an operations command or
//! set in configuration; the items of a meeting that will not sit roll to
//! the meeting that replaces it.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::PgPool;

use crate::domain::calendar::MeetingCalendar;
use crate::domain::criteria::Thresholds;
use crate::store::agenda as items;
use crate::store::{self, children, episodes, meetings};

#[derive(Debug, thiserror::Error)]
pub enum ChangeRefused {
    #[error("no meeting sits on {0}: a regular meeting date is the review weekday")]
    NoMeeting(NaiveDate),
    #[error("the meeting on {0} has already sat")]
    AlreadySat(NaiveDate),
    #[error("a meeting already sits on {0}")]
    DateTaken(NaiveDate),
    #[error("{0} has passed: a meeting can only move to a time still ahead")]
    InThePast(NaiveDate),
}

#[derive(Clone)]
pub struct Meetings {
    pool: PgPool,
    configured: MeetingCalendar,
    thresholds: Thresholds,
}

impl Meetings {
    pub fn new(pool: PgPool, configured: MeetingCalendar, thresholds: Thresholds) -> Self {
        Self {
            pool,
            configured,
            thresholds,
        }
    }

    /// Cancels the regular meeting on `date`.
    pub async fn cancel(&self, date: NaiveDate, now: DateTime<Utc>) -> anyhow::Result<()> {
        self.change(date, None, now).await
    }

    /// Moves the regular meeting on `date` to `to` (same time of day).
    pub async fn move_to(
        &self,
        date: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.change(date, Some(to), now).await
    }

    async fn change(
        &self,
        date: NaiveDate,
        to: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        store::lock_keys(&mut tx, vec!["meeting-changes".into()]).await?;
        let calendar = meetings::calendar(&mut tx, &self.configured).await?;
        if date.weekday() != calendar.meeting_weekday {
            return Err(ChangeRefused::NoMeeting(date).into());
        }
        let sitting = calendar.with_changes(Default::default()).meeting_on(date);
        if sitting.is_some_and(|m| m.meeting_at <= now) {
            return Err(ChangeRefused::AlreadySat(date).into());
        }
        if let Some(to) = to {
            if calendar.meeting_on(to).is_some() {
                return Err(ChangeRefused::DateTaken(to).into());
            }
            let mut moved = calendar.changes.clone();
            moved.cancelled.remove(&date);
            moved.moved.insert(date, to);
            let target = calendar.with_changes(moved).meeting_on(to);
            if target.is_none_or(|m| m.meeting_at <= now) {
                return Err(ChangeRefused::InThePast(to).into());
            }
        }
        meetings::record(&mut tx, date, to).await?;
        tx.commit().await?;
        tracing::info!(meeting = %date, moved_to = ?to, "meeting changed");
        self.roll_items(now).await?;
        Ok(())
    }

    /// R2.4: moves every item of a meeting still ahead that no longer sits
    /// to the meeting that replaces it (the new date of a moved meeting, or
    /// the next open meeting), merged with any item the child has there.
    /// Returns how many items rolled.
    pub async fn roll_items(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let mut conn = self.pool.acquire().await?;
        let calendar = meetings::calendar(&mut conn, &self.configured).await?;
        let stranded: Vec<_> = items::meetings_ahead(&mut conn, now)
            .await?
            .into_iter()
            .filter(|m| calendar.meeting_on(m.date).is_none())
            .collect();
        drop(conn);
        let mut rolled = 0;
        for from in stranded {
            let to = match calendar.changes.moved.get(&from.date) {
                Some(to) => calendar.meeting_on(*to),
                None => None,
            }
            .unwrap_or_else(|| calendar.next_open_meeting(now));
            let mut tx = self.pool.begin().await?;
            store::lock_keys(&mut tx, vec![format!("meeting:{}", from.date)]).await?;
            for (child, item) in items::items_of(&mut tx, from.date).await? {
                children::lock(&mut tx, child).await?;
                let episodes = episodes::of_child(&mut tx, child).await?;
                let merged = match items::item(&mut tx, to.date, child).await? {
                    Some(held) => held.merged_with(&item, &episodes, &self.thresholds),
                    None => item,
                };
                items::save(&mut tx, &to, child, &merged).await?;
                items::delete(&mut tx, from.date, child).await?;
                rolled += 1;
            }
            tx.commit().await?;
            tracing::info!(from = %from.date, to = %to.date, "agenda items rolled to the next meeting");
        }
        Ok(rolled)
    }
}
