//! Which API requests a node takes on. Past its bound a request is answered 503 at once, with
//! `Retry-After`, instead of queueing: a queue of requests that wait longer than their clients do
//! is work done for no one, and the retries it causes bring more (a metastable collapse). Shed
//! early, the node keeps serving what it can.
//!
//! The bound follows the node's pace (Little's law): as many requests as it answers in
//! `target` (the wait a request may expect at most), measured over the last windows of 100 ms,
//! never fewer than `FLOOR` nor more than the configured maximum. A fixed bound is right for one
//! speed only: 1,024 in flight is 0.3 s of work for a node answering 3,000 a second, but 0.8 s
//! for one answering 1,200 (its cores shared with a load generator), when clients give up after
//! a second.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bound never goes below this: a node at rest, or serving a few slow requests, still takes
/// a burst.
pub const FLOOR: usize = 128;
/// How often the pace is measured.
const WINDOW: Duration = Duration::from_millis(100);
/// The weight of the newest window in the pace (the rest is the previous pace).
const NEWEST: f64 = 0.5;

/// A node's admission of API requests.
pub struct Admission {
    /// At most this many at once (0: no bound at all).
    max: usize,
    /// The wait a request may expect, at most; None: the bound is `max`.
    target: Option<Duration>,
    /// How long a refused request waits for its answer.
    pub shed_delay: Duration,
    in_flight: AtomicUsize,
    bound: AtomicUsize,
    answered: AtomicU64,
    pace: Mutex<Pace>,
}

/// Answers per second, as last measured.
struct Pace {
    since: Instant,
    answered: u64,
    per_second: Option<f64>,
}

/// One request taken on; dropping it counts the request answered.
pub struct Admitted(Arc<Admission>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
        self.0.answered.fetch_add(1, Relaxed);
        self.0.measure(Instant::now());
    }
}

impl Admission {
    pub fn new(max: usize, target: Option<Duration>, shed_delay: Duration) -> Arc<Admission> {
        let start = if target.is_some() { max.min(FLOOR.max(1)) } else { max };
        Arc::new(Admission {
            max,
            target,
            shed_delay,
            in_flight: AtomicUsize::new(0),
            bound: AtomicUsize::new(start),
            answered: AtomicU64::new(0),
            pace: Mutex::new(Pace { since: Instant::now(), answered: 0, per_second: None }),
        })
    }

    /// Takes a request on, or None when the node is at its bound.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        if self.max == 0 {
            return Some(Admitted(self.clone()));
        }
        let bound = self.bound.load(Relaxed);
        let taken = self.in_flight.fetch_update(Relaxed, Relaxed, |n| (n < bound).then_some(n + 1));
        taken.ok().map(|_| Admitted(self.clone()))
    }

    /// The bound now.
    pub fn bound(&self) -> usize {
        self.bound.load(Relaxed)
    }

    /// At the end of a window, measures the pace and sets the bound from it.
    fn measure(&self, now: Instant) {
        let Some(target) = self.target else { return };
        // Whoever holds the lock measures; the others need not wait for it.
        let Ok(mut pace) = self.pace.try_lock() else { return };
        let elapsed = now.saturating_duration_since(pace.since);
        if elapsed < WINDOW {
            return;
        }
        let answered = self.answered.load(Relaxed);
        let newest = (answered - pace.answered) as f64 / elapsed.as_secs_f64();
        let per_second = pace.per_second.map_or(newest, |p| NEWEST * newest + (1.0 - NEWEST) * p);
        *pace = Pace { since: now, answered, per_second: Some(per_second) };
        let bound = bound_for(per_second, target, self.max);
        self.bound.store(bound, Relaxed);
        ::metrics::gauge!("queuecast_admission_bound").set(bound as f64);
    }
}

/// The requests a node answering `per_second` works through in `target`, within `FLOOR..=max`.
pub fn bound_for(per_second: f64, target: Duration, max: usize) -> usize {
    let bound = (per_second * target.as_secs_f64()).round() as usize;
    bound.clamp(FLOOR.min(max), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_what_the_node_answers_in_the_target_wait() {
        let quarter = Duration::from_millis(250);
        assert_eq!(bound_for(3_000.0, quarter, 1024), 750);
        assert_eq!(bound_for(1_200.0, quarter, 1024), 300);
        assert_eq!(bound_for(10.0, quarter, 1024), FLOOR, "a quiet node still takes a burst");
        assert_eq!(bound_for(100_000.0, quarter, 1024), 1024, "never past the maximum");
        assert_eq!(bound_for(0.0, quarter, 64), 64, "a maximum under the floor wins");
    }

    #[test]
    fn the_bound_follows_the_pace_and_sheds_past_it() {
        let admission = Admission::new(1024, Some(Duration::from_millis(250)), Duration::ZERO);
        assert_eq!(admission.bound(), FLOOR, "from the floor until a pace is measured");
        // (Held to the end: an answer measures the pace with the real clock.)
        let held: Vec<Admitted> = (0..FLOOR).map_while(|_| admission.admit()).collect();
        assert_eq!(held.len(), FLOOR);
        assert!(admission.admit().is_none(), "past the bound, shed");

        // 2,000 answers a second for half a second: the bound rises to about 500.
        let start = Instant::now();
        for tick in 1..=5u64 {
            admission.answered.fetch_add(200, Relaxed);
            admission.measure(start + WINDOW * tick as u32);
        }
        let bound = admission.bound();
        assert!((450..=550).contains(&bound), "{bound}");
        // Then the node slows to 100 a second: the bound falls with it, down to the floor.
        for tick in 6..=15u64 {
            admission.answered.fetch_add(10, Relaxed);
            admission.measure(start + WINDOW * tick as u32);
        }
        assert_eq!(admission.bound(), FLOOR);
        // Nothing is measured within a window.
        admission.answered.fetch_add(1_000, Relaxed);
        admission.measure(start + WINDOW * 15 + Duration::from_millis(10));
        assert_eq!(admission.bound(), FLOOR);
        drop(held);
    }

    #[test]
    fn without_a_target_the_bound_is_the_maximum_and_zero_is_none() {
        let fixed = Admission::new(2, None, Duration::ZERO);
        let (a, b) = (fixed.admit(), fixed.admit());
        assert!(a.is_some() && b.is_some() && fixed.admit().is_none());
        drop(a);
        assert!(fixed.admit().is_some());
        let open = Admission::new(0, Some(Duration::from_millis(250)), Duration::ZERO);
        let many: Vec<_> = (0..10_000).filter_map(|_| open.admit()).collect();
        assert_eq!(many.len(), 10_000);
    }
}
