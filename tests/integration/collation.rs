//! Tuesday collation (R3.1, R3.2): the agenda frozen and published once,
//! with every item field, even with two instances; caught up after downtime.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{EpisodeSpec, TestApp, child_record, cloud_event, utc};

const AGENDAS: &str = "agenda.missing-review.v1";

fn interview(rhi_id: &str, episode_id: &str, offered_at: &str) -> Value {
    let mut event = cloud_event(
        "lcs.return-home-interview.v1",
        "urn:test:lcs",
        json!({
            "rhi_id": rhi_id,
            "episode_id": episode_id,
            "lcs_person_id": "LCS-AG1",
            "status": "offered",
            "offered_at": offered_at,
            "summary": "free text that is never stored",
        }),
    );
    event["time"] = json!(offered_at);
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collation_publishes_one_agenda_with_every_item_field_even_from_two_instances() {
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn(now).await;
    let mut second = app.second_instance().await;

    let mut record = child_record("LCS-AG1", 1, &["P-AG1"], "active");
    record["data"]["ehm_id"] = json!("EHM-1");
    app.publish(&record).await;
    // A high-risk episode 10 days ago, back after 30 hours, offered an RHI in time.
    let high = EpisodeSpec {
        risk_level: "high",
        returned_at: Some(utc("2026-11-06T09:00:00Z") + Duration::hours(30)),
        ..EpisodeSpec::returned(
            "CP-AG1-A",
            "P-AG1",
            Some("LCS-AG1"),
            utc("2026-11-06T09:00:00Z"),
        )
    };
    // A low-risk episode 5 days ago, back after 4 hours; no RHI offered.
    let low = EpisodeSpec {
        returned_at: Some(utc("2026-11-11T13:00:00Z")),
        ..EpisodeSpec::returned(
            "CP-AG1-B",
            "P-AG1",
            Some("LCS-AG1"),
            utc("2026-11-11T09:00:00Z"),
        )
    };
    app.publish(&high.event()).await;
    app.publish(&low.event()).await;
    app.publish(&interview("RHI-1", "CP-AG1-A", "2026-11-08T10:00:00Z"))
        .await;
    // An unmatched police person still missing.
    let live = EpisodeSpec {
        status: "open",
        returned_at: None,
        ..EpisodeSpec::returned("CP-AG2", "P-AG2", None, utc("2026-11-15T21:00:00Z"))
    };
    app.publish(&live.event()).await;
    app.wait_handled(5).await;
    app.take_events("police.trigger-plan-request.v1", 2).await;
    app.assert_no_more(AGENDAS).await;

    // Tuesday 17 November, just after 12:00 London: both instances' timers run.
    app.clock.set(utc("2026-11-17T12:00:01Z"));
    let agenda = &app.take_events(AGENDAS, 1).await[0]["data"];
    assert_eq!(agenda["meeting_date"], "2026-11-18");
    assert_eq!(agenda["meeting_at"], "2026-11-18T10:00:00Z");
    assert_eq!(agenda["collation_at"], "2026-11-17T12:00:00Z");
    assert!(agenda["collated_at"].is_string());
    let items = agenda["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);

    // Ordered by family name: "Family-P-AG2" before "Record-LCS-AG1".
    let unmatched = &items[0];
    assert_eq!(unmatched["lcs_person_id"], Value::Null);
    assert_eq!(unmatched["police_person_ids"], json!(["P-AG2"]));
    assert_eq!(unmatched["given_name"], "Testchild");
    assert_eq!(unmatched["family_name"], "Family-P-AG2");
    assert_eq!(unmatched["vemt_status"], Value::Null);
    assert_eq!(unmatched["early_help"], false);
    assert_eq!(unmatched["criteria"], json!(["live"]));
    let live_episode = &unmatched["episodes"][0];
    assert_eq!(live_episode["status"], "open");
    assert_eq!(live_episode["returned_at"], Value::Null);
    assert_eq!(
        live_episode["duration_hours"], 39.0,
        "missing 39 hours at collation"
    );

    let child = &items[1];
    assert_eq!(child["lcs_person_id"], "LCS-AG1");
    assert_eq!(child["police_person_ids"], json!(["P-AG1"]));
    assert_eq!(child["given_name"], "Recordchild");
    assert_eq!(child["family_name"], "Record-LCS-AG1");
    assert_eq!(child["date_of_birth"], "2010-05-06");
    assert_eq!(child["vemt_status"], "active");
    assert_eq!(child["early_help"], true);
    assert_eq!(child["criteria"], json!(["high_risk", "active_vemt_case"]));
    assert_eq!(child["evidence"]["high_risk"], json!(["CP-AG1-A"]));
    assert_eq!(
        child["evidence"]["active_vemt_case"],
        json!(["CP-AG1-B", "CP-AG1-A"])
    );
    assert_eq!(child["last_reviewed"], Value::Null);
    assert_eq!(child["trigger_plan"], Value::Null);
    let episodes = child["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 2);
    assert_eq!(episodes[0]["episode_id"], "CP-AG1-B", "newest first");
    assert_eq!(episodes[0]["reported_missing_at"], "2026-11-11T09:00:00Z");
    assert_eq!(episodes[0]["returned_at"], "2026-11-11T13:00:00Z");
    assert_eq!(episodes[0]["duration_hours"], 4.0);
    assert_eq!(episodes[0]["risk_level"], "low");
    assert_eq!(episodes[0]["status"], "returned");
    assert_eq!(episodes[0]["rhi_not_offered_within_72_hours"], true);
    assert_eq!(episodes[1]["episode_id"], "CP-AG1-A");
    assert_eq!(episodes[1]["duration_hours"], 30.0);
    assert_eq!(episodes[1]["risk_level"], "high");
    assert_eq!(episodes[1]["rhi_not_offered_within_72_hours"], false);
    assert_eq!(
        child["return_home_interviews"],
        json!([{
            "rhi_id": "RHI-1", "episode_id": "CP-AG1-A", "status": "offered",
            "offered_at": "2026-11-08T10:00:00Z", "completed_at": null
        }])
    );
    assert!(
        !agenda.to_string().contains("free text"),
        "RHI free text is not kept (R7.2)"
    );

    // Several more ticks of both instances: still one agenda.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    app.assert_no_more(AGENDAS).await;
    let collated: i64 = sqlx::query_scalar("SELECT count(*) FROM collations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(collated, 1);
    second.halt().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_down_at_collation_time_collates_when_it_is_back() {
    // R3.1: stopped on Monday, started again on Wednesday morning.
    let now = utc("2026-11-16T09:00:00Z");
    let mut app = TestApp::spawn(now).await;
    let high = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(
            "CP-DOWN",
            "P-DOWN",
            Some("LCS-DOWN"),
            now - Duration::days(1),
        )
    };
    app.publish(&high.event()).await;
    app.wait_handled(1).await;
    app.halt().await;
    app.clock.set(utc("2026-11-18T08:00:00Z"));

    let app = TestApp::restart(app).await;
    let event = &app.take_events(AGENDAS, 1).await[0];
    let agenda = &event["data"];
    assert_eq!(agenda["meeting_date"], "2026-11-18");
    assert_eq!(
        agenda["collated_at"], "2026-11-18T08:00:00Z",
        "collated when back"
    );
    assert_eq!(agenda["items"][0]["lcs_person_id"], "LCS-DOWN");
    assert_eq!(agenda["items"][0]["criteria"], json!(["high_risk"]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_episode_after_collation_leaves_the_frozen_agenda_as_published() {
    let now = utc("2026-11-17T11:00:00Z");
    let app = TestApp::spawn(now).await;
    let first = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(
            "CP-FRZ-1",
            "P-FRZ-1",
            Some("LCS-FRZ-1"),
            now - Duration::days(1),
        )
    };
    app.publish(&first.event()).await;
    app.wait_handled(1).await;
    app.clock.set(utc("2026-11-17T12:00:01Z"));
    let published = app.take_events(AGENDAS, 1).await.remove(0);
    assert_eq!(published["data"]["items"].as_array().unwrap().len(), 1);

    let second = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(
            "CP-FRZ-2",
            "P-FRZ-2",
            Some("LCS-FRZ-2"),
            now - Duration::hours(2),
        )
    };
    app.publish(&second.event()).await;
    app.wait_handled(2).await;
    assert_eq!(app.criteria("2026-11-25", "LCS-FRZ-2").await, ["high_risk"]);
    let frozen: Value =
        sqlx::query_scalar("SELECT agenda FROM collations WHERE meeting_date = '2026-11-18'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        frozen, published["data"],
        "the frozen agenda is what was published"
    );
    app.stop().await;
}
