//! Decisions of the monthly VPG meeting (R6.1–R6.3), end to end: each test
//! publishes a child record and a decision and reads every outbound queue
//! a decision can reach, asserting the exact set of messages and who they
//! are for.

use serde_json::{Value, json};

use crate::helpers::{TestApp, child_record, cloud_event, header, utc};

const MARKERS: &str = "lcs.hazard-marker.v1";
const LETTERS: &str = "letter.v1";
const NOTES: &str = "lcs.case-note.v1";
const EHM_NOTES: &str = "ehm.case-note.v1";
const PROFILES: &str = "lcs.case-profile.v1";
const TASKS: &str = "lcs.task.v1";
const NRM: &str = "referral.nrm-request.v1";
const TYPES: [&str; 7] = [MARKERS, LETTERS, NOTES, EHM_NOTES, PROFILES, TASKS, NRM];

/// The evening of Thursday 3 December 2026, after M3 sat.
const NOW: &str = "2026-12-03T18:00:00Z";
const MEETING: &str = "2026-12-03";
/// Free text of the minutes: only ever in the case note.
const OUTCOME: &str = "Risk has reduced and the child is settled";

/// An active VEMT child (CSE) with a social worker, team manager and
/// early-help worker; with an EHM id when `early_help`.
fn record(lcs: &str, date_of_birth: &str, early_help: bool) -> Value {
    let mut event = child_record(lcs, 1, &[], "active");
    let data = &mut event["data"];
    data["date_of_birth"] = json!(date_of_birth);
    data["vemt"]["category"] = json!("cse");
    data["ehm_id"] = if early_help {
        json!(format!("EHM-{lcs}"))
    } else {
        Value::Null
    };
    data["professionals"] = json!([
        { "role": "social_worker", "worker_id": "W-SW", "name": "Sam Worker", "email": "sw@example.org" },
        { "role": "team_manager", "worker_id": "W-TM", "name": "Tia Manager", "email": "tm@example.org" },
        { "role": "early_help_worker", "worker_id": "W-EH", "name": "Eli Helper", "email": "eh@example.org" },
    ]);
    event
}

fn decision(lcs: &str, decision: &str) -> Value {
    cloud_event(
        "meeting.vpg-decision.v1",
        "urn:test:minutes",
        json!({
            "meeting_date": MEETING,
            "lcs_person_id": lcs,
            "decision": decision,
            "category": "cse",
            "risk_level": "medium",
            "lead_professional": { "worker_id": "W-LEAD", "name": "Lee Lead", "email": "lead@example.org" },
            "outcome": OUTCOME,
            "actions": [
                { "action_id": "A-1", "description": "Review safety plan", "owner_role": "social_worker", "due_date": "2026-12-10" }
            ],
            "still_at_risk_post_18": false,
            "trafficked": false,
            "signposting": [],
        }),
    )
}

/// Publishes the record and the decision(s) and waits for them all.
async fn run(record: Value, decisions: &[Value]) -> TestApp {
    let app = TestApp::spawn(utc(NOW)).await;
    app.publish(&record).await;
    app.wait_handled(1).await;
    for d in decisions {
        app.publish(d).await;
    }
    app.wait_handled(1 + decisions.len() as i64).await;
    app.wait_outbox_drained().await;
    app
}

/// Takes exactly `counts` of each type (0 for those absent), then checks
/// nothing more is waiting; returns each event's data by type.
async fn take_all(app: &TestApp, counts: &[(&str, usize)]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for event_type in TYPES {
        let n = counts
            .iter()
            .find(|(t, _)| *t == event_type)
            .map_or(0, |(_, n)| *n);
        if n > 0 {
            for event in app.take_distinct_events(event_type, n).await {
                out.push((event_type.to_owned(), event["data"].clone()));
            }
        }
        app.assert_no_more(event_type).await;
    }
    out
}

fn of<'a>(events: &'a [(String, Value)], event_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(t, _)| t == event_type)
        .map(|(_, d)| d)
        .collect()
}

