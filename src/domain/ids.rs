//! Identifiers from partner systems. Each is parsed once at the edge, so the
//! core never holds an empty or control-character-laden id.

use std::fmt;

/// Longest identifier accepted from a partner. Generous for the formats seen
/// (`CP-2026-004512`, `LCS-100245`) while bounding what one message can store.
pub const MAX_ID_LEN: usize = 128;

/// Why a raw identifier was refused. Never carries the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 128 characters")]
    TooLong,
    #[error("must not contain whitespace or control characters")]
    BadCharacter,
}

fn check(raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.chars().count() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(String);

        // Reading an id back (a stored agenda) goes through `parse` too.
        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(raw: String) -> Result<Self, IdError> {
                check(&raw)?;
                Ok(Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check(raw)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// A police missing-person episode (`CP-2026-004512`).
    EpisodeId
);
identifier!(
    /// The police's id for a person (`P-88231`).
    PolicePersonId
);
identifier!(
    /// The council's LCS person id (`LCS-100245`).
    LcsPersonId
);
identifier!(
    /// The Early Help Module's id for a child.
    EhmId
);
identifier!(
    /// A return home interview.
    RhiId
);
identifier!(
    /// A council worker in LCS.
    WorkerId
);
identifier!(
    /// A police missing-persons trigger plan (`TP-991`).
    TriggerPlanId
);
identifier!(
    /// An action in meeting minutes (`A-77`).
    ActionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_partner_formats() {
        assert_eq!(
            EpisodeId::parse("CP-2026-004512").unwrap().as_str(),
            "CP-2026-004512"
        );
    }

    #[test]
    fn refuses_empty_long_and_spaced_ids() {
        assert_eq!(LcsPersonId::parse(""), Err(IdError::Empty));
        assert_eq!(LcsPersonId::parse(&"x".repeat(129)), Err(IdError::TooLong));
        assert_eq!(LcsPersonId::parse("LCS 1"), Err(IdError::BadCharacter));
        assert_eq!(LcsPersonId::parse("LCS\n1"), Err(IdError::BadCharacter));
    }
}
