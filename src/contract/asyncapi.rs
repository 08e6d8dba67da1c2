//! Tests of `docs/asyncapi.yaml` against the service itself: every message
//! type of the contract is described, with an example; the inbound examples
//! parse with the service's own parser; the outbound examples, and the
//! events the service builds from the inbound ones, match the committed
//! JSON Schemas; and the inbound schemas refuse what the parser refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

use super::inbound::{InboundEvent, InboundPayload, Limits, parse_inbound};
use super::outbound::{self, Cause, OutboundEvent};
use super::schema::{Direction, SCHEMA_DIR, message_schemas};

/// After every time in the document's examples, so none is "in the future".
fn now() -> DateTime<Utc> {
    "2026-12-31T00:00:00Z".parse().unwrap()
}

const SOURCE: &str = "urn:vemt:integration-service";
const DRAFT_07: &str = "application/schema+json;version=draft-07";

fn crate_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// YAML 1.2 to JSON, anchors and aliases resolved by the loader.
fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(raw) => Value::from(raw.parse::<f64>().expect("a YAML real is a number")),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => items.iter().map(to_json).collect(),
        Yaml::Hash(map) => map
            .iter()
            .map(|(key, value)| {
                let key = key.as_str().expect("every key of the document is a string");
                (key.to_owned(), to_json(value))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Yaml::Alias(_) | Yaml::BadValue => panic!("unresolved YAML node {yaml:?}"),
    }
}

