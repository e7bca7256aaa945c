//! The arrivals and the customers: a schedule of new customers (open loop), each retrying its
//! join with the same key until it has a ticket or gives up. Everything is counted per second of
//! the run, by when it happened (an attempt when sent, an answer or a timeout when it came).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};

use super::wire::Wire;
use super::{Arrivals, Phase, RetryArgs};
use crate::api::{Api, JoinAnswer};

/// A customer never makes more attempts than this, whatever the timings.
const MAX_ATTEMPTS: u32 = 1000;
/// An attempt sent this long after it was due waited for a slot (`waited_for_slot`).
const SLOT_WAIT: Duration = Duration::from_millis(10);

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
    /// Attempts sent late: `--max-in-flight` were out when they were due.
    pub(crate) waited_for_slot: u64,
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
            waited_for_slot: 0,
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
    /// Attempts out now.
    busy: AtomicUsize,
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
    honour_retry_after: bool,
}

/// A customer of the run: who they are and how far they got.
struct Customer {
    key: String,
    queue: usize,
    arrived: Instant,
    /// Attempts sent so far.
    attempts: u32,
}

/// An attempt for a connection to make.
struct Job {
    customer: usize,
    key: String,
    queue: Arc<str>,
}

/// What an attempt came back with, and the connection that made it (free again).
struct Done {
    customer: usize,
    wire: usize,
    sent: Instant,
    answer: JoinAnswer,
}

/// The arrivals, phase by phase: the next one's time (seconds since the start), or `None` after
/// the last phase.
struct Schedule<'a> {
    phases: &'a [Phase],
    phase: usize,
    t: f64,
    arrivals: Arrivals,
    rng: rand::rngs::StdRng,
}

impl Schedule<'_> {
    fn next(&mut self) -> Option<f64> {
        while let Some(phase) = self.phases.get(self.phase) {
            self.t = self.t.max(phase.from as f64);
            let u: f64 = self.rng.random();
            let gap = match (phase.rate > 0.0, self.arrivals) {
                (false, _) => f64::INFINITY,
                (true, Arrivals::Poisson) => -(1.0 - u).ln() / phase.rate,
                (true, Arrivals::Fixed) => 1.0 / phase.rate,
            };
            if self.t + gap < phase.to() as f64 {
                self.t += gap;
                return Some(self.t);
            }
            // A phase without (more) arrivals still lasts its seconds.
            self.t = phase.to() as f64;
            self.phase += 1;
        }
        None
    }
}

