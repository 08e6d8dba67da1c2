//! Police missing-persons trigger plans (R4.2): the plan as received, and
//! what its receipt makes happen once the child's LCS record is held: the
//! document filed, a case note, an e-mail and an alert to the social
//! worker, team manager and IRO (where involved).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::child::{Professional, ProfessionalRole};
use super::effects::{
    AlertPriority, AlertReason, AlertRecipient, CaseNote, Document, Effect, Email, EmailRecipient,
    EmailTemplate, NoteType, Occasion, ProfessionalAlert,
};
use super::ids::{LcsPersonId, PolicePersonId, TriggerPlanId};
use super::template::CaseNoteTemplate;

/// Longest document address accepted.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest media type accepted (RFC 6838 allows 127 + 1 + 127).
pub const MAX_MEDIA_TYPE_CHARS: usize = 255;

/// The placeholders the case-note template of a received plan may use.
pub const NOTE_PLACEHOLDERS: [&str; 3] = ["plan_id", "version", "issued_on"];

/// A version of a trigger plan (`police.trigger-plan.v1`). Its free-text
/// summary is not part of it: the process does not need it (R7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerPlan {
    pub plan_id: TriggerPlanId,
    pub police_person_id: PolicePersonId,
    pub version: u32,
    pub issued_at: DateTime<Utc>,
    pub url: DocumentUrl,
    /// `None` when the police did not say; the document is then filed as PDF.
    pub media_type: Option<MediaType>,
}

/// Why a document address was refused. Never carries the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("must be an http or https URL")]
    NotWeb,
    #[error("must be at most 2048 characters")]
    TooLong,
}

/// Where the plan's document is: an `http` or `https` URL with a host and
/// no whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DocumentUrl(String);