fn document() -> Value {
    let text = std::fs::read_to_string(crate_root().join("docs/asyncapi.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).expect("docs/asyncapi.yaml is YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    to_json(&docs[0])
}

/// The messages of `components.messages` that are contract types, by name.
fn messages(doc: &Value) -> BTreeMap<String, Value> {
    doc["components"]["messages"]
        .as_object()
        .unwrap()
        .values()
        .filter(|m| m["name"] != "dead-letter")
        .map(|m| (m["name"].as_str().unwrap().to_owned(), m.clone()))
        .collect()
}

fn examples(message: &Value) -> Vec<(String, Value)> {
    message["examples"]
        .as_array()
        .map(|examples| {
            examples
                .iter()
                .map(|e| (e["name"].as_str().unwrap().to_owned(), e["payload"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn validator(event_type: &str) -> jsonschema::Validator {
    let path = crate_root()
        .join(SCHEMA_DIR)
        .join(format!("{event_type}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()))
}

/// The schema's complaints about `instance`, as `path: message` lines.
fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn parse(event: &Value) -> Result<InboundEvent, super::inbound::Rejection> {
    parse_inbound(event.to_string().as_bytes(), now(), &Limits::default())
}

/// The first example of the inbound message `event_type`.
fn inbound_example(doc: &Value, event_type: &str) -> Value {
    examples(&messages(doc)[event_type])[0].1.clone()
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

#[test]
fn the_document_describes_every_message_type_once_with_its_schema_file_and_an_example() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    let messages = messages(&doc);
    let schemas = message_schemas();
    let described: BTreeSet<&str> = messages.keys().map(String::as_str).collect();
    let contract: BTreeSet<&str> = schemas.iter().map(|s| s.event_type).collect();
    assert_eq!(described, contract, "messages of docs/asyncapi.yaml");
    for schema in &schemas {
        let message = &messages[schema.event_type];
        assert_eq!(
            message["payload"],
            json!({
                "schemaFormat": DRAFT_07,
                "schema": { "$ref": format!("./schemas/{}.json", schema.event_type) },
            }),
            "{}: payload",
            schema.event_type
        );
        assert!(crate_root().join(schema.path()).is_file());
        assert!(
            !examples(message).is_empty(),
            "{} has no example",
            schema.event_type
        );
    }
}

#[test]
fn every_message_type_has_its_channel_and_every_reference_resolves() {
    let doc = document();
    let channels = doc["channels"].as_object().unwrap();
    let message_name = |reference: &Value| {
        resolve(&doc, reference["$ref"].as_str().unwrap())
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{reference} does not resolve"))
    };
    let inbound: BTreeSet<String> = channels["inbound"]["messages"]
        .as_object()
        .unwrap()
        .values()
        .map(message_name)
        .collect();
    let routing_keys: BTreeSet<String> = channels["inbound"]["parameters"]["eventType"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let schemas = message_schemas();
    let expected: BTreeSet<String> = schemas
        .iter()
        .filter(|s| s.direction == Direction::Inbound)
        .map(|s| s.event_type.to_owned())
        .collect();
    assert_eq!(inbound, expected, "messages of the inbound channel");
    assert_eq!(
        routing_keys, expected,
        "routing keys of the inbound channel"
    );
    for schema in schemas
        .iter()
        .filter(|s| s.direction == Direction::Outbound)
    {
        let channel = channels
            .values()
            .find(|c| c["address"] == schema.event_type)
            .unwrap_or_else(|| panic!("no channel has the address {}", schema.event_type));
        let names: Vec<String> = channel["messages"]
            .as_object()
            .unwrap()
            .values()
            .map(message_name)
            .collect();
        assert_eq!(names, [schema.event_type], "messages of its channel");
    }
    let mut unresolved = Vec::new();
    every_local_ref(&doc, &mut |reference| {
        if resolve(&doc, reference).is_none() {
            unresolved.push(reference.to_owned());
        }
    });
    assert!(unresolved.is_empty(), "unresolved: {unresolved:?}");
}

fn every_local_ref(value: &Value, visit: &mut dyn FnMut(&str)) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && reference.starts_with('#')
            {
                visit(reference);
            }
            map.values().for_each(|v| every_local_ref(v, visit));
        }
        Value::Array(items) => items.iter().for_each(|v| every_local_ref(v, visit)),
        _ => {}
    }
}

#[test]
fn every_inbound_example_parses_with_the_service_parser_and_matches_its_schema() {
    let doc = document();
    let messages = messages(&doc);
    let mut parsed = 0;
    for schema in message_schemas()
        .iter()
        .filter(|s| s.direction == Direction::Inbound)
    {
        let validator = validator(schema.event_type);
        for (name, payload) in examples(&messages[schema.event_type]) {
            let event = parse(&payload)
                .unwrap_or_else(|r| panic!("{} example {name}: {r}", schema.event_type));
            assert_eq!(event.envelope.event_type, schema.event_type);
            let errors = schema_errors(&validator, &payload);
            assert!(errors.is_empty(), "{name}: {errors:#?}");
            deserialises_into_its_wire_type(schema.event_type, &payload);
            parsed += 1;
        }
    }
    assert!(parsed >= 7, "one example at least per inbound type");
}

fn deserialises_into_its_wire_type(event_type: &str, payload: &Value) {
    use super::schema::*;
    fn read<D: serde::de::DeserializeOwned>(payload: &Value) {
        serde_json::from_value::<InboundEnvelope<D>>(payload.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", payload["type"]));
    }
    match event_type {
        "police.missing-episode.v1" => read::<PoliceMissingEpisodeData>(payload),
        "lcs.child.v1" => read::<LcsChildData>(payload),
        "lcs.return-home-interview.v1" => read::<LcsReturnHomeInterviewData>(payload),
        "police.trigger-plan.v1" => read::<PoliceTriggerPlanData>(payload),
        "meeting.review-outcome.v1" => read::<MeetingReviewOutcomeData>(payload),
        "meeting.vpg-decision.v1" => read::<MeetingVpgDecisionData>(payload),
        "meeting.action-updated.v1" => read::<MeetingActionUpdatedData>(payload),
        other => panic!("no wire type for {other}"),
    }
}

#[test]
fn every_outbound_example_matches_its_schema() {
    let doc = document();
    let messages = messages(&doc);
    for schema in message_schemas()
        .iter()
        .filter(|s| s.direction == Direction::Outbound)
    {
        let validator = validator(schema.event_type);
        for (name, payload) in examples(&messages[schema.event_type]) {
            assert_eq!(payload["type"], schema.event_type, "{name}");
            let errors = schema_errors(&validator, &payload);
            assert!(
                errors.is_empty(),
                "{} example {name}: {errors:#?}",
                schema.event_type
            );
        }
    }
}

/// A JSON pointer and its new value, or `None` to remove it.
type Change = (&'static str, Option<Value>);

/// `event` with each change made.
fn changed(mut event: Value, changes: &[Change]) -> Value {
    for (pointer, value) in changes {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = event
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("{parent}"));
        match (parent, value) {
            (Value::Object(map), Some(value)) => {
                map.insert(key.to_owned(), value.clone());
            }
            (Value::Object(map), None) => {
                map.remove(key);
            }
            (Value::Array(items), Some(value)) => {
                items[key.parse::<usize>().unwrap()] = value.clone()
            }
            (other, _) => panic!("cannot change {pointer} in {other}"),
        }
    }
    event
}

fn set(pointer: &'static str, value: Value) -> Change {
    (pointer, Some(value))
}

fn unset(pointer: &'static str) -> Change {
    (pointer, None)
}

/// (inbound type, changes to its example, accepted?) for the rules JSON
/// Schema can say: the parser and the schema must give the same verdict.
fn rule_cases() -> Vec<(&'static str, Vec<Change>, bool)> {
    let long = |n: usize| Value::from("x".repeat(n));
    vec![
        // The envelope.
        (
            "police.missing-episode.v1",
            vec![set("/specversion", json!("1.1"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/specversion", json!(1.0))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/id", json!(""))],
            false,
        ),
        ("police.missing-episode.v1", vec![unset("/id")], false),
        (
            "police.missing-episode.v1",
            vec![set("/source", Value::Null)],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/datacontenttype", json!("text/plain"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/datacontenttype", Value::Null)],
            true,
        ),
        ("police.missing-episode.v1", vec![unset("/time")], true),
        (
            "police.missing-episode.v1",
            vec![set("/time", json!("2026-11-20T21:20:05"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/correlationid", json!(""))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/correlationid", json!("c-1"))],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data", json!([]))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/partner_extension", json!({"a": 1}))],
            true,
        ),
        // police.missing-episode.v1
        (
            "police.missing-episode.v1",
            vec![unset("/data/episode_id")],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/episode_id", json!("CP 1"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/episode_id", long(129))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/episode_id", long(128))],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/revision", json!(0))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/revision", json!("3"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/revision", json!(4_294_967_296_u64))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/person/given_name", json!("  "))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/person/given_name", long(201))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/person/given_name", long(200))],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/person/date_of_birth", json!("2011-3-4"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/person/gender", json!("f"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/person/gender", Value::Null)],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![unset("/data/person/lcs_person_id")],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/status", json!("closed"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/returned_at", json!("2026-11-21T08:00:00Z"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/status", json!("returned"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![
                set("/data/status", json!("returned")),
                set("/data/returned_at", json!("2026-11-21T08:00:00+00:00")),
            ],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/status", json!("cancelled"))],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/risk_level", json!("very_low"))],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/risk_level", json!("absent"))],
            true,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/risk_level", json!("High"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/missing_from", json!("school"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/trigger_plan_in_place", json!("yes"))],
            false,
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/reported_missing_at", json!("2026-11-20 21:15"))],
            false,
        ),
        // lcs.child.v1
        ("lcs.child.v1", vec![unset("/data/vemt")], false),
        (
            "lcs.child.v1",
            vec![set("/data/vemt/status", json!("open"))],
            false,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/vemt/category", Value::Null)],
            true,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/vemt/risk_level", json!("no_apparent_risk"))],
            false,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/police_person_ids", json!("P-88231"))],
            false,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/police_person_ids", json!(["P-1", "P-1"]))],
            true,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/professionals/0/role", json!("nurse"))],
            false,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/professionals/0/email", json!("sam.jones"))],
            false,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/professionals/0/email", json!("a@b@c"))],
            false,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/professionals/0/email", json!("a b@c"))],
            false,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/professionals/0/email", Value::Null)],
            true,
        ),
        (
            "lcs.child.v1",
            vec![set("/data/professionals/0/name", json!(""))],
            false,
        ),
        (
            "lcs.child.v1",
            vec![unset("/data/professionals/0/worker_id")],
            false,
        ),
        ("lcs.child.v1", vec![set("/data/ehm_id", Value::Null)], true),
        (
            "lcs.child.v1",
            vec![set("/data/ehm_id", json!("EHM\t1"))],
            false,
        ),
        // lcs.return-home-interview.v1
        (
            "lcs.return-home-interview.v1",
            vec![set("/data/completed_at", Value::Null)],
            false,
        ),
        (
            "lcs.return-home-interview.v1",
            vec![
                set("/data/status", json!("offered")),
                set("/data/completed_at", Value::Null),
            ],
            true,
        ),
        (
            "lcs.return-home-interview.v1",
            vec![set("/data/status", json!("refused"))],
            false,
        ),
        (
            "lcs.return-home-interview.v1",
            vec![unset("/data/episode_id")],
            false,
        ),
        // police.trigger-plan.v1
        (
            "police.trigger-plan.v1",
            vec![set("/data/document/url", json!("ftp://police.example/p"))],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set("/data/document/url", json!("https://"))],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set("/data/document/url", json!("https:///p"))],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set("/data/document/url", json!("https://user@/p"))],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set("/data/document/url", json!("https://:443/p"))],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set(
                "/data/document/url",
                json!("https://police.example/a b"),
            )],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set("/data/document/url", json!("https://[::1]:8443/p"))],
            true,
        ),
        (
            "police.trigger-plan.v1",
            vec![set(
                "/data/document/url",
                json!("HTTP://user@Police.Example?x=1"),
            )],
            true,
        ),
        (
            "police.trigger-plan.v1",
            vec![set(
                "/data/document/url",
                json!(format!("https://p.example/{}", "x".repeat(2031))),
            )],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set(
                "/data/document/url",
                json!(format!("https://p.example/{}", "x".repeat(2030))),
            )],
            true,
        ),
        (
            "police.trigger-plan.v1",
            vec![set(
                "/data/document/media_type",
                json!("application/pdf; q=1"),
            )],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set("/data/document/media_type", json!("pdf"))],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set(
                "/data/document/media_type",
                json!("application/vnd.ms-word.document+xml"),
            )],
            true,
        ),
        (
            "police.trigger-plan.v1",
            vec![set("/data/document/media_type", Value::Null)],
            true,
        ),
        (
            "police.trigger-plan.v1",
            vec![unset("/data/document")],
            false,
        ),
        (
            "police.trigger-plan.v1",
            vec![set("/data/version", json!(0))],
            false,
        ),
        ("police.trigger-plan.v1", vec![unset("/data/summary")], true),
        // meeting.review-outcome.v1
        (
            "meeting.review-outcome.v1",
            vec![set("/data/outcome", json!(""))],
            false,
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/outcome", json!(" \n"))],
            false,
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/outcome", long(20_001))],
            false,
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/trigger_plan", json!({"request": "copy"}))],
            false,
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/trigger_plan", Value::Null)],
            true,
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/actions/0/owner_role", long(101))],
            false,
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/actions/0/due_date", json!("02/12/2026"))],
            false,
        ),
        (
            "meeting.review-outcome.v1",
            vec![unset("/data/actions/0/description")],
            false,
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/refer_to_vpg", json!("no"))],
            false,
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/meeting_date", json!("2026-11-25T10:00:00Z"))],
            false,
        ),
        // meeting.vpg-decision.v1
        (
            "meeting.vpg-decision.v1",
            vec![unset("/data/category")],
            false,
        ),
        (
            "meeting.vpg-decision.v1",
            vec![set("/data/lead_professional", Value::Null)],
            false,
        ),
        (
            "meeting.vpg-decision.v1",
            vec![set("/data/risk_level", json!("none"))],
            false,
        ),
        (
            "meeting.vpg-decision.v1",
            vec![
                set("/data/decision", json!("close")),
                unset("/data/category"),
                set("/data/risk_level", Value::Null),
                unset("/data/lead_professional"),
            ],
            true,
        ),
        (
            "meeting.vpg-decision.v1",
            vec![set("/data/decision", json!("defer"))],
            false,
        ),
        (
            "meeting.vpg-decision.v1",
            vec![set("/data/signposting", json!(["police"]))],
            false,
        ),
        (
            "meeting.vpg-decision.v1",
            vec![set("/data/signposting", json!(["marac", "marac"]))],
            true,
        ),
        (
            "meeting.vpg-decision.v1",
            vec![set("/data/trafficked", json!(1))],
            false,
        ),
        (
            "meeting.vpg-decision.v1",
            vec![unset("/data/lead_professional/worker_id")],
            false,
        ),
        // meeting.action-updated.v1
        (
            "meeting.action-updated.v1",
            vec![set("/data/status", json!("closed"))],
            false,
        ),
        (
            "meeting.action-updated.v1",
            vec![unset("/data/action_id")],
            false,
        ),
        (
            "meeting.action-updated.v1",
            vec![set("/data/action_id", json!(77))],
            false,
        ),
    ]
}

