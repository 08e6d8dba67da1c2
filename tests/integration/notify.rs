//! E-mail through GOV.UK Notify (issue 4 item 4), against a local wiremock
//! server that checks what Notify checks: the bearer JWT (HS256 with the
//! secret, `iss` the service id, `iat` within 30 seconds of now) and the
//! body (address, the configured template id, personalisation, and a
//! reference that holds no personal data). A request that fails the checks
//! gets Notify's 403, which the service treats as permanent.
//!
//! Delivery (issue 10 item 7): a fake Notify that issues an id per accepted
//! e-mail and answers `GET /v2/notifications/{id}` for the ids it issued
//! (404 otherwise, as Notify does), with a status scripted per address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{any, body_partial_json, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use vemt::config::EmailTransport;
use vemt::domain::effects::EmailTemplate;
use vemt::notify::Claims;

use crate::helpers::{TestApp, child_record, cloud_event, eventually, utc};

const SERVICE_ID: &str = "5c6d2f0e-3b8a-4f61-9d2e-7a1b0c4e8f93";
const SECRET: &str = "b7e4a1c9-0d3f-4e2a-8c5b-6f9e1d2a3c47";
const TEMPLATE_ID: &str = "f33517ff-2a88-4f6e-b855-c550268ce08a";

/// Monday 16 November 2026, 09:00 London.
const MONDAY: &str = "2026-11-16T09:00:00Z";

/// What Notify checks before it accepts a request.
struct NotifyChecks;

impl NotifyChecks {
    fn check(request: &Request) -> Result<(), String> {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or("no Authorization header")?;
        let jwt = auth.strip_prefix("Bearer ").ok_or("not a bearer token")?;
        let header = jsonwebtoken::decode_header(jwt).map_err(|e| e.to_string())?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some("JWT") {
            return Err("header is not typ JWT, alg HS256".into());
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(
            jwt,
            &DecodingKey::from_secret(SECRET.as_bytes()).unwrap(),
            &validation,
        )
        .map_err(|e| format!("signature: {e}"))?
        .claims;
        if claims.iss != SERVICE_ID {
            return Err("iss is not the service id".into());
        }
        if (chrono::Utc::now().timestamp() - claims.iat).abs() > 30 {
            return Err("iat is not within 30 s of now".into());
        }
        if request.method.as_str() == "GET" {
            return Ok(());
        }
        let body: Value = serde_json::from_slice(&request.body).map_err(|e| e.to_string())?;
        let address = body["email_address"].as_str().ok_or("no email_address")?;
        if !address.contains('@') {
            return Err("email_address is not an address".into());
        }
        if body["template_id"] != TEMPLATE_ID {
            return Err("template_id is not the configured one".into());
        }
        if !body["personalisation"].is_object() {
            return Err("personalisation is not an object".into());
        }
        let reference = body["reference"].as_str().ok_or("no reference")?;
        if reference.contains(address) || reference.contains('@') {
            return Err("reference holds the address".into());
        }
        Ok(())
    }
}

impl wiremock::Match for NotifyChecks {
    fn matches(&self, request: &Request) -> bool {
        Self::check(request).is_ok()
    }
}

fn notify_error(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "status_code": status,
        "errors": [{ "error": error, "message": "refused" }],
    }))
}

fn created() -> ResponseTemplate {
    created_with(Uuid::new_v4())
}

fn created_with(id: Uuid) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": id,
        "reference": null,
        "content": { "subject": "s", "body": "b", "from_email": "vemt@notifications.service.gov.uk" },
        "uri": "https://api.notifications.service.gov.uk/v2/notifications/x",
        "template": { "id": TEMPLATE_ID, "version": 1, "uri": "https://x" },
    }))
}

/// Anything that fails the checks is refused as Notify would, and must
/// never happen.
async fn refuse_unchecked(server: &MockServer) {
    Mock::given(any())
        .respond_with(notify_error(403, "AuthError"))
        .with_priority(10)
        .expect(0)
        .named("requests that fail Notify's checks")
        .mount(server)
        .await;
}

async fn spawn(server: &MockServer) -> TestApp {
    spawn_tuned(server, |_| {}).await
}

