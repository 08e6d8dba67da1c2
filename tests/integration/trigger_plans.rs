//! Trigger plans received (R4.2): the document, case note, e-mail and alert
//! for the child's SW, TM and IRO (where involved); newer versions replace
//! older ones; a plan for a person no LCS record links waits for the link;
//! the agenda item shows the newest plan.

use std::collections::BTreeMap;

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{EpisodeSpec, HTTP_TOKEN, TestApp, child_record, cloud_event, utc};

const DOCUMENTS: &str = "lcs.document.v1";
const NOTES: &str = "lcs.case-note.v1";
const EMAILS: &str = "email.v1";
const ALERTS: &str = "lcs.alert.v1";
const EFFECTS: [&str; 4] = [DOCUMENTS, NOTES, EMAILS, ALERTS];

/// Monday 16 November 2026, 09:00 London: the next meeting is Wednesday 18th.
const MONDAY: &str = "2026-11-16T09:00:00Z";
const MEETING: &str = "2026-11-18";

/// Free text the police send with a plan; the service never keeps it.
const SUMMARY: &str = "Summary text that is never stored";

fn plan(plan_id: &str, police: &str, version: u32, issued_at: &str) -> Value {
    cloud_event(
        "police.trigger-plan.v1",
        "urn:test:police",
        json!({
            "plan_id": plan_id,
            "police_person_id": police,
            "version": version,
            "issued_at": issued_at,
            "document": { "url": url(plan_id, version), "media_type": "application/pdf" },
            "summary": SUMMARY,
        }),
    )
}

fn url(plan_id: &str, version: u32) -> String {
    format!("https://police.example/plans/{plan_id}/v{version}")
}

/// A child record with a social worker, a team manager, an early-help worker
/// (who is not sent plans) and, when `iro`, an IRO.
fn record(lcs: &str, revision: u32, police: &[&str], vemt: &str, iro: bool) -> Value {
    let mut event = child_record(lcs, revision, police, vemt);
    let mut professionals = vec![
        json!({ "role": "early_help_worker", "worker_id": "W-EH", "name": "Eli Helper", "email": "eh@example.org" }),
        json!({ "role": "team_manager", "worker_id": "W-TM", "name": "Tia Manager", "email": "tm@example.org" }),
        json!({ "role": "social_worker", "worker_id": "W-SW", "name": "Sam Worker", "email": "sw@example.org" }),
    ];
    if iro {
        professionals.push(
            json!({ "role": "iro", "worker_id": "W-IRO", "name": "Ira Officer", "email": "iro@example.org" }),
        );
    }
    event["data"]["professionals"] = Value::Array(professionals);
    event
}

fn sent_to(iro: bool) -> (Value, Value) {
    let mut to = vec![
        json!({ "role": "social_worker", "worker_id": "W-SW", "email": "sw@example.org" }),
        json!({ "role": "team_manager", "worker_id": "W-TM", "email": "tm@example.org" }),
    ];
    let mut recipients = vec![
        json!({ "role": "social_worker", "worker_id": "W-SW" }),
        json!({ "role": "team_manager", "worker_id": "W-TM" }),
    ];
    if iro {
        to.push(json!({ "role": "iro", "worker_id": "W-IRO", "email": "iro@example.org" }));
        recipients.push(json!({ "role": "iro", "worker_id": "W-IRO" }));
    }
    (Value::Array(to), Value::Array(recipients))
}

/// One set of effects of a plan version, each event's `data`.
struct Set {
    document: Value,
    note: Value,
    email: Value,
    alert: Value,
}

/// Takes `n` events of each of the four types, keyed by LCS person id and
/// plan title, so that arrival order does not matter.
async fn take_sets(app: &TestApp, n: usize) -> Vec<Set> {
    let mut by_type: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for event_type in EFFECTS {
        let mut data: Vec<Value> = app
            .take_events(event_type, n)
            .await
            .into_iter()
            .map(|e| e["data"].clone())
            .collect();
        data.sort_by_key(|d| sort_key(event_type, d));
        by_type.insert(event_type, data);
    }
    (0..n)
        .map(|i| Set {
            document: by_type[DOCUMENTS][i].clone(),
            note: by_type[NOTES][i].clone(),
            email: by_type[EMAILS][i].clone(),
            alert: by_type[ALERTS][i].clone(),
        })
        .collect()
}

