//! SIGTERM on the real binary (issue 10): it stops consuming, finishes what
//! it holds, closes its channels in order and exits 0, with no WARN or
//! ERROR line (an alert on those must not fire on every deploy).

use std::process::Stdio;
use std::time::Duration;

use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{EpisodeSpec, IsolatedNames, eventually, utc};
use vemt::broker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_hand_and_exits_0_without_a_warning() {
    let names = IsolatedNames::new();
    let mut service = tokio::process::Command::new(env!("CARGO_BIN_EXE_vemt"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(names.env())
        .env("VEMT__TELEMETRY__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(service.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let consuming = line.contains("\"consuming\"");
            log.push(line);
            if consuming {
                return;
            }
        }
        panic!("the service ended before consuming: {log:#?}");
    })
    .await
    .expect("the service consumes within 60 s");

    // A burst, so that deliveries are in hand when the signal comes.
    let b = &names.settings.broker;
    let connection = Connection::connect(&b.url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = broker::confirm_channel(&connection).await.unwrap();
    for i in 0..200 {
        let id = format!("CP-SD-{i}");
        let police = format!("P-SD-{i}");
        let event = EpisodeSpec::returned(&id, &police, None, utc("2026-11-15T09:00:00Z")).event();
        broker::publish_confirmed(
            &channel,
            &b.inbound_exchange,
            "police.missing-episode.v1",
            &serde_json::to_vec(&event).unwrap(),
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_user_id("guest".into()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    }
    let pool = sqlx::PgPool::connect(&names.settings.database.url)
        .await
        .unwrap();
    eventually("some of the burst is applied", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
            .fetch_one(&pool)
            .await
            .ok()?;
        (n > 0).then_some(())
    })
    .await;

    let pid = service.id().expect("running").to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.push(line);
        }
        service.wait().await.unwrap()
    })
    .await
    .expect("the service exits within 30 s of SIGTERM");
    assert!(status.success(), "exit status {status}: {log:#?}");
    let stopping = log
        .iter()
        .position(|l| l.contains("stopping"))
        .expect("a stopping line");
    let loud: Vec<&String> = log[stopping..]
        .iter()
        .filter(|l| l.contains(r#""level":"WARN""#) || l.contains(r#""level":"ERROR""#))
        .collect();
    assert!(loud.is_empty(), "WARN or ERROR after SIGTERM: {loud:#?}");
    assert!(
        log.last().unwrap().contains("\"stopped\""),
        "the last line says it stopped: {log:#?}"
    );

    // Whatever was in hand but not acknowledged is still queued: with the
    // inbox, nothing is lost and nothing applied twice.
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    let waiting = channel
        .queue_declare(
            b.inbound_queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap()
        .message_count();
    assert_eq!(
        applied + i64::from(waiting),
        200,
        "every event is applied or still queued"
    );
    pool.close().await;
    broker::close(&connection).await;
}
