//! The HTTP views (R3.3): the bearer token, health, the meetings list and
//! the agenda as JSON, CSV and a printable page rendered in headless
//! Chromium.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::helpers::{EpisodeSpec, HTTP_TOKEN, TestApp, child_record, cloud_event, utc};

/// Monday 16 November 2026, 09:00 London: the next meeting is Wednesday 18th.
const MONDAY: &str = "2026-11-16T09:00:00Z";
const MEETING: &str = "2026-11-18";

/// Longest a Chromium run may take before the test kills it.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client builds")
}

pub(crate) async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{}{path}", app.http_base()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the service answers")
}

/// Three children on Wednesday's agenda, with partner text that needs
/// escaping: an active VEMT case (LCS record, four episodes in 30 days, one
/// RHI offered, one episode past 72 hours with none), an unmatched child
/// with a high-risk episode, and a child missing now.
async fn queue_children(app: &TestApp, now: DateTime<Utc>) {
    app.publish(&child_record("LCS-WEB", 1, &["P-WEB"], "active"))
        .await;
    for (i, days_ago) in [25, 18, 10, 3].into_iter().enumerate() {
        let id = format!("CP-WEB-{i}");
        let episode = EpisodeSpec::returned(
            &id,
            "P-WEB",
            Some("LCS-WEB"),
            now - chrono::Duration::days(days_ago),
        );
        app.publish(&episode.event()).await;
    }
    let mut interview = cloud_event(
        "lcs.return-home-interview.v1",
        "urn:test:lcs",
        json!({
            "rhi_id": "RHI-WEB-1",
            "episode_id": "CP-WEB-2",
            "lcs_person_id": "LCS-WEB",
            "status": "offered",
            "offered_at": now - chrono::Duration::days(9),
        }),
    );
    interview["time"] = json!(now - chrono::Duration::days(9));
    app.publish(&interview).await;

    let high = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned("CP-ESC", "P-ESC", None, now - chrono::Duration::days(2))
    };
    let mut event = high.event();
    event["data"]["person"]["family_name"] = json!("O'Brien <b>&amp;");
    event["data"]["person"]["given_name"] = json!("=HYPERLINK(\"x\")");
    app.publish(&event).await;

    let live = EpisodeSpec {
        status: "open",
        returned_at: None,
        ..EpisodeSpec::returned(
            "CP-LIVE",
            "P-LIVE",
            Some("LCS-LIVE"),
            now - chrono::Duration::hours(5),
        )
    };
    app.publish(&live.event()).await;
    app.wait_handled(8).await;
}

