//! `vemt import`: history in with the live intake's semantics and none of its
//! effects (R1.1, R1.2, R7.1, R8.2, R8.4). Every file here is synthetic.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use vemt::import::{Format, ImportOptions, RowRejection, Summary, import_file};

use crate::helpers::{EpisodeSpec, TestApp, child_record, utc};

/// Monday 16 November 2026, 09:00 London: the next meeting is Wednesday 18th.
const MONDAY: &str = "2026-11-16T09:00:00Z";

const HEADER: [&str; 15] = [
    "episode_id",
    "revision",
    "police_person_id",
    "lcs_person_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "gender",
    "status",
    "risk_level",
    "reported_missing_at",
    "last_seen_at",
    "returned_at",
    "missing_from",
    "trigger_plan_in_place",
];

/// A folder removed when the test ends, pass or fail.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("vemt-import-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Validated against the test clock's "now", like the live parser.
fn options(app: &TestApp, format: Format) -> ImportOptions {
    ImportOptions::new(format, utc(MONDAY), app.settings.criteria)
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One synthetic history row, as CSV cells in `HEADER` order.
struct HistoryRow {
    episode_id: String,
    revision: u32,
    police: String,
    lcs: Option<String>,
    family_name: String,
    status: &'static str,
    risk_level: &'static str,
    reported: DateTime<Utc>,
    returned: Option<DateTime<Utc>>,
}

impl HistoryRow {
    fn cells(&self) -> Vec<String> {
        vec![
            self.episode_id.clone(),
            self.revision.to_string(),
            self.police.clone(),
            self.lcs.clone().unwrap_or_default(),
            "Testchild".into(),
            self.family_name.clone(),
            "2011-03-04".into(),
            "female".into(),
            self.status.into(),
            self.risk_level.into(),
            stamp(self.reported),
            stamp(self.reported - Duration::hours(2)),
            self.returned.map(stamp).unwrap_or_default(),
            "home".into(),
            "false".into(),
        ]
    }
}

/// `n` episodes of `n / 5` police persons over the two years before `now`,
/// every one returned or cancelled (no live episode: nothing for the sweep
/// to pick up while the test looks). Even persons carry an LCS id.
fn history(n: usize, now: DateTime<Utc>) -> Vec<HistoryRow> {
    const RISKS: [&str; 6] = [
        "high",
        "medium",
        "low",
        "no_apparent_risk",
        "absent",
        "very_low",
    ];
    (0..n)
        .map(|i| {
            let person = i / 5;
            // At least 5,000 minutes back, so every return is in the past.
            let reported = now - Duration::minutes(5_000 + (i as i64 * 7919) % (730 * 24 * 60));
            let cancelled = i % 17 == 0;
            HistoryRow {
                episode_id: format!("CP-H-{i:06}"),
                revision: 1 + (i % 3) as u32,
                police: format!("P-H-{person}"),
                lcs: (person % 2 == 0).then(|| format!("LCS-H-{person}")),
                // Some names need CSV quoting.
                family_name: if i % 11 == 0 {
                    format!("Family, \"{person}\"")
                } else {
                    format!("Family-{person}")
                },
                status: if cancelled { "cancelled" } else { "returned" },
                risk_level: RISKS[i % RISKS.len()],
                reported,
                returned: (!cancelled).then(|| reported + Duration::minutes((i % 4000) as i64)),
            }
        })
        .collect()
}

fn write_csv(path: &Path, rows: impl IntoIterator<Item = Vec<String>>) {
    // Flexible, so a test can write a short row.
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(path)
        .expect("csv file");
    out.write_record(HEADER).expect("header");
    for row in rows {
        out.write_record(&row).expect("row");
    }
    out.flush().expect("flush");
}

/// Everything import may touch, as one checksum.
async fn store_checksum(app: &TestApp) -> String {
    sqlx::query_scalar(
        "SELECT md5(concat_ws('/',
             (SELECT string_agg(e::text, '|' ORDER BY episode_id) FROM episodes e),
             (SELECT string_agg(c::text, '|' ORDER BY child_id) FROM children c),
             (SELECT string_agg(p::text, '|' ORDER BY police_person_id) FROM police_persons p)))",
    )
    .fetch_one(&app.pool)
    .await
    .expect("checksum")
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.pool)
        .await
        .expect("count query")
}

