//! A child's missing history as an inline SVG (issue 11): the last days of
//! the longest criteria window, each episode a bar from report to return
//! (an open one to the end, marked), shaded by risk with a letter on every
//! bar so that neither colour nor print in grey is needed to read it;
//! return home interviews as marks under the bars; the criteria windows
//! shaded behind. No script and nothing fetched: the page's CSP holds.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

use crate::domain::agenda::{AgendaEpisode, AgendaRhi};
use crate::domain::child::RhiStatus;
use crate::domain::criteria::Thresholds;
use crate::domain::episode::RiskLevel;

const WIDTH: f64 = 720.0;
const LEFT: f64 = 8.0;
const RIGHT: f64 = 8.0;
const LANE: f64 = 16.0;
const TOP: f64 = 26.0;

/// Fill, letter and words of a risk level: fills differ in lightness as
/// well as hue (grey levels about 40, 145, 190 and 255: dark to white), so
/// they stay apart in greyscale, and the letter carries it without any
/// colour.
pub fn risk_style(risk: RiskLevel) -> (&'static str, &'static str, &'static str) {
    match risk {
        RiskLevel::High => ("#8b0000", "H", "high risk"),
        RiskLevel::Medium => ("#d9822b", "M", "medium risk"),
        RiskLevel::Low => ("#a9c4eb", "L", "low risk"),
        RiskLevel::NoApparentRisk => ("#ffffff", "N", "no apparent risk"),
    }
}

/// The text colour that reads on a risk's fill.
fn ink(risk: RiskLevel) -> &'static str {
    match risk {
        RiskLevel::High => "#fff",
        _ => "#000",
    }
}

