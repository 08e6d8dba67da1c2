//! The JSON Schemas of the contract, generated from Rust types: one file per
//! message type under `docs/schemas/`, referenced by `docs/asyncapi.yaml`.
//!
//! Outbound events are schema'd from the very types `outbound::build`
//! serialises. Inbound events are read by the hand-written parser in
//! `inbound.rs`, which names the field and rule it refuses; the wire-shape
//! types here carry the same rules as schema constraints for partners, and
//! the tests below hold the two to agreement. Rules JSON Schema cannot say
//! (a time not too far ahead, a date of birth not after today, an action id
//! not repeated) are given in descriptions.
//!
//! `VEMT_UPDATE_SCHEMAS=1 cargo test --lib contract::schema` rewrites the
//! committed files after a change to these types.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::inbound::{
    ACTION_UPDATED, CHILD, MAX_EMAIL_CHARS, MAX_MINUTES_TEXT_CHARS, MAX_NAME_CHARS,
    MAX_OWNER_ROLE_CHARS, MISSING_EPISODE, RETURN_HOME_INTERVIEW, REVIEW_OUTCOME, TRIGGER_PLAN,
    VPG_DECISION,
};
use super::outbound::{
    AlertData, CaseNoteData, CaseProfileData, DocumentData, EhmCaseNoteData, EmailData,
    HazardMarkerData, LetterData, NrmRequestData, OutboundEnvelope, TaskData,
    TriggerPlanRequestData,
};
use crate::domain::agenda::Agenda;
use crate::domain::child::{ProfessionalRole, RhiStatus, VemtCategory, VemtRiskLevel, VemtStatus};
use crate::domain::criteria::Criterion;
use crate::domain::episode::{EpisodeStatus, Gender, MissingFrom};
use crate::domain::ids::{
    ActionId, EhmId, EpisodeId, LcsPersonId, MAX_ID_LEN, PolicePersonId, RhiId, TriggerPlanId,
    WorkerId,
};
use crate::domain::outcome::ActionStatus;
use crate::domain::trigger_plan::{DocumentUrl, MAX_MEDIA_TYPE_CHARS, MAX_URL_CHARS, MediaType};
use crate::domain::vpg::{VpgMonthlyAgenda, VpgWeeklyAgenda};
use crate::domain::vpg_decision::{Decision, Signposting};

/// Where the generated schemas are committed, from the crate root.
pub const SCHEMA_DIR: &str = "docs/schemas";

/// No whitespace or control characters, as `ids::check` and
/// `DocumentUrl::parse` refuse them (ECMA-262 `\s` is Unicode whitespace).
const ID_PATTERN: &str = r"^[^\s\x00-\x1F\x7F-\x9F]+$";
/// Not blank: at least one character that is not whitespace.
const NOT_BLANK: &str = r"\S";
/// One `@` with text either side, no whitespace or control characters.
const EMAIL_PATTERN: &str = r"^[^\s\x00-\x1F\x7F-\x9F@]+@[^\s\x00-\x1F\x7F-\x9F@]+$";
/// `http` or `https` (any case), then a host: the part of the authority
/// after its last `@` is a bracketed address or a name before any `:`.
const URL_PATTERN: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://([^\s\x00-\x1F\x7F-\x9F/?#]*@)?(\[+[^\s\x00-\x1F\x7F-\x9F\[\]/?#@][^\s\x00-\x1F\x7F-\x9F\]/?#@]*\][^\s\x00-\x1F\x7F-\x9F/?#@]*|[^\s\x00-\x1F\x7F-\x9F\[:/?#@][^\s\x00-\x1F\x7F-\x9F/?#@]*)([/?#][^\s\x00-\x1F\x7F-\x9F]*)?$";
/// `type/subtype` in RFC 6838 names, no parameters.
const MEDIA_TYPE_PATTERN: &str =
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$";

// ---------------------------------------------------------------- domain types
// The domain's newtypes are parsed by hand, so their schemas are too.

macro_rules! partner_id_schema {
    ($($name:ident: $description:literal),+ $(,)?) => {$(
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "description": concat!(
                        $description,
                        " 1 to 128 characters, no whitespace or control characters."
                    ),
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_ID_LEN,
                    "pattern": ID_PATTERN,
                })
            }
        }
    )+};
}

