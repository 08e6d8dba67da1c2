//! The pure domain core: the council's process as plain functions over plain
//! types. No database, broker, HTTP or clock reads in here (ARCHITECTURE.md).

/// An enum of the contract: its wire spelling in one place, for
/// serialising, `as_str` and `parse`.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

pub mod agenda;
pub mod calendar;
pub mod child;
pub mod criteria;
pub mod effects;
pub mod episode;
#[cfg(test)]
mod fixtures;
pub mod identity;
pub mod ids;
pub mod outcome;
pub mod quality;
pub mod queue;
pub mod template;
pub mod trigger_plan;
pub mod vpg;
pub mod vpg_decision;