/// The SVG for one child, ending at `end`.
pub fn svg(
    episodes: &[AgendaEpisode],
    interviews: &[AgendaRhi],
    end: DateTime<Utc>,
    thresholds: &Thresholds,
    timezone: Tz,
) -> Markup {
    let days = i64::from(thresholds.longest_window_days().max(1));
    let start = end - Duration::days(days);
    let span = (end - start).num_seconds() as f64;
    let x = |at: DateTime<Utc>| {
        let offset = (at.max(start).min(end) - start).num_seconds() as f64;
        LEFT + (WIDTH - LEFT - RIGHT) * offset / span
    };
    // Lanes: an episode goes in the first lane free at its report, so
    // overlapping episodes (a data-quality flag) show one above the other.
    let mut ordered: Vec<&AgendaEpisode> = episodes.iter().collect();
    ordered.sort_by_key(|e| e.reported_missing_at);
    let mut lane_ends: Vec<DateTime<Utc>> = Vec::new();
    let mut placed = Vec::new();
    for e in ordered {
        let until = e.returned_at.unwrap_or(end).max(e.reported_missing_at);
        let lane = match lane_ends.iter().position(|t| *t <= e.reported_missing_at) {
            Some(lane) => {
                lane_ends[lane] = until;
                lane
            }
            None => {
                lane_ends.push(until);
                lane_ends.len() - 1
            }
        };
        placed.push((e, lane));
    }
    let lanes = lane_ends.len().max(1) as f64;
    let axis = TOP + lanes * LANE + 6.0;
    let marks = axis + 4.0;
    let height = marks + 30.0;
    let windows: BTreeSet<u32> = [
        thresholds.top_missing.days,
        thresholds.frequent_missing.days,
        thresholds.frequent_no_apparent_risk.days,
    ]
    .into_iter()
    .collect();
    // Month starts as ticks.
    let local = |at: DateTime<Utc>| at.with_timezone(&timezone).date_naive();
    let mut ticks = Vec::new();
    let mut day = local(start);
    while day <= local(end) {
        if day.day() == 1 {
            ticks.push(day);
        }
        day += Duration::days(1);
    }
    let at_midnight =
        |d: NaiveDate| crate::domain::calendar::local_instant(timezone, d, chrono::NaiveTime::MIN);
    let label = format!(
        "Missing episodes over the last {days} days: {} episode{}, {} return home interview{}",
        episodes.len(),
        if episodes.len() == 1 { "" } else { "s" },
        interviews.len(),
        if interviews.len() == 1 { "" } else { "s" },
    );
    html! {
        svg class="timeline" xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox=(format!("0 0 {WIDTH} {height}")) width="100%" aria-label=(label) {
            title { (label) }
            // The criteria windows, widest first, each a shade darker.
            @for (i, window) in windows.iter().rev().enumerate() {
                @let from = x(end - Duration::days(i64::from(*window)));
                rect class="window" x=(fmt(from)) y="12" width=(fmt(x(end) - from))
                    height=(fmt(axis - 12.0)) fill=(if i == 0 { "#f3f3f3" } else { "#e4e4e4" }) {}
                line x1=(fmt(from)) x2=(fmt(from)) y1="12" y2=(fmt(axis)) stroke="#888"
                    stroke-dasharray="3 2" {}
                text x=(fmt(from + 3.0)) y="21" font-size="9" fill="#333" { (window) " days" }
            }
            @for tick in &ticks {
                @let tx = x(at_midnight(*tick));
                line x1=(fmt(tx)) x2=(fmt(tx)) y1=(fmt(axis)) y2=(fmt(axis + 4.0)) stroke="#555" {}
                text x=(fmt(tx + 2.0)) y=(fmt(height - 2.0)) font-size="9" fill="#333" {
                    (tick.format("%-d %b").to_string())
                }
            }
            line x1=(fmt(LEFT)) x2=(fmt(WIDTH - RIGHT)) y1=(fmt(axis)) y2=(fmt(axis))
                stroke="#333" {}
            text x=(fmt(WIDTH - RIGHT)) y=(fmt(height - 2.0)) font-size="9" fill="#333"
                text-anchor="end" { (local(end).format("%-d %b").to_string()) }
            @for (e, lane) in &placed {
                @let (fill, letter, words) = risk_style(e.risk_level);
                @let x0 = x(e.reported_missing_at);
                @let open = e.returned_at.is_none();
                @let x1 = x(e.returned_at.unwrap_or(end)).max(x0 + 5.0);
                @let y = TOP + (*lane as f64) * LANE;
                g class=(if open { "episode open" } else { "episode" }) {
                    title {
                        (e.episode_id.as_str()) ": " (words) ", reported "
                        (crate::http::render::local_time(e.reported_missing_at, timezone))
                        @match e.returned_at {
                            Some(at) => { ", returned " (crate::http::render::local_time(at, timezone)) }
                            None => { ", not returned" }
                        }
                    }
                    rect class="bar" data-episode=(e.episode_id.as_str()) x=(fmt(x0))
                        y=(fmt(y)) width=(fmt(x1 - x0)) height=(fmt(LANE - 4.0)) fill=(fill)
                        stroke="#000" stroke-width="0.6"
                        stroke-dasharray=(if open { "3 2" } else { "none" }) {}
                    @if x1 - x0 >= 10.0 {
                        text x=(fmt(x0 + 2.0)) y=(fmt(y + LANE - 7.0)) font-size="9"
                            font-weight="bold" fill=(ink(e.risk_level)) { (letter) }
                    } @else {
                        text x=(fmt(x0)) y=(fmt(y - 1.0)) font-size="8" font-weight="bold"
                            fill="#000" { (letter) }
                    }
                    @if open {
                        // An arrow head at the end: still missing.
                        path d=(format!("M{} {} l6 {} l-6 {} z", fmt(x1), fmt(y - 1.0),
                            fmt((LANE - 2.0) / 2.0), fmt((LANE - 2.0) / 2.0)))
                            fill="#000" {}
                    }
                }
            }
            @for r in interviews {
                @if let Some(at) = r.completed_at.or(r.offered_at) {
                    @let mx = x(at);
                    @let completed = r.status == RhiStatus::Completed;
                    g class="interview" {
                        title {
                            (r.rhi_id.as_str()) ": return home interview "
                            (r.status.as_str().replace('_', " ")) " for " (r.episode_id.as_str())
                        }
                        path d=(format!("M{} {} l-4 8 l8 0 z", fmt(mx), fmt(marks)))
                            fill=(if completed { "#000" } else { "#fff" }) stroke="#000" {}
                    }
                }
            }
        }
    }
}

/// The legend under a timeline: every mark described in words.
pub fn legend() -> Markup {
    let risks = [
        RiskLevel::High,
        RiskLevel::Medium,
        RiskLevel::Low,
        RiskLevel::NoApparentRisk,
    ];
    html! {
        p class="legend" {
            @for risk in risks {
                @let (fill, letter, words) = risk_style(risk);
                span class="key" {
                    svg width="14" height="10" viewBox="0 0 14 10" aria-hidden="true" {
                        rect x="0" y="0" width="14" height="10" fill=(fill) stroke="#000"
                            stroke-width="0.6" {}
                    }
                    " " strong { (letter) } " " (words)
                }
            }
            span class="key" { "dashed bar with \u{25B6} = still missing" }
            span class="key" { "\u{25B2} = interview completed, \u{25B3} = offered" }
            span class="key" { "shaded = criteria windows" }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}
