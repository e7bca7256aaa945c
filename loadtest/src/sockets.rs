//! `loadtest sockets`: customers on live sockets while staff act at a fixed rate, against
//! Queuecast or the floor. Every scenario of BENCHMARKS.md is a set of flags of this command.
//!
//! `one` is a run against one target, stage by stage. Read it first, then `service` (where the
//! customers are and how staff reach them), `drive` (what the run does to the service: open the
//! sockets, act, storm) and `report` (the workers' reports merged into the result's JSON).

mod drive;
mod report;
mod service;

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

use crate::api::Api;
use crate::procstat;
use crate::worker::now_us;
use report::{Totals, Usage};
use service::Setup;

#[derive(Parser, Clone, Debug)]
pub struct Args {
    /// Queuecast nodes (loopback), comma-separated; customers are spread over them.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    pub url: Vec<String>,
    #[command(flatten)]
    pub who: crate::api::Credentials,
    /// Run against the floor (a minimal broadcast server this command starts) instead.
    #[arg(long)]
    pub floor: bool,
    /// Also run the floor first, with the same clients and load, and report ratios to it.
    #[arg(long)]
    pub vs_floor: bool,
    /// Queues, created for this run.
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// Customers (each joined over REST, each with a socket), spread over the queues.
    #[arg(long, default_value_t = 1000)]
    pub customers: usize,
    /// Before the customers join, put this many more tickets in line in each queue (over REST,
    /// with no socket), so the customers wait behind them and every call, reconnection and storm
    /// happens at that depth. Queuecast only (the floor has no line).
    #[arg(long, default_value_t = 0)]
    pub depth: usize,
    /// Extra customer sockets that never read.
    #[arg(long, default_value_t = 0)]
    pub slow: usize,
    /// Staff actions per second (0: none).
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// What staff do.
    #[arg(long, value_enum, default_value_t = Actions::Calls)]
    pub actions: Actions,
    /// How long staff act.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Seconds to hold the sockets idle before acting (idle CPU is measured over them).
    #[arg(long, default_value_t = 0)]
    pub idle: u64,
    /// After acting: every customer drops and reconnects with `since=` at once.
    #[arg(long)]
    pub storm: bool,
    /// Client processes (0: in this process). Each holds its share of the sockets.
    #[arg(long, default_value_t = 0)]
    pub procs: usize,
    /// Give each client process its own source address (127.0.0.2, .3, …).
    #[arg(long)]
    pub spread_sources: bool,
    /// Server process ids (comma-separated) whose memory and CPU to read from /proc.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// PostgreSQL URL (for `psql`): counts the transactions a storm costs.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Handshakes in flight per client process.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Where the JSON result and SVG chart go.
    #[arg(long, default_value = "target/loadtest")]
    pub out: String,
    /// A name for the result files.
    #[arg(long, default_value = "sockets")]
    pub name: String,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Actions {
    /// Call next, round robin over the queues.
    Calls,
    /// Calls, starts, completes, no-shows, requeues and joins.
    Mixed,
}

/// Runs the scenario (and the floor first with `--vs-floor`); writes `<out>/<name>.json` and
/// `.svg` and returns the JSON.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    if args.rate > 0.0 && args.seconds == 0 {
        bail!("--rate needs --seconds");
    }
    let floor = if args.vs_floor || args.floor { Some(one(&args, true).await?) } else { None };
    let result = if args.floor {
        floor.expect("ran")
    } else {
        let mut q = one(&args, false).await?;
        if let Some(f) = floor {
            let ratio = |a: &str, b: &str| {
                let (x, y) = (q[a][b].as_f64().unwrap_or(0.0), f[a][b].as_f64().unwrap_or(0.0));
                if y > 0.0 {
                    json!((x / y * 100.0).round() / 100.0)
                } else {
                    Value::Null
                }
            };
            q["vs_floor"] = json!({
                "p50": ratio("latency_ms", "p50"),
                "p99": ratio("latency_ms", "p99"),
                "p999": ratio("latency_ms", "p999"),
                "deliveries_per_second": ratio("throughput", "deliveries_per_second"),
                "floor": f,
            });
        }
        q
    };
    std::fs::create_dir_all(&args.out)?;
    let path = format!("{}/{}", args.out.trim_end_matches('/'), args.name);
    std::fs::write(format!("{path}.json"), serde_json::to_string_pretty(&result)?)?;
    std::fs::write(format!("{path}.svg"), crate::chart::svg(&result))?;
    if !args.quiet {
        eprintln!("wrote {path}.json and {path}.svg");
    }
    Ok(result)
}

