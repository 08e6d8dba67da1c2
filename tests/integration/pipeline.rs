//! The core pipeline end to end: episodes in, the Wednesday queue, the
//! trigger-plan request out (R1, R2.1, R4.1, R8.2).

use chrono::Duration;
use serde_json::json;

use crate::helpers::{EpisodeSpec, TestApp, child_record, utc};

const REQUESTS: &str = "police.trigger-plan-request.v1";

/// Monday 16 November 2026, 09:00 London: the next meeting is Wednesday 18th.
const MONDAY: &str = "2026-11-16T09:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_episodes_in_thirty_days_queue_the_child_with_one_trigger_plan_request() {
    // R1.2, R1.3, R2.1, R4.1
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    for (i, days_ago) in [25, 18, 10, 3].into_iter().enumerate() {
        let id = format!("CP-TOP-{i}");
        let episode = EpisodeSpec::returned(
            &id,
            "P-TOP",
            Some("LCS-TOP"),
            now - Duration::days(days_ago),
        );
        app.publish(&episode.event()).await;
    }
    app.wait_handled(4).await;

    assert_eq!(
        app.criteria("2026-11-18", "LCS-TOP").await,
        ["frequent_missing", "top_missing"]
    );
    let item = app.item("2026-11-18", "LCS-TOP").await.unwrap();
    assert_eq!(
        item["top_missing"],
        json!(["CP-TOP-3", "CP-TOP-2", "CP-TOP-1", "CP-TOP-0"])
    );

    let requests = app.take_events(REQUESTS, 1).await;
    let event = &requests[0];
    let data = &event["data"];
    assert_eq!(data["kind"], "copy");
    assert_eq!(data["meeting_date"], "2026-11-18");
    assert_eq!(data["police_person_id"], "P-TOP");
    assert_eq!(data["lcs_person_id"], "LCS-TOP");
    assert_eq!(data["given_name"], "Testchild");
    assert_eq!(data["date_of_birth"], "2011-03-04");
    assert!(data["request_id"].is_string());
    assert_eq!(event["source"], "urn:vemt:integration-service");
    assert!(event["causationid"].is_string());
    assert!(event["correlationid"].is_string());
    // Queued at the third episode (frequent_missing); the fourth adds
    // top_missing to the same item and asks the police nothing new.
    app.assert_no_more(REQUESTS).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_single_episode_criterion_queues_its_child_and_a_child_meeting_none_is_left_alone() {
    // R1.1, R1.5, R1.6, R1.7, R2.1
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    app.publish(&child_record("LCS-VEMT", 1, &["P-VEMT"], "active"))
        .await;

    let high = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(
            "CP-HIGH",
            "P-HIGH",
            Some("LCS-HIGH"),
            now - Duration::days(2),
        )
    };
    let live = EpisodeSpec {
        status: "open",
        returned_at: None,
        ..EpisodeSpec::returned(
            "CP-LIVE",
            "P-LIVE",
            Some("LCS-LIVE"),
            now - Duration::hours(5),
        )
    };
    let long = EpisodeSpec {
        returned_at: Some(now - Duration::days(4) + Duration::hours(73)),
        ..EpisodeSpec::returned(
            "CP-LONG",
            "P-LONG",
            Some("LCS-LONG"),
            now - Duration::days(4),
        )
    };
    let vemt = EpisodeSpec::returned("CP-VEMT", "P-VEMT", None, now - Duration::days(1));
    let none = EpisodeSpec::returned(
        "CP-NONE",
        "P-NONE",
        Some("LCS-NONE"),
        now - Duration::days(1),
    );
    for episode in [&high, &live, &long, &vemt, &none] {
        app.publish(&episode.event()).await;
    }
    app.wait_handled(6).await;

    assert_eq!(app.criteria("2026-11-18", "LCS-HIGH").await, ["high_risk"]);
    assert_eq!(app.criteria("2026-11-18", "LCS-LIVE").await, ["live"]);
    assert_eq!(
        app.criteria("2026-11-18", "LCS-LONG").await,
        ["over_72_hours"]
    );
    assert_eq!(
        app.criteria("2026-11-18", "LCS-VEMT").await,
        ["active_vemt_case"]
    );
    assert!(app.item("2026-11-18", "LCS-NONE").await.is_none());

    let mut asked: Vec<String> = app
        .take_events(REQUESTS, 4)
        .await
        .iter()
        .map(|e| e["data"]["police_person_id"].as_str().unwrap().to_owned())
        .collect();
    asked.sort();
    assert_eq!(asked, ["P-HIGH", "P-LIVE", "P-LONG", "P-VEMT"]);
    app.assert_no_more(REQUESTS).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_arriving_3_1_2_leave_the_state_of_revision_3() {
    // R8.2: the highest revision wins, in any arrival order.
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    let reported = now - Duration::days(2);
    let rev = |revision, status, risk, returned| EpisodeSpec {
        revision,
        status,
        risk_level: risk,
        returned_at: returned,
        ..EpisodeSpec::returned("CP-REV", "P-REV", Some("LCS-REV"), reported)
    };
    let returned_at = reported + Duration::hours(9);
    app.publish(&rev(3, "returned", "low", Some(returned_at)).event())
        .await;
    app.publish(&rev(1, "open", "medium", None).event()).await;
    app.publish(&rev(2, "open", "medium", None).event()).await;
    app.wait_handled(3).await;

    let (revision, status, risk, returned, ever_high): (i32, String, String, Option<chrono::DateTime<chrono::Utc>>, bool) =
        sqlx::query_as(
            "SELECT revision, status, risk_level, returned_at, ever_high FROM episodes WHERE episode_id = 'CP-REV'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        (revision, status.as_str(), risk.as_str()),
        (3, "returned", "low")
    );
    assert_eq!(returned, Some(returned_at));
    assert!(!ever_high);
    // Revision 3 alone meets nothing: no child is queued from stale revisions.
    assert!(app.item("2026-11-18", "LCS-REV").await.is_none());
    app.assert_no_more(REQUESTS).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_revision_graded_high_still_makes_the_episode_high_risk() {
    // R1.1: an episode counts as high risk if any revision was graded high,
    // even one that arrives after a newer revision.
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    let base = EpisodeSpec::returned(
        "CP-REGRADE",
        "P-REGRADE",
        Some("LCS-REGRADE"),
        now - Duration::days(1),
    );
    app.publish(
        &EpisodeSpec {
            revision: 2,
            ..base.clone()
        }
        .event(),
    )
    .await;
    app.wait_handled(1).await;
    assert!(app.item("2026-11-18", "LCS-REGRADE").await.is_none());
    app.publish(
        &EpisodeSpec {
            revision: 1,
            status: "open",
            returned_at: None,
            risk_level: "high",
            ..base
        }
        .event(),
    )
    .await;
    app.wait_handled(2).await;
    assert_eq!(
        app.criteria("2026-11-18", "LCS-REGRADE").await,
        ["high_risk"]
    );
    let status: String =
        sqlx::query_scalar("SELECT status FROM episodes WHERE episode_id = 'CP-REGRADE'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        status, "returned",
        "the older revision's state is not applied"
    );
    app.take_events(REQUESTS, 1).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_delivered_twice_has_one_effect() {
    // R8.2
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    let event = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(
            "CP-TWICE",
            "P-TWICE",
            Some("LCS-TWICE"),
            now - Duration::days(1),
        )
    }
    .event();
    app.publish(&event).await;
    app.publish(&event).await;
    // A third, different event after both proves the second was handled.
    app.publish(
        &EpisodeSpec::returned("CP-AFTER", "P-AFTER", None, now - Duration::days(1)).event(),
    )
    .await;
    app.wait_handled(2).await;
    app.take_events("lcs.alert.v1", 1).await; // P-AFTER is unmatched
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(inbox, 2);
    app.take_events(REQUESTS, 1).await;
    app.assert_no_more(REQUESTS).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_episodes_count_for_nothing() {
    // R1: cancelled (recorded in error) episodes count for nothing.
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    for (i, days_ago) in [20, 12, 5].into_iter().enumerate() {
        let id = format!("CP-CANC-{i}");
        let mut episode = EpisodeSpec::returned(
            &id,
            "P-CANC",
            Some("LCS-CANC"),
            now - Duration::days(days_ago),
        );
        if i == 1 {
            episode.status = "cancelled";
        }
        app.publish(&episode.event()).await;
    }
    app.wait_handled(3).await;
    assert!(app.item("2026-11-18", "LCS-CANC").await.is_none());
    app.assert_no_more(REQUESTS).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_example_file_does_what_the_readme_says() {
    // examples/inbound.jsonl, as `vemt publish` sends it after `scripts/run.sh`.
    let app = TestApp::spawn(utc("2026-11-23T09:00:00Z")).await;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/inbound.jsonl");
    let text = std::fs::read_to_string(file).unwrap();
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        app.publish(&event).await;
    }
    app.wait_handled(5).await;
    let meeting = "2026-11-25";
    assert_eq!(
        app.criteria(meeting, "LCS-900001").await,
        ["active_vemt_case"]
    );
    assert_eq!(app.criteria(meeting, "P-900002").await, ["high_risk"]);
    assert_eq!(
        app.criteria(meeting, "LCS-900003").await,
        ["live", "over_72_hours"]
    );
    assert!(app.item(meeting, "P-900004").await.is_none());
    let mut asked: Vec<String> = app
        .take_events(REQUESTS, 3)
        .await
        .iter()
        .map(|e| e["data"]["police_person_id"].as_str().unwrap().to_owned())
        .collect();
    asked.sort();
    assert_eq!(asked, ["P-900001", "P-900002", "P-900003"]);
    app.take_events("lcs.alert.v1", 2).await; // P-900002 and P-900004 are unmatched
    let dead = app.take(&app.settings.broker.dead_letter_queue, 1).await;
    assert_eq!(
        crate::helpers::header(&dead[0], "x-vemt-error").as_deref(),
        Some("$.data.reported_missing_at: is required")
    );
    app.stop().await;
}
