//! Inbound messages: the raw body of a `vemt.inbound` delivery (a CloudEvents
//! 1.0 event in structured JSON mode) parsed into typed domain values, with
//! every rule of the v1 contract enforced.
//!
//! A refusal names the field as a JSON path and the rule broken. It never
//! repeats the value, which may be a child's name, and never carries
//! serde_json's error text, which does.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::domain::child::{
    ChildRecord, Professional, ProfessionalRole, ReturnHomeInterview, RhiStatus, Vemt,
    VemtCategory, VemtRiskLevel, VemtStatus,
};
use crate::domain::episode::{
    EpisodeReport, EpisodeStatus, Gender, MissingFrom, ReportedPerson, RiskLevel,
};
use crate::domain::ids::{
    EhmId, EpisodeId, IdError, LcsPersonId, PolicePersonId, RhiId, TriggerPlanId, WorkerId,
};
use crate::domain::trigger_plan::{DocumentUrl, MediaType, TriggerPlan};

pub(crate) const MISSING_EPISODE: &str = "police.missing-episode.v1";
pub(crate) const CHILD: &str = "lcs.child.v1";
pub(crate) const RETURN_HOME_INTERVIEW: &str = "lcs.return-home-interview.v1";
pub(crate) const TRIGGER_PLAN: &str = "police.trigger-plan.v1";
pub(crate) const REVIEW_OUTCOME: &str = "meeting.review-outcome.v1";
pub(crate) const ACTION_UPDATED: &str = "meeting.action-updated.v1";
/// Inbound types the contract names that this version does not process yet.
const NOT_YET_HANDLED: [&str; 0] = [];
pub(crate) const VPG_DECISION: &str = "meeting.vpg-decision.v1";

pub(crate) const MAX_NAME_CHARS: usize = 200;
/// Envelope attributes are logged, put in headers and indexed (`source`
/// and `id` are the inbox key): each has a bound, well below PostgreSQL's
/// index row limit, and none may hold a control character.
pub(crate) const MAX_ID_CHARS: usize = 256;
pub(crate) const MAX_SOURCE_CHARS: usize = 512;
pub(crate) const MAX_TYPE_CHARS: usize = 128;
const NUL_RULE: &str = "must not contain the NUL character (U+0000)";
/// The longest address SMTP can carry (RFC 5321).
pub(crate) const MAX_EMAIL_CHARS: usize = 254;

// The values each enum field accepts, as listed in the rule a refusal gives.
const EPISODE_STATUSES: &str = "open, returned, cancelled";
const RISK_LEVELS: &str = "high, medium, low, no_apparent_risk, absent, very_low";
const GENDERS: &str = "female, male, other, unknown";
const MISSING_FROM: &str = "home, care, other";
const VEMT_STATUSES: &str = "none, referred, deferred, active, closed";
const VEMT_CATEGORIES: &str = "cse, cce, missing, trafficking, other";
const VEMT_RISK_LEVELS: &str = "high, medium, low";
const PROFESSIONAL_ROLES: &str =
    "social_worker, team_manager, early_help_worker, early_help_manager, iro, lead_professional";
const RHI_STATUSES: &str = "offered, completed, declined, not_offered";
const MEDIA_TYPE_RULE: &str = "must be a media type type/subtype, such as application/pdf";

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_future: chrono::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            max_depth: 32,
            max_future: Duration::hours(24),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// CloudEvents `id`; with `source`, the dedupe key.
    pub id: String,
    pub source: String,
    /// The `type` attribute.
    pub event_type: String,
    pub time: Option<DateTime<Utc>>,
    /// The optional `correlationid` extension attribute.
    pub correlation_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundPayload {
    MissingEpisode(EpisodeReport),
    Child(ChildRecord),
    ReturnHomeInterview(ReturnHomeInterview),
    TriggerPlan(TriggerPlan),
    VpgDecision(crate::domain::vpg_decision::VpgDecision),
    ReviewOutcome(crate::domain::outcome::ReviewOutcome),
    ActionUpdated(crate::domain::outcome::ActionUpdate),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    pub envelope: Envelope,
    pub payload: InboundPayload,
}

/// Why a message is refused. `path` is a JSON path like
/// `$.data.person.date_of_birth` or `$.data.professionals[1].role`, or `$` for
/// the whole body; `rule` is the rule broken. Neither ever holds the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {rule}")]
pub struct Rejection {
    pub path: String,
    pub rule: String,
}

impl Rejection {
    fn new(path: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            rule: rule.into(),
        }
    }
}

/// Pure: `now` is used only to refuse timestamps too far in the future and
/// dates of birth after today.
pub fn parse_inbound(
    body: &[u8],
    now: DateTime<Utc>,
    limits: &Limits,
) -> Result<InboundEvent, Rejection> {
    if body.len() > limits.max_body_bytes {
        return Err(Rejection::new(
            "$",
            format!("body must be at most {} bytes", limits.max_body_bytes),
        ));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| Rejection::new("$", "body must be valid UTF-8"))?;
    if nests_deeper_than(text, limits.max_depth) {
        return Err(Rejection::new(
            "$",
            format!("JSON must not nest deeper than {} levels", limits.max_depth),
        ));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|_| Rejection::new("$", "body must be valid JSON"))?;
    let Value::Object(map) = &value else {
        return Err(Rejection::new("$", "body must be a JSON object"));
    };
    refuse_nul(&value, &mut "$".to_owned())?;
    let root = Object {
        map,
        path: "$".to_owned(),
        clock: Clock {
            now,
            max_future: limits.max_future,
        },
    };

    let (envelope, data) = envelope(&root)?;
    let payload = match envelope.event_type.as_str() {
        MISSING_EPISODE => InboundPayload::MissingEpisode(missing_episode(&data)?),
        CHILD => InboundPayload::Child(child(&data)?),
        RETURN_HOME_INTERVIEW => InboundPayload::ReturnHomeInterview(return_home_interview(&data)?),
        TRIGGER_PLAN => InboundPayload::TriggerPlan(trigger_plan(&data)?),
        VPG_DECISION => InboundPayload::VpgDecision(vpg_decision(&data)?),
        REVIEW_OUTCOME => InboundPayload::ReviewOutcome(review_outcome(&data)?),
        ACTION_UPDATED => InboundPayload::ActionUpdated(action_updated(&data)?),
        other if NOT_YET_HANDLED.contains(&other) => {
            return Err(Rejection::new(
                "$.type",
                "event type is not handled by this version of the service",
            ));
        }
        _ => return Err(Rejection::new("$.type", "must be a known event type")),
    };
    Ok(InboundEvent { envelope, payload })
}

/// The `data` of one `police.missing-episode.v1`, by the rules a live event
/// meets, with paths rooted at `$`: the import command reads history rows
/// this way, so a backfill and the feed accept exactly the same episodes.
pub fn parse_missing_episode_data(
    data: &Map<String, Value>,
    now: DateTime<Utc>,
    limits: &Limits,
) -> Result<EpisodeReport, Rejection> {
    for (key, value) in data {
        refuse_nul_in_key(key, "$")?;
        refuse_nul(value, &mut path_of_key("$", key))?;
    }
    missing_episode(&Object {
        map: data,
        path: "$".to_owned(),
        clock: Clock {
            now,
            max_future: limits.max_future,
        },
    })
}

