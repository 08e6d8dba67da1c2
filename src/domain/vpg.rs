//! The weekly (M2) and monthly (M3) VPG meetings: when they sit, when their
//! agendas are published, and what the agendas hold (R3.4, R6.4). Built
//! from plain facts; the field names are the contract's
//! (`agenda.vpg-weekly.v1`, `agenda.vpg-monthly.v1`).

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use super::agenda::{self, AgendaEpisode, AgendaRhi};
use super::calendar::local_instant;
use super::child::{
    ProfessionalRole, ReturnHomeInterview, Vemt, VemtCategory, VemtRiskLevel, VemtStatus,
};
use super::criteria::Thresholds;
use super::episode::{Episode, Gender};
use super::ids::{LcsPersonId, PolicePersonId};

/// STAGE is for females aged 16 or over groomed for sexual exploitation (R6.3).
pub const STAGE_MIN_AGE: u32 = 16;

/// The two VPG meetings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VpgKind {
    Weekly,
    Monthly,
}

impl VpgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }
}

/// One sitting of a VPG meeting and the instant its agenda is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpgMeeting {
    pub kind: VpgKind,
    /// The local date of the meeting.
    pub date: NaiveDate,
    pub meeting_at: DateTime<Utc>,
    pub publish_at: DateTime<Utc>,
}

/// Which week of the month the monthly meeting sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeekOfMonth {
    /// The first to the fourth such weekday of the month (1..=4).
    Nth(u8),
    /// The last such weekday of the month.
    Last,
}

/// When a VPG meeting sits, on wall clocks in `timezone` (DST-correct as
/// the Wednesday calendar is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpgCalendar {
    pub kind: VpgKind,
    pub timezone: Tz,
    /// `None` for the weekly meeting; the week of the month for the monthly.
    pub week_of_month: Option<WeekOfMonth>,
    pub weekday: Weekday,
    pub time: NaiveTime,
    /// Days before the meeting date the agenda is published (weekly: < 7;
    /// monthly: < 28, so publications never overtake one another).
    pub publish_days_before: u32,
    pub publish_time: NaiveTime,
}

impl VpgCalendar {
    /// The weekly meeting (M2) every `weekday`.
    pub fn weekly(
        timezone: Tz,
        weekday: Weekday,
        time: NaiveTime,
        publish_days_before: u32,
        publish_time: NaiveTime,
    ) -> Self {
        Self {
            kind: VpgKind::Weekly,
            timezone,
            week_of_month: None,
            weekday,
            time,
            publish_days_before,
            publish_time,
        }
    }

    /// The monthly meeting (M3) on the `week` `weekday` of each month.
    pub fn monthly(
        timezone: Tz,
        week: WeekOfMonth,
        weekday: Weekday,
        time: NaiveTime,
        publish_days_before: u32,
        publish_time: NaiveTime,
    ) -> Self {
        Self {
            kind: VpgKind::Monthly,
            timezone,
            week_of_month: Some(week),
            weekday,
            time,
            publish_days_before,
            publish_time,
        }
    }

    /// The meeting sitting on `date`, if one does.
    pub fn meeting_on(&self, date: NaiveDate) -> Option<VpgMeeting> {
        let sits = match self.week_of_month {
            None => date.weekday() == self.weekday,
            Some(week) => monthly_date(date.year(), date.month(), self.weekday, week) == Some(date),
        };
        sits.then(|| VpgMeeting {
            kind: self.kind,
            date,
            meeting_at: local_instant(self.timezone, date, self.time),
            publish_at: local_instant(
                self.timezone,
                date - Duration::days(i64::from(self.publish_days_before)),
                self.publish_time,
            ),
        })
    }

    /// The meetings with a date from `from` to `to` inclusive, in order.
    fn meetings_between(&self, from: NaiveDate, to: NaiveDate) -> Vec<VpgMeeting> {
        from.iter_days()
            .take_while(|d| *d <= to)
            .filter_map(|d| self.meeting_on(d))
            .collect()
    }

    /// The latest meeting whose agenda is due at `now` (its publication
    /// instant reached); what the timer publishes, once.
    pub fn latest_due(&self, now: DateTime<Utc>) -> Option<VpgMeeting> {
        let today = now.with_timezone(&self.timezone).date_naive();
        self.meetings_between(today - Duration::days(70), today + Duration::days(35))
            .into_iter()
            .rfind(|m| m.publish_at <= now)
    }