partner_id_schema!(
    EpisodeId: "A police missing-person episode (`CP-2026-004512`).",
    PolicePersonId: "The police's id for a person (`P-88231`).",
    LcsPersonId: "The council's LCS person id (`LCS-100245`).",
    EhmId: "The Early Help Module's id for a child (`EHM-7781`).",
    RhiId: "A return home interview (`RHI-5531`).",
    WorkerId: "A council worker in LCS (`W-101`).",
    TriggerPlanId: "A police missing-persons trigger plan (`TP-991`).",
    ActionId: "An action in meeting minutes (`A-77`).",
);

impl JsonSchema for DocumentUrl {
    fn schema_name() -> Cow<'static, str> {
        "DocumentUrl".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Where a document is: an `http` or `https` URL with a host, no whitespace or control characters, at most 2048 characters. Passed on by reference.",
            "type": "string",
            "format": "uri",
            "maxLength": MAX_URL_CHARS,
            "pattern": URL_PATTERN,
        })
    }
}

impl JsonSchema for MediaType {
    fn schema_name() -> Cow<'static, str> {
        "MediaType".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A media type `type/subtype` (RFC 6838 names, no parameters), such as `application/pdf`.",
            "type": "string",
            "maxLength": MAX_MEDIA_TYPE_CHARS,
            "pattern": MEDIA_TYPE_PATTERN,
        })
    }
}

impl JsonSchema for Criterion {
    fn schema_name() -> Cow<'static, str> {
        "Criterion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A missing criterion of R1, in the order the agenda shows them.",
            "type": "string",
            "enum": Criterion::ALL.map(Criterion::as_str),
        })
    }
}

// ------------------------------------------------------------------- envelope

/// The CloudEvents version: `"1.0"`, a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SpecVersion {
    #[serde(rename = "1.0")]
    V1_0,
}

/// The media type of `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DataContentType {
    #[serde(rename = "application/json")]
    Json,
}

/// A CloudEvents 1.0 event in structured JSON mode, as the service accepts
/// it. Unknown attributes are ignored at every level; an optional field may
/// be absent or null, and a required one that is null counts as missing.
/// The body is at most 262144 bytes of UTF-8 JSON nesting at most 32 levels.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct InboundEnvelope<D> {
    pub specversion: SpecVersion,
    /// Unique per event from one `source`; (`source`, `id`) is the dedupe key.
    #[schemars(length(min = 1))]
    pub id: String,
    /// A URI naming the system that produced the event.
    #[schemars(length(min = 1))]
    pub source: String,
    /// The event type, which is also the routing key.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened: RFC 3339 with an offset, not more than 24
    /// hours in the future. Publishers should set it.
    pub time: Option<DateTime<Utc>>,
    /// Publishers should set it.
    pub datacontenttype: Option<DataContentType>,
    /// The CloudEvents `correlationid` extension attribute, carried to the
    /// events this one causes.
    #[schemars(length(min = 1))]
    pub correlationid: Option<String>,
    pub data: D,
}

// ------------------------------------------------------------ inbound fields

/// A person's name: not blank, at most 200 characters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PersonName(
    #[schemars(length(min = 1, max = MAX_NAME_CHARS), regex(pattern = NOT_BLANK))] pub String,
);

/// An e-mail address: one `@` with text either side, no whitespace or
/// control characters, at most 254 characters. The service checks only this.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct EmailAddress(
    #[schemars(length(max = MAX_EMAIL_CHARS), regex(pattern = EMAIL_PATTERN))] pub String,
);

/// Free text of the minutes: not blank, at most 20000 characters. Passed on
/// to the child's records and professionals, never logged.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct MinutesText(
    #[schemars(length(min = 1, max = MAX_MINUTES_TEXT_CHARS), regex(pattern = NOT_BLANK))]
    pub  String,
);

/// The role owning an action, as the minutes name it (`social_worker`, …):
/// not blank, at most 100 characters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct OwnerRole(
    #[schemars(length(min = 1, max = MAX_OWNER_ROLE_CHARS), regex(pattern = NOT_BLANK))] pub String,
);

/// The police risk grade. The lowest band has been named differently over
/// time: `absent` and `very_low` are the same grade as `no_apparent_risk`
/// (R1.4 counts them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoliceRiskLevel {
    High,
    Medium,
    Low,
    NoApparentRisk,
    Absent,
    VeryLow,
}

// ---------------------------------------------------------- inbound payloads

/// The person an episode is about, as the police know them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ReportedPersonData {
    pub police_person_id: PolicePersonId,
    /// Without it the child is found through the LCS child record's
    /// `police_person_ids` (R7.1).
    pub lcs_person_id: Option<LcsPersonId>,
    pub given_name: PersonName,
    pub family_name: PersonName,
    /// Exactly `YYYY-MM-DD`, and not after today (UTC).
    pub date_of_birth: NaiveDate,
    pub gender: Option<Gender>,
}

