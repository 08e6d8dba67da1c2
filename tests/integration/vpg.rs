//! The weekly and monthly VPG agendas (R3.4, R6.4): published once at their
//! publication instants, with the right children in the right places.

use serde_json::{Value, json};

use crate::helpers::{EpisodeSpec, TestApp, child_record, cloud_event, utc};

const WEEKLY: &str = "agenda.vpg-weekly.v1";
const MONTHLY: &str = "agenda.vpg-monthly.v1";

fn record(
    lcs: &str,
    police: &[&str],
    status: &str,
    category: &str,
    gender: &str,
    dob: &str,
) -> Value {
    let mut event = child_record(lcs, 1, police, status);
    event["data"]["vemt"]["category"] = json!(category);
    event["data"]["gender"] = json!(gender);
    event["data"]["date_of_birth"] = json!(dob);
    event
}

fn ids(children: &Value) -> Vec<&str> {
    children
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["lcs_person_id"].as_str().expect("an LCS id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weekly_and_monthly_agendas_are_published_once_with_the_right_children() {
    // Monday 23 November 2026. The weekly meeting sits on Thursday 26
    // November (published Wednesday 25 at 12:00); the monthly on Thursday
    // 3 December (first Thursday, published a week before: 26 November 12:00).
    let app = TestApp::spawn(utc("2026-11-23T09:00:00Z")).await;
    // A second instance on the same database: still one agenda each.
    let mut second = app.second_instance().await;

    app.publish(&record(
        "LCS-VM1",
        &["P-VM1"],
        "active",
        "missing",
        "male",
        "2011-02-01",
    ))
    .await;
    app.publish(&record(
        "LCS-VR1",
        &[],
        "referred",
        "cse",
        "female",
        "2012-01-01",
    ))
    .await;
    app.publish(&record(
        "LCS-VD1",
        &[],
        "deferred",
        "cce",
        "male",
        "2012-01-01",
    ))
    .await;
    // 16 on 6 May 2026: may fit STAGE at the December meeting.
    app.publish(&record(
        "LCS-VC1",
        &[],
        "active",
        "cse",
        "female",
        "2010-05-06",
    ))
    .await;
    // 18 on 15 January 2027, within 90 days of 3 December.
    app.publish(&record(
        "LCS-VT1",
        &[],
        "active",
        "cce",
        "male",
        "2009-01-15",
    ))
    .await;
    let episode = EpisodeSpec::returned(
        "CP-VM1",
        "P-VM1",
        Some("LCS-VM1"),
        utc("2026-11-20T09:00:00Z"),
    );
    app.publish(&episode.event()).await;
    let mut interview = cloud_event(
        "lcs.return-home-interview.v1",
        "urn:test:lcs",
        json!({
            "rhi_id": "RHI-VM1",
            "episode_id": "CP-VM1",
            "lcs_person_id": "LCS-VM1",
            "status": "offered",
            "offered_at": "2026-11-21T10:00:00Z",
            "summary": "free text that is never stored",
        }),
    );
    interview["time"] = json!("2026-11-21T10:00:00Z");
    app.publish(&interview).await;
    app.wait_handled(7).await;
    app.assert_no_more(WEEKLY).await;
    app.assert_no_more(MONTHLY).await;

    // Past the weekly publication instant.
    app.clock.set(utc("2026-11-25T12:00:01Z"));
    let weekly = &app.take_events(WEEKLY, 1).await[0]["data"];
    assert_eq!(weekly["meeting_date"], "2026-11-26");
    assert_eq!(weekly["meeting_at"], "2026-11-26T13:00:00Z");
    assert!(weekly["collated_at"].is_string());
    let sections = &weekly["sections"];
    assert_eq!(sections["m1_outcomes"], json!([]));
    assert_eq!(sections["referred_by_m1"], json!([]));
    assert_eq!(ids(&sections["missing_category"]), ["LCS-VM1"]);
    assert_eq!(ids(&sections["new_referrals"]), ["LCS-VR1"]);
    assert_eq!(ids(&sections["deferred"]), ["LCS-VD1"]);
    let missing = &sections["missing_category"][0];
    assert_eq!(missing["police_person_ids"], json!(["P-VM1"]));
    assert_eq!(missing["family_name"], "Record-LCS-VM1");
    assert_eq!(
        missing["vemt"],
        json!({"status": "active", "category": "missing", "risk_level": "medium"})
    );
    let episodes = missing["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 1);
    assert_eq!(episodes[0]["episode_id"], "CP-VM1");
    assert_eq!(episodes[0]["returned_at"], "2026-11-20T10:00:00Z");
    assert_eq!(episodes[0]["rhi_not_offered_within_72_hours"], false);
    assert_eq!(missing["return_home_interviews"][0]["rhi_id"], "RHI-VM1");
    assert_eq!(sections["new_referrals"][0]["vemt"]["status"], "referred");
    app.assert_no_more(MONTHLY).await;

    // Past the monthly publication instant.
    app.clock.set(utc("2026-11-26T12:00:01Z"));
    let monthly = &app.take_events(MONTHLY, 1).await[0]["data"];
    assert_eq!(monthly["meeting_date"], "2026-12-03");
    assert_eq!(monthly["meeting_at"], "2026-12-03T10:00:00Z");
    assert_eq!(monthly["turning_18_horizon_days"], 90);
    let items = &monthly["items"];
    assert_eq!(ids(items), ["LCS-VC1", "LCS-VM1", "LCS-VT1"]);
    let stage = &items[0];
    assert_eq!(
        stage["vemt"],
        json!({"category": "cse", "risk_level": "medium"})
    );
    assert_eq!(stage["may_fit_stage"], true);
    assert_eq!(stage["stage_unmet"], json!([]));
    assert_eq!(stage["turns_18_on"], Value::Null);
    assert_eq!(stage["flags"], json!(["stage"]));
    assert_eq!(stage["outstanding_actions"], json!([]));
    let missing = &items[1];
    assert_eq!(missing["may_fit_stage"], false);
    assert_eq!(
        missing["stage_unmet"],
        json!(["not_female", "under_16", "not_cse"])
    );
    assert_eq!(missing["turns_18_on"], Value::Null);
    assert_eq!(missing["flags"], json!([]));
    let turning = &items[2];
    assert_eq!(turning["turns_18_on"], "2027-01-15");
    assert_eq!(turning["flags"], json!(["turning_18"]));
    assert_eq!(turning["may_fit_stage"], false);

    // Further ticks publish nothing more.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    app.assert_no_more(WEEKLY).await;
    app.assert_no_more(MONTHLY).await;
    second.halt().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_down_at_publication_time_publishes_on_start() {
    let mut app = TestApp::spawn(utc("2026-11-23T09:00:00Z")).await;
    app.publish(&record(
        "LCS-VU1",
        &[],
        "deferred",
        "cce",
        "male",
        "2012-01-01",
    ))
    .await;
    app.wait_handled(1).await;
    app.halt().await;
    // Back on Wednesday afternoon, after the weekly publication instant.
    app.clock.set(utc("2026-11-25T15:00:00Z"));
    let app = TestApp::restart(app).await;
    let weekly = &app.take_events(WEEKLY, 1).await[0]["data"];
    assert_eq!(weekly["meeting_date"], "2026-11-26");
    assert_eq!(weekly["collated_at"], "2026-11-25T15:00:00Z");
    assert_eq!(ids(&weekly["sections"]["deferred"]), ["LCS-VU1"]);
    app.assert_no_more(WEEKLY).await;
    app.assert_no_more(MONTHLY).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_deployment_does_not_publish_for_meetings_it_never_saw() {
    // First message on Thursday 26 November after both publications.
    let app = TestApp::spawn(utc("2026-11-26T13:00:00Z")).await;
    app.publish(&record(
        "LCS-VN1",
        &[],
        "referred",
        "cse",
        "female",
        "2012-01-01",
    ))
    .await;
    app.wait_handled(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.assert_no_more(WEEKLY).await;
    app.assert_no_more(MONTHLY).await;
    app.stop().await;
}
