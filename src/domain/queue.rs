//! Queueing for the Wednesday meeting (R2): which meeting a child goes to,
//! and what their agenda item says.

use chrono::{DateTime, NaiveDate, Utc};

use super::calendar::{Meeting, MeetingCalendar};
use super::criteria::{self, Assessment, ChildContext, Criterion, Thresholds};
use super::effects::{TriggerPlanRequest, TriggerPlanRequestKind};
use super::episode::{Episode, EpisodeStatus};
use super::ids::{LcsPersonId, PolicePersonId};

/// The decision to put a child on a meeting's agenda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queueing {
    pub meeting: Meeting,
    pub assessment: Assessment,
}

/// R2.1: evaluate the child at `now` and, if they must be reviewed, name the
/// next meeting whose agenda is still open.
pub fn decide(
    episodes: &[Episode],
    child: ChildContext,
    now: DateTime<Utc>,
    thresholds: &Thresholds,
    calendar: &MeetingCalendar,
) -> Option<Queueing> {
    let assessment = criteria::evaluate(episodes, child, now, thresholds);
    criteria::should_queue(episodes, child, &assessment).then(|| Queueing {
        meeting: calendar.next_open_meeting(now),
        assessment,
    })
}

/// A child's item on one meeting's agenda: what they met (R2.1), and
/// whether the police were asked for the trigger plan for it (R4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub assessment: Assessment,
    pub trigger_plan_requested: bool,
}

impl Item {
    /// Two items of one child for one meeting made one (a child joined to
    /// another, a meeting rolled into the next): criteria merged (R2.1), and
    /// the police not asked again if either already asked.
    pub fn merged_with(&self, other: &Item, episodes: &[Episode], thresholds: &Thresholds) -> Item {
        Item {
            assessment: merge_item(&self.assessment, &other.assessment, episodes, thresholds),
            trigger_plan_requested: self.trigger_plan_requested || other.trigger_plan_requested,
        }
    }

    /// R4.1: the police are asked once per child and meeting, when the item
    /// first holds a criterion.
    pub fn needs_trigger_plan_request(&self) -> bool {
        !self.trigger_plan_requested && !self.assessment.is_empty()
    }
}

/// The child's item on a meeting after an evaluation: the held item with
/// the fresh assessment (if the child is to be queued) merged in. `None`
/// when there is neither, so nothing is written.
pub fn updated_item(
    held: Option<&Item>,
    fresh: Option<Assessment>,
    episodes: &[Episode],
    thresholds: &Thresholds,
) -> Option<Item> {
    if held.is_none() && fresh.is_none() {
        return None;
    }
    let (before, requested) = held.map_or((Assessment::new(), false), |h| {
        (h.assessment.clone(), h.trigger_plan_requested)
    });
    Some(Item {
        assessment: merge_item(&before, &fresh.unwrap_or_default(), episodes, thresholds),
        trigger_plan_requested: requested,
    })
}

/// The child's newest episode that counts: the trigger-plan request names
/// its police person (R4.1). Of two reported at once, the last listed.
pub fn newest_counted(episodes: &[Episode]) -> Option<&Episode> {
    episodes
        .iter()
        .filter(|e| e.counts())
        .max_by_key(|e| e.reported_missing_at)
}

/// The item of a meeting not yet collated, after a new evaluation: later
/// matches add their criteria (R2.1). Episodes the police have since
/// cancelled count for nothing, so their evidence is withdrawn, and a
/// counting criterion left short of its count is withdrawn with it.
pub fn merge_item(
    existing: &Assessment,
    fresh: &Assessment,
    episodes: &[Episode],
    thresholds: &Thresholds,
) -> Assessment {
    let cancelled = |id: &_| {
        episodes
            .iter()
            .any(|e| &e.episode_id == id && e.status == EpisodeStatus::Cancelled)
    };
    let mut merged = Assessment::new();
    for (criterion, evidence) in existing.iter().chain(fresh.iter()) {
        let entry = merged.entry(*criterion).or_default();
        for id in evidence {
            if !cancelled(id) && !entry.contains(id) {
                entry.push(id.clone());
            }
        }
    }
    merged.retain(|criterion, evidence| evidence.len() >= minimum_evidence(*criterion, thresholds));
    for evidence in merged.values_mut() {
        sort_newest_first(evidence, episodes);
    }
    merged
}

