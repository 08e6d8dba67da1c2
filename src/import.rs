//! `vemt import`: backfills police missing episodes from a CSV export or a
//! JSONL file into the store, with the live intake's semantics (highest
//! revision wins, `ever_high` kept, police persons linked to children as
//! R7.1 says) and none of its effects: no outbox rows, no agenda items. The
//! history counts when each child is next evaluated.
//!
//! Every row is checked by the contract parser itself, so a backfill accepts
//! exactly what the live feed accepts. A refused row is reported by line,
//! field and rule, never by value (R8.4).
//!
//! A reader thread parses while the database writes the previous batch; each
//! batch is one transaction of a few set-based statements, so a run stopped
//! midway keeps whole batches and a second run skips them.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use crate::contract::inbound::{
    InboundPayload, Limits, Rejection, parse_inbound, parse_missing_episode_data,
};
use crate::domain::criteria::Thresholds;
use crate::domain::episode::EpisodeReport;
use crate::store;

/// Rows per transaction. A batch locks the identities it creates or joins
/// (two advisory locks per new police person at most); 1,000 rows keeps that
/// well inside PostgreSQL's shared lock table (64 x max_connections).
pub const DEFAULT_BATCH_ROWS: usize = 1000;

/// Rejections the summary lists; the `--rejects` file gets them all.
pub const SHOWN_REJECTIONS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// `.csv`, or `.jsonl` / `.ndjson`, in any case.
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Format,
    /// Timestamps more than `limits.max_future` after this, and dates of
    /// birth after its day, are refused, as live.
    pub now: DateTime<Utc>,
    /// For merging agenda items when a row joins an unmatched child to a
    /// known one (R7.1), as intake does.
    pub thresholds: Thresholds,
    pub limits: Limits,
    pub batch_rows: usize,
    /// Draw a progress bar on stderr (the caller checks it is a terminal).
    pub progress: bool,
    /// Every rejection, one a line, goes to this file when given.
    pub rejects: Option<PathBuf>,
}

impl ImportOptions {
    pub fn new(format: Format, now: DateTime<Utc>, thresholds: Thresholds) -> Self {
        Self {
            format,
            now,
            thresholds,
            limits: Limits::default(),
            batch_rows: DEFAULT_BATCH_ROWS,
            progress: false,
            rejects: None,
        }
    }
}

/// A refused row: where and which rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRejection {
    pub line: u64,
    /// The CSV column, or the JSON path in a JSONL line.
    pub field: String,
    pub rule: String,
}

impl fmt::Display for RowRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.rule)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Data rows (CSV records after the header, non-blank JSONL lines).
    pub read: u64,
    /// Rows that changed the store: a new episode, a newer revision, or an
    /// older revision graded high that the store had not seen high (R1.1).
    pub imported: u64,
    /// Valid rows the store already held at that revision or newer.
    pub skipped: u64,
    pub rejected: u64,
    /// The first [`SHOWN_REJECTIONS`] rejections, in file order.
    pub first_rejections: Vec<RowRejection>,
    /// CSV header names that are not columns of the import (not read).
    pub ignored_columns: Vec<String>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn rows_per_second(&self) -> f64 {
        self.read as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "read {} rows: {} imported, {} skipped (held at that revision or newer), {} rejected; {:.2} s, {:.0} rows/s",
            self.read,
            self.imported,
            self.skipped,
            self.rejected,
            self.elapsed.as_secs_f64(),
            self.rows_per_second()
        )?;
        if !self.ignored_columns.is_empty() {
            writeln!(f, "columns not read: {}", self.ignored_columns.join(", "))?;
        }
        for rejection in &self.first_rejections {
            writeln!(f, "rejected {rejection}")?;
        }
        if self.rejected > self.first_rejections.len() as u64 {
            writeln!(
                f,
                "... and {} more rejected",
                self.rejected - self.first_rejections.len() as u64
            )?;
        }
        Ok(())
    }
}

/// How a CSV cell becomes the JSON value the contract parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Text,
    /// Digits become a JSON number; anything else stays text, which the
    /// parser refuses with its own rule.
    Integer,
    /// `true` / `false`; anything else stays text, refused likewise.
    Boolean,
}

