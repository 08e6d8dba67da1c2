//! The relay: confirmed, persistent, mandatory; what no queue would take
//! stays pending and is reported (docs/asyncapi.yaml).

use chrono::Duration;
use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use crate::helpers::{EpisodeSpec, TestApp, eventually, utc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_effect_no_queue_would_take_stays_pending_until_one_is_bound() {
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn_with(now, |s| s.broker.declare_outbound_queues = false).await;
    let episode = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(
            "CP-UNROUTED",
            "P-UNROUTED",
            Some("LCS-UNROUTED"),
            now - Duration::days(1),
        )
    };
    app.publish(&episode.event()).await;
    app.wait_handled(1).await;
    let error: String = eventually("the relay reports the unroutable effect", || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT last_error FROM outbox WHERE published_at IS NULL AND attempts > 0",
        )
        .fetch_optional(&app.pool)
        .await
        .ok()
        .flatten()
        .flatten()
    })
    .await;
    assert!(error.contains("no queue is bound"), "{error}");

    // A partner binds its queue: the effect goes out, with the contract's properties.
    let queue = app.outbound_queue("police.trigger-plan-request.v1");
    let connection = lapin::Connection::connect(&app.settings.broker.url, Default::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), args)
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.as_str().into(),
            app.settings.broker.outbound_exchange.as_str().into(),
            "police.trigger-plan-request.v1".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let delivered = app.take(&queue, 1).await;
    let properties = &delivered[0].properties;
    let body: serde_json::Value = serde_json::from_slice(&delivered[0].data).unwrap();
    assert_eq!(
        properties.content_type().as_ref().unwrap().as_str(),
        "application/cloudevents+json"
    );
    assert_eq!(*properties.delivery_mode(), Some(2));
    assert_eq!(
        properties.kind().as_ref().unwrap().as_str(),
        "police.trigger-plan-request.v1"
    );
    assert_eq!(
        properties.message_id().as_ref().unwrap().as_str(),
        body["id"].as_str().unwrap()
    );
    assert_eq!(properties.user_id().as_ref().unwrap().as_str(), "guest");
    assert_eq!(
        delivered[0].routing_key.as_str(),
        "police.trigger-plan-request.v1"
    );
    let _ = channel
        .queue_delete(queue.as_str().into(), Default::default())
        .await;
    let _ = connection.close(200, "done".into()).await;
    app.stop().await;
}