fn minimum_evidence(criterion: Criterion, thresholds: &Thresholds) -> usize {
    match criterion {
        Criterion::TopMissing => thresholds.top_missing.count,
        Criterion::FrequentMissing => thresholds.frequent_missing.count,
        Criterion::FrequentNoApparentRisk => thresholds.frequent_no_apparent_risk.count,
        _ => 1,
    }
    .max(1)
}

fn sort_newest_first(ids: &mut [super::ids::EpisodeId], episodes: &[Episode]) {
    let reported = |id: &super::ids::EpisodeId| {
        episodes
            .iter()
            .find(|e| &e.episode_id == id)
            .map(|e| e.reported_missing_at)
    };
    ids.sort_by(|a, b| reported(b).cmp(&reported(a)).then_with(|| a.cmp(b)));
}

/// Who the police are asked about: the LCS record's names when the service
/// has one, else the police's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSubject {
    pub police_person_id: PolicePersonId,
    pub lcs_person_id: Option<LcsPersonId>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
}

/// R4.1: one request for a copy of the trigger plan, made when the child is
/// first queued for a meeting.
pub fn trigger_plan_copy_request(subject: RequestSubject, meeting: &Meeting) -> TriggerPlanRequest {
    TriggerPlanRequest {
        police_person_id: subject.police_person_id,
        lcs_person_id: subject.lcs_person_id,
        given_name: subject.given_name,
        family_name: subject.family_name,
        date_of_birth: subject.date_of_birth,
        kind: TriggerPlanRequestKind::Copy,
        meeting_date: meeting.date,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;
    use crate::domain::criteria::CountInWindow;
    use crate::domain::episode::EpisodeStatus::{Cancelled, Open, Returned};
    use crate::domain::episode::RiskLevel::{self, High, Low, Medium, NoApparentRisk};
    use crate::domain::fixtures::*;
    use crate::domain::ids::EpisodeId;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn cancel(mut e: Episode) -> Episode {
        e.status = Cancelled;
        e
    }

    /// Episodes E1 (newest) .. En, a day apart.
    fn daily(n: i64) -> Vec<Episode> {
        (1..=n)
            .map(|d| returned(&format!("E{d}"), hours(24 * d)))
            .collect()
    }

    // ---- merge_item (R2.1) ------------------------------------------------

    // R2.1: later matches add their criteria to the same item: criteria and
    // evidence are unioned, without duplicates, newest first.
    #[test]
    fn r2_1_merge_unions_criteria_and_evidence_without_duplicates() {
        let episodes = daily(3);
        let existing = Assessment::from([
            (Criterion::HighRisk, ids(&["E2"])),
            (Criterion::Live, ids(&["E3"])),
        ]);
        let fresh = Assessment::from([
            (Criterion::HighRisk, ids(&["E2", "E1"])),
            (Criterion::Over72Hours, ids(&["E1"])),
        ]);
        let merged = merge_item(&existing, &fresh, &episodes, &Thresholds::default());
        assert_eq!(
            merged,
            Assessment::from([
                (Criterion::HighRisk, ids(&["E1", "E2"])),
                (Criterion::Over72Hours, ids(&["E1"])),
                (Criterion::Live, ids(&["E3"])),
            ])
        );
        // Merging in the other order gives the same item.
        assert_eq!(
            merge_item(&fresh, &existing, &episodes, &Thresholds::default()),
            merged
        );
    }

    // R1, R2.1: evidence of an episode the police have since cancelled is
    // withdrawn, and a single-episode criterion with none left goes with it.
    #[test]
    fn r2_1_merge_withdraws_evidence_of_cancelled_episodes() {
        let mut episodes = daily(2);
        episodes[1] = cancel(episodes[1].clone()); // E2
        let existing = Assessment::from([
            (Criterion::HighRisk, ids(&["E1", "E2"])),
            (Criterion::Live, ids(&["E2"])),
        ]);
        let merged = merge_item(
            &existing,
            &Assessment::new(),
            &episodes,
            &Thresholds::default(),
        );
        assert_eq!(
            merged,
            Assessment::from([(Criterion::HighRisk, ids(&["E1"]))])
        );
    }

    // R1.2, R2.1: a counting criterion left short of its count is withdrawn;
    // one still at its count stays.
    #[test]
    fn r1_2_merge_drops_a_counting_criterion_left_below_its_count() {
        let th = Thresholds::default();
        let mut four = daily(4);
        let existing = Assessment::from([
            (Criterion::TopMissing, ids(&["E1", "E2", "E3", "E4"])),
            (Criterion::FrequentMissing, ids(&["E1", "E2", "E3", "E4"])),
        ]);
        four[3] = cancel(four[3].clone()); // E4
        let merged = merge_item(&existing, &Assessment::new(), &four, &th);
        assert_eq!(
            merged,
            Assessment::from([(Criterion::FrequentMissing, ids(&["E1", "E2", "E3"]))])
        );

        let mut five = daily(5);
        five[0] = cancel(five[0].clone()); // E1
        let existing =
            Assessment::from([(Criterion::TopMissing, ids(&["E1", "E2", "E3", "E4", "E5"]))]);
        assert_eq!(
            merge_item(&existing, &Assessment::new(), &five, &th),
            Assessment::from([(Criterion::TopMissing, ids(&["E2", "E3", "E4", "E5"]))])
        );
    }

    // R1.2-R1.4: the count a merged criterion needs is the configured one.
    #[test]
    fn r1_2_merge_uses_the_configured_counts() {
        let th = Thresholds {
            top_missing: CountInWindow { count: 3, days: 30 },
            frequent_no_apparent_risk: CountInWindow { count: 2, days: 90 },
            ..Thresholds::default()
        };
        let mut episodes = daily(4);
        episodes[3] = cancel(episodes[3].clone()); // E4
        let existing = Assessment::from([
            (Criterion::TopMissing, ids(&["E1", "E2", "E3", "E4"])),
            (Criterion::FrequentNoApparentRisk, ids(&["E3", "E4"])),
        ]);
        assert_eq!(
            merge_item(&existing, &Assessment::new(), &episodes, &th),
            Assessment::from([(Criterion::TopMissing, ids(&["E1", "E2", "E3"]))])
        );
    }

    // R2.1: merging re-sorts evidence newest first by report time.
    #[test]
    fn r2_1_merged_evidence_is_newest_first() {
        let episodes = daily(4);
        let existing = Assessment::from([(Criterion::FrequentMissing, ids(&["E4", "E2"]))]);
        let fresh = Assessment::from([(Criterion::FrequentMissing, ids(&["E3", "E1"]))]);
        assert_eq!(
            merge_item(&existing, &fresh, &episodes, &Thresholds::default())
                [&Criterion::FrequentMissing],
            ids(&["E1", "E2", "E3", "E4"])
        );
    }

    // ---- updated_item (R2.1, R4.1) ---------------------------------------

    // R2.1, R4.1: no item and nothing to queue writes nothing; a fresh
    // assessment makes an item that still has to ask for the trigger plan;
    // a held item keeps its request flag and gains the fresh criteria.
    #[test]
    fn r4_1_updated_item_keeps_the_request_flag_and_adds_criteria() {
        let episodes = daily(2);
        let th = Thresholds::default();
        assert_eq!(updated_item(None, None, &episodes, &th), None);
        let fresh = Assessment::from([(Criterion::Live, ids(&["E1"]))]);
        let new = updated_item(None, Some(fresh.clone()), &episodes, &th).expect("an item");
        assert_eq!(new.assessment, fresh);
        assert!(new.needs_trigger_plan_request());
        let held = Item {
            assessment: Assessment::from([(Criterion::HighRisk, ids(&["E2"]))]),
            trigger_plan_requested: true,
        };
        let grown = updated_item(Some(&held), Some(fresh), &episodes, &th).expect("an item");
        assert_eq!(
            grown.assessment.keys().copied().collect::<Vec<_>>(),
            [Criterion::HighRisk, Criterion::Live]
        );
        assert!(
            !grown.needs_trigger_plan_request(),
            "asked once per meeting"
        );
        let unchanged = updated_item(Some(&held), None, &episodes, &th).expect("the held item");
        assert_eq!(unchanged, held);
        let empty = Item {
            assessment: Assessment::new(),
            trigger_plan_requested: false,
        };
        assert!(
            !empty.needs_trigger_plan_request(),
            "no criterion, no request"
        );
    }

    // R4.1: the request names the newest episode that counts.
    #[test]
    fn r4_1_newest_counted_passes_over_cancelled_episodes() {
        let mut episodes = daily(3);
        assert_eq!(newest_counted(&episodes).unwrap().episode_id, id("E1"));
        episodes[0] = cancel(episodes[0].clone());
        assert_eq!(newest_counted(&episodes).unwrap().episode_id, id("E2"));
        let all: Vec<Episode> = episodes.into_iter().map(cancel).collect();
        assert_eq!(newest_counted(&all), None);
    }

    // ---- decide (R2.1) ----------------------------------------------------

    // R2.1: a child who must be reviewed goes to the next meeting whose agenda
    // is still open: on Monday 16 November 2026, Wednesday 18 November.
    #[test]
    fn r2_1_decide_names_the_next_open_meeting() {
        let calendar = MeetingCalendar::default();
        let th = Thresholds::default();
        let live = [episode(
            "O1",
            hours(2),
            Open,
            High,
            true,
            None,
            now() - hours(2),
        )];
        let q = decide(&live, never_reviewed(), now(), &th, &calendar).expect("queued");
        assert_eq!(q.meeting.date, date(2026, 11, 18));
        assert_eq!(q.meeting, calendar.next_open_meeting(now()));
        assert_eq!(
            q.meeting.collation_at,
            Utc.with_ymd_and_hms(2026, 11, 17, 12, 0, 0).unwrap()
        );
        assert_eq!(
            q.assessment,
            Assessment::from([
                (Criterion::HighRisk, ids(&["O1"])),
                (Criterion::Live, ids(&["O1"])),
            ])
        );

        // After Tuesday's collation the child goes to the week after.
        let later = Utc.with_ymd_and_hms(2026, 11, 17, 12, 0, 0).unwrap();
        let q = decide(&live, never_reviewed(), later, &th, &calendar).expect("queued");
        assert_eq!(q.meeting.date, date(2026, 11, 25));
    }

    // R2.1: nothing met, nothing queued.
    #[test]
    fn r2_1_decide_is_none_when_no_criterion_is_met() {
        let e = [returned("E1", hours(5))];
        assert_eq!(
            decide(
                &e,
                never_reviewed(),
                now(),
                &Thresholds::default(),
                &MeetingCalendar::default()
            ),
            None
        );
    }

    // R2.2: an old count still holding does not list the child again.
    #[test]
    fn r2_2_decide_is_none_for_an_old_count_with_nothing_new() {
        let review = now() - hours(24 * 5);
        let episodes: Vec<Episode> = (10..=12)
            .map(|d| returned(&format!("E{d}"), hours(24 * d)))
            .collect();
        let child = ChildContext {
            vemt_active: true,
            last_reviewed: Some(review),
        };
        let th = Thresholds::default();
        let calendar = MeetingCalendar::default();
        assert!(
            criteria::evaluate(&episodes, child, now(), &th)
                .contains_key(&Criterion::FrequentMissing)
        );
        assert_eq!(decide(&episodes, child, now(), &th, &calendar), None);

        // One new episode and the child is queued, with the count and the new episode.
        let mut with_new = episodes.clone();
        with_new.push(returned("NEW", hours(3)));
        let q = decide(&with_new, child, now(), &th, &calendar).expect("queued");
        assert_eq!(q.meeting.date, date(2026, 11, 18));
        assert_eq!(
            q.assessment,
            Assessment::from([
                (
                    Criterion::FrequentMissing,
                    ids(&["NEW", "E10", "E11", "E12"])
                ),
                (Criterion::TopMissing, ids(&["NEW", "E10", "E11", "E12"])),
                (Criterion::ActiveVemtCase, ids(&["NEW"])),
            ])
        );
    }

    // R4.1: the trigger-plan request is a copy request for the meeting's date.
    #[test]
    fn r4_1_trigger_plan_copy_request_names_the_meeting() {
        let meeting = MeetingCalendar::default().next_open_meeting(now());
        let subject = RequestSubject {
            police_person_id: PolicePersonId::parse("P-88231").unwrap(),
            lcs_person_id: Some(LcsPersonId::parse("LCS-100245").unwrap()),
            given_name: "Sam".into(),
            family_name: "Example".into(),
            date_of_birth: date(2012, 3, 4),
        };
        let r = trigger_plan_copy_request(subject, &meeting);
        assert_eq!(r.kind, TriggerPlanRequestKind::Copy);
        assert_eq!(r.meeting_date, date(2026, 11, 18));
        assert_eq!(r.police_person_id.as_str(), "P-88231");
        assert_eq!(r.lcs_person_id.unwrap().as_str(), "LCS-100245");
        assert_eq!(r.date_of_birth, date(2012, 3, 4));
    }

    // ---- Property tests ---------------------------------------------------

    type Spec = (EpisodeStatus, RiskLevel, bool, i64, Option<i64>, i64);

    fn arb_spec() -> impl Strategy<Value = Spec> {
        (
            prop_oneof![Just(Open), Just(Returned), Just(Cancelled)],
            prop_oneof![Just(High), Just(Medium), Just(Low), Just(NoApparentRisk)],
            any::<bool>(),
            prop_oneof![
                3 => -DAY..=100 * DAY,
                1 => prop::sample::select(vec![0, 30 * DAY, 30 * DAY + 1, 90 * DAY]),
            ],
            prop::option::of(0..=200 * HOUR),
            0..=200 * HOUR,
        )
    }

    fn build(raw_id: &str, spec: Spec) -> Episode {
        let (status, risk, ever_high, reported_ago, returned_after, changed_after) = spec;
        let returned_after = if status == Open { None } else { returned_after };
        episode(
            raw_id,
            Duration::seconds(reported_ago),
            status,
            risk,
            ever_high || risk == High,
            returned_after.map(Duration::seconds),
            now() - Duration::seconds(reported_ago) + Duration::seconds(changed_after),
        )
    }

    fn arb_episodes() -> impl Strategy<Value = Vec<Episode>> {
        prop::collection::vec(arb_spec(), 0..=12).prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, s)| build(&format!("E{i:02}"), s))
                .collect()
        })
    }

    fn arb_child() -> impl Strategy<Value = ChildContext> {
        (any::<bool>(), prop::option::of(0..=100 * DAY)).prop_map(|(vemt_active, ago)| {
            ChildContext {
                vemt_active,
                last_reviewed: ago.map(|s| now() - Duration::seconds(s)),
            }
        })
    }

    fn arb_thresholds() -> impl Strategy<Value = Thresholds> {
        let window =
            (0usize..=5, 1u32..=100).prop_map(|(count, days)| CountInWindow { count, days });
        prop_oneof![
            Just(Thresholds::default()),
            (window.clone(), window.clone(), window, 1u32..=100).prop_map(|(t, f, n, h)| {
                Thresholds {
                    top_missing: t,
                    frequent_missing: f,
                    frequent_no_apparent_risk: n,
                    over_hours: h,
                }
            }),
        ]
    }

    fn count_of(criterion: Criterion, th: &Thresholds) -> usize {
        match criterion {
            Criterion::TopMissing => th.top_missing.count,
            Criterion::FrequentMissing => th.frequent_missing.count,
            Criterion::FrequentNoApparentRisk => th.frequent_no_apparent_risk.count,
            _ => 1,
        }
        .max(1)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        // R2.1: merging an item with itself, or with nothing, changes nothing.
        #[test]
        fn prop_r2_1_merge_is_idempotent(
            episodes in arb_episodes(),
            child in arb_child(),
            th in arb_thresholds(),
        ) {
            let a = criteria::evaluate(&episodes, child, now(), &th);
            prop_assert_eq!(&merge_item(&a, &a, &episodes, &th), &a);
            prop_assert_eq!(&merge_item(&a, &Assessment::new(), &episodes, &th), &a);
            prop_assert_eq!(&merge_item(&Assessment::new(), &a, &episodes, &th), &a);
        }

        // R1, R2.1: after the police cancel some episodes, merging an item with
        // nothing keeps every criterion untouched by the cancellations exactly,
        // and what it keeps holds no cancelled episode and meets its count.
        #[test]
        fn prop_r2_1_merge_with_nothing_keeps_what_no_cancellation_touched(
            (episodes, cancel_mask) in arb_episodes()
                .prop_flat_map(|v| { let n = v.len(); (Just(v), prop::collection::vec(any::<bool>(), n)) }),
            child in arb_child(),
            th in arb_thresholds(),
        ) {
            let x = criteria::evaluate(&episodes, child, now(), &th);
            let after: Vec<Episode> = episodes
                .iter()
                .zip(&cancel_mask)
                .map(|(e, &c)| if c { cancel(e.clone()) } else { e.clone() })
                .collect();
            let is_cancelled = |id: &EpisodeId| {
                after.iter().any(|e| &e.episode_id == id && e.status == Cancelled)
            };
            let merged = merge_item(&x, &Assessment::new(), &after, &th);
            for (criterion, evidence) in &x {
                let surviving: Vec<EpisodeId> =
                    evidence.iter().filter(|id| !is_cancelled(id)).cloned().collect();
                if surviving.len() == evidence.len() {
                    prop_assert_eq!(merged.get(criterion), Some(evidence));
                } else if surviving.len() >= count_of(*criterion, &th) {
                    prop_assert_eq!(merged.get(criterion), Some(&surviving));
                } else {
                    prop_assert_eq!(merged.get(criterion), None);
                }
            }
            prop_assert!(merged.keys().all(|c| x.contains_key(c)));
        }

        // R2.1: merging is a union: every criterion and every uncancelled piece of
        // evidence of either side is kept (unless a count falls short), whatever the order.
        #[test]
        fn prop_r2_1_merge_is_a_commutative_union(
            episodes in arb_episodes(),
            child_a in arb_child(),
            child_b in arb_child(),
            th in arb_thresholds(),
        ) {
            let a = criteria::evaluate(&episodes, child_a, now(), &th);
            let b = criteria::evaluate(&episodes, child_b, now() - Duration::hours(30), &th);
            let ab = merge_item(&a, &b, &episodes, &th);
            prop_assert_eq!(&ab, &merge_item(&b, &a, &episodes, &th));
            for (criterion, evidence) in a.iter().chain(b.iter()) {
                let merged = ab.get(criterion);
                prop_assert!(merged.is_some(), "{:?} lost", criterion);
                let merged = merged.unwrap();
                prop_assert!(evidence.iter().all(|id| merged.contains(id)));
                let mut unique = merged.clone();
                unique.sort();
                unique.dedup();
                prop_assert_eq!(unique.len(), merged.len(), "duplicate evidence");
            }
        }
    }
}
