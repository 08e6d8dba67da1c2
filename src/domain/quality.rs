//! Data-quality flags (issue 11): checks on what the police and LCS feeds
//! sent, in the spirit of the DfE SSDA903 validation rules. They never
//! block intake: a flagged record is applied as any other, and the flag is
//! shown on the child's agenda item for the meeting to question. Each flag
//! names the records that raised it (ids only, never names or free text).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use super::child::ReturnHomeInterview;
use super::episode::{Episode, EpisodeStatus};
use super::ids::{EpisodeId, LcsPersonId, PolicePersonId};

/// Days an open episode may go with no update before it is flagged, unless
/// configured (`data_quality.open_without_update_days`).
pub const DEFAULT_OPEN_WITHOUT_UPDATE_DAYS: u32 = 14;

wire_enum!(
    /// What is wrong with a child's data: overlapping episodes (not
    /// cancelled); one police person's reports naming two LCS records (or
    /// another than the one the LCS record links); an episode open with no
    /// update for longer than configured; a return home interview completed
    /// before its episode's return (or while it is open); a return recorded
    /// before the report (intake refuses such a report, so only rows stored
    /// before that rule can raise it).
    DataQualityFlag {
        OverlappingEpisodes = "overlapping_episodes",
        PolicePersonOnTwoLcsRecords = "police_person_on_two_lcs_records",
        OpenWithoutUpdate = "open_without_update",
        InterviewCompletedBeforeReturn = "interview_completed_before_return",
        ReturnedBeforeReported = "returned_before_reported",
    }
);

impl DataQualityFlag {
    /// The flag as a chair reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::OverlappingEpisodes => "Overlapping episodes",
            Self::PolicePersonOnTwoLcsRecords => "Police person linked to two LCS records",
            Self::OpenWithoutUpdate => "Open episode with no update",
            Self::InterviewCompletedBeforeReturn => "Interview completed before the return",
            Self::ReturnedBeforeReported => "Return recorded before the report",
        }
    }
}

/// One flag and the records that raised it.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct DataQualityIssue {
    pub flag: DataQualityFlag,
    /// The ids that show it: episode ids, an interview id and its episode,
    /// or a police person id and the LCS ids its reports name.
    pub evidence: Vec<String>,
}

/// The police person an episode is about and the LCS person its newest
/// report names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeLink {
    pub episode_id: EpisodeId,
    pub police_person_id: PolicePersonId,
    pub lcs_person_id: Option<LcsPersonId>,
}

/// What the checks look at for one child.
#[derive(Debug, Clone, Copy)]
pub struct QualityFacts<'a> {
    /// The LCS record the child is linked to, if any.
    pub lcs_person_id: Option<&'a LcsPersonId>,
    pub episodes: &'a [Episode],
    pub interviews: &'a [ReturnHomeInterview],
    pub links: &'a [EpisodeLink],
}

/// Every flag the child's data raises at `as_of`, in flag order then by
/// evidence.
pub fn check(
    facts: QualityFacts<'_>,
    as_of: DateTime<Utc>,
    open_without_update_days: u32,
) -> Vec<DataQualityIssue> {
    let mut issues = Vec::new();
    let counted: Vec<&Episode> = facts.episodes.iter().filter(|e| e.counts()).collect();

    // Overlapping episodes: [reported, returned) intervals (open ones to
    // `as_of`) that intersect.
    let end = |e: &Episode| match (e.status, e.returned_at) {
        (EpisodeStatus::Open, _) | (_, None) => as_of,
        (_, Some(at)) => at,
    };
    let mut by_start = counted.clone();
    by_start.sort_by(|a, b| {
        (a.reported_missing_at, &a.episode_id).cmp(&(b.reported_missing_at, &b.episode_id))
    });
    for (i, a) in by_start.iter().enumerate() {
        for b in &by_start[i + 1..] {
            if b.reported_missing_at < end(a) && a.reported_missing_at < end(b) {
                issues.push(issue(
                    DataQualityFlag::OverlappingEpisodes,
                    [a.episode_id.as_str(), b.episode_id.as_str()],
                ));
            }
        }
    }

    // One police person, two LCS records.
    let mut named: BTreeMap<&PolicePersonId, BTreeSet<&LcsPersonId>> = BTreeMap::new();
    for link in facts.links {
        let ids = named.entry(&link.police_person_id).or_default();
        ids.extend(link.lcs_person_id.as_ref());
        ids.extend(facts.lcs_person_id);
    }
    for (police, lcs) in named {
        if lcs.len() > 1 {
            let mut evidence = vec![police.as_str()];
            evidence.extend(lcs.iter().map(|id| id.as_str()));
            issues.push(issue(
                DataQualityFlag::PolicePersonOnTwoLcsRecords,
                evidence,
            ));
        }
    }

    // Open for longer than configured with no update.
    let stale = Duration::days(i64::from(open_without_update_days));
    for e in &counted {
        if e.is_live() && as_of - e.changed_at > stale && as_of - e.reported_missing_at > stale {
            issues.push(issue(
                DataQualityFlag::OpenWithoutUpdate,
                [e.episode_id.as_str()],
            ));
        }
    }

    // An interview completed before the child was back.
    for r in facts.interviews {
        let Some(completed) = r.completed_at else {
            continue;
        };
        let Some(e) = counted.iter().find(|e| e.episode_id == r.episode_id) else {
            continue;
        };
        let early = match (e.status, e.returned_at) {
            (EpisodeStatus::Open, _) | (_, None) => true,
            (_, Some(returned)) => completed < returned,
        };
        if early {
            issues.push(issue(
                DataQualityFlag::InterviewCompletedBeforeReturn,
                [r.rhi_id.as_str(), r.episode_id.as_str()],
            ));
        }
    }

    // A return before the report.
    for e in &counted {
        if e.returned_at.is_some_and(|at| at < e.reported_missing_at) {
            issues.push(issue(
                DataQualityFlag::ReturnedBeforeReported,
                [e.episode_id.as_str()],
            ));
        }
    }

    issues.sort_by(|a, b| (a.flag as u8, &a.evidence).cmp(&(b.flag as u8, &b.evidence)));
    issues
}

