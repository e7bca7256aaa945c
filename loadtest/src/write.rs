//! `loadtest write` measures the durable write path over HTTP: it signs in, creates its own
//! queues, then keeps `--concurrency` requests in flight (joins, or joins and call-nexts) for at
//! most `--seconds` and `--max-ops`, and reports committed transitions per second and latency.
//! Every answer it counts came after the change was committed in PostgreSQL.
//!
//! With `--duplicates F` every join carries a fresh `Idempotency-Key`, and with probability F it
//! is sent twice at once (same key, same body), as a client that retries too eagerly would: both
//! answers must be 201 with the same ticket and token. `--duplicates 0` is the unique-key
//! baseline to compare with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::api::Api;

#[derive(Parser, Clone)]
pub struct WriteArgs {
    /// The server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[command(flatten)]
    who: crate::api::Credentials,
    /// Queues to spread the load over (created for this run).
    #[arg(long, default_value_t = 100)]
    queues: usize,
    /// What each worker does.
    #[arg(long, value_enum, default_value_t = Mode::Mixed)]
    mode: Mode,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// `--mode calls`: how many join each queue's line first (not measured).
    #[arg(long, default_value_t = 10_000)]
    line: u64,
    /// Stop after this long…
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// …or after this many transitions, whichever comes first.
    #[arg(long, default_value_t = 2_000_000)]
    max_ops: u64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Give every join a fresh `Idempotency-Key` and, with this probability (0 to 1), send it
    /// twice at once. Without it joins carry no key.
    #[arg(long)]
    duplicates: Option<f64>,
    /// Every join opts in to SMS and e-mail (a number and an address of its own), and the queues
    /// tell "3 ahead" and "1 ahead": the outbox on the write path.
    #[arg(long)]
    notify: bool,
}

/// A join's body: with contacts under `--notify`.
fn join_body(notify: bool, worker: usize, n: u64) -> serde_json::Value {
    match notify {
        false => json!({"name": "bench"}),
        true => json!({"name": "bench", "notify": {
            "sms": format!("+1555{:03}{:04}", worker % 1000, n % 10_000),
            "email": format!("bench-{worker}-{n}@example.org"),
            "lang": "en",
        }}),
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Joins only.
    Joins,
    /// Each worker joins then calls next, so lines stay short and both kinds are measured.
    Mixed,
    /// Call-nexts alone, down lines of `--line` customers who joined first (unmeasured): a
    /// worker stops when its queue's line is empty.
    Calls,
}

#[derive(Default)]
struct Totals {
    /// Transitions made: a duplicated join counts once.
    ok: AtomicU64,
    failed: AtomicU64,
    measuring: std::sync::atomic::AtomicBool,
    /// HTTP requests answered or not (a duplicated join is two).
    requests: AtomicU64,
    /// Tickets made by joins (with `--duplicates`).
    joins: AtomicU64,
    /// Joins sent twice at once, and those whose two answers disagreed or were not both 201.
    pairs: AtomicU64,
    mismatches: AtomicU64,
    /// Pairs whose two answers both said `Idempotent-Replayed: true`, or neither did.
    replayed_not_once: AtomicU64,
    /// The first few mismatches, as printed.
    examples: std::sync::Mutex<Vec<String>>,
}

impl Totals {
    fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }
}

/// Sends one request; while measuring, counts it and records its latency. Its status, if answered.
async fn step(req: reqwest::RequestBuilder, totals: &Totals, hist: &mut Histogram<u64>) -> Option<u16> {
    step_until(req, totals, hist, None).await
}