/// One CSV column: a field of `police.missing-episode.v1` with the `person.`
/// prefix dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub in_person: bool,
    /// As the contract says. Checked on the header so a file that lacks a
    /// whole column fails once, not on every row; a unit test holds this
    /// to the parser's own rules.
    pub required: bool,
    cell: Cell,
}

const fn column(name: &'static str, in_person: bool, required: bool, cell: Cell) -> Column {
    Column {
        name,
        in_person,
        required,
        cell,
    }
}

pub const COLUMNS: [Column; 15] = [
    column("episode_id", false, true, Cell::Text),
    column("revision", false, true, Cell::Integer),
    column("police_person_id", true, true, Cell::Text),
    column("lcs_person_id", true, false, Cell::Text),
    column("given_name", true, true, Cell::Text),
    column("family_name", true, true, Cell::Text),
    column("date_of_birth", true, true, Cell::Text),
    column("gender", true, false, Cell::Text),
    column("status", false, true, Cell::Text),
    column("risk_level", false, true, Cell::Text),
    column("reported_missing_at", false, true, Cell::Text),
    column("last_seen_at", false, false, Cell::Text),
    column("returned_at", false, false, Cell::Text),
    column("missing_from", false, false, Cell::Text),
    column("trigger_plan_in_place", false, false, Cell::Boolean),
];

/// Imports `path` into the store behind `pool`. Fails, keeping the batches
/// already committed, when the file cannot be read, its CSV header lacks a
/// required column, or the database fails; bad rows are counted instead.
pub async fn import_file(
    pool: &PgPool,
    path: &Path,
    options: &ImportOptions,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let bar = progress_bar(options.progress, size)?;
    let (batches, mut received) = mpsc::channel::<Batch>(2);
    let reading = {
        let (path, options) = (path.to_owned(), options.clone());
        tokio::task::spawn_blocking(move || read_file(&path, &options, batches))
    };
    let (mut imported, mut skipped) = (0u64, 0u64);
    while let Some(batch) = received.recv().await {
        let (new, held) = write_batch(pool, &batch.rows, options).await?;
        imported += new;
        skipped += held;
        bar.set_position(batch.end_byte);
        bar.set_message(progress_message(imported, skipped));
    }
    let tally = reading.await.context("the file reader panicked")??;
    bar.finish_and_clear();
    Ok(Summary {
        read: tally.read,
        imported,
        skipped,
        rejected: tally.rejected,
        first_rejections: tally.first_rejections,
        ignored_columns: tally.ignored_columns,
        elapsed: started.elapsed(),
    })
}

fn progress_bar(visible: bool, bytes: u64) -> anyhow::Result<ProgressBar> {
    if !visible {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
    bar.set_style(progress_style()?);
    // The first frame reads as every later one.
    bar.set_message(progress_message(0, 0));
    Ok(bar)
}

/// Fixed widths before the message, so that nothing moves as the counts
/// grow: a wide bar would shrink with every digit the message gains.
const PROGRESS_TEMPLATE: &str = "{elapsed_precise} [{bar:40}] {percent:>3}% eta {eta:>4}  {msg}";

fn progress_style() -> anyhow::Result<ProgressStyle> {
    Ok(ProgressStyle::with_template(PROGRESS_TEMPLATE)
        .context("progress bar template")?
        .progress_chars("=> "))
}

fn progress_message(imported: u64, skipped: u64) -> String {
    format!("{imported} imported, {skipped} skipped")
}

// ---- reading: bytes to checked reports, on a blocking thread ----

struct Row {
    line: u64,
    report: EpisodeReport,
}

struct Batch {
    rows: Vec<Row>,
    /// Where in the file the batch ends, for the progress bar.
    end_byte: u64,
}

#[derive(Default)]
struct Tally {
    read: u64,
    rejected: u64,
    first_rejections: Vec<RowRejection>,
    ignored_columns: Vec<String>,
}

/// Collects checked rows into batches and rejections into the tally.
struct Sink {
    batches: mpsc::Sender<Batch>,
    rows: Vec<Row>,
    batch_rows: usize,
    tally: Tally,
    rejects: Option<BufWriter<File>>,
}

impl Sink {
    fn take(
        &mut self,
        line: u64,
        parsed: Result<EpisodeReport, Refusal>,
        end_byte: u64,
    ) -> anyhow::Result<()> {
        self.tally.read += 1;
        match parsed {
            Ok(report) => {
                self.rows.push(Row { line, report });
                if self.rows.len() >= self.batch_rows {
                    self.send(end_byte)?;
                }
            }
            Err(Refusal { field, rule }) => {
                let rejection = RowRejection { line, field, rule };
                self.tally.rejected += 1;
                if let Some(out) = &mut self.rejects {
                    writeln!(out, "{rejection}").context("writing the rejects file")?;
                }
                if self.tally.first_rejections.len() < SHOWN_REJECTIONS {
                    self.tally.first_rejections.push(rejection);
                }
            }
        }
        Ok(())
    }

    fn send(&mut self, end_byte: u64) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(&mut self.rows, Vec::with_capacity(self.batch_rows));
        // Fails only when the writer has stopped on an error of its own,
        // which the caller reports instead.
        self.batches
            .blocking_send(Batch { rows, end_byte })
            .map_err(|_| anyhow::anyhow!("import stopped"))
    }

    fn finish(mut self, end_byte: u64) -> anyhow::Result<Tally> {
        self.send(end_byte)?;
        if let Some(mut out) = self.rejects.take() {
            out.flush().context("writing the rejects file")?;
        }
        Ok(self.tally)
    }
}