/// `police.missing-episode.v1` data: the whole current state of one police
/// missing-person episode, sent on every change. The highest `revision`
/// wins; a lower or equal one is acknowledged and ignored.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(extend("allOf" = [
    {
        "if": { "required": ["status"], "properties": { "status": { "const": "open" } } },
        "then": { "properties": { "returned_at": { "type": "null" } } }
    },
    {
        "if": { "required": ["status"], "properties": { "status": { "const": "returned" } } },
        "then": { "required": ["returned_at"], "properties": { "returned_at": { "type": "string" } } }
    }
]))]
pub struct PoliceMissingEpisodeData {
    pub episode_id: EpisodeId,
    /// An integer (`2.0` and `"2"` are refused).
    #[schemars(range(min = 1, max = u32::MAX))]
    pub revision: u32,
    pub person: ReportedPersonData,
    /// `cancelled`: recorded in error, counts for nothing (R1).
    pub status: EpisodeStatus,
    /// RFC 3339 with an offset, not more than 24 hours in the future.
    pub reported_missing_at: DateTime<Utc>,
    /// RFC 3339 with an offset, not more than 24 hours in the future.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Null or absent when `status` is `open`; required, and not before
    /// `reported_missing_at`, when `status` is `returned`; either when
    /// `cancelled`. Not more than 24 hours in the future.
    pub returned_at: Option<DateTime<Utc>>,
    pub risk_level: PoliceRiskLevel,
    pub missing_from: Option<MissingFrom>,
    pub trigger_plan_in_place: Option<bool>,
}

/// The child's VEMT case in LCS.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct VemtData {
    pub status: VemtStatus,
    pub category: Option<VemtCategory>,
    /// No `no_apparent_risk` band here, unlike the police's grade.
    pub risk_level: Option<VemtRiskLevel>,
}

/// A professional involved with the child.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ProfessionalData {
    pub role: ProfessionalRole,
    pub worker_id: WorkerId,
    pub name: Option<PersonName>,
    pub email: Option<EmailAddress>,
}

/// `lcs.child.v1` data: the current state of a child's record in LCS, sent
/// on every change; the highest `revision` wins.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct LcsChildData {
    pub lcs_person_id: LcsPersonId,
    /// An integer (`2.0` and `"2"` are refused).
    #[schemars(range(min = 1, max = u32::MAX))]
    pub revision: u32,
    pub given_name: PersonName,
    pub family_name: PersonName,
    /// Exactly `YYYY-MM-DD`, and not after today (UTC).
    pub date_of_birth: NaiveDate,
    pub gender: Option<Gender>,
    /// The police persons LCS links to this child (R7.1); duplicates are
    /// dropped.
    pub police_person_ids: Option<Vec<PolicePersonId>>,
    /// Null or absent when early help is not involved.
    pub ehm_id: Option<EhmId>,
    pub vemt: VemtData,
    pub professionals: Option<Vec<ProfessionalData>>,
}

/// `lcs.return-home-interview.v1` data. The latest state of an `rhi_id`
/// wins, by the envelope's `time`. An interview for an episode not yet
/// received is kept and joined when it arrives.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(extend("allOf" = [
    {
        "if": { "required": ["status"], "properties": { "status": { "const": "completed" } } },
        "then": { "required": ["completed_at"], "properties": { "completed_at": { "type": "string" } } }
    }
]))]
pub struct LcsReturnHomeInterviewData {
    pub rhi_id: RhiId,
    pub episode_id: EpisodeId,
    pub lcs_person_id: Option<LcsPersonId>,
    pub status: RhiStatus,
    /// RFC 3339 with an offset, not more than 24 hours in the future.
    pub offered_at: Option<DateTime<Utc>>,
    /// Required when `status` is `completed`. RFC 3339 with an offset, not
    /// more than 24 hours in the future.
    pub completed_at: Option<DateTime<Utc>>,
    /// Part of the contract; not read or kept by the service (R7.2).
    pub conducted_by: Option<String>,
    /// Part of the contract; not read or kept by the service (R7.2).
    pub summary: Option<String>,
    /// Part of the contract; not read or kept by the service (R7.2).
    pub concerns: Option<Vec<String>>,
}

/// Where a trigger plan's document is.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct TriggerPlanDocumentData {
    #[schemars(with = "DocumentUrl")]
    pub url: String,
    /// The plan is filed as `application/pdf` without it.
    #[schemars(with = "Option<MediaType>")]
    pub media_type: Option<String>,
}

