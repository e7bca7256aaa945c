//! The one clock the server keeps time by: opening hours, daily numbers, called timeouts and
//! expiry all read [`Clock::now`], never `Utc::now()` themselves, so a test can move time
//! (`set`, `advance`) on every node it runs at once instead of waiting for it.
//!
//! It is the system clock plus an offset that is zero unless a test sets it; time keeps
//! flowing from wherever it was set. Clones share the offset.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

/// The time as the node keeps it. Cheap to clone; clones move together.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// How far ahead of the system clock this one runs, in milliseconds (negative: behind).
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// From now on `now()` reads `at`, plus the time that passes after this call.
    pub fn set(&self, at: DateTime<Utc>) {
        let offset = (at - Utc::now()).num_milliseconds();
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// Moves the clock forward by `by` (back, when negative).
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_reads_what_it_was_set_to_and_its_clones_follow() {
        let clock = Clock::system();
        let twin = clock.clone();
        let at: DateTime<Utc> = "2026-03-29T00:59:00Z".parse().unwrap();
        clock.set(at);
        let read = twin.now();
        assert!(read >= at && read - at < Duration::seconds(5), "{read}");
        twin.advance(Duration::hours(1));
        assert!(clock.now() - at >= Duration::hours(1));
        assert!((Clock::system().now() - Utc::now()).num_seconds().abs() < 5);
    }
}