fn assert_counts(summary: &Summary, read: u64, imported: u64, skipped: u64, rejected: u64) {
    assert_eq!(
        (
            summary.read,
            summary.imported,
            summary.skipped,
            summary.rejected
        ),
        (read, imported, skipped, rejected),
        "read, imported, skipped, rejected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_row_csv_goes_in_whole_and_importing_it_again_changes_nothing() {
    // R8.2 (highest revision wins, repeats change nothing), R1.1, R7.1.
    const ROWS: usize = 100_000;
    let app = TestApp::spawn(utc(MONDAY)).await;
    let scratch = Scratch::new();
    let file = scratch.path("history.csv");
    let rows = history(ROWS, utc(MONDAY));
    write_csv(&file, rows.iter().map(HistoryRow::cells));

    let started = Instant::now();
    let first = import_file(&app.pool, &file, &options(&app, Format::Csv))
        .await
        .expect("import runs");
    eprintln!(
        "import of {ROWS} rows: {:.2} s, {:.0} rows/s (this build)",
        started.elapsed().as_secs_f64(),
        first.rows_per_second()
    );
    assert_counts(&first, ROWS as u64, ROWS as u64, 0, 0);
    assert!(first.first_rejections.is_empty());
    assert_eq!(
        count(&app, "SELECT count(*) FROM episodes").await,
        ROWS as i64
    );
    let persons = (ROWS / 5) as i64;
    assert_eq!(
        count(&app, "SELECT count(*) FROM police_persons").await,
        persons
    );
    assert_eq!(count(&app, "SELECT count(*) FROM children").await, persons);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM children WHERE lcs_person_id IS NULL"
        )
        .await,
        persons / 2,
        "persons named with no LCS id are kept as unmatched children (R7.1)"
    );
    let high = rows.iter().filter(|r| r.risk_level == "high").count() as i64;
    assert_eq!(
        count(&app, "SELECT count(*) FROM episodes WHERE ever_high").await,
        high
    );
    // No effects: nothing queued, nothing sent, nothing in the inbox.
    assert_eq!(count(&app, "SELECT count(*) FROM outbox").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM agenda_items").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM inbox").await, 0);

    // One row read back whole, quoting undone; changed_at is the episode's
    // own return, not the import's time.
    let sample = &rows[4_411];
    let (revision, family, lcs, changed_at, returned_at): (
        i32,
        String,
        Option<String>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    ) = sqlx::query_as(
        "SELECT e.revision, e.report->'person'->>'family_name', c.lcs_person_id, e.changed_at, e.returned_at
         FROM episodes e JOIN police_persons p USING (police_person_id) JOIN children c USING (child_id)
         WHERE e.episode_id = $1",
    )
    .bind(&sample.episode_id)
    .fetch_one(&app.pool)
    .await
    .expect("sample row");
    assert_eq!(revision as u32, sample.revision);
    assert_eq!(family, sample.family_name);
    assert!(family.contains(", \""), "a quoted name survives");
    assert_eq!(lcs, sample.lcs);
    assert_eq!(returned_at, sample.returned);
    assert_eq!(Some(changed_at), sample.returned);

    let before = store_checksum(&app).await;
    let again = import_file(&app.pool, &file, &options(&app, Format::Csv))
        .await
        .expect("second import runs");
    assert_counts(&again, ROWS as u64, 0, ROWS as u64, 0);
    assert_eq!(
        store_checksum(&app).await,
        before,
        "a re-import changes no row"
    );

    // Older revisions of held episodes are skipped, but one graded high is
    // remembered (R1.1), as live.
    let older: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.revision == 3 && r.risk_level != "high")
        .take(5)
        .map(|r| {
            let mut cells = r.cells();
            cells[1] = "2".into();
            cells[9] = "high".into();
            cells
        })
        .collect();
    let file = scratch.path("older.csv");
    write_csv(&file, older.clone());
    let late = import_file(&app.pool, &file, &options(&app, Format::Csv))
        .await
        .expect("import runs");
    assert_counts(&late, 5, 5, 0, 0);
    let held: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT revision, ever_high FROM episodes WHERE episode_id = ANY($1) ORDER BY episode_id",
    )
    .bind(older.iter().map(|c| c[0].clone()).collect::<Vec<_>>())
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        held,
        vec![(3, true); 5],
        "revision 3 kept, the high grade remembered"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_csv_rows_are_reported_by_line_and_rule_and_the_good_rows_go_in() {
    // R8.1, R8.4: each bad row named by line, column and rule, never value.
    let app = TestApp::spawn(utc(MONDAY)).await;
    let now = utc(MONDAY);
    let scratch = Scratch::new();
    let good = |i: usize| HistoryRow {
        episode_id: format!("CP-B-{i}"),
        revision: 1,
        police: format!("P-B-{i}"),
        lcs: None,
        family_name: format!("Family-{i}"),
        status: "returned",
        risk_level: "low",
        reported: now - Duration::days(3),
        returned: Some(now - Duration::days(2)),
    };
    let with = |i: usize, column: &str, value: &str| {
        let mut cells = good(i).cells();
        let at = HEADER.iter().position(|h| *h == column).expect("column");
        cells[at] = value.to_owned();
        cells
    };
    let far_future = stamp(now + Duration::days(3));
    let rows = vec![
        good(1).cells(),                             // line 2
        with(2, "revision", "0"),                    // line 3
        with(3, "date_of_birth", "2011-13-01"),      // line 4
        with(4, "family_name", "Two\nLines"),        // lines 5-6: good, quoted
        with(5, "risk_level", "Sever-e"),            // line 7
        with(6, "risk_level", ""),                   // line 8
        with(7, "status", "open"),                   // line 9: returned_at set
        good(8).cells(),                             // line 10
        with(9, "reported_missing_at", &far_future), // line 11
        good(10).cells()[..14].to_vec(),             // line 12: a field short
        with(11, "police_person_id", "P B 11"),      // line 13
        good(12).cells(),                            // line 14
    ];
    let file = scratch.path("mixed.csv");
    write_csv(&file, rows);
    let rejects = scratch.path("rejects.txt");
    let mut options = options(&app, Format::Csv);
    options.rejects = Some(rejects.clone());
    let summary = import_file(&app.pool, &file, &options)
        .await
        .expect("import runs");

    assert_counts(&summary, 12, 4, 0, 8);
    let expected = [
        "line 3: revision: must be an integer >= 1",
        "line 4: date_of_birth: must be a date YYYY-MM-DD",
        "line 7: risk_level: must be one of: high, medium, low, no_apparent_risk, absent, very_low",
        "line 8: risk_level: is required",
        "line 9: returned_at: must be null when status is open",
        "line 11: reported_missing_at: must not be more than 24 hours in the future",
        "line 12: row: must have 15 fields like the header, not 14",
        "line 13: police_person_id: must not contain whitespace or control characters",
    ];
    let shown: Vec<String> = summary
        .first_rejections
        .iter()
        .map(RowRejection::to_string)
        .collect();
    assert_eq!(shown, expected);
    let written = std::fs::read_to_string(&rejects).expect("rejects file");
    assert_eq!(written.lines().collect::<Vec<_>>(), expected);
    let printed = summary.to_string();
    for value in ["Sever-e", "P B 11", "2011-13-01", far_future.as_str()] {
        assert!(!printed.contains(value), "the summary repeats a value");
        assert!(!written.contains(value), "the rejects file repeats a value");
    }

    let held: Vec<String> =
        sqlx::query_scalar("SELECT episode_id FROM episodes ORDER BY episode_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(held, ["CP-B-1", "CP-B-12", "CP-B-4", "CP-B-8"]);

    // The same rows as Excel's "CSV UTF-8" writes them, with a byte order
    // mark and CRLF line ends: the same line numbers (the csv crate alone
    // counts one short per line with CRLF).
    let lf = std::fs::read(&file).unwrap();
    let mut excel = b"\xEF\xBB\xBF".to_vec();
    for byte in lf {
        if byte == b'\n' {
            excel.push(b'\r');
        }
        excel.push(byte);
    }
    let excel_file = scratch.path("excel.csv");
    std::fs::write(&excel_file, excel).unwrap();
    options.rejects = None;
    let again = import_file(&app.pool, &excel_file, &options)
        .await
        .expect("import runs");
    assert_counts(&again, 12, 0, 4, 8);
    let shown: Vec<String> = again
        .first_rejections
        .iter()
        .map(RowRejection::to_string)
        .collect();
    assert_eq!(shown, expected, "BOM and CRLF");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jsonl_file_takes_data_objects_or_whole_events_with_bad_lines_named() {
    let app = TestApp::spawn(utc(MONDAY)).await;
    let now = utc(MONDAY);
    let scratch = Scratch::new();
    let event = |id: &str, revision: u32, risk: &str| {
        EpisodeSpec {
            revision,
            risk_level: risk,
            ..EpisodeSpec::returned(id, "P-J-1", Some("LCS-J-1"), now - Duration::days(4))
        }
        .event()
    };
    let mut no_status = event("CP-J-4", 1, "low")["data"].clone();
    no_status.as_object_mut().unwrap().remove("status");
    let lines = [
        event("CP-J-1", 2, "low").to_string(), // line 1: whole event
        event("CP-J-2", 1, "high")["data"].to_string(), // line 2: data object
        String::new(),                         // line 3: blank, not a row
        "{\"episode_id\": ".to_owned(),        // line 4
        no_status.to_string(),                 // line 5
        child_record("LCS-J-1", 1, &["P-J-1"], "none").to_string(), // line 6
        event("CP-J-1", 1, "high")["data"].to_string(), // line 7: older, but high
    ];
    let file = scratch.path("history.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let summary = import_file(&app.pool, &file, &options(&app, Format::Jsonl))
        .await
        .expect("import runs");
    assert_counts(&summary, 6, 3, 0, 3);
    let shown: Vec<String> = summary
        .first_rejections
        .iter()
        .map(RowRejection::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "line 4: $: must be valid JSON",
            "line 5: $.status: is required",
            "line 6: $.type: must be police.missing-episode.v1",
        ]
    );
    let held: Vec<(String, i32, bool)> =
        sqlx::query_as("SELECT episode_id, revision, ever_high FROM episodes ORDER BY episode_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        held,
        [
            ("CP-J-1".to_owned(), 2, true),
            ("CP-J-2".to_owned(), 1, true)
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_history_counts_when_the_next_live_episode_arrives() {
    // R1.2 with R7.1: three imported episodes and one live one are four in
    // 30 days; the live event, with no LCS id, finds the child the import
    // linked by police person. The import itself queued and sent nothing.
    let app = TestApp::spawn(utc(MONDAY)).await;
    let now = utc(MONDAY);
    let scratch = Scratch::new();
    let past = [25, 18, 10].map(|days| HistoryRow {
        episode_id: format!("CP-HIST-{days}"),
        revision: 1,
        police: "P-HIST".into(),
        lcs: Some("LCS-HIST".into()),
        family_name: "Family-HIST".into(),
        status: "returned",
        risk_level: "low",
        reported: now - Duration::days(days),
        returned: Some(now - Duration::days(days) + Duration::hours(3)),
    });
    let file = scratch.path("history.csv");
    write_csv(&file, past.iter().map(HistoryRow::cells));
    let summary = import_file(&app.pool, &file, &options(&app, Format::Csv))
        .await
        .expect("import runs");
    assert_counts(&summary, 3, 3, 0, 0);
    assert!(
        app.item("2026-11-18", "LCS-HIST").await.is_none(),
        "import queues no one"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM outbox").await, 0);

    let live = EpisodeSpec::returned("CP-HIST-LIVE", "P-HIST", None, now - Duration::hours(6));
    app.publish(&live.event()).await;
    app.wait_handled(1).await;
    let item = app.item("2026-11-18", "LCS-HIST").await.expect("queued");
    assert_eq!(
        item["top_missing"],
        json!(["CP-HIST-LIVE", "CP-HIST-10", "CP-HIST-18", "CP-HIST-25"])
    );
    let request = &app.take_events("police.trigger-plan-request.v1", 1).await[0]["data"];
    assert_eq!(request["lcs_person_id"], "LCS-HIST");
    assert_eq!(request["police_person_id"], "P-HIST");
    app.assert_no_more("lcs.alert.v1").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_lcs_id_joins_an_unmatched_child_to_the_known_one_as_intake_does() {
    // R7.1: live, P-JN-2 is unmatched and LCS-JN is known by P-JN-1; a
    // history row naming P-JN-2 with LCS-JN folds the two into one child.
    let app = TestApp::spawn(utc(MONDAY)).await;
    let now = utc(MONDAY);
    app.publish(&child_record("LCS-JN", 1, &["P-JN-1"], "none"))
        .await;
    app.publish(&EpisodeSpec::returned("CP-JN-1", "P-JN-2", None, now - Duration::days(2)).event())
        .await;
    app.wait_handled(2).await;
    assert_eq!(count(&app, "SELECT count(*) FROM children").await, 2);

    let scratch = Scratch::new();
    let file = scratch.path("history.csv");
    let row = HistoryRow {
        episode_id: "CP-JN-0".into(),
        revision: 1,
        police: "P-JN-2".into(),
        lcs: Some("LCS-JN".into()),
        family_name: "Family-JN".into(),
        status: "returned",
        risk_level: "medium",
        reported: now - Duration::days(40),
        returned: Some(now - Duration::days(40) + Duration::hours(1)),
    };
    write_csv(&file, [row.cells()]);
    let summary = import_file(&app.pool, &file, &options(&app, Format::Csv))
        .await
        .expect("import runs");
    assert_counts(&summary, 1, 1, 0, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM children").await, 1);
    let linked: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT p.police_person_id, c.lcs_person_id FROM police_persons p JOIN children c USING (child_id)
         ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        linked,
        [
            ("P-JN-1".to_owned(), Some("LCS-JN".to_owned())),
            ("P-JN-2".to_owned(), Some("LCS-JN".to_owned()))
        ]
    );
    app.stop().await;
}
