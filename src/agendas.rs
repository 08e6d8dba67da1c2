//! Agendas of the Wednesday meeting: built from the store through the pure
//! core, frozen at collation (R3.1), read by the HTTP views and the CLI.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::agenda::{self, Agenda};
use crate::domain::calendar::{Meeting, MeetingCalendar};
use crate::domain::criteria::Thresholds;
use crate::store::{agenda as items, collations};

/// A meeting in the list of meetings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MeetingSummary {
    pub date: NaiveDate,
    pub meeting_at: DateTime<Utc>,
    pub collation_at: DateTime<Utc>,
    /// `None` while the agenda is open.
    pub collated_at: Option<DateTime<Utc>>,
    pub children: usize,
}

#[derive(Clone)]
pub struct Agendas {
    pool: PgPool,
    calendar: MeetingCalendar,
    thresholds: Thresholds,
    open_without_update_days: u32,
}

impl Agendas {
    pub fn new(pool: PgPool, calendar: MeetingCalendar, thresholds: Thresholds) -> Self {
        Self {
            pool,
            calendar,
            thresholds,
            open_without_update_days: crate::domain::quality::DEFAULT_OPEN_WITHOUT_UPDATE_DAYS,
        }
    }

    /// The same, flagging episodes open this many days with no update.
    pub fn with_open_without_update_days(mut self, days: u32) -> Self {
        self.open_without_update_days = days;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The calendar as it stands, with cancelled and moved meetings (R2.4).
    pub async fn calendar(&self, conn: &mut PgConnection) -> sqlx::Result<MeetingCalendar> {
        crate::store::meetings::calendar(conn, &self.calendar).await
    }

    /// The next meeting still open for change at `now`, on the calendar as
    /// it stands (cancelled and moved meetings included): what the HTTP list
    /// and `vemt agenda` with no date both read (issue 11).
    pub async fn next_meeting(&self, now: DateTime<Utc>) -> anyhow::Result<Meeting> {
        let mut conn = self.pool.acquire().await?;
        Ok(self.calendar(&mut conn).await?.next_open_meeting(now))
    }

    /// Why no meeting sits on `date`, in words for a person: cancelled,
    /// moved (and where to), or not a meeting day.
    pub async fn why_no_meeting(&self, date: NaiveDate) -> anyhow::Result<String> {
        let mut conn = self.pool.acquire().await?;
        let calendar = self.calendar(&mut conn).await?;
        Ok(if calendar.changes.cancelled.contains(&date) {
            format!("the meeting on {date} was cancelled")
        } else if let Some(to) = calendar.changes.moved.get(&date) {
            format!("the meeting on {date} was moved to {to}")
        } else {
            format!(
                "no meeting sits on {date}: meetings sit on {}s",
                weekday_name(calendar.meeting_weekday)
            )
        })
    }

    /// Upcoming meetings (the next open one always, and any other with
    /// children queued), soonest first; then collated meetings, newest first.
    pub async fn meetings(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<MeetingSummary>> {
        let next = self.next_meeting(now).await?;
        let mut conn = self.pool.acquire().await?;
        let mut upcoming: Vec<MeetingSummary> = items::open_meetings(&mut conn)
            .await?
            .into_iter()
            .map(|(m, children)| summary(m, None, children))
            .collect();
        if !upcoming.iter().any(|m| m.date == next.date) {
            upcoming.push(summary(next, None, 0));
        }
        upcoming.sort_by_key(|m| m.date);
        let past = collations::list(&mut conn).await?.into_iter().map(|c| {
            summary(
                Meeting {
                    date: c.meeting_date,
                    meeting_at: c.meeting_at,
                    collation_at: c.collation_at,
                },
                Some(c.collated_at),
                c.children,
            )
        });
        Ok(upcoming.into_iter().chain(past).collect())
    }

    /// The frozen agenda of a collated meeting, or the agenda of an open one
    /// as it stands at `now`; `None` when no meeting sits that day.
    pub async fn agenda(
        &self,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Agenda>> {
        let mut conn = self.pool.acquire().await?;
        if let Some(frozen) = collations::frozen(&mut conn, date).await? {
            return Ok(Some(frozen));
        }
        let Some(meeting) = self.calendar(&mut conn).await?.meeting_on(date) else {
            return Ok(None);
        };
        Ok(Some(self.build(&mut conn, meeting, now, None).await?))
    }

    /// The agenda of `meeting` as it stands at `as_of`.
    pub async fn build(
        &self,
        conn: &mut PgConnection,
        meeting: Meeting,
        as_of: DateTime<Utc>,
        collated_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Agenda> {
        let queued = items::queued(conn, meeting.date).await?;
        let wanted = crate::store::batch::Wanted {
            children: queued.iter().map(|(child, _)| *child).collect(),
            reading: true,
            ..Default::default()
        };
        let state = crate::store::batch::load(conn, &wanted).await?;
        let mut built = Vec::new();
        for (child, assessment) in queued {
            let facts = crate::process::item_facts(
                &state,
                child,
                assessment,
                meeting.date,
                as_of,
                self.open_without_update_days,
            )
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "child {child} has neither an LCS record nor a police report of their name"
                )
            })?;
            built.push(agenda::item(facts, as_of, &self.thresholds));
        }
        Ok(agenda::agenda(meeting, collated_at, built))
    }
}

/// "Wednesday".
pub fn weekday_name(day: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match day {
        Mon => "Monday",
        Tue => "Tuesday",
        Wed => "Wednesday",
        Thu => "Thursday",
        Fri => "Friday",
        Sat => "Saturday",
        Sun => "Sunday",
    }
}

fn summary(meeting: Meeting, collated_at: Option<DateTime<Utc>>, children: i64) -> MeetingSummary {
    MeetingSummary {
        date: meeting.date,
        meeting_at: meeting.meeting_at,
        collation_at: meeting.collation_at,
        collated_at,
        children: usize::try_from(children).unwrap_or(0),
    }
}
