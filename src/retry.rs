//! Retry delays, one policy per kind of failure, all exponential with
//! jitter (backon): instances that failed together do not retry together.
//! Loops that must also watch for shutdown take the delays as an iterator
//! and sleep themselves.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The delays of one policy; `None` from `next` means give up.
pub type Delays = backon::ExponentialBackoff;

fn exponential(min: Duration, max: Duration) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
}

/// The database is down or asked for a retry while an event is applied:
/// hold the delivery and wait, for as long as it takes (R8.3).
pub fn database_outage() -> Delays {
    exponential(Duration::from_millis(100), Duration::from_secs(30))
        .without_max_times()
        .build()
}

/// The broker connection failed: rebuild the session, for as long as it
/// takes (R8.3).
pub fn broker_reconnect() -> Delays {
    exponential(Duration::from_millis(200), Duration::from_secs(30))
        .without_max_times()
        .build()
}

/// Publishing a refused message to the dead-letter exchange failed. After
/// `DEAD_LETTER_TRIES` the delivery is rejected without requeue instead,
/// and the inbound queue's own dead-lettering takes it.
pub fn dead_letter_publish() -> Delays {
    exponential(Duration::from_millis(100), Duration::from_secs(5))
        .with_max_times(DEAD_LETTER_TRIES - 1)
        .build()
}

pub const DEAD_LETTER_TRIES: usize = 5;

/// A batch of `vemt import` hit a deadlock or a dropped connection: the
/// batch is whole or absent, so it runs again, a few times (a person is at
/// the terminal; an outage should end the run, not hang it).
pub fn import_batch() -> Delays {
    exponential(Duration::from_millis(200), Duration::from_secs(2))
        .with_max_times(3)
        .build()
}

/// The delay before the next try of work whose failures are counted in the
/// database (an outbox row, a Notify send, a delivery-status poll): the row
/// outlives any one loop, so the delay is computed from its count.
/// `tries` is how many were made; 0 gives `base`. With jitter, a delay is
/// between the exponential one and twice it.
pub fn after(base: Duration, max: Duration, tries: u32) -> Duration {
    exponential(base, max)
        .without_max_times()
        .build()
        .nth(tries.min(64) as usize)
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_publishes_are_tried_a_bounded_number_of_times() {
        assert_eq!(dead_letter_publish().count(), DEAD_LETTER_TRIES - 1);
    }

    #[test]
    fn counted_retries_grow_to_their_cap_with_at_most_double_jitter() {
        let (base, max) = (Duration::from_millis(100), Duration::from_millis(1000));
        for (tries, plain) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (400, 1000),
        ] {
            let d = after(base, max, tries).as_millis();
            assert!((plain..=2 * plain).contains(&d), "{tries} tries: {d} ms");
        }
    }

    #[test]
    fn outages_are_waited_out_with_jittered_delays_up_to_their_cap() {
        let delays: Vec<Duration> = database_outage().take(40).collect();
        assert_eq!(delays.len(), 40, "never gives up");
        // Jitter adds up to one more delay on top of the capped one.
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(delays[0] >= Duration::from_millis(100));
        let mut a = broker_reconnect();
        let mut b = broker_reconnect();
        let differ = (0..10).any(|_| a.next() != b.next());
        assert!(differ, "two instances do not retry in step");
    }
}
