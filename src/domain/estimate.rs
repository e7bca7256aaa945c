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

/// Recent calls of one queue: how many gaps between them, their sum and their sum of squares
/// (seconds). An estimate is asked for every customer on every frame, the history changes with
/// the calls: summed once, an estimate is a few multiplications.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallHistory {
    n: f64,
    sum: f64,
    squares: f64,
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
        let gaps =
            calls.windows(2).map(|w| (w[1] - w[0]).num_milliseconds() as f64 / 1000.0).filter(|g| *g <= max_gap_secs);
        gaps.fold(CallHistory::default(), |h, g| CallHistory {
            n: h.n + 1.0,
            sum: h.sum + g,
            squares: h.squares + g * g,
        })
    }

    /// The expected wait of the person at `position` (1 = next), given a prior service time.
    pub fn estimate(&self, position: u32, prior_secs: f64) -> Estimate {
        self.estimate_with_free(position, 0, prior_secs)
    }

    /// As [`CallHistory::estimate`], with `free` open counters idle right now: the first `free`
    /// people in line are called at once, so the person at `position` waits for `position − free`
    /// calls.
    pub fn estimate_with_free(&self, position: u32, free: u32, prior_secs: f64) -> Estimate {
        let position = position.saturating_sub(free);
        let CallHistory { n, sum, squares } = *self;
        let mean = (sum + PRIOR_WEIGHT * prior_secs) / (n + PRIOR_WEIGHT);
        // The spread of the prior is taken as its mean (an exponential service time). The gaps'
        // squared distances from the mean, Σ(g − m)², are Σg² − 2mΣg + nm².
        let distances = (squares - 2.0 * mean * sum + n * mean * mean).max(0.0);
        let var = (distances + PRIOR_WEIGHT * prior_secs.powi(2)) / (n + PRIOR_WEIGHT);
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
        let steady = CallHistory::from_calls(vec![at(0), at(60), at(120), at(180)], 1800.0);
        assert_eq!(h, steady);
        assert_eq!(h, CallHistory { n: 3.0, sum: 180.0, squares: 10_800.0 });
    }

    #[test]
    fn idle_counters_take_people_at_once() {
        let h = CallHistory::from_calls((0..50).map(|i| at(i * 30)).collect(), 3600.0);
        assert_eq!(h.estimate_with_free(2, 2, 30.0), Estimate { p50: 0, p90: 0 });
        assert_eq!(h.estimate_with_free(3, 2, 30.0), h.estimate(1, 30.0));
    }

    /// The spread from the gaps' sums is the spread from the gaps themselves (written as a
    /// second pass over them, as it was computed before).
    #[test]
    fn the_spread_from_sums_is_the_spread_from_the_gaps() {
        let offsets = [0, 45, 130, 160, 400, 410, 700, 702, 1000];
        let h = CallHistory::from_calls(offsets.iter().map(|&s| at(s)).collect(), 3600.0);
        let gaps: Vec<f64> = offsets.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let prior = 90.0;
        let n = gaps.len() as f64;
        let mean = (gaps.iter().sum::<f64>() + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT);
        let var =
            (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() + PRIOR_WEIGHT * prior * prior) / (n + PRIOR_WEIGHT);
        for p in [1u32, 4, 25, 400] {
            let p50 = f64::from(p) * mean;
            let p90 = p50 + Z90 * var.sqrt() * f64::from(p).sqrt();
            assert_eq!(h.estimate(p, prior), Estimate { p50: p50.round() as i64, p90: p90.round() as i64 }, "at {p}");
        }
    }

    #[test]
    fn the_next_person_waits_about_one_gap() {
        let h = CallHistory::from_calls((0..50).map(|i| at(i * 30)).collect(), 3600.0);
        let e = h.estimate(1, 30.0);
        assert_eq!(e.p50, 30);
        assert!(e.p90 >= 30 && e.p90 < 90, "{e:?}");
    }

    /// One simulated day: `counters` desks, Poisson arrivals, exponential service times, staff
    /// calling the next person whenever a desk frees up. Each joiner is told an estimate made
    /// from the calls seen so far; returns (median |error| s, share of waits ≤ p90, mean wait s).
    fn simulate_day(
        seed: u64,
        counters: usize,
        service_secs: f64,
        arrivals_per_hour: f64,
        prior_secs: f64,
    ) -> (f64, f64, f64) {
        use rand::{Rng, SeedableRng};
        use std::collections::VecDeque;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut exp = |mean: f64| -mean * (1.0 - rng.random::<f64>()).ln();
        let day = 8.0 * 3600.0;
        let mut arrivals = Vec::new();
        let mut t = 0.0;
        loop {
            t += exp(3600.0 / arrivals_per_hour);
            if t > day {
                break;
            }
            arrivals.push(t);
        }
        let services: Vec<f64> = arrivals.iter().map(|_| exp(service_secs)).collect();

        let mut free_at = vec![0.0f64; counters];
        let use_free = counters > 0 && prior_secs > 0.0 && std::env::var_os("QC_SIM_NO_FREE").is_none();
        let mut line: VecDeque<(f64, Estimate, usize)> = VecDeque::new();
        let mut calls: Vec<DateTime<Utc>> = Vec::new();
        let mut outcomes = Vec::new(); // (estimate, actual wait)
        let mut next = 0;
        let clock = |secs: f64| DateTime::from_timestamp_millis(1_700_000_000_000 + (secs * 1000.0) as i64).unwrap();
        loop {
            let (desk, desk_free) = free_at.iter().copied().enumerate().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
            let arrival = arrivals.get(next).copied();
            // Next: a desk calls the head of the line, or someone arrives.
            if let Some((joined, estimate, i)) =
                line.front().copied().filter(|_| arrival.is_none_or(|a| desk_free.max(line[0].0) <= a))
            {
                let now = desk_free.max(joined);
                line.pop_front();
                calls.push(clock(now));
                outcomes.push((estimate, now - joined));
                free_at[desk] = now + services[i];
            } else if let Some(a) = arrival {
                let recent: Vec<_> = calls.iter().rev().take(21).copied().collect();
                let free = if use_free { free_at.iter().filter(|f| **f <= a).count() as u32 } else { 0 };
                let estimate =
                    CallHistory::from_calls(recent, 1800.0).estimate_with_free(line.len() as u32 + 1, free, prior_secs);
                line.push_back((a, estimate, next));
                next += 1;
            } else {
                break;
            }
        }
        // Judge the estimates once the queue has a history (after the first hour's joiners).
        let judged: Vec<_> = outcomes.iter().skip(outcomes.len() / 8).collect();
        let mut errors: Vec<f64> = judged.iter().map(|(e, w)| (e.p50 as f64 - w).abs()).collect();
        errors.sort_by(f64::total_cmp);
        let covered = judged.iter().filter(|(e, w)| *w <= e.p90 as f64).count() as f64 / judged.len() as f64;
        let mean_wait = judged.iter().map(|(_, w)| w).sum::<f64>() / judged.len() as f64;
        (errors[errors.len() / 2], covered, mean_wait)
    }

    #[test]
    fn over_a_simulated_day_the_estimate_is_close_and_p90_covers_about_nine_in_ten() {
        // Three desks, four minutes a visit, busy (~90% of capacity); the configured prior is off.
        let mut report = Vec::new();
        for seed in 1..=5 {
            report.push(simulate_day(seed, 3, 240.0, 40.0, 180.0));
        }
        for (seed, (median_err, covered, mean_wait)) in report.iter().enumerate() {
            eprintln!(
                "simulated day {}: median |error| {:.0} s, mean wait {:.0} s, waits within p90 {:.0}%",
                seed + 1,
                median_err,
                mean_wait,
                covered * 100.0
            );
        }
        let n = report.len() as f64;
        let coverage = report.iter().map(|r| r.1).sum::<f64>() / n;
        let relative_error = report.iter().map(|r| r.0 / r.2).sum::<f64>() / n;
        eprintln!(
            "over {n} days: waits within p90 {:.1}%, median |error| {:.0}% of the mean wait",
            coverage * 100.0,
            relative_error * 100.0
        );
        assert!((0.82..=0.97).contains(&coverage), "p90 covered {coverage:.2} of waits");
        assert!(relative_error < 0.3, "median error {relative_error:.2} of the mean wait");
    }
}
