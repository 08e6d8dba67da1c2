//! `vemt dead-letters`: list and show without personal data, replay through
//! the inbound checks, and nothing lost on the way (issue 10).

use std::time::Duration;

use chrono::Duration as Days;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, BasicRejectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection};
use serde_json::{Value, json};

use vemt::broker;
use vemt::dead_letters::{self, BodyView, DeadLetters, Summary, Target};

use crate::helpers::{EpisodeSpec, TestApp, WAIT, eventually, utc};
use crate::partners::Partner;

const MONDAY: &str = "2026-11-16T09:00:00Z";

fn episode(id: &str) -> Value {
    EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(id, "P-DL", Some("LCS-DL"), utc(MONDAY) - Days::days(1))
    }
    .event()
}

/// Waits until the dead-letter queue holds exactly `n` ready messages (the
/// broker applies a pass's requeue asynchronously).
async fn settled(tool: &DeadLetters, n: u32) {
    eventually(&format!("{n} dead letter(s) ready"), || async {
        (tool.count().await.ok()? == n).then_some(())
    })
    .await;
}

/// Waits until the dead-letter queue holds exactly `n` messages, lists
/// them, and waits until the list has put them back.
async fn dead_letters_once(tool: &DeadLetters, n: u32) -> Vec<Summary> {
    settled(tool, n).await;
    let listed = tool.list().await.expect("list");
    assert_eq!(listed.len(), n as usize, "{listed:?}");
    settled(tool, n).await;
    listed
}

