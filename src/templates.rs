//! The words the service writes into partners' records, read at start from
//! `<config dir>/templates/` and checked then: a template that is missing,
//! or names a placeholder the service does not fill, stops the start.

use std::path::Path;

use anyhow::Context as _;

use crate::domain::template::CaseNoteTemplate;
use crate::domain::{outcome, trigger_plan};

/// The case note recording a trigger plan's receipt (R4.2): first line the
/// title, the rest the body; placeholders `{plan_id}`, `{version}`,
/// `{issued_on}`.
pub const TRIGGER_PLAN_RECEIVED_NOTE: &str = "templates/trigger-plan-received.case-note.txt";

/// The VEMT case note of a meeting outcome (R5.2); placeholders
/// `{meeting_date}`, `{outcome}`, `{discussion}`, `{actions}`.
pub const REVIEW_OUTCOME_NOTE: &str = "templates/review-outcome.case-note.txt";

/// The case note of a trigger plan a meeting asks the police to create or
/// update (R4.3); placeholders `{meeting_date}`, `{request}` (`created` or
/// `updated`), `{details}`.
pub const TRIGGER_PLAN_REQUESTED_NOTE: &str = "templates/trigger-plan-requested.case-note.txt";

fn load_note(
    config_dir: &Path,
    file: &str,
    known: &[&'static str],
) -> anyhow::Result<CaseNoteTemplate> {
    let path = config_dir.join(file);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the template {}", path.display()))?;
    CaseNoteTemplate::parse(&text, known)
        .with_context(|| format!("in the template {}", path.display()))
}

/// The VEMT case note of a monthly VPG decision (R6.1, R6.2);
/// placeholders `{meeting_date}`, `{decision}`, `{outcome}`, `{actions}`.
pub const VPG_DECISION_NOTE: &str = "templates/vpg-decision.case-note.txt";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    pub vpg_decision: CaseNoteTemplate,
    pub trigger_plan_received: CaseNoteTemplate,
    pub review_outcome: CaseNoteTemplate,
    pub trigger_plan_requested: CaseNoteTemplate,
}

impl Templates {
    /// Reads every template under `config_dir` (the `--config-dir` of the
    /// command line).
    pub fn load(config_dir: &Path) -> anyhow::Result<Self> {
        let path = config_dir.join(TRIGGER_PLAN_RECEIVED_NOTE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the template {}", path.display()))?;
        let trigger_plan_received =
            CaseNoteTemplate::parse(&text, &trigger_plan::NOTE_PLACEHOLDERS)
                .with_context(|| format!("in the template {}", path.display()))?;
        Ok(Self {
            vpg_decision: load_note(
                config_dir,
                VPG_DECISION_NOTE,
                &crate::domain::vpg_decision::NOTE_PLACEHOLDERS,
            )?,
            trigger_plan_received,
            review_outcome: load_note(
                config_dir,
                REVIEW_OUTCOME_NOTE,
                &outcome::NOTE_PLACEHOLDERS,
            )?,
            trigger_plan_requested: load_note(
                config_dir,
                TRIGGER_PLAN_REQUESTED_NOTE,
                &outcome::PLAN_NOTE_PLACEHOLDERS,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_templates_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let templates = Templates::load(&dir).expect("shipped templates load");
        let values = [
            ("plan_id", "TP-1"),
            ("version", "2"),
            ("issued_on", "24 November 2026"),
        ];
        let title = templates.trigger_plan_received.title.render(&values);
        assert_eq!(title, "Police trigger plan TP-1 version 2 received");
        let body = templates.trigger_plan_received.body.render(&values);
        assert!(
            body.contains("TP-1, version 2, issued on 24 November 2026"),
            "{body}"
        );
    }

    #[test]
    fn a_missing_or_broken_template_is_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("vemt-templates-{}", std::process::id()));
        let err = Templates::load(&dir).unwrap_err();
        assert!(
            format!("{err:#}").contains(TRIGGER_PLAN_RECEIVED_NOTE),
            "{err:#}"
        );

        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(
            dir.join(TRIGGER_PLAN_RECEIVED_NOTE),
            "Plan {plan_id}\nDear {given_name}",
        )
        .unwrap();
        let err = format!("{:#}", Templates::load(&dir).unwrap_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("unknown placeholder {given_name}"), "{err}");
        assert!(err.contains(TRIGGER_PLAN_RECEIVED_NOTE), "{err}");
    }
}