#[test]
fn the_inbound_schemas_and_the_parser_agree_on_every_rule_a_schema_can_say() {
    let doc = document();
    let mut disagreements = Vec::new();
    for (event_type, changes, accepted) in rule_cases() {
        let event = changed(inbound_example(&doc, event_type), &changes);
        let parser = parse(&event);
        let schema = schema_errors(&validator(event_type), &event);
        let pointers: Vec<String> = changes
            .iter()
            .map(|(p, v)| {
                format!(
                    "{p}={}",
                    v.as_ref().map_or("(unset)".into(), |v| v
                        .to_string()
                        .chars()
                        .take(40)
                        .collect::<String>())
                )
            })
            .collect();
        if parser.is_ok() != accepted || schema.is_empty() != accepted {
            disagreements.push(format!(
                "{event_type} {pointers:?}: expected {}, parser {:?}, schema {schema:?}",
                if accepted { "accepted" } else { "refused" },
                parser.map(|_| "accepted"),
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn the_parser_alone_enforces_the_rules_a_schema_cannot_say_as_their_descriptions_tell() {
    let doc = document();
    // Relative to now (2026-12-31T00:00Z), the order of two fields, or
    // uniqueness by one field: JSON Schema has no word for these.
    let cases: Vec<(&str, Vec<Change>, &str)> = vec![
        (
            "police.missing-episode.v1",
            vec![set("/data/person/date_of_birth", json!("2027-01-01"))],
            "$.data.person.date_of_birth: must not be in the future",
        ),
        (
            "police.missing-episode.v1",
            vec![set(
                "/data/reported_missing_at",
                json!("2027-01-01T00:00:01Z"),
            )],
            "$.data.reported_missing_at: must not be more than 24 hours in the future",
        ),
        (
            "police.missing-episode.v1",
            vec![
                set("/data/status", json!("returned")),
                set("/data/returned_at", json!("2026-11-20T21:14:59Z")),
            ],
            "$.data.returned_at: must be at or after reported_missing_at when status is returned",
        ),
        (
            "police.missing-episode.v1",
            vec![set("/data/revision", json!(3.0))],
            "$.data.revision: must be an integer >= 1",
        ),
        (
            "meeting.review-outcome.v1",
            vec![set("/data/meeting_date", json!("2027-01-02"))],
            "$.data.meeting_date: must not be more than 24 hours in the future",
        ),
        (
            "meeting.review-outcome.v1",
            vec![set(
                "/data/actions",
                json!([
                    {"action_id": "A-1", "description": "d", "owner_role": "r"},
                    {"action_id": "A-1", "description": "d", "owner_role": "r"}
                ]),
            )],
            "$.data.actions[1].action_id: must not repeat an action_id of this outcome",
        ),
    ];
    for (event_type, changes, reason) in cases {
        let event = changed(inbound_example(&doc, event_type), &changes);
        assert_eq!(
            parse(&event).map(|_| ()).map_err(|r| r.to_string()),
            Err(reason.to_owned())
        );
        let errors = schema_errors(&validator(event_type), &event);
        assert!(
            errors.is_empty(),
            "{reason}: the schema cannot say it: {errors:?}"
        );
    }
}

// ------------------------------------------------ what the service builds

fn payload_of(doc: &Value, event_type: &str) -> (InboundEvent, Cause) {
    let event = parse(&inbound_example(doc, event_type)).unwrap();
    let cause = Cause::inbound(&event.envelope.id, event.envelope.correlation_id.as_deref());
    (event, cause)
}

/// Every outbound event the service builds from the document's inbound
/// examples (the child of its `lcs.child.v1` example), by the domain's own
/// functions and `outbound::build`, and the timers' agendas around them.
fn built_events(doc: &Value) -> Vec<OutboundEvent> {
    use crate::domain::effects::UnmatchedPersonAlert;
    use crate::domain::effects::{Effect, TriggerPlanRequest, TriggerPlanRequestKind};
    use crate::domain::{outcome, queue::RequestSubject, trigger_plan, vpg_decision};

    let templates = crate::templates::Templates::load(&crate_root().join("config")).unwrap();
    let at = |raw: &str| raw.parse::<DateTime<Utc>>().unwrap();
    let date = |raw: &str| raw.parse::<NaiveDate>().unwrap();
    let mut events = Vec::new();
    let mut build = |effects: Vec<Effect>, cause: &Cause, now: DateTime<Utc>| {
        for effect in effects {
            events.push(outbound::build(&effect, cause, SOURCE, now).unwrap());
        }
    };

    let (event, _) = payload_of(doc, "lcs.child.v1");
    let InboundPayload::Child(child) = event.payload else {
        panic!("a child")
    };
    let (event, episode_cause) = payload_of(doc, "police.missing-episode.v1");
    let InboundPayload::MissingEpisode(report) = event.payload else {
        panic!("an episode")
    };
    let subject = RequestSubject {
        police_person_id: report.person.police_person_id.clone(),
        lcs_person_id: Some(child.lcs_person_id.clone()),
        given_name: child.given_name.clone(),
        family_name: child.family_name.clone(),
        date_of_birth: child.date_of_birth,
    };
    build(
        vec![
            Effect::TriggerPlanRequest(TriggerPlanRequest {
                police_person_id: subject.police_person_id.clone(),
                lcs_person_id: subject.lcs_person_id.clone(),
                given_name: subject.given_name.clone(),
                family_name: subject.family_name.clone(),
                date_of_birth: subject.date_of_birth,
                kind: TriggerPlanRequestKind::Copy,
                meeting_date: date("2026-11-25"),
            }),
            Effect::UnmatchedPersonAlert(UnmatchedPersonAlert {
                police_person_id: report.person.police_person_id.clone(),
            }),
        ],
        &episode_cause,
        at("2026-11-20T21:20:06.412Z"),
    );

    let (event, cause) = payload_of(doc, "police.trigger-plan.v1");
    let InboundPayload::TriggerPlan(plan) = event.payload else {
        panic!("a plan")
    };
    let linked = trigger_plan::LinkedChild {
        lcs_person_id: child.lcs_person_id.clone(),
        vemt_active: child.vemt_active(),
        professionals: child.professionals.clone(),
    };
    let received_at = event.envelope.time.unwrap();
    build(
        trigger_plan::on_received(
            &plan,
            &linked,
            received_at,
            chrono_tz::Europe::London,
            &templates.trigger_plan_received,
        ),
        &cause,
        at("2026-11-24T09:00:06.118Z"),
    );

    let (event, cause) = payload_of(doc, "meeting.review-outcome.v1");
    let InboundPayload::ReviewOutcome(review) = event.payload else {
        panic!("an outcome")
    };
    let outcome_child = outcome::OutcomeChild {
        lcs_person_id: child.lcs_person_id.clone(),
        vemt_active: child.vemt_active(),
        ehm_id: child.ehm_id.clone(),
        professionals: child.professionals.clone(),
        police: Some(subject),
    };
    build(
        outcome::on_outcome(
            &review,
            &outcome_child,
            outcome::NoteTemplates {
                outcome: &templates.review_outcome,
                plan_request: &templates.trigger_plan_requested,
            },
        ),
        &cause,
        at("2026-11-25T11:30:01.250Z"),
    );

    let (event, cause) = payload_of(doc, "meeting.vpg-decision.v1");
    let InboundPayload::VpgDecision(remain) = event.payload else {
        panic!("a decision")
    };
    let decided = vpg_decision::DecidedChild {
        lcs_person_id: child.lcs_person_id.clone(),
        ehm_id: child.ehm_id.clone(),
        gender: child.gender,
        date_of_birth: child.date_of_birth,
        category: child.vemt.category,
        professionals: child.professionals.clone(),
    };
    build(
        vpg_decision::on_decision(&remain, &decided, &templates.vpg_decision),
        &cause,
        at("2026-12-03T12:00:01.500Z"),
    );
    let close = vpg_decision::VpgDecision {
        decision: vpg_decision::Decision::Close,
        trafficked: true,
        still_at_risk_post_18: true,
        signposting: vec![
            vpg_decision::Signposting::Mappa,
            vpg_decision::Signposting::Stage,
        ],
        ..remain
    };
    build(
        vpg_decision::on_decision(&close, &decided, &templates.vpg_decision),
        &Cause::inbound("6d1e9a47-0b3c-4e28-a5f1-7c2d8e4b9a30", None),
        at("2026-12-03T12:05:00.900Z"),
    );

    events.extend(agendas(doc, &child));
    let email = events
        .iter()
        .find(|e| e.event_type == "email.v1")
        .expect("an e-mail")
        .body
        .clone();
    events.push(crate::notify::failure_alert(
        &email,
        "ValidationError",
        SOURCE,
        at("2026-11-24T09:01:00.000Z"),
    ));
    events
}

/// The three agendas, for the child of the examples with their episode
/// (returned) and return home interview.
fn agendas(doc: &Value, child: &crate::domain::child::ChildRecord) -> Vec<OutboundEvent> {
    use chrono::{NaiveTime, Weekday};

    use crate::domain::agenda::{self, ChildFacts, ItemFacts, TriggerPlanRef};
    use crate::domain::calendar::MeetingCalendar;
    use crate::domain::child::{VemtCategory, VemtStatus};
    use crate::domain::criteria::{self, ChildContext, Thresholds};
    use crate::domain::effects::Effect;
    use crate::domain::episode::{Episode, EpisodeStatus};
    use crate::domain::vpg::{self, M1Outcome, VpgCalendar, VpgChildFacts, WeekOfMonth};

    let (event, _) = payload_of(doc, "police.missing-episode.v1");
    let InboundPayload::MissingEpisode(report) = event.payload else {
        panic!("an episode")
    };
    let (event, _) = payload_of(doc, "lcs.return-home-interview.v1");
    let InboundPayload::ReturnHomeInterview(interview) = event.payload else {
        panic!("an interview")
    };
    let returned_at: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().unwrap();
    let episode = Episode {
        episode_id: report.episode_id.clone(),
        status: EpisodeStatus::Returned,
        risk_level: report.risk_level,
        ever_high: true,
        reported_missing_at: report.reported_missing_at,
        returned_at: Some(returned_at),
        changed_at: returned_at,
    };
    let thresholds = Thresholds::default();
    let london = chrono_tz::Europe::London;
    let hm = |raw: &str| NaiveTime::parse_from_str(raw, "%H:%M").unwrap();
    let mut events = Vec::new();

    let meeting =
        MeetingCalendar::default().next_open_meeting("2026-11-21T12:00:00Z".parse().unwrap());
    let as_of = meeting.collation_at;
    let context = ChildContext {
        vemt_active: child.vemt_active(),
        last_reviewed: None,
    };
    let item = agenda::item(
        ItemFacts {
            child: ChildFacts {
                lcs_person_id: Some(child.lcs_person_id.clone()),
                police_person_ids: child.police_person_ids.clone(),
                given_name: child.given_name.clone(),
                family_name: child.family_name.clone(),
                date_of_birth: child.date_of_birth,
                vemt_status: Some(child.vemt.status),
                early_help: child.ehm_id.is_some(),
            },
            assessment: criteria::evaluate(
                std::slice::from_ref(&episode),
                context,
                as_of,
                &thresholds,
            ),
            episodes: vec![episode.clone()],
            interviews: vec![interview.clone()],
            last_reviewed: None,
            trigger_plan: Some(TriggerPlanRef {
                plan_id: "TP-991".into(),
                version: 2,
                url: "https://police.example/plans/TP-991".into(),
            }),
            links: vec![],
            open_without_update_days: crate::domain::quality::DEFAULT_OPEN_WITHOUT_UPDATE_DAYS,
        },
        as_of,
        &thresholds,
    );
    let collated_at = as_of + chrono::Duration::milliseconds(320);
    let missing_review = agenda::agenda(meeting, Some(collated_at), vec![item]);
    events.push(
        outbound::build(
            &Effect::MissingReviewAgenda(Box::new(missing_review)),
            &Cause::timer(&format!("collation/{}", meeting.date)),
            SOURCE,
            collated_at,
        )
        .unwrap(),
    );

    let facts = |status: VemtStatus, category: VemtCategory| VpgChildFacts {
        lcs_person_id: child.lcs_person_id.clone(),
        police_person_ids: child.police_person_ids.clone(),
        given_name: child.given_name.clone(),
        family_name: child.family_name.clone(),
        date_of_birth: child.date_of_birth,
        gender: child.gender,
        vemt: crate::domain::child::Vemt {
            status,
            category: Some(category),
            risk_level: child.vemt.risk_level,
        },
        episodes: vec![episode.clone()],
        interviews: vec![interview.clone()],
    };
    let weekly = VpgCalendar::weekly(london, Weekday::Thu, hm("13:00"), 1, hm("12:00"))
        .meeting_on("2026-11-26".parse().unwrap())
        .unwrap();
    let mut weekly_agenda = vpg::weekly_agenda(
        weekly,
        weekly.publish_at,
        vec![facts(VemtStatus::Active, VemtCategory::Missing)],
        &thresholds,
    );
    let m1 = M1Outcome {
        lcs_person_id: child.lcs_person_id.clone(),
        meeting_date: meeting.date,
        outcome: "free text".into(),
    };
    weekly_agenda.sections.m1_outcomes.push(m1);
    events.push(
        outbound::build(
            &Effect::VpgWeeklyAgenda(Box::new(weekly_agenda)),
            &Cause::timer(&format!("vpg-agenda/weekly/{}", weekly.date)),
            SOURCE,
            weekly.publish_at,
        )
        .unwrap(),
    );

    let monthly = VpgCalendar::monthly(
        london,
        WeekOfMonth::Nth(1),
        Weekday::Thu,
        hm("10:00"),
        7,
        hm("12:00"),
    )
    .meeting_on("2026-12-03".parse().unwrap())
    .unwrap();
    let mut monthly_agenda = vpg::monthly_agenda(
        monthly,
        monthly.publish_at,
        vec![facts(VemtStatus::Active, VemtCategory::Cse)],
        90,
    );
    monthly_agenda.items[0]
        .outstanding_actions
        .push(vpg::OutstandingAction {
            meeting_date: meeting.date,
            assignee_role: Some(crate::domain::child::ProfessionalRole::SocialWorker),
            description: "free text".into(),
        });
    events.push(
        outbound::build(
            &Effect::VpgMonthlyAgenda(Box::new(monthly_agenda)),
            &Cause::timer(&format!("vpg-agenda/monthly/{}", monthly.date)),
            SOURCE,
            monthly.publish_at,
        )
        .unwrap(),
    );
    events
}

#[test]
fn every_event_the_service_builds_from_the_examples_matches_its_schema() {
    let doc = document();
    let events = built_events(&doc);
    let mut covered = BTreeSet::new();
    for event in &events {
        let errors = schema_errors(&validator(&event.event_type), &event.body);
        assert!(
            errors.is_empty(),
            "{} as built: {errors:#?}\n{:#}",
            event.event_type,
            event.body
        );
        covered.insert(event.event_type.as_str());
    }
    let outbound: BTreeSet<&str> = message_schemas()
        .iter()
        .filter(|s| s.direction == Direction::Outbound)
        .map(|s| s.event_type)
        .collect();
    assert_eq!(covered, outbound, "every outbound type built at least once");
}

#[test]
fn every_outbound_example_is_an_event_the_service_builds_from_the_inbound_examples() {
    let doc = document();
    let events = built_events(&doc);
    let mut stale = Vec::new();
    for (event_type, message) in messages(&doc) {
        for (name, payload) in examples(&message) {
            if payload["source"] != SOURCE {
                continue;
            }
            let built = events.iter().find(|e| e.body["id"] == payload["id"]);
            match built {
                Some(built) if built.body == payload => {}
                Some(built) => stale.push(format!(
                    "{event_type} example {name}: the service builds\n{:#}",
                    built.body
                )),
                None => stale.push(format!(
                    "{event_type} example {name}: no event of the service has its id"
                )),
            }
        }
    }
    assert!(
        stale.is_empty(),
        "outbound examples of docs/asyncapi.yaml that the service no longer builds \
         (update them from the JSON shown):\n{}",
        stale.join("\n")
    );
}