/// Why a row was refused: a CSV column or JSON path, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    field: String,
    rule: String,
}

impl Refusal {
    fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

fn read_file(
    path: &Path,
    options: &ImportOptions,
    batches: mpsc::Sender<Batch>,
) -> anyhow::Result<Tally> {
    let rejects = options
        .rejects
        .as_ref()
        .map(|p| {
            File::create(p)
                .map(BufWriter::new)
                .with_context(|| format!("creating {}", p.display()))
        })
        .transpose()?;
    let mut sink = Sink {
        batches,
        rows: Vec::with_capacity(options.batch_rows),
        batch_rows: options.batch_rows.max(1),
        tally: Tally::default(),
        rejects,
    };
    let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let end = match options.format {
        Format::Csv => read_csv(file, options, &mut sink)?,
        Format::Jsonl => read_jsonl(file, options, &mut sink)?,
    };
    sink.finish(end)
}

/// The byte-offsets of the newlines a reader has passed, shared with the
/// code that numbers records: the csv crate's own line count is one short
/// per record in files with CRLF line ends, so lines are counted here from
/// the bytes themselves, the same way for LF, CRLF and a leading BOM.
#[derive(Clone, Default)]
struct Newlines(std::rc::Rc<std::cell::RefCell<NewlineState>>);

struct NewlineState {
    /// Newlines read ahead but not yet passed by a record: offset, and
    /// whether the line they end is blank (nothing, or a lone CR).
    ahead: std::collections::VecDeque<(u64, bool)>,
    /// Newlines before the last record numbered.
    passed: u64,
    /// Bytes read so far.
    read: u64,
    /// Whether the line being read is blank so far.
    blank: bool,
}

impl Default for NewlineState {
    fn default() -> Self {
        Self {
            ahead: Default::default(),
            passed: 0,
            read: 0,
            blank: true,
        }
    }
}

impl Newlines {
    /// The 1-based line on which a record the csv crate says starts at
    /// `offset` has its first byte. The crate ends a record at a CR, so
    /// with CRLF its next record "starts" at the LF; and blank lines before
    /// a record are counted into it: both are passed over here. Offsets
    /// must not go backwards.
    fn line_at(&self, offset: u64) -> u64 {
        let mut state = self.0.borrow_mut();
        while let Some(&(at, blank)) = state.ahead.front() {
            if at > offset && !blank {
                break;
            }
            state.ahead.pop_front();
            state.passed += 1;
        }
        state.passed + 1
    }
}

/// A reader that records where the newlines are in what it reads.
struct CountingReader<R> {
    inner: R,
    newlines: Newlines,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.newlines.0.borrow_mut();
        let start = state.read;
        for (i, byte) in buf[..n].iter().enumerate() {
            match byte {
                b'\n' => {
                    let blank = state.blank;
                    state.ahead.push_back((start + i as u64, blank));
                    state.blank = true;
                }
                b'\r' => {}
                _ => state.blank = false,
            }
        }
        state.read += n as u64;
        Ok(n)
    }
}

/// The UTF-8 byte order mark some exports (Excel's "CSV UTF-8") begin with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

