//! The printable agenda pages a chair takes into the meetings (R3.3,
//! issue 11): the Wednesday review (M1), the weekly VPG (M2) and the
//! monthly VPG (M3). Each is one self-contained HTML document (no scripts,
//! no external assets), built with maud: every `(value)` spliced into a
//! template is escaped, so partner text can only ever be text. In print the
//! protective marking and the page number are on every page (CSS `@page`).

use chrono::{DateTime, NaiveDate, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::render::{Presentation, criterion_label, local_time, long_date, title};
use super::timeline;
use crate::domain::agenda::{Agenda, AgendaEpisode, AgendaItem, AgendaRhi, ReviewMeeting};
use crate::domain::child::Vemt;
#[cfg(test)]
use crate::domain::child::VemtStatus;
use crate::domain::episode::RiskLevel;
use crate::domain::quality::DataQualityIssue;
use crate::domain::vpg::{
    M1Outcome, MissingCategoryChild, StageUnmet, VpgIdentity, VpgMonthlyAgenda, VpgWeeklyAgenda,
    WeeklyChild,
};

/// The marking every page carries, on screen and on each printed page.
pub const MARKING: &str = "OFFICIAL-SENSITIVE: children's personal data. Do not leave unattended.";

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: "Helvetica Neue", Arial, "Liberation Sans", sans-serif; font-size: 11pt;
       line-height: 1.35; color: #111; margin: 2em auto; max-width: 62em; padding: 0 1em; }
h1 { font-size: 1.6em; margin: 0 0 .3em; }
h2 { font-size: 1.25em; margin: 1.2em 0 .4em; padding-bottom: .2em; border-bottom: 2px solid #333; }
.child h2 { margin-top: 0; }
h3 { font-size: 1em; margin: .9em 0 .3em; }
.status { margin: .2em 0; }
.preview { border-left: 5px solid #b35900; padding-left: .6em; }
.final { border-left: 5px solid #2e7d32; padding-left: .6em; }
.marking { font-weight: bold; letter-spacing: .05em; }
.child { border: 1px solid #999; border-radius: 4px; padding: .8em 1em; margin: 1.2em 0; }
dl.facts { display: grid; grid-template-columns: 11em 1fr; gap: .2em 1em; margin: 0; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; }
ul.criteria, ul.flags { margin: 0; padding-left: 1.2em; }
table { border-collapse: collapse; width: 100%; font-size: .95em; margin: .3em 0; }
th, td { border: 1px solid #999; padding: .25em .45em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; white-space: nowrap; }
.flag { font-weight: bold; color: #a00000; border: 2px solid #a00000; background: #fdecea; }
.dq { font-weight: bold; color: #7a4b00; }
.risk-high { font-weight: bold; }
.none { color: #555; font-style: italic; }
.pending { font-weight: bold; }
.outcome { white-space: pre-wrap; }
.summary td, .summary th { font-size: .95em; }
svg.timeline { display: block; max-width: 100%; height: auto; margin: .3em 0 0; }
.legend { font-size: .85em; margin: .2em 0 .6em; }
.legend .key { margin-right: 1.2em; white-space: nowrap; }
.legend svg { vertical-align: middle; }
@page {
  size: A4; margin: 16mm 14mm 16mm;
  @top-center { content: "OFFICIAL-SENSITIVE: children's personal data"; font: bold 9pt Arial, sans-serif; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 9pt Arial, sans-serif; }
  @bottom-left { content: "OFFICIAL-SENSITIVE"; font: bold 9pt Arial, sans-serif; }
}
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 10pt; }
  .child { page-break-inside: avoid; break-inside: avoid; border-color: #666; }
  tr { page-break-inside: avoid; break-inside: avoid; }
  th { background: none; }
  .flag { background: none; }
  svg.timeline { break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  a.external[href]::after { content: " (" attr(href) ")"; font-size: .85em; word-break: break-all; }
}
"#;

/// The document around a page's body.
fn document(page_title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex, nofollow";
                title { (page_title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (body)
            }
        }
    }
    .into_string()
}

/// "21 days 4 hours", "5 hours 30 minutes": how long, as a person says it.
pub fn duration_words(hours: f64) -> String {
    let minutes = (hours * 60.0).round().max(0.0) as i64;
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => plural(m, "minute"),
        (0, h, 0) => plural(h, "hour"),
        (0, h, m) => format!("{} {}", plural(h, "hour"), plural(m, "minute")),
        (d, 0, _) => plural(d, "day"),
        (d, h, _) => format!("{} {}", plural(d, "day"), plural(h, "hour")),
    }
}

fn age_on(date_of_birth: NaiveDate, on: NaiveDate) -> String {
    on.years_since(date_of_birth)
        .map_or_else(|| "\u{2014}".to_owned(), |years| years.to_string())
}

fn words(raw: &str) -> String {
    raw.replace('_', " ")
}

/// The VEMT status as a chair reads it, with why it is unknown.
fn vemt_status_words(item: &AgendaItem) -> String {
    match (item.vemt_status, &item.lcs_person_id) {
        (Some(status), _) => status.as_str().to_owned(),
        (None, Some(id)) => format!(
            "not known yet: the LCS record of {} has not been received",
            id.as_str()
        ),
        (None, None) => "not known: no LCS record is matched".to_owned(),
    }
}

fn flags_list(issues: &[DataQualityIssue]) -> Markup {
    html! {
        @if issues.is_empty() {
            span class="none" { "none" }
        } @else {
            ul class="flags" {
                @for issue in issues {
                    li class="dq" data-flag=(issue.flag.as_str()) {
                        (issue.flag.label()) " (" (issue.evidence.join(", ")) ")"
                    }
                }
            }
        }
    }
}

// ---- the Wednesday review (M1) ----

/// The Wednesday page for `agenda`, produced at `now`.
pub fn html(agenda: &Agenda, p: &Presentation, now: DateTime<Utc>) -> String {
    let tz = p.timezone;
    let page_title = title(agenda);
    // The timeline ends where the agenda stands: a frozen agenda as at its
    // collation time, a preview now.
    let end = if agenda.collated_at.is_some() {
        agenda.collation_at
    } else {
        now
    };
    let children = agenda.items.len();
    let body = html! {
        header {
            p class="marking" { (MARKING) }
            h1 { (page_title) }
            p class="status" { "Meeting at " (local_time(agenda.meeting_at, tz)) "." }
            @match agenda.collated_at {
                Some(at) => p class="status final" {
                    strong { "Collated" } " " (local_time(at, tz)) ": this agenda is final."
                },
                None => p class="status preview" {
                    strong { "Preview, not yet collated." }
                    " The agenda is collated " (local_time(agenda.collation_at, tz))
                    " and may change until then."
                },
            }
            p class="status" {
                (children) " " (if children == 1 { "child" } else { "children" })
                " on this agenda. Page produced " (local_time(now, tz)) "."
            }
        }
        main {
            @if agenda.items.is_empty() {
                p class="none" { "No children are on this agenda." }
            } @else {
                section class="overview" id="summary" {
                    h2 { "Summary" }
                    table class="summary" {
                        thead { tr {
                            th { "#" } th { "Child" } th { "Age" } th { "Criteria met" }
                            th { "Data-quality flags" } th { "Trigger plan" }
                        } }
                        tbody {
                            @for (i, item) in agenda.items.iter().enumerate() {
                                tr {
                                    td class="num" { (i + 1) }
                                    td { a href=(format!("#child-{}", i + 1)) {
                                        (item.family_name) ", " (item.given_name)
                                    } }
                                    td class="num" { (age_on(item.date_of_birth, agenda.meeting_date)) }
                                    td { (item.criteria.iter()
                                            .map(|c| criterion_label(*c, &p.thresholds))
                                            .collect::<Vec<_>>().join("; ")) }
                                    td {
                                        @if item.data_quality.is_empty() {
                                            span class="none" { "none" }
                                        } @else {
                                            span class="dq" { (item.data_quality.iter()
                                                .map(|i| i.flag.label()).collect::<Vec<_>>().join("; ")) }
                                        }
                                    }
                                    td {
                                        @match &item.trigger_plan {
                                            Some(plan) => { "received (version " (plan.version) ")" },
                                            None => span class="pending" { "requested, not yet received" },
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @for (i, item) in agenda.items.iter().enumerate() {
                    (child_section(agenda.meeting_date, i + 1, item, end, p))
                }
            }
        }
    };
    document(&page_title, body)
}

fn child_section(
    meeting_date: NaiveDate,
    number: usize,
    item: &AgendaItem,
    end: DateTime<Utc>,
    p: &Presentation,
) -> Markup {
    html! {
        section class="child" id=(format!("child-{number}")) {
            h2 { (number) ". " (item.family_name) ", " (item.given_name) }
            dl class="facts" {
                dt { "Date of birth" }
                dd { (item.date_of_birth.format("%-d %B %Y").to_string())
                     " (age " (age_on(item.date_of_birth, meeting_date)) " at the meeting)" }
                dt { "LCS person id" }
                @match &item.lcs_person_id {
                    Some(id) => dd { (id.as_str()) },
                    None => dd class="none" { "Not matched to an LCS record" },
                }
                dt { "Police person ids" }
                dd { @if item.police_person_ids.is_empty() { "none" } @else {
                    (item.police_person_ids.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(", "))
                } }
                dt { "Case status" }
                dd { "VEMT status: " (vemt_status_words(item)) "; early help: "
                     (if item.early_help { "involved" } else { "not involved" }) }
                dt { "Criteria met" }
                dd { ul class="criteria" {
                    @for criterion in &item.criteria {
                        li { (criterion_label(*criterion, &p.thresholds)) }
                    }
                } }
                dt { "Data quality" }
                dd { (flags_list(&item.data_quality)) }
                dt { "Last discussed" }
                @match &item.last_reviewed {
                    Some(last) => dd {
                        (long_date(last.date)) " at the "
                        (match last.meeting {
                            ReviewMeeting::MissingReview => "missing children review",
                            ReviewMeeting::Vpg => "weekly VPG meeting",
                        })
                        @if let Some(outcome) = &last.outcome {
                            ": " span class="outcome" { (outcome) }
                        }
                    },
                    None => dd class="none" { "Not discussed before" },
                }
                dt { "Trigger plan" }
                @match &item.trigger_plan {
                    Some(plan) => {
                        @let label = format!("Plan {}, version {}", plan.plan_id, plan.version);
                        // A link only to a web address: a partner's
                        // `javascript:` URL stays text.
                        @if plan.url.starts_with("https://") || plan.url.starts_with("http://") {
                            dd { a class="external" href=(plan.url) rel="noreferrer noopener" { (label) } }
                        } @else {
                            dd { (label) " (" (plan.url) ")" }
                        }
                    },
                    None => dd class="pending" { "Requested from the police, not yet received" },
                }
            }
            (history(&item.episodes, &item.return_home_interviews, end, p))
        }
    }
}

/// A child's timeline, episodes and interviews: shared by the Wednesday
/// page and the weekly VPG page's MISSING section.
fn history(
    episodes: &[AgendaEpisode],
    interviews: &[AgendaRhi],
    end: DateTime<Utc>,
    p: &Presentation,
) -> Markup {
    let tz = p.timezone;
    html! {
        h3 { "Missing episodes: the last " (p.thresholds.longest_window_days()) " days" }
        (timeline::svg(episodes, interviews, end, &p.thresholds, tz))
        (timeline::legend())
        @if episodes.is_empty() {
            p class="none" { "No episodes in the review window." }
        } @else {
            table class="episodes" {
                thead { tr {
                    th { "Episode" } th { "Reported missing" } th { "Returned" } th { "Duration" }
                    th { "Risk" } th { "Status" } th { "Return home interview" }
                } }
                tbody {
                    @for e in episodes {
                        @let held: Vec<String> = interviews.iter()
                            .filter(|r| r.episode_id == e.episode_id)
                            .map(|r| words(r.status.as_str())).collect();
                        tr {
                            td { (e.episode_id.as_str()) }
                            td { (local_time(e.reported_missing_at, tz)) }
                            td { @match e.returned_at {
                                Some(at) => { (local_time(at, tz)) },
                                None => strong { "not returned" },
                            } }
                            td class="num" {
                                (duration_words(e.duration_hours))
                                @if e.returned_at.is_none() { " so far" }
                            }
                            td class=[(e.risk_level == RiskLevel::High).then_some("risk-high")] {
                                (timeline::risk_style(e.risk_level).2)
                            }
                            td { (e.status.as_str()) }
                            @if e.rhi_not_offered_within_72_hours {
                                td class="flag" { "Not offered within 72 hours" }
                            } @else {
                                td { (held.join(", ")) }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Return home interviews" }
        @if interviews.is_empty() {
            p class="none" { "None recorded." }
        } @else {
            table class="interviews" {
                thead { tr {
                    th { "Interview" } th { "Episode" } th { "Status" } th { "Offered" } th { "Completed" }
                } }
                tbody {
                    @for r in interviews {
                        tr {
                            td { (r.rhi_id.as_str()) }
                            td { (r.episode_id.as_str()) }
                            td { (words(r.status.as_str())) }
                            td { (r.offered_at.map(|at| local_time(at, tz)).unwrap_or_default()) }
                            td { (r.completed_at.map(|at| local_time(at, tz)).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

// ---- the VPG meetings (M2, M3) ----

/// "Weekly VPG meeting — Thursday 26 November 2026".
pub fn weekly_title(date: NaiveDate) -> String {
    format!("Weekly VPG meeting \u{2014} {}", long_date(date))
}

/// "Monthly VPG meeting — Thursday 3 December 2026".
pub fn monthly_title(date: NaiveDate) -> String {
    format!("Monthly VPG meeting \u{2014} {}", long_date(date))
}

/// The overview of a VPG page: each section, linked, with its count.
fn section_summary(sections: &[(&str, &str, usize)]) -> Markup {
    html! {
        section class="overview" id="summary" {
            h2 { "Summary" }
            table class="summary" {
                thead { tr { th { "Section" } th { "Entries" } } }
                tbody { @for (id, name, n) in sections {
                    tr { td { a href=(format!("#{id}")) { (name) } } td class="num" { (n) } }
                } }
            }
        }
    }
}

fn vpg_header(
    page_title: &str,
    meeting_at: DateTime<Utc>,
    published: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    p: &Presentation,
) -> Markup {
    let tz = p.timezone;
    html! {
        header {
            p class="marking" { (MARKING) }
            h1 { (page_title) }
            p class="status" { "Meeting at " (local_time(meeting_at, tz)) "." }
            @match published {
                Some(at) => p class="status final" {
                    strong { "Published" } " " (local_time(at, tz)) ": this agenda is final."
                },
                None => p class="status preview" {
                    strong { "Preview, not yet published." }
                    " The agenda is built from the cases as they stand now and may change until it is published."
                },
            }
            p class="status" { "Page produced " (local_time(now, tz)) "." }
        }
    }
}

fn vemt_words(vemt: &Vemt) -> String {
    format!(
        "{}, category {}, risk {}",
        vemt.status.as_str(),
        vemt.category.map_or("not given", |c| c.as_str()),
        vemt.risk_level.map_or("not given", |r| r.as_str()),
    )
}

fn identity_cells(identity: &VpgIdentity, on: NaiveDate) -> Markup {
    html! {
        td { (identity.family_name) ", " (identity.given_name) }
        td { (identity.date_of_birth.format("%-d %b %Y").to_string()) }
        td class="num" { (age_on(identity.date_of_birth, on)) }
        td { (identity.lcs_person_id.as_str()) }
    }
}

/// The names the weekly agenda knows by LCS id, for its outcome sections.
fn name_of<'a>(agenda: &'a VpgWeeklyAgenda, id: &str) -> Option<&'a VpgIdentity> {
    let s = &agenda.sections;
    s.missing_category
        .iter()
        .map(|c| &c.identity)
        .chain(s.new_referrals.iter().map(|c| &c.identity))
        .chain(s.deferred.iter().map(|c| &c.identity))
        .find(|i| i.lcs_person_id.as_str() == id)
}

/// The weekly VPG page; `published` is `None` for a preview.
pub fn weekly_html(
    agenda: &VpgWeeklyAgenda,
    published: Option<DateTime<Utc>>,
    p: &Presentation,
    now: DateTime<Utc>,
) -> String {
    let page_title = weekly_title(agenda.meeting_date);
    let s = &agenda.sections;
    let end = published.unwrap_or(now);
    let outcomes = |id: &str, rows: &[M1Outcome]| -> Markup {
        html! {
            @if rows.is_empty() {
                p class="none" { "None." }
            } @else {
                table id=(id) {
                    thead { tr { th { "Child" } th { "LCS person id" } th { "M1 meeting" } th { "Outcome" } } }
                    tbody {
                        @for o in rows {
                            tr {
                                td { @match name_of(agenda, o.lcs_person_id.as_str()) {
                                    Some(who) => { (who.family_name) ", " (who.given_name) },
                                    None => span class="none" { "not on this agenda" },
                                } }
                                td { (o.lcs_person_id.as_str()) }
                                td { (long_date(o.meeting_date)) }
                                td class="outcome" { (o.outcome) }
                            }
                        }
                    }
                }
            }
        }
    };
    let cases = |rows: &[WeeklyChild]| -> Markup {
        html! {
            @if rows.is_empty() {
                p class="none" { "None." }
            } @else {
                table {
                    thead { tr { th { "Child" } th { "Date of birth" } th { "Age" } th { "LCS person id" } th { "VEMT case" } } }
                    tbody {
                        @for c in rows {
                            tr { (identity_cells(&c.identity, agenda.meeting_date)) td { (vemt_words(&c.vemt)) } }
                        }
                    }
                }
            }
        }
    };
    let sections: [(&str, &str, usize); 5] = [
        ("m1-outcomes", "M1 outcomes", s.m1_outcomes.len()),
        ("referred-by-m1", "Referred by M1", s.referred_by_m1.len()),
        (
            "missing-category",
            "Missing category: active cases",
            s.missing_category.len(),
        ),
        ("new-referrals", "New referrals", s.new_referrals.len()),
        ("deferred", "Deferred", s.deferred.len()),
    ];
    let body = html! {
        (vpg_header(&page_title, agenda.meeting_at, published, now, p))
        main {
            (section_summary(&sections))
            section id="m1-outcomes" { h2 { "M1 outcomes" } (outcomes("m1-outcomes-table", &s.m1_outcomes)) }
            section id="referred-by-m1" { h2 { "Referred by M1" } (outcomes("referred-table", &s.referred_by_m1)) }
            section id="missing-category" {
                h2 { "Missing category: active cases" }
                @if s.missing_category.is_empty() { p class="none" { "None." } }
                @for (i, c) in s.missing_category.iter().enumerate() {
                    (missing_child(i + 1, c, agenda.meeting_date, end, p))
                }
            }
            section id="new-referrals" { h2 { "New referrals" } (cases(&s.new_referrals)) }
            section id="deferred" { h2 { "Deferred" } (cases(&s.deferred)) }
        }
    };
    document(&page_title, body)
}

fn missing_child(
    number: usize,
    c: &MissingCategoryChild,
    on: NaiveDate,
    end: DateTime<Utc>,
    p: &Presentation,
) -> Markup {
    let who = &c.identity;
    html! {
        section class="child" id=(format!("missing-{number}")) {
            h2 { (number) ". " (who.family_name) ", " (who.given_name) }
            dl class="facts" {
                dt { "Date of birth" }
                dd { (who.date_of_birth.format("%-d %B %Y").to_string()) " (age " (age_on(who.date_of_birth, on)) ")" }
                dt { "LCS person id" } dd { (who.lcs_person_id.as_str()) }
                dt { "Police person ids" }
                dd { @if who.police_person_ids.is_empty() { "none" } @else {
                    (who.police_person_ids.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(", "))
                } }
                dt { "VEMT case" } dd { (vemt_words(&c.vemt)) }
            }
            (history(&c.episodes, &c.return_home_interviews, end, p))
        }
    }
}

fn stage_words(unmet: StageUnmet) -> &'static str {
    match unmet {
        StageUnmet::NotFemale => "not female",
        StageUnmet::Under16 => "under 16",
        StageUnmet::NotCse => "not in the CSE category",
    }
}

/// The monthly VPG page; `published` is `None` for a preview.
pub fn monthly_html(
    agenda: &VpgMonthlyAgenda,
    published: Option<DateTime<Utc>>,
    p: &Presentation,
    now: DateTime<Utc>,
) -> String {
    let page_title = monthly_title(agenda.meeting_date);
    let on = agenda.meeting_date;
    let with_actions: Vec<_> = agenda
        .items
        .iter()
        .filter(|i| !i.outstanding_actions.is_empty())
        .collect();
    let turning: Vec<_> = agenda
        .items
        .iter()
        .filter(|i| i.turns_18_on.is_some())
        .collect();
    let stage: Vec<_> = agenda.items.iter().filter(|i| i.may_fit_stage).collect();
    let sections: [(&str, &str, usize); 4] = [
        ("active-cases", "Every active case", agenda.items.len()),
        (
            "outstanding-actions",
            "Outstanding actions",
            with_actions
                .iter()
                .map(|i| i.outstanding_actions.len())
                .sum(),
        ),
        ("turning-18", "Turning 18", turning.len()),
        ("stage", "May fit STAGE", stage.len()),
    ];
    let body = html! {
        (vpg_header(&page_title, agenda.meeting_at, published, now, p))
        main {
            (section_summary(&sections))
            section id="active-cases" {
                h2 { "Every active case" }
                @if agenda.items.is_empty() { p class="none" { "No active VEMT cases." } } @else {
                    table {
                        thead { tr {
                            th { "Child" } th { "Date of birth" } th { "Age" } th { "LCS person id" }
                            th { "Category" } th { "Risk" } th { "STAGE conditions not met" }
                        } }
                        tbody { @for i in &agenda.items {
                            tr {
                                (identity_cells(&i.identity, on))
                                td { (i.vemt.category.map_or("not given", |c| c.as_str())) }
                                td { (i.vemt.risk_level.map_or("not given", |r| r.as_str())) }
                                td { @if i.stage_unmet.is_empty() { strong { "all met: may fit STAGE" } } @else {
                                    (i.stage_unmet.iter().map(|u| stage_words(*u)).collect::<Vec<_>>().join("; "))
                                } }
                            }
                        } }
                    }
                }
            }
            section id="outstanding-actions" {
                h2 { "Outstanding actions" }
                @if with_actions.is_empty() { p class="none" { "None." } } @else {
                    table {
                        thead { tr { th { "Child" } th { "LCS person id" } th { "From M1 on" } th { "Owner" } th { "Action" } } }
                        tbody { @for i in &with_actions { @for a in &i.outstanding_actions {
                            tr {
                                td { (i.identity.family_name) ", " (i.identity.given_name) }
                                td { (i.identity.lcs_person_id.as_str()) }
                                td { (long_date(a.meeting_date)) }
                                td { (a.assignee_role.map_or("not given".to_owned(), |r| words(r.as_str()))) }
                                td class="outcome" { (a.description) }
                            }
                        } } }
                    }
                }
            }
            section id="turning-18" {
                h2 { "Turning 18 within " (agenda.turning_18_horizon_days) " days" }
                @if turning.is_empty() { p class="none" { "None." } } @else {
                    table {
                        thead { tr { th { "Child" } th { "Date of birth" } th { "Age" } th { "LCS person id" } th { "18 on" } } }
                        tbody { @for i in &turning {
                            tr { (identity_cells(&i.identity, on))
                                 td { (i.turns_18_on.map(long_date).unwrap_or_default()) } }
                        } }
                    }
                }
            }
            section id="stage" {
                h2 { "May fit STAGE" }
                p { "STAGE is for females aged 16 or over in the CSE category. Children who miss a condition are listed under every active case with the conditions not met." }
                @if stage.is_empty() { p class="none" { "None." } } @else {
                    table {
                        thead { tr { th { "Child" } th { "Date of birth" } th { "Age" } th { "LCS person id" } } }
                        tbody { @for i in &stage { tr { (identity_cells(&i.identity, on)) } } }
                    }
                }
            }
        }
    };
    document(&page_title, body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::render::tests::{presentation, sample};
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn durations_read_in_days_and_hours() {
        assert_eq!(duration_words(12.5), "12 hours 30 minutes");
        assert_eq!(duration_words(525.8), "21 days 21 hours");
        assert_eq!(duration_words(24.0), "1 day");
        assert_eq!(duration_words(0.5), "30 minutes");
        assert_eq!(duration_words(1.0), "1 hour");
        assert_eq!(duration_words(49.9), "2 days 1 hour");
    }

    #[test]
    fn the_page_shows_each_child_with_partner_text_escaped() {
        let page = html(&sample(), &presentation(), now());
        assert!(page.contains(
            "<title>Missing children review \u{2014} Wednesday 25 November 2026</title>"
        ));
        assert!(
            page.contains("=O&#39;Brien, &lt;b&gt;, Ann &quot;Nan&quot;")
                || page.contains("=O'Brien, &lt;b&gt;, Ann &quot;Nan&quot;"),
            "{page}"
        );
        assert!(!page.contains("<b>"));
        assert!(page.contains("4 March 2011 (age 15 at the meeting)"));
        assert!(page.contains("<li>High risk episode</li><li>Top missing (4+ in 30 days)</li>"));
        assert!(page.contains("Preview, not yet collated."));
        assert!(page.contains("Tue 24 Nov 2026 12:00 GMT"));
        assert!(page.contains("href=\"https://docs.example.org/plans/TP-1?a=1&amp;b=2\""));
        assert!(page.contains("<td class=\"flag\">Not offered within 72 hours</td>"));
        assert!(page.contains("Requested from the police, not yet received"));
        assert!(page.contains("12 hours 30 minutes"));
        assert!(page.contains("Interview completed before the return (RHI-1, CP-1)"));
        assert!(page.contains("href=\"#child-1\""));
        assert!(page.contains("VEMT status: not known: no LCS record is matched"));
        assert!(page.contains("@top-center"));
        assert!(page.contains("counter(page)"));
        assert!(page.contains("page-break-inside: avoid"));
        assert_eq!(page.matches("class=\"bar\"").count(), 1);
        assert!(!page.contains("<script"));
        assert!(!page.contains("src="));
    }

    #[test]
    fn a_child_with_an_lcs_id_but_no_record_says_the_record_is_awaited() {
        let mut agenda = sample();
        agenda.items[1].lcs_person_id =
            Some(crate::domain::ids::LcsPersonId::parse("LCS-7").unwrap());
        let page = html(&agenda, &presentation(), now());
        assert!(
            page.contains(
                "VEMT status: not known yet: the LCS record of LCS-7 has not been received"
            )
        );
        assert!(!page.contains("no LCS record yet"));
    }

    #[test]
    fn a_trigger_plan_url_that_is_not_a_web_address_is_not_a_link() {
        let mut agenda = sample();
        if let Some(plan) = agenda.items[0].trigger_plan.as_mut() {
            plan.url = "javascript:alert(1)".into();
        }
        let page = html(&agenda, &presentation(), now());
        assert!(!page.contains("href=\"javascript"));
        assert!(page.contains("Plan TP-1, version 2 (javascript:alert(1))"));
    }

    fn identity(lcs: &str, family: &str) -> VpgIdentity {
        VpgIdentity {
            lcs_person_id: crate::domain::ids::LcsPersonId::parse(lcs).unwrap(),
            police_person_ids: vec![],
            given_name: "Syn".into(),
            family_name: family.into(),
            date_of_birth: NaiveDate::from_ymd_opt(2010, 5, 6).unwrap(),
        }
    }

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    /// Partner text in every VPG field a person typed: escaped on the
    /// pages, guarded in the CSVs.
    pub(crate) fn vpg_samples() -> (VpgWeeklyAgenda, VpgMonthlyAgenda) {
        use crate::domain::child::{ProfessionalRole, VemtCategory, VemtRiskLevel};
        use crate::domain::vpg::{
            MonthlyFlag, MonthlyItem, MonthlyVemt, OutstandingAction, WeeklySections,
        };
        let vemt = |status| Vemt {
            status,
            category: Some(VemtCategory::Cse),
            risk_level: Some(VemtRiskLevel::High),
        };
        let weekly = VpgWeeklyAgenda {
            meeting_date: date("2026-11-26"),
            meeting_at: now(),
            collated_at: now(),
            sections: WeeklySections {
                m1_outcomes: vec![M1Outcome {
                    lcs_person_id: crate::domain::ids::LcsPersonId::parse("LCS-R1").unwrap(),
                    meeting_date: date("2026-11-18"),
                    outcome: "=cmd|' /C calc'!A0 <script>x</script>".into(),
                }],
                referred_by_m1: vec![],
                missing_category: vec![],
                new_referrals: vec![WeeklyChild {
                    identity: identity("LCS-R1", "<i>Ref</i>"),
                    vemt: vemt(VemtStatus::Referred),
                }],
                deferred: vec![],
            },
        };
        let monthly = VpgMonthlyAgenda {
            meeting_date: date("2026-12-03"),
            meeting_at: now(),
            collated_at: now(),
            turning_18_horizon_days: 90,
            items: vec![MonthlyItem {
                identity: identity("LCS-M1", "+Month"),
                vemt: MonthlyVemt {
                    category: Some(VemtCategory::Cse),
                    risk_level: None,
                },
                outstanding_actions: vec![OutstandingAction {
                    meeting_date: date("2026-11-18"),
                    assignee_role: Some(ProfessionalRole::SocialWorker),
                    description: "@SUM(1) <img src=x>".into(),
                }],
                turns_18_on: None,
                may_fit_stage: true,
                stage_unmet: vec![],
                flags: vec![MonthlyFlag::Stage],
            }],
        };
        (weekly, monthly)
    }

    #[test]
    fn vpg_pages_escape_partner_text_and_link_each_section() {
        let (weekly, monthly) = vpg_samples();
        let page = weekly_html(&weekly, None, &presentation(), now());
        assert!(page.contains("Preview, not yet published."));
        assert!(!page.contains("<script>") && !page.contains("<i>Ref"));
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(page.contains("&lt;i&gt;Ref&lt;/i&gt;, Syn"), "{page}");
        for id in [
            "m1-outcomes",
            "referred-by-m1",
            "missing-category",
            "new-referrals",
            "deferred",
        ] {
            assert!(page.contains(&format!("href=\"#{id}\"")), "{id}");
            assert!(page.contains(&format!("<section id=\"{id}\"")), "{id}");
        }
        let page = monthly_html(&monthly, Some(now()), &presentation(), now());
        assert!(page.contains("this agenda is final"));
        assert!(!page.contains("<img"));
        assert!(page.contains("@SUM(1) &lt;img src=x&gt;"));
        assert!(page.contains("social worker"));
        assert!(page.contains("all met: may fit STAGE"));
    }
}