/// Delivery statuses polled every 100 ms at first, up to 400 ms.
async fn spawn_polling(server: &MockServer, max_age_seconds: u64) -> TestApp {
    spawn_tuned(server, move |n| {
        n.status_poll_base_ms = 100;
        n.status_poll_max_ms = 400;
        n.status_max_age_seconds = max_age_seconds;
    })
    .await
}

async fn spawn_tuned(
    server: &MockServer,
    tune: impl FnOnce(&mut vemt::config::NotifySettings),
) -> TestApp {
    let base_url = server.uri();
    TestApp::spawn_with(utc(MONDAY), move |s| {
        s.email.transport = EmailTransport::GovukNotify;
        let n = &mut s.email.govuk_notify;
        n.base_url = base_url;
        n.api_key = Some(format!("vemt_test-{SERVICE_ID}-{SECRET}"));
        n.templates = EmailTemplate::ALL
            .iter()
            .map(|t| (t.as_str().to_owned(), TEMPLATE_ID.to_owned()))
            .collect();
        n.max_attempts = 5;
        n.retry_base_ms = 100;
        n.retry_max_ms = 500;
        n.timeout_seconds = 5;
        tune(n);
    })
    .await
}

/// A child with a social worker and a team manager, and a trigger plan for
/// them: the service e-mails both.
async fn cause_an_email(app: &TestApp, lcs: &str, police: &str) {
    let mut record = child_record(lcs, 1, &[police], "active");
    record["data"]["professionals"] = json!([
        { "role": "social_worker", "worker_id": "W-SW", "name": "Sam Worker", "email": "sw@example.org" },
        { "role": "team_manager", "worker_id": "W-TM", "name": "Tia Manager", "email": "tm@example.org" },
    ]);
    app.publish(&record).await;
    app.publish(&cloud_event(
        "police.trigger-plan.v1",
        "urn:test:police",
        json!({
            "plan_id": format!("TP-{police}"),
            "police_person_id": police,
            "version": 1,
            "issued_at": "2026-11-15T18:30:00Z",
            "document": { "url": format!("https://police.example/plans/{police}/v1"), "media_type": "application/pdf" },
            "summary": "never stored",
        }),
    ))
    .await;
    app.wait_handled(2).await;
}

/// The e-mail's outbox row: (published, failed, last_error).
async fn email_row(app: &TestApp) -> Option<(bool, bool, Option<String>)> {
    sqlx::query_as(
        "SELECT published_at IS NOT NULL, failed_at IS NOT NULL, last_error
         FROM outbox WHERE event_type = 'email.v1'",
    )
    .fetch_optional(&app.pool)
    .await
    .expect("outbox query")
}

