//! `simulate` is faithful: a file fed to the real service, its clock stepped
//! through the events' times and the instants simulate ran the timers at
//! (collations, and a live episode passing 72 hours), collates the agendas
//! simulate predicts, item for item, and sends the same effects, effect for
//! effect (type and data). Two files: the shipped example, and a realistic
//! feed of every inbound type, sixty children over sixteen weeks
//! (`synthetic.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use vemt::agendas::Agendas;
use vemt::collation;
use vemt::domain::agenda::Agenda;
use vemt::domain::criteria::Criterion;
use vemt::domain::ids::EpisodeId;
use vemt::intake::Intake;
use vemt::simulate::{self, Options};

use crate::helpers::{TestApp, templates};

type Evidence = BTreeMap<String, BTreeMap<Criterion, Vec<EpisodeId>>>;

/// Each child's criteria and evidence, keyed by LCS id or police ids.
fn evidence(agenda: &Agenda) -> Evidence {
    agenda
        .items
        .iter()
        .map(|item| {
            let key = match &item.lcs_person_id {
                Some(lcs) => lcs.to_string(),
                None => {
                    let ids: Vec<String> = item
                        .police_person_ids
                        .iter()
                        .map(|p| p.to_string())
                        .collect();
                    ids.join(",")
                }
            };
            (key, item.evidence.clone())
        })
        .collect()
}

enum Step<'a> {
    Timers,
    Event { line: usize, raw: &'a str },
}

// R1, R2.1, R3.1, R4.1, R4.2, R7.1: what simulate prints is what the service does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_collates_what_simulate_predicts_for_the_shipped_example() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/simulate.jsonl"),
    )
    .expect("the example is shipped");
    let predicted = parity(&text).await;
    assert!(predicted.agendas.iter().filter(|m| m.collated).count() >= 8);
}

// R1-R8 over sixty children and sixteen weeks, every inbound type:
// revisions out of order, late LCS links, second police ids, interviews,
// trigger plans and their new versions, meeting outcomes (some for children
// LCS has not sent: refused), action updates, VPG decisions out of meeting
// order, repeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_does_what_simulate_predicts_for_a_realistic_feed() {
    let text = crate::synthetic::realistic_feed();
    let predicted = parity(&text).await;
    let lines = text.lines().count();
    assert!(lines >= 400, "a realistic size, not {lines} lines");
    // Outcomes for children LCS has not sent yet, or never does.
    assert!(!predicted.refused.is_empty());
    assert!(predicted.already_recorded > 0);
    let types: BTreeSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].to_string())
        .collect();
    assert_eq!(types.len(), 7, "every inbound type: {types:?}");
    for kind in ["meeting.review-outcome.v1", "meeting.vpg-decision.v1"] {
        let ids: BTreeSet<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["type"] == kind)
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            predicted
                .effects
                .iter()
                .any(|p| ids.contains(&p.cause.causation_id)),
            "{kind} events have effects"
        );
    }
    assert!(
        predicted
            .agendas
            .iter()
            .filter(|m| !m.agenda.items.is_empty())
            .count()
            >= 10
    );
    for kind in [
        "police.trigger-plan-request.v1",
        "lcs.document.v1",
        "lcs.alert.v1",
        "lcs.case-note.v1",
        "email.v1",
    ] {
        assert!(
            predicted
                .effects
                .iter()
                .any(|p| p.effect.event_type() == kind),
            "the feed causes {kind}"
        );
    }
}