/// What every stage of one run needs.
struct Run<'a> {
    args: &'a Args,
    /// "floor" or "queuecast": prefixes the progress lines and names the result's target.
    label: &'static str,
    http: reqwest::Client,
    /// The run's start (µs since the epoch): workers bucket latencies by second from it, and
    /// the queues are named after it.
    epoch: u64,
}

impl Run<'_> {
    /// A progress line, unless `--quiet`.
    fn say(&self, s: String) {
        if !self.args.quiet {
            eprintln!("[{}] {s}", self.label);
        }
    }
}

/// One run against the floor or Queuecast: its result's JSON. The server's memory and CPU are
/// sampled between the stages (see `Usage`), so each figure covers the stage it names.
async fn one(args: &Args, floor: bool) -> anyhow::Result<Value> {
    for u in &args.url {
        crate::api::ensure_loopback(u)?;
    }
    let label = if floor { "floor" } else { "queuecast" };
    let run = Run { args, label, http: Api::client(256)?, epoch: now_us() };
    // Set up: queues, customers, their sockets' addresses.
    let Setup { service, targets, slow, pids } =
        if floor { run.set_up_floor().await? } else { run.set_up_queuecast().await? };
    // Staff and display sockets (Queuecast): every event must reach them once, in order.
    let watchers = service.watch().await?;

    let before = procstat::sample(&pids);
    // Customer sockets, spread over workers.
    let (mut workers, opened) = run.open_sockets(&targets, &slow).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = procstat::sample(&pids);
    let idle_cpu = run.hold_idle(&pids, opened.connected, open).await;

    // Staff act at a fixed rate.
    let act_from = procstat::sample(&pids);
    let service = Arc::new(service);
    let acted = run.drive_staff(&service).await?;
    // Let the last frames arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let act_to = procstat::sample(&pids);
    let storm = if args.storm { Some(run.storm(&mut workers, opened.connected).await?) } else { None };

    // Results.
    let totals = Totals::collect(workers, &acted.sent).await?;
    let watched = match watchers {
        Some(w) => Some(w.finish().await),
        None => None,
    };
    let truth = service.truth(&totals.last, opened.connected).await?;
    // The floor server stops here (its process is killed, its task aborted): nothing needs it now.
    drop(service);
    let mut result = run.report(&opened, &acted, &totals, truth, watched, storm);
    if !pids.is_empty() {
        let usage = Usage { pids, before, open, act_from, act_to, idle_cpu };
        result["server"] = usage.json(opened.connected, totals.matched);
    }
    if !args.quiet {
        eprintln!("{}", summary(&result));
    }
    Ok(result)
}

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// One line a person reads.
pub fn summary(r: &Value) -> String {
    format!(
        "[{}] {} sockets · {} actions ({} errors; answered p50 {} ms, max {} ms) · {} deliveries ({}/s) · latency p50 {} ms p99 {} ms p99.9 {} ms max {} ms · duplicates {} missed {} · truth {}{}",
        r["target"].as_str().unwrap_or(""),
        r["sockets"]["connected"],
        r["actions"]["done"],
        r["actions"]["errors"],
        r["actions"]["answer_ms"]["p50"],
        r["actions"]["answer_ms"]["max"],
        r["deliveries"]["matched"],
        r["throughput"]["deliveries_per_second"],
        r["latency_ms"]["p50"],
        r["latency_ms"]["p99"],
        r["latency_ms"]["p999"],
        r["latency_ms"]["max"],
        r["correctness"]["duplicates"],
        r["correctness"]["missed"],
        r["correctness"]["truth"],
        match r.get("server") {
            Some(s) => format!(" · server {} MiB → {} MiB, {} KiB/socket, {} µs CPU/delivery", s["rss_mib_before_sockets"], s["rss_mib_with_sockets"], s["kib_per_socket"], s["cpu_us_per_delivery"]),
            None => String::new(),
        }
    )
}