fn read_csv(
    file: impl std::io::Read,
    options: &ImportOptions,
    sink: &mut Sink,
) -> anyhow::Result<u64> {
    let newlines = Newlines::default();
    let mut input = BufReader::with_capacity(
        1 << 16,
        CountingReader {
            inner: file,
            newlines: newlines.clone(),
        },
    );
    // The BOM is not part of the first column's name. Its bytes are
    // counted in the offsets all the same (the progress bar's total is the
    // file's size).
    let bom = input.fill_buf()?.starts_with(BOM);
    if bom {
        input.consume(BOM.len());
    }
    let skipped = if bom { BOM.len() as u64 } else { 0 };
    let mut reader = csv::ReaderBuilder::new()
        // A short or long row is one bad row, not the end of the import.
        .flexible(true)
        .from_reader(input);
    let header = reader
        .byte_headers()
        .context("line 1: the CSV header cannot be read")?
        .clone();
    let layout = CsvLayout::of(&header)?;
    sink.tally.ignored_columns = layout.ignored.clone();
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader.read_byte_record(&mut record).with_context(|| {
            format!(
                "line {}: the CSV file cannot be read",
                newlines.line_at(reader.position().byte() + skipped)
            )
        })?;
        if !more {
            break;
        }
        let start = record.position().map_or(0, |p| p.byte()) + skipped;
        let line = newlines.line_at(start);
        let parsed = layout.row(&record, options);
        sink.take(line, parsed, reader.position().byte() + skipped)?;
    }
    Ok(reader.position().byte() + skipped)
}

/// Which header position holds which column.
struct CsvLayout {
    columns: Vec<(usize, &'static Column)>,
    width: usize,
    ignored: Vec<String>,
}

impl CsvLayout {
    fn of(header: &csv::ByteRecord) -> anyhow::Result<Self> {
        let mut columns: Vec<(usize, &'static Column)> = Vec::new();
        let mut ignored = Vec::new();
        for (index, raw) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw)
                .map_err(|_| {
                    anyhow::anyhow!("line 1: header: column {} must be valid UTF-8", index + 1)
                })?
                .trim();
            match COLUMNS.iter().find(|c| c.name == name) {
                Some(column) if columns.iter().any(|(_, c)| c.name == name) => {
                    anyhow::bail!("line 1: header: column `{}` must appear once", column.name)
                }
                Some(column) => columns.push((index, column)),
                None => ignored.push(name.to_owned()),
            }
        }
        let missing: Vec<&str> = COLUMNS
            .iter()
            .filter(|c| c.required && !columns.iter().any(|(_, held)| held.name == c.name))
            .map(|c| c.name)
            .collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "line 1: header: required columns missing: {}",
                missing.join(", ")
            );
        }
        Ok(Self {
            columns,
            width: header.len(),
            ignored,
        })
    }

    /// The row as the `data` object of an event, then through the parser.
    fn row(
        &self,
        record: &csv::ByteRecord,
        options: &ImportOptions,
    ) -> Result<EpisodeReport, Refusal> {
        if record.len() != self.width {
            return Err(Refusal::new(
                "row",
                format!(
                    "must have {} fields like the header, not {}",
                    self.width,
                    record.len()
                ),
            ));
        }
        let mut data = Map::new();
        let mut person = Map::new();
        for &(index, column) in &self.columns {
            let raw = record.get(index).unwrap_or_default();
            if raw.is_empty() {
                continue; // absent, as a missing or null JSON field
            }
            let text = std::str::from_utf8(raw)
                .map_err(|_| Refusal::new(column.name, "must be valid UTF-8"))?;
            let value = match column.cell {
                Cell::Integer if text.bytes().all(|b| b.is_ascii_digit()) => text
                    .parse::<u64>()
                    .map_or_else(|_| Value::from(text), Value::from),
                Cell::Boolean if text == "true" => Value::Bool(true),
                Cell::Boolean if text == "false" => Value::Bool(false),
                _ => Value::from(text),
            };
            let target = if column.in_person {
                &mut person
            } else {
                &mut data
            };
            target.insert(column.name.to_owned(), value);
        }
        data.insert("person".to_owned(), Value::Object(person));
        let report = parse_missing_episode_data(&data, options.now, &options.limits).map_err(
            |Rejection { path, rule }| {
                // Flattened columns are unique by their last path segment.
                Refusal::new(path.rsplit('.').next().unwrap_or(&path), rule)
            },
        )?;
        storable(report, "revision")
    }
}