/// [`step`], except that an answer with status `end` is neither counted nor timed: the run is over.
async fn step_until(
    req: reqwest::RequestBuilder,
    totals: &Totals,
    hist: &mut Histogram<u64>,
    end: Option<u16>,
) -> Option<u16> {
    let started = Instant::now();
    let status = req.send().await.ok().map(|r| r.status().as_u16());
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    if totals.measuring() && (end.is_none() || status != end) {
        hist.record(started.elapsed().as_micros() as u64).ok();
        let counter = if ok { &totals.ok } else { &totals.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        totals.requests.fetch_add(1, Ordering::Relaxed);
    }
    status
}

/// Joins `line` customers into each queue, `concurrency` at a time, before anything is measured.
async fn fill_lines(http: &reqwest::Client, api: &str, queues: &[String], args: &WriteArgs) -> anyhow::Result<()> {
    let per_worker = args.concurrency.div_ceil(queues.len()).max(1);
    let mut fills = Vec::new();
    for (q, queue) in queues.iter().enumerate() {
        for w in 0..per_worker {
            let (http, url, notify) = (http.clone(), format!("{api}/queues/{queue}/tickets"), args.notify);
            let share = args.line / per_worker as u64 + u64::from((w as u64) < args.line % per_worker as u64);
            let worker = q * per_worker + w;
            fills.push(tokio::spawn(async move {
                for n in 0..share {
                    let answer = http.post(&url).json(&join_body(notify, worker, n)).send().await?;
                    anyhow::ensure!(
                        answer.status().is_success(),
                        "filling a line: a join answered {}",
                        answer.status()
                    );
                }
                anyhow::Ok(())
            }));
        }
    }
    for fill in fills {
        fill.await??;
    }
    Ok(())
}

/// One join with a fresh key, sent once or (`twice`) twice at once; while measuring, counts the
/// ticket, every request and its latency, and checks that a pair's answers agree.
async fn keyed_join(
    api: &Api,
    queue: &str,
    (key, body): (&str, serde_json::Value),
    twice: bool,
    totals: &Totals,
    hist: &mut Histogram<u64>,
) {
    let timed = || async {
        let started = Instant::now();
        let answer = api.join_keyed(queue, key, &body, None).await;
        (answer, started.elapsed().as_micros() as u64)
    };
    let (first, second) = if twice {
        let (a, b) = tokio::join!(timed(), timed());
        (a, Some(b))
    } else {
        (timed().await, None)
    };
    if !totals.measuring() {
        return;
    }
    for (_, us) in std::iter::once(&first).chain(&second) {
        hist.record(*us).ok();
        totals.requests.fetch_add(1, Ordering::Relaxed);
    }
    let (a, _) = &first;
    let made = match &second {
        None => a.ok(),
        Some((b, _)) => {
            totals.pairs.fetch_add(1, Ordering::Relaxed);
            let agree = a.ok() && b.ok() && a.id == b.id && a.token == b.token;
            if !agree {
                let seen = totals.mismatches.fetch_add(1, Ordering::Relaxed);
                let example = format!(
                    "key {key}: {} {} ({}) and {} {} ({})",
                    a.status,
                    a.id,
                    a.error.as_deref().unwrap_or("ok"),
                    b.status,
                    b.id,
                    b.error.as_deref().unwrap_or("ok")
                );
                if seen < 5 {
                    eprintln!("duplicate join answers disagree: {example}");
                    totals.examples.lock().expect("no panic while held").push(example);
                }
            } else if a.replayed == b.replayed {
                totals.replayed_not_once.fetch_add(1, Ordering::Relaxed);
            }
            agree
        }
    };
    if made {
        totals.ok.fetch_add(1, Ordering::Relaxed);
        totals.joins.fetch_add(1, Ordering::Relaxed);
    } else {
        if second.is_none() && totals.failed.load(Ordering::Relaxed) < 3 {
            eprintln!("a join failed: {}", a.error.as_deref().unwrap_or("no ticket in the answer"));
        }
        totals.failed.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn write(args: WriteArgs) -> anyhow::Result<()> {
    if let Some(f) = args.duplicates {
        anyhow::ensure!((0.0..=1.0).contains(&f), "--duplicates is a probability, from 0 to 1");
    }
    let http = Api::client(args.concurrency)?;
    let staff = Api::login(http.clone(), &args.url, &args.who).await?;
    let api = format!("{}/api/v1", staff.base);
    let token = staff.token.clone();
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let mut queues = Vec::with_capacity(args.queues);
    let settings = match args.notify {
        true => json!({"notify": {"ahead": [3, 1]}}),
        false => json!({}),
    };
    for i in 0..args.queues {
        let slug = format!("bench-{run}-{i}");
        queues.push(staff.create_queue_with(&slug, settings.clone()).await.context("creating a queue")?);
    }

    if args.mode == Mode::Calls {
        fill_lines(&http, &api, &queues, &args).await?;
    }

    let totals = Arc::new(Totals::default());
    let stop_at = Instant::now() + Duration::from_secs(args.warmup + args.seconds);
    let mut workers = Vec::with_capacity(args.concurrency);
    for w in 0..args.concurrency {
        let (http, api, token, totals) = (http.clone(), api.clone(), token.clone(), totals.clone());
        let queue = queues[w % queues.len()].clone();
        let (mode, max_ops, duplicates, staff) = (args.mode, args.max_ops, args.duplicates, staff.clone());
        let notify = args.notify;
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).unwrap();
            let join_url = format!("{api}/queues/{queue}/tickets");
            let call_url = format!("{api}/queues/{queue}/call-next");
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            let mut n = 0u64;
            while Instant::now() < stop_at && totals.ok.load(Ordering::Relaxed) < max_ops {
                n += 1;
                if mode == Mode::Calls {
                    let call = http.post(&call_url).bearer_auth(&token).json(&json!({"counter": "1"}));
                    // 409: the line is empty; this worker's run is over.
                    if step_until(call, &totals, &mut hist, Some(409)).await == Some(409) {
                        break;
                    }
                    continue;
                }
                if let Some(p) = duplicates {
                    let key = format!("bench-{run}-{w}-{n}");
                    let twice = rng.random::<f64>() < p;
                    keyed_join(&staff, &queue, (&key, join_body(notify, w, n)), twice, &totals, &mut hist).await;
                } else {
                    step(http.post(&join_url).json(&join_body(notify, w, n)), &totals, &mut hist).await;
                }
                if mode == Mode::Mixed {
                    let call = http.post(&call_url).bearer_auth(&token).json(&json!({"counter": "1"}));
                    step(call, &totals, &mut hist).await;
                }
            }
            hist
        }));
    }

    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    totals.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut hist = Histogram::<u64>::new(3)?;
    for w in workers {
        hist.add(w.await?)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = totals.ok.load(Ordering::Relaxed);
    let failed = totals.failed.load(Ordering::Relaxed);
    let requests = totals.requests.load(Ordering::Relaxed);
    let mut report = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "notify": args.notify,
        "queues": args.queues,
        "concurrency": args.concurrency,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "transitions": ok,
        "failed": failed,
        "transitions_per_second": (ok as f64 / elapsed).round(),
        "latency_ms": {
            "p50": hist.value_at_quantile(0.5) as f64 / 1000.0,
            "p90": hist.value_at_quantile(0.9) as f64 / 1000.0,
            "p99": hist.value_at_quantile(0.99) as f64 / 1000.0,
            "p999": hist.value_at_quantile(0.999) as f64 / 1000.0,
            "max": hist.max() as f64 / 1000.0,
        },
        "requests": requests,
        "requests_per_second": (requests as f64 / elapsed).round(),
    });
    if let Some(p) = args.duplicates {
        let joins = totals.joins.load(Ordering::Relaxed);
        let mismatches = totals.mismatches.load(Ordering::Relaxed);
        report["joins"] = json!(joins);
        report["joins_per_second"] = json!((joins as f64 / elapsed).round());
        report["duplicates"] = json!({
            "probability": p,
            "pairs": totals.pairs.load(Ordering::Relaxed),
            "mismatches": mismatches,
            "replayed_not_once": totals.replayed_not_once.load(Ordering::Relaxed),
            "examples": *totals.examples.lock().expect("no panic while held"),
        });
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
