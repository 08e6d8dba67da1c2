//! Outcomes of the Wednesday meeting (R5) and the trigger plan requests
//! they make (R4.3): the e-mail, case notes, alerts and request, each once,
//! to the right people; outcomes twice, for unknown children, referred to
//! M2; actions kept and listed on M3's agenda.

use serde_json::{Value, json};

use crate::helpers::{EpisodeSpec, TestApp, child_record, cloud_event, header, utc};

const NOTES: &str = "lcs.case-note.v1";
const EHM_NOTES: &str = "ehm.case-note.v1";
const EMAILS: &str = "email.v1";
const ALERTS: &str = "lcs.alert.v1";
const REQUESTS: &str = "police.trigger-plan-request.v1";
const EFFECTS: [&str; 5] = [NOTES, EHM_NOTES, EMAILS, ALERTS, REQUESTS];

/// Monday 23 November 2026, 09:00 London; the meeting sat on Wednesday 18th.
const MONDAY: &str = "2026-11-23T09:00:00Z";
const MEETING: &str = "2026-11-18";

const OUTCOME: &str = "Outcome text for the professionals";
const DISCUSSION: &str = "Discussion text only for the case note";

fn worker(role: &str, id: &str) -> Value {
    json!({ "role": role, "worker_id": id, "name": format!("Name {id}"), "email": format!("{id}@example.org") })
}

/// A record with a SW, TM, IRO, an early-help worker and manager, and an EHM id.
fn full_record(lcs: &str, police: &[&str]) -> Value {
    let mut event = child_record(lcs, 1, police, "active");
    event["data"]["ehm_id"] = json!(format!("EHM-{lcs}"));
    event["data"]["professionals"] = json!([
        worker("iro", "W-IRO"),
        worker("early_help_worker", "W-EH"),
        worker("team_manager", "W-TM"),
        worker("early_help_manager", "W-EHM"),
        worker("social_worker", "W-SW"),
    ]);
    event
}

/// A record with only an early-help worker and manager: no SW, no IRO, no
/// EHM id.
fn early_help_record(lcs: &str) -> Value {
    let mut event = child_record(lcs, 1, &[], "none");
    event["data"]["professionals"] = json!([
        worker("early_help_manager", "W-EHM"),
        worker("early_help_worker", "W-EH")
    ]);
    event
}

fn outcome(lcs: &str, meeting: &str, extra: Value) -> Value {
    let mut data = json!({
        "meeting_date": meeting,
        "lcs_person_id": lcs,
        "outcome": OUTCOME,
        "discussion": DISCUSSION,
        "actions": [
            { "action_id": format!("A-{lcs}-{meeting}"), "description": "Visit the child", "owner_role": "social_worker", "due_date": "2026-12-02" }
        ],
    });
    for (key, value) in extra.as_object().unwrap() {
        data[key] = value.clone();
    }
    cloud_event("meeting.review-outcome.v1", "urn:test:minutes", data)
}

fn to(role: &str, id: &str) -> Value {
    json!({ "role": role, "worker_id": id, "email": format!("{id}@example.org") })
}

fn recipient(role: &str, id: &str) -> Value {
    json!({ "role": role, "worker_id": id })
}

async fn assert_no_more_effects(app: &TestApp) {
    for event_type in EFFECTS {
        app.assert_no_more(event_type).await;
    }
}

async fn one(app: &TestApp, event_type: &str) -> Value {
    app.take_events(event_type, 1).await.remove(0)["data"].clone()
}

#[track_caller]
fn assert_outcome_email(email: &Value, lcs: &str, to: Value) {
    assert!(email["email_id"].is_string());
    assert_eq!(
        email,
        &json!({
            "email_id": email["email_id"],
            "lcs_person_id": lcs,
            "to": to,
            "template": "review_outcome",
            "personalisation": {
                "meeting_date": MEETING,
                "lcs_person_id": lcs,
                "outcome": OUTCOME,
                "actions": format!("- Visit the child (A-{lcs}-{MEETING}; owner: social_worker, due 2 December 2026)"),
                "action_count": "1",
            },
        })
    );
}