/// `police.trigger-plan.v1` data: one version of a child's missing persons
/// trigger plan (R4.2). The highest `version` of a `plan_id` wins.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PoliceTriggerPlanData {
    pub plan_id: TriggerPlanId,
    pub police_person_id: PolicePersonId,
    /// An integer (`2.0` and `"2"` are refused).
    #[schemars(range(min = 1, max = u32::MAX))]
    pub version: u32,
    /// RFC 3339 with an offset, not more than 24 hours in the future.
    pub issued_at: DateTime<Utc>,
    pub document: TriggerPlanDocumentData,
    /// Part of the contract; not read or kept by the service (R7.2).
    pub summary: Option<String>,
}

/// One action of the minutes. Its `action_id` must not repeat within one
/// message.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct MeetingActionData {
    pub action_id: ActionId,
    pub description: MinutesText,
    pub owner_role: OwnerRole,
    pub due_date: Option<NaiveDate>,
}

/// What the meeting asks of the police trigger plan (R4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanRequest {
    Create,
    Update,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PlanRequestData {
    pub request: PlanRequest,
    pub details: Option<MinutesText>,
}

/// `meeting.review-outcome.v1` data: the outcome of one child's review at
/// the missing children review meeting (M1), once per child and meeting.
/// The child must be known (`lcs.child.v1` first).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct MeetingReviewOutcomeData {
    /// A meeting that has sat: not after the day 24 hours from now falls on
    /// (UTC). Any weekday: meetings move.
    pub meeting_date: NaiveDate,
    pub lcs_person_id: LcsPersonId,
    pub outcome: MinutesText,
    /// Goes into the case note only; never stored.
    pub discussion: Option<MinutesText>,
    pub actions: Option<Vec<MeetingActionData>>,
    /// Absent means false.
    pub refer_to_vpg: Option<bool>,
    /// Null or absent when the meeting asks nothing of the plan.
    pub trigger_plan: Option<PlanRequestData>,
}

/// The lead professional the meeting identified.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct LeadProfessionalData {
    pub worker_id: WorkerId,
    pub name: Option<PersonName>,
    pub email: Option<EmailAddress>,
}

/// `meeting.vpg-decision.v1` data: the decision for one child at the
/// monthly VPG meeting (M3), once per child and meeting. The child must be
/// known (`lcs.child.v1` first).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(extend("allOf" = [
    {
        "if": { "required": ["decision"], "properties": { "decision": { "const": "remain" } } },
        "then": {
            "required": ["category", "risk_level", "lead_professional"],
            "properties": {
                "category": { "type": "string" },
                "risk_level": { "type": "string" },
                "lead_professional": { "type": "object" }
            }
        }
    }
]))]
pub struct MeetingVpgDecisionData {
    /// A meeting that has sat: not after the day 24 hours from now falls on
    /// (UTC).
    pub meeting_date: NaiveDate,
    pub lcs_person_id: LcsPersonId,
    pub decision: Decision,
    /// Required when `decision` is `remain`.
    pub category: Option<VemtCategory>,
    /// Required when `decision` is `remain`.
    pub risk_level: Option<VemtRiskLevel>,
    /// Required when `decision` is `remain`.
    pub lead_professional: Option<LeadProfessionalData>,
    /// Goes into the case note only; never stored.
    pub outcome: MinutesText,
    pub actions: Option<Vec<MeetingActionData>>,
    /// Absent means false.
    pub still_at_risk_post_18: Option<bool>,
    /// Absent means false.
    pub trafficked: Option<bool>,
    /// Each service once; a repeat is dropped.
    pub signposting: Option<Vec<Signposting>>,
}

/// `meeting.action-updated.v1` data. The action must be one a recorded
/// meeting outcome listed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct MeetingActionUpdatedData {
    pub action_id: ActionId,
    pub status: ActionStatus,
}

// ------------------------------------------------------------- the schemas

/// Which way a message travels, seen from the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The JSON Schema (draft-07) of one message type: the whole CloudEvent.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSchema {
    pub event_type: &'static str,
    pub direction: Direction,
    pub schema: Value,
}

impl MessageSchema {
    /// The committed file, relative to the crate root.
    pub fn path(&self) -> String {
        format!("{SCHEMA_DIR}/{}.json", self.event_type)
    }

    /// The file's text: pretty JSON with a final newline.
    pub fn text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema).expect("a schema is always JSON");
        text.push('\n');
        text
    }
}

