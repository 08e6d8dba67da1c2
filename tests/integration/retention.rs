//! R8.6: records past `retention.days` are deleted by the service's own
//! timer; what is still in use (an open episode, an active VEMT case) stays.

use chrono::{DurationRound, TimeDelta, Utc};

use crate::helpers::{EpisodeSpec, TestApp, child_record, eventually};

async fn count(app: &TestApp, sql: &'static str, id: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("count query")
}

async fn children(app: &TestApp, lcs: &str) -> i64 {
    count(
        app,
        "SELECT count(*) FROM children WHERE lcs_person_id = $1",
        lcs,
    )
    .await
}

async fn episodes(app: &TestApp, episode: &str) -> i64 {
    count(
        app,
        "SELECT count(*) FROM episodes WHERE episode_id = $1",
        episode,
    )
    .await
}

async fn police_persons(app: &TestApp, police: &str) -> i64 {
    count(
        app,
        "SELECT count(*) FROM police_persons WHERE police_person_id = $1",
        police,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_retention_are_deleted_and_what_is_in_use_is_kept() {
    // The outbox stamps publication with the database's clock, so the
    // service's clock starts at the real time.
    let t0 = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    let app = TestApp::spawn_with(t0, |s| s.retention.days = 100).await;
    let reported = t0 - TimeDelta::days(2);
    // A child with no VEMT case and one finished episode: all of it goes.
    app.publish(&child_record("LCS-RT1", 1, &["P-RT1"], "none"))
        .await;
    app.publish(&EpisodeSpec::returned("E-RT1", "P-RT1", Some("LCS-RT1"), reported).event())
        .await;
    // An active VEMT case: the child stays, the finished episode goes.
    app.publish(&child_record("LCS-RT2", 1, &["P-RT2"], "active"))
        .await;
    app.publish(&EpisodeSpec::returned("E-RT2", "P-RT2", Some("LCS-RT2"), reported).event())
        .await;
    // A child still missing: the open episode and the child stay.
    app.publish(&child_record("LCS-RT3", 1, &["P-RT3"], "none"))
        .await;
    let mut open = EpisodeSpec::returned("E-RT3", "P-RT3", Some("LCS-RT3"), reported);
    open.status = "open";
    open.returned_at = None;
    app.publish(&open.event()).await;
    app.wait_handled(6).await;
    app.wait_outbox_drained().await;
    let published_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(published_before > 0, "the episodes caused effects");
    let published_until = Utc::now();
    assert_eq!(children(&app, "LCS-RT1").await, 1);
    // The next meeting's items (within a week of t0).
    let week = (t0 + TimeDelta::days(8)).date_naive();
    let items = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM agenda_items WHERE meeting_date < $1")
            .bind(week)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(items().await, 2, "the VEMT case and the missing child");

    // Past the retention of everything above.
    app.clock.set(t0 + TimeDelta::days(110));

    eventually("the first child is deleted", || async {
        (children(&app, "LCS-RT1").await == 0).then_some(())
    })
    .await;
    assert_eq!(police_persons(&app, "P-RT1").await, 0);
    assert_eq!(episodes(&app, "E-RT1").await, 0);
    assert_eq!(episodes(&app, "E-RT2").await, 0, "a finished episode goes");
    assert_eq!(
        children(&app, "LCS-RT2").await,
        1,
        "an active VEMT case stays"
    );
    assert_eq!(police_persons(&app, "P-RT2").await, 1);
    assert_eq!(children(&app, "LCS-RT3").await, 1, "a missing child stays");
    assert_eq!(episodes(&app, "E-RT3").await, 1, "an open episode stays");
    let old_effects: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL AND published_at <= $1",
    )
    .bind(published_until)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(old_effects, 0, "published effects (with names) go");
    assert_eq!(items().await, 0, "past meetings' items go");
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(inbox, 1, "only the first event's entry is kept");

    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"vemt_retention_deleted_total{table="children"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"vemt_retention_deleted_total{table="episodes"} 2"#),
        "{metrics}"
    );
    app.stop().await;
}