fn issue<'a>(
    flag: DataQualityFlag,
    evidence: impl IntoIterator<Item = &'a str>,
) -> DataQualityIssue {
    DataQualityIssue {
        flag,
        evidence: evidence.into_iter().map(str::to_owned).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::child::RhiStatus;
    use crate::domain::episode::EpisodeStatus::{Cancelled, Open, Returned};
    use crate::domain::episode::RiskLevel::Low;
    use crate::domain::fixtures::*;
    use crate::domain::ids::RhiId;

    fn lcs(raw: &str) -> LcsPersonId {
        LcsPersonId::parse(raw).unwrap()
    }

    fn police(raw: &str) -> PolicePersonId {
        PolicePersonId::parse(raw).unwrap()
    }

    fn link(episode: &str, person: &str, named: Option<&str>) -> EpisodeLink {
        EpisodeLink {
            episode_id: id(episode),
            police_person_id: police(person),
            lcs_person_id: named.map(lcs),
        }
    }

    fn completed(rhi: &str, episode: &str, at: DateTime<Utc>) -> ReturnHomeInterview {
        ReturnHomeInterview {
            rhi_id: RhiId::parse(rhi).unwrap(),
            episode_id: id(episode),
            lcs_person_id: None,
            status: RhiStatus::Completed,
            offered_at: Some(at),
            completed_at: Some(at),
        }
    }

    fn flags(
        lcs_id: Option<&LcsPersonId>,
        episodes: &[Episode],
        interviews: &[ReturnHomeInterview],
        links: &[EpisodeLink],
    ) -> Vec<DataQualityIssue> {
        check(
            QualityFacts {
                lcs_person_id: lcs_id,
                episodes,
                interviews,
                links,
            },
            now(),
            DEFAULT_OPEN_WITHOUT_UPDATE_DAYS,
        )
    }

    fn one(flag: DataQualityFlag, evidence: &[&str]) -> Vec<DataQualityIssue> {
        vec![issue(flag, evidence.iter().copied())]
    }

    #[test]
    fn clean_data_raises_nothing() {
        let episodes = [returned("E1", hours(100)), returned("E2", hours(50))];
        let interviews = [completed("R1", "E1", now() - hours(90))];
        let links = [link("E1", "P-1", Some("LCS-1")), link("E2", "P-1", None)];
        assert_eq!(
            flags(Some(&lcs("LCS-1")), &episodes, &interviews, &links),
            []
        );
    }

    #[test]
    fn overlapping_episodes_are_flagged_with_both_ids() {
        // E1: 100 h ago for 10 h; E2 starts 95 h ago, inside E1.
        let e1 = episode(
            "E1",
            hours(100),
            Returned,
            Low,
            false,
            Some(hours(10)),
            now(),
        );
        let e2 = episode("E2", hours(95), Returned, Low, false, Some(hours(1)), now());
        // An open episode overlaps everything after its report.
        let e3 = episode("E3", hours(40), Open, Low, false, None, now());
        let e4 = returned("E4", hours(20));
        assert_eq!(
            flags(None, &[e1.clone(), e2.clone()], &[], &[]),
            one(DataQualityFlag::OverlappingEpisodes, &["E1", "E2"])
        );
        assert_eq!(
            flags(None, &[e3, e4], &[], &[]),
            one(DataQualityFlag::OverlappingEpisodes, &["E3", "E4"])
        );
        // Back to back is no overlap; a cancelled one counts for nothing.
        let after = episode("E5", hours(90), Returned, Low, false, Some(hours(1)), now());
        let cancelled = episode(
            "E6",
            hours(99),
            Cancelled,
            Low,
            false,
            Some(hours(1)),
            now(),
        );
        assert_eq!(flags(None, &[e1, after, cancelled], &[], &[]), []);
    }

    #[test]
    fn a_police_person_naming_two_lcs_records_is_flagged() {
        let episodes = [returned("E1", hours(100)), returned("E2", hours(50))];
        let links = [
            link("E1", "P-1", Some("LCS-1")),
            link("E2", "P-1", Some("LCS-2")),
        ];
        assert_eq!(
            flags(None, &episodes, &[], &links),
            one(
                DataQualityFlag::PolicePersonOnTwoLcsRecords,
                &["P-1", "LCS-1", "LCS-2"]
            )
        );
        // One report naming another LCS person than the record linked.
        let other = [link("E1", "P-1", Some("LCS-9"))];
        assert_eq!(
            flags(Some(&lcs("LCS-1")), &episodes, &[], &other),
            one(
                DataQualityFlag::PolicePersonOnTwoLcsRecords,
                &["P-1", "LCS-1", "LCS-9"]
            )
        );
    }

    #[test]
    fn an_episode_open_past_the_configured_days_with_no_update_is_flagged() {
        let days = i64::from(DEFAULT_OPEN_WITHOUT_UPDATE_DAYS);
        let stale = episode(
            "E1",
            hours(24 * (days + 5)),
            Open,
            Low,
            false,
            None,
            now() - hours(24 * days + 1),
        );
        assert_eq!(
            flags(None, &[stale], &[], &[]),
            one(DataQualityFlag::OpenWithoutUpdate, &["E1"])
        );
        // Updated yesterday: not stale.
        let updated = episode(
            "E2",
            hours(24 * (days + 5)),
            Open,
            Low,
            false,
            None,
            now() - hours(24),
        );
        assert_eq!(flags(None, std::slice::from_ref(&updated), &[], &[]), []);
        // A shorter setting flags it.
        let short = check(
            QualityFacts {
                lcs_person_id: None,
                episodes: &[updated],
                interviews: &[],
                links: &[],
            },
            now(),
            0,
        );
        assert_eq!(short, one(DataQualityFlag::OpenWithoutUpdate, &["E2"]));
    }

    #[test]
    fn an_interview_completed_before_the_return_is_flagged() {
        // Reported 100 h ago, back 10 h later: returned 90 h ago.
        let e1 = episode(
            "E1",
            hours(100),
            Returned,
            Low,
            false,
            Some(hours(10)),
            now(),
        );
        let early = completed("R1", "E1", now() - hours(95));
        assert_eq!(
            flags(None, std::slice::from_ref(&e1), &[early], &[]),
            one(
                DataQualityFlag::InterviewCompletedBeforeReturn,
                &["R1", "E1"]
            )
        );
        let after = completed("R2", "E1", now() - hours(80));
        assert_eq!(flags(None, &[e1], &[after], &[]), []);
        // Completed while the child is still missing.
        let open = episode("E2", hours(10), Open, Low, false, None, now());
        let during = completed("R3", "E2", now() - hours(5));
        assert_eq!(
            flags(None, &[open], &[during], &[]),
            one(
                DataQualityFlag::InterviewCompletedBeforeReturn,
                &["R3", "E2"]
            )
        );
    }

    #[test]
    fn a_return_before_the_report_is_flagged() {
        let mut e1 = returned("E1", hours(100));
        e1.returned_at = Some(e1.reported_missing_at - hours(2));
        assert_eq!(
            flags(None, &[e1], &[], &[]),
            one(DataQualityFlag::ReturnedBeforeReported, &["E1"])
        );
    }

    #[test]
    fn flags_come_in_flag_order() {
        let e1 = episode(
            "E1",
            hours(100),
            Returned,
            Low,
            false,
            Some(hours(10)),
            now(),
        );
        let e2 = episode("E2", hours(95), Returned, Low, false, Some(hours(1)), now());
        let mut e3 = returned("E3", hours(50));
        e3.returned_at = Some(e3.reported_missing_at - hours(1));
        let got: Vec<DataQualityFlag> = flags(None, &[e3, e2, e1], &[], &[])
            .into_iter()
            .map(|i| i.flag)
            .collect();
        assert_eq!(
            got,
            [
                DataQualityFlag::OverlappingEpisodes,
                DataQualityFlag::ReturnedBeforeReported
            ]
        );
    }
}
