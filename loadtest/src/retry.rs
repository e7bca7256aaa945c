//! `loadtest retry-storm`: a ticket drop as phones see it. New customers arrive on a schedule
//! (open loop: Poisson or fixed-rate arrivals, whatever the server's state), each joins with its
//! own `Idempotency-Key`, gives an attempt `--timeout-ms` and retries with the same key after an
//! exponential backoff with full jitter, until it gets its ticket or gives up (`--give-up`).
//!
//! The run: `--before` seconds at `--calm` × capacity (the baseline p99), the storm (`--factor` ×
//! capacity for `--seconds`), then `--after` seconds back at `--calm` × capacity; then the
//! customers still trying finish. Capacity (joins/s) is `--capacity`, or measured first with a
//! closed loop of joins. Per second: arrivals, attempts, timeouts, goodput (tickets confirmed) and
//! the latency of successful attempts. Read `run` first, then `customer` (the arrivals and one
//! customer's attempts) and `report` (the JSON and the chart).

mod customer;
mod report;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::api::Api;
use crate::sockets::round;

#[derive(Parser, Clone, Debug)]
pub struct RetryArgs {
    /// The server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[command(flatten)]
    pub who: crate::api::Credentials,
    /// Queues the customers join, round robin (created for this run).
    #[arg(long, default_value_t = 1)]
    pub queues: usize,
    /// The node's capacity in joins/s; 0: measure it first.
    #[arg(long, default_value_t = 0.0)]
    pub capacity: f64,
    /// Measuring capacity: this many joins in flight (closed loop, unique keys, a queue of its
    /// own)…
    #[arg(long, default_value_t = 200)]
    pub measure_concurrency: usize,
    /// …for this long, after 2 s of warm-up.
    #[arg(long, default_value_t = 10)]
    pub measure_seconds: u64,
    /// Seconds at `--calm` × capacity before the storm: the pre-storm p99.
    #[arg(long, default_value_t = 10)]
    pub before: u64,
    /// The storm's arrivals, as a multiple of capacity…
    #[arg(long, default_value_t = 2.0)]
    pub factor: f64,
    /// …for this long.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seconds at `--calm` × capacity after the storm.
    #[arg(long, default_value_t = 20)]
    pub after: u64,
    /// Arrivals before and after the storm, as a multiple of capacity.
    #[arg(long, default_value_t = 0.5)]
    pub calm: f64,
    #[arg(long, value_enum, default_value_t = Arrivals::Poisson)]
    pub arrivals: Arrivals,
    /// An attempt without an answer after this long is abandoned (its connection closed) and
    /// retried with the same key.
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Before retry n (1, 2, …) a customer waits a random time in [0, min(cap, base × 2^(n−1))].
    #[arg(long, default_value_t = 100)]
    pub backoff_base_ms: u64,
    #[arg(long, default_value_t = 5000)]
    pub backoff_cap_ms: u64,
    /// After a refusal that says `Retry-After`, wait at least that long (spread over as long
    /// again) before the next attempt, as a well-behaved HTTP client does; without it the
    /// customers follow their backoff alone.
    #[arg(long)]
    pub honour_retry_after: bool,
    /// A customer stops trying this long after arriving.
    #[arg(long, default_value_t = 30)]
    pub give_up: u64,
    /// Attempts in flight at most, each on a connection of its own: an attempt due beyond it
    /// waits for one, first due first sent, and is counted (`waited_for_slot`). This process may
    /// open 20,000 files.
    #[arg(long, default_value_t = 4_000)]
    pub max_in_flight: usize,
    /// Latency has recovered once the p99 of successful attempts stays below this many times
    /// the pre-storm p99 (with no timeouts) for 3 seconds in a row…
    #[arg(long, default_value_t = 2.0)]
    pub recovery: f64,
    /// …or below this many ms, if given.
    #[arg(long)]
    pub threshold_ms: Option<f64>,
    /// Seeds the arrival schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the JSON result and SVG chart go.
    #[arg(long, default_value = "target/loadtest")]
    pub out: String,
    /// A name for the result files.
    #[arg(long, default_value = "retry-storm")]
    pub name: String,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Arrivals {
    /// Exponential gaps at the phase's rate.
    Poisson,
    /// Evenly spaced.
    Fixed,
}

/// A stretch of the run with one arrival rate.
#[derive(Clone, Copy)]
pub(crate) struct Phase {
    pub(crate) name: &'static str,
    /// Seconds since the run's start.
    pub(crate) from: u64,
    pub(crate) seconds: u64,
    /// New customers per second.
    pub(crate) rate: f64,
}

impl Phase {
    pub(crate) fn to(&self) -> u64 {
        self.from + self.seconds
    }
}

/// What the closed-loop measurement found.
struct Capacity {
    joins_per_second: f64,
    measured: bool,
    p99_ms: Option<f64>,
    failed: u64,
}

/// Runs the scenario; writes `<out>/<name>.json` and `.svg` and returns the JSON.
pub async fn run(args: RetryArgs) -> anyhow::Result<Value> {
    ensure!(args.queues > 0 && args.factor > 0.0 && args.seconds > 0, "--queues, --factor and --seconds must be > 0");
    ensure!(
        args.calm >= 0.0 && args.timeout_ms > 0 && args.max_in_flight > 0,
        "--calm ≥ 0, --timeout-ms and --max-in-flight > 0"
    );
    ensure!(
        args.threshold_ms.is_some() || args.before >= 3,
        "the recovery threshold needs a pre-storm p99 (--before 3 or more) or --threshold-ms"
    );
    let http = Api::client(args.max_in_flight.min(4096))?;
    let api = Api::login(http, &args.url, &args.who).await?;
    let run = crate::worker::now_us() / 1000;
    let say = |s: String| {
        if !args.quiet {
            eprintln!("[retry-storm] {s}");
        }
    };
    let capacity = if args.capacity > 0.0 {
        Capacity { joins_per_second: args.capacity, measured: false, p99_ms: None, failed: 0 }
    } else {
        let queue = api.create_queue(&format!("storm-{run}-measure")).await.context("creating a queue")?;
        let c = measure(&api, &queue, &args, run).await?;
        say(format!(
            "capacity: {:.0} joins/s with {} in flight (p99 {:.1} ms, {} failed)",
            c.joins_per_second,
            args.measure_concurrency,
            c.p99_ms.unwrap_or(0.0),
            c.failed
        ));
        c
    };
    let mut queues = Vec::with_capacity(args.queues);
    for i in 0..args.queues {
        queues.push(api.create_queue(&format!("storm-{run}-{i}")).await.context("creating a queue")?);
    }
    let cap = capacity.joins_per_second;
    let phases = [
        Phase { name: "before", from: 0, seconds: args.before, rate: args.calm * cap },
        Phase { name: "storm", from: args.before, seconds: args.seconds, rate: args.factor * cap },
        Phase { name: "after", from: args.before + args.seconds, seconds: args.after, rate: args.calm * cap },
    ];
    for p in &phases {
        say(format!("{}: {} s from {} s, {:.0} new customers/s", p.name, p.seconds, p.from, p.rate));
    }
    let outcome = customer::drive(&api, &queues, &phases, &args, run).await?;
    // Attempts abandoned by their customer may still commit: read the lines once they are still.
    let mut in_line = -1;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut n = 0;
        for q in &queues {
            n += api.waiting(q).await?;
        }
        if n == in_line {
            break;
        }
        in_line = n;
    }
    let capacity_json = json!({"joins_per_second": cap.round() as u64, "measured": capacity.measured,
        "p99_ms": capacity.p99_ms, "failed": capacity.failed});
    let result = report::result(&args, &phases, capacity_json, &outcome, in_line);
    std::fs::create_dir_all(&args.out)?;
    let path = format!("{}/{}", args.out.trim_end_matches('/'), args.name);
    std::fs::write(format!("{path}.json"), serde_json::to_string_pretty(&result)?)?;
    std::fs::write(format!("{path}.svg"), report::chart(&result))?;
    if !args.quiet {
        eprintln!("{}", report::summary(&result));
        eprintln!("wrote {path}.json and {path}.svg");
    }
    Ok(result)
}