async fn episodes(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT episode_id FROM episodes ORDER BY episode_id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_list_and_show_hide_personal_data_and_a_corrected_replay_is_applied() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    let mut broken = episode("CP-DL-1");
    broken["data"]["risk_level"] = json!("extreme");
    app.publish(&broken).await;

    let tool = DeadLetters::connect(&app.settings.broker).await.unwrap();
    let listed = dead_letters_once(&tool, 1).await;
    let letter = &listed[0];
    assert!(
        letter
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("$.data.risk_level: must be one of")),
        "{letter:?}"
    );
    assert_eq!(
        letter.event_type.as_deref(),
        Some("police.missing-episode.v1")
    );
    assert_eq!(letter.event_id.as_deref(), broken["id"].as_str());
    assert_eq!(letter.publisher.as_deref(), Some("guest"));
    assert_eq!(letter.kind.as_deref(), Some("rejected"));
    assert_eq!(letter.routing_key, "police.missing-episode.v1");
    let id = letter.id.clone().expect("the message has an id");
    let text = dead_letters::render_list(&listed);
    let json = serde_json::to_string(&listed).unwrap();
    for out in [&text, &json] {
        assert!(out.contains(&id), "{out}");
        for personal in ["Testchild", "Family-P-DL", "2011-03-04"] {
            assert!(!out.contains(personal), "list shows {personal}: {out}");
        }
    }
    // Listing put it back: still there, still once.
    settled(&tool, 1).await;

    let dead = tool.find(&id).await.unwrap().expect("show finds it");
    let shown = String::from_utf8(dead_letters::render_show(
        &dead,
        tool.own_user(),
        BodyView::Redacted,
    ))
    .unwrap();
    assert!(shown.contains("\"given_name\": \"[redacted]\""), "{shown}");
    assert!(
        shown.contains("x-vemt-error: \"$.data.risk_level"),
        "{shown}"
    );
    assert!(shown.contains(&format!("message_id: {id}")), "{shown}");
    for personal in ["Testchild", "Family-P-DL", "2011-03-04"] {
        assert!(!shown.contains(personal), "show shows {personal}: {shown}");
    }
    let raw = dead_letters::render_show(&dead, tool.own_user(), BodyView::Raw);
    assert!(String::from_utf8_lossy(&raw).contains("Testchild"));
    settled(&tool, 1).await;
    assert!(tool.find("no-such-id").await.unwrap().is_none());
    settled(&tool, 1).await;

    // Replay a corrected body (as `--from FILE` reads it).
    let mut fixed = broken.clone();
    fixed["data"]["risk_level"] = json!("high");
    let body = serde_json::to_vec(&fixed).unwrap();
    let report = tool
        .replay(&Target::Id(id.clone()), Some(&body))
        .await
        .unwrap();
    assert_eq!(report.replayed.len(), 1, "{report:?}");
    assert_eq!(report.failed, None);
    app.wait_handled(1).await;
    assert_eq!(episodes(&app).await, ["CP-DL-1"]);
    app.take_events("police.trigger-plan-request.v1", 1).await;
    dead_letters_once(&tool, 0).await;
    // Replaying an id no longer there replays nothing.
    let again = tool.replay(&Target::Id(id), None).await.unwrap();
    assert!(again.replayed.is_empty());
    tool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_replay_all_of_an_unfixable_message_returns_it_once_and_loses_nothing() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    let mut broken = episode("CP-DL-2");
    broken["data"]
        .as_object_mut()
        .unwrap()
        .remove("reported_missing_at");
    app.publish(&broken).await;
    app.publish_raw(b"this is not json", "lcs.child.v1", Some("guest"))
        .await;
    let tool = DeadLetters::connect(&app.settings.broker).await.unwrap();
    let before = dead_letters_once(&tool, 2).await;

    let report = tool.replay(&Target::All, None).await.unwrap();
    assert_eq!(report.replayed.len(), 2, "{report:?}");
    assert_eq!(report.failed, None);
    let mut routes: Vec<&str> = report
        .replayed
        .iter()
        .map(|r| r.routing_key.as_str())
        .collect();
    routes.sort();
    assert_eq!(routes, ["lcs.child.v1", "police.missing-episode.v1"]);

    // Refused again by the service: back once each, with the same reasons.
    let after = dead_letters_once(&tool, 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(tool.count().await.unwrap(), 2, "replayed once, not a loop");
    let reasons = |s: &[Summary]| {
        let mut r: Vec<(Option<String>, Option<String>)> =
            s.iter().map(|l| (l.id.clone(), l.reason.clone())).collect();
        r.sort();
        r
    };
    assert_eq!(reasons(&after), reasons(&before));
    let not_json = after
        .iter()
        .find(|l| l.routing_key == "lcs.child.v1")
        .unwrap();
    assert_eq!(
        not_json.event_type, None,
        "a body that is not JSON has no type"
    );
    assert_eq!(not_json.kind.as_deref(), Some("malformed"));
    assert!(episodes(&app).await.is_empty());
    tool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_replay_is_admitted_as_its_original_publisher() {
    // A partner with its own RabbitMQ user, the only one allowed to publish
    // episodes; the tool connects as the service's user (guest).
    let partner = Partner::connect("police").await;
    let police = partner.user.name.clone();
    let app = TestApp::spawn_with(utc(MONDAY), |s| {
        s.broker
            .publishers
            .insert("police.missing-episode.v1".into(), vec![police.clone()]);
    })
    .await;
    let mut broken = episode("CP-DL-3");
    broken["data"]["risk_level"] = json!("extreme");
    partner
        .publish(
            &app,
            &serde_json::to_vec(&broken).unwrap(),
            "police.missing-episode.v1",
        )
        .await;

    let tool = DeadLetters::connect(&app.settings.broker).await.unwrap();
    let listed = dead_letters_once(&tool, 1).await;
    assert_eq!(listed[0].publisher.as_deref(), Some(police.as_str()));
    assert_eq!(listed[0].kind.as_deref(), Some("rejected"));
    assert!(listed[0].time.is_some(), "{listed:?}");
    let id = listed[0].id.clone().unwrap();
    let mut fixed = broken.clone();
    fixed["data"]["risk_level"] = json!("high");
    let report = tool
        .replay(
            &Target::Id(id.clone()),
            Some(&serde_json::to_vec(&fixed).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        report.replayed[0].on_behalf_of.as_deref(),
        Some(police.as_str())
    );
    app.wait_handled(1).await;
    assert_eq!(episodes(&app).await, ["CP-DL-3"]);
    dead_letters_once(&tool, 0).await;

    // The same type published by guest itself is still refused.
    app.publish(&episode("CP-DL-4")).await;
    let refused = dead_letters_once(&tool, 1).await;
    assert_eq!(
        refused[0].reason.as_deref(),
        Some("amqp.user_id: must be a user configured to publish this event type")
    );
    assert_eq!(refused[0].publisher.as_deref(), Some("guest"));
    tool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_list_names_what_the_broker_dead_lettered() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    let b = &app.settings.broker;
    // A quorum queue that gives up at once, dead-lettering to the test's
    // dead-letter exchange as the inbound queue does at its limit.
    let queue = format!("{}.limit", b.inbound_queue);
    let connection = Connection::connect(&b.url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(0));
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(b.dead_letter_exchange.as_str().into()),
    );
    channel
        .queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), args)
        .await
        .unwrap();
    let result = async {
        channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &serde_json::to_vec(&episode("CP-DL-5")).unwrap(),
                BasicProperties::default().with_user_id("guest".into()),
            )
            .await
            .unwrap();
        // Delivered and rejected until the broker gives up on it.
        eventually("the broker dead-letters it", || async {
            if let Some(got) = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .ok()?
            {
                got.delivery
                    .reject(BasicRejectOptions { requeue: true })
                    .await
                    .ok()?;
            }
            let tool = DeadLetters::connect(b).await.ok()?;
            let n = tool.count().await.ok()?;
            tool.close().await;
            (n == 1).then_some(())
        })
        .await;
        let tool = DeadLetters::connect(b).await.unwrap();
        let listed = tool.list().await.unwrap();
        tool.close().await;
        listed
    };
    let listed = tokio::time::timeout(WAIT * 2, result).await;
    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    broker::close(&connection).await;
    let listed = listed.expect("in time");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason.as_deref(), Some("broker: delivery_limit"));
    assert_eq!(listed[0].kind.as_deref(), Some("broker"));
    assert_eq!(listed[0].routing_key, queue);
    assert_eq!(listed[0].publisher.as_deref(), Some("guest"));
    assert!(listed[0].time.is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_list_of_a_long_queue_reads_each_once_and_keeps_them_all() {
    const N: u32 = 1_000;
    let app = TestApp::spawn(utc(MONDAY)).await;
    let b = &app.settings.broker;
    let connection = broker::connect(b).await.unwrap();
    let channel = broker::confirm_channel(&connection).await.unwrap();
    let mut confirms = Vec::new();
    for i in 0..N {
        let mut headers = FieldTable::default();
        headers.insert(
            "x-vemt-error".into(),
            AMQPValue::LongString("$: body must be valid JSON".into()),
        );
        confirms.push(
            channel
                .basic_publish(
                    b.dead_letter_exchange.as_str().into(),
                    "police.missing-episode.v1".into(),
                    BasicPublishOptions::default(),
                    format!("broken {i}").as_bytes(),
                    BasicProperties::default()
                        .with_message_id(format!("many-{i}").as_str().into())
                        .with_headers(headers),
                )
                .await
                .unwrap(),
        );
    }
    for confirm in confirms {
        assert!(confirm.await.unwrap().is_ack());
    }
    let tool = DeadLetters::connect(b).await.unwrap();
    let listed = dead_letters_once(&tool, N).await;
    let ids: std::collections::BTreeSet<_> = listed.iter().filter_map(|s| s.id.clone()).collect();
    assert_eq!(ids.len(), N as usize, "each message listed once");
    assert!(listed.iter().all(|s| s.event_type.is_none()));
    // A second pass sees the same messages: nothing was consumed.
    let again = dead_letters_once(&tool, N).await;
    assert_eq!(again.len(), N as usize);
    tool.close().await;
    broker::close(&connection).await;
    app.stop().await;
}
