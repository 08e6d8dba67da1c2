//! The VEMT missing-children integration service: police missing episodes
//! in, the Wednesday review queue, trigger-plan requests out.
//! See ARCHITECTURE.md: a pure domain core with adapters at the edge.

pub mod agendas;
pub mod broker;
pub mod clock;
pub mod collation;
pub mod config;
pub mod contract;
pub mod dead_letters;
pub mod domain;
pub mod exit;
pub mod http;
pub mod import;
pub mod inbound;
pub mod intake;
pub mod meetings;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod process;
pub mod process_metrics;
pub mod retention;
pub mod retry;
pub mod scheduler;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod tls;
pub mod vpg_agendas;
