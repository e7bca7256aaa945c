//! `loadtest depth`: what a read and a call cost with many people in line. One queue is filled
//! to each `--depth` in turn (joins over HTTP, many in flight, keeping a uniform sample of the
//! tickets); at each depth, customers read sampled tickets with their tokens for
//! `--read-seconds`, staff read pages of the line at its head, middle and tail, and call next
//! `--calls` times, one at a time. Latencies are the client's, over loopback.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use rand::Rng;
use serde_json::{json, Value};

use crate::api::{Api, Failed};
use crate::chart::{panels, Panel, Series};
use crate::fill::{fill, Reservoir};
use crate::sockets::round;

#[derive(Parser, Clone, Debug)]
pub struct DepthArgs {
    /// The server (loopback only), run with rate limits off.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[command(flatten)]
    pub who: crate::api::Credentials,
    /// Depths to measure at, rising (comma-separated): the same queue is topped up to each.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub depth: Vec<usize>,
    /// Joins in flight while filling.
    #[arg(long, default_value_t = 256)]
    pub fill_concurrency: usize,
    /// Tickets kept to read back: a uniform sample of all those joined.
    #[arg(long, default_value_t = 10_000)]
    pub sample: usize,
    /// Ticket reads in flight…
    #[arg(long, default_value_t = 32)]
    pub read_concurrency: usize,
    /// …at this rate in all, reads/s, evenly spaced (0: each as soon as the one before it
    /// answered)…
    #[arg(long, default_value_t = 0.0)]
    pub read_rate: f64,
    /// …for this long at each depth.
    #[arg(long, default_value_t = 10)]
    pub read_seconds: u64,
    /// Call-nexts at each depth, one at a time.
    #[arg(long, default_value_t = 30)]
    pub calls: usize,
    /// Reads of a 100-ticket page of the line at each of its head, middle and tail, one at a
    /// time (a server without `GET …/line` answers 404: noted, not an error).
    #[arg(long, default_value_t = 20)]
    pub line_reads: usize,
    /// Open a console (a staff socket) on the queue before reading, so the node holds its live
    /// line and places come from it; a second console opens and closes, to show what a
    /// snapshot leaves behind. Without it, places are counted by the database.
    #[arg(long)]
    pub live: bool,
    /// The server's process id (on this machine): its resident memory is read before and after
    /// the consoles open.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Where the JSON result and SVG chart go.
    #[arg(long, default_value = "target/loadtest")]
    pub out: String,
    /// A name for the result files.
    #[arg(long, default_value = "depth")]
    pub name: String,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Tickets per page of the line.
const PAGE: usize = 100;

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// Latency figures (ms) of a histogram of µs.
fn latency(h: &Histogram<u64>) -> Value {
    let q = |p: f64| round(h.value_at_quantile(p) as f64 / 1000.0, 2);
    json!({"count": h.len(), "p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": round(h.max() as f64 / 1000.0, 2)})
}

/// Counts failures and prints the first few.
#[derive(Default)]
struct Errors(AtomicU64);

impl Errors {
    fn note(&self, what: &str, e: &str) {
        if self.0.fetch_add(1, Relaxed) < 3 {
            eprintln!("[depth] {what}: {e}");
        }
    }
    fn count(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Runs the scenario; writes `<out>/<name>.json` and `.svg` and returns the JSON.
pub async fn run(args: DepthArgs) -> anyhow::Result<Value> {
    ensure!(!args.depth.is_empty() && args.depth.windows(2).all(|w| w[0] < w[1]), "--depth: rising depths");
    ensure!(args.read_concurrency > 0 && args.sample > 0, "--read-concurrency and --sample must be > 0");
    let http = Api::client(args.fill_concurrency.max(args.read_concurrency))?;
    let api = Api::login(http, &args.url, &args.who).await?;
    let run = crate::worker::now_us() / 1000;
    let queue = api.create_queue(&format!("depth-{run}")).await.context("creating a queue")?;
    let sample = Arc::new(Mutex::new(Reservoir::new(args.sample)));
    let mut stages = Vec::new();
    for &depth in &args.depth {
        let waiting = api.waiting(&queue).await? as usize;
        let label = format!("depth {depth}");
        let progress = (!args.quiet).then_some(label.as_str());
        let need = depth.saturating_sub(waiting);
        let filled = fill(&api, &queue, need, args.fill_concurrency, sample.clone(), progress).await?;
        let waiting = api.waiting(&queue).await? as usize;
        ensure!(waiting >= depth, "filled to {waiting}, not {depth}: is another client calling?");
        if !args.quiet {
            eprintln!("[{label}] {need} joined in {:.1} s; {waiting} waiting", filled.seconds);
        }
        let rss = || args.server_pid.map(|pid| crate::procstat::sample(&[pid]).rss);
        let cold = rss();
        let (console, live) = match args.live {
            true => {
                let first = Console::open(&api, &queue).await.context("opening a console")?;
                let held = rss();
                let second = Console::open(&api, &queue).await.context("opening a second console")?;
                let (second_ms, second_bytes) = (second.first_ms, second.first_bytes);
                drop(second);
                tokio::time::sleep(Duration::from_millis(500)).await;
                let live = json!({
                    "first_snapshot_ms": round(first.first_ms, 1), "first_snapshot_bytes": first.first_bytes,
                    "second_snapshot_ms": round(second_ms, 1), "second_snapshot_bytes": second_bytes,
                    "rss_mib": {"before": mib(cold), "with_hub": mib(held), "after_second_snapshot": mib(rss())},
                });
                (Some(first), live)
            }
            false => (None, json!({"rss_mib": {"before": mib(cold)}})),
        };
        let tickets = sample.lock().expect("no panic while held").tickets.clone();
        let reads = reads(&api, Arc::new(tickets), &args).await;
        let line = line_pages(&api, &queue, waiting, args.line_reads).await;
        let calls = calls(&api, &queue, args.calls).await;
        drop(console);
        let stage = json!({
            "depth": depth, "waiting": waiting,
            "fill": {"joined": filled.joined, "seconds": round(filled.seconds, 2),
                     "joins_per_second": (filled.joined as f64 / filled.seconds.max(1e-9)).round() as u64},
            "live": live, "reads": reads, "line": line, "call_next": calls,
        });
        if !args.quiet {
            eprintln!("{}", stage_summary(&stage));
        }
        stages.push(stage);
    }
    // The deepest stage's figures, for `loadtest table`.
    let last = stages.last().cloned().unwrap_or_default();
    let deepest = json!({"depth": last["depth"], "read_p99_ms": last["reads"]["latency_ms"]["p99"],
                         "read_server_p99_ms": last["reads"]["server_ms"]["p99"],
                         "call_next_p99_ms": last["call_next"]["latency_ms"]["p99"]});
    let result = json!({"scenario": "depth", "args": format!("{args:?}"), "stages": stages, "deepest": deepest});
    std::fs::create_dir_all(&args.out)?;
    let path = format!("{}/{}", args.out.trim_end_matches('/'), args.name);
    std::fs::write(format!("{path}.json"), serde_json::to_string_pretty(&result)?)?;
    std::fs::write(format!("{path}.svg"), chart(&result))?;
    if !args.quiet {
        eprintln!("wrote {path}.json and {path}.svg");
    }
    Ok(result)
}

fn mib(bytes: Option<u64>) -> Option<f64> {
    bytes.map(|b| round(b as f64 / 1_048_576.0, 1))
}

/// A staff socket on the queue, read (and its frames dropped) until it is dropped: while it is
/// open the node holds the queue's live line.
struct Console {
    /// From asking to its first frame (the snapshot): the hub built, if it was not, and the
    /// window sent.
    first_ms: f64,
    first_bytes: usize,
    reader: tokio::task::JoinHandle<()>,
}

impl Console {
    async fn open(api: &Api, queue: &str) -> anyhow::Result<Console> {
        use futures_util::StreamExt;
        let started = Instant::now();
        let pass = api.socket_pass().await?;
        let url = format!("{}/ws/queues/{queue}?pass={pass}", api.ws_base());
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        let first = match tokio::time::timeout(Duration::from_secs(120), ws.next()).await {
            Ok(Some(Ok(frame))) => frame.into_data().len(),
            other => anyhow::bail!("no snapshot: {other:?}"),
        };
        let first_ms = started.elapsed().as_secs_f64() * 1000.0;
        let reader = tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
        Ok(Console { first_ms, first_bytes: first, reader })
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Customers read random sampled tickets with their tokens, `--read-concurrency` at a time
/// (paced to `--read-rate` in all, if given), for `--read-seconds`.
async fn reads(api: &Api, tickets: Arc<Vec<(String, String)>>, args: &DepthArgs) -> Value {
    let stop = Instant::now() + Duration::from_secs(args.read_seconds);
    let errors = Arc::new(Errors::default());
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..args.read_concurrency {
        let (api, tickets, errors) = (api.clone(), tickets.clone(), errors.clone());
        let pace =
            (args.read_rate > 0.0).then(|| Duration::from_secs_f64(args.read_concurrency as f64 / args.read_rate));
        let share = i as f64 / args.read_concurrency as f64;
        workers.push(tokio::spawn(async move {
            let (mut h, mut server, mut positions) = (hist(), hist(), Vec::new());
            // Paced workers start a share of the pace apart, so the reads arrive evenly spaced:
            // started together, they sent bursts of `read_concurrency` reads at once, and the
            // server's time measured how long the last of a burst queued behind the others.
            let mut tick = pace.map(|pace| {
                let first = tokio::time::Instant::now() + pace.mul_f64(share);
                tokio::time::interval_at(first, pace)
            });
            while Instant::now() < stop {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let (id, token) = &tickets[rand::rng().random_range(0..tickets.len())];
                let sent = Instant::now();
                match api.customer_ticket(id, token).await {
                    Ok((t, took)) if t["id"].as_str() == Some(id) => {
                        h.saturating_record(sent.elapsed().as_micros() as u64);
                        if let Some(ms) = took {
                            server.saturating_record((ms * 1000.0) as u64);
                        }
                        positions.extend(t["position"].as_i64());
                    }
                    Ok((t, _)) => errors.note("a read answered another ticket", &t.to_string()),
                    Err(Failed::Error(e) | Failed::Refused(e)) => errors.note("a read failed", &e),
                }
            }
            (h, server, positions)
        }));
    }
    let (mut h, mut server, mut positions) = (hist(), hist(), Vec::new());
    for w in workers {
        if let Ok((wh, ws, p)) = w.await {
            h.add(wh).ok();
            server.add(ws).ok();
            positions.extend(p);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    positions.sort_unstable();
    let at = |q: f64| positions.get(((positions.len() as f64 - 1.0) * q) as usize).copied();
    json!({"reads_per_second": (h.len() as f64 / seconds).round() as u64, "errors": errors.count(),
           "latency_ms": latency(&h), "server_ms": latency(&server), "in_line": positions.len(),
           "positions": {"min": at(0.0), "median": at(0.5), "max": at(1.0)}})
}

/// Staff read a page of the line after its head, middle and tail, `reads` times each, one at a
/// time, checking that the page holds the right positions in order.
async fn line_pages(api: &Api, queue: &str, waiting: usize, reads: usize) -> Value {
    let mut places = vec![0, waiting / 2, waiting.saturating_sub(PAGE)];
    places.dedup();
    let mut pages = Vec::new();
    for after in places {
        let (mut h, errors) = (hist(), Errors::default());
        for _ in 0..reads {
            let sent = Instant::now();
            match api.line(queue, after, PAGE).await {
                Ok(None) => return json!({"available": false}),
                Ok(Some(page)) => {
                    h.saturating_record(sent.elapsed().as_micros() as u64);
                    let tickets = page["tickets"].as_array().cloned().unwrap_or_default();
                    let total = page["waiting_total"].as_u64().unwrap_or(0) as usize;
                    let in_order =
                        tickets.iter().enumerate().all(|(i, t)| t["position"].as_u64() == Some((after + i + 1) as u64));
                    if tickets.len() != PAGE.min(total.saturating_sub(after)) || !in_order {
                        let positions: Vec<_> = tickets.iter().take(3).map(|t| t["position"].clone()).collect();
                        let e = format!("{} tickets of {total}, first positions {positions:?}", tickets.len());
                        errors.note(&format!("the page after position {after} is wrong"), &e);
                    }
                }
                Err(Failed::Error(e) | Failed::Refused(e)) => errors.note("a page of the line failed", &e),
            }
        }
        pages.push(json!({"after_position": after, "errors": errors.count(), "latency_ms": latency(&h)}));
    }
    json!({"available": true, "pages": pages})
}

/// Staff call next `n` times, one at a time.
async fn calls(api: &Api, queue: &str, n: usize) -> Value {
    let (mut h, errors) = (hist(), Errors::default());
    for _ in 0..n {
        let sent = Instant::now();
        match api.call_next(queue, "1").await {
            Ok(_) => h.saturating_record(sent.elapsed().as_micros() as u64),
            Err(Failed::Error(e) | Failed::Refused(e)) => errors.note("a call-next failed", &e),
        }
    }
    json!({"errors": errors.count(), "latency_ms": latency(&h)})
}

fn stage_summary(s: &Value) -> String {
    let line = match s["line"]["pages"].as_array() {
        Some(pages) => pages
            .iter()
            .map(|p| {
                format!("after {} p50 {} p99 {}", p["after_position"], p["latency_ms"]["p50"], p["latency_ms"]["p99"])
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => "not available".into(),
    };
    let r = &s["reads"];
    format!(
        "[depth {}] fill {} joins/s · reads {}/s p50 {} p99 {} p99.9 {} ms (server p50 {} p99 {} ms; {} errors) · call-next p50 {} p99 {} ms ({} errors) · line pages (ms): {line}",
        s["depth"],
        s["fill"]["joins_per_second"],
        r["reads_per_second"],
        r["latency_ms"]["p50"],
        r["latency_ms"]["p99"],
        r["latency_ms"]["p999"],
        r["server_ms"]["p50"],
        r["server_ms"]["p99"],
        r["errors"],
        s["call_next"]["latency_ms"]["p50"],
        s["call_next"]["latency_ms"]["p99"],
        s["call_next"]["errors"],
    )
}

/// Latency against depth (log scale): reads in one panel, call-next and pages of the line in the
/// other. Flat lines are the goal.
fn chart(r: &Value) -> String {
    let stages = r["stages"].as_array().cloned().unwrap_or_default();
    let x = |s: &Value| (s["depth"].as_f64().unwrap_or(1.0)).max(1.0).log10();
    let series = |label: &str, colour: &'static str, dashed: bool, at: &dyn Fn(&Value) -> Option<f64>| Series {
        label: label.into(),
        colour,
        dashed,
        points: stages.iter().filter_map(|s| Some((x(s), at(s)?))).collect(),
    };
    let ticks: Vec<(f64, String)> = stages
        .iter()
        .map(|s| {
            let d = s["depth"].as_u64().unwrap_or(0);
            (x(s), if d >= 1000 { format!("{}k", d / 1000) } else { d.to_string() })
        })
        .collect();
    let read = |q: &'static str| move |s: &Value| s["reads"]["latency_ms"][q].as_f64();
    let reads = Panel {
        title: "reading a ticket with its token (ms) against the line's depth (log)".into(),
        series: vec![
            series("p50", "#6a9be8", false, &read("p50")),
            series("p99", "#1f5fd6", false, &read("p99")),
            series("p99.9", "#1f5fd6", true, &read("p999")),
        ],
        x_ticks: ticks.clone(),
        dots: true,
        ..Panel::default()
    };
    let call = |q: &'static str| move |s: &Value| s["call_next"]["latency_ms"][q].as_f64();
    // Pages of the line: the slowest place's figure at each depth.
    let page = |q: &'static str| {
        move |s: &Value| {
            s["line"]["pages"].as_array()?.iter().filter_map(|p| p["latency_ms"][q].as_f64()).reduce(f64::max)
        }
    };
    let staff = Panel {
        title: "staff (ms): call next, and a page of the line (its slowest place)".into(),
        series: vec![
            series("call-next p50", "#e08a00", false, &call("p50")),
            series("call-next p99", "#e08a00", true, &call("p99")),
            series("line page p50", "#2a9d3a", false, &page("p50")),
            series("line page p99", "#2a9d3a", true, &page("p99")),
        ],
        x_ticks: ticks,
        dots: true,
        ..Panel::default()
    };
    let footer: Vec<String> = stages.iter().map(stage_summary).collect();
    panels(&[reads, staff], &footer.join("\n"))
}
