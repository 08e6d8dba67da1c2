//! Agendas as text: CSV for systems and spreadsheets, a plain table for
//! terminals, and the wording both share with the printable page. Pure
//! functions of an `Agenda`; the HTTP routes and the `agenda` command use
//! the same ones.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::agenda::{Agenda, AgendaEpisode, AgendaItem};
use crate::domain::child::Vemt;
use crate::domain::criteria::{Criterion, Thresholds};
use crate::domain::vpg::{VpgIdentity, VpgMonthlyAgenda, VpgWeeklyAgenda};

/// What wording and times depend on: the council's time zone and the
/// configured criteria.
#[derive(Debug, Clone, Copy)]
pub struct Presentation {
    pub timezone: Tz,
    pub thresholds: Thresholds,
}

/// A criterion as a person reads it, with the configured numbers.
pub fn criterion_label(criterion: Criterion, thresholds: &Thresholds) -> String {
    let t = thresholds;
    match criterion {
        Criterion::HighRisk => "High risk episode".into(),
        Criterion::TopMissing => format!(
            "Top missing ({}+ in {} days)",
            t.top_missing.count, t.top_missing.days
        ),
        Criterion::FrequentMissing => format!(
            "Frequently missing ({}+ in {} days)",
            t.frequent_missing.count, t.frequent_missing.days
        ),
        Criterion::FrequentNoApparentRisk => format!(
            "Frequent no-apparent-risk episodes ({}+ in {} days)",
            t.frequent_no_apparent_risk.count, t.frequent_no_apparent_risk.days
        ),
        Criterion::ActiveVemtCase => "Active VEMT case".into(),
        Criterion::Over72Hours => format!("Missing over {} hours", t.over_hours),
        Criterion::Live => "Currently missing".into(),
    }
}

/// "Wednesday 25 November 2026".
pub fn long_date(date: NaiveDate) -> String {
    date.format("%A %-d %B %Y").to_string()
}

/// "Tue 24 Nov 2026 12:00 GMT", on the council's clock.
pub fn local_time(at: DateTime<Utc>, timezone: Tz) -> String {
    at.with_timezone(&timezone)
        .format("%a %-d %b %Y %H:%M %Z")
        .to_string()
}

/// "Missing children review — Wednesday 25 November 2026".
pub fn title(agenda: &Agenda) -> String {
    format!(
        "Missing children review \u{2014} {}",
        long_date(agenda.meeting_date)
    )
}

// ---- CSV ----

/// The CSV columns, one row per listed episode per child.
pub const CSV_COLUMNS: [&str; 20] = [
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
];

/// RFC 4180 CSV with CRLF line ends: one row per episode per child, and one
/// row (episode columns empty) for a child with no listed episode. Times
/// are RFC 3339 in UTC, for machines.
pub fn csv(agenda: &Agenda) -> String {
    let mut rows = vec![CSV_COLUMNS.map(str::to_owned).to_vec()];
    for item in &agenda.items {
        if item.episodes.is_empty() {
            rows.push(csv_cells(agenda, item, None).to_vec());
        }
        for episode in &item.episodes {
            rows.push(csv_cells(agenda, item, Some(episode)).to_vec());
        }
    }
    csv_document(rows)
}

