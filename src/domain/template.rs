//! Texts the service writes into partners' records (case notes), with
//! `{name}` placeholders. A template is parsed once, at start, against the
//! placeholders its use fills, so a misspelt or unknown placeholder stops
//! the service then rather than reaching a child's record. `{{` and `}}`
//! stand for literal braces.

/// Why a template was refused. Names the placeholder, never a child's data
/// (templates hold none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{name}}}; the known ones are: {known}")]
    UnknownPlaceholder { name: String, known: String },
    #[error("a `{{` is not closed by `}}` (write `{{{{` for a literal brace)")]
    Unclosed,
    #[error("a `}}` has no `{{` before it (write `}}}}` for a literal brace)")]
    Unopened,
    #[error("the first line, the title, is empty")]
    EmptyTitle,
    #[error("the body, after the first line, is empty")]
    EmptyBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(&'static str),
}

/// One text with placeholders, checked against the names its use fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// `known`: the placeholders the caller fills when it renders.
    pub fn parse(text: &str, known: &[&'static str]) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text_part = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text_part.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text_part.push('}');
                }
                '}' => return Err(TemplateError::Unopened),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => return Err(TemplateError::Unclosed),
                            Some(c) => name.push(c),
                        }
                    }
                    let known_name = known.iter().find(|k| **k == name).ok_or_else(|| {
                        TemplateError::UnknownPlaceholder {
                            name: name.clone(),
                            known: known.join(", "),
                        }
                    })?;
                    if !text_part.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text_part)));
                    }
                    parts.push(Part::Placeholder(known_name));
                }
                c => text_part.push(c),
            }
        }
        if !text_part.is_empty() {
            parts.push(Part::Text(text_part));
        }
        Ok(Self { parts })
    }

    /// The text with each placeholder replaced by its value; a placeholder
    /// given no value renders as nothing (callers fill every known one).
    pub fn render(&self, values: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Placeholder(name) => {
                    if let Some((_, value)) = values.iter().find(|(n, _)| n == name) {
                        out.push_str(value);
                    }
                }
            }
        }
        out
    }
}

/// A case note's words: the first line of the template is the title, the
/// rest the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseNoteTemplate {
    pub title: Template,
    pub body: Template,
}

impl CaseNoteTemplate {
    pub fn parse(text: &str, known: &[&'static str]) -> Result<Self, TemplateError> {
        let text = text.replace("\r\n", "\n");
        let (title, body) = text.split_once('\n').unwrap_or((&text, ""));
        let (title, body) = (title.trim(), body.trim());
        if title.is_empty() {
            return Err(TemplateError::EmptyTitle);
        }
        if body.is_empty() {
            return Err(TemplateError::EmptyBody);
        }
        Ok(Self {
            title: Template::parse(title, known)?,
            body: Template::parse(body, known)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [&str; 2] = ["plan_id", "version"];

    #[test]
    fn fills_each_placeholder_every_time_it_appears() {
        let t = Template::parse("Plan {plan_id} v{version} ({plan_id})", &KNOWN).unwrap();
        assert_eq!(
            t.render(&[("plan_id", "TP-1"), ("version", "2")]),
            "Plan TP-1 v2 (TP-1)"
        );
    }

    #[test]
    fn doubled_braces_are_literal() {
        let t = Template::parse("{{plan_id}} is {plan_id}}}", &KNOWN).unwrap();
        assert_eq!(t.render(&[("plan_id", "TP-1")]), "{plan_id} is TP-1}");
    }

    #[test]
    fn refuses_an_unknown_placeholder_naming_the_known_ones() {
        let err = Template::parse("Dear {given_name}", &KNOWN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown placeholder {given_name}; the known ones are: plan_id, version"
        );
        assert!(matches!(
            Template::parse("{}", &KNOWN),
            Err(TemplateError::UnknownPlaceholder { .. })
        ));
    }

    #[test]
    fn refuses_unbalanced_braces() {
        assert_eq!(
            Template::parse("plan {plan_id", &KNOWN),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            Template::parse("plan {plan_{id}}", &KNOWN),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            Template::parse("plan } here", &KNOWN),
            Err(TemplateError::Unopened)
        );
    }

    #[test]
    fn a_case_note_template_is_a_title_line_and_a_body() {
        let note = CaseNoteTemplate::parse(
            "Plan {plan_id}\r\n\r\nReceived version {version}.\nFiled.\n",
            &KNOWN,
        )
        .unwrap();
        let values = [("plan_id", "TP-1"), ("version", "3")];
        assert_eq!(note.title.render(&values), "Plan TP-1");
        assert_eq!(note.body.render(&values), "Received version 3.\nFiled.");
        assert_eq!(
            CaseNoteTemplate::parse("\nbody", &KNOWN),
            Err(TemplateError::EmptyTitle)
        );
        assert_eq!(
            CaseNoteTemplate::parse("title only\n\n", &KNOWN),
            Err(TemplateError::EmptyBody)
        );
        assert!(matches!(
            CaseNoteTemplate::parse("title\nbody {nope}", &KNOWN),
            Err(TemplateError::UnknownPlaceholder { .. })
        ));
    }
}