/// The agenda as JSON, read with the token.
async fn agenda_json(app: &TestApp) -> Value {
    let response = get(
        app,
        &format!("/meetings/{MEETING}/agenda"),
        Some(HTTP_TOKEN),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("agenda JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_health_needs_the_configured_bearer_token() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    for path in ["/livez", "/readyz"] {
        let response = get(&app, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let ready: Value = get(&app, "/readyz", None).await.json().await.unwrap();
    assert_eq!(ready, json!({ "database": "up", "broker": "up" }));

    let agenda = format!("/meetings/{MEETING}/agenda");
    for path in ["/meetings", agenda.as_str()] {
        let response = get(&app, path, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string());

        let wrong = get(&app, path, Some("test-http-token-0123456780")).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(wrong.headers().contains_key(WWW_AUTHENTICATE));
        let short = get(&app, path, Some("test")).await;
        assert_eq!(short.status(), StatusCode::UNAUTHORIZED, "{path}");
        let basic = client()
            .get(format!("{}{path}", app.http_base()))
            .header(AUTHORIZATION, format!("Basic {HTTP_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED, "{path}");

        let right = get(&app, path, Some(HTTP_TOKEN)).await;
        assert_eq!(right.status(), StatusCode::OK, "{path}");
        assert_eq!(right.headers()[CACHE_CONTROL], "no-store");
    }
    app.stop().await;

    // Never open by default: no token configured, only health is served.
    let closed = TestApp::spawn_with(utc(MONDAY), |s| s.http.token = None).await;
    assert_eq!(get(&closed, "/livez", None).await.status(), StatusCode::OK);
    for token in [None, Some(HTTP_TOKEN), Some("")] {
        let response = get(&closed, "/meetings", token).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("not configured"),
            "{body}"
        );
    }
    closed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_and_the_agenda_as_json_and_csv() {
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    queue_children(&app, now).await;

    // The meetings list names the upcoming meeting and its children.
    let response = get(&app, "/meetings", Some(HTTP_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let meetings: Value = response.json().await.unwrap();
    let upcoming = meetings
        .as_array()
        .expect("a list")
        .iter()
        .find(|m| m["date"] == MEETING)
        .unwrap_or_else(|| panic!("{MEETING} listed: {meetings}"));
    assert_eq!(upcoming["children"], 3);
    assert_eq!(upcoming["collated_at"], Value::Null);
    assert_eq!(upcoming["meeting_at"], "2026-11-18T10:00:00Z");
    assert_eq!(upcoming["collation_at"], "2026-11-17T12:00:00Z");

    // JSON: the fields of docs/asyncapi.yaml, item by item.
    let agenda = agenda_json(&app).await;
    assert_eq!(agenda["meeting_date"], MEETING);
    assert!(agenda.get("collated_at").is_some());
    let items = agenda["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    for item in items {
        for field in [
            "lcs_person_id",
            "police_person_ids",
            "given_name",
            "family_name",
            "date_of_birth",
            "vemt_status",
            "early_help",
            "criteria",
            "evidence",
            "last_reviewed",
            "episodes",
            "return_home_interviews",
            "trigger_plan",
        ] {
            assert!(item.get(field).is_some(), "item lacks {field}: {item}");
        }
        for episode in item["episodes"].as_array().unwrap() {
            for field in [
                "episode_id",
                "reported_missing_at",
                "returned_at",
                "duration_hours",
                "risk_level",
                "status",
            ] {
                assert!(episode.get(field).is_some(), "episode lacks {field}");
            }
        }
    }
    let web = items
        .iter()
        .find(|i| i["lcs_person_id"] == "LCS-WEB")
        .expect("the VEMT child");
    assert_eq!(web["family_name"], "Record-LCS-WEB");
    assert_eq!(web["episodes"].as_array().unwrap().len(), 4);
    let rhi = &web["return_home_interviews"][0];
    for field in [
        "rhi_id",
        "episode_id",
        "status",
        "offered_at",
        "completed_at",
    ] {
        assert!(rhi.get(field).is_some(), "RHI lacks {field}: {rhi}");
    }

    // The format: the query parameter first, then Accept, JSON by default.
    let path = format!("{}/meetings/{MEETING}/agenda", app.http_base());
    let csv_over_html = client()
        .get(format!("{path}?format=csv"))
        .bearer_auth(HTTP_TOKEN)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(csv_over_html.status(), StatusCode::OK);
    assert!(
        csv_over_html.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(csv_over_html.headers()[CACHE_CONTROL], "no-store");
    let by_accept = client()
        .get(&path)
        .bearer_auth(HTTP_TOKEN)
        .header(ACCEPT, "text/csv")
        .send()
        .await
        .unwrap();
    let csv_text = by_accept.text().await.unwrap();
    assert_eq!(csv_text, csv_over_html.text().await.unwrap());

    // CSV: the header, and a row per listed episode per child.
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "meeting_date",
            "family_name",
            "given_name",
            "date_of_birth",
            "lcs_person_id",
            "police_person_ids",
            "vemt_status",
            "early_help",
            "criteria",
            "last_reviewed_date",
            "last_reviewed_outcome",
            "episode_id",
            "reported_missing_at",
            "returned_at",
            "duration_hours",
            "risk_level",
            "status",
            "rhi_not_offered_within_72_hours",
            "trigger_plan_url",
            "data_quality",
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("CSV row")).collect();
    let expected_rows: usize = items
        .iter()
        .map(|i| i["episodes"].as_array().unwrap().len().max(1))
        .sum();
    assert_eq!(rows.len(), expected_rows);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let web_rows: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|r| &r[column("lcs_person_id")] == "LCS-WEB")
        .collect();
    assert_eq!(web_rows.len(), 4);
    let first = web_rows[0];
    assert_eq!(&first[column("meeting_date")], MEETING);
    assert_eq!(&first[column("family_name")], "Record-LCS-WEB");
    assert_eq!(&first[column("date_of_birth")], "2010-05-06");
    assert_eq!(&first[column("vemt_status")], "active");
    let criteria: Vec<&str> = first[column("criteria")].split(' ').collect();
    assert!(criteria.contains(&"top_missing"), "{criteria:?}");
    let mut episode_ids: Vec<&str> = web_rows.iter().map(|r| &r[column("episode_id")]).collect();
    episode_ids.sort();
    assert_eq!(
        episode_ids,
        ["CP-WEB-0", "CP-WEB-1", "CP-WEB-2", "CP-WEB-3"]
    );
    let escaped = rows
        .iter()
        .find(|r| &r[column("police_person_ids")] == "P-ESC")
        .expect("the unmatched child's row");
    assert_eq!(&escaped[column("family_name")], "O'Brien <b>&amp;");
    // A formula in partner input is neutralised for spreadsheets.
    assert_eq!(&escaped[column("given_name")], "'=HYPERLINK(\"x\")");
    assert_eq!(&escaped[column("lcs_person_id")], "");
    assert_eq!(&escaped[column("risk_level")], "high");

    // Unknown meetings and bad dates.
    let thursday = get(&app, "/meetings/2026-11-19/agenda", Some(HTTP_TOKEN)).await;
    assert_eq!(thursday.status(), StatusCode::NOT_FOUND);
    let body: Value = thursday.json().await.unwrap();
    assert!(body["error"].is_string());
    for bad in ["2026-13-01", "18-11-2026", "next"] {
        let response = get(&app, &format!("/meetings/{bad}/agenda"), Some(HTTP_TOKEN)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"],
            "path segment `date` must be a date YYYY-MM-DD"
        );
    }
    let bad_format = get(
        &app,
        &format!("/meetings/{MEETING}/agenda?format=xml"),
        Some(HTTP_TOKEN),
    )
    .await;
    assert_eq!(bad_format.status(), StatusCode::BAD_REQUEST);

    // Once collated, the views serve the frozen agenda, and the meeting
    // moves to the past ones after the next open meeting.
    app.clock.set(utc("2026-11-17T12:00:01Z"));
    let published = app.take_events("agenda.missing-review.v1", 1).await;
    let frozen = agenda_json(&app).await;
    assert!(frozen["collated_at"].is_string(), "{frozen}");
    assert_eq!(frozen["items"], published[0]["data"]["items"]);
    let meetings: Value = get(&app, "/meetings", Some(HTTP_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    let dates: Vec<&str> = meetings
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-11-25", MEETING], "{meetings}");
    assert!(meetings[1]["collated_at"].is_string());
    assert_eq!(meetings[1]["children"], 3);
    let page = client()
        .get(format!("{path}?format=html"))
        .bearer_auth(HTTP_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    assert!(page.contains("this agenda is final"), "{page}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printable_agenda_renders_in_headless_chromium() {
    let now = utc(MONDAY);
    let app = TestApp::spawn(now).await;
    queue_children(&app, now).await;
    let agenda = agenda_json(&app).await;
    let items = agenda["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 3);

    // Chromium cannot send an Authorization header: a local proxy adds it.
    let proxy = BearerProxy::start(app.http_base()).await;
    let url = format!("{}/meetings/{MEETING}/agenda", proxy.base);

    let chromium = chromium_binary();
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/agenda-screenshot.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &chromium,
        &[
            "--window-size=1240,1754",
            &format!("--screenshot={}", screenshot.display()),
            &url,
        ],
    )
    .await;
    let size = std::fs::metadata(&screenshot)
        .unwrap_or_else(|_| panic!("Chromium wrote no screenshot at {}", screenshot.display()))
        .len();
    assert!(
        size > 10 * 1024,
        "the screenshot is only {size} bytes: the page did not render"
    );

    let dom = String::from_utf8(run_chromium(&chromium, &["--dump-dom", &url]).await)
        .expect("the DOM is UTF-8");
    assert!(
        dom.contains("Missing children review \u{2014} Wednesday 18 November 2026"),
        "title missing from the page:\n{dom}"
    );
    // Partner text is text: the `<b>` in a name never becomes an element.
    assert!(!dom.contains("<b>"), "unescaped markup in the page");
    assert!(!dom.to_lowercase().contains("<script"));
    let text = page_text(&dom);
    assert!(text.contains("Preview, not yet collated."), "{text}");
    for item in &items {
        let family = item["family_name"].as_str().unwrap();
        assert!(text.contains(family), "{family} not on the page:\n{text}");
        let dob =
            chrono::NaiveDate::parse_from_str(item["date_of_birth"].as_str().unwrap(), "%Y-%m-%d")
                .unwrap();
        let shown = dob.format("%-d %B %Y").to_string();
        assert!(
            text.contains(&shown),
            "{family}'s date of birth {shown} not on the page"
        );
        for criterion in item["criteria"].as_array().unwrap() {
            let label = criterion_label(criterion.as_str().unwrap());
            assert!(
                text.contains(label),
                "{family}'s criterion {criterion} ({label}) not on the page"
            );
        }
    }
    assert!(
        text.contains("O'Brien <b>&amp;"),
        "escaped name shown as typed"
    );
    assert!(
        text.contains("Not offered within 72 hours"),
        "RHI flag shown"
    );
    assert!(text.contains("RHI-WEB-1"));

    // Issue 11: the summary first, a link to each child's section; per
    // child, a section with their name and an SVG bar per listed episode;
    // nothing loaded from anywhere.
    let summary_at = dom.find("id=\"summary\"").expect("a summary section");
    let first_child_at = dom.find("class=\"child\"").expect("a child section");
    assert!(summary_at < first_child_at, "the summary comes first");
    let sections = child_sections(&dom);
    assert_eq!(sections.len(), items.len());
    for (i, (item, section)) in items.iter().zip(&sections).enumerate() {
        let family = item["family_name"].as_str().unwrap();
        assert!(
            dom.contains(&format!("href=\"#child-{}\"", i + 1)),
            "summary link to child {}",
            i + 1
        );
        let section_text = page_text(section);
        assert!(section_text.contains(family), "{family}: {section_text}");
        let episodes = item["episodes"].as_array().unwrap().len();
        assert_eq!(
            section.matches("class=\"bar\"").count(),
            episodes,
            "{family}: one timeline bar per episode"
        );
        assert!(section.contains("<svg"), "{family}: a timeline");
        assert!(
            section_text.contains("high risk")
                && section_text.contains("still missing")
                && section_text.contains("criteria windows"),
            "{family}: the legend in words"
        );
        // The wording fixed: an LCS id and "no LCS record" never together.
        assert!(
            !section_text.contains("no LCS record yet"),
            "{section_text}"
        );
    }
    assert!(
        page_text(&sections[2]).contains("VEMT status: active"),
        "the active case's status"
    );
    assert!(
        page_text(&sections[0]).contains("the LCS record of LCS-LIVE has not been received"),
        "an LCS id with no record yet says so"
    );
    assert!(
        text.contains("5 hours so far"),
        "durations in words: {text}"
    );
    for external in [" src=", "<link", "url(", "<script", "@import"] {
        assert!(!dom.contains(external), "{external} in the page");
    }

    // Printed: the marking and the page number on every page.
    let pdf = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/agenda-print.pdf");
    let _ = std::fs::remove_file(&pdf);
    run_chromium(
        &chromium,
        &[
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", pdf.display()),
            &url,
        ],
    )
    .await;
    let pages = pdf_pages(&pdf);
    assert!(pages.len() >= 2, "{} pages", pages.len());
    for (n, page) in pages.iter().enumerate() {
        assert!(
            page.contains("OFFICIAL-SENSITIVE"),
            "page {} has no marking:\n{page}",
            n + 1
        );
        assert!(
            page.contains(&format!("Page {} of {}", n + 1, pages.len())),
            "page {} has no page number:\n{page}",
            n + 1
        );
    }
    eprintln!(
        "agenda screenshot: {}; printed: {}",
        screenshot.display(),
        pdf.display()
    );
    proxy.stop();
    app.stop().await;
}

/// The `<section class="child"` elements of a page, in order.
pub(crate) fn child_sections(dom: &str) -> Vec<String> {
    dom.split("<section class=\"child\"")
        .skip(1)
        .map(|rest| {
            rest.split("</section>")
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The text of each page of a PDF (poppler's `pdftotext`; scripts/test.sh
/// installs it with Chromium).
pub(crate) fn pdf_pages(pdf: &Path) -> Vec<String> {
    let output = std::process::Command::new("pdftotext")
        .args(["-layout", &pdf.display().to_string(), "-"])
        .output()
        .expect("pdftotext runs (apt-get install poppler-utils)");
    assert!(output.status.success(), "pdftotext failed");
    String::from_utf8_lossy(&output.stdout)
        .split('\u{c}')
        .filter(|page| !page.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The labels a person reads, for the default thresholds.
fn criterion_label(name: &str) -> &'static str {
    match name {
        "high_risk" => "High risk episode",
        "top_missing" => "Top missing (4+ in 30 days)",
        "frequent_missing" => "Frequently missing (3+ in 90 days)",
        "frequent_no_apparent_risk" => "Frequent no-apparent-risk episodes (3+ in 90 days)",
        "active_vemt_case" => "Active VEMT case",
        "over_72_hours" => "Missing over 72 hours",
        "live" => "Currently missing",
        other => panic!("unknown criterion {other}"),
    }
}

/// The text of an HTML document: tags dropped, the five escapes decoded.
pub(crate) fn page_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// `chromium` on the PATH or at /usr/bin/chromium; the test fails (never
/// skips) without it.
pub(crate) fn chromium_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "Chromium is needed to render the agenda page but is not installed: \
                 scripts/test.sh installs it (apt-get install -y chromium)"
            )
        })
}

/// Runs headless Chromium with a fresh profile, killing its process group
/// if it outlives `CHROMIUM_TIMEOUT`; returns its standard output.
pub(crate) async fn run_chromium(binary: &Path, args: &[&str]) -> Vec<u8> {
    let profile = std::env::temp_dir().join(format!("vemt-chromium-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&profile).expect("profile directory");
    let child = tokio::process::Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("Chromium starts");
    let group = child.id();
    let outcome = tokio::time::timeout(CHROMIUM_TIMEOUT, child.wait_with_output()).await;
    let output = match outcome {
        Ok(output) => output.expect("Chromium runs"),
        Err(_) => {
            if let Some(group) = group {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{group}")])
                    .status();
            }
            let _ = std::fs::remove_dir_all(&profile);
            panic!("Chromium did not finish within {CHROMIUM_TIMEOUT:?}");
        }
    };
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "Chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A local HTTP proxy that adds the bearer token and forwards GETs to the
/// service, for a browser that cannot set headers itself.
pub(crate) struct BearerProxy {
    pub(crate) base: String,
    task: tokio::task::JoinHandle<()>,
}

impl BearerProxy {
    pub(crate) async fn start(upstream: String) -> Self {
        use axum::extract::{Request, State};
        use axum::response::{IntoResponse, Response};

        async fn forward(State(upstream): State<String>, request: Request) -> Response {
            let path = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let mut outgoing = client()
                .get(format!("{upstream}{path}"))
                .bearer_auth(HTTP_TOKEN);
            if let Some(accept) = request.headers().get(ACCEPT) {
                outgoing = outgoing.header(ACCEPT, accept);
            }
            match outgoing.send().await {
                Ok(answer) => {
                    let status = axum::http::StatusCode::from_u16(answer.status().as_u16())
                        .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
                    let content_type = answer
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("application/octet-stream")
                        .to_owned();
                    let body = answer.bytes().await.unwrap_or_default();
                    (
                        status,
                        [(axum::http::header::CONTENT_TYPE, content_type)],
                        body,
                    )
                        .into_response()
                }
                Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
            }
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(forward).with_state(upstream);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { base, task }
    }

    pub(crate) fn stop(self) {
        self.task.abort();
    }
}
