//! Integration tests against real RabbitMQ and PostgreSQL. One binary, so
//! the crate links once; each test isolates itself (own database, own
//! exchange and queue names). Quiet unless TEST_LOG is set.

mod agenda_pages;
mod cli;
mod collation;
mod dead_letters;
mod dependencies;
mod deploy;
mod helpers;
mod http;
mod identity;
mod import;
mod meetings;
mod metrics;
mod notify;
mod outbox;
mod outcomes;
mod partners;
mod pipeline;
mod rejections;
mod retention;
mod shutdown;
mod simulate;
mod synthetic;
mod telemetry;
mod timing;
mod tls;
mod trigger_plans;
mod vpg;
mod vpg_decisions;
