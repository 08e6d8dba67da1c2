//! The pure domain core: the council's process as plain functions over plain
//! types. No database, broker, HTTP or clock reads in here (ARCHITECTURE.md).

pub mod calendar;
pub mod child;
pub mod criteria;
pub mod effects;
pub mod episode;
#[cfg(test)]
mod fixtures;
pub mod ids;
pub mod queue;