/// Child, then plan and version, read from each type's own fields.
fn sort_key(event_type: &str, data: &Value) -> String {
    let child = data["lcs_person_id"].as_str().unwrap_or_default();
    let plan = match event_type {
        DOCUMENTS => data["url"].as_str().unwrap_or_default().to_owned(),
        NOTES => data["title"].as_str().unwrap_or_default().to_owned(),
        EMAILS => data["personalisation"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    format!("{child}|{plan}")
}

async fn assert_no_more_effects(app: &TestApp) {
    for event_type in EFFECTS {
        app.assert_no_more(event_type).await;
    }
}

#[track_caller]
fn assert_set(set: &Set, lcs: &str, plan_id: &str, version: u32, note_type: &str, iro: bool) {
    let (to, recipients) = sent_to(iro);
    assert_eq!(
        set.document,
        json!({
            "document_id": set.document["document_id"],
            "lcs_person_id": lcs,
            "title": format!("Police missing persons trigger plan {plan_id} v{version}"),
            "url": url(plan_id, version),
            "media_type": "application/pdf",
        })
    );
    assert!(set.document["document_id"].is_string());
    assert_eq!(set.note["lcs_person_id"], lcs);
    assert_eq!(set.note["note_type"], note_type);
    assert_eq!(
        set.note["title"],
        format!("Police trigger plan {plan_id} version {version} received")
    );
    assert!(set.note["note_id"].is_string());
    assert_eq!(
        set.email,
        json!({
            "email_id": set.email["email_id"],
            "lcs_person_id": lcs,
            "to": to,
            "template": "trigger_plan_received",
            "personalisation": {
                "plan_id": plan_id,
                "version": version.to_string(),
                "url": url(plan_id, version),
                "lcs_person_id": lcs,
            },
        })
    );
    assert!(set.email["email_id"].is_string());
    assert_eq!(
        set.alert,
        json!({
            "alert_id": set.alert["alert_id"],
            "lcs_person_id": lcs,
            "recipients": recipients,
            "reason": "trigger_plan_received",
            "priority": "normal",
        })
    );
    assert!(set.alert["alert_id"].is_string());
}

/// The plan's free-text summary is in no table and no outbound event.
async fn assert_summary_never_kept(app: &TestApp) {
    let kept: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM trigger_plans t WHERE row_to_json(t)::text LIKE $1)
              + (SELECT count(*) FROM outbox WHERE body::text LIKE $1)",
    )
    .bind(format!("%{SUMMARY}%"))
    .fetch_one(&app.pool)
    .await
    .expect("summary query");
    assert_eq!(kept, 0, "the plan's summary is not kept (R7.2)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_for_an_active_vemt_child_goes_to_sw_tm_and_iro_with_a_vemt_note() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&record("LCS-TP1", 1, &["P-TP1"], "active", true))
        .await;
    app.publish(&plan("TP-1", "P-TP1", 1, "2026-11-15T18:30:00Z"))
        .await;
    app.wait_handled(2).await;

    let sets = take_sets(&app, 1).await;
    let set = &sets[0];
    assert_set(set, "LCS-TP1", "TP-1", 1, "vemt", true);
    assert_eq!(set.note["dated"], "2026-11-16", "the day it was received");
    let body = set.note["body"].as_str().unwrap();
    assert!(
        body.contains("TP-1, version 1, issued on 15 November 2026"),
        "{body}"
    );
    for data in [&set.email, &set.alert, &set.note] {
        let text = data.to_string();
        assert!(
            !text.contains("Sam Worker") && !text.contains("Recordchild"),
            "{text}"
        );
    }
    assert_no_more_effects(&app).await;
    app.assert_no_more("police.trigger-plan-request.v1").await;
    assert_summary_never_kept(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_for_a_child_without_an_active_vemt_case_and_no_iro_goes_to_sw_and_tm() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&record("LCS-TP2", 1, &["P-TP2"], "none", false))
        .await;
    app.publish(&plan("TP-2", "P-TP2", 1, "2026-11-16T08:00:00Z"))
        .await;
    app.wait_handled(2).await;

    let sets = take_sets(&app, 1).await;
    assert_set(&sets[0], "LCS-TP2", "TP-2", 1, "missing_episode", false);
    assert_no_more_effects(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_version_brings_a_second_set_and_an_older_one_nothing() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    app.publish(&record("LCS-TP3", 1, &["P-TP3"], "active", true))
        .await;
    app.publish(&plan("TP-3", "P-TP3", 1, "2026-11-14T09:00:00Z"))
        .await;
    app.wait_handled(2).await;
    let first = take_sets(&app, 1).await;
    assert_set(&first[0], "LCS-TP3", "TP-3", 1, "vemt", true);

    let second_version = plan("TP-3", "P-TP3", 2, "2026-11-15T09:00:00Z");
    app.publish(&second_version).await;
    app.wait_handled(3).await;
    let second = take_sets(&app, 1).await;
    assert_set(&second[0], "LCS-TP3", "TP-3", 2, "vemt", true);
    for (id, one, two) in [
        ("document_id", &first[0].document, &second[0].document),
        ("note_id", &first[0].note, &second[0].note),
        ("email_id", &first[0].email, &second[0].email),
        ("alert_id", &first[0].alert, &second[0].alert),
    ] {
        assert_ne!(one[id], two[id], "{id} differs between versions");
    }

    // The same event again (a redelivery), then version 1 again, late.
    app.publish(&second_version).await;
    app.publish(&plan("TP-3", "P-TP3", 1, "2026-11-14T09:00:00Z"))
        .await;
    app.wait_handled(4).await;
    assert_no_more_effects(&app).await;
    let held: (i32, String) =
        sqlx::query_as("SELECT version, url FROM trigger_plans WHERE plan_id = 'TP-3'")
            .fetch_one(&app.pool)
            .await
            .expect("plan row");
    assert_eq!(held, (2, url("TP-3", 2)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_for_a_person_no_lcs_record_links_waits_for_the_record_then_goes_once() {
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    // P-LATE: unknown to the service. P-WAIT: known by an episode naming
    // their LCS id, but LCS's record of them has not arrived.
    app.publish(&plan("TP-LATE", "P-LATE", 1, "2026-11-15T09:00:00Z"))
        .await;
    let episode = EpisodeSpec::returned(
        "CP-WAIT",
        "P-WAIT",
        Some("LCS-WAIT"),
        now - Duration::days(1),
    );
    app.publish(&episode.event()).await;
    app.publish(&plan("TP-WAIT", "P-WAIT", 1, "2026-11-15T10:00:00Z"))
        .await;
    app.wait_handled(3).await;
    assert_no_more_effects(&app).await;
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM trigger_plans WHERE effects_sent_version IS NULL")
            .fetch_one(&app.pool)
            .await
            .expect("plans query");
    assert_eq!(waiting, 2, "both plans are kept");

    // The records arrive the next day: the notes are dated the day the
    // plans were received.
    app.clock.set(utc("2026-11-17T10:00:00Z"));
    app.publish(&record("LCS-LATE", 1, &["P-LATE"], "active", true))
        .await;
    app.publish(&record("LCS-WAIT", 1, &["P-WAIT"], "referred", false))
        .await;
    app.wait_handled(5).await;
    let sets = take_sets(&app, 2).await;
    assert_set(&sets[0], "LCS-LATE", "TP-LATE", 1, "vemt", true);
    assert_set(&sets[1], "LCS-WAIT", "TP-WAIT", 1, "missing_episode", false);
    for set in &sets {
        assert_eq!(set.note["dated"], "2026-11-16");
    }

    // A later revision of the record sends nothing again.
    app.publish(&record("LCS-LATE", 2, &["P-LATE"], "active", true))
        .await;
    app.wait_handled(6).await;
    assert_no_more_effects(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_plan_goes_out_when_an_episode_links_its_person_to_a_recorded_child() {
    // The LCS record (held) does not list P-EPI; an episode naming LCS-EPI
    // links them, and the plan waiting for P-EPI goes out then.
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    app.publish(&record("LCS-EPI", 1, &[], "active", false))
        .await;
    app.publish(&plan("TP-EPI", "P-EPI", 1, "2026-11-15T09:00:00Z"))
        .await;
    app.wait_handled(2).await;
    assert_no_more_effects(&app).await;
    let episode =
        EpisodeSpec::returned("CP-EPI", "P-EPI", Some("LCS-EPI"), now - Duration::days(1));
    app.publish(&episode.event()).await;
    app.wait_handled(3).await;
    let sets = take_sets(&app, 1).await;
    assert_set(&sets[0], "LCS-EPI", "TP-EPI", 1, "vemt", false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agenda_item_shows_the_newest_plan_of_any_of_the_childs_police_ids() {
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    app.publish(&record("LCS-AGP", 1, &["P-AGP1", "P-AGP2"], "active", true))
        .await;
    let high = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned("CP-AGP", "P-AGP1", Some("LCS-AGP"), now - Duration::days(2))
    };
    app.publish(&high.event()).await;
    app.publish(&plan("TP-A", "P-AGP1", 1, "2026-11-10T09:00:00Z"))
        .await;
    app.publish(&plan("TP-B", "P-AGP2", 1, "2026-11-11T09:00:00Z"))
        .await;
    app.wait_handled(4).await;
    app.take_events("police.trigger-plan-request.v1", 1).await;
    take_sets(&app, 2).await;
    assert_eq!(
        preview_plan(&app).await,
        json!({ "plan_id": "TP-B", "version": 1, "url": url("TP-B", 1) }),
        "issued last"
    );

    app.publish(&plan("TP-A", "P-AGP1", 2, "2026-11-12T09:00:00Z"))
        .await;
    app.wait_handled(5).await;
    take_sets(&app, 1).await;
    let newest = json!({ "plan_id": "TP-A", "version": 2, "url": url("TP-A", 2) });
    assert_eq!(preview_plan(&app).await, newest);

    // Tuesday 12:00 London: the frozen agenda carries it too.
    app.clock.set(utc("2026-11-17T12:00:01Z"));
    let agenda = &app.take_events("agenda.missing-review.v1", 1).await[0]["data"];
    let items = agenda["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["lcs_person_id"], "LCS-AGP");
    assert_eq!(items[0]["trigger_plan"], newest);
    assert_no_more_effects(&app).await;
    app.stop().await;
}

/// The `trigger_plan` of the only item of the preview of Wednesday's agenda.
async fn preview_plan(app: &TestApp) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/meetings/{MEETING}/agenda", app.http_base()))
        .bearer_auth(HTTP_TOKEN)
        .send()
        .await
        .expect("the service answers");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let agenda: Value = response.json().await.expect("agenda JSON");
    assert_eq!(agenda["collated_at"], Value::Null, "a preview");
    let items = agenda["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    items[0]["trigger_plan"].clone()
}