#[tokio::test]
async fn a_429_then_success_sends_once_per_recipient_and_nothing_on_the_bus() {
    let server = MockServer::start().await;
    refuse_unchecked(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/email"))
        .and(NotifyChecks)
        .respond_with(notify_error(429, "RateLimitError"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .named("the first request, rate limited")
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/email"))
        .and(NotifyChecks)
        .respond_with(created())
        .with_priority(2)
        .expect(2)
        .named("one accepted e-mail per recipient")
        .mount(&server)
        .await;
    let app = spawn(&server).await;
    cause_an_email(&app, "LCS-N1", "P-N1").await;

    eventually("the e-mail is sent", || async {
        matches!(email_row(&app).await, Some((true, false, _))).then_some(())
    })
    .await;
    app.assert_no_more("email.v1").await;
    // The other effects still go on the bus.
    let alerts = app.take_events("lcs.alert.v1", 1).await;
    assert_eq!(alerts[0]["data"]["reason"], "trigger_plan_received");
    app.assert_no_more("lcs.alert.v1").await;

    let requests = server.received_requests().await.expect("recorded");
    let mut addresses: Vec<String> = requests
        .iter()
        .filter(|r| NotifyChecks::check(r).is_ok())
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["email_address"].as_str().unwrap().to_owned()
        })
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        ["sw@example.org", "sw@example.org", "tm@example.org"],
        "the rate-limited recipient is retried, the other is not sent twice"
    );
    server.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn a_400_is_not_retried_and_is_reported_to_operations() {
    let server = MockServer::start().await;
    refuse_unchecked(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/email"))
        .and(NotifyChecks)
        .respond_with(notify_error(400, "ValidationError"))
        .with_priority(1)
        .expect(2)
        .named("one refused request per recipient, no retries")
        .mount(&server)
        .await;
    let app = spawn(&server).await;
    cause_an_email(&app, "LCS-N2", "P-N2").await;

    let (published, failed, last_error) = eventually("the e-mail is marked failed", || async {
        email_row(&app).await.filter(|(_, failed, _)| *failed)
    })
    .await;
    assert!(!published, "a failed e-mail is not published");
    assert!(failed, "the row is kept, marked failed");
    let last_error = last_error.expect("the error is recorded");
    assert!(last_error.contains("ValidationError"), "{last_error}");
    assert!(!last_error.contains("example.org"), "{last_error}");

    let mut alerts = app.take_events("lcs.alert.v1", 2).await;
    alerts.sort_by_key(|a| a["data"]["reason"].as_str().unwrap_or_default().to_owned());
    let alert = &alerts[0]["data"];
    assert_eq!(alert["reason"], "email_failed");
    assert_eq!(alert["priority"], "high");
    assert_eq!(alert["lcs_person_id"], "LCS-N2");
    assert_eq!(
        alert["recipients"],
        json!([{ "role": "operations", "worker_id": null }])
    );
    assert_eq!(alert["error_code"], "ValidationError");
    assert!(alert["email_id"].as_str().is_some_and(|id| !id.is_empty()));
    let text = alerts[0].to_string();
    assert!(!text.contains("example.org"), "{text}");
    assert!(
        !text.contains("Worker") && !text.contains("Manager"),
        "{text}"
    );
    assert_eq!(alerts[1]["data"]["reason"], "trigger_plan_received");

    // No retry storm: give the relay time to misbehave, then count.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.assert_no_more("email.v1").await;
    app.assert_no_more("lcs.alert.v1").await;
    assert_eq!(email_row(&app).await.map(|r| r.1), Some(true));
    server.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn one_refused_recipient_fails_the_email_after_a_rate_limited_one_is_retried_and_sent() {
    let server = MockServer::start().await;
    refuse_unchecked(&server).await;
    let to = |address: &str| body_partial_json(json!({ "email_address": address }));
    Mock::given(method("POST"))
        .and(path("/v2/notifications/email"))
        .and(NotifyChecks)
        .and(to("sw@example.org"))
        .respond_with(notify_error(400, "ValidationError"))
        .expect(1)
        .named("the social worker's address refused once, never asked again")
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/email"))
        .and(NotifyChecks)
        .and(to("tm@example.org"))
        .respond_with(notify_error(429, "RateLimitError"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .named("the team manager's first request, rate limited")
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/email"))
        .and(NotifyChecks)
        .and(to("tm@example.org"))
        .respond_with(created())
        .with_priority(2)
        .expect(1)
        .named("the team manager's e-mail, accepted on retry")
        .mount(&server)
        .await;
    let app = spawn(&server).await;
    cause_an_email(&app, "LCS-N3", "P-N3").await;

    let (published, _, last_error) = eventually("the e-mail is marked failed", || async {
        email_row(&app).await.filter(|(_, failed, _)| *failed)
    })
    .await;
    assert!(!published);
    assert!(
        last_error.is_some_and(|e| e.contains("ValidationError")),
        "the refusal, not the rate limit, is why it failed"
    );
    let sent: Vec<i32> =
        sqlx::query_scalar("SELECT email_sent_to FROM outbox WHERE event_type = 'email.v1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(sent.len(), 1, "the rate-limited recipient got it");

    let mut alerts = app.take_events("lcs.alert.v1", 2).await;
    alerts.sort_by_key(|a| a["data"]["reason"].as_str().unwrap_or_default().to_owned());
    assert_eq!(alerts[0]["data"]["reason"], "email_failed");
    assert_eq!(alerts[0]["data"]["error_code"], "ValidationError");
    assert_eq!(alerts[1]["data"]["reason"], "trigger_plan_received");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.assert_no_more("lcs.alert.v1").await;
    server.verify().await;
    app.stop().await;
}

// ---- delivery (issue 10 item 7) ----

/// Notify's side of delivery: the ids it issued, each with its address and
/// how often its status was asked for; `script(address, poll)` is the status
/// the poll gets (the first poll is 1).
#[derive(Clone)]
struct FakeNotify {
    issued: Arc<Mutex<HashMap<String, (String, usize)>>>,
    /// Status requests for ids it never issued (404, as Notify answers).
    strays: Arc<Mutex<usize>>,
    script: Arc<Script>,
}

/// The status of an address's notification at its nth poll.
type Script = dyn Fn(&str, usize) -> &'static str + Send + Sync;

impl FakeNotify {
    fn new(script: impl Fn(&str, usize) -> &'static str + Send + Sync + 'static) -> Self {
        Self {
            issued: Arc::default(),
            strays: Arc::default(),
            script: Arc::new(script),
        }
    }

    /// Accepts `accepted` e-mails (each checked), then answers status polls
    /// (each checked); anything else is refused and fails the test.
    async fn mount(&self, server: &MockServer, accepted: u64) {
        refuse_unchecked(server).await;
        Mock::given(method("POST"))
            .and(path("/v2/notifications/email"))
            .and(NotifyChecks)
            .respond_with(Accept(self.clone()))
            .expect(accepted)
            .named("accepted e-mails, one per recipient")
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/v2/notifications/[0-9a-f-]{36}$"))
            .and(NotifyChecks)
            .respond_with(Status(self.clone()))
            .named("status polls")
            .mount(server)
            .await;
    }

    /// (address, polls) per issued notification, by address.
    fn polls(&self) -> Vec<(String, usize)> {
        let mut polls: Vec<_> = self.issued.lock().unwrap().values().cloned().collect();
        polls.sort();
        polls
    }

    fn strays(&self) -> usize {
        *self.strays.lock().unwrap()
    }
}

struct Accept(FakeNotify);

impl wiremock::Respond for Accept {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let address = body["email_address"].as_str().unwrap_or_default();
        let id = Uuid::new_v4();
        self.0
            .issued
            .lock()
            .unwrap()
            .insert(id.to_string(), (address.to_owned(), 0));
        created_with(id)
    }
}

struct Status(FakeNotify);

impl wiremock::Respond for Status {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.url.path().rsplit('/').next().unwrap_or_default();
        let mut issued = self.0.issued.lock().unwrap();
        let Some((address, polls)) = issued.get_mut(id) else {
            *self.0.strays.lock().unwrap() += 1;
            return notify_error(404, "NoResultFound");
        };
        *polls += 1;
        let status = (self.0.script)(address, *polls);
        // The shape of Notify's answer: the address and the text are in it,
        // and must go no further than the status.
        ResponseTemplate::new(200).set_body_json(json!({
            "id": id,
            "reference": "r",
            "email_address": address,
            "phone_number": null,
            "line_1": null, "line_2": null, "line_3": null,
            "line_4": null, "line_5": null, "line_6": null,
            "postcode": null,
            "type": "email",
            "status": status,
            "template": { "id": TEMPLATE_ID, "version": 1, "uri": "https://x" },
            "body": "Dear Sam Worker, a trigger plan for Recordchild",
            "subject": "A trigger plan",
            "created_at": "2026-11-16T09:00:01.000000Z",
            "sent_at": null,
            "completed_at": null,
        }))
    }
}

/// (recipient, final status, failure, polls) of each accepted recipient,
/// once every one has a final status.
async fn final_deliveries(app: &TestApp) -> Vec<(i32, String, Option<String>, i32)> {
    eventually("every accepted e-mail has a final status", || async {
        let rows: Vec<(i32, Option<String>, Option<String>, i32)> = sqlx::query_as(
            "SELECT recipient, final_status, failure, polls FROM email_deliveries
             ORDER BY recipient",
        )
        .fetch_all(&app.pool)
        .await
        .ok()?;
        (!rows.is_empty() && rows.iter().all(|r| r.1.is_some())).then(|| {
            rows.into_iter()
                .map(|(recipient, status, failure, polls)| {
                    (recipient, status.unwrap_or_default(), failure, polls)
                })
                .collect()
        })
    })
    .await
}

/// `vemt_email_delivery_total` by status, read over HTTP as Prometheus does.
async fn delivery_counts(app: &TestApp) -> Vec<(String, f64)> {
    let text = app.metrics_text().await;
    let mut counts: Vec<(String, f64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("vemt_email_delivery_total{status=\""))
        .map(|rest| {
            let (status, value) = rest.split_once("\"} ").expect("one label");
            (status.to_owned(), value.parse().expect("a count"))
        })
        .collect();
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    counts
}

fn counts(delivered: f64, permanent: f64, technical: f64) -> Vec<(String, f64)> {
    vec![
        ("delivered".into(), delivered),
        ("permanent-failure".into(), permanent),
        ("technical-failure".into(), technical),
        ("temporary-failure".into(), 0.0),
    ]
}

/// The `email.v1` the service wrote (never published: Notify sent it).
async fn the_email(app: &TestApp) -> Value {
    sqlx::query_scalar("SELECT body FROM outbox WHERE event_type = 'email.v1'")
        .fetch_one(&app.pool)
        .await
        .expect("the e-mail effect")
}

/// The alerts after an e-mail: the trigger plan's, then one `email_failed`
/// (checked whole) when `error_code` is given; nothing more, even after
/// the poller has had time to repeat itself.
async fn assert_alerts(app: &TestApp, lcs: &str, error_code: Option<&str>) {
    let mut alerts = app
        .take_events("lcs.alert.v1", 1 + usize::from(error_code.is_some()))
        .await;
    alerts.sort_by_key(|a| a["data"]["reason"].as_str().unwrap_or_default().to_owned());
    let plan = alerts.pop().expect("the trigger plan's alert");
    assert_eq!(plan["data"]["reason"], "trigger_plan_received");
    if let Some(code) = error_code {
        let alert = alerts.pop().expect("the e-mail's alert");
        let email = the_email(app).await;
        assert_eq!(
            alert["data"],
            json!({
                "alert_id": alert["id"],
                "lcs_person_id": lcs,
                "recipients": [{ "role": "operations", "worker_id": null }],
                "reason": "email_failed",
                "priority": "high",
                "email_id": email["data"]["email_id"],
                "error_code": code,
            })
        );
        assert_eq!(alert["causationid"], email["id"]);
        let text = alert.to_string();
        assert!(!text.contains("example.org"), "{text}");
        assert!(
            !text.contains("Worker") && !text.contains("Manager"),
            "{text}"
        );
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    app.assert_no_more("lcs.alert.v1").await;
    app.assert_no_more("email.v1").await;
}

#[tokio::test]
async fn a_delivered_email_raises_no_alert_and_is_counted() {
    let server = MockServer::start().await;
    let notify = FakeNotify::new(|_, _| "delivered");
    notify.mount(&server, 2).await;
    let app = spawn_polling(&server, 60).await;
    assert_eq!(delivery_counts(&app).await, counts(0.0, 0.0, 0.0));
    cause_an_email(&app, "LCS-D1", "P-D1").await;

    assert_eq!(
        final_deliveries(&app).await,
        [
            (0, "delivered".into(), None, 1),
            (1, "delivered".into(), None, 1)
        ]
    );
    assert_alerts(&app, "LCS-D1", None).await;
    assert_eq!(delivery_counts(&app).await, counts(2.0, 0.0, 0.0));
    assert_eq!(
        notify.polls(),
        [("sw@example.org".into(), 1), ("tm@example.org".into(), 1)],
        "a final status is not asked for again"
    );
    assert_eq!(notify.strays(), 0);
    server.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn a_permanent_failure_alerts_operations_once() {
    let server = MockServer::start().await;
    let notify = FakeNotify::new(|address, _| match address {
        "sw@example.org" => "permanent-failure",
        _ => "delivered",
    });
    notify.mount(&server, 2).await;
    let app = spawn_polling(&server, 60).await;
    cause_an_email(&app, "LCS-D2", "P-D2").await;

    assert_eq!(
        final_deliveries(&app).await,
        [
            (
                0,
                "permanent-failure".into(),
                Some("permanent-failure".into()),
                1
            ),
            (1, "delivered".into(), None, 1),
        ]
    );
    assert_alerts(&app, "LCS-D2", Some("permanent-failure")).await;
    assert_eq!(delivery_counts(&app).await, counts(1.0, 1.0, 0.0));
    // The e-mail left: it stays published, not failed.
    assert_eq!(email_row(&app).await, Some((true, false, None)));
    assert_eq!(notify.strays(), 0);
    server.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn technical_failures_of_both_recipients_alert_once_for_the_email() {
    let server = MockServer::start().await;
    let notify = FakeNotify::new(|_, _| "technical-failure");
    notify.mount(&server, 2).await;
    let app = spawn_polling(&server, 60).await;
    cause_an_email(&app, "LCS-D3", "P-D3").await;

    let failed = Some("technical-failure".to_owned());
    assert_eq!(
        final_deliveries(&app).await,
        [
            (0, "technical-failure".into(), failed.clone(), 1),
            (1, "technical-failure".into(), failed, 1),
        ]
    );
    assert_alerts(&app, "LCS-D3", Some("technical-failure")).await;
    assert_eq!(delivery_counts(&app).await, counts(0.0, 0.0, 2.0));
    server.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn an_email_still_sending_is_polled_again_until_delivered() {
    let server = MockServer::start().await;
    let notify = FakeNotify::new(|_, poll| if poll < 3 { "sending" } else { "delivered" });
    notify.mount(&server, 2).await;
    let app = spawn_polling(&server, 60).await;
    cause_an_email(&app, "LCS-D4", "P-D4").await;

    assert_eq!(
        final_deliveries(&app).await,
        [
            (0, "delivered".into(), None, 3),
            (1, "delivered".into(), None, 3)
        ]
    );
    assert_alerts(&app, "LCS-D4", None).await;
    assert_eq!(delivery_counts(&app).await, counts(2.0, 0.0, 0.0));
    assert_eq!(
        notify.polls(),
        [("sw@example.org".into(), 3), ("tm@example.org".into(), 3)]
    );
    server.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn no_final_status_within_the_max_age_is_a_technical_failure_alerted_once() {
    let server = MockServer::start().await;
    let notify = FakeNotify::new(|_, _| "sending");
    notify.mount(&server, 2).await;
    let app = spawn_polling(&server, 2).await;
    cause_an_email(&app, "LCS-D5", "P-D5").await;

    let rows = final_deliveries(&app).await;
    for (recipient, (got, status, failure, polls)) in rows.iter().enumerate() {
        assert_eq!(*got, recipient as i32);
        assert_eq!(status, "technical-failure");
        assert_eq!(failure.as_deref(), Some("delivery_status_timeout"));
        assert!(*polls >= 2, "polled until the max age: {polls}");
    }
    let status: Vec<String> = sqlx::query_scalar("SELECT status FROM email_deliveries")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, ["sending", "sending"], "Notify's last word is kept");
    assert_alerts(&app, "LCS-D5", Some("delivery_status_timeout")).await;
    assert_eq!(delivery_counts(&app).await, counts(0.0, 0.0, 2.0));
    let asked = notify.polls();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notify.polls(), asked, "not asked again once given up");
    server.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn two_instances_poll_each_notification_once_and_alert_once() {
    let server = MockServer::start().await;
    let notify = FakeNotify::new(|address, poll| match (address, poll) {
        (_, 1 | 2) => "sending",
        ("sw@example.org", _) => "temporary-failure",
        _ => "delivered",
    });
    notify.mount(&server, 2).await;
    let app = spawn_polling(&server, 60).await;
    let mut second = app.second_instance().await;
    cause_an_email(&app, "LCS-D6", "P-D6").await;

    assert_eq!(
        final_deliveries(&app).await,
        [
            (
                0,
                "temporary-failure".into(),
                Some("temporary-failure".into()),
                3
            ),
            (1, "delivered".into(), None, 3),
        ]
    );
    assert_alerts(&app, "LCS-D6", Some("temporary-failure")).await;
    assert_eq!(
        notify.polls(),
        [("sw@example.org".into(), 3), ("tm@example.org".into(), 3)],
        "no notification is asked for by both instances at once"
    );
    // Each instance counts what it recorded; together, each once.
    let (a, b) = (delivery_counts(&app).await, delivery_counts(&second).await);
    let summed: Vec<(String, f64)> = a
        .into_iter()
        .zip(b)
        .map(|((status, x), (_, y))| (status, x + y))
        .collect();
    assert_eq!(
        summed,
        [
            ("delivered".into(), 1.0),
            ("permanent-failure".into(), 0.0),
            ("technical-failure".into(), 0.0),
            ("temporary-failure".into(), 1.0),
        ]
    );
    second.halt().await;
    server.verify().await;
    app.stop().await;
}