/// Rows written by the `csv` crate (RFC 4180, CRLF), every cell through
/// the formula guard first.
pub fn csv_document(rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(Vec::new());
    for row in rows {
        writer
            .write_record(row.iter().map(|cell| neutralise(cell).into_owned()))
            .expect("writing CSV to memory cannot fail");
    }
    let bytes = writer
        .into_inner()
        .expect("writing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
}

/// A data-quality flag list for a CSV cell: `flag:evidence+evidence` joined
/// by spaces.
pub fn flags_cell(issues: &[crate::domain::quality::DataQualityIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("{}:{}", i.flag.as_str(), i.evidence.join("+")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn csv_cells(agenda: &Agenda, item: &AgendaItem, episode: Option<&AgendaEpisode>) -> [String; 20] {
    let rfc3339 = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let joined = |ids: Vec<&str>| ids.join(" ");
    let e = episode;
    [
        agenda.meeting_date.to_string(),
        item.family_name.clone(),
        item.given_name.clone(),
        item.date_of_birth.to_string(),
        item.lcs_person_id
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
        joined(
            item.police_person_ids
                .iter()
                .map(|id| id.as_str())
                .collect(),
        ),
        item.vemt_status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        item.early_help.to_string(),
        joined(item.criteria.iter().map(|c| c.as_str()).collect()),
        item.last_reviewed
            .as_ref()
            .map(|r| r.date.to_string())
            .unwrap_or_default(),
        item.last_reviewed
            .as_ref()
            .and_then(|r| r.outcome.clone())
            .unwrap_or_default(),
        e.map(|e| e.episode_id.as_str().to_owned())
            .unwrap_or_default(),
        e.map(|e| rfc3339(e.reported_missing_at))
            .unwrap_or_default(),
        e.and_then(|e| e.returned_at)
            .map(rfc3339)
            .unwrap_or_default(),
        e.map(|e| format!("{:.1}", e.duration_hours))
            .unwrap_or_default(),
        e.map(|e| e.risk_level.as_str().to_owned())
            .unwrap_or_default(),
        e.map(|e| e.status.as_str().to_owned()).unwrap_or_default(),
        e.map(|e| e.rhi_not_offered_within_72_hours.to_string())
            .unwrap_or_default(),
        item.trigger_plan
            .as_ref()
            .map(|p| p.url.clone())
            .unwrap_or_default(),
        flags_cell(&item.data_quality),
    ]
}

/// A cell a spreadsheet would run as a formula (starting with `=` `+` `-`
/// `@`, tab or CR: names and outcomes are partner input) gets a leading
/// `'`; quoting is the `csv` crate's.
pub fn neutralise(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{raw}"))
    } else {
        std::borrow::Cow::Borrowed(raw)
    }
}

/// One cell as it appears in a document: guarded, then quoted per RFC 4180
/// when it holds `,` `"` CR or LF.
pub fn csv_cell(raw: &str) -> String {
    let document = csv_document([vec![raw.to_owned(), String::new()]]);
    document
        .strip_suffix(",\r\n")
        .unwrap_or(&document)
        .to_owned()
}

// ---- the VPG agendas (issue 11) ----

/// The weekly VPG CSV columns: one row per child per section, and per
/// listed episode in the MISSING section.
pub const VPG_WEEKLY_COLUMNS: [&str; 20] = [
    "meeting_date",
    "section",
    "lcs_person_id",
    "family_name",
    "given_name",
    "date_of_birth",
    "police_person_ids",
    "vemt_status",
    "vemt_category",
    "vemt_risk_level",
    "m1_meeting_date",
    "m1_outcome",
    "episode_id",
    "reported_missing_at",
    "returned_at",
    "duration_hours",
    "risk_level",
    "status",
    "rhi_not_offered_within_72_hours",
    "preview",
];

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The columns that name a child on both VPG agendas' CSV: LCS id, family
/// name, given name, date of birth, police person ids.
fn identity_cells(i: &VpgIdentity) -> [String; 5] {
    [
        i.lcs_person_id.as_str().into(),
        i.family_name.clone(),
        i.given_name.clone(),
        i.date_of_birth.to_string(),
        i.police_person_ids
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    ]
}
/// The weekly VPG agenda as CSV (RFC 4180, CRLF, formula guard).
pub fn vpg_weekly_csv(agenda: &VpgWeeklyAgenda, preview: bool) -> String {
    let date = agenda.meeting_date.to_string();
    let s = &agenda.sections;
    let mut rows = vec![VPG_WEEKLY_COLUMNS.map(str::to_owned).to_vec()];
    let blank = |n: usize| vec![String::new(); n];
    for (section, outcomes) in [
        ("m1_outcomes", &s.m1_outcomes),
        ("referred_by_m1", &s.referred_by_m1),
    ] {
        for o in outcomes {
            let mut row = vec![
                date.clone(),
                section.into(),
                o.lcs_person_id.as_str().into(),
            ];
            row.extend(blank(7));
            row.extend([o.meeting_date.to_string(), o.outcome.clone()]);
            row.extend(blank(7));
            row.push(preview.to_string());
            rows.push(row);
        }
    }
    let who = |section: &str, i: &VpgIdentity, v: &Vemt| -> Vec<String> {
        vec![date.clone(), section.into()]
            .into_iter()
            .chain(identity_cells(i))
            .chain([
                v.status.as_str().into(),
                v.category
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                v.risk_level
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
                String::new(),
                String::new(),
            ])
            .collect()
    };
    for c in &s.missing_category {
        if c.episodes.is_empty() {
            let mut row = who("missing_category", &c.identity, &c.vemt);
            row.extend(blank(7));
            row.push(preview.to_string());
            rows.push(row);
        }
        for e in &c.episodes {
            let mut row = who("missing_category", &c.identity, &c.vemt);
            row.extend([
                e.episode_id.as_str().to_owned(),
                rfc3339(e.reported_missing_at),
                e.returned_at.map(rfc3339).unwrap_or_default(),
                format!("{:.1}", e.duration_hours),
                e.risk_level.as_str().to_owned(),
                e.status.as_str().to_owned(),
                e.rhi_not_offered_within_72_hours.to_string(),
                preview.to_string(),
            ]);
            rows.push(row);
        }
    }
    for (section, children) in [
        ("new_referrals", &s.new_referrals),
        ("deferred", &s.deferred),
    ] {
        for c in children {
            let mut row = who(section, &c.identity, &c.vemt);
            row.extend(blank(7));
            row.push(preview.to_string());
            rows.push(row);
        }
    }
    csv_document(rows)
}

/// The monthly VPG CSV columns: one row per outstanding action per child,
/// and one row for a child with none.
pub const VPG_MONTHLY_COLUMNS: [&str; 17] = [
    "meeting_date",
    "lcs_person_id",
    "family_name",
    "given_name",
    "date_of_birth",
    "police_person_ids",
    "vemt_category",
    "vemt_risk_level",
    "turns_18_on",
    "may_fit_stage",
    "stage_unmet",
    "flags",
    "action_meeting_date",
    "action_owner_role",
    "action_description",
    "outstanding_actions",
    "preview",
];

/// The monthly VPG agenda as CSV (RFC 4180, CRLF, formula guard).
pub fn vpg_monthly_csv(agenda: &VpgMonthlyAgenda, preview: bool) -> String {
    let mut rows = vec![VPG_MONTHLY_COLUMNS.map(str::to_owned).to_vec()];
    for item in &agenda.items {
        let i = &item.identity;
        let mut base = vec![agenda.meeting_date.to_string()];
        base.extend(identity_cells(i));
        base.extend([
            item.vemt
                .category
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            item.vemt
                .risk_level
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            item.turns_18_on.map(|d| d.to_string()).unwrap_or_default(),
            item.may_fit_stage.to_string(),
            item.stage_unmet
                .iter()
                .map(|u| u.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            item.flags
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ]);
        let count = item.outstanding_actions.len().to_string();
        if item.outstanding_actions.is_empty() {
            let mut row = base.clone();
            row.extend([
                String::new(),
                String::new(),
                String::new(),
                count.clone(),
                preview.to_string(),
            ]);
            rows.push(row);
        }
        for a in &item.outstanding_actions {
            let mut row = base.clone();
            row.extend([
                a.meeting_date.to_string(),
                a.assignee_role
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
                a.description.clone(),
                count.clone(),
                preview.to_string(),
            ]);
            rows.push(row);
        }
    }
    csv_document(rows)
}

// ---- terminal table ----

/// A plain-text table for a terminal: one line per child with name, date
/// of birth, criteria and the number of listed episodes. Control
/// characters in partner input are shown as `?`, so a name cannot drive
/// the terminal.
pub fn table(agenda: &Agenda, presentation: &Presentation) -> String {
    let status = match agenda.collated_at {
        Some(at) => format!("collated {}", local_time(at, presentation.timezone)),
        None => format!(
            "preview; collation due {}",
            local_time(agenda.collation_at, presentation.timezone)
        ),
    };
    let mut out = format!("{} ({status})\n", title(agenda));
    let header = [
        "NAME".to_owned(),
        "DATE OF BIRTH".to_owned(),
        "CRITERIA".to_owned(),
        "EPISODES".to_owned(),
    ];
    let rows: Vec<[String; 4]> = agenda
        .items
        .iter()
        .map(|item| {
            [
                printable(&format!("{}, {}", item.family_name, item.given_name)),
                item.date_of_birth.to_string(),
                item.criteria
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                item.episodes.len().to_string(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let children = agenda.items.len();
    out.push_str(&format!(
        "{children} {}\n",
        if children == 1 { "child" } else { "children" }
    ));
    out
}

/// Lines of `(name, dob, detail)` under a heading, for a terminal.
fn section_lines(out: &mut String, heading: &str, rows: &[[String; 3]]) {
    out.push_str(&format!("\n{heading} ({})\n", rows.len()));
    if rows.is_empty() {
        out.push_str("  none\n");
    }
    let width = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
    for [name, dob, detail] in rows {
        let line = format!("  {name:<width$}  {dob}  {detail}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn vpg_status(published: Option<DateTime<Utc>>, p: &Presentation) -> String {
    match published {
        Some(at) => format!("published {}", local_time(at, p.timezone)),
        None => "preview; not yet published".to_owned(),
    }
}

fn name(i: &VpgIdentity) -> String {
    printable(&format!("{}, {}", i.family_name, i.given_name))
}

/// The weekly VPG agenda for a terminal: a heading per section, a line per
/// child (control characters shown as `?`).
pub fn vpg_weekly_table(
    agenda: &VpgWeeklyAgenda,
    published: Option<DateTime<Utc>>,
    p: &Presentation,
) -> String {
    let s = &agenda.sections;
    let mut out = format!(
        "Weekly VPG meeting \u{2014} {} ({})\n",
        long_date(agenda.meeting_date),
        vpg_status(published, p)
    );
    let outcome_rows = |rows: &[crate::domain::vpg::M1Outcome]| -> Vec<[String; 3]> {
        rows.iter()
            .map(|o| {
                [
                    o.lcs_person_id.as_str().to_owned(),
                    o.meeting_date.to_string(),
                    printable(&o.outcome),
                ]
            })
            .collect()
    };
    section_lines(&mut out, "M1 outcomes", &outcome_rows(&s.m1_outcomes));
    section_lines(&mut out, "Referred by M1", &outcome_rows(&s.referred_by_m1));
    let missing: Vec<[String; 3]> = s
        .missing_category
        .iter()
        .map(|c| {
            [
                name(&c.identity),
                c.identity.date_of_birth.to_string(),
                format!("{} episodes", c.episodes.len()),
            ]
        })
        .collect();
    section_lines(&mut out, "Missing category: active cases", &missing);
    let cases = |rows: &[crate::domain::vpg::WeeklyChild]| -> Vec<[String; 3]> {
        rows.iter()
            .map(|c| {
                [
                    name(&c.identity),
                    c.identity.date_of_birth.to_string(),
                    c.vemt.category.map(|c| c.as_str()).unwrap_or("").to_owned(),
                ]
            })
            .collect()
    };
    section_lines(&mut out, "New referrals", &cases(&s.new_referrals));
    section_lines(&mut out, "Deferred", &cases(&s.deferred));
    out
}

/// The monthly VPG agenda for a terminal.
pub fn vpg_monthly_table(
    agenda: &VpgMonthlyAgenda,
    published: Option<DateTime<Utc>>,
    p: &Presentation,
) -> String {
    let mut out = format!(
        "Monthly VPG meeting \u{2014} {} ({})\n",
        long_date(agenda.meeting_date),
        vpg_status(published, p)
    );
    let all: Vec<[String; 3]> = agenda
        .items
        .iter()
        .map(|i| {
            let flags: Vec<&str> = i.flags.iter().map(|f| f.as_str()).collect();
            [
                name(&i.identity),
                i.identity.date_of_birth.to_string(),
                format!(
                    "{} actions outstanding{}{}",
                    i.outstanding_actions.len(),
                    if flags.is_empty() { "" } else { "; " },
                    flags.join(", ")
                ),
            ]
        })
        .collect();
    section_lines(&mut out, "Every active case", &all);
    out
}

fn printable(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::agenda::{AgendaRhi, LastReviewed, ReviewMeeting, TriggerPlanRef};
    use crate::domain::child::{RhiStatus, VemtStatus};
    use crate::domain::episode::{EpisodeStatus, RiskLevel};
    use crate::domain::ids::{EpisodeId, LcsPersonId, PolicePersonId, RhiId};
    use crate::domain::quality::{DataQualityFlag, DataQualityIssue};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    pub(crate) fn presentation() -> Presentation {
        Presentation {
            timezone: chrono_tz::Europe::London,
            thresholds: Thresholds::default(),
        }
    }

    /// Two children: one with partner text that needs escaping everywhere,
    /// one with no listed episode.
    pub(crate) fn sample() -> Agenda {
        let episode = AgendaEpisode {
            episode_id: EpisodeId::parse("CP-1").unwrap(),
            reported_missing_at: utc("2026-11-20T14:00:00Z"),
            returned_at: Some(utc("2026-11-21T02:30:00Z")),
            duration_hours: 12.5,
            risk_level: RiskLevel::High,
            status: EpisodeStatus::Returned,
            rhi_not_offered_within_72_hours: true,
        };
        let tricky = AgendaItem {
            lcs_person_id: Some(LcsPersonId::parse("LCS-1").unwrap()),
            police_person_ids: vec![
                PolicePersonId::parse("P-1").unwrap(),
                PolicePersonId::parse("P-2").unwrap(),
            ],
            given_name: "Ann \"Nan\"".into(),
            family_name: "=O'Brien, <b>".into(),
            date_of_birth: NaiveDate::from_ymd_opt(2011, 3, 4).unwrap(),
            vemt_status: Some(VemtStatus::Active),
            early_help: true,
            criteria: vec![Criterion::HighRisk, Criterion::TopMissing],
            evidence: BTreeMap::new(),
            last_reviewed: Some(LastReviewed {
                date: NaiveDate::from_ymd_opt(2026, 11, 18).unwrap(),
                meeting: ReviewMeeting::MissingReview,
                outcome: Some("line one\nline two".into()),
            }),
            episodes: vec![episode],
            return_home_interviews: vec![AgendaRhi {
                rhi_id: RhiId::parse("RHI-1").unwrap(),
                episode_id: EpisodeId::parse("CP-1").unwrap(),
                status: RhiStatus::Declined,
                offered_at: Some(utc("2026-11-25T09:00:00Z")),
                completed_at: None,
            }],
            trigger_plan: Some(TriggerPlanRef {
                plan_id: "TP-1".into(),
                version: 2,
                url: "https://docs.example.org/plans/TP-1?a=1&b=2".into(),
            }),
            data_quality: vec![DataQualityIssue {
                flag: DataQualityFlag::InterviewCompletedBeforeReturn,
                evidence: vec!["RHI-1".into(), "CP-1".into()],
            }],
        };
        let quiet = AgendaItem {
            lcs_person_id: None,
            police_person_ids: vec![PolicePersonId::parse("P-9").unwrap()],
            given_name: "Bea".into(),
            family_name: "Quiet\u{1b}[2J".into(),
            date_of_birth: NaiveDate::from_ymd_opt(2012, 1, 2).unwrap(),
            vemt_status: None,
            early_help: false,
            criteria: vec![Criterion::ActiveVemtCase],
            evidence: BTreeMap::new(),
            last_reviewed: None,
            episodes: vec![],
            return_home_interviews: vec![],
            trigger_plan: None,
            data_quality: vec![],
        };
        Agenda {
            meeting_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            meeting_at: utc("2026-11-25T10:00:00Z"),
            collation_at: utc("2026-11-24T12:00:00Z"),
            collated_at: None,
            items: vec![tricky, quiet],
        }
    }

    #[test]
    fn cells_are_quoted_per_rfc_4180_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@cmd"), "'@cmd");
        assert_eq!(csv_cell("=a,b"), "\"'=a,b\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn csv_has_a_row_per_episode_and_one_for_a_child_without_episodes() {
        let text = csv(&sample());
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert!(text.contains(
            "2026-11-25,\"'=O'Brien, <b>\",\"Ann \"\"Nan\"\"\",2011-03-04,LCS-1,P-1 P-2,active,true,high_risk top_missing,2026-11-18,\"line one\nline two\",CP-1,2026-11-20T14:00:00Z,2026-11-21T02:30:00Z,12.5,high,returned,true,https://docs.example.org/plans/TP-1?a=1&b=2,interview_completed_before_return:RHI-1+CP-1\r\n"
        ), "{text}");
        assert!(
            text.contains("2026-11-25,Quiet\u{1b}[2J,Bea,2012-01-02,,P-9,,false,active_vemt_case,,,,,,,,,,,\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn the_table_has_a_line_per_child_and_no_control_characters() {
        let text = table(&sample(), &presentation());
        assert!(text.starts_with(
            "Missing children review \u{2014} Wednesday 25 November 2026 (preview; collation due Tue 24 Nov 2026 12:00 GMT)\n"
        ), "{text}");
        assert!(
            text.contains("=O'Brien, <b>, Ann \"Nan\"  2011-03-04     high_risk, top_missing  1"),
            "{text}"
        );
        assert!(text.contains("Quiet?[2J, Bea"), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(text.ends_with("2 children\n"));
    }

    #[test]
    fn labels_carry_the_configured_numbers() {
        let t = Thresholds::default();
        assert_eq!(
            criterion_label(Criterion::TopMissing, &t),
            "Top missing (4+ in 30 days)"
        );
        assert_eq!(
            criterion_label(Criterion::HighRisk, &t),
            "High risk episode"
        );
        assert_eq!(
            criterion_label(Criterion::Over72Hours, &t),
            "Missing over 72 hours"
        );
    }

    #[test]
    fn vpg_csvs_guard_every_partner_cell() {
        let (weekly, monthly) = crate::http::page::tests::vpg_samples();
        let text = vpg_weekly_csv(&weekly, true);
        assert!(text.starts_with(&VPG_WEEKLY_COLUMNS.join(",")));
        assert!(
            text.contains("2026-11-26,m1_outcomes,LCS-R1,,,,,,,,2026-11-18,'=cmd|' /C calc'!A0 <script>x</script>,"),
            "{text}"
        );
        assert!(text.contains("new_referrals,LCS-R1,<i>Ref</i>,Syn,2010-05-06,,referred,cse,high"));
        let text = vpg_monthly_csv(&monthly, false);
        assert!(text.starts_with(&VPG_MONTHLY_COLUMNS.join(",")));
        assert!(
            text.contains("2026-12-03,LCS-M1,'+Month,Syn,2010-05-06,,cse,,,true,,stage,2026-11-18,social_worker,'@SUM(1) <img src=x>,1,false\r\n"),
            "{text}"
        );
        for line in text.lines().chain(vpg_weekly_csv(&weekly, true).lines()) {
            for cell in line.split(',') {
                assert!(!cell.starts_with(['=', '+', '@']), "{cell}");
            }
        }
    }
}
