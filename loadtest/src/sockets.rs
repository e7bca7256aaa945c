//! `loadtest sockets`: customers on live sockets while staff act at a fixed rate, against
//! Queuecast or the floor. Every scenario of BENCHMARKS.md is a set of flags of this command.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use crate::api::{Api, Failed};
use crate::procstat;
use crate::worker::{self, now_us, Cmd, Reply, Sent, Spec, Target};

#[derive(Parser, Clone, Debug)]
pub struct Args {
    /// Queuecast nodes (loopback), comma-separated; customers are spread over them.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    pub url: Vec<String>,
    #[arg(long, default_value = "demo")]
    pub tenant: String,
    #[arg(long, default_value = "admin@demo.test")]
    pub email: String,
    #[arg(long, default_value = "demo-password")]
    pub password: String,
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

/// Where the customers are and how staff reach them (one per run).
#[allow(clippy::large_enum_variant)]
enum Service {
    Queuecast { api: Api, nodes: Vec<Api>, queues: Vec<String> },
    Floor { _server: FloorServer, staff: Mutex<FloorStaff> },
}

/// The floor server lives as long as this: a child process (killed on drop) or a task.
enum FloorServer {
    Process(#[allow(dead_code)] tokio::process::Child),
    Task(tokio::task::JoinHandle<anyhow::Result<()>>),
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        if let FloorServer::Task(t) = self {
            t.abort();
        }
    }
}

type FloorStaff = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The tickets a queue has out of line, for mixed actions: (id, status).
type Active = Vec<(String, String)>;

async fn one(args: &Args, floor: bool) -> anyhow::Result<Value> {
    for u in &args.url {
        crate::api::ensure_loopback(u)?;
    }
    let label = if floor { "floor" } else { "queuecast" };
    let say = |s: String| {
        if !args.quiet {
            eprintln!("[{label}] {s}");
        }
    };
    let http = Api::client(256)?;
    let epoch = now_us();
    // Set up: queues, customers, their sockets' addresses.
    let mut targets = Vec::with_capacity(args.customers);
    let mut slow = Vec::new();
    let mut pids = args.server_pid.clone();
    let target = if floor {
        // In a process of its own (measured from /proc), or with `--procs 0` in this one.
        let (server, addr) = if args.procs == 0 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?.to_string();
            (FloorServer::Task(tokio::spawn(crate::floor::serve_on(listener))), addr)
        } else {
            let mut child = tokio::process::Command::new(std::env::current_exe()?)
                .args(["floor-serve", "--listen", "127.0.0.1:0"])
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let stdout = child.stdout.take().context("stdout")?;
            let mut out = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
            let line = out.next_line().await?.context("the floor server said nothing")?;
            pids = vec![child.id().context("floor pid")?];
            (FloorServer::Process(child), line.trim_start_matches("listening on ").to_owned())
        };
        for i in 0..args.customers {
            let q = (i % args.queues as usize) as u32;
            targets.push(Target { url: format!("ws://{addr}/q/{q}"), ticket: i.to_string(), queue: q });
        }
        for i in 0..args.slow {
            slow.push(format!("ws://{addr}/q/{}", i % args.queues as usize));
        }
        let (staff, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/staff")).await?;
        Service::Floor { _server: server, staff: Mutex::new(staff) }
    } else {
        let api = Api::login(http.clone(), &args.url[0], &args.tenant, &args.email, &args.password).await?;
        let nodes = args.url.iter().map(|u| api.on(u)).collect::<anyhow::Result<Vec<_>>>()?;
        let run = epoch / 1000;
        let mut queues = Vec::new();
        for i in 0..args.queues {
            queues.push(api.create_queue(&format!("load-{run}-{i}")).await?);
        }
        let started = Instant::now();
        let joined = join_all(&api, &queues, args.customers).await?;
        say(format!("{} customers joined over REST in {:.1} s", joined.len(), started.elapsed().as_secs_f64()));
        let url = |i: usize, id: &str, token: &str| {
            format!("{}/ws/tickets/{id}?token={token}", nodes[i % nodes.len()].ws_base())
        };
        for (i, (queue, id, token)) in joined.into_iter().enumerate() {
            targets.push(Target { url: url(i, &id, &token), ticket: id, queue });
        }
        if args.slow > 0 {
            for (i, (_, id, token)) in join_all(&api, &queues, args.slow).await?.into_iter().enumerate() {
                slow.push(url(i, &id, &token));
            }
        }
        Service::Queuecast { api, nodes, queues }
    };

    // Staff and display sockets (Queuecast): every event must reach them once, in order.
    let watchers = match &target {
        Service::Queuecast { api, nodes, queues } => Some(open_watchers(api, nodes, queues).await?),
        Service::Floor { .. } => None,
    };

    let before = procstat::sample(&pids);
    // Customer sockets, spread over workers.
    let procs = args.procs.max(1);
    let mut specs: Vec<Spec> = (0..procs)
        .map(|p| Spec {
            source: args.spread_sources.then(|| Ipv4Addr::new(127, 0, 0, 2 + p as u8)),
            connect_concurrency: args.connect_concurrency,
            epoch_us: epoch,
            ..Spec::default()
        })
        .collect();
    for (i, t) in targets.iter().enumerate() {
        specs[i % procs].sockets.push(t.clone());
    }
    for (i, s) in slow.iter().enumerate() {
        specs[i % procs].slow.push(s.clone());
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for spec in specs {
        workers.push(if args.procs == 0 { worker::Handle::local(spec) } else { worker::Handle::spawn(&spec).await? });
    }
    let (mut connected, mut failed) = (0, 0);
    for w in &mut workers {
        if let Reply::Ready { connected: c, failed: f, .. } = w.ready().await? {
            connected += c;
            failed += f;
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    say(format!("{connected} sockets open and showing their ticket in {connect_s:.1} s ({failed} failed)"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = procstat::sample(&pids);

    let mut idle_cpu = None;
    if args.idle > 0 {
        say(format!("holding {connected} sockets idle for {} s", args.idle));
        tokio::time::sleep(Duration::from_secs(args.idle)).await;
        let after = procstat::sample(&pids);
        idle_cpu = Some((after.cpu - open.cpu) / args.idle as f64);
    }

    // Staff act at a fixed rate.
    let sent = Arc::new(Mutex::new(Vec::<Sent>::new()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let act_from = procstat::sample(&pids);
    let act_started = Instant::now();
    let target = Arc::new(target);
    if args.rate > 0.0 {
        let active: Arc<Vec<Mutex<Active>>> = Arc::new((0..args.queues).map(|_| Mutex::new(Vec::new())).collect());
        let period = Duration::from_secs_f64(1.0 / args.rate);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let total = (args.rate * args.seconds as f64).round() as u64;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut handles = Vec::new();
        for n in 0..total {
            tick.tick().await;
            if act_started.elapsed() > Duration::from_secs(args.seconds + 5) {
                break;
            }
            let permit = in_flight.clone().acquire_owned().await?;
            let q = (n % args.queues as u64) as u32;
            let roll: f64 = rng.random();
            let (target, sent, failures, refused, active) =
                (target.clone(), sent.clone(), errors.clone(), refused.clone(), active.clone());
            let mixed = args.actions == Actions::Mixed;
            handles.push(tokio::spawn(async move {
                let _permit = permit;
                let at = now_us();
                let outcome = act(&target, q, if mixed { roll } else { 0.0 }, &active).await;
                match outcome {
                    Ok(Some((seq, call))) => sent.lock().await.push(Sent { queue: q, seq, at_us: at, call }),
                    Ok(None) => {}
                    Err(Failed::Refused(_)) => {
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(Failed::Error(e)) => {
                        if failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
                            eprintln!("[{label}] action failed: {e}");
                        }
                    }
                }
            }));
            if !args.quiet && n > 0 && (n as f64 % (args.rate * 5.0).max(1.0)).abs() < 1.0 {
                eprintln!(
                    "[{label}] {:>4.0} s: {n} actions sent, {} errors",
                    act_started.elapsed().as_secs_f64(),
                    errors.load(std::sync::atomic::Ordering::Relaxed)
                );
            }
        }
        for h in handles {
            h.await.ok();
        }
    }
    let act_s = act_started.elapsed().as_secs_f64();
    // Let the last frames arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let act_to = procstat::sample(&pids);

    let mut storm = None;
    if args.storm {
        // PostgreSQL's backends report their counts up to 10 s late: let them settle around it.
        let settle = Duration::from_secs(11);
        if args.database_url.is_some() {
            tokio::time::sleep(settle).await;
        }
        let xacts = args.database_url.as_deref().map(transactions);
        let started = Instant::now();
        for w in &mut workers {
            w.ask(Cmd::Drop).await?;
        }
        say(format!("{connected} sockets dropped; all reconnect with since= at once"));
        let rec = Instant::now();
        for w in &mut workers {
            w.tx.send(Cmd::Reconnect).await?;
        }
        let mut back = 0;
        for w in &mut workers {
            if let Reply::Ready { connected, .. } = w.ready().await? {
                back += connected;
            }
        }
        let converged = rec.elapsed().as_secs_f64();
        if args.database_url.is_some() {
            tokio::time::sleep(settle).await;
        }
        let used = match (xacts, args.database_url.as_deref().map(transactions)) {
            (Some(Ok(a)), Some(Ok(b))) => json!(b - a),
            _ => Value::Null,
        };
        say(format!(
            "{back} sockets back, each showing its ticket, {converged:.2} s after the drop; transactions: {used}"
        ));
        storm = Some(json!({"reconnected": back, "seconds_to_all_shown": round(converged, 3),
            "transactions": used, "total_seconds": round(started.elapsed().as_secs_f64(), 3)}));
    }

    // Results.
    let sent = std::mem::take(&mut *sent.lock().await);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut per_second: Vec<(u64, u64, u64)> = Vec::new();
    let (mut frames, mut matched, mut duplicates, mut missed, mut coalesced) = (0, 0, 0, 0, 0);
    let mut last_delivery = 0u64;
    let mut duplicate_examples = Vec::new();
    let mut closed: HashMap<u16, u64> = HashMap::new();
    let mut last = Vec::new();
    for mut w in workers {
        let Reply::Report(r) = w.ask(Cmd::Finish { sent: sent.clone() }).await? else {
            bail!("a worker did not report")
        };
        for (v, c) in &r.latency {
            hist.record_n(*v, *c).ok();
        }
        if per_second.len() < r.per_second.len() {
            per_second.resize(r.per_second.len(), (0, 0, 0));
        }
        for (i, b) in r.per_second.iter().enumerate() {
            let p = &mut per_second[i];
            *p = (p.0 + b.0, p.1 + b.1, p.2.max(b.2));
        }
        frames += r.frames;
        matched += r.matched;
        duplicates += r.duplicates;
        missed += r.missed;
        coalesced += r.coalesced;
        duplicate_examples.extend(r.duplicate_examples);
        last_delivery = last_delivery.max(r.last_delivery_us);
        for (k, v) in r.closed {
            *closed.entry(k).or_default() += v;
        }
        last.extend(r.last);
        drop(w.tx);
        if let Some(mut child) = w.child.take() {
            child.wait().await.ok();
        }
    }
    let watched = match watchers {
        Some(w) => Some(w.finish().await),
        None => None,
    };
    let truth = match &*target {
        Service::Queuecast { api, .. } => Some(check_truth(api, &last, connected).await?),
        Service::Floor { .. } => None,
    };
    drop(target);

    let q = |p: f64| round(hist.value_at_quantile(p) as f64 / 1000.0, 2);
    let actions = sent.len();
    // From the first action sent to the last delivery: a server that falls behind is not
    // credited for deliveries made after the load stopped.
    let first_sent = sent.iter().map(|s| s.at_us).min().unwrap_or(0);
    let span = last_delivery.saturating_sub(first_sent) as f64 / 1e6;
    let per_second_rate = |n: u64| if span > 0.0 { (n as f64 / span).round() } else { 0.0 };
    let distribution: Vec<Value> =
        [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0].iter().map(|p| json!([p, q(*p)])).collect();
    let per_second: Vec<Value> = per_second
        .iter()
        .map(|b| {
            let mean = if b.0 > 0 { round(b.1 as f64 / b.0 as f64 / 1000.0, 2) } else { 0.0 };
            json!([b.0, mean, round(b.2 as f64 / 1000.0, 2)])
        })
        .collect();
    let mut result = json!({
        "target": label,
        "args": format!("{args:?}"),
        "customers": args.customers, "queues": args.queues, "slow": args.slow,
        "sockets": {"connected": connected, "failed": failed, "connect_seconds": round(connect_s, 2),
                     "closed_by_server": closed},
        "actions": {"done": actions, "refused": refused.load(std::sync::atomic::Ordering::Relaxed),
                    "errors": errors.load(std::sync::atomic::Ordering::Relaxed), "seconds": round(act_s, 2)},
        "deliveries": {"frames": frames, "matched": matched},
        "latency_ms": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
                        "max": round(hist.max() as f64 / 1000.0, 2), "count": hist.len()},
        "throughput": {"deliveries_per_second": per_second_rate(matched)},
        "correctness": {"duplicates": duplicates, "duplicate_examples": duplicate_examples, "missed": missed, "coalesced": coalesced, "truth": truth, "watchers": watched},
        "per_second": per_second,
        "latency_distribution": distribution,
        "storm": storm,
    });
    if !pids.is_empty() {
        let per = |bytes: i64| {
            if connected > 0 {
                json!(round(bytes as f64 / connected as f64 / 1024.0, 2))
            } else {
                Value::Null
            }
        };
        result["server"] = json!({
            "pids": pids,
            "rss_mib_before_sockets": round(before.rss as f64 / 1048576.0, 1),
            "rss_mib_with_sockets": round(open.rss as f64 / 1048576.0, 1),
            "rss_mib_after_actions": round(act_to.rss as f64 / 1048576.0, 1),
            "kib_per_socket": per(open.rss as i64 - before.rss as i64),
            "idle_cpu_cores": idle_cpu.map(|c| round(c, 4)),
            "cpu_seconds_acting": round(act_to.cpu - act_from.cpu, 2),
            "cpu_us_per_delivery": if matched > 0 { json!(round((act_to.cpu - act_from.cpu) * 1e6 / matched as f64, 2)) } else { Value::Null },
        });
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
        "[{}] {} sockets · {} actions ({} errors) · {} deliveries ({}/s) · latency p50 {} ms p99 {} ms p99.9 {} ms max {} ms · duplicates {} missed {} · truth {}{}",
        r["target"].as_str().unwrap_or(""),
        r["sockets"]["connected"],
        r["actions"]["done"],
        r["actions"]["errors"],
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

/// Joins `n` customers over REST, spread over the queues: (queue index, ticket id, token).
async fn join_all(api: &Api, queues: &[String], n: usize) -> anyhow::Result<Vec<(u32, String, String)>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(128));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let (api, permit) = (api.clone(), gate.clone().acquire_owned().await?);
        let q = (i % queues.len()) as u32;
        let queue = queues[q as usize].clone();
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            api.join(&queue, &format!("load {i}")).await.map(|(id, token, _)| (q, id, token))
        }));
    }
    let mut out = Vec::with_capacity(n);
    for h in handles {
        match h.await? {
            Ok(t) => out.push(t),
            Err(Failed::Error(e) | Failed::Refused(e)) => bail!("a join failed: {e}"),
        }
    }
    Ok(out)
}

/// One staff action on queue `q`: its seq and whether it was a call-next. `roll` in [0, 1) picks
/// a mixed action (0: call next).
async fn act(target: &Service, q: u32, roll: f64, active: &[Mutex<Active>]) -> Result<Option<(i64, bool)>, Failed> {
    match target {
        Service::Floor { staff, .. } => {
            let mut ws = staff.lock().await;
            ws.send(Message::text(format!("call {q}"))).await.map_err(|e| Failed::Error(e.to_string()))?;
            while let Some(msg) = ws.next().await {
                if let Ok(Message::Text(t)) = msg {
                    let v: Value = serde_json::from_str(&t).map_err(|e| Failed::Error(e.to_string()))?;
                    return Ok(Some((v["seq"].as_i64().unwrap_or(0), true)));
                }
            }
            Err(Failed::Error("the floor closed the staff socket".into()))
        }
        Service::Queuecast { api, queues, .. } => {
            let queue = &queues[q as usize];
            let counter = format!("{}", q % 9 + 1);
            // Mixed: 40% call next, 35% move an out-of-line ticket on, 25% a customer joins.
            let pick = if roll < 0.40 { None } else { Some(roll) };
            if let Some(roll) = pick {
                if roll >= 0.75 {
                    return api.join(queue, "walk-in").await.map(|(_, _, seq)| Some((seq, false)));
                }
                let a = active[q as usize].lock().await;
                if let Some((id, status)) = a.first().cloned() {
                    let (name, next) = match status.as_str() {
                        "called" if roll < 0.65 => ("start", Some("serving")),
                        "called" => ("no_show", Some("no_show")),
                        "serving" => ("complete", None),
                        _ => ("requeue", None),
                    };
                    drop(a);
                    let done = api.transition(&id, name).await;
                    let mut a = active[q as usize].lock().await;
                    a.retain(|t| t.0 != id);
                    if let (Ok(_), Some(next)) = (&done, next) {
                        a.push((id, next.to_owned()));
                    }
                    return done.map(|d| Some((d.seq, false)));
                }
            }
            let done = api.call_next(queue, &counter).await?;
            if let Some(id) = done.ticket["id"].as_str() {
                active[q as usize].lock().await.push((id.to_owned(), "called".into()));
            }
            Ok(Some((done.seq, true)))
        }
    }
}

/// Total committed transactions of the cluster, read with `psql`.
fn transactions(url: &str) -> anyhow::Result<i64> {
    let out = std::process::Command::new("psql")
        .args([url, "-Atqc", "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"])
        .output()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().context("psql answered no number")
}

/// Every customer's last view against the database's: status and position, read afterwards.
async fn check_truth(
    api: &Api,
    last: &[(String, String, Option<i64>, i64)],
    connected: usize,
) -> anyhow::Result<Value> {
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut handles = Vec::new();
    for (id, status, position, _) in last.iter().cloned() {
        let (api, permit) = (api.clone(), gate.clone().acquire_owned().await?);
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            let t = api.ticket(&id).await?;
            let agrees = t["status"].as_str() == Some(status.as_str()) && t["position"].as_i64() == position;
            anyhow::Ok((agrees, id, status, position, t))
        }));
    }
    let (mut agree, mut disagree) = (0, 0);
    let mut examples = Vec::new();
    for h in handles {
        let (ok, id, status, position, t) = h.await??;
        if ok {
            agree += 1;
        } else {
            disagree += 1;
            if examples.len() < 5 {
                examples
                    .push(json!({"ticket": id, "shown": [status, position], "database": [t["status"], t["position"]]}));
            }
        }
    }
    Ok(
        json!({"agree": agree, "disagree": disagree, "without_a_view": connected.saturating_sub(last.len()), "examples": examples}),
    )
}

