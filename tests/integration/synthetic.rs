//! A realistic synthetic feed for the parity test: sixty children over
//! sixteen weeks from the identity feeds (police episodes with revisions
//! out of order, LCS records and their revisions, return home interviews,
//! trigger plans and their new versions), with repeats and late links, as
//! the partners send them. Deterministic (a fixed seed); every name and id
//! is invented.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

/// A small deterministic generator (SplitMix64): the feed is the same on
/// every run, with no dependency for it.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Feed {
    lines: Vec<(DateTime<Utc>, Value)>,
    next_id: usize,
}

impl Feed {
    fn push(&mut self, source: &str, event_type: &str, at: DateTime<Utc>, data: Value) -> Value {
        self.next_id += 1;
        let event = json!({
            "specversion": "1.0",
            "id": format!("syn-{:05}", self.next_id),
            "source": source,
            "type": event_type,
            "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "datacontenttype": "application/json",
            "data": data,
        });
        self.lines.push((at, event.clone()));
        event
    }
}

const POLICE: &str = "urn:example:police";
const LCS: &str = "urn:example:lcs-adapter";
const MEETINGS: &str = "urn:example:meetings";

/// The feed as JSONL, in the order partners sent it (not always the order
/// of `time`: simulate and the test both order by it).
pub fn realistic_feed() -> String {
    let mut dice = Dice(0x5EED_2027);
    let start = Utc.with_ymd_and_hms(2027, 1, 4, 9, 0, 0).unwrap();
    let weeks = 16;
    let mut feed = Feed {
        lines: Vec::new(),
        next_id: 0,
    };
    for child in 1..=60u64 {
        let lcs = format!("LCS-8{child:05}");
        let police = format!("P-8{child:05}");
        let second = format!("P-8{child:05}B");
        let given = format!("Child{child}");
        let family = "Example";
        let dob = format!("20{:02}-0{}-1{}", 10 + child % 6, 1 + child % 9, child % 10);
        // A fifth are never in LCS; a seventh are recorded only later.
        let recorded = child % 5 != 0;
        let record_at = if child % 7 == 3 {
            start + Duration::days(20 + dice.below(30) as i64)
        } else {
            start + Duration::hours(dice.below(48) as i64)
        };
        let two_police = child % 8 == 2;
        let vemt = if child % 6 == 1 { "active" } else { "none" };
        let record = |revision: u32, vemt: &str, police_ids: Vec<&str>| {
            json!({
                "lcs_person_id": lcs, "revision": revision, "given_name": given,
                "family_name": family, "date_of_birth": dob, "gender": "female",
                "police_person_ids": police_ids, "ehm_id": if child % 4 == 0 { json!("EHM-1") } else { Value::Null },
                "vemt": { "status": vemt, "category": if vemt == "active" { json!("missing") } else { Value::Null },
                          "risk_level": if vemt == "active" { json!("medium") } else { Value::Null } },
                "professionals": [
                    { "role": "social_worker", "worker_id": format!("W-{child}"), "name": "Sam Example", "email": "sw@example.org" }
                ],
            })
        };
        if recorded {
            let ids = vec![police.as_str()];
            feed.push(LCS, "lcs.child.v1", record_at, record(1, "none", ids));
            // A second revision later: the second police id, the VEMT status.
            let later = record_at + Duration::days(10 + dice.below(40) as i64);
            let ids = if two_police {
                vec![police.as_str(), second.as_str()]
            } else {
                vec![police.as_str()]
            };
            let newer = feed.push(LCS, "lcs.child.v1", later, record(2, vemt, ids));
            if child % 9 == 4 {
                // The same revision again, under its own id: a repeat.
                feed.lines.push((later, newer));
            }
        }

        // Episodes: some children go missing often, in clusters.
        let episodes = match child % 6 {
            0 => 1,
            1 | 2 => 3 + dice.below(3),
            3 => 5,
            _ => 1 + dice.below(3),
        };
        let mut at = start + Duration::hours(12 + dice.below(24 * 7 * weeks / 2) as i64);
        for n in 1..=episodes {
            let person_id = if two_police && n % 2 == 0 {
                &second
            } else {
                &police
            };
            let episode_id = format!("CP-8{child:05}-{n}");
            let risk = match dice.below(10) {
                0 => "high",
                1..=3 => "medium",
                4..=6 => "low",
                _ => "no_apparent_risk",
            };
            let names_lcs = recorded && child % 3 == 0;
            let person = json!({
                "police_person_id": person_id, "given_name": given, "family_name": family,
                "date_of_birth": dob, "gender": "female",
                "lcs_person_id": if names_lcs { json!(lcs) } else { Value::Null },
            });
            let reported = at;
            let open = json!({
                "episode_id": episode_id, "revision": 1, "person": person, "status": "open",
                "reported_missing_at": reported.to_rfc3339(), "last_seen_at": (reported - Duration::hours(2)).to_rfc3339(),
                "returned_at": null, "risk_level": risk, "missing_from": "home", "trigger_plan_in_place": false,
            });
            let first_at = reported + Duration::minutes(20);
            // Some stay out past 72 hours; one in fifteen is cancelled.
            let hours_out = if dice.chance(12) {
                80 + dice.below(40)
            } else {
                2 + dice.below(30)
            };
            let returned = reported + Duration::hours(hours_out as i64);
            let (status, returned_at) = if dice.chance(7) {
                ("cancelled", Value::Null)
            } else {
                ("returned", json!(returned.to_rfc3339()))
            };
            let closed = json!({
                "episode_id": episode_id, "revision": 2, "person": person, "status": status,
                "reported_missing_at": reported.to_rfc3339(), "last_seen_at": (reported - Duration::hours(2)).to_rfc3339(),
                "returned_at": returned_at, "risk_level": if dice.chance(10) { "high" } else { risk },
                "missing_from": "home", "trigger_plan_in_place": false,
            });
            let closed_at = returned + Duration::minutes(30);
            if dice.chance(15) {
                // The update arrives before the first report; the first is
                // then an older revision.
                feed.push(POLICE, "police.missing-episode.v1", closed_at, closed);
                feed.push(
                    POLICE,
                    "police.missing-episode.v1",
                    closed_at + Duration::minutes(5),
                    open,
                );
            } else {
                feed.push(POLICE, "police.missing-episode.v1", first_at, open);
                feed.push(POLICE, "police.missing-episode.v1", closed_at, closed);
            }
            if status == "returned" && recorded && dice.chance(50) {
                let completed = dice.chance(60);
                feed.push(
                    LCS,
                    "lcs.return-home-interview.v1",
                    returned + Duration::hours(50),
                    json!({
                        "rhi_id": format!("RHI-{episode_id}"), "episode_id": episode_id, "lcs_person_id": lcs,
                        "status": if completed { "completed" } else { "offered" },
                        "offered_at": (returned + Duration::hours(24)).to_rfc3339(),
                        "completed_at": if completed { json!((returned + Duration::hours(48)).to_rfc3339()) } else { Value::Null },
                        "conducted_by": "Missing Team", "summary": "synthetic free text", "concerns": [],
                    }),
                );
            }
            // Clustered: a few days to a few weeks apart.
            at = returned + Duration::hours(24 + dice.below(24 * 21) as i64);
        }

        // Meeting outcomes for a third of the children and a tenth of the rest
        // (some LCS never sent, or sent later: refused), a few sent twice
        // under two ids, their actions updated, and VPG decisions for those
        // referred, the later meeting's decision arriving first.
        if child % 3 == 1 || child % 10 == 0 {
            let first_meeting = Utc.with_ymd_and_hms(2027, 1, 6, 10, 0, 0).unwrap();
            let meeting = first_meeting + Duration::weeks(2 + dice.below(12) as i64);
            let date = meeting.date_naive();
            let action = format!("A-8{child:05}");
            let refer = child % 2 == 1;
            let mut data = json!({
                "meeting_date": date.to_string(), "lcs_person_id": lcs,
                "outcome": "synthetic outcome", "discussion": "synthetic discussion",
                "actions": [{ "action_id": action, "description": "synthetic action",
                              "owner_role": "social_worker",
                              "due_date": (date + Duration::days(14)).to_string() }],
                "refer_to_vpg": refer,
            });
            if child % 4 == 1 {
                data["trigger_plan"] =
                    json!({ "request": "update", "details": "synthetic details" });
            }
            let at = meeting + Duration::hours(3);
            feed.push(MEETINGS, "meeting.review-outcome.v1", at, data.clone());
            if child % 6 == 1 {
                feed.push(
                    MEETINGS,
                    "meeting.review-outcome.v1",
                    at + Duration::hours(1),
                    data,
                );
            }
            feed.push(
                MEETINGS,
                "meeting.action-updated.v1",
                at + Duration::days(3 + dice.below(10) as i64),
                json!({ "action_id": action, "status": if child % 2 == 0 { "done" } else { "cancelled" } }),
            );
            if refer {
                let earlier = date + Duration::days(21);
                let later = date + Duration::days(49);
                let decision = |meeting: chrono::NaiveDate, remain: bool| {
                    let mut d = json!({
                        "meeting_date": meeting.to_string(), "lcs_person_id": lcs,
                        "decision": if remain { "remain" } else { "close" },
                        "outcome": "synthetic outcome",
                        "actions": [{ "action_id": format!("V-8{child:05}-{meeting}"),
                                      "description": "synthetic action", "owner_role": "lead_professional",
                                      "due_date": (meeting + Duration::days(14)).to_string() }],
                        "still_at_risk_post_18": false, "trafficked": false,
                        "signposting": ["marac"],
                    });
                    if remain {
                        d["category"] = json!("cse");
                        d["risk_level"] = json!("medium");
                        d["lead_professional"] = json!({ "worker_id": format!("W-{child}"), "name": "Sam Example", "email": "lead@example.org" });
                    }
                    d
                };
                let sent = later.and_hms_opt(15, 0, 0).unwrap().and_utc();
                feed.push(
                    MEETINGS,
                    "meeting.vpg-decision.v1",
                    sent,
                    decision(later, false),
                );
                feed.push(
                    MEETINGS,
                    "meeting.vpg-decision.v1",
                    sent + Duration::days(1),
                    decision(earlier, true),
                );
            }
        }

        if child % 4 == 1 {
            let issued = start + Duration::days(5 + dice.below(40) as i64);
            for version in 1..=2u32 {
                let at = issued + Duration::days(i64::from(version - 1) * 30);
                feed.push(
                    POLICE,
                    "police.trigger-plan.v1",
                    at,
                    json!({
                        "plan_id": format!("TP-8{child:05}"), "police_person_id": police, "version": version,
                        "issued_at": at.to_rfc3339(),
                        "document": { "url": format!("https://police.example/plans/TP-8{child:05}/v{version}"), "media_type": "application/pdf" },
                        "summary": "synthetic free text",
                    }),
                );
            }
        }
    }
    // A partner's mistake: an update of an action no outcome recorded.
    feed.push(
        MEETINGS,
        "meeting.action-updated.v1",
        start + Duration::days(30),
        json!({ "action_id": "A-UNKNOWN", "status": "done" }),
    );
    // Partners' exports concatenated: by source, then roughly by time.
    feed.lines
        .sort_by_key(|(at, event)| (event["source"].as_str().map(str::to_owned), *at));
    let mut text = String::new();
    for (_, event) in feed.lines {
        text.push_str(&event.to_string());
        text.push('\n');
    }
    text
}