    /// The next meeting that has not yet sat at `now`: the one a chair is
    /// preparing for (its agenda may be published already).
    pub fn next_sitting(&self, now: DateTime<Utc>) -> VpgMeeting {
        let today = now.with_timezone(&self.timezone).date_naive();
        self.meetings_between(today, today + Duration::days(70))
            .into_iter()
            .find(|m| m.meeting_at > now)
            .expect("a VPG meeting sits at least every five weeks")
    }

    /// The next meeting whose agenda is not yet due at `now`.
    pub fn next_meeting(&self, now: DateTime<Utc>) -> VpgMeeting {
        let today = now.with_timezone(&self.timezone).date_naive();
        self.meetings_between(today, today + Duration::days(70))
            .into_iter()
            .find(|m| m.publish_at > now)
            .expect("a VPG meeting sits at least every five weeks")
    }
}

/// The date of the `week` `weekday` in a month.
fn monthly_date(year: i32, month: u32, weekday: Weekday, week: WeekOfMonth) -> Option<NaiveDate> {
    match week {
        WeekOfMonth::Nth(n) => NaiveDate::from_weekday_of_month_opt(year, month, weekday, n),
        WeekOfMonth::Last => NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
            .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, weekday, 4)),
    }
}

/// What the VPG agendas need to know of one child with an LCS record.
#[derive(Debug, Clone)]
pub struct VpgChildFacts {
    pub lcs_person_id: LcsPersonId,
    pub police_person_ids: Vec<PolicePersonId>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub gender: Option<Gender>,
    pub vemt: Vemt,
    /// Loaded for the children of the MISSING section; empty otherwise.
    pub episodes: Vec<Episode>,
    pub interviews: Vec<ReturnHomeInterview>,
}

/// Who the child is, as every VPG agenda entry starts.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct VpgIdentity {
    pub lcs_person_id: LcsPersonId,
    pub police_person_ids: Vec<PolicePersonId>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
}

impl VpgIdentity {
    fn of(facts: &VpgChildFacts) -> Self {
        Self {
            lcs_person_id: facts.lcs_person_id.clone(),
            police_person_ids: facts.police_person_ids.clone(),
            given_name: facts.given_name.clone(),
            family_name: facts.family_name.clone(),
            date_of_birth: facts.date_of_birth,
        }
    }

    fn sort_key(&self) -> (String, String, LcsPersonId) {
        (
            self.family_name.to_lowercase(),
            self.given_name.to_lowercase(),
            self.lcs_person_id.clone(),
        )
    }
}

/// An M1 outcome carried to M2 (R5.4). Empty until meeting outcomes are
/// recorded (the outcomes issue fills these in).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct M1Outcome {
    pub lcs_person_id: LcsPersonId,
    pub meeting_date: NaiveDate,
    pub outcome: String,
}

/// A child on the weekly agenda with their VEMT case.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct WeeklyChild {
    #[serde(flatten)]
    pub identity: VpgIdentity,
    pub vemt: Vemt,
}

/// An active VEMT case in the MISSING category, with the episodes and
/// return home interviews as the Wednesday agenda lists them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct MissingCategoryChild {
    #[serde(flatten)]
    pub identity: VpgIdentity,
    pub vemt: Vemt,
    pub episodes: Vec<AgendaEpisode>,
    pub return_home_interviews: Vec<AgendaRhi>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct WeeklySections {
    /// M1's latest outcomes (R3.4, R5.4).
    pub m1_outcomes: Vec<M1Outcome>,
    /// Children M1 referred to M2 (R5.4).
    pub referred_by_m1: Vec<M1Outcome>,
    /// Active VEMT cases in the MISSING category, with their episodes and
    /// interviews as the Wednesday agenda lists them.
    pub missing_category: Vec<MissingCategoryChild>,
    /// VEMT status `referred`.
    pub new_referrals: Vec<WeeklyChild>,
    /// VEMT status `deferred`.
    pub deferred: Vec<WeeklyChild>,
}

/// `agenda.vpg-weekly.v1` data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct VpgWeeklyAgenda {
    pub meeting_date: NaiveDate,
    pub meeting_at: DateTime<Utc>,
    /// When the agenda was published: its publication instant, or later
    /// after an outage.
    pub collated_at: DateTime<Utc>,
    pub sections: WeeklySections,
}