#[track_caller]
fn assert_outcome_note(note: &Value, lcs: &str) {
    assert_eq!(note["lcs_person_id"], lcs);
    assert_eq!(note["note_type"], "vemt");
    assert_eq!(note["dated"], MEETING);
    assert_eq!(
        note["title"],
        "VEMT: missing children review meeting on 18 November 2026"
    );
    let body = note["body"].as_str().unwrap();
    assert!(body.contains(OUTCOME), "{body}");
    assert!(body.contains(DISCUSSION), "{body}");
    assert!(body.contains("Visit the child"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_is_emailed_to_the_sw_noted_in_lcs_and_ehm_and_alerted_to_sw_tm_iro() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&full_record("LCS-OC1", &["P-OC1"])).await;
    app.publish(&outcome("LCS-OC1", MEETING, json!({}))).await;
    app.wait_handled(2).await;

    // R5.1: to the social worker only.
    let email = one(&app, EMAILS).await;
    assert_outcome_email(&email, "LCS-OC1", json!([to("social_worker", "W-SW")]));
    // R5.2: the VEMT note dated the meeting day, and its EHM copy.
    let note = one(&app, NOTES).await;
    assert_outcome_note(&note, "LCS-OC1");
    let copy = one(&app, EHM_NOTES).await;
    assert_eq!(
        copy,
        json!({
            "note_id": copy["note_id"],
            "ehm_id": "EHM-LCS-OC1",
            "lcs_person_id": "LCS-OC1",
            "dated": MEETING,
            "title": note["title"],
            "body": note["body"],
        })
    );
    // R5.3: the SW, their manager and the IRO.
    let alert = one(&app, ALERTS).await;
    assert_eq!(
        alert,
        json!({
            "alert_id": alert["alert_id"],
            "lcs_person_id": "LCS-OC1",
            "recipients": [
                recipient("social_worker", "W-SW"),
                recipient("team_manager", "W-TM"),
                recipient("iro", "W-IRO"),
            ],
            "reason": "review_outcome",
            "priority": "normal",
        })
    );
    assert_no_more_effects(&app).await;

    // The outcome is kept; the discussion is not (R7.2).
    let kept: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM review_outcomes o WHERE row_to_json(o)::text LIKE $1)
              + (SELECT count(*) FROM actions a WHERE row_to_json(a)::text LIKE $1)",
    )
    .bind(format!("%{DISCUSSION}%"))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kept, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_social_worker_the_early_help_worker_and_manager_are_told() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&early_help_record("LCS-OC2")).await;
    app.publish(&outcome("LCS-OC2", MEETING, json!({}))).await;
    app.wait_handled(2).await;

    let email = one(&app, EMAILS).await;
    assert_outcome_email(&email, "LCS-OC2", json!([to("early_help_worker", "W-EH")]));
    assert_outcome_note(&one(&app, NOTES).await, "LCS-OC2");
    let alert = one(&app, ALERTS).await;
    assert_eq!(
        alert["recipients"],
        json!([
            recipient("early_help_worker", "W-EH"),
            recipient("early_help_manager", "W-EHM"),
        ])
    );
    assert_eq!(alert["reason"], "review_outcome");
    // No EHM id: no EHM copy.
    assert_no_more_effects(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_outcome_twice_makes_one_set_and_an_older_meeting_still_counts_once() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&full_record("LCS-OC3", &["P-OC3"])).await;
    // Two CloudEvent ids, same child and meeting.
    app.publish(&outcome("LCS-OC3", MEETING, json!({}))).await;
    app.publish(&outcome(
        "LCS-OC3",
        MEETING,
        json!({ "outcome": "Sent again" }),
    ))
    .await;
    app.wait_handled(3).await;
    for event_type in [EMAILS, NOTES, EHM_NOTES, ALERTS] {
        app.take_events(event_type, 1).await;
    }
    assert_no_more_effects(&app).await;

    // An outcome of an older meeting, arriving late: its effects once, but
    // the child's last review stays the later meeting.
    app.publish(&outcome("LCS-OC3", "2026-11-11", json!({})))
        .await;
    app.wait_handled(4).await;
    let notes = app.take_events(NOTES, 1).await;
    assert_eq!(notes[0]["data"]["dated"], "2026-11-11");
    for event_type in [EMAILS, EHM_NOTES, ALERTS] {
        app.take_events(event_type, 1).await;
    }
    assert_no_more_effects(&app).await;
    let last: chrono::NaiveDate = sqlx::query_scalar(
        "SELECT max(meeting_date) FROM review_outcomes WHERE lcs_person_id = 'LCS-OC3'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(last.to_string(), MEETING);
    let kept: String = sqlx::query_scalar(
        "SELECT outcome FROM review_outcomes WHERE lcs_person_id = 'LCS-OC3' AND meeting_date = $1::date",
    )
    .bind(MEETING)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kept, OUTCOME, "the first outcome is kept");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_for_a_child_the_service_does_not_know_is_dead_lettered() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&outcome("LCS-UNKNOWN", MEETING, json!({})))
        .await;
    let dead = app.take(&app.settings.broker.dead_letter_queue, 1).await;
    let reason = header(&dead[0], "x-vemt-error").expect("reason header");
    assert!(
        reason.contains(
            "$.data.lcs_person_id: must be a child the service knows (send lcs.child.v1 first)"
        ),
        "{reason}"
    );
    assert!(!reason.contains(OUTCOME));
    // An update of an action nobody recorded, likewise.
    app.publish(&cloud_event(
        "meeting.action-updated.v1",
        "urn:test:minutes",
        json!({ "action_id": "A-NOBODY", "status": "done" }),
    ))
    .await;
    let dead = app.take(&app.settings.broker.dead_letter_queue, 1).await;
    let reason = header(&dead[0], "x-vemt-error").expect("reason header");
    assert!(reason.contains("$.data.action_id"), "{reason}");
    assert_no_more_effects(&app).await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM review_outcomes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, 0, "nothing of a refused outcome is kept");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_plan_create_goes_to_the_police_with_a_copy_note_and_alert() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&full_record("LCS-OC5", &["P-OC5"])).await;
    app.publish(&outcome(
        "LCS-OC5",
        MEETING,
        json!({ "trigger_plan": { "request": "create", "details": "Plan details" } }),
    ))
    .await;
    app.wait_handled(2).await;

    let request = one(&app, REQUESTS).await;
    assert_eq!(
        request,
        json!({
            "request_id": request["request_id"],
            "police_person_id": "P-OC5",
            "lcs_person_id": "LCS-OC5",
            "given_name": "Recordchild",
            "family_name": "Record-LCS-OC5",
            "date_of_birth": "2010-05-06",
            "kind": "create",
            "meeting_date": MEETING,
        })
    );
    let mut emails = app.take_events(EMAILS, 2).await;
    emails.sort_by_key(|e| e["data"]["template"].as_str().unwrap().to_owned());
    assert_outcome_email(
        &emails[0]["data"],
        "LCS-OC5",
        json!([to("social_worker", "W-SW")]),
    );
    let copy = &emails[1]["data"];
    assert_eq!(copy["template"], "trigger_plan_requested");
    assert_eq!(
        copy["to"],
        json!([
            to("social_worker", "W-SW"),
            to("team_manager", "W-TM"),
            to("iro", "W-IRO")
        ])
    );
    assert_eq!(copy["personalisation"]["request"], "created");
    assert_eq!(copy["personalisation"]["police_person_id"], "P-OC5");

    let mut notes = app.take_events(NOTES, 2).await;
    notes.sort_by_key(|e| e["data"]["title"].as_str().unwrap().to_owned());
    let plan_note = &notes[0]["data"];
    assert_eq!(
        plan_note["title"],
        "Police trigger plan to be created (meeting on 18 November 2026)"
    );
    assert_eq!(plan_note["note_type"], "vemt");
    assert_eq!(plan_note["dated"], MEETING);
    assert_outcome_note(&notes[1]["data"], "LCS-OC5");

    let mut alerts = app.take_events(ALERTS, 2).await;
    alerts.sort_by_key(|e| e["data"]["reason"].as_str().unwrap().to_owned());
    assert_eq!(alerts[0]["data"]["reason"], "review_outcome");
    assert_eq!(alerts[1]["data"]["reason"], "trigger_plan_requested");
    assert_eq!(
        alerts[1]["data"]["recipients"],
        json!([
            recipient("social_worker", "W-SW"),
            recipient("team_manager", "W-TM"),
            recipient("iro", "W-IRO")
        ])
    );
    // The outcome's EHM copy (the plan note is not copied: R4.2 has none).
    app.take_events(EHM_NOTES, 1).await;
    assert_no_more_effects(&app).await;
    app.stop().await;
}

