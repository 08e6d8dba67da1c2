//! Unmatched police persons are kept and joined when the LCS link arrives
//! (R7.1): nothing lost, operations told.

use chrono::Duration;
use serde_json::json;

use crate::helpers::{EpisodeSpec, TestApp, child_record, utc};

const MONDAY: &str = "2026-11-16T09:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_police_person_is_kept_then_joined_by_the_lcs_record_that_links_it() {
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    let episode = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned("CP-UNM", "P-UNM", None, now - Duration::days(1))
    };
    app.publish(&episode.event()).await;
    app.wait_handled(1).await;

    // Operations are told, by ids only.
    let alert = &app.take_events("lcs.alert.v1", 1).await[0]["data"];
    assert_eq!(alert["lcs_person_id"], json!(null));
    assert_eq!(alert["police_person_id"], "P-UNM");
    assert_eq!(alert["reason"], "unmatched_police_person");
    assert_eq!(alert["recipients"][0]["role"], "operations");
    // The child is not held back from the meeting for want of a link.
    assert_eq!(app.criteria("2026-11-18", "P-UNM").await, ["high_risk"]);
    let request = &app.take_events("police.trigger-plan-request.v1", 1).await[0]["data"];
    assert_eq!(request["police_person_id"], "P-UNM");
    assert_eq!(request["lcs_person_id"], json!(null));

    app.publish(&child_record("LCS-UNM", 1, &["P-UNM"], "none"))
        .await;
    app.wait_handled(2).await;
    assert_eq!(app.criteria("2026-11-18", "LCS-UNM").await, ["high_risk"]);
    let linked: Option<String> = sqlx::query_scalar(
        "SELECT c.lcs_person_id FROM police_persons p JOIN children c USING (child_id) WHERE p.police_person_id = 'P-UNM'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(linked.as_deref(), Some("LCS-UNM"));
    // Once per child per meeting: the link does not ask the police again,
    // and operations are not told twice.
    app.assert_no_more("police.trigger-plan-request.v1").await;
    app.assert_no_more("lcs.alert.v1").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_police_identity_of_a_known_child_merges_into_that_child() {
    // A known child (LCS-MRG, police P-MRG-1) and an unmatched police person
    // P-MRG-2; the record's next revision links both: one child, whose count
    // now spans both identities' episodes (R1.3).
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    app.publish(&child_record("LCS-MRG", 1, &["P-MRG-1"], "none"))
        .await;
    app.publish(
        &EpisodeSpec::returned("CP-MRG-1", "P-MRG-1", None, now - Duration::days(40)).event(),
    )
    .await;
    app.publish(
        &EpisodeSpec::returned("CP-MRG-2", "P-MRG-2", None, now - Duration::days(20)).event(),
    )
    .await;
    app.publish(
        &EpisodeSpec::returned("CP-MRG-3", "P-MRG-2", None, now - Duration::days(2)).event(),
    )
    .await;
    app.wait_handled(4).await;
    assert!(
        app.item("2026-11-18", "LCS-MRG").await.is_none(),
        "two episodes each: no count met"
    );
    app.take_events("lcs.alert.v1", 1).await;

    app.publish(&child_record("LCS-MRG", 2, &["P-MRG-1", "P-MRG-2"], "none"))
        .await;
    app.wait_handled(5).await;
    let item = app
        .item("2026-11-18", "LCS-MRG")
        .await
        .expect("queued once joined");
    assert_eq!(
        item["frequent_missing"],
        json!(["CP-MRG-3", "CP-MRG-2", "CP-MRG-1"])
    );
    let children: i64 = sqlx::query_scalar("SELECT count(*) FROM children")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        children, 1,
        "the unmatched child was folded into the known one"
    );
    let request = &app.take_events("police.trigger-plan-request.v1", 1).await[0]["data"];
    assert_eq!(request["lcs_person_id"], "LCS-MRG");
    assert_eq!(
        request["given_name"], "Recordchild",
        "LCS names the child when it has the record"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_child_record_changes_nothing() {
    // R8.2 for lcs.child.v1: revision 2 then 1 leaves revision 2.
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    app.publish(&child_record("LCS-OLD", 2, &["P-OLD"], "active"))
        .await;
    app.publish(&child_record("LCS-OLD", 1, &["P-OLD"], "none"))
        .await;
    app.wait_handled(2).await;
    let (revision, active): (i32, bool) = sqlx::query_as(
        "SELECT record_revision, vemt_active FROM children WHERE lcs_person_id = 'LCS-OLD'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((revision, active), (2, true));
    app.stop().await;
}