/// The weekly agenda (R3.4) from every child with a VEMT status of
/// interest; episodes are listed as at the publication instant.
pub fn weekly_agenda(
    meeting: VpgMeeting,
    collated_at: DateTime<Utc>,
    children: Vec<VpgChildFacts>,
    thresholds: &Thresholds,
) -> VpgWeeklyAgenda {
    let mut sections = WeeklySections {
        m1_outcomes: Vec::new(),
        referred_by_m1: Vec::new(),
        missing_category: Vec::new(),
        new_referrals: Vec::new(),
        deferred: Vec::new(),
    };
    for child in children {
        let entry = || WeeklyChild {
            identity: VpgIdentity::of(&child),
            vemt: child.vemt.clone(),
        };
        match child.vemt.status {
            VemtStatus::Active if child.vemt.category == Some(VemtCategory::Missing) => {
                let (episodes, interviews) = agenda::episodes_and_interviews(
                    &child.episodes,
                    &child.interviews,
                    meeting.publish_at,
                    thresholds,
                );
                sections.missing_category.push(MissingCategoryChild {
                    identity: VpgIdentity::of(&child),
                    vemt: child.vemt.clone(),
                    episodes,
                    return_home_interviews: interviews,
                });
            }
            VemtStatus::Referred => sections.new_referrals.push(entry()),
            VemtStatus::Deferred => sections.deferred.push(entry()),
            _ => {}
        }
    }
    sections
        .missing_category
        .sort_by_key(|c| c.identity.sort_key());
    sections
        .new_referrals
        .sort_by_key(|c| c.identity.sort_key());
    sections.deferred.sort_by_key(|c| c.identity.sort_key());
    VpgWeeklyAgenda {
        meeting_date: meeting.date,
        meeting_at: meeting.meeting_at,
        collated_at,
        sections,
    }
}

/// An open action from M1 minutes for an active VEMT case (R5.5). Empty
/// until meeting outcomes are recorded (the outcomes issue fills these in).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct OutstandingAction {
    pub meeting_date: NaiveDate,
    pub assignee_role: Option<ProfessionalRole>,
    pub description: String,
}

#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct MonthlyVemt {
    pub category: Option<VemtCategory>,
    pub risk_level: Option<VemtRiskLevel>,
}

wire_enum!(
    /// What the monthly meeting should see about a child (R6.4).
    MonthlyFlag {
        Turning18 = "turning_18",
        Stage = "stage",
    }
);

wire_enum!(
    /// A STAGE condition a child does not meet (R6.3: the service says so).
    StageUnmet {
        NotFemale = "not_female",
        Under16 = "under_16",
        NotCse = "not_cse",
    }
);

/// One active VEMT case on the monthly agenda.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct MonthlyItem {
    #[serde(flatten)]
    pub identity: VpgIdentity,
    pub vemt: MonthlyVemt,
    pub outstanding_actions: Vec<OutstandingAction>,
    /// The 18th birthday when it falls from the meeting date to the horizon
    /// after it, both included; else null.
    pub turns_18_on: Option<NaiveDate>,
    pub may_fit_stage: bool,
    /// The STAGE conditions not met (empty when `may_fit_stage`).
    pub stage_unmet: Vec<StageUnmet>,
    pub flags: Vec<MonthlyFlag>,
}

/// `agenda.vpg-monthly.v1` data.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct VpgMonthlyAgenda {
    pub meeting_date: NaiveDate,
    pub meeting_at: DateTime<Utc>,
    pub collated_at: DateTime<Utc>,
    /// How far after the meeting date `turns_18_on` looks.
    pub turning_18_horizon_days: u32,
    pub items: Vec<MonthlyItem>,
}

/// The date a person born on `date_of_birth` turns `years` (a 29 February
/// birthday falls on 1 March in other years).
pub fn birthday(date_of_birth: NaiveDate, years: u32) -> NaiveDate {
    date_of_birth
        .checked_add_months(Months::new(12 * years))
        .map(|d| {
            if date_of_birth.month() == 2 && date_of_birth.day() == 29 && d.day() == 28 {
                d + Duration::days(1)
            } else {
                d
            }
        })
        .unwrap_or(NaiveDate::MAX)
}