/// Feeds `text` to simulate and to the real service; asserts they agree.
async fn parity(text: &str) -> simulate::Simulation {
    let lines: Vec<(usize, &str, DateTime<Utc>)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let value: Value = serde_json::from_str(l).expect("each example line is JSON");
            let time = value["time"]
                .as_str()
                .expect("each example line has a time");
            (i + 1, l, crate::helpers::utc(time))
        })
        .collect();
    let start = lines.iter().map(|(_, _, t)| *t).min().unwrap();
    let app = TestApp::spawn(start).await;

    let settings = &app.settings;
    let options = Options::from_settings(settings, &templates()).unwrap();
    let predicted = simulate::simulate(text, &options).expect("simulate runs");

    // The timers called directly, so each run is complete before the clock
    // moves on: hourly (a coarser sweep than the service's every minute, and
    // independent of the instants simulate chose) and at each collation
    // time. The service's own timer loop runs too; both are idempotent.
    let calendar = settings.calendar().unwrap();
    let source = settings.service.source.clone();
    let intake = Intake::new(
        app.pool.clone(),
        settings.criteria,
        calendar.clone(),
        source.clone(),
        templates(),
    );
    let agendas = Agendas::new(app.pool.clone(), calendar.clone(), settings.criteria);

    let end = predicted.until.expect("the run has an end");
    // The timers run where simulate ran them: at each collation, and when
    // a live episode passes 72 hours (the service's minute-by-minute sweep
    // sees it then too).
    let instants: BTreeSet<DateTime<Utc>> = predicted.ticks.iter().copied().collect();
    let mut steps: Vec<(DateTime<Utc>, u8, usize, Step)> =
        instants.iter().map(|t| (*t, 0, 0, Step::Timers)).collect();
    steps.extend(
        lines
            .iter()
            .map(|(line, raw, t)| (*t, 1, *line, Step::Event { line: *line, raw })),
    );
    steps.sort_by_key(|(t, kind, line, _)| (*t, *kind, *line));
    let refused: BTreeSet<usize> = predicted.refused.iter().map(|r| r.line).collect();
    let mut handled = 0;
    // A repeat (same source and id) adds no inbox row.
    let mut first_seen = BTreeSet::new();
    for (at, _, _, step) in &steps {
        app.clock.set(*at);
        match step {
            Step::Timers => {
                collation::collate_due(&agendas, &source, *at)
                    .await
                    .expect("collation runs");
                intake.sweep(*at).await.expect("the sweep runs");
            }
            Step::Event { line, raw } => {
                let value: Value = serde_json::from_str(raw).unwrap();
                let routing_key = value["type"].as_str().unwrap();
                app.publish_raw(raw.as_bytes(), routing_key, Some("guest"))
                    .await;
                if refused.contains(line) {
                    app.take(&settings.broker.dead_letter_queue, 1).await;
                } else {
                    let key = (value["source"].to_string(), value["id"].to_string());
                    if first_seen.insert(key) {
                        handled += 1;
                    }
                    app.wait_handled(handled).await;
                }
            }
        }
    }
    app.clock.set(end);

    // Every meeting simulate collated, the service collated, alike.
    let mut conn = app.pool.acquire().await.unwrap();
    let collated: Vec<chrono::NaiveDate> =
        sqlx::query_scalar("SELECT meeting_date FROM collations ORDER BY meeting_date")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let expected: Vec<chrono::NaiveDate> = predicted
        .agendas
        .iter()
        .filter(|m| m.collated)
        .map(|m| m.agenda.meeting_date)
        .collect();
    assert_eq!(collated, expected);
    for meeting in &predicted.agendas {
        let date = meeting.agenda.meeting_date;
        let service = if meeting.collated {
            vemt::store::collations::frozen(&mut conn, date)
                .await
                .unwrap()
                .expect("collated")
        } else {
            agendas
                .agenda(date, end)
                .await
                .unwrap()
                .expect("the meeting sits")
        };
        assert_eq!(
            evidence(&service),
            evidence(&meeting.agenda),
            "the agenda of {date}"
        );
        assert_eq!(service.items, meeting.agenda.items, "the items of {date}");
    }
    drop(conn);

    // The same effects, effect for effect: type and data (ids of timers'
    // effects name the child's key, which differs between the two).
    let mut wanted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for produced in &predicted.effects {
        let event = vemt::contract::outbound::build(
            &produced.effect,
            &produced.cause,
            &source,
            produced.at,
        )
        .expect("the effect builds");
        wanted
            .entry(produced.effect.event_type())
            .or_default()
            .push(event.body["data"].to_string());
    }
    for (kind, data) in &mut wanted {
        let mut sent: Vec<String> = app
            .take_distinct_events(kind, data.len())
            .await
            .iter()
            .map(|e| e["data"].to_string())
            .collect();
        sent.sort();
        data.sort();
        assert_eq!(&sent, data, "the {kind} effects");
    }
    for kind in vemt::broker::OUTBOUND_TYPES {
        if !kind.starts_with("agenda.") {
            app.assert_no_more(kind).await;
        }
    }
    app.stop().await;
    predicted
}
