//! The arrivals and the customers: a schedule of new customers (open loop), each retrying its
//! join with the same key until it has a ticket or gives up. Everything is counted per second of
//! the run, by when it happened (an attempt when sent, an answer or a timeout when it came).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::Semaphore;

use super::{Arrivals, Phase, RetryArgs};
use crate::api::Api;

/// A customer never makes more attempts than this, whatever the timings.
const MAX_ATTEMPTS: u32 = 1000;

/// One second of the run.
pub(crate) struct Second {
    /// New customers.
    pub(crate) arrivals: u64,
    /// Attempts sent.
    pub(crate) attempts: u64,
    /// Attempts abandoned after `--timeout-ms` without an answer.
    pub(crate) timeouts: u64,
    /// Answers other than 201, and requests that failed otherwise (refused connections…).
    pub(crate) errors: u64,
    /// Attempts not sent: `--max-in-flight` were out.
    pub(crate) not_sent: u64,
    /// Customers whose ticket was confirmed (a 201 with its id and token).
    pub(crate) goodput: u64,
    /// Latency of the successful attempts, µs.
    pub(crate) latency: Histogram<u64>,
    /// Attempts in flight, at most.
    pub(crate) in_flight: u64,
    /// How late a 50 ms sleep of this process woke, at most (ms): this process's own delay,
    /// which every figure of the second includes.
    pub(crate) client_lag_ms: u64,
}

impl Second {
    fn new() -> Second {
        Second {
            arrivals: 0,
            attempts: 0,
            timeouts: 0,
            errors: 0,
            not_sent: 0,
            goodput: 0,
            latency: Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid bounds"),
            in_flight: 0,
            client_lag_ms: 0,
        }
    }
}

/// What the customers did.
pub(crate) struct Outcome {
    pub(crate) seconds: Vec<Second>,
    pub(crate) arrived: u64,
    pub(crate) confirmed: u64,
    pub(crate) gave_up: u64,
    /// Customers who stopped on an answer that retrying cannot change (a 4xx but 429).
    pub(crate) failed: u64,
    /// Customers still trying when the run ended (0 unless something hung).
    pub(crate) unfinished: usize,
    /// Tickets confirmed to two customers (must be 0).
    pub(crate) shared_tickets: u64,
    /// From arrival to ticket, ms; and attempts per confirmed customer.
    pub(crate) time_to_ticket: Histogram<u64>,
    pub(crate) attempts_per_ticket: Histogram<u64>,
    /// When timed-out attempts were given up on, ms after they were sent: near `--timeout-ms`
    /// unless this process is short of CPU (then its figures are suspect).
    pub(crate) timeout_fired: Histogram<u64>,
    /// How far behind its schedule the arrival loop fell, at most (ms).
    pub(crate) max_lag_ms: f64,
}

/// What the customers' tasks share. Locks are held for a count's update, never across `.await`.
struct Shared {
    start: Instant,
    seconds: Mutex<Vec<Second>>,
    in_flight: Semaphore,
    confirmed: Mutex<HashSet<String>>,
    shared_tickets: AtomicU64,
    gave_up: AtomicU64,
    failed: AtomicU64,
    /// Error messages printed so far (the first few are).
    printed: AtomicU64,
    time_to_ticket: Mutex<Histogram<u64>>,
    attempts_per_ticket: Mutex<Histogram<u64>>,
    timeout_fired: Mutex<Histogram<u64>>,
    live: AtomicUsize,
}

impl Shared {
    /// Updates the current second.
    fn now(&self, f: impl FnOnce(&mut Second)) {
        let i = self.start.elapsed().as_secs() as usize;
        let mut seconds = self.seconds.lock().expect("no panic while held");
        while seconds.len() <= i {
            seconds.push(Second::new());
        }
        f(&mut seconds[i]);
    }

    fn print(&self, e: &str) {
        if self.printed.fetch_add(1, Relaxed) < 5 {
            eprintln!("[retry-storm] {e}");
        }
    }
}

