//! Wait estimates from a queue's recent service history.
//!
//! The first estimator: a queue serves people at the pace of its recent calls. With `g` the mean
//! time between the last calls and `s` its spread, the person at position `p` expects to wait
//! about `p·g`; the sum of `p` gaps spreads by `s·√p`, so the pessimistic (p90) estimate adds
//! 1.2816·s·√p (the normal approximation). Until there is history, a prior (the queue's
//! configured service time) stands in, and early gaps are shrunk towards it.

use chrono::{DateTime, Utc};

/// How many prior observations the configured service time is worth.
const PRIOR_WEIGHT: f64 = 2.0;
/// z for the 90th percentile of a normal distribution.
const Z90: f64 = 1.2816;

/// Recent calls of one queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallHistory {
    /// Seconds between consecutive recent calls.
    gaps: Vec<f64>,
}

/// A wait in whole seconds: the central estimate and the pessimistic one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub p50: i64,
    pub p90: i64,
}

impl CallHistory {
    /// From call times in any order. Gaps longer than `max_gap_secs` (a lunch break, the night)
    /// say nothing about the pace of service and are left out.
    pub fn from_calls(mut calls: Vec<DateTime<Utc>>, max_gap_secs: f64) -> CallHistory {
        calls.sort_unstable();
        let gaps = calls
            .windows(2)
            .map(|w| (w[1] - w[0]).num_milliseconds() as f64 / 1000.0)
            .filter(|g| *g <= max_gap_secs)
            .collect();
        CallHistory { gaps }
    }

    /// The expected wait of the person at `position` (1 = next), given a prior service time.
    pub fn estimate(&self, position: u32, prior_secs: f64) -> Estimate {
        let n = self.gaps.len() as f64;
        let sum: f64 = self.gaps.iter().sum();
        let mean = (sum + PRIOR_WEIGHT * prior_secs) / (n + PRIOR_WEIGHT);
        // The spread of the prior is taken as its mean (an exponential service time).
        let var = (self.gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>()
            + PRIOR_WEIGHT * prior_secs.powi(2))
            / (n + PRIOR_WEIGHT);
        let p = f64::from(position);
        let p50 = p * mean;
        let p90 = p50 + Z90 * var.sqrt() * p.sqrt();
        Estimate { p50: p50.round() as i64, p90: p90.round() as i64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn without_history_the_prior_sets_the_pace() {
        let e = CallHistory::default().estimate(3, 120.0);
        assert_eq!(e.p50, 360);
        assert_eq!(e.p90, 360 + (1.2816 * 120.0 * 3f64.sqrt()).round() as i64);
    }

    #[test]
    fn a_steady_pace_dominates_the_prior_once_there_is_history() {
        let calls = (0..21).map(|i| at(i * 60)).collect();
        let h = CallHistory::from_calls(calls, 3600.0);
        let e = h.estimate(5, 300.0);
        // 20 gaps of 60 s against 2 prior ones of 300 s: a mean of ~82 s.
        assert!((400..=420).contains(&e.p50), "{e:?}");
        assert!(e.p90 > e.p50);
        assert!(h.estimate(10, 300.0).p50 > e.p50, "further back waits longer");
    }

    #[test]
    fn long_breaks_are_not_taken_for_slow_service() {
        let h = CallHistory::from_calls(vec![at(0), at(60), at(120), at(10_000), at(10_060)], 1800.0);
        assert_eq!(h, CallHistory { gaps: vec![60.0, 60.0, 60.0] });
    }

    #[test]
    fn the_next_person_waits_about_one_gap() {
        let h = CallHistory::from_calls((0..50).map(|i| at(i * 30)).collect(), 3600.0);
        let e = h.estimate(1, 30.0);
        assert_eq!(e.p50, 30);
        assert!(e.p90 >= 30 && e.p90 < 90, "{e:?}");
    }
}