/// Every message type of the contract, inbound first.
pub fn message_schemas() -> Vec<MessageSchema> {
    vec![
        inbound::<PoliceMissingEpisodeData>(MISSING_EPISODE),
        inbound::<LcsChildData>(CHILD),
        inbound::<LcsReturnHomeInterviewData>(RETURN_HOME_INTERVIEW),
        inbound::<PoliceTriggerPlanData>(TRIGGER_PLAN),
        inbound::<MeetingReviewOutcomeData>(REVIEW_OUTCOME),
        inbound::<MeetingVpgDecisionData>(VPG_DECISION),
        inbound::<MeetingActionUpdatedData>(ACTION_UPDATED),
        outbound::<CaseNoteData>("lcs.case-note.v1"),
        outbound::<EhmCaseNoteData>("ehm.case-note.v1"),
        outbound::<AlertData>("lcs.alert.v1"),
        outbound::<TriggerPlanRequestData>("police.trigger-plan-request.v1"),
        outbound::<EmailData>("email.v1"),
        outbound::<DocumentData>("lcs.document.v1"),
        outbound::<HazardMarkerData>("lcs.hazard-marker.v1"),
        outbound::<CaseProfileData>("lcs.case-profile.v1"),
        outbound::<LetterData>("letter.v1"),
        outbound::<TaskData>("lcs.task.v1"),
        outbound::<NrmRequestData>("referral.nrm-request.v1"),
        outbound::<Agenda>("agenda.missing-review.v1"),
        outbound::<VpgWeeklyAgenda>("agenda.vpg-weekly.v1"),
        outbound::<VpgMonthlyAgenda>("agenda.vpg-monthly.v1"),
    ]
}

// Draft-07: the dialect AsyncAPI 3.0 names (`schemaFormat`) and most
// partners' validators read.
fn inbound<D: JsonSchema>(event_type: &'static str) -> MessageSchema {
    let generator = SchemaSettings::draft07().for_deserialize().into_generator();
    let schema = generator.into_root_schema_for::<InboundEnvelope<D>>();
    MessageSchema {
        event_type,
        direction: Direction::Inbound,
        schema: typed(schema, event_type, "Inbound"),
    }
}

// The serialise contract: an `Option` field the service always writes is
// required (and may be null); one it leaves out when empty is not.
fn outbound<D: JsonSchema>(event_type: &'static str) -> MessageSchema {
    let generator = SchemaSettings::draft07().for_serialize().into_generator();
    let schema = generator.into_root_schema_for::<OutboundEnvelope<D>>();
    MessageSchema {
        event_type,
        direction: Direction::Outbound,
        schema: typed(schema, event_type, "Outbound"),
    }
}

/// Names the envelope's `type` and titles the schema after it: the
/// envelope is one Rust type for every message.
fn typed(schema: Schema, event_type: &str, direction: &str) -> Value {
    let mut schema = schema.to_value();
    unwrap_descriptions(&mut schema);
    schema["title"] = Value::from(event_type);
    schema["properties"]["type"] = serde_json::json!({
        "description": format!("{direction} event type `{event_type}`, which is also the routing key."),
        "const": event_type,
    });
    schema
}

/// Doc comments are wrapped at 80 columns; a description reads better as
/// one line per paragraph.
fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|paragraph| paragraph.replace('\n', " "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    other => unwrap_descriptions(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn crate_root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn generated_schemas_match_the_committed_files() {
        let update = std::env::var_os("VEMT_UPDATE_SCHEMAS").is_some_and(|v| v == "1");
        let schemas = message_schemas();
        let dir = crate_root().join(SCHEMA_DIR);
        let mut stale = Vec::new();
        for message in &schemas {
            let path = crate_root().join(message.path());
            let committed = std::fs::read_to_string(&path).ok();
            if committed.as_deref() == Some(message.text().as_str()) {
                continue;
            }
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, message.text()).unwrap();
            } else {
                stale.push(message.path());
            }
        }
        let expected: Vec<PathBuf> = schemas
            .iter()
            .map(|m| crate_root().join(m.path()))
            .collect();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !expected.contains(&path) {
                if update {
                    std::fs::remove_file(&path).unwrap();
                } else {
                    stale.push(format!("{} (no message type has it)", path.display()));
                }
            }
        }
        assert!(
            stale.is_empty(),
            "the committed JSON Schemas differ from the Rust types: {stale:#?}\n\
             Regenerate them with `VEMT_UPDATE_SCHEMAS=1 cargo test --lib contract::schema`, \
             review the diff, and commit it with docs/asyncapi.yaml."
        );
    }
}
