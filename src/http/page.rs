//! The printable agenda page a chair takes into the Wednesday meeting (R3.3):
//! one self-contained HTML document (no scripts, no external assets), a
//! section per child that print keeps on one page where it fits, times on
//! the council's clock. Every piece of text is escaped.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};

use super::render::{Presentation, criterion_label, local_time, long_date, title};
use crate::domain::agenda::{Agenda, AgendaItem, ReviewMeeting};
use crate::domain::episode::RiskLevel;

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: "Helvetica Neue", Arial, "Liberation Sans", sans-serif; font-size: 11pt;
       line-height: 1.35; color: #111; margin: 2em auto; max-width: 60em; padding: 0 1em; }
h1 { font-size: 1.6em; margin: 0 0 .3em; }
h2 { font-size: 1.25em; margin: 0 0 .4em; padding-bottom: .2em; border-bottom: 2px solid #333; }
h3 { font-size: 1em; margin: .9em 0 .3em; }
.status { margin: .2em 0; }
.preview { border-left: 5px solid #b35900; padding-left: .6em; }
.final { border-left: 5px solid #2e7d32; padding-left: .6em; }
.marking { font-weight: bold; letter-spacing: .05em; }
.child { border: 1px solid #999; border-radius: 4px; padding: .8em 1em; margin: 1.2em 0; }
dl.facts { display: grid; grid-template-columns: 11em 1fr; gap: .2em 1em; margin: 0; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; }
ul.criteria { margin: 0; padding-left: 1.2em; }
table { border-collapse: collapse; width: 100%; font-size: .95em; }
th, td { border: 1px solid #999; padding: .25em .45em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; white-space: nowrap; }
.flag { font-weight: bold; color: #a00000; border: 2px solid #a00000; background: #fdecea; }
.risk-high { font-weight: bold; }
.none { color: #555; font-style: italic; }
.pending { font-weight: bold; }
.outcome { white-space: pre-wrap; }
@page { size: A4; margin: 14mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 10pt; }
  .child { page-break-inside: avoid; break-inside: avoid; border-color: #666; }
  tr { page-break-inside: avoid; break-inside: avoid; }
  th { background: none; }
  .flag { background: none; }
  a { color: inherit; text-decoration: none; }
  a[href]::after { content: " (" attr(href) ")"; font-size: .85em; word-break: break-all; }
}
"#;

/// Text made safe for HTML content and attribute values.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page for `agenda`, produced at `now`.
pub fn html(agenda: &Agenda, presentation: &Presentation, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(8192 + agenda.items.len() * 4096);
    write_page(&mut out, agenda, presentation, now).expect("writing to a String cannot fail");
    out
}

fn write_page(
    out: &mut String,
    agenda: &Agenda,
    p: &Presentation,
    now: DateTime<Utc>,
) -> std::fmt::Result {
    let tz = p.timezone;
    let title = escape(&title(agenda));
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n\
         <p class=\"marking\">OFFICIAL-SENSITIVE: children's personal data. Do not leave unattended.</p>\n\
         <h1>{title}</h1>\n<p class=\"status\">Meeting at {}.</p>",
        escape(&local_time(agenda.meeting_at, tz)),
    )?;
    match agenda.collated_at {
        Some(at) => writeln!(
            out,
            "<p class=\"status final\"><strong>Collated</strong> {}: this agenda is final.</p>",
            escape(&local_time(at, tz))
        )?,
        None => writeln!(
            out,
            "<p class=\"status preview\"><strong>Preview, not yet collated.</strong> \
             The agenda is collated {} and may change until then.</p>",
            escape(&local_time(agenda.collation_at, tz))
        )?,
    }
    let children = agenda.items.len();
    writeln!(
        out,
        "<p class=\"status\">{children} {} on this agenda. Page produced {}.</p>\n</header>\n<main>",
        if children == 1 { "child" } else { "children" },
        escape(&local_time(now, tz)),
    )?;
    if agenda.items.is_empty() {
        out.push_str("<p class=\"none\">No children are on this agenda.</p>\n");
    }
    for (index, item) in agenda.items.iter().enumerate() {
        write_child(out, agenda.meeting_date, index + 1, item, p)?;
    }
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(())
}

fn write_child(
    out: &mut String,
    meeting_date: NaiveDate,
    number: usize,
    item: &AgendaItem,
    p: &Presentation,
) -> std::fmt::Result {
    let tz = p.timezone;
    writeln!(
        out,
        "<section class=\"child\" id=\"child-{number}\">\n<h2>{number}. {}, {}</h2>\n<dl class=\"facts\">",
        escape(&item.family_name),
        escape(&item.given_name)
    )?;
    let age = meeting_date
        .years_since(item.date_of_birth)
        .map(|years| format!(" (age {years} at the meeting)"))
        .unwrap_or_default();
    writeln!(
        out,
        "<dt>Date of birth</dt><dd>{}{age}</dd>",
        escape(&item.date_of_birth.format("%-d %B %Y").to_string())
    )?;
    match &item.lcs_person_id {
        Some(id) => writeln!(
            out,
            "<dt>LCS person id</dt><dd>{}</dd>",
            escape(id.as_str())
        )?,
        None => out.push_str(
            "<dt>LCS person id</dt><dd class=\"none\">Not matched to an LCS record</dd>\n",
        ),
    }
    let police: Vec<String> = item
        .police_person_ids
        .iter()
        .map(|id| escape(id.as_str()))
        .collect();
    writeln!(
        out,
        "<dt>Police person ids</dt><dd>{}</dd>",
        if police.is_empty() {
            "none".to_owned()
        } else {
            police.join(", ")
        }
    )?;
    let vemt = item
        .vemt_status
        .map_or("unknown (no LCS record yet)", |s| s.as_str());
    writeln!(
        out,
        "<dt>Case status</dt><dd>VEMT status: {}; early help: {}</dd>",
        escape(vemt),
        if item.early_help {
            "involved"
        } else {
            "not involved"
        }
    )?;
    out.push_str("<dt>Criteria met</dt><dd><ul class=\"criteria\">");
    for criterion in &item.criteria {
        write!(
            out,
            "<li>{}</li>",
            escape(&criterion_label(*criterion, &p.thresholds))
        )?;
    }
    out.push_str("</ul></dd>\n");
    match &item.last_reviewed {
        Some(last) => {
            let meeting = match last.meeting {
                ReviewMeeting::MissingReview => "missing children review",
                ReviewMeeting::Vpg => "weekly VPG meeting",
            };
            write!(
                out,
                "<dt>Last discussed</dt><dd>{} at the {}",
                escape(&long_date(last.date)),
                escape(meeting)
            )?;
            if let Some(outcome) = &last.outcome {
                write!(out, ": <span class=\"outcome\">{}</span>", escape(outcome))?;
            }
            out.push_str("</dd>\n");
        }
        None => {
            out.push_str("<dt>Last discussed</dt><dd class=\"none\">Not discussed before</dd>\n")
        }
    }
    match &item.trigger_plan {
        Some(plan) => {
            let label = format!("Plan {}, version {}", plan.plan_id, plan.version);
            // A link only to a web address: a partner's `javascript:` URL
            // stays text.
            if plan.url.starts_with("https://") || plan.url.starts_with("http://") {
                writeln!(
                    out,
                    "<dt>Trigger plan</dt><dd><a href=\"{}\" rel=\"noreferrer noopener\">{}</a></dd>",
                    escape(&plan.url),
                    escape(&label)
                )?;
            } else {
                writeln!(
                    out,
                    "<dt>Trigger plan</dt><dd>{} ({})</dd>",
                    escape(&label),
                    escape(&plan.url)
                )?;
            }
        }
        None => out.push_str(
            "<dt>Trigger plan</dt><dd class=\"pending\">Requested from the police, not yet received</dd>\n",
        ),
    }
    out.push_str("</dl>\n<h3>Missing episodes</h3>\n");
    if item.episodes.is_empty() {
        out.push_str("<p class=\"none\">No episodes in the review window.</p>\n");
    } else {
        out.push_str(
            "<table class=\"episodes\">\n<thead><tr><th>Episode</th><th>Reported missing</th>\
             <th>Returned</th><th>Duration</th><th>Risk</th><th>Status</th>\
             <th>Return home interview</th></tr></thead>\n<tbody>\n",
        );
        for e in &item.episodes {
            let returned = e
                .returned_at
                .map_or("not returned".to_owned(), |at| local_time(at, tz));
            let risk_class = if e.risk_level == RiskLevel::High {
                " class=\"risk-high\""
            } else {
                ""
            };
            // The statutory flag first; else what the interviews say.
            let held: Vec<String> = item
                .return_home_interviews
                .iter()
                .filter(|r| r.episode_id == e.episode_id)
                .map(|r| escape(&r.status.as_str().replace('_', " ")))
                .collect();
            let rhi = if e.rhi_not_offered_within_72_hours {
                "<td class=\"flag\">Not offered within 72 hours</td>".to_owned()
            } else {
                format!("<td>{}</td>", held.join(", "))
            };
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.1} h</td>\
                 <td{risk_class}>{}</td><td>{}</td>{rhi}</tr>",
                escape(e.episode_id.as_str()),
                escape(&local_time(e.reported_missing_at, tz)),
                escape(&returned),
                e.duration_hours,
                escape(&e.risk_level.as_str().replace('_', " ")),
                escape(e.status.as_str()),
            )?;
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("<h3>Return home interviews</h3>\n");
    if item.return_home_interviews.is_empty() {
        out.push_str("<p class=\"none\">None recorded.</p>\n");
    } else {
        out.push_str(
            "<table class=\"interviews\">\n<thead><tr><th>Interview</th><th>Episode</th>\
             <th>Status</th><th>Offered</th><th>Completed</th></tr></thead>\n<tbody>\n",
        );
        for r in &item.return_home_interviews {
            let when =
                |at: Option<DateTime<Utc>>| at.map(|at| local_time(at, tz)).unwrap_or_default();
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(r.rhi_id.as_str()),
                escape(r.episode_id.as_str()),
                escape(&r.status.as_str().replace('_', " ")),
                escape(&when(r.offered_at)),
                escape(&when(r.completed_at)),
            )?;
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::render::tests::{presentation, sample};
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_page_shows_each_child_with_partner_text_escaped() {
        let page = html(&sample(), &presentation(), now());
        assert!(page.contains(
            "<title>Missing children review \u{2014} Wednesday 25 November 2026</title>"
        ));
        assert!(
            page.contains("=O&#39;Brien, &lt;b&gt;, Ann &quot;Nan&quot;"),
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
        assert!(page.contains("page-break-inside: avoid"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("src="));
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
}
