//! JSON logs (issue 5): every line written while an event is handled, from
//! the consumer, intake or store code, names the event's `id`, `type` and
//! `correlationid`, and no line names a child (R8.4).

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

use vemt::config::LogFormat;

use crate::helpers::{EpisodeSpec, TestApp, cloud_event, utc};

/// Log output, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .expect("logs are UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect()
    }
}

fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}

/// A current-thread runtime: the app's tasks all run on this thread, so
/// the subscriber set for it here sees every line they write.
#[tokio::test(flavor = "current_thread")]
async fn every_line_written_while_handling_an_event_names_its_id_type_and_correlation_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        vemt::telemetry::subscriber(LogFormat::Json, EnvFilter::new("info"), move || {
            writer.clone()
        });
    // tracing-core caches each callsite's interest for the whole process,
    // and while only one dispatcher is registered it asks the default of
    // whichever thread hits the callsite first: a test on another thread
    // would leave the consumer's callsites disabled here. With a second
    // live dispatcher it asks every registered one.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _scope = tracing::subscriber::set_default(subscriber);

    let app = TestApp::spawn(utc("2026-11-16T09:00:00Z")).await;
    // An unmatched police person: intake logs that it keeps them unmatched.
    let mut episode =
        EpisodeSpec::returned("CP-LOG", "P-LOG", None, utc("2026-11-15T09:00:00Z")).event();
    episode["correlationid"] = json!("corr-log-1");
    let episode_id = episode["id"].as_str().unwrap().to_owned();
    app.publish(&episode).await;
    // An update of an action nobody recorded: refused inside intake and
    // dead-lettered; with no correlationid the event's id stands for it.
    let update = cloud_event(
        "meeting.action-updated.v1",
        "urn:test:minutes",
        json!({ "action_id": "A-NOBODY", "status": "done" }),
    );
    let update_id = update["id"].as_str().unwrap().to_owned();
    app.publish(&update).await;
    app.take(&app.settings.broker.dead_letter_queue, 1).await;
    app.take_events("lcs.alert.v1", 1).await;
    app.stop().await;

    let lines = captured.lines();
    assert!(!lines.is_empty(), "the JSON subscriber wrote lines");
    let in_event: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["name"] == "event"))
        })
        .collect();
    for line in &in_event {
        let span = &line["span"];
        assert_eq!(
            span["name"], "event",
            "the event's span is the current one: {line}"
        );
        for field in ["id", "type", "correlationid"] {
            assert!(span[field].is_string(), "{field} missing from {line}");
        }
    }
    let of = |id: &str| -> Vec<&Value> {
        in_event
            .iter()
            .copied()
            .filter(|line| line["span"]["id"] == id)
            .collect()
    };

    let episode_lines = of(&episode_id);
    let messages: Vec<&str> = episode_lines.iter().map(|l| message(l)).collect();
    assert!(
        messages.contains(&"police person not linked to any LCS child: kept as unmatched"),
        "a line from intake: {messages:?}"
    );
    assert!(messages.contains(&"event handled"), "{messages:?}");
    for line in &episode_lines {
        assert_eq!(line["span"]["type"], "police.missing-episode.v1");
        assert_eq!(line["span"]["correlationid"], "corr-log-1");
    }

    let update_lines = of(&update_id);
    assert!(
        update_lines
            .iter()
            .any(|l| message(l) == "message refused: dead-lettered"),
        "the refusal is logged inside the event: {update_lines:?}"
    );
    for line in &update_lines {
        assert_eq!(line["span"]["type"], "meeting.action-updated.v1");
        assert_eq!(line["span"]["correlationid"], update_id.as_str());
    }

    let everything: String = lines.iter().map(Value::to_string).collect();
    for personal in ["Testchild", "Family-P-LOG", "2011-03-04"] {
        assert!(
            !everything.contains(personal),
            "no log line names {personal}"
        );
    }
}