/// Capacity: joins with unique keys, `--measure-concurrency` in flight, counted for
/// `--measure-seconds` after 2 s of warm-up.
async fn measure(api: &Api, queue: &str, args: &RetryArgs, run: u64) -> anyhow::Result<Capacity> {
    let warmup = Duration::from_secs(2);
    let started = Instant::now();
    let (from, to) = (started + warmup, started + warmup + Duration::from_secs(args.measure_seconds));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for w in 0..args.measure_concurrency {
        let (api, queue, ok, failed) = (api.clone(), queue.to_owned(), ok.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(2).expect("valid");
            let body = json!({"name": "measure"});
            for n in 0u64.. {
                let sent = Instant::now();
                if sent >= to {
                    break;
                }
                let answer = api.join_keyed(&queue, &format!("measure-{run}-{w}-{n}"), &body, None).await;
                if sent < from {
                    continue;
                }
                if answer.ok() {
                    ok.fetch_add(1, Relaxed);
                    hist.record(sent.elapsed().as_micros() as u64).ok();
                } else if failed.fetch_add(1, Relaxed) < 3 {
                    eprintln!("[retry-storm] measuring: {}", answer.error.as_deref().unwrap_or("no ticket"));
                }
            }
            hist
        }));
    }
    let mut hist = Histogram::<u64>::new(2)?;
    for w in workers {
        hist.add(w.await?)?;
    }
    let joins_per_second = ok.load(Relaxed) as f64 / args.measure_seconds.max(1) as f64;
    ensure!(joins_per_second > 0.0, "measuring capacity: no join succeeded");
    Ok(Capacity {
        joins_per_second,
        measured: true,
        p99_ms: Some(round(hist.value_at_quantile(0.99) as f64 / 1000.0, 2)),
        failed: failed.load(Relaxed),
    })
}