fn read_jsonl(
    file: impl std::io::Read,
    options: &ImportOptions,
    sink: &mut Sink,
) -> anyhow::Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buffer = Vec::new();
    let (mut line, mut offset) = (0u64, 0u64);
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("line {}: the file cannot be read", line + 1))?;
        if read == 0 {
            break;
        }
        line += 1;
        offset += read as u64;
        let mut text = buffer.trim_ascii();
        if line == 1 {
            text = text.strip_prefix(BOM).unwrap_or(text).trim_ascii();
        }
        if text.is_empty() {
            continue;
        }
        sink.take(line, jsonl_row(text, options), offset)?;
    }
    Ok(offset)
}

/// A line is either the `data` object of a `police.missing-episode.v1` or
/// the whole CloudEvent (an object with `specversion`), as `vemt publish`
/// takes; either way the live parser judges it.
fn jsonl_row(line: &[u8], options: &ImportOptions) -> Result<EpisodeReport, Refusal> {
    let limits = &options.limits;
    if line.len() > limits.max_body_bytes {
        return Err(Refusal::new(
            "$",
            format!("line must be at most {} bytes", limits.max_body_bytes),
        ));
    }
    let value: Value =
        serde_json::from_slice(line).map_err(|_| Refusal::new("$", "must be valid JSON"))?;
    let Value::Object(map) = &value else {
        return Err(Refusal::new("$", "must be a JSON object"));
    };
    let refused = |Rejection { path, rule }| Refusal::new(path, rule);
    if !map.contains_key("specversion") {
        let report = parse_missing_episode_data(map, options.now, limits).map_err(refused)?;
        return storable(report, "$.revision");
    }
    let event = parse_inbound(line, options.now, limits).map_err(refused)?;
    match event.payload {
        InboundPayload::MissingEpisode(report) => storable(report, "$.data.revision"),
        _ => Err(Refusal::new("$.type", "must be police.missing-episode.v1")),
    }
}

/// The store keeps revisions as PostgreSQL `integer`.
fn storable(report: EpisodeReport, revision_field: &str) -> Result<EpisodeReport, Refusal> {
    if i32::try_from(report.revision).is_err() {
        return Err(Refusal::new(
            revision_field,
            format!("must be at most {}", i32::MAX),
        ));
    }
    Ok(report)
}

// ---- writing: one transaction per batch ----

async fn write_batch(
    pool: &PgPool,
    rows: &[Row],
    options: &ImportOptions,
) -> anyhow::Result<(u64, u64)> {
    let mut retries = crate::retry::import_batch();
    loop {
        let mut tx = pool.begin().await?;
        let written = apply_rows(&mut tx, rows, options).await;
        let outcome = match written {
            Ok(counts) => tx.commit().await.map(|()| counts).map_err(Into::into),
            Err(err) => Err(err),
        };
        match outcome {
            Ok(counts) => return Ok(counts),
            // A deadlock or a dropped connection: the batch is whole or
            // absent, so it can run again.
            Err(err)
                if crate::intake::is_transient_error(&err)
                    || err.is::<store::batch::Vanished>() =>
            {
                match retries.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => {
                        return Err(err.context(format!(
                            "importing the batch from line {} (database unavailable)",
                            rows[0].line
                        )));
                    }
                }
            }
            Err(err) => {
                return Err(err.context(format!("importing the batch from line {}", rows[0].line)));
            }
        }
    }
}

/// The live unit of work's read, decide and write (`process`), with the
/// history's rule (`process::backfill_episode`): identities linked as R7.1
/// says, the highest revision kept (R8.2), no effect. Returns (rows
/// imported, rows skipped).
async fn apply_rows(
    conn: &mut PgConnection,
    rows: &[Row],
    options: &ImportOptions,
) -> anyhow::Result<(u64, u64)> {
    let mut wanted = store::batch::Wanted {
        history: true,
        ..Default::default()
    };
    for row in rows {
        wanted.add_episode(&row.report);
    }
    store::batch::lock(conn, &wanted.lock_keys()).await?;
    let mut state = store::batch::load(conn, &wanted).await?;
    let mut imported = 0;
    for row in rows {
        let changed = changed_at(&row.report, options.now);
        if crate::process::backfill_episode(
            &mut state,
            &options.thresholds,
            &row.report,
            changed,
            options.now,
        )? {
            imported += 1;
        }
    }
    store::batch::save(conn, &state, &[], options.now).await?;
    Ok((imported, rows.len() as u64 - imported))
}

