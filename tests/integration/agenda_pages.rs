//! Issue 11: what the meetings read. Data-quality flags raised through the
//! broker and shown on the Wednesday agenda (JSON, CSV, page, /metrics);
//! the weekly and monthly VPG agendas as JSON, CSV and pages rendered in
//! headless Chromium, behind the same token and headers.

use std::path::Path;

use chrono::Duration;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::helpers::{EpisodeSpec, HTTP_TOKEN, TestApp, child_record, cloud_event, utc};
use crate::http::{
    BearerProxy, child_sections, chromium_binary, get, page_text, pdf_pages, run_chromium,
};

fn interview(rhi: &str, episode: &str, lcs: &str, status: &str, at: &str) -> Value {
    let mut data = json!({
        "rhi_id": rhi,
        "episode_id": episode,
        "lcs_person_id": lcs,
        "status": status,
        "offered_at": at,
    });
    if status == "completed" {
        data["completed_at"] = json!(at);
    }
    let mut event = cloud_event("lcs.return-home-interview.v1", "urn:test:lcs", data);
    event["time"] = json!(at);
    event
}

/// Renders `url` in Chromium: a screenshot kept under target/ and the DOM.
async fn render(url: &str, name: &str) -> String {
    let chromium = chromium_binary();
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/{name}.png"));
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &chromium,
        &[
            "--window-size=1240,1754",
            &format!("--screenshot={}", screenshot.display()),
            url,
        ],
    )
    .await;
    let size = std::fs::metadata(&screenshot)
        .unwrap_or_else(|_| panic!("no screenshot at {}", screenshot.display()))
        .len();
    assert!(size > 10 * 1024, "{name}: the page did not render");
    eprintln!("{name} screenshot: {}", screenshot.display());
    let dom = String::from_utf8(run_chromium(&chromium, &["--dump-dom", url]).await).unwrap();
    for external in [" src=", "<link", "url(", "<script", "@import"] {
        assert!(!dom.contains(external), "{name}: {external} in the page");
    }
    dom
}

async fn print_has_marking_on_every_page(url: &str, name: &str) {
    let pdf = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/{name}.pdf"));
    let _ = std::fs::remove_file(&pdf);
    run_chromium(
        &chromium_binary(),
        &[
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", pdf.display()),
            url,
        ],
    )
    .await;
    let pages = pdf_pages(&pdf);
    assert!(!pages.is_empty());
    for (n, page) in pages.iter().enumerate() {
        assert!(page.contains("OFFICIAL-SENSITIVE"), "{name} page {}", n + 1);
        assert!(
            page.contains(&format!("Page {} of {}", n + 1, pages.len())),
            "{name} page {}:\n{page}",
            n + 1
        );
    }
}

/// The section of a page with this id, up to the next section at its level.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let rest = &dom[start + 1..];
    let end = rest.find("<section id=").map_or(rest.len(), |e| e + 1);
    &dom[start..start + end]
}

