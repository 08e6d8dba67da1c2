//! Logs through `tracing`: pretty for people, JSON for log shippers. Spans
//! carry event ids and types, never children's names, dates of birth or
//! free text (R8.4).
//!
//! In JSON each line is one object: the event's own fields at the top
//! level, and the fields of the span it was emitted in under `span` (for
//! the consumer's span: `id`, `type` and `correlationid`), with every
//! enclosing span under `spans`. So a line from intake or store code, run
//! inside the consumer's span, carries the event it belongs to.

use std::io::IsTerminal as _;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::LogFormat;

/// A value from outside the service (an AMQP property, an error text that
/// may quote the input) made fit for a log line in any format: control
/// characters escaped (a newline cannot forge a line, an escape code cannot
/// colour a terminal) and at most `max` characters kept.
pub fn untrusted(raw: &str, max: usize) -> String {
    let mut shown = String::with_capacity(raw.len().min(max));
    for (i, c) in raw.chars().enumerate() {
        if i == max {
            shown.push('…');
            break;
        }
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// Installs the global subscriber on stderr; `RUST_LOG` sets the filter
/// (default info). Pretty logs are coloured only on a terminal.
pub fn init(format: LogFormat) {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let ansi = std::io::stderr().is_terminal();
    // `try_init` also routes the `log` crate's records here. A second init
    // (tests) keeps the first subscriber.
    let _ = subscriber_with_ansi(format, filter, std::io::stderr, ansi).try_init();
}

/// PostgreSQL's notices (such as "relation _sqlx_migrations already
/// exists, skipping" on every migration run) are logged by sqlx at INFO;
/// they are shown only at WARN and above unless `RUST_LOG` names sqlx.
const QUIET_NOTICES: &str = "sqlx::postgres::notice=warn";

/// The filter of `RUST_LOG` (`None`, empty or invalid: info), with sqlx's
/// notices quieted unless it speaks of sqlx itself.
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    let spec = rust_log.map(str::trim).filter(|s| !s.is_empty());
    let filter = spec
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    if spec.is_some_and(|spec| spec.contains("sqlx")) {
        filter
    } else {
        filter.add_directive(QUIET_NOTICES.parse().expect("a valid directive"))
    }
}

/// The subscriber `init` installs, writing to `writer`: tests capture the
/// production format with it.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber_with_ansi(format, filter, writer, false)
}

/// `subscriber`, with ANSI colour codes in pretty logs when `ansi` (never
/// in JSON).
pub fn subscriber_with_ansi<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi && format == LogFormat::Pretty)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(true)
                .finish(),
        ),
        LogFormat::Pretty => Box::new(builder.finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::{filter, untrusted};

    #[test]
    fn sqlx_notices_are_quiet_unless_asked_for() {
        assert_eq!(filter(None).to_string(), "sqlx::postgres::notice=warn,info");
        assert!(
            filter(Some("debug"))
                .to_string()
                .contains("sqlx::postgres::notice=warn")
        );
        assert_eq!(
            filter(Some("info,sqlx=debug")).to_string(),
            "sqlx=debug,info"
        );
        assert_eq!(
            filter(Some("  ")).to_string(),
            "sqlx::postgres::notice=warn,info"
        );
    }

    #[test]
    fn untrusted_values_are_escaped_and_bounded() {
        assert_eq!(untrusted("a\nINFO forged", 100), "a\\nINFO forged");
        assert_eq!(untrusted("\u{1b}[31m", 100), "\\u{1b}[31m");
        assert_eq!(untrusted(&"x".repeat(200 * 1024), 8), "xxxxxxxx…");
        assert_eq!(untrusted("ok", 2), "ok");
    }
}