/// PostgreSQL cannot store U+0000 in `text` or `jsonb`: a NUL anywhere in
/// the body would fail the transaction on every attempt, so it is refused
/// here with the path of the first string that holds one.
fn refuse_nul(value: &Value, path: &mut String) -> Result<(), Rejection> {
    match value {
        Value::String(s) if s.contains('\0') => Err(Rejection::new(path.clone(), NUL_RULE)),
        Value::Array(items) => {
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                use std::fmt::Write as _;
                let _ = write!(path, "[{i}]");
                refuse_nul(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, item) in map {
                refuse_nul_in_key(key, path)?;
                refuse_nul(item, &mut path_of_key(path, key))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn refuse_nul_in_key(key: &str, parent: &str) -> Result<(), Rejection> {
    if key.contains('\0') {
        return Err(Rejection::new(
            parent,
            "object keys must not contain the NUL character (U+0000)",
        ));
    }
    Ok(())
}

/// A path step for a key of the input. A key that is not a plain field
/// name is input too, so it is shown as `*`, never as itself.
fn path_of_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}.*")
    }
}

/// Whether `{`/`[` nest deeper than `max` outside JSON strings. A cheap scan
/// run before serde_json, so a deeply nested body costs no recursion.
fn nests_deeper_than(text: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn envelope<'a>(root: &Object<'a>) -> Result<(Envelope, Object<'a>), Rejection> {
    let specversion = root.required("specversion")?;
    if specversion.string()? != "1.0" {
        return Err(specversion.reject(r#"must be "1.0""#));
    }
    let id = root.required("id")?.attribute(MAX_ID_CHARS)?;
    let source = root.required("source")?.attribute(MAX_SOURCE_CHARS)?;
    let event_type = root.required("type")?.attribute(MAX_TYPE_CHARS)?;
    if let Some(content_type) = root.optional("datacontenttype")
        && content_type.string()? != "application/json"
    {
        return Err(content_type.reject("must be application/json"));
    }
    let time = root.optional("time").map(|f| f.timestamp()).transpose()?;
    let correlation_id = root
        .optional("correlationid")
        .map(|f| f.attribute(MAX_ID_CHARS))
        .transpose()?;
    let data = root.required("data")?.object()?;
    let envelope = Envelope {
        id,
        source,
        event_type,
        time,
        correlation_id,
    };
    Ok((envelope, data))
}

fn missing_episode(data: &Object<'_>) -> Result<EpisodeReport, Rejection> {
    let episode_id = data.required("episode_id")?.id(EpisodeId::parse)?;
    let revision = data.required("revision")?.revision()?;
    let person = data.required("person")?.object()?;
    let person = ReportedPerson {
        police_person_id: person
            .required("police_person_id")?
            .id(PolicePersonId::parse)?,
        lcs_person_id: person
            .optional("lcs_person_id")
            .map(|f| f.id(LcsPersonId::parse))
            .transpose()?,
        given_name: person.required("given_name")?.name()?,
        family_name: person.required("family_name")?.name()?,
        date_of_birth: person.required("date_of_birth")?.date_of_birth()?,
        gender: person
            .optional("gender")
            .map(|f| f.one_of(Gender::parse, GENDERS))
            .transpose()?,
    };
    let status = data
        .required("status")?
        .one_of(EpisodeStatus::parse, EPISODE_STATUSES)?;
    let reported_missing_at = data.required("reported_missing_at")?.timestamp()?;
    let last_seen_at = data
        .optional("last_seen_at")
        .map(|f| f.timestamp())
        .transpose()?;
    let returned_at = data
        .optional("returned_at")
        .map(|f| f.timestamp())
        .transpose()?;
    match (status, returned_at) {
        (EpisodeStatus::Open, Some(_)) => {
            return Err(Rejection::new(
                data.path_of("returned_at"),
                "must be null when status is open",
            ));
        }
        (EpisodeStatus::Returned, None) => {
            return Err(Rejection::new(
                data.path_of("returned_at"),
                "is required when status is returned",
            ));
        }
        (EpisodeStatus::Returned, Some(at)) if at < reported_missing_at => {
            return Err(Rejection::new(
                data.path_of("returned_at"),
                "must be at or after reported_missing_at when status is returned",
            ));
        }
        _ => {}
    }
    Ok(EpisodeReport {
        episode_id,
        revision,
        person,
        status,
        reported_missing_at,
        last_seen_at,
        returned_at,
        risk_level: data
            .required("risk_level")?
            .one_of(RiskLevel::parse, RISK_LEVELS)?,
        missing_from: data
            .optional("missing_from")
            .map(|f| f.one_of(MissingFrom::parse, MISSING_FROM))
            .transpose()?,
        trigger_plan_in_place: data
            .optional("trigger_plan_in_place")
            .map(|f| f.boolean())
            .transpose()?,
    })
}

fn child(data: &Object<'_>) -> Result<ChildRecord, Rejection> {
    let lcs_person_id = data.required("lcs_person_id")?.id(LcsPersonId::parse)?;
    let revision = data.required("revision")?.revision()?;
    let given_name = data.required("given_name")?.name()?;
    let family_name = data.required("family_name")?.name()?;
    let date_of_birth = data.required("date_of_birth")?.date_of_birth()?;
    let gender = data
        .optional("gender")
        .map(|f| f.one_of(Gender::parse, GENDERS))
        .transpose()?;

    let mut police_person_ids = Vec::new();
    if let Some(field) = data.optional("police_person_ids") {
        let mut seen = HashSet::new();
        for item in field.items()? {
            let id = item.id(PolicePersonId::parse)?;
            if seen.insert(id.clone()) {
                police_person_ids.push(id);
            }
        }
    }
    let ehm_id = data
        .optional("ehm_id")
        .map(|f| f.id(EhmId::parse))
        .transpose()?;

    let vemt = data.required("vemt")?.object()?;
    let vemt = Vemt {
        status: vemt
            .required("status")?
            .one_of(VemtStatus::parse, VEMT_STATUSES)?,
        category: vemt
            .optional("category")
            .map(|f| f.one_of(VemtCategory::parse, VEMT_CATEGORIES))
            .transpose()?,
        risk_level: vemt
            .optional("risk_level")
            .map(|f| f.one_of(VemtRiskLevel::parse, VEMT_RISK_LEVELS))
            .transpose()?,
    };

    let professionals = match data.optional("professionals") {
        Some(field) => field
            .items()?
            .iter()
            .map(professional)
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };

    Ok(ChildRecord {
        lcs_person_id,
        revision,
        given_name,
        family_name,
        date_of_birth,
        gender,
        police_person_ids,
        ehm_id,
        vemt,
        professionals,
    })
}

fn professional(item: &Field<'_>) -> Result<Professional, Rejection> {
    let item = item.object()?;
    Ok(Professional {
        role: item
            .required("role")?
            .one_of(ProfessionalRole::parse, PROFESSIONAL_ROLES)?,
        worker_id: item.required("worker_id")?.id(WorkerId::parse)?,
        name: item.optional("name").map(|f| f.name()).transpose()?,
        email: item.optional("email").map(|f| f.email()).transpose()?,
    })
}

/// `conducted_by`, `summary` and `concerns` are part of the contract but not
/// kept (R7.2), so they are not read at all.
fn return_home_interview(data: &Object<'_>) -> Result<ReturnHomeInterview, Rejection> {
    let rhi_id = data.required("rhi_id")?.id(RhiId::parse)?;
    let episode_id = data.required("episode_id")?.id(EpisodeId::parse)?;
    let lcs_person_id = data
        .optional("lcs_person_id")
        .map(|f| f.id(LcsPersonId::parse))
        .transpose()?;
    let status = data
        .required("status")?
        .one_of(RhiStatus::parse, RHI_STATUSES)?;
    let offered_at = data
        .optional("offered_at")
        .map(|f| f.timestamp())
        .transpose()?;
    let completed_at = data
        .optional("completed_at")
        .map(|f| f.timestamp())
        .transpose()?;
    if status == RhiStatus::Completed && completed_at.is_none() {
        return Err(Rejection::new(
            data.path_of("completed_at"),
            "is required when status is completed",
        ));
    }
    Ok(ReturnHomeInterview {
        rhi_id,
        episode_id,
        lcs_person_id,
        status,
        offered_at,
        completed_at,
    })
}

/// `summary` is free text the process does not need (R7.2), so it is not
/// read at all: never checked, stored or logged (R8.4).
fn trigger_plan(data: &Object<'_>) -> Result<TriggerPlan, Rejection> {
    let plan_id = data.required("plan_id")?.id(TriggerPlanId::parse)?;
    let police_person_id = data
        .required("police_person_id")?
        .id(PolicePersonId::parse)?;
    let version = data.required("version")?.revision()?;
    let issued_at = data.required("issued_at")?.timestamp()?;
    let document = data.required("document")?.object()?;
    let url = document.required("url")?.web_address()?;
    let media_type = document
        .optional("media_type")
        .map(|f| f.media_type())
        .transpose()?;
    Ok(TriggerPlan {
        plan_id,
        police_person_id,
        version,
        issued_at,
        url,
        media_type,
    })
}

/// The longest free text accepted in meeting minutes (outcome, discussion,
/// action description, trigger plan details).
pub(crate) const MAX_MINUTES_TEXT_CHARS: usize = 20_000;
/// The longest owner role of an action.
pub(crate) const MAX_OWNER_ROLE_CHARS: usize = 100;

/// `meeting.review-outcome.v1`. The free text is read to pass on to the
/// child's records and professionals; it is never logged.
fn review_outcome(data: &Object<'_>) -> Result<crate::domain::outcome::ReviewOutcome, Rejection> {
    use crate::domain::effects::TriggerPlanRequestKind;
    use crate::domain::outcome::{Action, PlanDecision, ReviewOutcome};

    let meeting_date = data.required("meeting_date")?.meeting_date()?;
    let lcs_person_id = data.required("lcs_person_id")?.id(LcsPersonId::parse)?;
    let outcome = data
        .required("outcome")?
        .free_text(MAX_MINUTES_TEXT_CHARS)?;
    let discussion = data
        .optional("discussion")
        .map(|f| f.free_text(MAX_MINUTES_TEXT_CHARS))
        .transpose()?;
    let mut actions = Vec::new();
    if let Some(field) = data.optional("actions") {
        let mut seen = HashSet::new();
        for item in field.items()? {
            let object = item.object()?;
            let action_id = object.required("action_id")?;
            let id = action_id.id(crate::domain::ids::ActionId::parse)?;
            if !seen.insert(id.clone()) {
                return Err(action_id.reject("must not repeat an action_id of this outcome"));
            }
            actions.push(Action {
                action_id: id,
                description: object
                    .required("description")?
                    .free_text(MAX_MINUTES_TEXT_CHARS)?,
                owner_role: object
                    .required("owner_role")?
                    .free_text(MAX_OWNER_ROLE_CHARS)?,
                due_date: object.optional("due_date").map(|f| f.date()).transpose()?,
            });
        }
    }
    let refer_to_vpg = data
        .optional("refer_to_vpg")
        .map(|f| f.boolean())
        .transpose()?
        .unwrap_or(false);
    let trigger_plan = match data.optional("trigger_plan") {
        None => None,
        Some(field) => {
            let plan = field.object()?;
            let request = plan.required("request")?.one_of(
                |raw| match raw {
                    "create" => Some(TriggerPlanRequestKind::Create),
                    "update" => Some(TriggerPlanRequestKind::Update),
                    _ => None,
                },
                "create, update",
            )?;
            let details = plan
                .optional("details")
                .map(|f| f.free_text(MAX_MINUTES_TEXT_CHARS))
                .transpose()?;
            Some(PlanDecision { request, details })
        }
    };
    Ok(ReviewOutcome {
        meeting_date,
        lcs_person_id,
        outcome,
        discussion,
        actions,
        refer_to_vpg,
        trigger_plan,
    })
}

/// `meeting.action-updated.v1`.
fn action_updated(data: &Object<'_>) -> Result<crate::domain::outcome::ActionUpdate, Rejection> {
    use crate::domain::outcome::{ActionStatus, ActionUpdate};
    Ok(ActionUpdate {
        action_id: data
            .required("action_id")?
            .id(crate::domain::ids::ActionId::parse)?,
        status: data
            .required("status")?
            .one_of(ActionStatus::parse, "open, done, cancelled")?,
    })
}

/// `meeting.vpg-decision.v1` (R6). The free text (outcome, action
/// descriptions) is read to pass on to the case note only; it is never
/// stored or logged. A `remain` decision needs `category`, `risk_level` and
/// `lead_professional` (the case profile carries them).
fn vpg_decision(data: &Object<'_>) -> Result<crate::domain::vpg_decision::VpgDecision, Rejection> {
    use crate::domain::outcome::Action;
    use crate::domain::vpg_decision::{Decision, LeadProfessional, Signposting, VpgDecision};

    let meeting_date = data.required("meeting_date")?.meeting_date()?;
    let lcs_person_id = data.required("lcs_person_id")?.id(LcsPersonId::parse)?;
    let decision = data
        .required("decision")?
        .one_of(Decision::parse, "close, remain")?;
    let outcome = data
        .required("outcome")?
        .free_text(MAX_MINUTES_TEXT_CHARS)?;
    let remain_needs = |key: &str| -> Result<Option<Field<'_>>, Rejection> {
        match (data.optional(key), decision) {
            (None, Decision::Remain) => Err(Rejection::new(
                data.path_of(key),
                "is required when decision is remain",
            )),
            (field, _) => Ok(field),
        }
    };
    let category = remain_needs("category")?
        .map(|f| f.one_of(VemtCategory::parse, VEMT_CATEGORIES))
        .transpose()?;
    let risk_level = remain_needs("risk_level")?
        .map(|f| f.one_of(VemtRiskLevel::parse, VEMT_RISK_LEVELS))
        .transpose()?;
    let lead_professional = remain_needs("lead_professional")?
        .map(|f| {
            let lead = f.object()?;
            Ok::<_, Rejection>(LeadProfessional {
                worker_id: lead.required("worker_id")?.id(WorkerId::parse)?,
                name: lead.optional("name").map(|f| f.name()).transpose()?,
                email: lead.optional("email").map(|f| f.email()).transpose()?,
            })
        })
        .transpose()?;
    let mut actions = Vec::new();
    if let Some(field) = data.optional("actions") {
        let mut seen = HashSet::new();
        for item in field.items()? {
            let object = item.object()?;
            let action_id = object.required("action_id")?;
            let id = action_id.id(crate::domain::ids::ActionId::parse)?;
            if !seen.insert(id.clone()) {
                return Err(action_id.reject("must not repeat an action_id of this decision"));
            }
            actions.push(Action {
                action_id: id,
                description: object
                    .required("description")?
                    .free_text(MAX_MINUTES_TEXT_CHARS)?,
                owner_role: object
                    .required("owner_role")?
                    .free_text(MAX_OWNER_ROLE_CHARS)?,
                due_date: object.optional("due_date").map(|f| f.date()).transpose()?,
            });
        }
    }
    let flag = |key: &str| -> Result<bool, Rejection> {
        Ok(data
            .optional(key)
            .map(|f| f.boolean())
            .transpose()?
            .unwrap_or(false))
    };
    let still_at_risk_post_18 = flag("still_at_risk_post_18")?;
    let trafficked = flag("trafficked")?;
    let mut signposting = Vec::new();
    if let Some(field) = data.optional("signposting") {
        for item in field.items()? {
            let service = item.one_of(Signposting::parse, "mappa, marac, stage")?;
            if !signposting.contains(&service) {
                signposting.push(service);
            }
        }
    }
    Ok(VpgDecision {
        meeting_date,
        lcs_person_id,
        decision,
        outcome,
        category,
        risk_level,
        lead_professional,
        actions,
        still_at_risk_post_18,
        trafficked,
        signposting,
    })
}

/// What the time rules measure against.
#[derive(Debug, Clone, Copy)]
struct Clock {
    now: DateTime<Utc>,
    max_future: Duration,
}

/// A JSON object being read, with its path for refusals.
struct Object<'a> {
    map: &'a Map<String, Value>,
    path: String,
    clock: Clock,
}

impl<'a> Object<'a> {
    fn path_of(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// The field, or `None` when it is absent or `null`.
    fn optional(&self, key: &str) -> Option<Field<'a>> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(Field {
                value,
                path: self.path_of(key),
                clock: self.clock,
            }),
        }
    }

    fn required(&self, key: &str) -> Result<Field<'a>, Rejection> {
        self.optional(key)
            .ok_or_else(|| Rejection::new(self.path_of(key), "is required"))
    }
}