/// The timings a customer follows.
#[derive(Clone, Copy)]
struct Patience {
    timeout: Duration,
    base_ms: u64,
    cap_ms: u64,
    give_up: Duration,
}

/// Runs the arrivals of every phase, then waits for the customers still trying.
pub(crate) async fn drive(
    api: &Api,
    queues: &[String],
    phases: &[Phase],
    args: &RetryArgs,
    run: u64,
) -> anyhow::Result<Outcome> {
    let patience = Patience {
        timeout: Duration::from_millis(args.timeout_ms),
        base_ms: args.backoff_base_ms.max(1),
        cap_ms: args.backoff_cap_ms.max(1),
        give_up: Duration::from_secs(args.give_up),
    };
    let shared = Arc::new(Shared {
        start: Instant::now(),
        seconds: Mutex::new(Vec::new()),
        in_flight: Semaphore::new(args.max_in_flight),
        confirmed: Mutex::new(HashSet::new()),
        shared_tickets: AtomicU64::new(0),
        gave_up: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        printed: AtomicU64::new(0),
        // Bounded (an hour in ms; attempts up to MAX_ATTEMPTS): `saturating_record` does not grow a
        // histogram.
        time_to_ticket: Mutex::new(Histogram::new_with_bounds(1, 3_600_000, 3)?),
        attempts_per_ticket: Mutex::new(Histogram::new_with_bounds(1, MAX_ATTEMPTS as u64, 3)?),
        timeout_fired: Mutex::new(Histogram::new_with_bounds(1, 3_600_000, 3)?),
        live: AtomicUsize::new(0),
    });
    let start = tokio::time::Instant::from_std(shared.start);
    let probe = tokio::spawn(probe(shared.clone(), args.max_in_flight));
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let (mut arrived, mut max_lag) = (0u64, Duration::ZERO);
    for phase in phases {
        let end = phase.to() as f64;
        let mut t = phase.from as f64;
        loop {
            let u: f64 = rng.random();
            t += match (phase.rate > 0.0, args.arrivals) {
                // A phase without arrivals still lasts its seconds (below).
                (false, _) => f64::INFINITY,
                (true, Arrivals::Poisson) => -(1.0 - u).ln() / phase.rate,
                (true, Arrivals::Fixed) => 1.0 / phase.rate,
            };
            if t >= end {
                break;
            }
            let due = start + Duration::from_secs_f64(t);
            tokio::time::sleep_until(due).await;
            max_lag = max_lag.max(tokio::time::Instant::now() - due);
            let queue = queues[arrived as usize % queues.len()].clone();
            let (api, shared) = (api.clone(), shared.clone());
            shared.live.fetch_add(1, Relaxed);
            shared.now(|s| s.arrivals += 1);
            let key = format!("storm-{run}-{arrived}");
            tokio::spawn(async move {
                customer(&api, &queue, &key, patience, &shared).await;
                shared.live.fetch_sub(1, Relaxed);
            });
            arrived += 1;
        }
        tokio::time::sleep_until(start + Duration::from_secs(phase.to())).await;
        if !args.quiet {
            let s = &shared;
            eprintln!(
                "[retry-storm] {} ended at {} s: {arrived} arrived, {} confirmed, {} trying, {} attempts in flight",
                phase.name,
                phase.to(),
                s.confirmed.lock().expect("no panic while held").len(),
                s.live.load(Relaxed),
                args.max_in_flight - s.in_flight.available_permits()
            );
        }
    }
    // Every customer stops by itself within its give-up time, an attempt's timeout and a backoff.
    let deadline = Instant::now() + patience.give_up + patience.timeout + Duration::from_millis(patience.cap_ms + 5000);
    while shared.live.load(Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    probe.abort();
    let unfinished = shared.live.load(Relaxed);
    let confirmed = shared.confirmed.lock().expect("no panic while held").len() as u64;
    let take = |m: &Mutex<Histogram<u64>>| m.lock().expect("no panic while held").clone();
    let seconds = std::mem::take(&mut *shared.seconds.lock().expect("no panic while held"));
    Ok(Outcome {
        seconds,
        arrived,
        confirmed,
        gave_up: shared.gave_up.load(Relaxed),
        failed: shared.failed.load(Relaxed),
        unfinished,
        shared_tickets: shared.shared_tickets.load(Relaxed),
        time_to_ticket: take(&shared.time_to_ticket),
        attempts_per_ticket: take(&shared.attempts_per_ticket),
        timeout_fired: take(&shared.timeout_fired),
        max_lag_ms: max_lag.as_secs_f64() * 1000.0,
    })
}

/// Every 50 ms: how late this process wakes, and how many attempts are out (until aborted).
async fn probe(shared: Arc<Shared>, max_in_flight: usize) {
    let period = Duration::from_millis(50);
    loop {
        let asleep = Instant::now();
        tokio::time::sleep(period).await;
        let late = asleep.elapsed().saturating_sub(period).as_millis() as u64;
        let out = (max_in_flight - shared.in_flight.available_permits()) as u64;
        shared.now(|s| {
            s.client_lag_ms = s.client_lag_ms.max(late);
            s.in_flight = s.in_flight.max(out);
        });
    }
}

/// One customer: attempts with the same key and body until a ticket, a final refusal, or
/// `give_up`; between attempts, exponential backoff with full jitter.
async fn customer(api: &Api, queue: &str, key: &str, p: Patience, shared: &Shared) {
    let arrived = Instant::now();
    let body = json!({"name": key});
    for attempt in 1..=MAX_ATTEMPTS {
        if arrived.elapsed() >= p.give_up {
            break;
        }
        match shared.in_flight.try_acquire() {
            Err(_) => shared.now(|s| s.not_sent += 1),
            Ok(permit) => {
                shared.now(|s| s.attempts += 1);
                let sent = Instant::now();
                let answer = match tokio::time::timeout(p.timeout, api.join_keyed(queue, key, &body, None)).await {
                    Ok(a) => a,
                    Err(_) => crate::api::JoinAnswer { timed_out: true, ..crate::api::JoinAnswer::default() },
                };
                drop(permit);
                if answer.ok() {
                    let us = sent.elapsed().as_micros() as u64;
                    shared.now(|s| {
                        s.goodput += 1;
                        s.latency.saturating_record(us);
                    });
                    if !shared.confirmed.lock().expect("no panic while held").insert(answer.id.clone()) {
                        shared.shared_tickets.fetch_add(1, Relaxed);
                        shared.print(&format!("ticket {} was confirmed to two customers", answer.id));
                    }
                    let ms = arrived.elapsed().as_millis() as u64;
                    shared.time_to_ticket.lock().expect("no panic while held").saturating_record(ms.max(1));
                    shared.attempts_per_ticket.lock().expect("no panic while held").saturating_record(attempt as u64);
                    return;
                }
                if answer.timed_out {
                    shared.now(|s| s.timeouts += 1);
                    let ms = sent.elapsed().as_millis() as u64;
                    shared.timeout_fired.lock().expect("no panic while held").saturating_record(ms.max(1));
                } else {
                    shared.now(|s| s.errors += 1);
                    shared.print(answer.error.as_deref().unwrap_or("a join answered no ticket"));
                    // A refusal retrying cannot change (a conflict, a closed queue…): stop.
                    if (400..500).contains(&answer.status) && answer.status != 429 {
                        shared.failed.fetch_add(1, Relaxed);
                        return;
                    }
                }
            }
        }
        let ceiling = p.cap_ms.min(p.base_ms.saturating_mul(1 << (attempt - 1).min(30)));
        let wait = rand::rng().random_range(0..=ceiling);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    shared.gave_up.fetch_add(1, Relaxed);
}
