//! Logs through `tracing`: pretty for people, JSON for log shippers. Spans
//! carry event ids and types, never children's names, dates of birth or
//! free text (R8.4).
//!
//! In JSON each line is one object: the event's own fields at the top
//! level, and the fields of the span it was emitted in under `span` (for
//! the consumer's span: `id`, `type` and `correlationid`), with every
//! enclosing span under `spans`. So a line from intake or store code, run
//! inside the consumer's span, carries the event it belongs to.

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
/// (default info).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // `try_init` also routes the `log` crate's records here. A second init
    // (tests) keeps the first subscriber.
    let _ = subscriber(format, filter, std::io::stderr).try_init();
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    use super::untrusted;

    #[test]
    fn untrusted_values_are_escaped_and_bounded() {
        assert_eq!(untrusted("a\nINFO forged", 100), "a\\nINFO forged");
        assert_eq!(untrusted("\u{1b}[31m", 100), "\\u{1b}[31m");
        assert_eq!(untrusted(&"x".repeat(200 * 1024), 8), "xxxxxxxx…");
        assert_eq!(untrusted("ok", 2), "ok");
    }
}