/// Every flag through the broker (all but a return before the report,
/// which intake refuses): on the item, in the CSV, on the page and, once
/// collated, in /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_quality_flags_from_the_feed_reach_the_agenda_and_metrics() {
    // Monday 16 November 2026 09:00; the meeting is Wednesday 18th,
    // collated Tuesday 17th 12:00.
    let now = utc("2026-11-16T09:00:00Z");
    let app = TestApp::spawn_with(now, |s| s.data_quality.open_without_update_days = 1).await;
    app.publish(&child_record("LCS-DQ", 1, &["P-DQ"], "active"))
        .await;
    let reported = now - Duration::days(3);
    // CP-DQ-1: 10 hours missing; CP-DQ-2 starts two hours into it.
    let long = EpisodeSpec {
        returned_at: Some(reported + Duration::hours(10)),
        risk_level: "high",
        ..EpisodeSpec::returned("CP-DQ-1", "P-DQ", Some("LCS-DQ"), reported)
    };
    app.publish(&long.event()).await;
    // Names another LCS person than the record links.
    let inside = EpisodeSpec::returned(
        "CP-DQ-2",
        "P-DQ",
        Some("LCS-DQ-OTHER"),
        reported + Duration::hours(2),
    );
    app.publish(&inside.event()).await;
    // Open since yesterday, and no update after it.
    let open = EpisodeSpec {
        status: "open",
        returned_at: None,
        ..EpisodeSpec::returned("CP-DQ-3", "P-DQ", Some("LCS-DQ"), now - Duration::days(1))
    };
    app.publish(&open.event()).await;
    // Completed an hour into CP-DQ-1, nine hours before the return.
    let early = (reported + Duration::hours(1)).to_rfc3339();
    app.publish(&interview(
        "RHI-DQ-1",
        "CP-DQ-1",
        "LCS-DQ",
        "completed",
        &early,
    ))
    .await;
    app.wait_handled(5).await;

    let path = "/meetings/2026-11-18/agenda";
    let agenda: Value = get(&app, path, Some(HTTP_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    let item = &agenda["items"][0];
    let flags: Vec<&str> = item["data_quality"]
        .as_array()
        .unwrap_or_else(|| panic!("no data_quality on {item}"))
        .iter()
        .map(|f| f["flag"].as_str().unwrap())
        .collect();
    eprintln!("preview flags: {}", item["data_quality"]);
    assert_eq!(
        flags,
        [
            "overlapping_episodes",
            "police_person_on_two_lcs_records",
            "interview_completed_before_return",
        ],
        "not yet a day without update: {item}"
    );
    assert_eq!(
        item["data_quality"][0]["evidence"],
        json!(["CP-DQ-1", "CP-DQ-2"])
    );
    assert_eq!(
        item["data_quality"][1]["evidence"],
        json!(["P-DQ", "LCS-DQ", "LCS-DQ-OTHER"])
    );
    assert_eq!(
        item["data_quality"][2]["evidence"],
        json!(["RHI-DQ-1", "CP-DQ-1"])
    );

    // Never blocking: every episode is still listed.
    assert_eq!(item["episodes"].as_array().unwrap().len(), 3);

    // Collated a day and more after the last update: the open episode too.
    app.clock.set(utc("2026-11-17T12:00:01Z"));
    let published = &app.take_events("agenda.missing-review.v1", 1).await[0]["data"];
    let flags: Vec<&str> = published["items"][0]["data_quality"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flag"].as_str().unwrap())
        .collect();
    eprintln!("collated flags: {}", published["items"][0]["data_quality"]);
    assert_eq!(
        flags,
        [
            "overlapping_episodes",
            "police_person_on_two_lcs_records",
            "open_without_update",
            "interview_completed_before_return",
        ]
    );

    // The CSV column and the page.
    let csv = get(&app, &format!("{path}?format=csv"), Some(HTTP_TOKEN))
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "data_quality")
        .expect("a data_quality column");
    for row in reader.records() {
        let row = row.unwrap();
        assert!(
            row[column].contains("overlapping_episodes:CP-DQ-1+CP-DQ-2")
                && row[column].contains("open_without_update:CP-DQ-3"),
            "{}",
            &row[column]
        );
    }
    let page = get(&app, &format!("{path}?format=html"), Some(HTTP_TOKEN))
        .await
        .text()
        .await
        .unwrap();
    let text = page_text(&page);
    for label in [
        "Overlapping episodes (CP-DQ-1, CP-DQ-2)",
        "Police person linked to two LCS records (P-DQ, LCS-DQ, LCS-DQ-OTHER)",
        "Open episode with no update (CP-DQ-3)",
        "Interview completed before the return (RHI-DQ-1, CP-DQ-1)",
    ] {
        assert!(text.contains(label), "{label} not on the page");
    }
    // Overlapping episodes are drawn one above the other: three bars.
    assert_eq!(child_sections(&page)[0].matches("class=\"bar\"").count(), 3);
    let proxy = BearerProxy::start(app.http_base()).await;
    let url = format!("{}{path}?format=html", proxy.base);
    let dom = render(&url, "agenda-flags-screenshot").await;
    let sections = child_sections(&dom);
    assert_eq!(sections[0].matches("class=\"bar\"").count(), 3);
    assert!(page_text(&sections[0]).contains("Overlapping episodes (CP-DQ-1, CP-DQ-2)"));
    assert!(page_text(&dom).contains("this agenda is final"));
    proxy.stop();

    let metrics = crate::http::client()
        .get(format!("{}/metrics", app.http_base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (flag, n) in [
        ("overlapping_episodes", 1),
        ("police_person_on_two_lcs_records", 1),
        ("open_without_update", 1),
        ("interview_completed_before_return", 1),
        ("returned_before_reported", 0),
    ] {
        let line = format!("vemt_agenda_data_quality_flags{{flag=\"{flag}\"}} {n}");
        assert!(metrics.contains(&line), "{line} not in:\n{metrics}");
    }
    app.stop().await;
}

fn record(lcs: &str, status: &str, category: &str, gender: &str, dob: &str) -> Value {
    let mut event = child_record(lcs, 1, &[], status);
    event["data"]["vemt"]["category"] = json!(category);
    event["data"]["gender"] = json!(gender);
    event["data"]["date_of_birth"] = json!(dob);
    event
}

/// The weekly and monthly VPG agendas: a preview before publication, the
/// published one after; JSON, CSV (formula guard) and pages; the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpg_agendas_as_json_csv_and_pages_in_chromium() {
    // Monday 23 November 2026: weekly on Thursday 26th (published 25th
    // 12:00), monthly on Thursday 3 December (published 26th 12:00).
    let app = TestApp::spawn(utc("2026-11-23T09:00:00Z")).await;
    let mut missing = record("LCS-VM1", "active", "missing", "male", "2011-02-01");
    missing["data"]["police_person_ids"] = json!(["P-VM1"]);
    missing["data"]["family_name"] = json!("=HYPERLINK(\"x\") <b>Vm");
    app.publish(&missing).await;
    app.publish(&record(
        "LCS-VR1",
        "referred",
        "cse",
        "female",
        "2012-01-01",
    ))
    .await;
    app.publish(&record("LCS-VD1", "deferred", "cce", "male", "2012-01-01"))
        .await;
    app.publish(&record("LCS-VC1", "active", "cse", "female", "2010-05-06"))
        .await;
    app.publish(&record("LCS-VT1", "active", "cce", "male", "2009-01-15"))
        .await;
    for (id, reported, risk) in [
        ("CP-VM1", "2026-11-20T09:00:00Z", "medium"),
        ("CP-VM2", "2026-10-02T18:00:00Z", "high"),
    ] {
        let episode = EpisodeSpec {
            risk_level: risk,
            ..EpisodeSpec::returned(id, "P-VM1", Some("LCS-VM1"), utc(reported))
        };
        app.publish(&episode.event()).await;
    }
    app.publish(&interview(
        "RHI-VM1",
        "CP-VM1",
        "LCS-VM1",
        "offered",
        "2026-11-21T10:00:00Z",
    ))
    .await;
    app.wait_handled(8).await;

    // The token, as for the Wednesday views.
    for path in ["/vpg", "/vpg/weekly", "/vpg/monthly/2026-12-03"] {
        let refused = get(&app, path, None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let list: Value = get(&app, "/vpg", Some(HTTP_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["kind"], "weekly");
    assert_eq!(list[0]["date"], "2026-11-26");
    assert_eq!(list[0]["published_at"], Value::Null);
    assert_eq!(list[1]["kind"], "monthly");
    assert_eq!(list[1]["date"], "2026-12-03");

    // Previews.
    let weekly: Value = get(&app, "/vpg/weekly", Some(HTTP_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(weekly["preview"], true);
    assert_eq!(weekly["meeting_date"], "2026-11-26");
    let missing_section = &weekly["sections"]["missing_category"];
    assert_eq!(missing_section[0]["lcs_person_id"], "LCS-VM1");
    assert_eq!(missing_section[0]["episodes"].as_array().unwrap().len(), 2);
    let monthly: Value = get(&app, "/vpg/monthly", Some(HTTP_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(monthly["preview"], true);
    assert_eq!(monthly["items"].as_array().unwrap().len(), 3);
    let not_a_meeting = get(&app, "/vpg/weekly/2026-11-27", Some(HTTP_TOKEN)).await;
    assert_eq!(not_a_meeting.status(), StatusCode::NOT_FOUND);
    let bad = get(&app, "/vpg/monthly/2026-12-3", Some(HTTP_TOKEN)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // Published: the stored agendas.
    app.clock.set(utc("2026-11-26T12:00:01Z"));
    app.take_events("agenda.vpg-weekly.v1", 1).await;
    app.take_events("agenda.vpg-monthly.v1", 1).await;
    let weekly: Value = get(&app, "/vpg/weekly/2026-11-26", Some(HTTP_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(weekly["preview"], false);
    let monthly: Value = get(&app, "/vpg/monthly", Some(HTTP_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(monthly["preview"], false);
    assert_eq!(monthly["meeting_date"], "2026-12-03");

    // CSV: headers as the Wednesday CSV, the formula guard on partner text.
    for (path, file) in [
        ("/vpg/weekly?format=csv", "vpg-weekly-2026-11-26.csv"),
        (
            "/vpg/monthly/2026-12-03?format=csv",
            "vpg-monthly-2026-12-03.csv",
        ),
    ] {
        let response = get(&app, path, Some(HTTP_TOKEN)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let disposition = response.headers()["content-disposition"].to_str().unwrap();
        assert!(disposition.contains(file), "{disposition}");
        let text = response.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let family = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "family_name")
            .unwrap();
        let names: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[family].to_owned())
            .collect();
        assert!(
            names.iter().any(|n| n == "'=HYPERLINK(\"x\") <b>Vm"),
            "{path}: {names:?}"
        );
        assert!(!names.iter().any(|n| n.starts_with('=')), "{path}");
    }

    // The pages, in headless Chromium.
    let page = get(&app, "/vpg/weekly?format=html", Some(HTTP_TOKEN)).await;
    assert!(
        page.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    let proxy = BearerProxy::start(app.http_base()).await;
    let weekly_url = format!("{}/vpg/weekly/2026-11-26?format=html", proxy.base);
    let dom = render(&weekly_url, "vpg-weekly-screenshot").await;
    assert!(!dom.contains("<b>Vm"), "partner markup is text");
    let text = page_text(&dom);
    assert!(text.contains("Weekly VPG meeting \u{2014} Thursday 26 November 2026"));
    assert!(text.contains("this agenda is final"), "{text}");
    for (id, heading) in [
        ("m1-outcomes", "M1 outcomes"),
        ("referred-by-m1", "Referred by M1"),
        ("missing-category", "Missing category: active cases"),
        ("new-referrals", "New referrals"),
        ("deferred", "Deferred"),
    ] {
        assert!(
            dom.contains(&format!("href=\"#{id}\"")),
            "summary link {id}"
        );
        assert!(page_text(section(&dom, id)).contains(heading), "{id}");
    }
    let missing_text = page_text(section(&dom, "missing-category"));
    assert!(missing_text.contains("=HYPERLINK(\"x\") <b>Vm, Recordchild"));
    assert!(missing_text.contains("CP-VM1") && missing_text.contains("RHI-VM1"));
    assert!(missing_text.contains("high risk") && missing_text.contains("medium risk"));
    assert_eq!(
        section(&dom, "missing-category")
            .matches("class=\"bar\"")
            .count(),
        2,
        "one bar per episode"
    );
    assert!(page_text(section(&dom, "new-referrals")).contains("Record-LCS-VR1"));
    assert!(page_text(section(&dom, "deferred")).contains("Record-LCS-VD1"));
    assert!(page_text(section(&dom, "m1-outcomes")).contains("None."));
    print_has_marking_on_every_page(&weekly_url, "vpg-weekly-print").await;

    let monthly_url = format!("{}/vpg/monthly?format=html", proxy.base);
    let dom = render(&monthly_url, "vpg-monthly-screenshot").await;
    let text = page_text(&dom);
    assert!(text.contains("Monthly VPG meeting \u{2014} Thursday 3 December 2026"));
    let active = page_text(section(&dom, "active-cases"));
    for child in [
        "Record-LCS-VC1",
        "Record-LCS-VT1",
        "=HYPERLINK(\"x\") <b>Vm",
    ] {
        assert!(active.contains(child), "{child} among the active cases");
    }
    assert!(active.contains("not female; under 16; not in the CSE category"));
    assert!(active.contains("all met: may fit STAGE"));
    let turning = page_text(section(&dom, "turning-18"));
    assert!(turning.contains("Record-LCS-VT1") && turning.contains("Friday 15 January 2027"));
    assert!(!turning.contains("Record-LCS-VC1"));
    let stage = page_text(section(&dom, "stage"));
    assert!(stage.contains("Record-LCS-VC1") && !stage.contains("Record-LCS-VT1"));
    assert!(page_text(section(&dom, "outstanding-actions")).contains("None."));
    print_has_marking_on_every_page(&monthly_url, "vpg-monthly-print").await;
    proxy.stop();
    app.stop().await;
}

/// `vemt agenda --meeting vpg-weekly|vpg-monthly`: the same agendas from
/// the CLI (on the real clock: the next meetings, as previews).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vemt_agenda_prints_the_vpg_agendas() {
    let app = TestApp::spawn(chrono::Utc::now()).await;
    let mut case = record("LCS-CLI1", "active", "cse", "female", "2010-05-06");
    case["data"]["family_name"] = json!("=Cli");
    app.publish(&case).await;
    app.publish(&record("LCS-CLI2", "referred", "cce", "male", "2012-01-01"))
        .await;
    app.wait_handled(2).await;
    let now = chrono::Utc::now();
    let weekly = app.settings.vpg_weekly().unwrap().next_sitting(now).date;
    let monthly = app.settings.vpg_monthly().unwrap().next_sitting(now).date;
    let cli = |args: &'static [&'static str]| crate::meetings::vemt_cli(&app, args);

    let (code, out, err) = cli(&["agenda", "--meeting", "vpg-weekly", "--format", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["meeting_date"], weekly.to_string());
    assert_eq!(json["preview"], true);
    assert_eq!(
        json["sections"]["new_referrals"][0]["lcs_person_id"],
        "LCS-CLI2"
    );
    let (code, out, err) = cli(&["agenda", "--meeting", "vpg-monthly", "--format", "csv"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("meeting_date,lcs_person_id,family_name"),
        "{out}"
    );
    assert!(out.contains(&format!("{monthly},LCS-CLI1,'=Cli,")), "{out}");
    let (code, out, err) = cli(&["agenda", "--meeting", "vpg-monthly"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Every active case (1)") && out.contains("stage"),
        "{out}"
    );
    let (code, out, err) = cli(&["agenda", "--meeting", "vpg-weekly", "--format", "html"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("<h1>Weekly VPG meeting"), "{out}");
    assert!(out.contains("Preview, not yet published."));
    // A day no weekly meeting sits.
    let (code, _, err) = cli(&["agenda", "--meeting", "vpg-weekly", "--date", "2026-11-30"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("no weekly VPG agenda for 2026-11-30"), "{err}");
    app.stop().await;
}