/// A staff and a display socket per queue, checking that events come once each, in order.
struct Watchers {
    tasks: Vec<tokio::task::JoinHandle<(u64, u64, u64)>>,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn open_watchers(api: &Api, nodes: &[Api], queues: &[String]) -> anyhow::Result<Watchers> {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for (i, q) in queues.iter().enumerate() {
        let node = &nodes[i % nodes.len()];
        let pass = api.socket_pass().await?;
        let staff = format!("{}/ws/queues/{q}?pass={pass}", node.ws_base());
        let key = api.display_key(q).await?;
        let display = format!("{}/ws/queues/{q}/display?key={key}", node.ws_base());
        let origin = node.base.clone();
        for (url, is_staff) in [(staff, true), (display, false)] {
            let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str())?;
            req.headers_mut().insert("Origin", origin.parse()?);
            let (ws, _) = tokio_tungstenite::connect_async(req).await.with_context(|| format!("opening {url}"))?;
            let mut stop = rx.clone();
            tasks.push(tokio::spawn(async move {
                let (mut ws, mut last, mut gaps, mut repeats) = (ws, None::<i64>, 0u64, 0u64);
                loop {
                    let msg = tokio::select! { _ = stop.changed() => break, m = ws.next() => m };
                    let Some(Ok(Message::Text(t))) = msg else {
                        if matches!(msg, Some(Ok(_))) {
                            continue;
                        } else {
                            break;
                        }
                    };
                    let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                    let seq = v["seq"].as_i64().or(v["event"]["seq"].as_i64());
                    let Some(seq) = seq else { continue };
                    if let Some(l) = last {
                        if is_staff && v["type"] == "event" && seq != l + 1 {
                            if seq <= l {
                                repeats += 1
                            } else {
                                gaps += 1
                            }
                        }
                        if !is_staff && seq < l {
                            repeats += 1;
                        }
                    }
                    last = Some(seq);
                }
                (if is_staff { 1 } else { 0 }, gaps, repeats)
            }));
        }
    }
    Ok(Watchers { tasks, stop })
}

impl Watchers {
    async fn finish(self) -> Value {
        self.stop.send(true).ok();
        let (mut staff, mut gaps, mut repeats, mut displays) = (0, 0, 0, 0);
        for t in self.tasks {
            if let Ok((s, g, r)) = t.await {
                staff += s;
                displays += 1 - s;
                gaps += g;
                repeats += r;
            }
        }
        json!({"staff_sockets": staff, "display_sockets": displays, "gaps": gaps, "repeats": repeats})
    }
}