impl DocumentUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(UrlError::TooLong);
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::NotWeb);
        }
        let rest = ["https://", "http://"]
            .into_iter()
            .find_map(|scheme| {
                raw.get(..scheme.len())
                    .filter(|head| head.eq_ignore_ascii_case(scheme))
                    .map(|_| &raw[scheme.len()..])
            })
            .ok_or(UrlError::NotWeb)?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_and_port = authority.rsplit('@').next().unwrap_or_default();
        let host = if host_and_port.starts_with('[') {
            host_and_port
                .split_once(']')
                .map_or("", |(h, _)| h.trim_start_matches('['))
        } else {
            host_and_port.split(':').next().unwrap_or_default()
        };
        if host.is_empty() {
            return Err(UrlError::NotWeb);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A media type `type/subtype` (RFC 6838 names, no parameters), such as
/// `application/pdf`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MediaType(String);

impl MediaType {
    pub fn parse(raw: &str) -> Option<Self> {
        let name = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
        };
        let (kind, subtype) = raw.split_once('/')?;
        (raw.len() <= MAX_MEDIA_TYPE_CHARS && name(kind) && name(subtype))
            .then(|| Self(raw.to_owned()))
    }

    /// What a plan is filed as when the police do not say.
    pub fn pdf() -> Self {
        Self("application/pdf".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the effects of a plan need of the child's LCS record, as plain
/// values: the plan goes to the child LCS knows, by their professionals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedChild {
    pub lcs_person_id: LcsPersonId,
    pub vemt_active: bool,
    pub professionals: Vec<Professional>,
}

/// R4.2: everything the receipt of one plan version makes happen for the
/// child: the document filed to LCS, the case note recording its receipt
/// (dated the day it was received, in `timezone`), and the e-mail and alert
/// to the SW, TM and IRO. No e-mail when none of them has an address, no
/// alert when the record lists none of them.
pub fn on_received(
    plan: &TriggerPlan,
    child: &LinkedChild,
    received_at: DateTime<Utc>,
    timezone: Tz,
    note: &CaseNoteTemplate,
) -> Vec<Effect> {
    let mut effects = vec![
        Effect::Document(document(plan, child)),
        Effect::CaseNote(case_note(plan, child, received_at, timezone, note)),
    ];
    effects.extend(email(plan, child).map(Effect::Email));
    effects.extend(alert(plan, child).map(Effect::ProfessionalAlert));
    effects
}

fn occasion(plan: &TriggerPlan) -> Occasion {
    Occasion::TriggerPlanReceived {
        plan_id: plan.plan_id.clone(),
        version: plan.version,
    }
}

pub fn document(plan: &TriggerPlan, child: &LinkedChild) -> Document {
    Document {
        occasion: occasion(plan),
        lcs_person_id: child.lcs_person_id.clone(),
        title: format!(
            "Police missing persons trigger plan {} v{}",
            plan.plan_id, plan.version
        ),
        url: plan.url.clone(),
        media_type: plan.media_type.clone().unwrap_or_else(MediaType::pdf),
    }
}

/// A VEMT case note while the child's VEMT case is active, else a
/// missing-episode one. The words come from the template; the plan's
/// issue date is written as the day it falls on in `timezone`.
pub fn case_note(
    plan: &TriggerPlan,
    child: &LinkedChild,
    received_at: DateTime<Utc>,
    timezone: Tz,
    note: &CaseNoteTemplate,
) -> CaseNote {
    let version = plan.version.to_string();
    let issued_on = plan
        .issued_at
        .with_timezone(&timezone)
        .format("%-d %B %Y")
        .to_string();
    let values = [
        ("plan_id", plan.plan_id.as_str()),
        ("version", version.as_str()),
        ("issued_on", issued_on.as_str()),
    ];
    CaseNote {
        occasion: occasion(plan),
        lcs_person_id: child.lcs_person_id.clone(),
        note_type: if child.vemt_active {
            NoteType::Vemt
        } else {
            NoteType::MissingEpisode
        },
        dated: received_at.with_timezone(&timezone).date_naive(),
        title: note.title.render(&values),
        body: note.body.render(&values),
    }
}

/// The social worker, team manager and IRO the record lists, in that
/// order (a role listed twice keeps both, in the record's order).
pub fn recipients(child: &LinkedChild) -> Vec<&Professional> {
    const ROLES: [ProfessionalRole; 3] = [
        ProfessionalRole::SocialWorker,
        ProfessionalRole::TeamManager,
        ProfessionalRole::Iro,
    ];
    ROLES
        .iter()
        .flat_map(|role| child.professionals.iter().filter(move |p| p.role == *role))
        .collect()
}

/// The plan, by reference, to those of the recipients with an e-mail
/// address; the others still get the alert.
pub fn email(plan: &TriggerPlan, child: &LinkedChild) -> Option<Email> {
    let to: Vec<EmailRecipient> = recipients(child)
        .into_iter()
        .filter_map(|p| {
            p.email.as_ref().map(|email| EmailRecipient {
                role: p.role,
                worker_id: p.worker_id.clone(),
                email: email.clone(),
            })
        })
        .collect();
    if to.is_empty() {
        return None;
    }
    let personalisation = BTreeMap::from([
        ("plan_id", plan.plan_id.to_string()),
        ("version", plan.version.to_string()),
        ("url", plan.url.as_str().to_owned()),
        ("lcs_person_id", child.lcs_person_id.to_string()),
    ]);
    Some(Email {
        occasion: occasion(plan),
        lcs_person_id: child.lcs_person_id.clone(),
        to,
        template: EmailTemplate::TriggerPlanReceived,
        personalisation,
    })
}

pub fn alert(plan: &TriggerPlan, child: &LinkedChild) -> Option<ProfessionalAlert> {
    let recipients: Vec<AlertRecipient> = recipients(child)
        .into_iter()
        .map(|p| AlertRecipient {
            role: p.role,
            worker_id: p.worker_id.clone(),
        })
        .collect();
    (!recipients.is_empty()).then(|| ProfessionalAlert {
        occasion: occasion(plan),
        lcs_person_id: child.lcs_person_id.clone(),
        recipients,
        reason: AlertReason::TriggerPlanReceived,
        priority: AlertPriority::Normal,
    })
}

#[cfg(test)]
mod tests {
    use chrono_tz::Europe::London;

    use super::*;
    use crate::domain::ids::WorkerId;

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn plan(version: u32) -> TriggerPlan {
        TriggerPlan {
            plan_id: TriggerPlanId::parse("TP-991").unwrap(),
            police_person_id: PolicePersonId::parse("P-88231").unwrap(),
            version,
            issued_at: at("2026-11-24T09:00:00Z"),
            url: DocumentUrl::parse("https://police.example/plans/TP-991").unwrap(),
            media_type: None,
        }
    }

    fn worker(role: ProfessionalRole, id: &str, email: Option<&str>) -> Professional {
        Professional {
            role,
            worker_id: WorkerId::parse(id).unwrap(),
            name: Some(format!("Name of {id}")),
            email: email.map(str::to_owned),
        }
    }

    fn child(vemt_active: bool, professionals: Vec<Professional>) -> LinkedChild {
        LinkedChild {
            lcs_person_id: LcsPersonId::parse("LCS-100245").unwrap(),
            vemt_active,
            professionals,
        }
    }

    fn sw_tm_iro() -> Vec<Professional> {
        vec![
            worker(ProfessionalRole::Iro, "W-301", Some("iro@example.org")),
            worker(
                ProfessionalRole::EarlyHelpWorker,
                "W-401",
                Some("eh@example.org"),
            ),
            worker(
                ProfessionalRole::TeamManager,
                "W-201",
                Some("tm@example.org"),
            ),
            worker(
                ProfessionalRole::SocialWorker,
                "W-101",
                Some("sw@example.org"),
            ),
        ]
    }

    fn template() -> CaseNoteTemplate {
        CaseNoteTemplate::parse(
            "Trigger plan {plan_id} v{version} received\nIssued on {issued_on}.",
            &NOTE_PLACEHOLDERS,
        )
        .unwrap()
    }

    fn ids(roles_and_ids: &[(ProfessionalRole, &str)]) -> Vec<(ProfessionalRole, String)> {
        roles_and_ids
            .iter()
            .map(|(r, id)| (*r, (*id).to_owned()))
            .collect()
    }

    #[test]
    fn the_email_and_alert_go_to_sw_tm_and_iro_in_that_order_and_no_one_else() {
        let child = child(true, sw_tm_iro());
        let expected = ids(&[
            (ProfessionalRole::SocialWorker, "W-101"),
            (ProfessionalRole::TeamManager, "W-201"),
            (ProfessionalRole::Iro, "W-301"),
        ]);
        let email = email(&plan(1), &child).unwrap();
        let to: Vec<_> = email
            .to
            .iter()
            .map(|r| (r.role, r.worker_id.to_string()))
            .collect();
        assert_eq!(to, expected);
        assert_eq!(email.to[0].email, "sw@example.org");
        let alert = alert(&plan(1), &child).unwrap();
        let recipients: Vec<_> = alert
            .recipients
            .iter()
            .map(|r| (r.role, r.worker_id.to_string()))
            .collect();
        assert_eq!(recipients, expected);
        assert_eq!(alert.reason, AlertReason::TriggerPlanReceived);
        assert_eq!(alert.priority, AlertPriority::Normal);
    }

    #[test]
    fn without_an_iro_the_email_and_alert_go_to_sw_and_tm() {
        let child = child(
            false,
            vec![
                worker(
                    ProfessionalRole::SocialWorker,
                    "W-101",
                    Some("sw@example.org"),
                ),
                worker(
                    ProfessionalRole::TeamManager,
                    "W-201",
                    Some("tm@example.org"),
                ),
            ],
        );
        let expected = ids(&[
            (ProfessionalRole::SocialWorker, "W-101"),
            (ProfessionalRole::TeamManager, "W-201"),
        ]);
        let to: Vec<_> = email(&plan(1), &child)
            .unwrap()
            .to
            .iter()
            .map(|r| (r.role, r.worker_id.to_string()))
            .collect();
        assert_eq!(to, expected);
        let recipients: Vec<_> = alert(&plan(1), &child)
            .unwrap()
            .recipients
            .iter()
            .map(|r| (r.role, r.worker_id.to_string()))
            .collect();
        assert_eq!(recipients, expected);
    }

    #[test]
    fn a_professional_without_an_email_address_is_alerted_but_not_emailed() {
        let child = child(
            true,
            vec![
                worker(ProfessionalRole::SocialWorker, "W-101", None),
                worker(
                    ProfessionalRole::TeamManager,
                    "W-201",
                    Some("tm@example.org"),
                ),
            ],
        );
        let email = email(&plan(1), &child).unwrap();
        assert_eq!(email.to.len(), 1);
        assert_eq!(email.to[0].worker_id.as_str(), "W-201");
        assert_eq!(alert(&plan(1), &child).unwrap().recipients.len(), 2);

        let nobody_to_email = self::child(
            true,
            vec![worker(ProfessionalRole::SocialWorker, "W-101", None)],
        );
        assert_eq!(self::email(&plan(1), &nobody_to_email), None);
        let effects = on_received(
            &plan(1),
            &nobody_to_email,
            at("2026-11-24T10:00:00Z"),
            London,
            &template(),
        );
        let types: Vec<_> = effects.iter().map(Effect::event_type).collect();
        assert_eq!(
            types,
            ["lcs.document.v1", "lcs.case-note.v1", "lcs.alert.v1"]
        );
    }

    #[test]
    fn a_record_listing_none_of_them_gets_the_document_and_note_only() {
        let child = child(
            false,
            vec![worker(
                ProfessionalRole::EarlyHelpWorker,
                "W-401",
                Some("eh@example.org"),
            )],
        );
        let effects = on_received(
            &plan(1),
            &child,
            at("2026-11-24T10:00:00Z"),
            London,
            &template(),
        );
        let types: Vec<_> = effects.iter().map(Effect::event_type).collect();
        assert_eq!(types, ["lcs.document.v1", "lcs.case-note.v1"]);
    }

    #[test]
    fn the_note_is_a_vemt_note_only_while_the_vemt_case_is_active() {
        let received = at("2026-11-24T10:00:00Z");
        let active = case_note(
            &plan(1),
            &child(true, vec![]),
            received,
            London,
            &template(),
        );
        assert_eq!(active.note_type, NoteType::Vemt);
        let other = case_note(
            &plan(1),
            &child(false, vec![]),
            received,
            London,
            &template(),
        );
        assert_eq!(other.note_type, NoteType::MissingEpisode);
    }

    #[test]
    fn the_note_is_dated_the_london_day_of_receipt_and_fills_the_template() {
        // 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
        let summer = TriggerPlan {
            issued_at: at("2026-06-30T23:30:00Z"),
            ..plan(2)
        };
        let note = case_note(
            &summer,
            &child(true, vec![]),
            at("2026-06-30T23:45:00Z"),
            London,
            &template(),
        );
        assert_eq!(note.dated.to_string(), "2026-07-01");
        assert_eq!(note.title, "Trigger plan TP-991 v2 received");
        assert_eq!(note.body, "Issued on 1 July 2026.");
    }

    #[test]
    fn the_document_is_titled_by_plan_and_version_and_filed_as_pdf_by_default() {
        let child = child(true, vec![]);
        let doc = document(&plan(3), &child);
        assert_eq!(doc.title, "Police missing persons trigger plan TP-991 v3");
        assert_eq!(doc.url.as_str(), "https://police.example/plans/TP-991");
        assert_eq!(doc.media_type.as_str(), "application/pdf");
        let word = TriggerPlan {
            media_type: MediaType::parse("application/msword"),
            ..plan(3)
        };
        assert_eq!(
            document(&word, &child).media_type.as_str(),
            "application/msword"
        );
    }

    #[test]
    fn the_email_names_no_one_in_its_personalisation() {
        let email = email(&plan(2), &child(true, sw_tm_iro())).unwrap();
        assert_eq!(email.template, EmailTemplate::TriggerPlanReceived);
        let fields: Vec<_> = email
            .personalisation
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("lcs_person_id", "LCS-100245"),
                ("plan_id", "TP-991"),
                ("url", "https://police.example/plans/TP-991"),
                ("version", "2"),
            ]
        );
    }

    #[test]
    fn each_version_has_its_own_keys() {
        let child = child(true, sw_tm_iro());
        let keys = |version| {
            on_received(
                &plan(version),
                &child,
                at("2026-11-24T10:00:00Z"),
                London,
                &template(),
            )
            .iter()
            .map(Effect::key)
            .collect::<Vec<_>>()
        };
        let (one, two) = (keys(1), keys(2));
        assert_eq!(one.len(), 4);
        assert!(one.iter().all(|k| k.contains("TP-991/v1/LCS-100245")));
        assert!(one.iter().all(|k| !two.contains(k)));
        let unique: std::collections::BTreeSet<_> = one.iter().collect();
        assert_eq!(unique.len(), 4);
    }

    #[test]
    fn accepts_only_http_and_https_addresses_with_a_host() {
        for ok in [
            "https://police.example/plans/TP-991",
            "HTTP://police.example",
            "http://10.0.0.1:8080/p?x=1#top",
            "https://user@police.example/p",
            "https://[::1]:443/plan",
        ] {
            assert!(DocumentUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "police.example/plans/TP-991",
            "ftp://police.example/plan.pdf",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "https://",
            "https:///plans",
            "https://:443/plans",
            "https://police.example/a plan",
            "https://police.example/\nplan",
        ] {
            assert_eq!(DocumentUrl::parse(bad), Err(UrlError::NotWeb), "{bad:?}");
        }
        let long = format!("https://police.example/{}", "p".repeat(MAX_URL_CHARS));
        assert_eq!(DocumentUrl::parse(&long), Err(UrlError::TooLong));
    }

    #[test]
    fn media_types_are_type_slash_subtype() {
        for ok in [
            "application/pdf",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "image/svg+xml",
        ] {
            assert!(MediaType::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "pdf",
            "application/",
            "/pdf",
            "application/pdf; charset=x",
            "application/pdf/x",
            "",
        ] {
            assert_eq!(MediaType::parse(bad), None, "{bad:?}");
        }
    }
}