/// (kind, assignee_role, assignee_worker_id) of every task, sorted.
fn tasks(events: &[(String, Value)]) -> Vec<(String, String, String)> {
    let mut tasks: Vec<_> = of(events, TASKS)
        .into_iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_owned(),
                t["assignee_role"].as_str().unwrap().to_owned(),
                t["assignee_worker_id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    tasks.sort();
    tasks
}

#[track_caller]
fn assert_note(events: &[(String, Value)], lcs: &str, decided: &str) {
    let notes = of(events, NOTES);
    assert_eq!(notes.len(), 1);
    let note = notes[0];
    assert_eq!(note["lcs_person_id"], lcs);
    assert_eq!(note["note_type"], "vemt");
    assert_eq!(note["dated"], MEETING);
    assert_eq!(
        note["title"],
        format!("VEMT Practitioners Group, 3 December 2026: case {decided}")
    );
    let body = note["body"].as_str().unwrap();
    assert!(body.contains(OUTCOME), "{body}");
    assert!(
        body.contains("- Review safety plan (A-1); owner: social_worker; due 10 December 2026"),
        "{body}"
    );
    assert!(note["note_id"].is_string());
}

#[track_caller]
fn assert_closure(events: &[(String, Value)], lcs: &str) {
    assert_eq!(
        of(events, MARKERS),
        [&json!({ "lcs_person_id": lcs, "marker": "vemt", "action": "close" })]
    );
    let mut letters: Vec<_> = of(events, LETTERS)
        .into_iter()
        .map(|l| {
            assert_eq!(l["lcs_person_id"], lcs);
            assert!(l["letter_id"].is_string());
            assert_eq!(
                l.as_object().unwrap().len(),
                4,
                "a letter carries no address or GP details: {l}"
            );
            (
                l["recipient"].as_str().unwrap().to_owned(),
                l["template"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    letters.sort();
    assert_eq!(
        letters,
        [
            ("gp".to_owned(), "vemt_closure_gp".to_owned()),
            ("lead_professional".to_owned(), "vemt_closure".to_owned()),
            ("parent_carer".to_owned(), "vemt_closure".to_owned()),
            ("young_person".to_owned(), "vemt_closure".to_owned()),
        ]
    );
    assert_note(events, lcs, "closed to VEMT");
}

/// The outcome's free text is in no table but the outbox (the case note).
async fn assert_outcome_not_stored(app: &TestApp) {
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM vpg_decisions d WHERE row_to_json(d)::text LIKE $1",
    )
    .bind(format!("%{OUTCOME}%"))
    .fetch_one(&app.pool)
    .await
    .expect("outcome query");
    assert_eq!(kept, 0, "the outcome is not stored (R7.2)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_1_close_with_early_help_closes_marker_writes_letters_note_and_ehm_copy() {
    let lcs = "LCS-VD1";
    let app = run(record(lcs, "2010-05-06", true), &[decision(lcs, "close")]).await;
    let events = take_all(
        &app,
        &[(MARKERS, 1), (LETTERS, 4), (NOTES, 1), (EHM_NOTES, 1)],
    )
    .await;
    assert_closure(&events, lcs);
    let note = of(&events, NOTES)[0];
    let copy = of(&events, EHM_NOTES)[0];
    assert_eq!(copy["ehm_id"], format!("EHM-{lcs}"));
    assert_eq!(copy["lcs_person_id"], lcs);
    assert_eq!(copy["dated"], MEETING);
    assert_eq!(copy["title"], note["title"]);
    assert_eq!(copy["body"], note["body"]);
    assert_outcome_not_stored(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_1_close_without_early_help_has_no_ehm_copy() {
    let lcs = "LCS-VD2";
    let app = run(record(lcs, "2010-05-06", false), &[decision(lcs, "close")]).await;
    let events = take_all(&app, &[(MARKERS, 1), (LETTERS, 4), (NOTES, 1)]).await;
    assert_closure(&events, lcs);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_2_remain_writes_note_profile_and_case_mapping_tasks() {
    let lcs = "LCS-VD3";
    let app = run(record(lcs, "2010-05-06", true), &[decision(lcs, "remain")]).await;
    let events = take_all(
        &app,
        &[(NOTES, 1), (EHM_NOTES, 1), (PROFILES, 1), (TASKS, 3)],
    )
    .await;
    assert_note(&events, lcs, "to remain subject to VEMT");
    assert_eq!(
        of(&events, PROFILES),
        [&json!({
            "lcs_person_id": lcs,
            "category": "cse",
            "risk_level": "medium",
            "lead_professional": { "worker_id": "W-LEAD", "name": "Lee Lead", "email": "lead@example.org" },
        })]
    );
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        tasks(&events),
        [
            s("update_case_mapping", "early_help_worker", "W-EH"),
            s("update_case_mapping", "lead_professional", "W-LEAD"),
            s("update_case_mapping", "social_worker", "W-SW"),
        ]
    );
    assert_outcome_not_stored(&app).await;
    app.stop().await;
}

fn closing_with(lcs: &str, key: &str, value: Value) -> Value {
    let mut event = decision(lcs, "close");
    event["data"][key] = value;
    event
}

const CLOSURE: [(&str, usize); 3] = [(MARKERS, 1), (LETTERS, 4), (NOTES, 1)];

fn with_closure(extra: &[(&'static str, usize)]) -> Vec<(&'static str, usize)> {
    CLOSURE
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_3_a_child_at_risk_past_18_gets_a_post_18_discussion_task() {
    let lcs = "LCS-VD4";
    let event = closing_with(lcs, "still_at_risk_post_18", json!(true));
    let app = run(record(lcs, "2009-01-02", false), &[event]).await;
    let events = take_all(&app, &with_closure(&[(TASKS, 1)])).await;
    let task = of(&events, TASKS)[0];
    assert_eq!(task["kind"], "post_18_discussion");
    assert_eq!(task["assignee_role"], "lead_professional");
    assert_eq!(task["assignee_worker_id"], "W-LEAD");
    assert_eq!(task["lcs_person_id"], lcs);
    let description = task["description"].as_str().unwrap();
    assert!(description.contains("adult services"), "{description}");
    assert!(description.contains("leaving care"), "{description}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_3_a_trafficked_child_gets_an_nrm_request() {
    let lcs = "LCS-VD5";
    let event = closing_with(lcs, "trafficked", json!(true));
    let app = run(record(lcs, "2010-05-06", false), &[event]).await;
    let events = take_all(&app, &with_closure(&[(NRM, 1)])).await;
    let request = of(&events, NRM)[0];
    assert_eq!(request["lcs_person_id"], lcs);
    assert!(request["request_id"].is_string());
    assert_eq!(request.as_object().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_3_signposting_to_marac_becomes_a_task() {
    let lcs = "LCS-VD6";
    let event = closing_with(lcs, "signposting", json!(["marac"]));
    let app = run(record(lcs, "2010-05-06", false), &[event]).await;
    let events = take_all(&app, &with_closure(&[(TASKS, 1)])).await;
    assert_eq!(
        tasks(&events),
        [(
            "signpost_marac".to_owned(),
            "lead_professional".to_owned(),
            "W-LEAD".to_owned()
        )]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_3_stage_for_a_female_of_16_in_cse_is_a_task_without_caveat() {
    let lcs = "LCS-VD7";
    let event = closing_with(lcs, "signposting", json!(["stage"]));
    let app = run(record(lcs, "2010-05-06", false), &[event]).await;
    let events = take_all(&app, &with_closure(&[(TASKS, 1)])).await;
    let task = of(&events, TASKS)[0];
    assert_eq!(task["kind"], "signpost_stage");
    assert_eq!(task["stage_unmet"], json!([]));
    let description = task["description"].as_str().unwrap();
    assert!(!description.contains("do not all hold"), "{description}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_3_stage_for_a_15_year_old_says_the_age_condition_does_not_hold() {
    let lcs = "LCS-VD8";
    let event = closing_with(lcs, "signposting", json!(["stage"]));
    // Turns 16 on 4 December 2026, the day after the meeting.
    let app = run(record(lcs, "2010-12-04", false), &[event]).await;
    let events = take_all(&app, &with_closure(&[(TASKS, 1)])).await;
    let task = of(&events, TASKS)[0];
    assert_eq!(task["kind"], "signpost_stage");
    assert_eq!(task["stage_unmet"], json!(["under_16"]));
    let description = task["description"].as_str().unwrap();
    assert!(
        description.contains("the child is under 16 on the meeting date"),
        "{description}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_for_an_unknown_child_is_dead_lettered_with_the_reason() {
    let app = TestApp::spawn(utc(NOW)).await;
    app.publish(&decision("LCS-NOBODY", "close")).await;
    let dead = app.take(&app.settings.broker.dead_letter_queue, 1).await;
    let reason = header(&dead[0], "x-vemt-error").expect("reason header");
    assert_eq!(
        reason,
        "$.data.lcs_person_id: must be a child the service knows (send lcs.child.v1 first)"
    );
    assert!(!reason.contains(OUTCOME));
    for event_type in TYPES {
        app.assert_no_more(event_type).await;
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM vpg_decisions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, 0, "nothing of a refused decision is kept");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_decision_twice_makes_one_set() {
    let lcs = "LCS-VD9";
    // The same decision sent again under a new event id.
    let app = run(
        record(lcs, "2010-05-06", false),
        &[decision(lcs, "close"), decision(lcs, "close")],
    )
    .await;
    let events = take_all(&app, &CLOSURE).await;
    assert_closure(&events, lcs);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_for_another_child_does_not_make_this_one_known() {
    let app = run(child_record("LCS-OTHER", 1, &[], "active"), &[]).await;
    app.publish(&decision("LCS-VD10", "remain")).await;
    let dead = app.take(&app.settings.broker.dead_letter_queue, 1).await;
    let reason = header(&dead[0], "x-vemt-error").unwrap();
    assert!(
        reason.starts_with("$.data.lcs_person_id: must be a child"),
        "{reason}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_older_than_one_applied_records_its_note_and_referral_but_does_not_close_the_case()
 {
    // R6, R8.2: December's M3 kept the case open; November's decision to
    // close it arrives late. The later decision stands: no marker closed,
    // no closure letters; November's note and its NRM referral still go.
    let lcs = "LCS-VD11";
    let app = run(record(lcs, "2010-05-06", true), &[decision(lcs, "remain")]).await;
    let mut late = closing_with(lcs, "trafficked", json!(true));
    late["data"]["meeting_date"] = json!("2026-11-05");
    app.publish(&late).await;
    app.wait_handled(3).await;
    app.wait_outbox_drained().await;
    let events = take_all(
        &app,
        &[
            (NOTES, 2),
            (EHM_NOTES, 2),
            (PROFILES, 1),
            (TASKS, 3),
            (NRM, 1),
        ],
    )
    .await;
    let mut dated: Vec<&str> = of(&events, NOTES)
        .iter()
        .map(|n| n["dated"].as_str().unwrap())
        .collect();
    dated.sort();
    assert_eq!(dated, ["2026-11-05", MEETING]);
    let late_note = of(&events, NOTES)
        .into_iter()
        .find(|n| n["dated"] == "2026-11-05")
        .unwrap();
    assert_eq!(
        late_note["title"],
        "VEMT Practitioners Group, 5 November 2026: case closed to VEMT"
    );
    assert_eq!(of(&events, NRM)[0]["lcs_person_id"], lcs);
    assert!(
        tasks(&events)
            .iter()
            .all(|(kind, _, _)| kind == "update_case_mapping"),
        "only December's tasks"
    );
    app.stop().await;
}
