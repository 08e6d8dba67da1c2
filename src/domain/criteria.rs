//! The missing criteria (R1): who is reviewed at the Wednesday meeting.
//!
//! Pure: the episodes, the child's VEMT status, the last review and "now"
//! come in as arguments; the criteria met, each with its evidence, come out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::episode::{Episode, RiskLevel};
use super::ids::EpisodeId;

/// The named criteria, in the order the agenda shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Criterion {
    HighRisk,
    TopMissing,
    FrequentMissing,
    FrequentNoApparentRisk,
    ActiveVemtCase,
    Over72Hours,
    Live,
}

impl Criterion {
    pub const ALL: [Criterion; 7] = [
        Self::HighRisk,
        Self::TopMissing,
        Self::FrequentMissing,
        Self::FrequentNoApparentRisk,
        Self::ActiveVemtCase,
        Self::Over72Hours,
        Self::Live,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HighRisk => "high_risk",
            Self::TopMissing => "top_missing",
            Self::FrequentMissing => "frequent_missing",
            Self::FrequentNoApparentRisk => "frequent_no_apparent_risk",
            Self::ActiveVemtCase => "active_vemt_case",
            Self::Over72Hours => "over_72_hours",
            Self::Live => "live",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

// By hand, so the names are the contract's (`over_72_hours`, which serde's
// snake_case would spell `over72_hours`) and are spelt in one place.
impl serde::Serialize for Criterion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Criterion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("unknown criterion"))
    }
}

/// N episodes or more within the last D days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CountInWindow {
    pub count: usize,
    pub days: u32,
}

/// Every count, window and limit of R1, with the defaults of PRODUCT.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// R1.2. Default 4 in 30 days: docs/rules.md says why not 3.
    pub top_missing: CountInWindow,
    /// R1.3.
    pub frequent_missing: CountInWindow,
    /// R1.4.
    pub frequent_no_apparent_risk: CountInWindow,
    /// R1.6, in hours.
    pub over_hours: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            top_missing: CountInWindow { count: 4, days: 30 },
            frequent_missing: CountInWindow { count: 3, days: 90 },
            frequent_no_apparent_risk: CountInWindow { count: 3, days: 90 },
            over_hours: 72,
        }
    }
}

impl Thresholds {
    /// The longest window any criterion looks back over: the agenda lists the
    /// episodes inside it.
    pub fn longest_window_days(&self) -> u32 {
        self.top_missing
            .days
            .max(self.frequent_missing.days)
            .max(self.frequent_no_apparent_risk.days)
    }
}

/// The criteria a child meets, each with the episodes that meet it.
pub type Assessment = BTreeMap<Criterion, Vec<EpisodeId>>;

/// What the criteria need to know about the child besides their episodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildContext {
    pub vemt_active: bool,
    /// The meeting time of the child's last review at M1 (R2.2), if any.
    pub last_reviewed: Option<DateTime<Utc>>,
}

/// An episode not yet reviewed: reported or updated after the last review,
/// or still live. A child never reviewed has every episode in view.
pub fn is_unreviewed(episode: &Episode, last_reviewed: Option<DateTime<Utc>>) -> bool {
    match last_reviewed {
        None => true,
        Some(at) => {
            episode.is_live() || episode.reported_missing_at > at || episode.changed_at > at
        }
    }
}

/// R1.1-R1.7 at `now`. Cancelled episodes count for nothing.
pub fn evaluate(
    episodes: &[Episode],
    child: ChildContext,
    now: DateTime<Utc>,
    thresholds: &Thresholds,
) -> Assessment {
    let counted: Vec<&Episode> = episodes.iter().filter(|e| e.counts()).collect();
    let unreviewed: Vec<&Episode> = counted
        .iter()
        .copied()
        .filter(|e| is_unreviewed(e, child.last_reviewed))
        .collect();

    let mut met = Assessment::new();
    let mut record = |criterion: Criterion, evidence: Vec<&Episode>| {
        if !evidence.is_empty() {
            met.insert(criterion, ids_newest_first(evidence));
        }
    };

    // Single-episode criteria look only at what the meeting has not yet seen.
    record(
        Criterion::HighRisk,
        unreviewed.iter().copied().filter(|e| e.ever_high).collect(),
    );
    if child.vemt_active {
        record(Criterion::ActiveVemtCase, unreviewed.clone());
    }
    let limit = Duration::hours(i64::from(thresholds.over_hours));
    record(
        Criterion::Over72Hours,
        unreviewed
            .iter()
            .copied()
            .filter(|e| e.duration(now) > limit)
            .collect(),
    );
    record(
        Criterion::Live,
        unreviewed.iter().copied().filter(|e| e.is_live()).collect(),
    );

    // Counting criteria are about a pattern: every episode in the window counts.
    let in_window = |days: u32| -> Vec<&Episode> {
        let start = now - Duration::hours(24 * i64::from(days));
        counted
            .iter()
            .copied()
            .filter(|e| e.reported_missing_at >= start && e.reported_missing_at <= now)
            .collect()
    };
    let count_rule = |rule: CountInWindow, keep: &dyn Fn(&Episode) -> bool| {
        let hits: Vec<&Episode> = in_window(rule.days)
            .into_iter()
            .filter(|e| keep(e))
            .collect();
        if hits.len() >= rule.count.max(1) {
            hits
        } else {
            Vec::new()
        }
    };
    record(
        Criterion::TopMissing,
        count_rule(thresholds.top_missing, &|_| true),
    );
    record(
        Criterion::FrequentMissing,
        count_rule(thresholds.frequent_missing, &|_| true),
    );
    record(
        Criterion::FrequentNoApparentRisk,
        count_rule(thresholds.frequent_no_apparent_risk, &|e| {
            e.risk_level == RiskLevel::NoApparentRisk
        }),
    );
    met
}

