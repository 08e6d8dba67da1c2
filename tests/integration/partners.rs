//! Partners publish as their own RabbitMQ users (R8.5), as they do in
//! production. A message one of them gets wrong is dead-lettered at once,
//! as the service, and never holds up the next good event (issue 10).

use std::process::Command;
use std::time::{Duration, Instant};

use lapin::{Connection, ConnectionProperties};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{EpisodeSpec, TestApp, eventually, header, utc};
use vemt::broker;
use vemt::intake::Failure;

const MONDAY: &str = "2026-11-16T09:00:00Z";

/// A RabbitMQ user made for one test and deleted after it, pass or fail.
pub(crate) struct PartnerUser {
    pub(crate) name: String,
    password: String,
}

fn rabbitmqctl(args: &[&str]) -> std::process::Output {
    // Non-root shells on Debian lack the sbin directories.
    let path = format!(
        "{}:/usr/local/sbin:/usr/sbin:/sbin",
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("rabbitmqctl")
        .args(args)
        .env("PATH", path)
        .output()
        .expect("rabbitmqctl runs (scripts/services.sh installs RabbitMQ)")
}

impl PartnerUser {
    fn create(role: &str) -> Self {
        let name = format!("t-{role}-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let password = Uuid::new_v4().simple().to_string();
        let added = rabbitmqctl(&["add_user", &name, &password]);
        assert!(
            added.status.success(),
            "rabbitmqctl add_user: {}",
            String::from_utf8_lossy(&added.stderr)
        );
        let user = Self { name, password };
        let allowed = rabbitmqctl(&["set_permissions", "-p", "/", &user.name, ".*", ".*", ".*"]);
        assert!(allowed.status.success(), "rabbitmqctl set_permissions");
        user
    }

    fn url(&self) -> String {
        format!("amqp://{}:{}@127.0.0.1:5672/%2f", self.name, self.password)
    }
}

impl Drop for PartnerUser {
    fn drop(&mut self) {
        let deleted = rabbitmqctl(&["delete_user", &self.name]);
        if !deleted.status.success() {
            eprintln!("test cleanup: RabbitMQ user {} not deleted", self.name);
        }
    }
}

/// A partner's own connection, publishing with its `user_id` as the
/// contract says.
pub(crate) struct Partner {
    pub(crate) user: PartnerUser,
    channel: lapin::Channel,
    _connection: Connection,
}

impl Partner {
    pub(crate) async fn connect(role: &str) -> Self {
        let user = PartnerUser::create(role);
        let connection = Connection::connect(&user.url(), ConnectionProperties::default())
            .await
            .expect("the partner connects as its own user");
        let channel = broker::confirm_channel(&connection).await.unwrap();
        Self {
            user,
            channel,
            _connection: connection,
        }
    }

    pub(crate) async fn publish(&self, app: &TestApp, body: &[u8], routing_key: &str) {
        app.publish_inbound_on(&self.channel, body, routing_key, Some(&self.user.name))
            .await;
    }
}

fn episode(id: &str, police: &str) -> Value {
    EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned(id, police, None, utc(MONDAY) - chrono::Duration::days(1))
    }
    .event()
}

/// Messages ready on a queue, as the broker counts them.
async fn queue_len(app: &TestApp, queue: &str) -> u32 {
    let connection = Connection::connect(&app.settings.broker.url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    broker::close(&connection).await;
    declared.message_count()
}

async fn stored(app: &TestApp, episode_id: &str) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM episodes WHERE episode_id = $1")
        .bind(episode_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_bad_message_from_a_partner_is_dead_lettered_and_the_next_good_one_is_stored()
{
    let police = Partner::connect("police").await;
    let lcs = Partner::connect("lcs").await;
    let (police_user, lcs_user) = (police.user.name.clone(), lcs.user.name.clone());
    let app = TestApp::spawn_with(utc(MONDAY), |s| {
        let p = &mut s.broker.publishers;
        p.insert(
            "police.missing-episode.v1".into(),
            vec![police_user.clone()],
        );
        p.insert("lcs.child.v1".into(), vec![lcs_user.clone()]);
    })
    .await;

    let mut broken_rule = episode("CP-RULE", "P-RULE");
    broken_rule["data"]["risk_level"] = json!("extreme");
    let mut nul_name = episode("CP-NUL", "P-NUL");
    nul_name["data"]["person"]["given_name"] = json!("Te\u{0}st");
    let mut huge_id = episode("CP-HUGE", "P-HUGE");
    huge_id["id"] = json!("i".repeat(200 * 1024));
    let mut newline_id = episode("CP-NEWLINE", "P-NEWLINE");
    newline_id["id"] = json!("id\nINFO forged");
    // (who publishes, body, routing key, kind, reason)
    let cases: Vec<(&Partner, Vec<u8>, &str, &str, String)> = vec![
        (
            &police,
            b"not json at all".to_vec(),
            "police.missing-episode.v1",
            "malformed",
            "$: body must be valid JSON".into(),
        ),
        (
            &police,
            serde_json::to_vec(&broken_rule).unwrap(),
            "police.missing-episode.v1",
            "rejected",
            "$.data.risk_level: must be one of: high, medium, low, no_apparent_risk, absent, very_low".into(),
        ),
        (
            // The LCS user may publish child records, not episodes.
            &lcs,
            serde_json::to_vec(&episode("CP-WRONG-USER", "P-WRONG")).unwrap(),
            "police.missing-episode.v1",
            "rejected",
            "amqp.user_id: must be a user configured to publish this event type".into(),
        ),
        (
            &police,
            serde_json::to_vec(&nul_name).unwrap(),
            "police.missing-episode.v1",
            "rejected",
            "$.data.person.given_name: must not contain the NUL character (U+0000)".into(),
        ),
        (
            &police,
            serde_json::to_vec(&huge_id).unwrap(),
            "police.missing-episode.v1",
            "rejected",
            "$.id: must be at most 256 characters".into(),
        ),
        (
            &police,
            serde_json::to_vec(&newline_id).unwrap(),
            "police.missing-episode.v1",
            "rejected",
            "$.id: must not contain control characters".into(),
        ),
    ];
    for (i, (partner, body, routing_key, kind, reason)) in cases.iter().enumerate() {
        let sent = Instant::now();
        partner.publish(&app, body, routing_key).await;
        let good = format!("CP-GOOD-{i}");
        police
            .publish(
                &app,
                &serde_json::to_vec(&episode(&good, &format!("P-GOOD-{i}"))).unwrap(),
                "police.missing-episode.v1",
            )
            .await;
        eventually(
            &format!("{good} is stored after a {kind} message"),
            || async { stored(&app, &good).await.then_some(()) },
        )
        .await;
        let took = sent.elapsed();
        eprintln!("partner {kind} message ({reason}): next good event stored in {took:?}");
        assert!(took < Duration::from_secs(10), "{good} took {took:?}");

        let dead = app.take(&app.settings.broker.dead_letter_queue, 1).await;
        let dead = &dead[0];
        assert_eq!(
            header(dead, "x-vemt-error").as_deref(),
            Some(reason.as_str())
        );
        assert_eq!(header(dead, "x-vemt-error-kind").as_deref(), Some(*kind));
        assert_eq!(
            header(dead, "x-vemt-original-user-id").as_deref(),
            Some(partner.user.name.as_str()),
            "the partner is named in a header"
        );
        assert_eq!(
            header(dead, "x-vemt-original-routing-key").as_deref(),
            Some(*routing_key)
        );
        let first_seen = header(dead, "x-vemt-first-seen").expect("first-seen time");
        assert!(chrono::DateTime::parse_from_rfc3339(&first_seen).is_ok());
        assert_eq!(
            dead.properties.user_id().as_ref().map(|u| u.as_str()),
            Some("guest"),
            "the copy is published as the service"
        );
        assert_eq!(&dead.data, body, "the body is kept whole for replay");
    }
    // Each bad message went once to vemt.dead-letter; none of them, nor any
    // good one, came back or was stored.
    let bad: i64 =
        sqlx::query_scalar("SELECT count(*) FROM episodes WHERE episode_id NOT LIKE 'CP-GOOD-%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(bad, 0);
    app.take_distinct_events("police.trigger-plan-request.v1", cases.len())
        .await;
    assert_eq!(
        queue_len(&app, &app.settings.broker.dead_letter_queue).await,
        0,
        "each refusal was dead-lettered once"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_dead_letter_exchange_refuses_the_copy_the_queue_keeps_flowing() {
    let police = Partner::connect("police").await;
    let app = TestApp::spawn(utc(MONDAY)).await;
    // With the dead-letter queue unbound every copy is unroutable: the
    // service tries a few times, then rejects the message to the inbound
    // queue's own (at-least-once) dead-lettering.
    let b = &app.settings.broker;
    let admin = Connection::connect(&b.url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = admin.create_channel().await.unwrap();
    channel
        .queue_unbind(
            b.dead_letter_queue.as_str().into(),
            b.dead_letter_exchange.as_str().into(),
            "#".into(),
            Default::default(),
        )
        .await
        .unwrap();
    let sent = Instant::now();
    police
        .publish(&app, b"not json", "police.missing-episode.v1")
        .await;
    police
        .publish(
            &app,
            &serde_json::to_vec(&episode("CP-AFTER", "P-AFTER")).unwrap(),
            "police.missing-episode.v1",
        )
        .await;
    eventually("the good event after it is stored", || async {
        stored(&app, "CP-AFTER").await.then_some(())
    })
    .await;
    eprintln!(
        "dead-letter exchange refusing: next good event stored in {:?}",
        sent.elapsed()
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(
            r#"vemt_events_dead_letter_fallback_total{type="police.missing-episode.v1"} 1"#
        ),
        "{metrics}"
    );
    // The broker holds the rejected message for its dead-letter exchange,
    // not for the consumer: it is never redelivered.
    let redelivered: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(redelivered, 1, "only the good event reached intake");
    channel
        .queue_bind(
            b.dead_letter_queue.as_str().into(),
            b.dead_letter_exchange.as_str().into(),
            "#".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    broker::close(&admin).await;
    app.stop().await;
}

/// The database's own refusals are classified by SQLSTATE, on a real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_errors_are_classified_by_what_to_do_with_the_event() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    let data = sqlx::query("SELECT '\"\\u0000\"'::jsonb")
        .execute(&app.pool)
        .await
        .unwrap_err();
    match Failure::classify(data.into()) {
        Failure::DataRefused { code } => assert_eq!(code, "22P05"),
        other => panic!("a NUL in jsonb is the data's fault, got {other:?}"),
    }
    let too_big = sqlx::raw_sql(
        "CREATE TEMP TABLE t (v text PRIMARY KEY); INSERT INTO t SELECT string_agg(md5(i::text), '') FROM generate_series(1, 8000) i",
    )
    .execute(&app.pool)
    .await
    .unwrap_err();
    assert!(
        matches!(Failure::classify(too_big.into()), Failure::DataRefused { code } if code == "54000")
    );
    let mut conn = app.pool.acquire().await.unwrap();
    let cut = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
        .execute(&mut *conn)
        .await
        .unwrap_err();
    assert!(
        matches!(Failure::classify(cut.into()), Failure::Transient(_)),
        "a terminated backend is retried"
    );
    drop(conn);
    app.stop().await;
}
