//! Cancelled and moved meetings (R2.4): their children roll to the meeting
//! that replaces it, with nothing asked of the police twice.

use chrono::Duration;
use serde_json::json;

use vemt::meetings::Meetings;

use crate::helpers::{EpisodeSpec, TestApp, utc};

fn high_risk(id: &str, person: &str, reported: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(id, person, Some(person), reported)
    }
    .event()
}

fn meetings(app: &TestApp) -> Meetings {
    Meetings::new(
        app.pool.clone(),
        app.settings.calendar().unwrap(),
        app.settings.criteria,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_meeting_rolls_its_children_to_the_next_meeting() {
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn(now).await;
    app.publish(&high_risk("CP-CXL-1", "LCS-CXL-1", now - Duration::days(1)))
        .await;
    app.publish(&high_risk("CP-CXL-2", "LCS-CXL-2", now - Duration::days(2)))
        .await;
    app.wait_handled(2).await;
    app.take_events("police.trigger-plan-request.v1", 2).await;

    meetings(&app)
        .cancel(crate::helpers::date("2026-11-18"), now)
        .await
        .unwrap();
    assert!(app.item("2026-11-18", "LCS-CXL-1").await.is_none());
    assert_eq!(app.criteria("2026-11-25", "LCS-CXL-1").await, ["high_risk"]);
    assert_eq!(app.criteria("2026-11-25", "LCS-CXL-2").await, ["high_risk"]);

    // Tuesday 17th: nothing is collated for the cancelled meeting.
    app.clock.set(utc("2026-11-17T12:00:01Z"));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    app.assert_no_more("agenda.missing-review.v1").await;
    // Tuesday 24th: the next meeting's agenda holds both children.
    app.clock.set(utc("2026-11-24T12:00:01Z"));
    let agenda = &app.take_events("agenda.missing-review.v1", 1).await[0]["data"];
    assert_eq!(agenda["meeting_date"], "2026-11-25");
    let children: Vec<&str> = agenda["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["lcs_person_id"].as_str().unwrap())
        .collect();
    assert_eq!(children.len(), 2);
    // The police were asked once, for the meeting first planned.
    app.assert_no_more("police.trigger-plan-request.v1").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_cancelled_in_configuration_takes_no_children() {
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn_with(now, |s| s.meetings.cancelled = vec!["2026-11-18".into()]).await;
    app.publish(&high_risk("CP-CFG", "LCS-CFG", now - Duration::days(1)))
        .await;
    app.wait_handled(1).await;
    assert_eq!(app.criteria("2026-11-25", "LCS-CFG").await, ["high_risk"]);
    let request = &app.take_events("police.trigger-plan-request.v1", 1).await[0];
    assert_eq!(request["data"]["meeting_date"], "2026-11-25");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_meeting_takes_its_children_to_the_new_date_and_collates_the_day_before() {
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn(now).await;
    app.publish(&high_risk("CP-MOV", "LCS-MOV", now - Duration::days(1)))
        .await;
    app.wait_handled(1).await;
    meetings(&app)
        .move_to(
            crate::helpers::date("2026-11-18"),
            crate::helpers::date("2026-11-19"),
            now,
        )
        .await
        .unwrap();
    assert!(app.item("2026-11-18", "LCS-MOV").await.is_none());
    assert_eq!(app.criteria("2026-11-19", "LCS-MOV").await, ["high_risk"]);

    // Collated at 12:00 on Wednesday 18th, the day before the meeting.
    app.clock.set(utc("2026-11-18T12:00:01Z"));
    let agenda = &app.take_events("agenda.missing-review.v1", 1).await[0]["data"];
    assert_eq!(agenda["meeting_date"], "2026-11-19");
    assert_eq!(agenda["meeting_at"], "2026-11-19T10:00:00Z");
    assert_eq!(agenda["items"][0]["criteria"], json!(["high_risk"]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_that_cannot_be_made_are_refused_with_the_reason() {
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn(now).await;
    let m = meetings(&app);
    let d = crate::helpers::date;
    let refused = |r: anyhow::Result<()>| r.unwrap_err().to_string();
    assert!(
        refused(m.cancel(d("2026-11-19"), now).await).starts_with("no meeting sits on 2026-11-19")
    );
    assert_eq!(
        refused(m.cancel(d("2026-11-11"), now).await),
        "the meeting on 2026-11-11 has already sat"
    );
    assert_eq!(
        refused(m.move_to(d("2026-11-18"), d("2026-11-25"), now).await),
        "a meeting already sits on 2026-11-25"
    );
    assert!(refused(m.move_to(d("2026-11-18"), d("2026-11-15"), now).await).contains("has passed"));
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM meeting_changes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 0, "a refused change records nothing");
    app.stop().await;
}

/// Runs the real binary with the app's names; (exit code, stdout, stderr).
pub(crate) async fn vemt_cli(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vemt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(crate::helpers::binary_env(&app.settings))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Issue 11: `vemt agenda` with no date read the configured calendar only
/// and failed after `vemt meeting cancel`; it now reads the calendar the
/// HTTP views read. The binary runs on the real clock, so the dates are
/// worked out from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vemt_agenda_with_no_date_follows_a_cancelled_or_moved_meeting() {
    let app = TestApp::spawn(chrono::Utc::now()).await;
    let configured = app.settings.calendar().unwrap();
    let now = chrono::Utc::now();
    let next = configured.next_open_meeting(now).date;
    let (code, out, err) = vemt_cli(&app, &["meeting", "cancel", &next.to_string()]).await;
    assert_eq!(code, 0, "{out}{err}");

    let after = configured
        .with_changes(vemt::domain::calendar::MeetingChanges {
            cancelled: [next].into(),
            ..Default::default()
        })
        .next_open_meeting(now)
        .date;
    assert_ne!(after, next);
    let (code, out, err) = vemt_cli(&app, &["agenda", "--format", "json"]).await;
    assert_eq!(code, 0, "`vemt agenda` after a cancel: {err}");
    let agenda: serde_json::Value = serde_json::from_str(&out).expect("agenda JSON");
    assert_eq!(agenda["meeting_date"], after.to_string());
    // The HTTP list names the same next meeting.
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/meetings", app.http_base()))
        .bearer_auth(crate::helpers::HTTP_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["date"], after.to_string(), "{listed}");

    // The cancelled date itself says why it has no agenda.
    let (code, _, err) = vemt_cli(&app, &["agenda", "--date", &next.to_string()]).await;
    assert_ne!(code, 0);
    assert!(err.contains("was cancelled"), "{err}");

    // Moved: the agenda with no date is the moved meeting's.
    let moved_to = after + Duration::days(1);
    let (code, out, err) = vemt_cli(
        &app,
        &[
            "meeting",
            "move",
            &after.to_string(),
            "--to",
            &moved_to.to_string(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = vemt_cli(&app, &["agenda", "--format", "json"]).await;
    assert_eq!(code, 0, "`vemt agenda` after a move: {err}");
    let agenda: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(agenda["meeting_date"], moved_to.to_string());
    let (_, _, err) = vemt_cli(&app, &["agenda", "--date", &after.to_string()]).await;
    assert!(err.contains(&format!("was moved to {moved_to}")), "{err}");
    app.stop().await;
}