/// R4.3 `update`, for a child with a social worker and manager but no IRO
/// and no EHM id: the IRO is left out of the copy and the alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_plan_update_without_an_iro_goes_to_the_sw_and_tm_only() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    let mut record = child_record("LCS-OC9", 1, &["P-OC9"], "active");
    record["data"]["professionals"] = json!([
        worker("social_worker", "W-SW"),
        worker("team_manager", "W-TM"),
    ]);
    app.publish(&record).await;
    app.publish(&outcome(
        "LCS-OC9",
        MEETING,
        json!({ "trigger_plan": { "request": "update", "details": "New places" } }),
    ))
    .await;
    app.wait_handled(2).await;

    let request = one(&app, REQUESTS).await;
    assert_eq!(request["kind"], "update");
    assert_eq!(request["police_person_id"], "P-OC9");
    assert_eq!(request["lcs_person_id"], "LCS-OC9");
    assert_eq!(request["meeting_date"], MEETING);

    let mut emails = app.take_events(EMAILS, 2).await;
    emails.sort_by_key(|e| e["data"]["template"].as_str().unwrap().to_owned());
    assert_outcome_email(
        &emails[0]["data"],
        "LCS-OC9",
        json!([to("social_worker", "W-SW")]),
    );
    let copy = &emails[1]["data"];
    assert_eq!(copy["template"], "trigger_plan_requested");
    assert_eq!(
        copy["to"],
        json!([to("social_worker", "W-SW"), to("team_manager", "W-TM")])
    );
    assert_eq!(copy["personalisation"]["request"], "updated");

    let mut notes = app.take_events(NOTES, 2).await;
    notes.sort_by_key(|e| e["data"]["title"].as_str().unwrap().to_owned());
    assert_eq!(
        notes[0]["data"]["title"],
        "Police trigger plan to be updated (meeting on 18 November 2026)"
    );
    assert_outcome_note(&notes[1]["data"], "LCS-OC9");

    let mut alerts = app.take_events(ALERTS, 2).await;
    alerts.sort_by_key(|e| e["data"]["reason"].as_str().unwrap().to_owned());
    let sw_and_tm = json!([
        recipient("social_worker", "W-SW"),
        recipient("team_manager", "W-TM")
    ]);
    assert_eq!(alerts[0]["data"]["reason"], "review_outcome");
    assert_eq!(alerts[0]["data"]["recipients"], sw_and_tm);
    assert_eq!(alerts[1]["data"]["reason"], "trigger_plan_requested");
    assert_eq!(alerts[1]["data"]["recipients"], sw_and_tm);
    // No EHM id: no EHM copy.
    assert_no_more_effects(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referred_outcomes_and_open_actions_reach_the_vpg_agendas() {
    // The weekly meeting sits Thursday 26 November (published Wednesday 25
    // at 12:00); the monthly Thursday 3 December (published 26 November).
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&full_record("LCS-OC6", &["P-OC6"])).await;
    app.publish(&full_record("LCS-OC7", &[])).await;
    app.publish(&outcome(
        "LCS-OC6",
        MEETING,
        json!({ "refer_to_vpg": true, "actions": [
            { "action_id": "A-OPEN", "description": "Open action", "owner_role": "social_worker" },
            { "action_id": "A-DONE", "description": "Done action", "owner_role": "iro" }
        ] }),
    ))
    .await;
    app.publish(&outcome("LCS-OC7", MEETING, json!({ "actions": [] })))
        .await;
    app.publish(&cloud_event(
        "meeting.action-updated.v1",
        "urn:test:minutes",
        json!({ "action_id": "A-DONE", "status": "done" }),
    ))
    .await;
    app.wait_handled(5).await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM actions WHERE action_id = 'A-DONE'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "done");

    app.clock.set(utc("2026-11-25T12:00:01Z"));
    let weekly = &app.take_events("agenda.vpg-weekly.v1", 1).await[0]["data"];
    let sections = &weekly["sections"];
    assert_eq!(
        sections["m1_outcomes"],
        json!([
            { "lcs_person_id": "LCS-OC6", "meeting_date": MEETING, "outcome": OUTCOME },
            { "lcs_person_id": "LCS-OC7", "meeting_date": MEETING, "outcome": OUTCOME },
        ])
    );
    assert_eq!(
        sections["referred_by_m1"],
        json!([{ "lcs_person_id": "LCS-OC6", "meeting_date": MEETING, "outcome": OUTCOME }])
    );

    app.clock.set(utc("2026-11-26T12:00:01Z"));
    let monthly = &app.take_events("agenda.vpg-monthly.v1", 1).await[0]["data"];
    let items = monthly["items"].as_array().unwrap();
    let item = |lcs: &str| {
        items
            .iter()
            .find(|i| i["lcs_person_id"] == lcs)
            .unwrap_or_else(|| panic!("{lcs} on the monthly agenda"))
            .clone()
    };
    assert_eq!(
        item("LCS-OC6")["outstanding_actions"],
        json!([{ "meeting_date": MEETING, "assignee_role": "social_worker", "description": "Open action" }])
    );
    assert_eq!(item("LCS-OC7")["outstanding_actions"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_outcome_is_the_childs_last_review_on_the_next_agenda() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&full_record("LCS-OC8", &["P-OC8"])).await;
    app.publish(&outcome("LCS-OC8", MEETING, json!({}))).await;
    // An older meeting's outcome arriving late does not move the last review back.
    app.publish(&outcome(
        "LCS-OC8",
        "2026-11-11",
        json!({ "outcome": "Older outcome" }),
    ))
    .await;
    // A high-risk episode after the review queues the child for 25 November.
    let episode = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(
            "CP-OC8",
            "P-OC8",
            Some("LCS-OC8"),
            utc("2026-11-20T09:00:00Z"),
        )
    };
    app.publish(&episode.event()).await;
    app.wait_handled(4).await;
    assert_eq!(
        app.criteria("2026-11-25", "LCS-OC8").await,
        ["active_vemt_case", "high_risk"]
    );

    // Past Tuesday's collation.
    app.clock.set(utc("2026-11-24T12:00:01Z"));
    let agenda = &app.take_events("agenda.missing-review.v1", 1).await[0]["data"];
    let item = &agenda["items"][0];
    assert_eq!(item["lcs_person_id"], "LCS-OC8");
    assert_eq!(
        item["last_reviewed"],
        json!({ "date": MEETING, "meeting": "missing_review", "outcome": OUTCOME })
    );
    app.stop().await;
}
