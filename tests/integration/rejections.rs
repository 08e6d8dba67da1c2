//! Bad input is dead-lettered with a reason naming the field and the rule,
//! changes nothing, and never blocks the queue (R8.1, R8.4, R8.5).

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{EpisodeSpec, TestApp, header, utc};

const MONDAY: &str = "2026-11-16T09:00:00Z";

fn good_episode(id: &str) -> Value {
    EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(
            id,
            "P-REJ",
            Some("LCS-REJ"),
            utc(MONDAY) - Duration::days(1),
        )
    }
    .event()
}

/// The good episode with one change made to it.
fn broken(change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event = good_episode("CP-BROKEN");
    change(&mut event);
    serde_json::to_vec(&event).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_rule_is_dead_lettered_with_its_reason_and_the_queue_keeps_flowing() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    // (body, expected start of x-vemt-error)
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"this is not json".to_vec(), "$: body must be valid JSON"),
        (vec![0xff, 0xfe, 0x00], "$: body must be valid UTF-8"),
        (
            deep.into_bytes(),
            "$: JSON must not nest deeper than 32 levels",
        ),
        (
            vec![b' '; 300 * 1024],
            "$: body must be at most 262144 bytes",
        ),
        (
            broken(|e| e["specversion"] = json!("0.3")),
            "$.specversion:",
        ),
        (
            broken(|e| {
                e["data"]
                    .as_object_mut()
                    .unwrap()
                    .remove("reported_missing_at");
            }),
            "$.data.reported_missing_at: is required",
        ),
        (
            broken(|e| e["data"]["risk_level"] = json!("extreme")),
            "$.data.risk_level: must be one of",
        ),
        (
            broken(|e| e["data"]["revision"] = json!("3")),
            "$.data.revision: must be an integer >= 1",
        ),
        (
            broken(|e| e["data"]["person"]["given_name"] = json!(12)),
            "$.data.person.given_name: must be a string",
        ),
        (
            broken(|e| e["data"]["person"]["date_of_birth"] = json!("04/03/2011")),
            "$.data.person.date_of_birth: must be a date YYYY-MM-DD",
        ),
        (
            broken(|e| e["data"]["returned_at"] = Value::Null),
            "$.data.returned_at: is required when status is returned",
        ),
        (
            broken(|e| e["data"]["returned_at"] = json!("2020-01-01T00:00:00Z")),
            "$.data.returned_at: must be at or after reported_missing_at",
        ),
        (
            broken(|e| e["data"]["reported_missing_at"] = json!("2026-11-18T09:00:00Z")),
            "$.data.reported_missing_at: must not be more than 24 hours in the future",
        ),
        (
            broken(|e| e["type"] = json!("police.unknown.v1")),
            "$.type: must be a known event type",
        ),
    ];
    for (body, _) in &cases {
        app.publish_raw(body, "police.missing-episode.v1", Some("guest"))
            .await;
    }
    // Without user_id (R8.5).
    app.publish_raw(
        &serde_json::to_vec(&good_episode("CP-NOUSER")).unwrap(),
        "police.missing-episode.v1",
        None,
    )
    .await;
    // A good message after all the bad ones is still handled.
    app.publish(&good_episode("CP-GOOD")).await;
    app.wait_handled(1).await;

    let dead = app
        .take(&app.settings.broker.dead_letter_queue, cases.len() + 1)
        .await;
    for ((_, expected), delivery) in cases.iter().zip(&dead) {
        let reason = header(delivery, "x-vemt-error").expect("reason header");
        assert!(
            reason.starts_with(expected),
            "reason {reason:?} should start with {expected:?}"
        );
        assert!(
            !reason.contains("Testchild"),
            "a reason never repeats a child's name"
        );
        assert!(
            !reason.contains("04/03/2011"),
            "a reason never repeats a value"
        );
        assert_eq!(
            header(delivery, "x-vemt-original-routing-key").as_deref(),
            Some("police.missing-episode.v1")
        );
    }
    let no_user = header(&dead[cases.len()], "x-vemt-error").unwrap();
    assert!(
        no_user.starts_with("amqp.user_id: is required"),
        "{no_user}"
    );
    // The body is kept whole for replay.
    assert_eq!(dead[0].data, b"this is not json");

    // Nothing was half-applied: only the good episode is stored.
    let episodes: Vec<String> = sqlx::query_scalar("SELECT episode_id FROM episodes")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(episodes, ["CP-GOOD"]);
    app.take_events("police.trigger-plan-request.v1", 1).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_from_a_user_not_configured_for_it_is_dead_lettered() {
    // R8.5: a deployment names the police feed's user.
    let app = TestApp::spawn_with(utc(MONDAY), |s| {
        s.broker.publishers.insert(
            "police.missing-episode.v1".into(),
            vec!["police-feed".into()],
        );
    })
    .await;
    app.publish(&good_episode("CP-WRONG-USER")).await;
    let dead = app.take(&app.settings.broker.dead_letter_queue, 1).await;
    let reason = header(&dead[0], "x-vemt-error").unwrap();
    assert_eq!(
        reason,
        "amqp.user_id: must be a user configured to publish this event type"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM episodes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    app.stop().await;
}
