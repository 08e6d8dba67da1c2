//! `simulate` is faithful: the shipped example fed to the real service, its
//! clock stepped through the events' times, every hour between them and each
//! collation time (as its timers would see time pass), collates the agendas simulate predicts, item for item, and sends
//! the same requests and alerts. Lines of types simulate does not simulate
//! (the example's trigger plan) are not sent: they would add effects and a
//! plan to an item that simulate says it leaves out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, DurationRound, Utc};
use serde_json::Value;

use vemt::agendas::Agendas;
use vemt::collation;
use vemt::domain::agenda::Agenda;
use vemt::domain::criteria::Criterion;
use vemt::domain::effects::Effect;
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

// R1, R2.1, R3.1, R4.1, R7.1: what simulate prints is what the service does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_collates_what_simulate_predicts_for_the_shipped_example() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/simulate.jsonl"),
    )
    .expect("the example is shipped");
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
    let options = Options::from_settings(settings).unwrap();
    let predicted = simulate::simulate(&text, &options).expect("simulate runs");
    assert!(predicted.agendas.iter().filter(|m| m.collated).count() >= 8);

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
    let mut instants = BTreeSet::new();
    let mut hour = start.duration_trunc(chrono::Duration::hours(1)).unwrap();
    while hour <= end {
        instants.insert(hour);
        let collation = calendar.next_open_meeting(hour).collation_at;
        if collation <= end {
            instants.insert(collation);
        }
        hour += chrono::Duration::hours(1);
    }
    instants.retain(|t| *t > start);
    let mut steps: Vec<(DateTime<Utc>, u8, usize, Step)> =
        instants.iter().map(|t| (*t, 0, 0, Step::Timers)).collect();
    let simulated = |raw: &str| {
        let value: Value = serde_json::from_str(raw).unwrap();
        !predicted
            .not_simulated
            .contains_key(value["type"].as_str().unwrap_or_default())
    };
    steps.extend(
        lines
            .iter()
            .filter(|(_, raw, _)| simulated(raw))
            .map(|(line, raw, t)| (*t, 1, *line, Step::Event { line: *line, raw })),
    );
    assert_eq!(steps.len(), instants.len() + lines.len() - 1);
    steps.sort_by_key(|(t, kind, line, _)| (*t, *kind, *line));
    let refused: BTreeSet<usize> = predicted.refused.iter().map(|r| r.line).collect();
    let mut handled = 0;
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
                    handled += 1;
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

    // The same requests for the same children and meetings, and the same
    // unmatched alerts.
    let wanted: BTreeSet<(String, String)> = predicted
        .effects
        .iter()
        .filter_map(|p| match &p.effect {
            Effect::TriggerPlanRequest(r) => {
                Some((r.meeting_date.to_string(), r.police_person_id.to_string()))
            }
            _ => None,
        })
        .collect();
    let sent: BTreeSet<(String, String)> = app
        .take_distinct_events("police.trigger-plan-request.v1", wanted.len())
        .await
        .iter()
        .map(|e| {
            (
                e["data"]["meeting_date"].as_str().unwrap().to_owned(),
                e["data"]["police_person_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(sent, wanted);
    app.assert_no_more("police.trigger-plan-request.v1").await;
    let alerted: BTreeSet<String> = predicted
        .effects
        .iter()
        .filter_map(|p| match &p.effect {
            Effect::UnmatchedPersonAlert(a) => Some(a.police_person_id.to_string()),
            _ => None,
        })
        .collect();
    let alerts: BTreeSet<String> = app
        .take_distinct_events("lcs.alert.v1", alerted.len())
        .await
        .iter()
        .map(|e| e["data"]["police_person_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(alerts, alerted);
    app.assert_no_more("lcs.alert.v1").await;
    app.stop().await;
}