/// R6.3: the STAGE conditions a child does not meet on `on`.
pub fn stage_unmet(
    gender: Option<Gender>,
    date_of_birth: NaiveDate,
    category: Option<VemtCategory>,
    on: NaiveDate,
) -> Vec<StageUnmet> {
    let mut unmet = Vec::new();
    if gender != Some(Gender::Female) {
        unmet.push(StageUnmet::NotFemale);
    }
    if birthday(date_of_birth, STAGE_MIN_AGE) > on {
        unmet.push(StageUnmet::Under16);
    }
    if category != Some(VemtCategory::Cse) {
        unmet.push(StageUnmet::NotCse);
    }
    unmet
}

/// The monthly agenda (R3.4, R6.4): every active VEMT case.
pub fn monthly_agenda(
    meeting: VpgMeeting,
    collated_at: DateTime<Utc>,
    children: Vec<VpgChildFacts>,
    turning_18_horizon_days: u32,
) -> VpgMonthlyAgenda {
    let horizon = meeting.date + Duration::days(i64::from(turning_18_horizon_days));
    let mut items: Vec<MonthlyItem> = children
        .into_iter()
        .filter(|c| c.vemt.status == VemtStatus::Active)
        .map(|c| {
            let eighteen = birthday(c.date_of_birth, 18);
            let turns_18_on = (meeting.date <= eighteen && eighteen <= horizon).then_some(eighteen);
            let unmet = stage_unmet(c.gender, c.date_of_birth, c.vemt.category, meeting.date);
            let may_fit_stage = unmet.is_empty();
            let flags = [
                turns_18_on.is_some().then_some(MonthlyFlag::Turning18),
                may_fit_stage.then_some(MonthlyFlag::Stage),
            ]
            .into_iter()
            .flatten()
            .collect();
            MonthlyItem {
                identity: VpgIdentity::of(&c),
                vemt: MonthlyVemt {
                    category: c.vemt.category,
                    risk_level: c.vemt.risk_level,
                },
                outstanding_actions: Vec::new(),
                turns_18_on,
                may_fit_stage,
                stage_unmet: unmet,
                flags,
            }
        })
        .collect();
    items.sort_by_key(|i| i.identity.sort_key());
    VpgMonthlyAgenda {
        meeting_date: meeting.date,
        meeting_at: meeting.meeting_at,
        collated_at,
        turning_18_horizon_days,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::child::RhiStatus;
    use crate::domain::episode::{EpisodeStatus, RiskLevel};
    use crate::domain::ids::{EpisodeId, RhiId};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn hm(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn london() -> Tz {
        chrono_tz::Europe::London
    }

    fn weekly() -> VpgCalendar {
        VpgCalendar::weekly(london(), Weekday::Thu, hm("13:00"), 1, hm("12:00"))
    }

    fn monthly(week: WeekOfMonth) -> VpgCalendar {
        VpgCalendar::monthly(london(), week, Weekday::Thu, hm("10:00"), 7, hm("12:00"))
    }

    fn child(lcs: &str, status: VemtStatus, category: VemtCategory) -> VpgChildFacts {
        VpgChildFacts {
            lcs_person_id: LcsPersonId::parse(lcs).unwrap(),
            police_person_ids: vec![],
            given_name: "Given".into(),
            family_name: format!("Family-{lcs}"),
            date_of_birth: date("2010-05-06"),
            gender: Some(Gender::Female),
            vemt: Vemt {
                status,
                category: Some(category),
                risk_level: Some(VemtRiskLevel::Medium),
            },
            episodes: vec![],
            interviews: vec![],
        }
    }

    #[test]
    fn weekly_meeting_and_its_publication_the_day_before() {
        let m = weekly().meeting_on(date("2026-11-26")).unwrap();
        assert_eq!(m.meeting_at, utc("2026-11-26T13:00:00Z"));
        assert_eq!(m.publish_at, utc("2026-11-25T12:00:00Z"));
        assert!(weekly().meeting_on(date("2026-11-25")).is_none());
        assert_eq!(
            weekly().next_meeting(utc("2026-11-23T09:00:00Z")).date,
            date("2026-11-26")
        );
        assert_eq!(
            weekly()
                .latest_due(utc("2026-11-25T11:59:59Z"))
                .unwrap()
                .date,
            date("2026-11-19")
        );
        assert_eq!(
            weekly()
                .latest_due(utc("2026-11-25T12:00:00Z"))
                .unwrap()
                .date,
            date("2026-11-26")
        );
        assert_eq!(
            weekly().next_meeting(utc("2026-11-25T12:00:00Z")).date,
            date("2026-12-03")
        );
    }

    #[test]
    fn weekly_times_keep_to_london_clocks_across_the_october_change() {
        // Clocks go back on Sunday 25 October 2026.
        let before = weekly().meeting_on(date("2026-10-22")).unwrap();
        assert_eq!(before.meeting_at, utc("2026-10-22T12:00:00Z"));
        assert_eq!(before.publish_at, utc("2026-10-21T11:00:00Z"));
        let after = weekly().meeting_on(date("2026-10-29")).unwrap();
        assert_eq!(after.meeting_at, utc("2026-10-29T13:00:00Z"));
        assert_eq!(after.publish_at, utc("2026-10-28T12:00:00Z"));
    }

    #[test]
    fn monthly_publication_spans_the_clock_change() {
        // First Thursday of November 2026 is the 5th (GMT); published a week
        // before, 29 October, also GMT; 1 October sits in BST.
        let m = monthly(WeekOfMonth::Nth(1))
            .meeting_on(date("2026-11-05"))
            .unwrap();
        assert_eq!(m.meeting_at, utc("2026-11-05T10:00:00Z"));
        assert_eq!(m.publish_at, utc("2026-10-29T12:00:00Z"));
        let oct = monthly(WeekOfMonth::Nth(1))
            .meeting_on(date("2026-10-01"))
            .unwrap();
        assert_eq!(oct.meeting_at, utc("2026-10-01T09:00:00Z"));
        assert_eq!(oct.publish_at, utc("2026-09-24T11:00:00Z"));
        // A March meeting published before the spring change, held after it.
        let apr = monthly(WeekOfMonth::Nth(1))
            .meeting_on(date("2026-04-02"))
            .unwrap();
        assert_eq!(apr.publish_at, utc("2026-03-26T12:00:00Z"));
        assert_eq!(apr.meeting_at, utc("2026-04-02T09:00:00Z"));
    }

    #[test]
    fn monthly_week_one_and_last() {
        let first = monthly(WeekOfMonth::Nth(1));
        assert!(first.meeting_on(date("2026-12-03")).is_some());
        assert!(first.meeting_on(date("2026-12-10")).is_none());
        assert_eq!(
            first.next_meeting(utc("2026-11-23T09:00:00Z")).date,
            date("2026-12-03")
        );
        // December 2026's is published on 26 November at noon.
        assert_eq!(
            first.next_meeting(utc("2026-11-26T12:00:00Z")).date,
            date("2027-01-07")
        );
        assert_eq!(
            first.latest_due(utc("2026-11-26T12:00:00Z")).unwrap().date,
            date("2026-12-03")
        );
        let last = monthly(WeekOfMonth::Last);
        // December 2026 has five Thursdays: the 31st is the last.
        assert!(last.meeting_on(date("2026-12-31")).is_some());
        assert!(last.meeting_on(date("2026-12-24")).is_none());
        // February 2026 has four: the 26th.
        assert!(last.meeting_on(date("2026-02-26")).is_some());
        assert_eq!(
            last.next_meeting(utc("2026-12-01T00:00:00Z")).date,
            date("2026-12-31")
        );
        assert_eq!(
            last.latest_due(utc("2026-12-01T00:00:00Z")).unwrap().date,
            date("2026-11-26")
        );
    }

    #[test]
    fn weekly_sections_sort_children_by_status_and_category() {
        let meeting = weekly().meeting_on(date("2026-11-26")).unwrap();
        let mut missing = child("LCS-M", VemtStatus::Active, VemtCategory::Missing);
        let episode = Episode {
            episode_id: EpisodeId::parse("E1").unwrap(),
            status: EpisodeStatus::Returned,
            risk_level: RiskLevel::Low,
            ever_high: false,
            reported_missing_at: utc("2026-11-20T09:00:00Z"),
            returned_at: Some(utc("2026-11-20T13:00:00Z")),
            changed_at: utc("2026-11-20T13:00:00Z"),
        };
        missing.episodes = vec![episode];
        missing.interviews = vec![ReturnHomeInterview {
            rhi_id: RhiId::parse("R1").unwrap(),
            episode_id: EpisodeId::parse("E1").unwrap(),
            lcs_person_id: None,
            status: RhiStatus::Offered,
            offered_at: Some(utc("2026-11-21T10:00:00Z")),
            completed_at: None,
        }];
        let children = vec![
            missing,
            child("LCS-C", VemtStatus::Active, VemtCategory::Cse),
            child("LCS-R", VemtStatus::Referred, VemtCategory::Cce),
            child("LCS-D", VemtStatus::Deferred, VemtCategory::Missing),
            child("LCS-X", VemtStatus::Closed, VemtCategory::Missing),
        ];
        let a = weekly_agenda(
            meeting,
            meeting.publish_at,
            children,
            &Thresholds::default(),
        );
        let s = &a.sections;
        assert!(s.m1_outcomes.is_empty() && s.referred_by_m1.is_empty());
        assert_eq!(s.missing_category.len(), 1);
        assert_eq!(s.missing_category[0].episodes.len(), 1);
        assert!(!s.missing_category[0].episodes[0].rhi_not_offered_within_72_hours);
        assert_eq!(s.missing_category[0].return_home_interviews.len(), 1);
        assert_eq!(s.new_referrals[0].identity.lcs_person_id.as_str(), "LCS-R");
        assert_eq!(s.deferred[0].identity.lcs_person_id.as_str(), "LCS-D");
        assert_eq!((s.new_referrals.len(), s.deferred.len()), (1, 1));
    }

    fn monthly_item(facts: VpgChildFacts, meeting_date: &str) -> Option<MonthlyItem> {
        let meeting = VpgMeeting {
            kind: VpgKind::Monthly,
            date: date(meeting_date),
            meeting_at: utc("2026-12-03T10:00:00Z"),
            publish_at: utc("2026-11-26T12:00:00Z"),
        };
        monthly_agenda(meeting, meeting.publish_at, vec![facts], 90)
            .items
            .into_iter()
            .next()
    }

    #[test]
    fn turning_18_is_flagged_up_to_the_horizon_inclusive() {
        let mut c = child("LCS-1", VemtStatus::Active, VemtCategory::Cce);
        // Meeting 2026-12-03; horizon 90 days: 2027-03-03.
        c.date_of_birth = date("2009-03-03");
        let at_horizon = monthly_item(c.clone(), "2026-12-03").unwrap();
        assert_eq!(at_horizon.turns_18_on, Some(date("2027-03-03")));
        assert_eq!(at_horizon.flags, vec![MonthlyFlag::Turning18]);
        c.date_of_birth = date("2009-03-04");
        let beyond = monthly_item(c.clone(), "2026-12-03").unwrap();
        assert_eq!(beyond.turns_18_on, None);
        assert!(beyond.flags.is_empty());
        c.date_of_birth = date("2008-12-03");
        assert_eq!(
            monthly_item(c.clone(), "2026-12-03").unwrap().turns_18_on,
            Some(date("2026-12-03")),
            "turning 18 on the meeting day"
        );
        c.date_of_birth = date("2008-12-02");
        assert_eq!(
            monthly_item(c, "2026-12-03").unwrap().turns_18_on,
            None,
            "already 18"
        );
        assert_eq!(birthday(date("2008-02-29"), 18), date("2026-03-01"));
    }

    #[test]
    fn stage_needs_a_female_of_16_or_over_in_category_cse() {
        let mut c = child("LCS-1", VemtStatus::Active, VemtCategory::Cse);
        c.date_of_birth = date("2010-12-03");
        let sixteen = monthly_item(c.clone(), "2026-12-03").unwrap();
        assert!(sixteen.may_fit_stage);
        assert!(sixteen.stage_unmet.is_empty());
        assert_eq!(sixteen.flags, vec![MonthlyFlag::Stage]);
        // 15 years and 364 days.
        c.date_of_birth = date("2010-12-04");
        let younger = monthly_item(c.clone(), "2026-12-03").unwrap();
        assert!(!younger.may_fit_stage);
        assert_eq!(younger.stage_unmet, vec![StageUnmet::Under16]);
        c.date_of_birth = date("2010-01-01");
        c.gender = Some(Gender::Male);
        assert_eq!(
            monthly_item(c.clone(), "2026-12-03").unwrap().stage_unmet,
            vec![StageUnmet::NotFemale]
        );
        c.gender = Some(Gender::Female);
        c.vemt.category = Some(VemtCategory::Cce);
        let cce = monthly_item(c, "2026-12-03").unwrap();
        assert!(!cce.may_fit_stage);
        assert_eq!(cce.stage_unmet, vec![StageUnmet::NotCse]);
    }

    #[test]
    fn monthly_lists_only_active_cases() {
        let c = child("LCS-1", VemtStatus::Referred, VemtCategory::Cse);
        assert!(monthly_item(c, "2026-12-03").is_none());
    }
}