/// One present, non-null JSON value being read, with its path for refusals.
struct Field<'a> {
    value: &'a Value,
    path: String,
    clock: Clock,
}

impl<'a> Field<'a> {
    fn reject(&self, rule: impl Into<String>) -> Rejection {
        Rejection::new(self.path.clone(), rule)
    }

    fn string(&self) -> Result<&'a str, Rejection> {
        self.value
            .as_str()
            .ok_or_else(|| self.reject("must be a string"))
    }

    fn non_empty_string(&self) -> Result<String, Rejection> {
        match self.string()? {
            "" => Err(self.reject("must not be empty")),
            raw => Ok(raw.to_owned()),
        }
    }

    /// A CloudEvents attribute the service logs and stores: not empty, at
    /// most `max` characters, no control characters (a newline in an id
    /// would forge a log line).
    fn attribute(&self, max: usize) -> Result<String, Rejection> {
        let raw = self.non_empty_string()?;
        if raw.chars().count() > max {
            return Err(self.reject(format!("must be at most {max} characters")));
        }
        if raw.chars().any(char::is_control) {
            return Err(self.reject("must not contain control characters"));
        }
        Ok(raw)
    }

    fn boolean(&self) -> Result<bool, Rejection> {
        self.value
            .as_bool()
            .ok_or_else(|| self.reject("must be a boolean"))
    }

    fn object(&self) -> Result<Object<'a>, Rejection> {
        match self.value {
            Value::Object(map) => Ok(Object {
                map,
                path: self.path.clone(),
                clock: self.clock,
            }),
            _ => Err(self.reject("must be an object")),
        }
    }

    fn items(&self) -> Result<Vec<Field<'a>>, Rejection> {
        let Value::Array(items) = self.value else {
            return Err(self.reject("must be an array"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| Field {
                value,
                path: format!("{}[{index}]", self.path),
                clock: self.clock,
            })
            .collect())
    }

    fn id<T>(&self, parse: fn(&str) -> Result<T, IdError>) -> Result<T, Rejection> {
        parse(self.string()?).map_err(|error| self.reject(error.to_string()))
    }

    fn one_of<T>(&self, parse: fn(&str) -> Option<T>, accepted: &str) -> Result<T, Rejection> {
        parse(self.string()?).ok_or_else(|| self.reject(format!("must be one of: {accepted}")))
    }

    /// A person's name: not blank, at most 200 characters.
    fn name(&self) -> Result<String, Rejection> {
        let raw = self.string()?;
        if raw.trim().is_empty() {
            return Err(self.reject("must not be empty"));
        }
        if raw.chars().count() > MAX_NAME_CHARS {
            return Err(self.reject(format!("must be at most {MAX_NAME_CHARS} characters")));
        }
        Ok(raw.to_owned())
    }

    /// One `@` with text either side, no whitespace or control characters.
    fn email(&self) -> Result<String, Rejection> {
        let raw = self.string()?;
        let well_formed = raw.chars().count() <= MAX_EMAIL_CHARS
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
            && raw.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if well_formed {
            Ok(raw.to_owned())
        } else {
            Err(self.reject("must be an e-mail address"))
        }
    }

    /// An `http` or `https` URL with a host (`DocumentUrl`).
    fn web_address(&self) -> Result<DocumentUrl, Rejection> {
        DocumentUrl::parse(self.string()?).map_err(|error| self.reject(error.to_string()))
    }

    fn media_type(&self) -> Result<MediaType, Rejection> {
        MediaType::parse(self.string()?).ok_or_else(|| self.reject(MEDIA_TYPE_RULE))
    }

    /// An integer >= 1 that fits a `u32`; `2.0` and `"2"` are refused.
    fn revision(&self) -> Result<u32, Rejection> {
        match self.value.as_u64() {
            Some(n) if n >= 1 => {
                u32::try_from(n).map_err(|_| self.reject(format!("must be at most {}", u32::MAX)))
            }
            _ => Err(self.reject("must be an integer >= 1")),
        }
    }

    /// RFC 3339 with an offset, at most `max_future` after now.
    fn timestamp(&self) -> Result<DateTime<Utc>, Rejection> {
        let at = DateTime::parse_from_rfc3339(self.string()?)
            .map_err(|_| self.reject("must be an RFC 3339 timestamp with an offset"))?
            .with_timezone(&Utc);
        let latest = self.clock.now.checked_add_signed(self.clock.max_future);
        if latest.is_some_and(|latest| at > latest) {
            return Err(self.reject(future_rule(self.clock.max_future)));
        }
        Ok(at)
    }

    /// Free text: not blank, at most `max` characters.
    fn free_text(&self, max: usize) -> Result<String, Rejection> {
        let raw = self.string()?;
        if raw.trim().is_empty() {
            return Err(self.reject("must not be empty"));
        }
        if raw.chars().count() > max {
            return Err(self.reject(format!("must be at most {max} characters")));
        }
        Ok(raw.to_owned())
    }

    /// Exactly `YYYY-MM-DD`.
    fn date(&self) -> Result<NaiveDate, Rejection> {
        let raw = self.string()?;
        let shaped = raw.len() == 10
            && raw.bytes().enumerate().all(|(index, byte)| match index {
                4 | 7 => byte == b'-',
                _ => byte.is_ascii_digit(),
            });
        shaped
            .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
            .flatten()
            .ok_or_else(|| self.reject("must be a date YYYY-MM-DD"))
    }

    /// A meeting that has sat: a date no later than the day `max_future`
    /// after now falls on (UTC). Any weekday: meetings move.
    fn meeting_date(&self) -> Result<NaiveDate, Rejection> {
        let date = self.date()?;
        let latest = self
            .clock
            .now
            .checked_add_signed(self.clock.max_future)
            .map(|at| at.date_naive());
        if latest.is_some_and(|latest| date > latest) {
            return Err(self.reject(future_rule(self.clock.max_future)));
        }
        Ok(date)
    }

    /// Exactly `YYYY-MM-DD`, not after today (UTC).
    fn date_of_birth(&self) -> Result<NaiveDate, Rejection> {
        let raw = self.string()?;
        let shaped = raw.len() == 10
            && raw.bytes().enumerate().all(|(index, byte)| match index {
                4 | 7 => byte == b'-',
                _ => byte.is_ascii_digit(),
            });
        let date = shaped
            .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
            .flatten()
            .ok_or_else(|| self.reject("must be a date YYYY-MM-DD"))?;
        if date > self.clock.now.date_naive() {
            return Err(self.reject("must not be in the future"));
        }
        Ok(date)
    }
}