/// R2.1/R2.2: the child goes onto the next meeting's agenda only when an
/// episode of theirs is new, updated or live since their last review, and
/// they meet at least one criterion.
pub fn should_queue(episodes: &[Episode], child: ChildContext, assessment: &Assessment) -> bool {
    !assessment.is_empty()
        && episodes
            .iter()
            .any(|e| e.counts() && is_unreviewed(e, child.last_reviewed))
}

fn ids_newest_first(mut episodes: Vec<&Episode>) -> Vec<EpisodeId> {
    episodes.sort_by(|a, b| {
        b.reported_missing_at
            .cmp(&a.reported_missing_at)
            .then_with(|| a.episode_id.cmp(&b.episode_id))
    });
    episodes.into_iter().map(|e| e.episode_id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::episode::EpisodeStatus::{self, Cancelled, Open, Returned};
    use crate::domain::episode::RiskLevel::{High, Low, Medium, NoApparentRisk};
    use crate::domain::fixtures::*;

    fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    /// A low-risk episode still open, last changed when it was reported.
    fn open(raw_id: &str, reported_ago: Duration) -> Episode {
        let changed_at = now() - reported_ago;
        episode(raw_id, reported_ago, Open, Low, false, None, changed_at)
    }

    /// `returned` but recorded in error by the police.
    fn cancelled(raw_id: &str, reported_ago: Duration) -> Episode {
        Episode {
            status: Cancelled,
            ..returned(raw_id, reported_ago)
        }
    }

    fn graded(mut e: Episode, risk: RiskLevel) -> Episode {
        e.risk_level = risk;
        e.ever_high = e.ever_high || risk == High;
        e
    }

    fn reviewed_at(at: DateTime<Utc>) -> ChildContext {
        ChildContext {
            vemt_active: false,
            last_reviewed: Some(at),
        }
    }

    fn eval(episodes: &[Episode]) -> Assessment {
        evaluate(episodes, never_reviewed(), now(), &Thresholds::default())
    }

    fn criteria_of(a: &Assessment) -> Vec<Criterion> {
        a.keys().copied().collect()
    }

    // ---- R1.2-R1.4 windows ------------------------------------------------

    // R1.2: the window of D days starts exactly D x 24 h before now, included.
    #[test]
    fn r1_2_window_start_is_included_and_a_second_earlier_is_not() {
        let recent = [
            returned("E1", hours(1)),
            returned("E2", hours(2)),
            returned("E3", hours(3)),
        ];
        let mut at_edge = recent.to_vec();
        at_edge.push(returned("EDGE", hours(30 * 24)));
        assert_eq!(
            eval(&at_edge).get(&Criterion::TopMissing),
            Some(&ids(&["E1", "E2", "E3", "EDGE"]))
        );

        let mut outside = recent.to_vec();
        outside.push(returned("EDGE", hours(30 * 24) + secs(1)));
        assert_eq!(eval(&outside).get(&Criterion::TopMissing), None);
        // Still inside the 90-day window, so it counts there.
        assert_eq!(
            eval(&outside)
                .get(&Criterion::FrequentMissing)
                .map(Vec::len),
            Some(4)
        );
    }

    // R1.2: the window ends at now, included; a report after now is not in it.
    #[test]
    fn r1_2_window_end_is_now_included() {
        let mut episodes = vec![
            returned("E1", hours(5)),
            returned("E2", hours(6)),
            returned("E3", hours(7)),
        ];
        episodes.push(returned("NOW", Duration::zero()));
        assert_eq!(
            eval(&episodes).get(&Criterion::TopMissing),
            Some(&ids(&["NOW", "E1", "E2", "E3"]))
        );

        episodes.pop();
        episodes.push(returned("LATER", -secs(1)));
        assert_eq!(eval(&episodes).get(&Criterion::TopMissing), None);
    }

    // R1.3: the 90-day window has the same closed edges.
    #[test]
    fn r1_3_ninety_day_window_edges() {
        let base = [returned("E1", hours(24)), returned("E2", hours(48))];
        let mut at_edge = base.to_vec();
        at_edge.push(returned("EDGE", hours(90 * 24)));
        assert_eq!(
            eval(&at_edge).get(&Criterion::FrequentMissing),
            Some(&ids(&["E1", "E2", "EDGE"]))
        );
        let mut outside = base.to_vec();
        outside.push(returned("EDGE", hours(90 * 24) + secs(1)));
        assert!(eval(&outside).is_empty());
    }

    // R1.2: top_missing is 4 in 30 days by default: 3 do not meet it, 4 do.
    #[test]
    fn r1_2_top_missing_three_do_not_meet_it_four_do() {
        let mut episodes: Vec<Episode> = (1..=3)
            .map(|d| returned(&format!("E{d}"), hours(24 * d)))
            .collect();
        let three = eval(&episodes);
        assert!(!three.contains_key(&Criterion::TopMissing));
        // Three in 30 days is still three in 90 days.
        assert!(three.contains_key(&Criterion::FrequentMissing));

        episodes.push(returned("E4", hours(24 * 29)));
        assert_eq!(
            eval(&episodes).get(&Criterion::TopMissing),
            Some(&ids(&["E1", "E2", "E3", "E4"]))
        );
    }

    // R1.3: frequent_missing is 3 in 90 days: 2 do not meet it, 3 spread over 89 days do.
    #[test]
    fn r1_3_frequent_missing_three_in_ninety_days() {
        let mut episodes = vec![
            returned("E10", hours(24 * 10)),
            returned("E50", hours(24 * 50)),
        ];
        assert!(eval(&episodes).is_empty());
        episodes.push(returned("E89", hours(24 * 89)));
        let met = eval(&episodes);
        assert_eq!(criteria_of(&met), vec![Criterion::FrequentMissing]);
        assert_eq!(
            met[&Criterion::FrequentMissing],
            ids(&["E10", "E50", "E89"])
        );
    }

    // R1.4: only episodes graded "no apparent risk" count towards frequent_no_apparent_risk.
    #[test]
    fn r1_4_frequent_no_apparent_risk_counts_only_that_grade() {
        let mut episodes = vec![
            graded(returned("N1", hours(24)), NoApparentRisk),
            graded(returned("N2", hours(48)), NoApparentRisk),
            graded(returned("L1", hours(72)), Low),
            graded(returned("M1", hours(96)), Medium),
            returned("L2", hours(120)),
        ];
        let two = eval(&episodes);
        assert!(!two.contains_key(&Criterion::FrequentNoApparentRisk));
        assert!(two.contains_key(&Criterion::TopMissing));

        episodes.push(graded(returned("N3", hours(24 * 80)), NoApparentRisk));
        assert_eq!(
            eval(&episodes).get(&Criterion::FrequentNoApparentRisk),
            Some(&ids(&["N1", "N2", "N3"]))
        );
    }

    // R1.4: a "no apparent risk" episode outside the 90-day window does not count.
    #[test]
    fn r1_4_no_apparent_risk_outside_the_window_does_not_count() {
        let episodes = [
            graded(returned("N1", hours(24)), NoApparentRisk),
            graded(returned("N2", hours(48)), NoApparentRisk),
            graded(returned("N3", hours(90 * 24) + secs(1)), NoApparentRisk),
        ];
        assert!(!eval(&episodes).contains_key(&Criterion::FrequentNoApparentRisk));
    }

    // ---- R1.1 re-graded risk ---------------------------------------------

    // R1.1: an episode graded high once and since re-graded low is still high risk.
    #[test]
    fn r1_1_regraded_low_but_ever_high_meets_high_risk() {
        let e = episode("E1", hours(10), Returned, Low, true, Some(hours(2)), now());
        assert_eq!(eval(&[e]).get(&Criterion::HighRisk), Some(&ids(&["E1"])));
    }

    // R1.1: the store sets ever_high whenever any revision was high, so in the
    // core `ever_high` alone decides; the current grade is not looked at.
    #[test]
    fn r1_1_ever_high_is_what_counts_not_the_current_grade() {
        let current_high_only = episode(
            "E1",
            hours(10),
            Returned,
            High,
            false,
            Some(hours(2)),
            now(),
        );
        assert!(!eval(&[current_high_only]).contains_key(&Criterion::HighRisk));
        let never_high = episode(
            "E2",
            hours(10),
            Returned,
            Medium,
            false,
            Some(hours(2)),
            now(),
        );
        assert!(eval(&[never_high]).is_empty());
    }

    // ---- Cancelled episodes (R1) -----------------------------------------

    // R1: cancelled episodes count for nothing in the counting criteria.
    #[test]
    fn r1_cancelled_episodes_do_not_count_towards_counts() {
        let episodes = [
            returned("E1", hours(24)),
            returned("E2", hours(48)),
            returned("E3", hours(72)),
            cancelled("C1", hours(96)),
        ];
        let met = eval(&episodes);
        assert!(!met.contains_key(&Criterion::TopMissing));
        assert_eq!(met[&Criterion::FrequentMissing], ids(&["E1", "E2", "E3"]));

        let no_risk: Vec<Episode> = [
            graded(returned("N1", hours(24)), NoApparentRisk),
            graded(returned("N2", hours(48)), NoApparentRisk),
            graded(cancelled("C1", hours(72)), NoApparentRisk),
        ]
        .to_vec();
        assert!(eval(&no_risk).is_empty());
    }

    // R1.1, R1.5-R1.7: a cancelled episode meets no single-episode criterion,
    // even when it is high risk, open, long and of an active VEMT case.
    #[test]
    fn r1_cancelled_episode_meets_no_single_episode_criterion() {
        let e = episode("C1", hours(100), Cancelled, High, true, None, now());
        let child = ChildContext {
            vemt_active: true,
            last_reviewed: None,
        };
        assert!(
            evaluate(
                std::slice::from_ref(&e),
                child,
                now(),
                &Thresholds::default()
            )
            .is_empty()
        );
        // The same episode not cancelled meets all four.
        let live = Episode { status: Open, ..e };
        assert_eq!(
            criteria_of(&evaluate(&[live], child, now(), &Thresholds::default())),
            vec![
                Criterion::HighRisk,
                Criterion::ActiveVemtCase,
                Criterion::Over72Hours,
                Criterion::Live
            ]
        );
    }

    // R1, R2.2: a new but cancelled episode is no reason to queue a child whose
    // old count still holds.
    #[test]
    fn r2_2_cancelled_new_episode_does_not_queue() {
        let review = now() - hours(24 * 7);
        let mut episodes = vec![
            returned("E1", hours(24 * 20)),
            returned("E2", hours(24 * 21)),
            returned("E3", hours(24 * 22)),
        ];
        episodes.push(cancelled("C1", hours(24)));
        let child = reviewed_at(review);
        let met = evaluate(&episodes, child, now(), &Thresholds::default());
        assert!(met.contains_key(&Criterion::FrequentMissing));
        assert!(!should_queue(&episodes, child, &met));

        // The same episode not cancelled does queue the child.
        episodes[3].status = Returned;
        let met = evaluate(&episodes, child, now(), &Thresholds::default());
        assert!(should_queue(&episodes, child, &met));
    }

    // ---- R1.6 the 72-hour line -------------------------------------------

    // R1.6: a returned episode of exactly 72 h has not lasted *more* than 72 h; 72 h + 1 s has.
    #[test]
    fn r1_6_returned_episode_exactly_72_hours_is_not_over_but_one_second_more_is() {
        let exactly = episode(
            "E1",
            hours(200),
            Returned,
            Low,
            false,
            Some(hours(72)),
            now(),
        );
        assert!(!eval(&[exactly]).contains_key(&Criterion::Over72Hours));

        let over = episode(
            "E2",
            hours(200),
            Returned,
            Low,
            false,
            Some(hours(72) + secs(1)),
            now(),
        );
        assert_eq!(
            eval(&[over]).get(&Criterion::Over72Hours),
            Some(&ids(&["E2"]))
        );
    }

    // R1.6: a live episode crosses the line by the passage of time alone: the
    // same episode, evaluated at two instants.
    #[test]
    fn r1_6_live_episode_crosses_72_hours_as_now_moves() {
        let e = [open("E1", hours(72))];
        let th = Thresholds::default();
        let at_72 = evaluate(&e, never_reviewed(), now(), &th);
        assert!(!at_72.contains_key(&Criterion::Over72Hours));
        assert!(at_72.contains_key(&Criterion::Live));

        let a_second_later = evaluate(&e, never_reviewed(), now() + secs(1), &th);
        assert_eq!(
            a_second_later.get(&Criterion::Over72Hours),
            Some(&ids(&["E1"]))
        );
    }

    // R1.6: the limit is configuration.
    #[test]
    fn r1_6_limit_is_configurable() {
        let th = Thresholds {
            over_hours: 24,
            ..Thresholds::default()
        };
        let e = [episode(
            "E1",
            hours(100),
            Returned,
            Low,
            false,
            Some(hours(25)),
            now(),
        )];
        assert!(!eval(&e).contains_key(&Criterion::Over72Hours));
        assert!(evaluate(&e, never_reviewed(), now(), &th).contains_key(&Criterion::Over72Hours));
    }

    // ---- R1.7 live, R1.5 active VEMT case --------------------------------

    // R1.7: an open episode is live; a returned one is not.
    #[test]
    fn r1_7_open_episode_is_live_returned_is_not() {
        let met = eval(&[open("O1", hours(2)), returned("R1", hours(3))]);
        assert_eq!(criteria_of(&met), vec![Criterion::Live]);
        assert_eq!(met[&Criterion::Live], ids(&["O1"]));
    }

    // R1.5: active_vemt_case only when the VEMT case is active.
    #[test]
    fn r1_5_active_vemt_case_needs_an_active_case() {
        let e = [returned("E1", hours(5))];
        assert!(eval(&e).is_empty());
        let active = ChildContext {
            vemt_active: true,
            last_reviewed: None,
        };
        assert_eq!(
            evaluate(&e, active, now(), &Thresholds::default()),
            Assessment::from([(Criterion::ActiveVemtCase, ids(&["E1"]))])
        );
    }

    // R1.5: active_vemt_case lists only episodes not yet reviewed.
    #[test]
    fn r1_5_active_vemt_case_lists_only_unreviewed_episodes() {
        let review = now() - hours(24 * 7);
        let e = [returned("OLD", hours(24 * 10)), returned("NEW", hours(24))];
        let active = ChildContext {
            vemt_active: true,
            last_reviewed: Some(review),
        };
        assert_eq!(
            evaluate(&e, active, now(), &Thresholds::default()),
            Assessment::from([(Criterion::ActiveVemtCase, ids(&["NEW"]))])
        );
        // With only the reviewed episode, nothing.
        assert!(evaluate(&e[..1], active, now(), &Thresholds::default()).is_empty());
    }

    // ---- R2.1 / R2.2 what is in view -------------------------------------

    fn old_long_high(raw_id: &str, days_ago: i64) -> Episode {
        // Reported `days_ago`, lasted 100 h, changed when the child returned.
        let reported_ago = hours(24 * days_ago);
        let changed_at = now() - reported_ago + hours(100);
        episode(
            raw_id,
            reported_ago,
            Returned,
            Low,
            true,
            Some(hours(100)),
            changed_at,
        )
    }

    // R1 (in view), R2.2: episodes reported and changed before the last review are
    // not in view for single-episode criteria, but still count for counting ones.
    #[test]
    fn r2_2_reviewed_episodes_are_out_of_view_but_still_counted() {
        let review = now() - hours(24 * 10);
        let episodes = [
            old_long_high("A", 20),
            old_long_high("B", 30),
            old_long_high("C", 40),
        ];
        let child = reviewed_at(review);
        let met = evaluate(&episodes, child, now(), &Thresholds::default());
        assert_eq!(
            met,
            Assessment::from([(Criterion::FrequentMissing, ids(&["A", "B", "C"]))])
        );
        // R2.2: no new, updated or live episode, so no new listing.
        assert!(!should_queue(&episodes, child, &met));

        // Never reviewed, the same episodes are all in view.
        let fresh = evaluate(&episodes, never_reviewed(), now(), &Thresholds::default());
        assert_eq!(fresh[&Criterion::HighRisk], ids(&["A", "B", "C"]));
        assert_eq!(fresh[&Criterion::Over72Hours], ids(&["A", "B", "C"]));
        assert!(should_queue(&episodes, never_reviewed(), &fresh));
    }

    // R2.1: one new episode since the review queues the child; the count still
    // lists every episode in its window.
    #[test]
    fn r2_1_a_new_episode_queues_the_child() {
        let review = now() - hours(24 * 10);
        let episodes = [
            old_long_high("A", 20),
            old_long_high("B", 30),
            returned("NEW", hours(24)),
        ];
        let child = reviewed_at(review);
        let met = evaluate(&episodes, child, now(), &Thresholds::default());
        assert_eq!(
            met,
            Assessment::from([(Criterion::FrequentMissing, ids(&["NEW", "A", "B"]))])
        );
        assert!(should_queue(&episodes, child, &met));
    }

    // R2.1: an old episode updated since the review is back in view.
    #[test]
    fn r2_1_an_episode_updated_since_the_review_is_in_view() {
        let review = now() - hours(24 * 10);
        let mut e = old_long_high("A", 20);
        e.changed_at = review + secs(1);
        let child = reviewed_at(review);
        let met = evaluate(
            std::slice::from_ref(&e),
            child,
            now(),
            &Thresholds::default(),
        );
        assert_eq!(
            criteria_of(&met),
            vec![Criterion::HighRisk, Criterion::Over72Hours]
        );
        assert!(should_queue(&[e], child, &met));
    }

    // R2.1: an episode reported before the review and still live stays in view.
    #[test]
    fn r2_1_a_live_episode_from_before_the_review_is_in_view() {
        let review = now() - hours(24 * 10);
        let e = [open("O1", hours(24 * 12))];
        let child = reviewed_at(review);
        let met = evaluate(&e, child, now(), &Thresholds::default());
        assert_eq!(
            criteria_of(&met),
            vec![Criterion::Over72Hours, Criterion::Live]
        );
        assert!(should_queue(&e, child, &met));
    }

    // R2.1: "after the last review" is strict: reported and changed exactly at
    // the review instant is reviewed.
    #[test]
    fn r2_1_reported_and_changed_at_the_review_instant_is_reviewed() {
        let review = now() - hours(24 * 10);
        let mut e = returned("E1", hours(24 * 10));
        e.changed_at = review;
        assert!(!is_unreviewed(&e, Some(review)));
        assert!(is_unreviewed(&e, None));
        e.changed_at = review + secs(1);
        assert!(is_unreviewed(&e, Some(review)));
    }

    // R2.1: a new episode that meets no criterion does not queue the child.
    #[test]
    fn r2_1_no_criterion_met_means_no_queueing() {
        let e = [returned("E1", hours(5))];
        let met = eval(&e);
        assert!(met.is_empty());
        assert!(!should_queue(&e, never_reviewed(), &met));
    }

    // ---- Evidence ---------------------------------------------------------

    // R1, R3.2: each criterion lists the episodes that met it, newest first;
    // reports at the same instant are listed by id.
    #[test]
    fn r1_evidence_is_the_episodes_that_met_each_criterion_newest_first() {
        let episodes = [
            graded(returned("E3", hours(24 * 3)), High),
            open("E1", hours(24)),
            open("E4", hours(24 * 4)),
            graded(returned("E5", hours(24 * 5)), High),
            returned("E2b", hours(48)),
            returned("E2a", hours(48)),
            episode(
                "E40",
                hours(24 * 40),
                Returned,
                Low,
                false,
                Some(hours(80)),
                now(),
            ),
        ];
        let met = eval(&episodes);
        assert_eq!(
            met[&Criterion::TopMissing],
            ids(&["E1", "E2a", "E2b", "E3", "E4", "E5"])
        );
        assert_eq!(
            met[&Criterion::FrequentMissing],
            ids(&["E1", "E2a", "E2b", "E3", "E4", "E5", "E40"])
        );
        assert_eq!(met[&Criterion::HighRisk], ids(&["E3", "E5"]));
        assert_eq!(met[&Criterion::Live], ids(&["E1", "E4"]));
        assert_eq!(met[&Criterion::Over72Hours], ids(&["E4", "E40"]));
        assert!(!met.contains_key(&Criterion::FrequentNoApparentRisk));
    }

    // ---- Configuration ----------------------------------------------------

    // R1.2: the count is configuration: with 3 in 30 days, three episodes meet it.
    #[test]
    fn r1_2_top_missing_threshold_is_configurable() {
        let th = Thresholds {
            top_missing: CountInWindow { count: 3, days: 30 },
            ..Thresholds::default()
        };
        let episodes = [
            returned("E1", hours(24)),
            returned("E2", hours(48)),
            returned("E3", hours(24 * 30)),
        ];
        assert!(!eval(&episodes).contains_key(&Criterion::TopMissing));
        assert_eq!(
            evaluate(&episodes, never_reviewed(), now(), &th).get(&Criterion::TopMissing),
            Some(&ids(&["E1", "E2", "E3"]))
        );
    }

    // R1.2-R1.4: windows are configuration too.
    #[test]
    fn r1_3_window_is_configurable() {
        let th = Thresholds {
            frequent_missing: CountInWindow { count: 3, days: 7 },
            ..Thresholds::default()
        };
        let mut episodes = vec![
            returned("E1", hours(24)),
            returned("E2", hours(48)),
            returned("E3", hours(24 * 7) + secs(1)),
        ];
        assert!(evaluate(&episodes, never_reviewed(), now(), &th).is_empty());
        episodes[2] = returned("E3", hours(24 * 7));
        assert!(
            evaluate(&episodes, never_reviewed(), now(), &th)
                .contains_key(&Criterion::FrequentMissing)
        );
    }

    // R1.2: a configured count of zero does not make a child with no episodes meet it.
    #[test]
    fn r1_2_zero_count_needs_at_least_one_episode() {
        let th = Thresholds {
            top_missing: CountInWindow { count: 0, days: 30 },
            ..Thresholds::default()
        };
        assert!(evaluate(&[], never_reviewed(), now(), &th).is_empty());
        assert_eq!(
            evaluate(&[returned("E1", hours(1))], never_reviewed(), now(), &th)
                .get(&Criterion::TopMissing),
            Some(&ids(&["E1"]))
        );
    }

    // R1: defaults as PRODUCT.md states them; the agenda looks back 90 days.
    #[test]
    fn r1_defaults_and_longest_window() {
        let th = Thresholds::default();
        assert_eq!(th.top_missing, CountInWindow { count: 4, days: 30 });
        assert_eq!(th.frequent_missing, CountInWindow { count: 3, days: 90 });
        assert_eq!(
            th.frequent_no_apparent_risk,
            CountInWindow { count: 3, days: 90 }
        );
        assert_eq!(th.over_hours, 72);
        assert_eq!(th.longest_window_days(), 90);
        let wider = Thresholds {
            top_missing: CountInWindow {
                count: 4,
                days: 120,
            },
            ..th
        };
        assert_eq!(wider.longest_window_days(), 120);
    }

    // R1: the criterion names the agenda shows round-trip.
    #[test]
    fn r1_criterion_names_round_trip() {
        for c in Criterion::ALL {
            assert_eq!(Criterion::parse(c.as_str()), Some(c));
        }
        assert_eq!(
            Criterion::parse("over_72_hours"),
            Some(Criterion::Over72Hours)
        );
        assert_eq!(Criterion::parse("unknown"), None);
    }

    // R1.6, R3.3: the agenda's JSON spells each criterion as R1 names it.
    #[test]
    fn r1_criteria_serialize_under_their_r1_names() {
        for c in Criterion::ALL {
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::Value::String(c.as_str().to_owned())
            );
        }
        assert_eq!(
            serde_json::to_string(&Criterion::Over72Hours).unwrap(),
            "\"over_72_hours\""
        );
    }

    // ---- Property tests ---------------------------------------------------

    fn arb_status() -> impl Strategy<Value = EpisodeStatus> {
        prop_oneof![Just(Open), Just(Returned), Just(Cancelled)]
    }

    fn arb_risk() -> impl Strategy<Value = RiskLevel> {
        prop_oneof![Just(High), Just(Medium), Just(Low), Just(NoApparentRisk)]
    }

    /// Seconds before now, biased towards the edges of the default windows.
    fn arb_reported_ago() -> impl Strategy<Value = i64> {
        prop_oneof![
            3 => -DAY..=100 * DAY,
            1 => prop::sample::select(vec![
                0,
                72 * HOUR,
                30 * DAY,
                30 * DAY + 1,
                90 * DAY,
                90 * DAY + 1,
            ]),
        ]
    }

    /// Everything of an episode but its id.
    type Spec = (EpisodeStatus, RiskLevel, bool, i64, Option<i64>, i64);

    fn arb_spec() -> impl Strategy<Value = Spec> {
        (
            arb_status(),
            arb_risk(),
            any::<bool>(),
            arb_reported_ago(),
            prop::option::of(prop_oneof![
                0..=200 * HOUR,
                Just(72 * HOUR),
                Just(72 * HOUR + 1)
            ]),
            0..=200 * HOUR,
        )
    }

    fn build(raw_id: &str, spec: Spec) -> Episode {
        let (status, risk, ever_high, reported_ago, returned_after, changed_after) = spec;
        let returned_after = match status {
            Open => None,
            _ => returned_after,
        };
        let changed_at = now() - secs(reported_ago) + secs(changed_after);
        episode(
            raw_id,
            secs(reported_ago),
            status,
            risk,
            // The store keeps ever_high whenever any revision was high.
            ever_high || risk == High,
            returned_after.map(secs),
            changed_at,
        )
    }

    fn arb_episodes() -> impl Strategy<Value = Vec<Episode>> {
        prop::collection::vec(arb_spec(), 0..=10).prop_map(|specs| {
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
                last_reviewed: ago.map(|s| now() - secs(s)),
            }
        })
    }

    fn arb_window() -> impl Strategy<Value = CountInWindow> {
        (0usize..=5, 1u32..=100).prop_map(|(count, days)| CountInWindow { count, days })
    }

    fn arb_thresholds() -> impl Strategy<Value = Thresholds> {
        prop_oneof![
            Just(Thresholds::default()),
            (arb_window(), arb_window(), arb_window(), 1u32..=100).prop_map(
                |(top_missing, frequent_missing, frequent_no_apparent_risk, over_hours)| {
                    Thresholds {
                        top_missing,
                        frequent_missing,
                        frequent_no_apparent_risk,
                        over_hours,
                    }
                }
            ),
        ]
    }

    /// Which episodes a counting criterion counts.
    type Keep = fn(&Episode) -> bool;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        // R1: a cancelled episode, whatever else it says, changes nothing.
        #[test]
        fn prop_r1_a_cancelled_episode_changes_nothing(
            episodes in arb_episodes(),
            extra in arb_spec(),
            child in arb_child(),
            th in arb_thresholds(),
        ) {
            let before = evaluate(&episodes, child, now(), &th);
            let mut with = episodes.clone();
            with.push(build("CANCELLED", (Cancelled, extra.1, extra.2, extra.3, extra.4, extra.5)));
            let after = evaluate(&with, child, now(), &th);
            prop_assert_eq!(&after, &before);
            prop_assert_eq!(should_queue(&with, child, &after), should_queue(&episodes, child, &before));
        }

        // R1: the order the store hands the episodes over in does not matter.
        #[test]
        fn prop_r1_episode_order_does_not_matter(
            (episodes, shuffled) in arb_episodes()
                .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
            child in arb_child(),
            th in arb_thresholds(),
        ) {
            let a = evaluate(&episodes, child, now(), &th);
            let b = evaluate(&shuffled, child, now(), &th);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(should_queue(&episodes, child, &a), should_queue(&shuffled, child, &b));
        }

        // R1.2-R1.4 (and R1.1, R1.5-R1.7): adding a counted episode inside the
        // windows never withdraws a criterion or any of its evidence.
        #[test]
        fn prop_r1_2_counting_criteria_are_monotone(
            episodes in arb_episodes(),
            extra in arb_spec(),
            extra_status in prop_oneof![Just(Open), Just(Returned)],
            extra_ago in 0..=30 * DAY,
            child in arb_child(),
        ) {
            let th = Thresholds::default();
            let before = evaluate(&episodes, child, now(), &th);
            let mut with = episodes.clone();
            with.push(build("EXTRA", (extra_status, extra.1, extra.2, extra_ago, extra.4, extra.5)));
            let after = evaluate(&with, child, now(), &th);
            for (criterion, evidence) in &before {
                let grown = after.get(criterion);
                prop_assert!(grown.is_some(), "{:?} withdrawn", criterion);
                let grown = grown.unwrap();
                prop_assert!(evidence.iter().all(|id| grown.contains(id)));
            }
            // Inside every default window, the new episode is counted.
            for counting in [Criterion::TopMissing, Criterion::FrequentMissing] {
                if let Some(evidence) = after.get(&counting) {
                    prop_assert!(evidence.contains(&id("EXTRA")));
                }
            }
        }

        // R1.2-R1.4: the counting criteria agree with a plain count over the
        // closed window [now - D x 24 h, now].
        #[test]
        fn prop_r1_2_counts_match_a_plain_count(
            episodes in arb_episodes(),
            child in arb_child(),
            th in arb_thresholds(),
        ) {
            let met = evaluate(&episodes, child, now(), &th);
            let rules: [(Criterion, CountInWindow, Keep); 3] = [
                (Criterion::TopMissing, th.top_missing, |_| true),
                (Criterion::FrequentMissing, th.frequent_missing, |_| true),
                (Criterion::FrequentNoApparentRisk, th.frequent_no_apparent_risk,
                    |e| e.risk_level == NoApparentRisk),
            ];
            for (criterion, rule, keep) in rules {
                let start = now() - hours(24 * i64::from(rule.days));
                let mut hits: Vec<&Episode> = episodes
                    .iter()
                    .filter(|e| e.status != Cancelled && keep(e))
                    .filter(|e| start <= e.reported_missing_at && e.reported_missing_at <= now())
                    .collect();
                hits.sort_by_key(|e| (std::cmp::Reverse(e.reported_missing_at), e.episode_id.clone()));
                let expected: Vec<EpisodeId> = hits.iter().map(|e| e.episode_id.clone()).collect();
                if !expected.is_empty() && expected.len() >= rule.count {
                    prop_assert_eq!(met.get(&criterion), Some(&expected));
                } else {
                    prop_assert_eq!(met.get(&criterion), None);
                }
            }
        }

        // R1, R2.1: single-episode evidence is always unreviewed and counted;
        // should_queue holds exactly when something is met and in view.
        #[test]
        fn prop_r2_1_single_episode_evidence_is_in_view(
            episodes in arb_episodes(),
            child in arb_child(),
            th in arb_thresholds(),
        ) {
            let met = evaluate(&episodes, child, now(), &th);
            let by_id = |id: &EpisodeId| episodes.iter().find(|e| &e.episode_id == id).unwrap();
            for criterion in [Criterion::HighRisk, Criterion::ActiveVemtCase, Criterion::Over72Hours, Criterion::Live] {
                for id in met.get(&criterion).into_iter().flatten() {
                    let e = by_id(id);
                    prop_assert!(e.counts());
                    prop_assert!(is_unreviewed(e, child.last_reviewed));
                }
            }
            for evidence in met.values() {
                prop_assert!(!evidence.is_empty());
                let times: Vec<_> = evidence.iter().map(|id| by_id(id).reported_missing_at).collect();
                prop_assert!(times.windows(2).all(|w| w[0] >= w[1]), "not newest first");
            }
            let in_view = episodes.iter().any(|e| e.counts() && is_unreviewed(e, child.last_reviewed));
            prop_assert_eq!(should_queue(&episodes, child, &met), !met.is_empty() && in_view);
        }
    }
}
