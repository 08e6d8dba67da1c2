//! The Wednesday meeting calendar (M1): when each meeting sits and when its
//! agenda is collated, in the council's own time zone.
//!
//! Times are set on the wall clock in Europe/London and turned into instants
//! per date, so a 10:00 meeting stays at 10:00 across the clock changes.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use std::collections::{BTreeMap, BTreeSet};

use chrono_tz::Tz;

/// Configured shape of the weekly meeting, with the meetings cancelled or
/// moved (R2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingCalendar {
    pub timezone: Tz,
    pub meeting_weekday: Weekday,
    pub meeting_time: NaiveTime,
    pub collation_weekday: Weekday,
    pub collation_time: NaiveTime,
    pub changes: MeetingChanges,
}

/// Regular meetings that will not sit on their day: cancelled, or moved to
/// another date (keyed by the regular date).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingChanges {
    pub cancelled: BTreeSet<NaiveDate>,
    pub moved: BTreeMap<NaiveDate, NaiveDate>,
}

/// One sitting of M1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meeting {
    /// The local date of the meeting: the key partners and people use.
    pub date: NaiveDate,
    pub meeting_at: DateTime<Utc>,
    pub collation_at: DateTime<Utc>,
}

impl Default for MeetingCalendar {
    fn default() -> Self {
        Self {
            timezone: chrono_tz::Europe::London,
            meeting_weekday: Weekday::Wed,
            meeting_time: NaiveTime::from_hms_opt(10, 0, 0).expect("valid time"),
            collation_weekday: Weekday::Tue,
            collation_time: NaiveTime::from_hms_opt(12, 0, 0).expect("valid time"),
            changes: MeetingChanges::default(),
        }
    }
}

impl MeetingCalendar {
    /// The same calendar with these cancellations and moves.
    pub fn with_changes(&self, changes: MeetingChanges) -> Self {
        Self {
            changes,
            ..self.clone()
        }
    }

    /// The meeting held on `date`: a regular one neither cancelled nor moved
    /// away, or one moved to `date`. `None` when no meeting sits that day.
    pub fn meeting_on(&self, date: NaiveDate) -> Option<Meeting> {
        if self.changes.moved.values().any(|to| *to == date) {
            return Some(self.sitting(date));
        }
        let regular = date.weekday() == self.meeting_weekday
            && !self.changes.cancelled.contains(&date)
            && !self.changes.moved.contains_key(&date);
        regular.then(|| self.sitting(date))
    }

    /// A meeting sitting on `date`, collated the same number of days before
    /// as a regular one (the Tuesday before a Wednesday).
    fn sitting(&self, date: NaiveDate) -> Meeting {
        let days_before = (7 + self.meeting_weekday.num_days_from_monday()
            - self.collation_weekday.num_days_from_monday())
            % 7;
        let collation_date = date - Duration::days(i64::from(days_before));
        Meeting {
            date,
            meeting_at: self.instant(date, self.meeting_time),
            collation_at: self.instant(collation_date, self.collation_time),
        }
    }

    /// The first meeting whose agenda has not been collated at `now` (R2.1):
    /// an episode arriving after Tuesday's collation goes to the week after.
    /// Cancelled meetings are passed over; a moved one counts at its new date.
    pub fn next_open_meeting(&self, now: DateTime<Utc>) -> Meeting {
        let today = now.with_timezone(&self.timezone).date_naive();
        // A move may bring a meeting before the next regular one.
        let moved = self
            .changes
            .moved
            .values()
            .map(|to| self.sitting(*to))
            .filter(|m| m.collation_at > now);
        let mut date = today;
        while date.weekday() != self.meeting_weekday {
            date = date.succ_opt().expect("date in range");
        }
        let regular = loop {
            if let Some(meeting) = self.meeting_on(date).filter(|m| m.collation_at > now) {
                break meeting;
            }
            date += Duration::days(7);
        };
        moved
            .chain(std::iter::once(regular))
            .min_by_key(|m| m.collation_at)
            .unwrap_or(regular)
    }

    /// The latest meeting whose collation has passed at `now`: the one a
    /// week before the next open meeting, if it sits. Collation publishes
    /// its agenda even with no child on it (R3.1).
    pub fn latest_past_collation(&self, now: DateTime<Utc>) -> Option<Meeting> {
        self.meeting_on(self.next_open_meeting(now).date - Duration::days(7))
    }

    fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        local_instant(self.timezone, date, time)
    }
}

/// A wall-clock time on a local date as an instant. In the autumn hour
/// that happens twice the first is taken; in the spring hour that never
/// happens, the time an hour later (what a person's clock then shows).
pub fn local_instant(timezone: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match timezone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => timezone
            .from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
            .expect("an hour after a spring gap exists")
            .with_timezone(&Utc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn summer_meeting_is_an_hour_earlier_in_utc() {
        let m = MeetingCalendar::default()
            .meeting_on(date("2026-10-21"))
            .unwrap();
        assert_eq!(m.meeting_at, utc("2026-10-21T09:00:00Z"));
        assert_eq!(m.collation_at, utc("2026-10-20T11:00:00Z"));
    }

    #[test]
    fn meeting_after_the_october_clock_change_keeps_its_wall_clock_time() {
        // Clocks go back on Sunday 25 October 2026.
        let m = MeetingCalendar::default()
            .meeting_on(date("2026-10-28"))
            .unwrap();
        assert_eq!(m.meeting_at, utc("2026-10-28T10:00:00Z"));
        assert_eq!(m.collation_at, utc("2026-10-27T12:00:00Z"));
    }

    #[test]
    fn collation_boundary_moves_arrivals_to_the_following_week() {
        let cal = MeetingCalendar::default();
        // Tuesday 17 November 2026, 11:59:59 London (GMT) is before collation.
        assert_eq!(
            cal.next_open_meeting(utc("2026-11-17T11:59:59Z")).date,
            date("2026-11-18")
        );
        // At collation time exactly the agenda is frozen.
        assert_eq!(
            cal.next_open_meeting(utc("2026-11-17T12:00:00Z")).date,
            date("2026-11-25")
        );
        // Wednesday morning, before the meeting, still goes to next week.
        assert_eq!(
            cal.next_open_meeting(utc("2026-11-18T08:00:00Z")).date,
            date("2026-11-25")
        );
    }

    #[test]
    fn collation_boundary_in_summer_time_is_read_on_london_clocks() {
        let cal = MeetingCalendar::default();
        // 11:30 BST on Tuesday 20 October is 10:30 UTC: before collation.
        assert_eq!(
            cal.next_open_meeting(utc("2026-10-20T10:30:00Z")).date,
            date("2026-10-21")
        );
        // 12:30 BST is 11:30 UTC: after it, so across the clock change to 28 October.
        assert_eq!(
            cal.next_open_meeting(utc("2026-10-20T11:30:00Z")).date,
            date("2026-10-28")
        );
    }

    #[test]
    fn spring_gap_moves_a_time_that_does_not_exist_an_hour_on() {
        let cal = MeetingCalendar {
            meeting_weekday: Weekday::Sun,
            meeting_time: NaiveTime::from_hms_opt(1, 30, 0).unwrap(),
            collation_weekday: Weekday::Sun,
            collation_time: NaiveTime::from_hms_opt(0, 30, 0).unwrap(),
            ..MeetingCalendar::default()
        };
        // Clocks go forward at 01:00 GMT on Sunday 29 March 2026.
        let m = cal.meeting_on(date("2026-03-29")).unwrap();
        assert_eq!(m.meeting_at, utc("2026-03-29T01:30:00Z"));
    }

    // R3.1: the latest meeting whose collation has passed, or none when
    // that week's meeting does not sit.
    #[test]
    fn latest_past_collation_is_the_week_before_the_next_open_meeting() {
        let cal = MeetingCalendar::default();
        let at = utc("2026-11-17T12:00:00Z");
        assert_eq!(
            cal.latest_past_collation(at).unwrap().date,
            date("2026-11-18")
        );
        let before = utc("2026-11-17T11:59:59Z");
        assert_eq!(
            cal.latest_past_collation(before).unwrap().date,
            date("2026-11-11")
        );
        let cancelled = cal.with_changes(MeetingChanges {
            cancelled: [date("2026-11-18")].into(),
            ..MeetingChanges::default()
        });
        assert_eq!(cancelled.latest_past_collation(at), None);
    }

    #[test]
    fn only_the_meeting_weekday_has_a_meeting() {
        assert!(
            MeetingCalendar::default()
                .meeting_on(date("2026-11-19"))
                .is_none()
        );
    }
}
