//! `GET /metrics` (issue 5): exact counts of one app's own work, read over
//! HTTP, with bounded labels and no personal data (R8.1, R8.2, R8.4).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::helpers::{EpisodeSpec, TestApp, child_record, eventually, header, utc};

/// Monday 16 November 2026; the next meeting is Wednesday 18th.
const MONDAY: &str = "2026-11-16T09:00:00Z";
const EPISODE: &str = "police.missing-episode.v1";

/// Every sample of the exposition, `name{labels}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let value = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            (series.to_owned(), value)
        })
        .collect()
}

/// The samples of one metric (name exactly, any labels) that are not 0:
/// every series whose labels are known in advance is exported from the
/// start at 0, so these are the ones that counted something.
fn of(samples: &BTreeMap<String, f64>, name: &str) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter(|(_, value)| **value != 0.0)
        .filter(|(series, _)| series.as_str() == name || series.starts_with(&format!("{name}{{")))
        .map(|(s, v)| (s.clone(), *v))
        .collect()
}

fn expect(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(s, v)| ((*s).to_owned(), *v)).collect()
}

async fn scrape(app: &TestApp) -> String {
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client builds")
        .get(format!("{}/metrics", app.http_base()))
        .send()
        .await
        .expect("the service answers");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "/metrics needs no bearer token"
    );
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("a text body");
    assert!(text.ends_with("# EOF\n"), "a complete exposition");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_what_this_app_consumed_applied_ignored_dead_lettered_and_published()
{
    let app = TestApp::spawn(utc(MONDAY)).await;
    let before = samples(&scrape(&app).await);
    assert!(
        of(&before, "vemt_events_consumed_total").is_empty(),
        "a new app has counted nothing"
    );
    for series in [
        r#"vemt_events_consumed_total{type="police.missing-episode.v1"}"#,
        r#"vemt_events_failed_total{type="lcs.child.v1"}"#,
        r#"vemt_effects_published_total{type="police.trigger-plan-request.v1"}"#,
        "vemt_collation_overdue_seconds",
    ] {
        assert_eq!(
            before.get(series),
            Some(&0.0),
            "{series} exported at 0 from the start"
        );
    }
    assert!(
        before
            .keys()
            .any(|s| s.starts_with("vemt_build_info{version=")),
        "build info"
    );

    // An active VEMT case (listed on the weekly VPG agenda), then a
    // high-risk episode of theirs (queued for Wednesday, a trigger-plan
    // request), that same event again, and an older revision of it.
    app.publish(&child_record("LCS-MET", 1, &["P-MET"], "active"))
        .await;
    let episode = EpisodeSpec {
        revision: 2,
        risk_level: "high",
        ..EpisodeSpec::returned(
            "CP-MET",
            "P-MET",
            Some("LCS-MET"),
            utc(MONDAY) - chrono::Duration::days(1),
        )
    }
    .event();
    app.publish(&episode).await;
    app.publish(&episode).await;
    let older = EpisodeSpec {
        revision: 1,
        ..EpisodeSpec::returned(
            "CP-MET",
            "P-MET",
            Some("LCS-MET"),
            utc(MONDAY) - chrono::Duration::days(1),
        )
    };
    app.publish(&older.event()).await;
    // Two malformed messages, refused for different reasons: one not JSON
    // at all, one whose second professional has no role.
    app.publish_raw(b"{not json", EPISODE, Some("guest")).await;
    let mut no_role = child_record("LCS-MET2", 1, &["P-MET2"], "active");
    no_role["data"]["professionals"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "worker_id": "W-2", "name": "Second Worker" }));
    app.publish(&no_role).await;

    let dead = app.take(&app.settings.broker.dead_letter_queue, 2).await;
    assert_eq!(
        header(&dead[1], "x-vemt-error").as_deref(),
        Some("$.data.professionals[1].role: is required"),
        "the header keeps the index; the metric label drops it"
    );
    app.take_events("police.trigger-plan-request.v1", 1).await;
    // The last delivery is timed after its ack: once all six are, every
    // counter of the consumer is final.
    eventually("six deliveries timed", || async {
        let s = samples(&scrape(&app).await);
        let timed: f64 = of(&s, "vemt_event_processing_duration_seconds_count")
            .values()
            .sum();
        (timed == 6.0).then_some(())
    })
    .await;

    // Tuesday 12:00 London: Wednesday's agenda is collated (one child);
    // Wednesday 12:00: Thursday's weekly VPG agenda is published (one child).
    app.clock.set(utc("2026-11-17T12:00:01Z"));
    let agenda = app.take_events("agenda.missing-review.v1", 1).await;
    assert_eq!(agenda[0]["data"]["items"].as_array().unwrap().len(), 1);
    app.clock.set(utc("2026-11-18T12:00:01Z"));
    app.take_events("agenda.vpg-weekly.v1", 1).await;
    app.wait_outbox_drained().await;

    let text = scrape(&app).await;
    let s = samples(&text);
    assert_eq!(
        of(&s, "vemt_events_consumed_total"),
        expect(&[
            (r#"vemt_events_consumed_total{type="lcs.child.v1"}"#, 2.0),
            (
                r#"vemt_events_consumed_total{type="police.missing-episode.v1"}"#,
                4.0
            ),
        ])
    );
    assert_eq!(
        of(&s, "vemt_events_applied_total"),
        expect(&[
            (r#"vemt_events_applied_total{type="lcs.child.v1"}"#, 1.0),
            (
                r#"vemt_events_applied_total{type="police.missing-episode.v1"}"#,
                1.0
            ),
        ])
    );
    assert_eq!(
        of(&s, "vemt_events_ignored_total"),
        expect(&[
            (
                r#"vemt_events_ignored_total{type="police.missing-episode.v1",reason="duplicate"}"#,
                1.0
            ),
            (
                r#"vemt_events_ignored_total{type="police.missing-episode.v1",reason="old_revision"}"#,
                1.0
            ),
        ])
    );
    assert_eq!(
        of(&s, "vemt_events_dead_lettered_total"),
        expect(&[
            (
                r#"vemt_events_dead_lettered_total{type="lcs.child.v1",reason="$.data.professionals[].role: is required"}"#,
                1.0
            ),
            (
                r#"vemt_events_dead_lettered_total{type="police.missing-episode.v1",reason="$: body must be valid JSON"}"#,
                1.0
            ),
        ])
    );
    assert!(of(&s, "vemt_events_failed_total").is_empty());
    assert!(of(&s, "vemt_events_dead_letter_fallback_total").is_empty());
    assert_eq!(
        of(&s, "vemt_event_processing_duration_seconds_count"),
        expect(&[
            (
                r#"vemt_event_processing_duration_seconds_count{type="lcs.child.v1"}"#,
                2.0
            ),
            (
                r#"vemt_event_processing_duration_seconds_count{type="police.missing-episode.v1"}"#,
                4.0
            ),
        ])
    );
    let took = s[r#"vemt_event_processing_duration_seconds_sum{type="police.missing-episode.v1"}"#];
    assert!(took > 0.0 && took < 20.0, "{took} s for four deliveries");
    assert_eq!(
        s[r#"vemt_event_processing_duration_seconds_bucket{le="+Inf",type="police.missing-episode.v1"}"#],
        4.0
    );
    assert_eq!(
        of(&s, "vemt_effects_published_total"),
        expect(&[
            (
                r#"vemt_effects_published_total{type="agenda.missing-review.v1"}"#,
                1.0
            ),
            (
                r#"vemt_effects_published_total{type="agenda.vpg-weekly.v1"}"#,
                1.0
            ),
            (
                r#"vemt_effects_published_total{type="police.trigger-plan-request.v1"}"#,
                1.0
            ),
        ])
    );
    assert_eq!(
        of(&s, "vemt_agenda_items"),
        expect(&[
            (r#"vemt_agenda_items{agenda="missing_review"}"#, 1.0),
            (r#"vemt_agenda_items{agenda="vpg_weekly"}"#, 1.0),
        ]),
        "no monthly agenda was published"
    );
    for (series, value) in [
        ("vemt_outbox_pending", 0.0),
        ("vemt_outbox_oldest_pending_age_seconds", 0.0),
        ("vemt_outbox_failed", 0.0),
        ("vemt_notify_emails_sent_total", 0.0),
        ("vemt_notify_emails_failed_total", 0.0),
        ("vemt_broker_connected", 1.0),
        ("vemt_database_up", 1.0),
    ] {
        assert_eq!(s.get(series), Some(&value), "{series}");
    }
    for personal in [
        "Testchild",
        "Family-P-MET",
        "Recordchild",
        "2011-03-04",
        "Second Worker",
    ] {
        assert!(!text.contains(personal), "/metrics shows no {personal}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_effects_and_their_age_are_read_from_the_database_at_scrape() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    // Rows the relay will not take for an hour: pending, one of them old.
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, body, created_at, next_attempt_at)
         VALUES (gen_random_uuid(), 'lcs.alert.v1', '{}', now() - interval '90 seconds', now() + interval '1 hour'),
                (gen_random_uuid(), 'lcs.alert.v1', '{}', now(), now() + interval '1 hour')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, body, failed_at)
         VALUES (gen_random_uuid(), 'email.v1', '{}', now())",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let s = samples(&scrape(&app).await);
    assert_eq!(s["vemt_outbox_pending"], 2.0);
    assert_eq!(s["vemt_outbox_failed"], 1.0);
    let age = s["vemt_outbox_oldest_pending_age_seconds"];
    assert!((90.0..120.0).contains(&age), "oldest pending {age} s");
    app.stop().await;
}
