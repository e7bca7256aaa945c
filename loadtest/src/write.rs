//! `loadtest write` measures the durable write path over HTTP: it signs in, creates its own
//! queues, then keeps `--concurrency` requests in flight (joins, or joins and call-nexts) for at
//! most `--seconds` and `--max-ops`, and reports committed transitions per second and latency.
//! Every answer it counts came after the change was committed in PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::api::Api;

#[derive(Parser, Clone)]
pub struct WriteArgs {
    /// The server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, default_value = "demo")]
    tenant: String,
    #[arg(long, default_value = "admin@demo.test")]
    email: String,
    #[arg(long, default_value = "demo-password")]
    password: String,
    /// Queues to spread the load over (created for this run).
    #[arg(long, default_value_t = 100)]
    queues: usize,
    /// What each worker does.
    #[arg(long, value_enum, default_value_t = Mode::Mixed)]
    mode: Mode,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Stop after this long…
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// …or after this many transitions, whichever comes first.
    #[arg(long, default_value_t = 2_000_000)]
    max_ops: u64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Joins only.
    Joins,
    /// Each worker joins then calls next, so lines stay short and both kinds are measured.
    Mixed,
}

struct Totals {
    ok: AtomicU64,
    failed: AtomicU64,
    measuring: std::sync::atomic::AtomicBool,
}

/// Sends one request; while measuring, counts it and records its latency.
async fn step(req: reqwest::RequestBuilder, totals: &Totals, hist: &mut Histogram<u64>) {
    let started = Instant::now();
    let ok = matches!(req.send().await, Ok(r) if r.status().is_success());
    if totals.measuring.load(Ordering::Relaxed) {
        hist.record(started.elapsed().as_micros() as u64).ok();
        let counter = if ok { &totals.ok } else { &totals.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn write(args: WriteArgs) -> anyhow::Result<()> {
    let http = Api::client(args.concurrency)?;
    let staff = Api::login(http.clone(), &args.url, &args.tenant, &args.email, &args.password).await?;
    let api = format!("{}/api/v1", staff.base);
    let token = staff.token.clone();
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let mut queues = Vec::with_capacity(args.queues);
    for i in 0..args.queues {
        queues.push(staff.create_queue(&format!("bench-{run}-{i}")).await.context("creating a queue")?);
    }

    let totals = Arc::new(Totals { ok: AtomicU64::new(0), failed: AtomicU64::new(0), measuring: false.into() });
    let stop_at = Instant::now() + Duration::from_secs(args.warmup + args.seconds);
    let mut workers = Vec::with_capacity(args.concurrency);
    for w in 0..args.concurrency {
        let (http, api, token, totals) = (http.clone(), api.clone(), token.clone(), totals.clone());
        let queue = queues[w % queues.len()].clone();
        let (mode, max_ops) = (args.mode, args.max_ops);
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).unwrap();
            let join_url = format!("{api}/queues/{queue}/tickets");
            let call_url = format!("{api}/queues/{queue}/call-next");
            while Instant::now() < stop_at && totals.ok.load(Ordering::Relaxed) < max_ops {
                step(http.post(&join_url).json(&json!({"name": "bench"})), &totals, &mut hist).await;
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
    let report = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
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
            "max": hist.max() as f64 / 1000.0,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
