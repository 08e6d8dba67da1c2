//! Time: the collation boundary, the October clock change, the 72-hour line
//! crossed with no message (R1.6, R2.1), and restarts (R2.3, R8.3).

use chrono::Duration;

use crate::helpers::{EpisodeSpec, TestApp, eventually, utc};

fn high_risk(id: &str, person: &str, reported: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(id, person, Some(person), reported)
    }
    .event()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_episode_after_tuesdays_collation_goes_to_the_following_weeks_meeting() {
    // Tuesday 17 November 2026; collation at 12:00 London (GMT).
    let app = TestApp::spawn(utc("2026-11-17T11:59:00Z")).await;
    app.publish(&high_risk(
        "CP-BEFORE",
        "LCS-BEFORE",
        utc("2026-11-17T08:00:00Z"),
    ))
    .await;
    app.wait_handled(1).await;
    app.clock.set(utc("2026-11-17T12:00:01Z"));
    app.publish(&high_risk(
        "CP-AFTER",
        "LCS-AFTER",
        utc("2026-11-17T09:00:00Z"),
    ))
    .await;
    app.wait_handled(2).await;

    assert_eq!(
        app.criteria("2026-11-18", "LCS-BEFORE").await,
        ["high_risk"]
    );
    assert_eq!(app.criteria("2026-11-25", "LCS-AFTER").await, ["high_risk"]);
    assert!(app.item("2026-11-18", "LCS-AFTER").await.is_none());
    let mut meetings: Vec<String> = app
        .take_events("police.trigger-plan-request.v1", 2)
        .await
        .iter()
        .map(|e| e["data"]["meeting_date"].as_str().unwrap().to_owned())
        .collect();
    meetings.sort();
    assert_eq!(meetings, ["2026-11-18", "2026-11-25"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_across_the_october_clock_change_keeps_london_time() {
    // 12:30 BST on Tuesday 20 October is after collation; the next meeting,
    // Wednesday 28 October, falls after the clocks go back (25 October).
    let app = TestApp::spawn(utc("2026-10-20T11:30:00Z")).await;
    app.publish(&high_risk("CP-OCT", "LCS-OCT", utc("2026-10-19T20:00:00Z")))
        .await;
    app.wait_handled(1).await;
    let (meeting_at, collation_at): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "SELECT meeting_at, collation_at FROM agenda_items WHERE meeting_date = '2026-10-28'",
        )
        .fetch_one(&app.pool)
        .await
        .expect("queued for 28 October");
    assert_eq!(meeting_at, utc("2026-10-28T10:00:00Z"), "10:00 GMT");
    assert_eq!(collation_at, utc("2026-10-27T12:00:00Z"), "12:00 GMT");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_episode_crossing_72_hours_is_noticed_with_no_new_message() {
    // R1.6: the sweep (every second in tests) re-evaluates live episodes.
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn(now).await;
    let live = EpisodeSpec {
        status: "open",
        returned_at: None,
        ..EpisodeSpec::returned(
            "CP-SWEEP",
            "P-SWEEP",
            Some("LCS-SWEEP"),
            now - Duration::hours(70),
        )
    };
    app.publish(&live.event()).await;
    app.wait_handled(1).await;
    assert_eq!(app.criteria("2026-11-18", "LCS-SWEEP").await, ["live"]);

    app.clock.advance(Duration::hours(3));
    eventually("the sweep adds over_72_hours", || async {
        (app.criteria("2026-11-18", "LCS-SWEEP").await == ["live", "over_72_hours"]).then_some(())
    })
    .await;
    app.take_events("police.trigger-plan-request.v1", 1).await;

    // Still missing after the meeting sits: due again at the next one, with
    // a new request for that meeting.
    app.clock.set(utc("2026-11-18T12:00:00Z"));
    eventually("the child is queued for 25 November", || async {
        (app.criteria("2026-11-25", "LCS-SWEEP").await == ["live", "over_72_hours"]).then_some(())
    })
    .await;
    let request = &app.take_events("police.trigger-plan-request.v1", 1).await[0];
    assert_eq!(request["data"]["meeting_date"], "2026-11-25");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_while_the_service_is_down_are_handled_when_it_returns() {
    // R2.3, R8.3: the queue and the agenda survive a restart.
    let now = utc("2026-11-16T09:00:00Z");
    let mut app = TestApp::spawn(now).await;
    app.publish(&high_risk("CP-R1", "LCS-R1", now - Duration::days(1)))
        .await;
    app.wait_handled(1).await;
    app.halt().await;
    app.publish(&high_risk("CP-R2", "LCS-R2", now - Duration::days(1)))
        .await;

    let restarted = TestApp::restart(app).await;
    restarted.wait_handled(2).await;
    assert_eq!(
        restarted.criteria("2026-11-18", "LCS-R1").await,
        ["high_risk"]
    );
    assert_eq!(
        restarted.criteria("2026-11-18", "LCS-R2").await,
        ["high_risk"]
    );
    restarted
        .take_events("police.trigger-plan-request.v1", 2)
        .await;
    restarted
        .assert_no_more("police.trigger-plan-request.v1")
        .await;
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_side_by_side_queue_each_child_once() {
    // R2.3: two copies on one database and one queue produce what one would.
    let now = utc("2026-11-16T09:00:00Z");
    let first = TestApp::spawn(now).await;
    let mut second = first.second_instance().await;
    for i in 0..20 {
        let person = format!("LCS-TWO-{}", i % 5);
        first
            .publish(&high_risk(
                &format!("CP-TWO-{i}"),
                &person,
                now - Duration::hours(30 - i),
            ))
            .await;
    }
    first.wait_handled(20).await;
    let items: i64 =
        sqlx::query_scalar("SELECT count(*) FROM agenda_items WHERE meeting_date = '2026-11-18'")
            .fetch_one(&first.pool)
            .await
            .unwrap();
    assert_eq!(items, 5);
    first.take_events("police.trigger-plan-request.v1", 5).await;
    first.assert_no_more("police.trigger-plan-request.v1").await;
    second.halt().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_connections_dropped_mid_stream_lose_nothing_and_repeat_nothing() {
    // R8.3: the database fails under the consumer and the relay; every event
    // is handled once and every effect published once.
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn(now).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let killer = {
        let server = app.settings.database.url.clone();
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
            for _ in 0..15 {
                let _ = sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&database)
                .execute(&mut admin)
                .await;
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            }
        })
    };
    for i in 0..30 {
        app.publish(&high_risk(
            &format!("CP-FAULT-{i}"),
            &format!("LCS-FAULT-{i}"),
            now - Duration::hours(i + 1),
        ))
        .await;
    }
    killer.await.unwrap();
    app.wait_handled(30).await;
    let requests = app
        .take_distinct_events("police.trigger-plan-request.v1", 30)
        .await;
    let mut people: Vec<&str> = requests
        .iter()
        .map(|e| e["data"]["lcs_person_id"].as_str().unwrap())
        .collect();
    people.sort();
    people.dedup();
    assert_eq!(people.len(), 30, "one request per child");
    // Anything still queued is a repeat of one of those 30 (same id).
    app.wait_outbox_drained().await;
    let ids: std::collections::BTreeSet<&str> =
        requests.iter().map(|e| e["id"].as_str().unwrap()).collect();
    while let Ok(mut more) = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        app.take_events("police.trigger-plan-request.v1", 1),
    )
    .await
    {
        let repeat = more.remove(0);
        assert!(
            ids.contains(repeat["id"].as_str().unwrap()),
            "no effect beyond the 30"
        );
    }
    app.stop().await;
}