fn future_rule(max_future: Duration) -> String {
    let seconds = max_future.num_seconds();
    if seconds % 3600 == 0 {
        format!(
            "must not be more than {} hours in the future",
            seconds / 3600
        )
    } else {
        format!("must not be more than {seconds} seconds in the future")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn date(raw: &str) -> NaiveDate {
        raw.parse().unwrap()
    }

    fn event(event_type: &str, data: Value) -> Value {
        json!({
            "specversion": "1.0",
            "id": "3f1c9c8e-5a2b-4c1e-9a7e-0d2b6f1e4a10",
            "source": "urn:cleveland-police:missing-persons",
            "type": event_type,
            "time": "2026-11-20T21:20:05Z",
            "datacontenttype": "application/json",
            "data": data
        })
    }

    fn episode_event() -> Value {
        event(
            MISSING_EPISODE,
            json!({
                "episode_id": "CP-2026-004512",
                "revision": 3,
                "person": {
                    "police_person_id": "P-88231",
                    "lcs_person_id": "LCS-100245",
                    "given_name": "Ada",
                    "family_name": "Smith",
                    "date_of_birth": "2011-03-04",
                    "gender": "female"
                },
                "status": "open",
                "reported_missing_at": "2026-11-20T21:15:00Z",
                "last_seen_at": "2026-11-20T18:00:00Z",
                "returned_at": null,
                "risk_level": "high",
                "missing_from": "care",
                "trigger_plan_in_place": true
            }),
        )
    }

    fn child_event() -> Value {
        event(
            CHILD,
            json!({
                "lcs_person_id": "LCS-100245",
                "revision": 12,
                "given_name": "Ada",
                "family_name": "Smith",
                "date_of_birth": "2011-03-04",
                "gender": "female",
                "police_person_ids": ["P-88231"],
                "ehm_id": "EHM-7781",
                "vemt": { "status": "active", "category": "cse", "risk_level": "high" },
                "professionals": [
                    { "role": "social_worker", "worker_id": "W-101", "name": "Sam Jones", "email": "sam.jones@example.org" },
                    { "role": "team_manager", "worker_id": "W-201", "name": "Kim Lee", "email": "kim.lee@example.org" },
                    { "role": "iro", "worker_id": "W-301", "name": "Ola Obi", "email": "ola.obi@example.org" }
                ]
            }),
        )
    }

    fn rhi_event() -> Value {
        event(
            RETURN_HOME_INTERVIEW,
            json!({
                "rhi_id": "RHI-5531",
                "episode_id": "CP-2026-004512",
                "lcs_person_id": "LCS-100245",
                "status": "completed",
                "offered_at": "2026-11-22T10:00:00Z",
                "completed_at": "2026-11-23T15:30:00Z",
                "conducted_by": "Missing Team",
                "summary": "free text",
                "concerns": ["cse"]
            }),
        )
    }

    fn trigger_plan_event() -> Value {
        event(
            TRIGGER_PLAN,
            json!({
                "plan_id": "TP-991",
                "police_person_id": "P-88231",
                "version": 2,
                "issued_at": "2026-11-24T09:00:00Z",
                "document": { "url": "https://police.example/plans/TP-991", "media_type": "application/pdf" },
                "summary": "free text"
            }),
        )
    }

    fn parse(event: &Value) -> Result<InboundEvent, Rejection> {
        parse_inbound(event.to_string().as_bytes(), now(), &Limits::default())
    }

    fn episode(event: &Value) -> EpisodeReport {
        match parse(event).unwrap().payload {
            InboundPayload::MissingEpisode(report) => report,
            other => panic!("expected an episode, got {other:?}"),
        }
    }

    fn child(event: &Value) -> ChildRecord {
        match parse(event).unwrap().payload {
            InboundPayload::Child(record) => record,
            other => panic!("expected a child, got {other:?}"),
        }
    }

    fn rhi(event: &Value) -> ReturnHomeInterview {
        match parse(event).unwrap().payload {
            InboundPayload::ReturnHomeInterview(interview) => interview,
            other => panic!("expected an RHI, got {other:?}"),
        }
    }

    fn plan(event: &Value) -> TriggerPlan {
        match parse(event).unwrap().payload {
            InboundPayload::TriggerPlan(plan) => plan,
            other => panic!("expected a trigger plan, got {other:?}"),
        }
    }

    #[track_caller]
    fn assert_refused(event: &Value, path: &str, rule: &str) {
        assert_refused_body(event.to_string().as_bytes(), path, rule);
    }

    #[track_caller]
    fn assert_refused_body(body: &[u8], path: &str, rule: &str) {
        let rejection = parse_inbound(body, now(), &Limits::default()).unwrap_err();
        assert_eq!(
            (rejection.path.as_str(), rejection.rule.as_str()),
            (path, rule)
        );
    }

    /// `event` with the value at JSON pointer `pointer` replaced, or added to
    /// its parent object.
    fn with(mut event: Value, pointer: &str, value: Value) -> Value {
        if let Some(slot) = event.pointer_mut(pointer) {
            *slot = value;
            return event;
        }
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        event
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.to_owned(), value);
        event
    }

    fn without(mut event: Value, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        event
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key)
            .unwrap();
        event
    }

    #[test]
    fn parses_the_contract_example_of_a_missing_episode() {
        let parsed = parse(&episode_event()).unwrap();
        assert_eq!(
            parsed.envelope,
            Envelope {
                id: "3f1c9c8e-5a2b-4c1e-9a7e-0d2b6f1e4a10".into(),
                source: "urn:cleveland-police:missing-persons".into(),
                event_type: MISSING_EPISODE.into(),
                time: Some(at("2026-11-20T21:20:05Z")),
                correlation_id: None,
            }
        );
        assert_eq!(
            parsed.payload,
            InboundPayload::MissingEpisode(EpisodeReport {
                episode_id: EpisodeId::parse("CP-2026-004512").unwrap(),
                revision: 3,
                person: ReportedPerson {
                    police_person_id: PolicePersonId::parse("P-88231").unwrap(),
                    lcs_person_id: Some(LcsPersonId::parse("LCS-100245").unwrap()),
                    given_name: "Ada".into(),
                    family_name: "Smith".into(),
                    date_of_birth: date("2011-03-04"),
                    gender: Some(Gender::Female),
                },
                status: EpisodeStatus::Open,
                reported_missing_at: at("2026-11-20T21:15:00Z"),
                last_seen_at: Some(at("2026-11-20T18:00:00Z")),
                returned_at: None,
                risk_level: RiskLevel::High,
                missing_from: Some(MissingFrom::Care),
                trigger_plan_in_place: Some(true),
            })
        );
    }

    #[test]
    fn parses_the_contract_example_of_a_child_record() {
        let worker = |role, id: &str, name: &str, email: &str| Professional {
            role,
            worker_id: WorkerId::parse(id).unwrap(),
            name: Some(name.into()),
            email: Some(email.into()),
        };
        assert_eq!(
            child(&child_event()),
            ChildRecord {
                lcs_person_id: LcsPersonId::parse("LCS-100245").unwrap(),
                revision: 12,
                given_name: "Ada".into(),
                family_name: "Smith".into(),
                date_of_birth: date("2011-03-04"),
                gender: Some(Gender::Female),
                police_person_ids: vec![PolicePersonId::parse("P-88231").unwrap()],
                ehm_id: Some(EhmId::parse("EHM-7781").unwrap()),
                vemt: Vemt {
                    status: VemtStatus::Active,
                    category: Some(VemtCategory::Cse),
                    risk_level: Some(VemtRiskLevel::High),
                },
                professionals: vec![
                    worker(
                        ProfessionalRole::SocialWorker,
                        "W-101",
                        "Sam Jones",
                        "sam.jones@example.org"
                    ),
                    worker(
                        ProfessionalRole::TeamManager,
                        "W-201",
                        "Kim Lee",
                        "kim.lee@example.org"
                    ),
                    worker(
                        ProfessionalRole::Iro,
                        "W-301",
                        "Ola Obi",
                        "ola.obi@example.org"
                    ),
                ],
            }
        );
    }

    #[test]
    fn parses_the_contract_example_of_a_return_home_interview() {
        assert_eq!(
            rhi(&rhi_event()),
            ReturnHomeInterview {
                rhi_id: RhiId::parse("RHI-5531").unwrap(),
                episode_id: EpisodeId::parse("CP-2026-004512").unwrap(),
                lcs_person_id: Some(LcsPersonId::parse("LCS-100245").unwrap()),
                status: RhiStatus::Completed,
                offered_at: Some(at("2026-11-22T10:00:00Z")),
                completed_at: Some(at("2026-11-23T15:30:00Z")),
            }
        );
    }

    #[test]
    fn reads_the_correlation_id_extension() {
        let event = with(episode_event(), "/correlationid", json!("corr-1"));
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.envelope.correlation_id.as_deref(), Some("corr-1"));
        assert_refused(
            &with(episode_event(), "/correlationid", json!(7)),
            "$.correlationid",
            "must be a string",
        );
    }

    #[test]
    fn refuses_a_body_over_the_size_limit_and_accepts_one_at_it() {
        let limits = Limits {
            max_body_bytes: 100,
            ..Limits::default()
        };
        let body = episode_event().to_string();
        let refused = parse_inbound(body.as_bytes(), now(), &limits).unwrap_err();
        assert_eq!(
            (refused.path.as_str(), refused.rule.as_str()),
            ("$", "body must be at most 100 bytes")
        );
        let exact = Limits {
            max_body_bytes: body.len(),
            ..Limits::default()
        };
        assert!(parse_inbound(body.as_bytes(), now(), &exact).is_ok());

        let mut padded = body.into_bytes();
        padded.resize(262_145, b' ');
        assert_refused_body(&padded, "$", "body must be at most 262144 bytes");
    }

    #[test]
    fn refuses_invalid_utf8() {
        let mut body = episode_event().to_string().into_bytes();
        body.extend_from_slice(&[0xff, 0xfe]);
        assert_refused_body(&body, "$", "body must be valid UTF-8");
    }

    /// The example event with an extension attribute nesting `arrays` arrays,
    /// so the body nests `arrays + 1` levels.
    fn nested_body(arrays: usize) -> String {
        let mut body = episode_event().to_string();
        body.pop();
        body.push_str(r#","deep":"#);
        body.push_str(&"[".repeat(arrays));
        body.push_str(&"]".repeat(arrays));
        body.push('}');
        body
    }

    #[test]
    fn refuses_33_levels_of_nesting_and_accepts_32() {
        assert!(parse_inbound(nested_body(31).as_bytes(), now(), &Limits::default()).is_ok());
        assert_refused_body(
            nested_body(32).as_bytes(),
            "$",
            "JSON must not nest deeper than 32 levels",
        );
        // Refused before parsing, so even a body serde_json would choke on
        // gets the depth rule.
        assert_refused_body(
            "[".repeat(100_000).as_bytes(),
            "$",
            "JSON must not nest deeper than 32 levels",
        );
    }

    #[test]
    fn depth_scan_counts_only_brackets_outside_strings() {
        assert!(!nests_deeper_than(r#"{"a":{}}"#, 2));
        assert!(nests_deeper_than(r#"{"a":{}}"#, 1));
        assert!(!nests_deeper_than(r#"{"a":"[[[{{{"}"#, 1));
        assert!(!nests_deeper_than(r#"{"a":"\"[[[\\"}"#, 1));
        assert!(nests_deeper_than(r#"{"a":"\\","b":[]}"#, 1));
    }

    #[test]
    fn refuses_invalid_json_without_serde_text() {
        assert_refused_body(br#"{"id": "Ada Smith""#, "$", "body must be valid JSON");
    }

    #[test]
    fn refuses_a_body_that_is_not_an_object() {
        assert_refused_body(b"[1, 2]", "$", "body must be a JSON object");
        assert_refused_body(b"\"text\"", "$", "body must be a JSON object");
    }

    #[test]
    fn refuses_a_specversion_other_than_1_0() {
        assert_refused(
            &with(episode_event(), "/specversion", json!("0.3")),
            "$.specversion",
            r#"must be "1.0""#,
        );
        assert_refused(
            &without(episode_event(), "/specversion"),
            "$.specversion",
            "is required",
        );
    }

    #[test]
    fn refuses_missing_or_empty_envelope_attributes() {
        assert_refused(&without(episode_event(), "/id"), "$.id", "is required");
        assert_refused(
            &with(episode_event(), "/source", json!("")),
            "$.source",
            "must not be empty",
        );
        assert_refused(
            &with(episode_event(), "/type", json!(1)),
            "$.type",
            "must be a string",
        );
    }

    #[test]
    fn refuses_missing_data_and_data_that_is_not_an_object() {
        assert_refused(&without(episode_event(), "/data"), "$.data", "is required");
        assert_refused(
            &with(episode_event(), "/data", json!(null)),
            "$.data",
            "is required",
        );
        assert_refused(
            &with(episode_event(), "/data", json!("{}")),
            "$.data",
            "must be an object",
        );
    }

    #[test]
    fn datacontenttype_is_optional_but_must_be_json() {
        assert!(parse(&without(episode_event(), "/datacontenttype")).is_ok());
        assert_refused(
            &with(episode_event(), "/datacontenttype", json!("text/xml")),
            "$.datacontenttype",
            "must be application/json",
        );
    }

    #[test]
    fn refuses_an_unknown_event_type() {
        assert_refused(
            &with(episode_event(), "/type", json!("police.missing-episode.v2")),
            "$.type",
            "must be a known event type",
        );
    }

    #[test]
    fn refuses_contract_types_not_handled_yet() {
        for event_type in NOT_YET_HANDLED {
            assert_refused(
                &event(event_type, json!({})),
                "$.type",
                "event type is not handled by this version of the service",
            );
        }
        // Trigger plans and meeting outcomes are handled now: their data is
        // read and checked.
        assert!(!NOT_YET_HANDLED.contains(&TRIGGER_PLAN));
        assert!(!NOT_YET_HANDLED.contains(&REVIEW_OUTCOME));
        assert!(!NOT_YET_HANDLED.contains(&ACTION_UPDATED));
        assert!(!NOT_YET_HANDLED.contains(&VPG_DECISION));
        assert_refused(
            &event(VPG_DECISION, json!({})),
            "$.data.meeting_date",
            "is required",
        );
        assert_refused(
            &event(REVIEW_OUTCOME, json!({})),
            "$.data.meeting_date",
            "is required",
        );
        assert_refused(
            &event(ACTION_UPDATED, json!({})),
            "$.data.action_id",
            "is required",
        );
        assert_refused(
            &event(TRIGGER_PLAN, json!({})),
            "$.data.plan_id",
            "is required",
        );
    }

    fn vpg_decision_event() -> Value {
        event(
            VPG_DECISION,
            json!({
                "meeting_date": "2026-11-25",
                "lcs_person_id": "LCS-100245",
                "decision": "remain",
                "category": "cse",
                "risk_level": "medium",
                "lead_professional": { "worker_id": "W-101", "name": "Sam Jones", "email": "sam.jones@example.org" },
                "outcome": "free text",
                "actions": [
                    { "action_id": "A-77", "description": "free text", "owner_role": "social_worker", "due_date": "2026-12-02" }
                ],
                "still_at_risk_post_18": true,
                "trafficked": false,
                "signposting": ["marac", "stage", "marac"]
            }),
        )
    }

    fn vpg_decision(event: &Value) -> crate::domain::vpg_decision::VpgDecision {
        match parse(event).unwrap().payload {
            InboundPayload::VpgDecision(decision) => decision,
            other => panic!("expected a VPG decision, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_contract_example_of_a_vpg_decision() {
        use crate::domain::vpg_decision::{Decision, Signposting};
        let d = vpg_decision(&vpg_decision_event());
        assert_eq!(d.meeting_date, date("2026-11-25"));
        assert_eq!(d.lcs_person_id.as_str(), "LCS-100245");
        assert_eq!(d.decision, Decision::Remain);
        assert_eq!(d.category, Some(VemtCategory::Cse));
        assert_eq!(d.risk_level, Some(VemtRiskLevel::Medium));
        let lead = d.lead_professional.unwrap();
        assert_eq!(lead.worker_id.as_str(), "W-101");
        assert_eq!(lead.email.as_deref(), Some("sam.jones@example.org"));
        assert_eq!(d.actions.len(), 1);
        assert_eq!(d.actions[0].due_date, Some(date("2026-12-02")));
        assert!(d.still_at_risk_post_18);
        assert!(!d.trafficked);
        assert_eq!(d.signposting, [Signposting::Marac, Signposting::Stage]);
    }

    #[test]
    fn a_close_decision_needs_only_the_required_fields() {
        let close = event(
            VPG_DECISION,
            json!({
                "meeting_date": "2026-11-25",
                "lcs_person_id": "LCS-1",
                "decision": "close",
                "outcome": "free text",
            }),
        );
        let d = vpg_decision(&close);
        assert_eq!(d.category, None);
        assert!(d.actions.is_empty() && d.signposting.is_empty());
        assert!(!d.still_at_risk_post_18 && !d.trafficked);
    }

    #[test]
    fn refuses_broken_vpg_decisions_naming_the_field() {
        for (pointer, value, path, rule) in [
            (
                "/data/decision",
                json!("pause"),
                "$.data.decision",
                "must be one of: close, remain",
            ),
            (
                "/data/category",
                json!("x"),
                "$.data.category",
                "must be one of: cse, cce, missing, trafficking, other",
            ),
            (
                "/data/risk_level",
                json!("x"),
                "$.data.risk_level",
                "must be one of: high, medium, low",
            ),
            (
                "/data/signposting",
                json!(["mappa", "prison"]),
                "$.data.signposting[1]",
                "must be one of: mappa, marac, stage",
            ),
            (
                "/data/trafficked",
                json!("yes"),
                "$.data.trafficked",
                "must be a boolean",
            ),
            (
                "/data/still_at_risk_post_18",
                json!(1),
                "$.data.still_at_risk_post_18",
                "must be a boolean",
            ),
            (
                "/data/lead_professional/worker_id",
                json!(""),
                "$.data.lead_professional.worker_id",
                "must not be empty",
            ),
            (
                "/data/lead_professional/email",
                json!("no-at"),
                "$.data.lead_professional.email",
                "must be an e-mail address",
            ),
            (
                "/data/actions/0/due_date",
                json!("02/12/2026"),
                "$.data.actions[0].due_date",
                "must be a date YYYY-MM-DD",
            ),
            (
                "/data/meeting_date",
                json!("2026-12-31"),
                "$.data.meeting_date",
                "must not be more than 24 hours in the future",
            ),
        ] {
            assert_refused(&with(vpg_decision_event(), pointer, value), path, rule);
        }
        for field in ["meeting_date", "lcs_person_id", "decision", "outcome"] {
            assert_refused(
                &without(vpg_decision_event(), &format!("/data/{field}")),
                &format!("$.data.{field}"),
                "is required",
            );
        }
        for field in ["category", "risk_level", "lead_professional"] {
            assert_refused(
                &without(vpg_decision_event(), &format!("/data/{field}")),
                &format!("$.data.{field}"),
                "is required when decision is remain",
            );
        }
    }

    #[test]
    fn refuses_a_revision_that_is_not_a_positive_integer() {
        for revision in [json!("2"), json!(0), json!(2.5), json!(2.0), json!(-1)] {
            assert_refused(
                &with(episode_event(), "/data/revision", revision),
                "$.data.revision",
                "must be an integer >= 1",
            );
        }
        assert_refused(
            &with(child_event(), "/data/revision", json!(4_294_967_296_u64)),
            "$.data.revision",
            "must be at most 4294967295",
        );
        let largest = with(episode_event(), "/data/revision", json!(4_294_967_295_u64));
        assert_eq!(episode(&largest).revision, u32::MAX);
    }

    #[test]
    fn refuses_timestamps_more_than_24_hours_ahead() {
        let rule = "must not be more than 24 hours in the future";
        // now is 2026-11-25T12:00:00Z
        let ahead_23h = json!("2026-11-26T11:00:00Z");
        let ahead_25h = json!("2026-11-26T13:00:00Z");
        assert!(parse(&with(episode_event(), "/time", ahead_23h.clone())).is_ok());
        assert_refused(
            &with(episode_event(), "/time", ahead_25h.clone()),
            "$.time",
            rule,
        );
        let open = with(
            episode_event(),
            "/data/reported_missing_at",
            ahead_23h.clone(),
        );
        assert_eq!(
            episode(&open).reported_missing_at,
            at("2026-11-26T11:00:00Z")
        );
        for field in ["reported_missing_at", "last_seen_at"] {
            assert_refused(
                &with(
                    episode_event(),
                    &format!("/data/{field}"),
                    ahead_25h.clone(),
                ),
                &format!("$.data.{field}"),
                rule,
            );
        }
        let returned = with(
            with(episode_event(), "/data/status", json!("returned")),
            "/data/returned_at",
            ahead_25h.clone(),
        );
        assert_refused(&returned, "$.data.returned_at", rule);
        for field in ["offered_at", "completed_at"] {
            assert_refused(
                &with(rhi_event(), &format!("/data/{field}"), ahead_25h.clone()),
                &format!("$.data.{field}"),
                rule,
            );
        }
    }

    #[test]
    fn refuses_timestamps_without_an_offset() {
        let rule = "must be an RFC 3339 timestamp with an offset";
        for raw in ["2026-11-20T21:15:00", "2026-11-20", "20/11/2026 21:15"] {
            assert_refused(
                &with(episode_event(), "/data/reported_missing_at", json!(raw)),
                "$.data.reported_missing_at",
                rule,
            );
        }
        assert_refused(
            &with(episode_event(), "/time", json!("2026-11-20T21:20:05")),
            "$.time",
            rule,
        );
        let offset = with(
            episode_event(),
            "/data/reported_missing_at",
            json!("2026-11-20T21:15:00+01:00"),
        );
        assert_eq!(
            episode(&offset).reported_missing_at,
            at("2026-11-20T20:15:00Z")
        );
    }

    #[test]
    fn refuses_dates_not_in_yyyy_mm_dd() {
        for raw in [
            "2011-3-4",
            "2011-02-30",
            "04/03/2011",
            "2011-03-04T00:00:00Z",
            "+201-03-04",
        ] {
            assert_refused(
                &with(episode_event(), "/data/person/date_of_birth", json!(raw)),
                "$.data.person.date_of_birth",
                "must be a date YYYY-MM-DD",
            );
        }
    }

    #[test]
    fn refuses_a_date_of_birth_in_the_future() {
        assert_refused(
            &with(child_event(), "/data/date_of_birth", json!("2026-11-26")),
            "$.data.date_of_birth",
            "must not be in the future",
        );
        let born_today = with(child_event(), "/data/date_of_birth", json!("2026-11-25"));
        assert_eq!(child(&born_today).date_of_birth, date("2026-11-25"));
    }

    #[test]
    fn maps_absent_and_very_low_to_no_apparent_risk() {
        for raw in ["absent", "very_low", "no_apparent_risk"] {
            let event = with(episode_event(), "/data/risk_level", json!(raw));
            assert_eq!(episode(&event).risk_level, RiskLevel::NoApparentRisk);
        }
        assert_refused(
            &with(episode_event(), "/data/risk_level", json!("none")),
            "$.data.risk_level",
            "must be one of: high, medium, low, no_apparent_risk, absent, very_low",
        );
    }

    #[test]
    fn ignores_unknown_fields() {
        let event = with(episode_event(), "/partnerext", json!({ "x": 1 }));
        let event = with(event, "/data/force_code", json!("CLE"));
        let event = with(event, "/data/person/address", json!({ "line1": "1 Road" }));
        assert_eq!(episode(&event), episode(&episode_event()));

        let event = with(child_event(), "/data/gp", json!("Dr Who"));
        let event = with(event, "/data/vemt/notes", json!([1, 2]));
        let event = with(event, "/data/professionals/0/phone", json!("0123"));
        assert_eq!(child(&event), child(&child_event()));
    }

    #[test]
    fn accepts_null_for_optional_fields() {
        let mut event = with(episode_event(), "/time", json!(null));
        event = with(event, "/datacontenttype", json!(null));
        event = with(event, "/correlationid", json!(null));
        for field in ["last_seen_at", "missing_from", "trigger_plan_in_place"] {
            event = with(event, &format!("/data/{field}"), json!(null));
        }
        for field in ["lcs_person_id", "gender"] {
            event = with(event, &format!("/data/person/{field}"), json!(null));
        }
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.envelope.time, None);
        let InboundPayload::MissingEpisode(report) = parsed.payload else {
            panic!("expected an episode");
        };
        assert_eq!(report.person.lcs_person_id, None);
        assert_eq!(report.person.gender, None);
        assert_eq!(report.last_seen_at, None);
        assert_eq!(report.missing_from, None);
        assert_eq!(report.trigger_plan_in_place, None);

        let mut event = child_event();
        for field in ["gender", "police_person_ids", "ehm_id", "professionals"] {
            event = with(event, &format!("/data/{field}"), json!(null));
        }
        event = with(event, "/data/vemt/category", json!(null));
        event = with(event, "/data/vemt/risk_level", json!(null));
        event = with(
            event,
            "/data/professionals",
            json!([{ "role": "iro", "worker_id": "W-1", "name": null, "email": null }]),
        );
        let record = child(&event);
        assert_eq!(record.police_person_ids, vec![]);
        assert_eq!(record.ehm_id, None);
        assert_eq!((record.vemt.category, record.vemt.risk_level), (None, None));
        assert_eq!(
            (
                record.professionals[0].name.as_ref(),
                record.professionals[0].email.as_ref()
            ),
            (None, None)
        );

        let mut event = with(rhi_event(), "/data/status", json!("offered"));
        for field in [
            "lcs_person_id",
            "offered_at",
            "completed_at",
            "summary",
            "concerns",
        ] {
            event = with(event, &format!("/data/{field}"), json!(null));
        }
        let interview = rhi(&event);
        assert_eq!(
            (
                interview.lcs_person_id,
                interview.offered_at,
                interview.completed_at
            ),
            (None, None, None)
        );
    }

    #[test]
    fn absent_optional_fields_take_their_defaults() {
        let mut event = child_event();
        for field in ["gender", "police_person_ids", "ehm_id", "professionals"] {
            event = without(event, &format!("/data/{field}"));
        }
        let record = child(&event);
        assert!(record.police_person_ids.is_empty() && record.professionals.is_empty());
        assert_eq!((record.gender, record.ehm_id), (None, None));
    }

    #[test]
    fn refuses_null_or_absent_required_fields() {
        assert_refused(
            &with(episode_event(), "/data/episode_id", json!(null)),
            "$.data.episode_id",
            "is required",
        );
        assert_refused(
            &without(episode_event(), "/data/person/police_person_id"),
            "$.data.person.police_person_id",
            "is required",
        );
        assert_refused(
            &without(episode_event(), "/data/person"),
            "$.data.person",
            "is required",
        );
        assert_refused(
            &without(episode_event(), "/data/reported_missing_at"),
            "$.data.reported_missing_at",
            "is required",
        );
        assert_refused(
            &with(episode_event(), "/data/risk_level", json!(null)),
            "$.data.risk_level",
            "is required",
        );
        assert_refused(
            &without(child_event(), "/data/vemt"),
            "$.data.vemt",
            "is required",
        );
        assert_refused(
            &without(child_event(), "/data/vemt/status"),
            "$.data.vemt.status",
            "is required",
        );
        assert_refused(
            &with(child_event(), "/data/vemt", json!("active")),
            "$.data.vemt",
            "must be an object",
        );
        assert_refused(
            &without(rhi_event(), "/data/rhi_id"),
            "$.data.rhi_id",
            "is required",
        );
        assert_refused(
            &without(rhi_event(), "/data/status"),
            "$.data.status",
            "is required",
        );
    }

    #[test]
    fn an_open_episode_must_not_have_returned_at() {
        assert_refused(
            &with(
                episode_event(),
                "/data/returned_at",
                json!("2026-11-21T09:00:00Z"),
            ),
            "$.data.returned_at",
            "must be null when status is open",
        );
    }

    #[test]
    fn a_returned_episode_needs_returned_at_no_earlier_than_the_report() {
        let returned = with(episode_event(), "/data/status", json!("returned"));
        assert_refused(
            &returned,
            "$.data.returned_at",
            "is required when status is returned",
        );
        assert_refused(
            &with(
                returned.clone(),
                "/data/returned_at",
                json!("2026-11-20T21:14:59Z"),
            ),
            "$.data.returned_at",
            "must be at or after reported_missing_at when status is returned",
        );
        let same_instant = with(
            returned.clone(),
            "/data/returned_at",
            json!("2026-11-20T21:15:00Z"),
        );
        let report = episode(&same_instant);
        assert_eq!(report.status, EpisodeStatus::Returned);
        assert_eq!(report.returned_at, Some(report.reported_missing_at));
    }

    #[test]
    fn a_cancelled_episode_may_have_returned_at_or_not() {
        let cancelled = with(episode_event(), "/data/status", json!("cancelled"));
        assert_eq!(episode(&cancelled).returned_at, None);
        let with_return = with(
            cancelled,
            "/data/returned_at",
            json!("2026-11-21T09:00:00Z"),
        );
        assert_eq!(
            episode(&with_return).returned_at,
            Some(at("2026-11-21T09:00:00Z"))
        );
    }

    #[test]
    fn refuses_enum_values_listing_those_accepted() {
        let cases = [
            (
                episode_event(),
                "/data/status",
                "$.data.status",
                EPISODE_STATUSES,
            ),
            (
                episode_event(),
                "/data/person/gender",
                "$.data.person.gender",
                GENDERS,
            ),
            (
                episode_event(),
                "/data/missing_from",
                "$.data.missing_from",
                MISSING_FROM,
            ),
            (child_event(), "/data/gender", "$.data.gender", GENDERS),
            (
                child_event(),
                "/data/vemt/status",
                "$.data.vemt.status",
                VEMT_STATUSES,
            ),
            (
                child_event(),
                "/data/vemt/category",
                "$.data.vemt.category",
                VEMT_CATEGORIES,
            ),
            (
                child_event(),
                "/data/vemt/risk_level",
                "$.data.vemt.risk_level",
                VEMT_RISK_LEVELS,
            ),
            (
                child_event(),
                "/data/professionals/1/role",
                "$.data.professionals[1].role",
                PROFESSIONAL_ROLES,
            ),
            (rhi_event(), "/data/status", "$.data.status", RHI_STATUSES),
        ];
        for (event, pointer, path, accepted) in cases {
            assert_refused(
                &with(event, pointer, json!("Open")),
                path,
                &format!("must be one of: {accepted}"),
            );
        }
        assert_refused(
            &with(episode_event(), "/data/status", json!(1)),
            "$.data.status",
            "must be a string",
        );
        assert_refused(
            &with(
                child_event(),
                "/data/vemt/risk_level",
                json!("no_apparent_risk"),
            ),
            "$.data.vemt.risk_level",
            "must be one of: high, medium, low",
        );
    }

    #[test]
    fn every_listed_enum_value_is_accepted() {
        fn all<T>(parse: fn(&str) -> Option<T>, accepted: &str) -> bool {
            accepted.split(", ").all(|raw| parse(raw).is_some())
        }
        assert!(all(EpisodeStatus::parse, EPISODE_STATUSES));
        assert!(all(RiskLevel::parse, RISK_LEVELS));
        assert!(all(Gender::parse, GENDERS));
        assert!(all(MissingFrom::parse, MISSING_FROM));
        assert!(all(VemtStatus::parse, VEMT_STATUSES));
        assert!(all(VemtCategory::parse, VEMT_CATEGORIES));
        assert!(all(VemtRiskLevel::parse, VEMT_RISK_LEVELS));
        assert!(all(ProfessionalRole::parse, PROFESSIONAL_ROLES));
        assert!(all(RhiStatus::parse, RHI_STATUSES));
    }

    #[test]
    fn reports_identifier_errors_in_the_domain_words() {
        assert_refused(
            &with(episode_event(), "/data/episode_id", json!("")),
            "$.data.episode_id",
            "must not be empty",
        );
        assert_refused(
            &with(
                child_event(),
                "/data/police_person_ids",
                json!(["P-1", "P 2"]),
            ),
            "$.data.police_person_ids[1]",
            "must not contain whitespace or control characters",
        );
        assert_refused(
            &with(child_event(), "/data/ehm_id", json!("x".repeat(129))),
            "$.data.ehm_id",
            "must be at most 128 characters",
        );
        assert_refused(
            &with(child_event(), "/data/professionals/2/worker_id", json!(101)),
            "$.data.professionals[2].worker_id",
            "must be a string",
        );
        assert_refused(
            &without(child_event(), "/data/professionals/0/worker_id"),
            "$.data.professionals[0].worker_id",
            "is required",
        );
    }

    #[test]
    fn names_must_be_non_empty_and_at_most_200_characters() {
        assert_refused(
            &with(episode_event(), "/data/person/given_name", json!("")),
            "$.data.person.given_name",
            "must not be empty",
        );
        assert_refused(
            &with(child_event(), "/data/family_name", json!("  ")),
            "$.data.family_name",
            "must not be empty",
        );
        assert_refused(
            &with(child_event(), "/data/given_name", json!("é".repeat(201))),
            "$.data.given_name",
            "must be at most 200 characters",
        );
        let longest = with(child_event(), "/data/given_name", json!("é".repeat(200)));
        assert_eq!(child(&longest).given_name.chars().count(), 200);
    }

    #[test]
    fn police_person_ids_must_be_an_array_and_lose_duplicates_in_order() {
        let event = with(
            child_event(),
            "/data/police_person_ids",
            json!(["P-3", "P-1", "P-3", "P-2", "P-1"]),
        );
        let ids: Vec<_> = child(&event)
            .police_person_ids
            .iter()
            .map(|id| id.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["P-3", "P-1", "P-2"]);
        assert_refused(
            &with(child_event(), "/data/police_person_ids", json!("P-1")),
            "$.data.police_person_ids",
            "must be an array",
        );
    }

    #[test]
    fn professionals_must_be_objects_with_well_formed_emails() {
        assert_refused(
            &with(
                child_event(),
                "/data/professionals",
                json!({ "role": "iro" }),
            ),
            "$.data.professionals",
            "must be an array",
        );
        assert_refused(
            &with(child_event(), "/data/professionals/1", json!("W-201")),
            "$.data.professionals[1]",
            "must be an object",
        );
        for email in [
            "sam.jones",
            "@example.org",
            "sam@",
            "a@b@c",
            "sam jones@example.org",
            "",
        ] {
            assert_refused(
                &with(child_event(), "/data/professionals/0/email", json!(email)),
                "$.data.professionals[0].email",
                "must be an e-mail address",
            );
        }
        assert_refused(
            &with(child_event(), "/data/professionals/0/name", json!(["Sam"])),
            "$.data.professionals[0].name",
            "must be a string",
        );
    }

    #[test]
    fn trigger_plan_in_place_must_be_a_boolean() {
        assert_refused(
            &with(episode_event(), "/data/trigger_plan_in_place", json!("yes")),
            "$.data.trigger_plan_in_place",
            "must be a boolean",
        );
    }

    #[test]
    fn a_completed_interview_needs_completed_at() {
        assert_refused(
            &without(rhi_event(), "/data/completed_at"),
            "$.data.completed_at",
            "is required when status is completed",
        );
        let declined = without(
            with(rhi_event(), "/data/status", json!("declined")),
            "/data/completed_at",
        );
        assert_eq!(rhi(&declined).status, RhiStatus::Declined);
    }

    #[test]
    fn drops_the_interview_free_text_unread() {
        let event = with(rhi_event(), "/data/summary", json!({ "not": "a string" }));
        let event = with(event, "/data/concerns", json!("cse"));
        assert_eq!(rhi(&event), rhi(&rhi_event()));
    }

    #[test]
    fn parses_the_contract_example_of_a_trigger_plan() {
        let parsed = parse(&trigger_plan_event()).unwrap();
        assert_eq!(parsed.envelope.event_type, TRIGGER_PLAN);
        assert_eq!(
            parsed.payload,
            InboundPayload::TriggerPlan(TriggerPlan {
                plan_id: TriggerPlanId::parse("TP-991").unwrap(),
                police_person_id: PolicePersonId::parse("P-88231").unwrap(),
                version: 2,
                issued_at: at("2026-11-24T09:00:00Z"),
                url: DocumentUrl::parse("https://police.example/plans/TP-991").unwrap(),
                media_type: MediaType::parse("application/pdf"),
            })
        );
    }

    #[test]
    fn a_trigger_plan_media_type_and_summary_are_optional() {
        let mut event = without(trigger_plan_event(), "/data/summary");
        event = without(event, "/data/document/media_type");
        assert_eq!(plan(&event).media_type, None);
        let event = with(
            trigger_plan_event(),
            "/data/document/media_type",
            json!(null),
        );
        assert_eq!(plan(&event).media_type, None);
        let event = with(trigger_plan_event(), "/data/summary", json!(null));
        assert_eq!(plan(&event), plan(&trigger_plan_event()));
    }

    #[test]
    fn drops_the_trigger_plan_summary_unread() {
        let event = with(
            trigger_plan_event(),
            "/data/summary",
            json!({ "not": ["a", "string"] }),
        );
        assert_eq!(plan(&event), plan(&trigger_plan_event()));
        let event = with(
            trigger_plan_event(),
            "/data/summary",
            json!("Zebedee Quill"),
        );
        let shown = format!("{:?}", parse(&event).unwrap());
        assert!(!shown.contains("Zebedee"), "{shown}");
    }

    #[test]
    fn refuses_a_trigger_plan_without_its_required_fields() {
        for (pointer, path) in [
            ("/data/plan_id", "$.data.plan_id"),
            ("/data/police_person_id", "$.data.police_person_id"),
            ("/data/version", "$.data.version"),
            ("/data/issued_at", "$.data.issued_at"),
            ("/data/document", "$.data.document"),
            ("/data/document/url", "$.data.document.url"),
        ] {
            assert_refused(&without(trigger_plan_event(), pointer), path, "is required");
            assert_refused(
                &with(trigger_plan_event(), pointer, json!(null)),
                path,
                "is required",
            );
        }
        assert_refused(
            &with(
                trigger_plan_event(),
                "/data/document",
                json!("https://police.example/plans/TP-991"),
            ),
            "$.data.document",
            "must be an object",
        );
    }

    #[test]
    fn a_trigger_plan_document_url_must_be_http_or_https() {
        for url in [
            "police.example/plans/TP-991",
            "ftp://police.example/plans/TP-991",
            "javascript:alert(1)",
            "https://",
            "https://police.example/a plan",
            "",
        ] {
            assert_refused(
                &with(trigger_plan_event(), "/data/document/url", json!(url)),
                "$.data.document.url",
                "must be an http or https URL",
            );
        }
        assert_refused(
            &with(trigger_plan_event(), "/data/document/url", json!(7)),
            "$.data.document.url",
            "must be a string",
        );
        let long = format!("https://police.example/{}", "p".repeat(2048));
        assert_refused(
            &with(trigger_plan_event(), "/data/document/url", json!(long)),
            "$.data.document.url",
            "must be at most 2048 characters",
        );
        let plain = with(
            trigger_plan_event(),
            "/data/document/url",
            json!("http://10.1.2.3:8080/plans?id=TP-991"),
        );
        assert_eq!(
            plan(&plain).url.as_str(),
            "http://10.1.2.3:8080/plans?id=TP-991"
        );
    }

    #[test]
    fn a_trigger_plan_media_type_must_be_type_slash_subtype() {
        for media_type in ["pdf", "application/", "application/pdf; q=1"] {
            assert_refused(
                &with(
                    trigger_plan_event(),
                    "/data/document/media_type",
                    json!(media_type),
                ),
                "$.data.document.media_type",
                MEDIA_TYPE_RULE,
            );
        }
    }

    #[test]
    fn a_trigger_plan_version_issue_time_and_ids_follow_the_common_rules() {
        for version in [json!(0), json!("2"), json!(2.5)] {
            assert_refused(
                &with(trigger_plan_event(), "/data/version", version),
                "$.data.version",
                "must be an integer >= 1",
            );
        }
        assert_refused(
            &with(
                trigger_plan_event(),
                "/data/issued_at",
                json!("2026-11-26T13:00:00Z"),
            ),
            "$.data.issued_at",
            "must not be more than 24 hours in the future",
        );
        assert_refused(
            &with(trigger_plan_event(), "/data/issued_at", json!("2026-11-24")),
            "$.data.issued_at",
            "must be an RFC 3339 timestamp with an offset",
        );
        assert_refused(
            &with(trigger_plan_event(), "/data/plan_id", json!("TP 991")),
            "$.data.plan_id",
            "must not contain whitespace or control characters",
        );
        assert_refused(
            &with(trigger_plan_event(), "/data/police_person_id", json!("")),
            "$.data.police_person_id",
            "must not be empty",
        );
    }

    #[test]
    fn a_rejection_never_repeats_the_value() {
        let name = "Zebedee Quill";
        let cases = [
            with(episode_event(), "/data/person/given_name", json!([name])),
            with(episode_event(), "/data/person/gender", json!(name)),
            with(episode_event(), "/data/revision", json!(name)),
            with(
                episode_event(),
                "/data/person/police_person_id",
                json!(name),
            ),
            with(episode_event(), "/data/person/date_of_birth", json!(name)),
            with(child_event(), "/data/professionals/0/email", json!(name)),
            with(episode_event(), "/time", json!(name)),
            with(trigger_plan_event(), "/data/document/url", json!(name)),
            with(
                trigger_plan_event(),
                "/data/document/media_type",
                json!(name),
            ),
        ];
        for event in cases {
            let shown = parse(&event).unwrap_err().to_string();
            assert!(!shown.contains("Zebedee"), "{shown}");
        }
        let broken = format!(r#"{{"given_name": "{name}", }}"#);
        let shown = parse_inbound(broken.as_bytes(), now(), &Limits::default())
            .unwrap_err()
            .to_string();
        assert_eq!(shown, "$: body must be valid JSON");
    }

    fn outcome_event() -> Value {
        event(
            REVIEW_OUTCOME,
            json!({
                "meeting_date": "2026-11-25",
                "lcs_person_id": "LCS-100245",
                "outcome": "free text",
                "discussion": "free text",
                "actions": [
                    { "action_id": "A-77", "description": "free text", "owner_role": "social_worker", "due_date": "2026-12-02" }
                ],
                "refer_to_vpg": false,
                "trigger_plan": { "request": "update", "details": "free text" }
            }),
        )
    }

    fn outcome(event: &Value) -> crate::domain::outcome::ReviewOutcome {
        match parse(event).unwrap().payload {
            InboundPayload::ReviewOutcome(outcome) => outcome,
            other => panic!("expected an outcome, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_contract_example_of_a_review_outcome() {
        use crate::domain::effects::TriggerPlanRequestKind;
        use crate::domain::ids::ActionId;
        use crate::domain::outcome::{Action, PlanDecision, ReviewOutcome};
        assert_eq!(
            outcome(&outcome_event()),
            ReviewOutcome {
                meeting_date: date("2026-11-25"),
                lcs_person_id: LcsPersonId::parse("LCS-100245").unwrap(),
                outcome: "free text".into(),
                discussion: Some("free text".into()),
                actions: vec![Action {
                    action_id: ActionId::parse("A-77").unwrap(),
                    description: "free text".into(),
                    owner_role: "social_worker".into(),
                    due_date: Some(date("2026-12-02")),
                }],
                refer_to_vpg: false,
                trigger_plan: Some(PlanDecision {
                    request: TriggerPlanRequestKind::Update,
                    details: Some("free text".into()),
                }),
            }
        );
    }

    #[test]
    fn a_review_outcome_needs_only_date_child_and_outcome() {
        let mut minimal = outcome_event();
        for key in ["discussion", "actions", "refer_to_vpg", "trigger_plan"] {
            minimal = without(minimal, &format!("/data/{key}"));
        }
        let parsed = outcome(&minimal);
        assert!(parsed.actions.is_empty() && !parsed.refer_to_vpg);
        assert_eq!((parsed.discussion, parsed.trigger_plan), (None, None));
        let null_plan = outcome(&with(outcome_event(), "/data/trigger_plan", Value::Null));
        assert_eq!(null_plan.trigger_plan, None);
        for key in ["meeting_date", "lcs_person_id", "outcome"] {
            assert_refused(
                &without(outcome_event(), &format!("/data/{key}")),
                &format!("$.data.{key}"),
                "is required",
            );
        }
    }

    #[test]
    fn a_review_outcome_meeting_date_may_be_any_day_up_to_24_hours_ahead() {
        // now is Wednesday 25 November 2026, 12:00 UTC.
        for ok in ["2026-11-23", "2026-11-26", "2020-01-01"] {
            assert_eq!(
                outcome(&with(outcome_event(), "/data/meeting_date", json!(ok))).meeting_date,
                date(ok)
            );
        }
        assert_refused(
            &with(outcome_event(), "/data/meeting_date", json!("2026-11-27")),
            "$.data.meeting_date",
            "must not be more than 24 hours in the future",
        );
        assert_refused(
            &with(outcome_event(), "/data/meeting_date", json!("25/11/2026")),
            "$.data.meeting_date",
            "must be a date YYYY-MM-DD",
        );
    }

    #[test]
    fn a_review_outcome_checks_its_parts() {
        assert_refused(
            &with(outcome_event(), "/data/outcome", json!("  ")),
            "$.data.outcome",
            "must not be empty",
        );
        assert_refused(
            &with(outcome_event(), "/data/refer_to_vpg", json!("yes")),
            "$.data.refer_to_vpg",
            "must be a boolean",
        );
        assert_refused(
            &with(outcome_event(), "/data/trigger_plan/request", json!("copy")),
            "$.data.trigger_plan.request",
            "must be one of: create, update",
        );
        assert_refused(
            &without(outcome_event(), "/data/trigger_plan/request"),
            "$.data.trigger_plan.request",
            "is required",
        );
        assert_refused(
            &without(outcome_event(), "/data/actions/0/description"),
            "$.data.actions[0].description",
            "is required",
        );
        assert_refused(
            &with(outcome_event(), "/data/actions/0/due_date", json!("soon")),
            "$.data.actions[0].due_date",
            "must be a date YYYY-MM-DD",
        );
        let twice = json!([
            { "action_id": "A-1", "description": "x", "owner_role": "iro" },
            { "action_id": "A-1", "description": "y", "owner_role": "iro" }
        ]);
        assert_refused(
            &with(outcome_event(), "/data/actions", twice),
            "$.data.actions[1].action_id",
            "must not repeat an action_id of this outcome",
        );
    }

    #[test]
    fn parses_an_action_update() {
        use crate::domain::ids::ActionId;
        use crate::domain::outcome::{ActionStatus, ActionUpdate};
        let update = event(
            ACTION_UPDATED,
            json!({ "action_id": "A-77", "status": "done" }),
        );
        assert_eq!(
            parse(&update).unwrap().payload,
            InboundPayload::ActionUpdated(ActionUpdate {
                action_id: ActionId::parse("A-77").unwrap(),
                status: ActionStatus::Done,
            })
        );
        assert_refused(
            &with(update, "/data/status", json!("closed")),
            "$.data.status",
            "must be one of: open, done, cancelled",
        );
    }

    #[test]
    fn nul_is_refused_anywhere_with_the_path_of_its_string() {
        assert_refused(
            &with(
                episode_event(),
                "/data/person/given_name",
                json!("A\u{0}da"),
            ),
            "$.data.person.given_name",
            NUL_RULE,
        );
        assert_refused(
            &with(episode_event(), "/id", json!("x\u{0}")),
            "$.id",
            NUL_RULE,
        );
        assert_refused(
            &with(episode_event(), "/source", json!("\u{0}")),
            "$.source",
            NUL_RULE,
        );
        // In a field the service does not read, and in an array.
        assert_refused(
            &with(rhi_event(), "/data/concerns", json!(["cse", "\u{0}"])),
            "$.data.concerns[1]",
            NUL_RULE,
        );
        // A key is input too: its path stops at its object.
        assert_refused(
            &with(episode_event(), "/data/person/x\u{0}y", json!(1)),
            "$.data.person",
            "object keys must not contain the NUL character (U+0000)",
        );
    }

    #[test]
    fn envelope_attributes_are_bounded_and_free_of_control_characters() {
        assert_refused(
            &with(episode_event(), "/id", json!("i".repeat(200 * 1024))),
            "$.id",
            "must be at most 256 characters",
        );
        let longest = with(episode_event(), "/id", json!("i".repeat(256)));
        assert_eq!(parse(&longest).unwrap().envelope.id.len(), 256);
        assert_refused(
            &with(episode_event(), "/source", json!("s".repeat(513))),
            "$.source",
            "must be at most 512 characters",
        );
        assert_refused(
            &with(episode_event(), "/type", json!("t".repeat(129))),
            "$.type",
            "must be at most 128 characters",
        );
        assert_refused(
            &with(episode_event(), "/correlationid", json!("c".repeat(257))),
            "$.correlationid",
            "must be at most 256 characters",
        );
        for forged in ["a\nINFO forged line", "a\rb", "a\u{1b}[31mred", "a\tb"] {
            assert_refused(
                &with(episode_event(), "/id", json!(forged)),
                "$.id",
                "must not contain control characters",
            );
        }
        assert_refused(
            &with(episode_event(), "/correlationid", json!("x\ny")),
            "$.correlationid",
            "must not contain control characters",
        );
    }

    #[test]
    fn an_imported_row_with_nul_is_refused_like_a_live_event() {
        let data = with(episode_event(), "/data/person/family_name", json!("\u{0}"));
        let rejection = parse_missing_episode_data(
            data["data"].as_object().unwrap(),
            now(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(rejection.path, "$.person.family_name");
        assert_eq!(rejection.rule, NUL_RULE);
    }

    /// Fuzzing the parser (issue 10): arbitrary bytes, and valid events of
    /// every inbound type with one value mutated. Never a panic; every
    /// refusal is `<JSON path>: <rule>` and repeats no input value. Runs
    /// 256 cases a property by default; `PROPTEST_CASES=1000000 cargo test
    /// --release --lib fuzz` for a long run.
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        /// Marks every string a mutation writes, so a refusal that repeats
        /// input is caught whatever the field.
        const MARK: &str = "QXJ7";

        fn valid_events() -> Vec<Value> {
            vec![
                episode_event(),
                child_event(),
                rhi_event(),
                trigger_plan_event(),
                vpg_decision_event(),
                outcome_event(),
                event(
                    ACTION_UPDATED,
                    json!({ "action_id": "A-77", "status": "done" }),
                ),
            ]
        }

        /// JSON pointers of every value in `value`, objects and arrays too.
        fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, item) in map {
                        pointers(item, format!("{at}/{key}"), out);
                    }
                }
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        pointers(item, format!("{at}/{i}"), out);
                    }
                }
                _ => {}
            }
            out.push(at);
        }

        fn replacement() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| json!(f)),
                ".{0,40}".prop_map(|s| Value::from(format!("{MARK}{s}"))),
                "[\\x00-\\x1f]{0,3}".prop_map(|s| Value::from(format!("{MARK}{s}{MARK}"))),
                (0usize..600).prop_map(|n| Value::from(format!("{MARK}{}", "é".repeat(n)))),
                Just(json!([])),
                Just(json!({})),
                Just(json!({ "k": MARK })),
                Just(json!("2026-13-40T25:61:00Z")),
                Just(json!("2026-11-25")),
            ]
        }

        #[track_caller]
        fn assert_well_formed(rejection: &Rejection) {
            assert!(rejection.path.starts_with('$'), "path {:?}", rejection.path);
            assert!(!rejection.rule.is_empty());
            let shown = rejection.to_string();
            assert!(!shown.contains(MARK), "refusal repeats input: {shown}");
            assert!(
                !shown.chars().any(char::is_control),
                "control character in {shown:?}"
            );
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic_and_are_refused_by_path_and_rule(
                body in proptest::collection::vec(any::<u8>(), 0..2048)
            ) {
                if let Err(rejection) = parse_inbound(&body, now(), &Limits::default()) {
                    assert!(rejection.path.starts_with('$'));
                    assert!(!rejection.rule.is_empty());
                }
            }

            #[test]
            fn mutated_events_of_every_type_are_parsed_or_refused_without_their_values(
                which in 0usize..7,
                pick in any::<prop::sample::Index>(),
                value in replacement(),
                drop_it in any::<bool>(),
            ) {
                let mut event = valid_events().swap_remove(which);
                let mut all = Vec::new();
                pointers(&event, String::new(), &mut all);
                all.retain(|p| !p.is_empty());
                let pointer = pick.get(&all).clone();
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                match event.pointer_mut(parent).unwrap() {
                    Value::Object(map) if drop_it => { map.remove(key); }
                    Value::Array(items) if drop_it => { items.remove(key.parse::<usize>().unwrap()); }
                    _ => *event.pointer_mut(&pointer).unwrap() = value,
                }
                if let Err(rejection) = parse(&event) {
                    assert_well_formed(&rejection);
                }
            }

            #[test]
            fn truncated_and_spliced_bodies_are_refused_without_their_values(
                which in 0usize..7,
                cut in any::<prop::sample::Index>(),
                insert in proptest::collection::vec(any::<u8>(), 0..8),
            ) {
                let event = with(valid_events().swap_remove(which), "/data/x_mark", json!(MARK));
                let mut body = event.to_string().into_bytes();
                let at = cut.index(body.len());
                body.splice(at..at, insert);
                if let Err(rejection) = parse_inbound(&body, now(), &Limits::default()) {
                    assert_well_formed(&rejection);
                }
            }
        }
    }
}