/// When an imported row last changed the episode, as far as the row can
/// tell: its return, else its report (never after the import). Stamping
/// the import time instead would make years of history look "updated since
/// the last review" (R2.1) and put every reviewed child's old high-risk or
/// long episodes back in view.
fn changed_at(report: &EpisodeReport, now: DateTime<Utc>) -> DateTime<Utc> {
    report
        .returned_at
        .map_or(report.reported_missing_at, |r| {
            r.max(report.reported_missing_at)
        })
        .min(now)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::domain::episode::RiskLevel;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 16, 9, 0, 0).unwrap()
    }

    fn options() -> ImportOptions {
        ImportOptions::new(Format::Csv, now(), Thresholds::default())
    }

    fn header() -> csv::ByteRecord {
        csv::ByteRecord::from(COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>())
    }

    /// A valid row, as cells in `COLUMNS` order.
    fn cells() -> Vec<String> {
        [
            "CP-1",
            "2",
            "P-1",
            "LCS-1",
            "Testchild",
            "Example",
            "2012-01-02",
            "female",
            "returned",
            "high",
            "2026-11-10T20:00:00Z",
            "2026-11-10T18:00:00Z",
            "2026-11-11T08:00:00+01:00",
            "care",
            "true",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn parse_cells(cells: &[String]) -> Result<EpisodeReport, Refusal> {
        let layout = CsvLayout::of(&header()).expect("header");
        layout.row(&csv::ByteRecord::from(cells.to_vec()), &options())
    }

    fn with(column: &str, value: &str) -> Vec<String> {
        let mut row = cells();
        let at = COLUMNS
            .iter()
            .position(|c| c.name == column)
            .expect("column");
        row[at] = value.to_owned();
        row
    }

    #[test]
    fn a_csv_row_reads_as_the_same_event_data() {
        let report = parse_cells(&cells()).expect("valid row");
        assert_eq!(report.episode_id.as_str(), "CP-1");
        assert_eq!(report.revision, 2);
        assert_eq!(
            report.person.lcs_person_id.as_ref().map(|l| l.as_str()),
            Some("LCS-1")
        );
        assert_eq!(report.risk_level, RiskLevel::High);
        assert_eq!(report.trigger_plan_in_place, Some(true));
        assert_eq!(
            report.returned_at.map(|r| r.to_rfc3339()),
            Some("2026-11-11T07:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn required_columns_agree_with_the_contract_parser() {
        // An empty cell is an absent field: the parser must refuse exactly
        // the columns marked required, naming the column.
        for column in COLUMNS {
            let mut row = with(column.name, "");
            if column.name == "returned_at" {
                row = with("status", "cancelled");
                row[COLUMNS
                    .iter()
                    .position(|c| c.name == "returned_at")
                    .unwrap()] = String::new();
            }
            let parsed = parse_cells(&row);
            if column.required {
                assert_eq!(
                    parsed,
                    Err(Refusal::new(column.name, "is required")),
                    "{}",
                    column.name
                );
            } else {
                assert!(parsed.is_ok(), "{} is optional: {parsed:?}", column.name);
            }
        }
    }

    #[test]
    fn bad_cells_are_refused_by_the_live_rules_naming_the_column_not_the_value() {
        let cases = [
            ("revision", "0", "must be an integer >= 1"),
            ("revision", "two", "must be an integer >= 1"),
            ("revision", "2147483648", "must be at most 2147483647"),
            ("date_of_birth", "04/03/2011", "must be a date YYYY-MM-DD"),
            (
                "risk_level",
                "severe",
                "must be one of: high, medium, low, no_apparent_risk, absent, very_low",
            ),
            (
                "reported_missing_at",
                "2026-11-10 20:00",
                "must be an RFC 3339 timestamp with an offset",
            ),
            (
                "returned_at",
                "2026-11-10T19:00:00Z",
                "must be at or after reported_missing_at when status is returned",
            ),
            ("trigger_plan_in_place", "yes", "must be a boolean"),
            (
                "police_person_id",
                "P 1",
                "must not contain whitespace or control characters",
            ),
        ];
        for (column, value, rule) in cases {
            let refused = parse_cells(&with(column, value)).expect_err(column);
            assert_eq!(refused, Refusal::new(column, rule), "{column}");
            assert!(
                !refused.rule.contains(value),
                "{column}: the rule repeats the value"
            );
        }
    }

    #[test]
    fn a_row_of_the_wrong_width_is_one_bad_row() {
        let mut row = cells();
        row.pop();
        assert_eq!(
            parse_cells(&row),
            Err(Refusal::new(
                "row",
                "must have 15 fields like the header, not 14"
            ))
        );
    }

    #[test]
    fn a_header_without_a_required_column_fails_naming_it_and_extra_columns_are_listed() {
        let header = csv::ByteRecord::from(vec!["episode_id", "revision", "address"]);
        let err = CsvLayout::of(&header).err().expect("refused").to_string();
        assert!(
            err.starts_with(
                "line 1: header: required columns missing: police_person_id, given_name"
            ),
            "{err}"
        );
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        names.push("address");
        let layout = CsvLayout::of(&csv::ByteRecord::from(names)).expect("extra column ignored");
        assert_eq!(layout.ignored, ["address"]);
        let twice = csv::ByteRecord::from(
            COLUMNS
                .iter()
                .map(|c| c.name)
                .chain(["status"])
                .collect::<Vec<_>>(),
        );
        let err = CsvLayout::of(&twice).err().expect("refused").to_string();
        assert_eq!(err, "line 1: header: column `status` must appear once");
    }

    #[test]
    fn a_jsonl_line_is_the_data_object_or_the_whole_cloud_event() {
        let data = serde_json::json!({
            "episode_id": "CP-9", "revision": 1,
            "person": { "police_person_id": "P-9", "given_name": "Testchild", "family_name": "Example", "date_of_birth": "2012-01-02" },
            "status": "open", "reported_missing_at": "2026-11-10T20:00:00Z", "risk_level": "absent"
        });
        let line = serde_json::to_vec(&data).unwrap();
        let report = jsonl_row(&line, &options()).expect("data object");
        assert_eq!(report.risk_level, RiskLevel::NoApparentRisk);
        let event = serde_json::json!({
            "specversion": "1.0", "id": "e-1", "source": "urn:test", "type": "police.missing-episode.v1", "data": data
        });
        let from_event =
            jsonl_row(&serde_json::to_vec(&event).unwrap(), &options()).expect("event");
        assert_eq!(from_event, report);

        let mut other = event.clone();
        other["type"] = "lcs.child.v1".into();
        assert_eq!(
            jsonl_row(&serde_json::to_vec(&other).unwrap(), &options()).map(|_| ()),
            Err(Refusal::new("$.data.lcs_person_id", "is required")),
            "the live parser judges the event first"
        );
        let mut no_family = data.clone();
        no_family["person"]
            .as_object_mut()
            .unwrap()
            .remove("family_name");
        assert_eq!(
            jsonl_row(&serde_json::to_vec(&no_family).unwrap(), &options()),
            Err(Refusal::new("$.person.family_name", "is required"))
        );
        assert_eq!(
            jsonl_row(b"{\"episode_id\": \"CP-", &options()),
            Err(Refusal::new("$", "must be valid JSON"))
        );
        assert_eq!(
            jsonl_row(b"[1]", &options()),
            Err(Refusal::new("$", "must be a JSON object"))
        );
    }

    #[test]
    fn format_comes_from_the_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/history.CSV")),
            Some(Format::Csv)
        );
        assert_eq!(Format::from_path(Path::new("h.jsonl")), Some(Format::Jsonl));
        assert_eq!(
            Format::from_path(Path::new("h.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("h.txt")), None);
        assert_eq!(Format::from_path(Path::new("history")), None);
    }

    #[test]
    fn changed_at_is_the_rows_own_latest_time_never_after_the_import() {
        let report = parse_cells(&cells()).unwrap();
        assert_eq!(changed_at(&report, now()), report.returned_at.unwrap());
        let open = parse_cells(&{
            let mut row = with("status", "open");
            row[COLUMNS
                .iter()
                .position(|c| c.name == "returned_at")
                .unwrap()] = String::new();
            row
        })
        .unwrap();
        assert_eq!(changed_at(&open, now()), open.reported_missing_at);
        let early = open.reported_missing_at - chrono::Duration::hours(1);
        assert_eq!(changed_at(&open, early), early);
    }

    /// The rejections of reading `bytes` (every row here is refused, so no
    /// batch is sent).
    fn rejections_of(bytes: &[u8], format: Format) -> Vec<String> {
        let (batches, _held) = mpsc::channel(8);
        let options = ImportOptions::new(
            format,
            chrono::Utc::now(),
            crate::domain::criteria::Thresholds::default(),
        );
        let mut sink = Sink {
            batches,
            rows: Vec::new(),
            batch_rows: 1000,
            tally: Tally::default(),
            rejects: None,
        };
        let end = match format {
            Format::Csv => read_csv(bytes, &options, &mut sink).unwrap(),
            Format::Jsonl => read_jsonl(bytes, &options, &mut sink).unwrap(),
        };
        assert_eq!(
            end,
            bytes.len() as u64,
            "the whole file, for the progress bar"
        );
        let tally = sink.finish(end).unwrap();
        tally
            .first_rejections
            .iter()
            .map(|r| format!("{}: {}", r.line, r.field))
            .collect()
    }

    /// The same file with LF, CRLF, BOM + LF and BOM + CRLF: the same lines.
    fn four_ways(lines: &[&str]) -> Vec<(&'static str, Vec<u8>)> {
        let mut out = Vec::new();
        for (name, bom, end) in [
            ("LF", false, "\n"),
            ("CRLF", false, "\r\n"),
            ("BOM+LF", true, "\n"),
            ("BOM+CRLF", true, "\r\n"),
        ] {
            let mut bytes = if bom { BOM.to_vec() } else { Vec::new() };
            for line in lines {
                bytes.extend_from_slice(line.as_bytes());
                bytes.extend_from_slice(end.as_bytes());
            }
            out.push((name, bytes));
        }
        out
    }

    #[test]
    fn csv_rejections_name_the_right_line_with_lf_crlf_and_a_bom() {
        let header: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        let header = header.join(",");
        let mut good = cells();
        let good_row = good.join(",");
        good[0] = "\"CP-\nTWO-LINES\"".into();
        let split_row = good.join(",");
        let lines = [
            header.as_str(),
            "short,row",         // line 2
            good_row.as_str(),   // line 3: a good row would be sent...
            split_row.as_str(),  // lines 4-5: a quoted field over two lines
            "another,short,row", // line 6
            "",                  // line 7: blank, skipped by csv
            "last,short",        // line 8
        ];
        for (name, bytes) in four_ways(&lines) {
            let shown = rejections_of(&bytes, Format::Csv);
            assert_eq!(
                shown,
                ["2: row", "4: episode_id", "6: row", "8: row"],
                "{name}"
            );
        }
    }

    #[test]
    fn jsonl_rejections_name_the_right_line_with_lf_crlf_and_a_bom() {
        let lines = [
            "{\"episode_id\": \"CP-1\"}",
            "not json",
            "",
            "{\"type\": 3}",
        ];
        for (name, bytes) in four_ways(&lines) {
            let shown = rejections_of(&bytes, Format::Jsonl);
            assert_eq!(shown.len(), 3, "{name}: {shown:?}");
            assert!(
                shown[0].starts_with("1: $."),
                "{name}: the BOM is not JSON: {shown:?}"
            );
            assert_eq!(&shown[1], "2: $", "{name}");
            assert!(shown[2].starts_with("4: "), "{name}: {shown:?}");
        }
    }

    #[test]
    fn the_progress_bar_starts_with_its_counts_and_keeps_its_width() {
        progress_style().expect("the template is valid");
        assert!(!PROGRESS_TEMPLATE.contains("wide_"), "a fixed-width bar");
        let msg = PROGRESS_TEMPLATE.find("{msg}").unwrap();
        assert!(
            PROGRESS_TEMPLATE[msg..].trim_end() == "{msg}",
            "the growing message is last"
        );
        assert!(progress_bar(false, 10).unwrap().is_hidden());
        let bar = ProgressBar::with_draw_target(Some(10), ProgressDrawTarget::hidden());
        bar.set_style(progress_style().unwrap());
        bar.set_message(progress_message(0, 0));
        assert_eq!(bar.message(), "0 imported, 0 skipped");
    }
}