/// Runs the arrivals of every phase, then waits for the customers still trying.
///
/// One loop plays every customer: customers are rows, their next attempts a heap by due time,
/// sent over `--max-in-flight` connections (tasks, each one attempt at a time; see [`Wire`]). A
/// due attempt that finds every connection busy waits for one, first due first sent. (Each
/// customer was a task with its own timers, and one that found no slot was put back after its
/// backoff: at 2× capacity 640,000 tasks made 15 failed tries for each attempt sent, 46 at the
/// storm's height, and the generator ran seconds behind its schedule on the cores it shares with
/// the node.)
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
        honour_retry_after: args.honour_retry_after,
    };
    let shared = Arc::new(Shared {
        start: Instant::now(),
        seconds: Mutex::new(Vec::new()),
        busy: AtomicUsize::new(0),
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
    let probe = tokio::spawn(probe(shared.clone()));
    let progress = (!args.quiet).then(|| tokio::spawn(progress(shared.clone(), phases.to_vec())));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Done>();
    let mut wires = Vec::with_capacity(args.max_in_flight);
    for w in 0..args.max_in_flight {
        let (tx, rx) = tokio::sync::mpsc::channel::<Job>(1);
        tokio::spawn(connection(Wire::new(&api.base)?, w, rx, done_tx.clone(), patience.timeout));
        wires.push(tx);
    }
    drop(done_tx);
    let mut idle: Vec<usize> = (0..args.max_in_flight).rev().collect();
    let queues: Vec<Arc<str>> = queues.iter().map(|q| Arc::from(q.as_str())).collect();
    let mut schedule = Schedule {
        phases,
        phase: 0,
        t: 0.0,
        arrivals: args.arrivals,
        rng: rand::rngs::StdRng::seed_from_u64(args.seed),
    };
    let mut next_arrival = schedule.next().map(|t| start + Duration::from_secs_f64(t));
    let mut customers: Vec<Customer> = Vec::new();
    let mut due: BinaryHeap<Reverse<(tokio::time::Instant, usize)>> = BinaryHeap::new();
    let mut max_lag = Duration::ZERO;
    let end = start + Duration::from_secs(phases.last().map_or(0, Phase::to));
    // Every customer stops by itself within its give-up time, an attempt's timeout and a backoff.
    let deadline = end + patience.give_up + patience.timeout + Duration::from_millis(patience.cap_ms + 5000);
    loop {
        let now = tokio::time::Instant::now();
        // New customers whose time has come: their first attempt is due now.
        while let Some(at) = next_arrival.filter(|at| *at <= now) {
            max_lag = max_lag.max(now - at);
            let i = customers.len();
            customers.push(Customer {
                key: format!("storm-{run}-{i}"),
                queue: i % queues.len(),
                arrived: Instant::now(),
                attempts: 0,
            });
            shared.live.fetch_add(1, Relaxed);
            shared.now(|s| s.arrivals += 1);
            due.push(Reverse((at, i)));
            next_arrival = schedule.next().map(|t| start + Duration::from_secs_f64(t));
        }
        // Every due attempt a slot is free for; a customer out of patience gives up.
        while let Some(&Reverse((at, i))) = due.peek() {
            if at > now {
                break;
            }
            let c = &mut customers[i];
            if c.arrived.elapsed() >= patience.give_up || c.attempts >= MAX_ATTEMPTS {
                due.pop();
                shared.gave_up.fetch_add(1, Relaxed);
                shared.live.fetch_sub(1, Relaxed);
                continue;
            }
            let Some(w) = idle.pop() else { break };
            due.pop();
            c.attempts += 1;
            let late = now - at > SLOT_WAIT;
            shared.now(|s| {
                s.attempts += 1;
                s.waited_for_slot += u64::from(late);
            });
            shared.busy.fetch_add(1, Relaxed);
            let job = Job { customer: i, key: c.key.clone(), queue: queues[c.queue].clone() };
            // An idle connection's channel is empty, and it ends only with the run.
            wires[w].try_send(job).ok();
        }
        if next_arrival.is_none() && (shared.live.load(Relaxed) == 0 || now >= deadline) {
            break;
        }
        // Then wait for what comes first: an answer (which frees a slot), the next arrival, the
        // next attempt due (unless due ones wait for a slot, which only an answer frees).
        let next_due = due.peek().map(|r| r.0 .0).filter(|at| *at > now);
        let wake = [next_arrival, next_due, Some(deadline)].into_iter().flatten().min().unwrap_or(deadline);
        tokio::select! {
            biased;
            Some(done) = done_rx.recv() => {
                idle.push(done.wire);
                shared.busy.fetch_sub(1, Relaxed);
                if let Some(backoff) = answered(&customers[done.customer], &done, patience, &shared) {
                    due.push(Reverse((tokio::time::Instant::now() + backoff, done.customer)));
                } else {
                    shared.live.fetch_sub(1, Relaxed);
                }
            }
            () = tokio::time::sleep_until(wake) => {}
        }
    }
    probe.abort();
    if let Some(p) = progress {
        p.abort();
    }
    let unfinished = shared.live.load(Relaxed);
    let confirmed = shared.confirmed.lock().expect("no panic while held").len() as u64;
    let take = |m: &Mutex<Histogram<u64>>| m.lock().expect("no panic while held").clone();
    let seconds = std::mem::take(&mut *shared.seconds.lock().expect("no panic while held"));
    Ok(Outcome {
        seconds,
        arrived: customers.len() as u64,
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

/// Counts an attempt's answer: `None` when its customer is done (a ticket, or a refusal that
/// retrying cannot change), else how long they wait before the next attempt (exponential
/// backoff with full jitter).
fn answered(c: &Customer, done: &Done, p: Patience, shared: &Shared) -> Option<Duration> {
    let answer = &done.answer;
    if answer.ok() {
        let us = done.sent.elapsed().as_micros() as u64;
        shared.now(|s| {
            s.goodput += 1;
            s.latency.saturating_record(us);
        });
        if !shared.confirmed.lock().expect("no panic while held").insert(answer.id.clone()) {
            shared.shared_tickets.fetch_add(1, Relaxed);
            shared.print(&format!("ticket {} was confirmed to two customers", answer.id));
        }
        let ms = c.arrived.elapsed().as_millis() as u64;
        shared.time_to_ticket.lock().expect("no panic while held").saturating_record(ms.max(1));
        shared.attempts_per_ticket.lock().expect("no panic while held").saturating_record(u64::from(c.attempts));
        return None;
    }
    if answer.timed_out {
        shared.now(|s| s.timeouts += 1);
        let ms = done.sent.elapsed().as_millis() as u64;
        shared.timeout_fired.lock().expect("no panic while held").saturating_record(ms.max(1));
    } else {
        shared.now(|s| s.errors += 1);
        shared.print(answer.error.as_deref().unwrap_or("a join answered no ticket"));
        // A refusal retrying cannot change (a conflict, a closed queue…): stop.
        if (400..500).contains(&answer.status) && answer.status != 429 {
            shared.failed.fetch_add(1, Relaxed);
            return None;
        }
    }
    let ceiling = p.cap_ms.min(p.base_ms.saturating_mul(1 << (c.attempts.max(1) - 1).min(30)));
    let backoff = Duration::from_millis(rand::rng().random_range(0..=ceiling));
    // A client that honours `Retry-After` waits at least that long, spread over as long again
    // so that the refused do not all come back at once.
    Some(match answer.retry_after.filter(|_| p.honour_retry_after) {
        Some(after) => backoff.max(after + after.mul_f64(rand::rng().random())),
        None => backoff,
    })
}

/// One connection: the attempts handed to it, one at a time, until the run ends.
async fn connection(
    mut wire: Wire,
    w: usize,
    mut jobs: tokio::sync::mpsc::Receiver<Job>,
    done: tokio::sync::mpsc::UnboundedSender<Done>,
    timeout: Duration,
) {
    while let Some(job) = jobs.recv().await {
        let sent = Instant::now();
        let answer = wire.join(&job.queue, &job.key, timeout).await;
        if done.send(Done { customer: job.customer, wire: w, sent, answer }).is_err() {
            break;
        }
    }
}

/// Every 50 ms: how late this process wakes, and how many attempts are out (until aborted).
async fn probe(shared: Arc<Shared>) {
    let period = Duration::from_millis(50);
    loop {
        let asleep = Instant::now();
        tokio::time::sleep(period).await;
        let late = asleep.elapsed().saturating_sub(period).as_millis() as u64;
        let out = shared.busy.load(Relaxed) as u64;
        shared.now(|s| {
            s.client_lag_ms = s.client_lag_ms.max(late);
            s.in_flight = s.in_flight.max(out);
        });
    }
}

/// A line at the end of each phase (until aborted).
async fn progress(shared: Arc<Shared>, phases: Vec<Phase>) {
    let start = tokio::time::Instant::from_std(shared.start);
    for phase in phases {
        tokio::time::sleep_until(start + Duration::from_secs(phase.to())).await;
        let arrived: u64 = shared.seconds.lock().expect("no panic while held").iter().map(|s| s.arrivals).sum();
        eprintln!(
            "[retry-storm] {} ended at {} s: {arrived} arrived, {} confirmed, {} trying, {} attempts in flight",
            phase.name,
            phase.to(),
            shared.confirmed.lock().expect("no panic while held").len(),
            shared.live.load(Relaxed),
            shared.busy.load(Relaxed)
        );
    }
}
