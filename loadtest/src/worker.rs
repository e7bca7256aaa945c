//! Client sockets: a worker opens customer sockets (in this process or in a child process, so
//! that no process holds more than the machine's 20,000 open files), records when each frame
//! arrives, and reports latencies and what every customer was last shown.
//!
//! The coordinator talks to a worker with [`Cmd`]s and gets [`Reply`]s: over channels in process,
//! or one JSON line each over the child's stdin and stdout.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// Microseconds since the Unix epoch: one clock for every process on this machine.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64
}

/// What a worker is to do.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct Spec {
    /// Source address of its connections (127.0.0.x), so that several workers do not share one
    /// address's ephemeral ports.
    pub source: Option<Ipv4Addr>,
    pub sockets: Vec<Target>,
    /// Sockets opened and then never read.
    pub slow: Vec<String>,
    /// Handshakes in flight at once.
    pub connect_concurrency: usize,
    /// The run's start (µs since the epoch): latencies are bucketed by second from it.
    pub epoch_us: u64,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct Target {
    pub url: String,
    pub ticket: String,
    pub queue: u32,
}

/// A staff action the coordinator made: the event it produced, and when the request was sent.
#[derive(Serialize, Deserialize, Clone, Copy)]
pub struct Sent {
    pub queue: u32,
    pub seq: i64,
    pub at_us: u64,
    /// When its answer came (µs since the epoch): the write's share of a delivery's latency.
    #[serde(default)]
    pub answered_us: u64,
    /// A call-next: every customer waiting in that queue must get a frame with this seq.
    pub call: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Cmd {
    /// Close every socket at once (no close handshake).
    Drop,
    /// Reopen them all with `since=` their last seq.
    Reconnect,
    /// Stop and report, given every action's send time.
    Finish { sent: Vec<Sent> },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Every socket has connected (or failed) and shown its first frame (or timed out).
    Ready {
        connected: usize,
        failed: usize,
    },
    Dropped,
    Report(Box<Report>),
}

/// One worker's results.
#[derive(Serialize, Deserialize, Default)]
pub struct Report {
    pub frames: u64,
    /// A few duplicates, to look into: (ticket, seq before, seq, waiting before, waiting).
    pub duplicate_examples: Vec<(String, i64, i64, bool, bool)>,
    /// Frames whose seq matched an action of the coordinator (they have a latency).
    pub matched: u64,
    /// Latency histogram (µs) as (value, count) pairs.
    pub latency: Vec<(u64, u64)>,
    /// Per second of the run (by send time): (deliveries, sum of µs, max µs).
    pub per_second: Vec<(u64, u64, u64)>,
    /// Frames not newer than the one before on the same connection.
    pub duplicates: u64,
    /// Call-nexts a waiting customer never heard about (their last view is older).
    pub missed: u64,
    /// Calls a customer learned of from a later frame (their view was computed after several
    /// calls, so one frame carried them all): delivered, and timed, by that frame.
    pub coalesced: u64,
    /// When the last delivery arrived (µs since the epoch).
    pub last_delivery_us: u64,
    /// Close codes sent by the server, counted.
    pub closed: Vec<(u16, u64)>,
    /// Each ticket's last view: (ticket, status, position, seq).
    pub last: Vec<(String, String, Option<i64>, i64)>,
}

#[derive(Deserialize)]
struct Frame {
    ticket: Option<TicketFrame>,
}

#[derive(Deserialize)]
struct TicketFrame {
    seq: i64,
    status: String,
    position: Option<i64>,
}

/// What one customer socket saw.
#[derive(Default)]
struct Log {
    /// (seq, arrival µs, waiting, resumed: the first frame of a new connection).
    frames: Vec<(i64, u64, bool, bool)>,
    /// The next frame is the first of a connection: the ticket as it is, not a delivery.
    last: Option<(String, Option<i64>, i64)>,
    closed: Option<u16>,
    fresh: bool,
}

/// The handle the coordinator holds.
pub struct Handle {
    pub tx: mpsc::Sender<Cmd>,
    pub rx: mpsc::Receiver<Reply>,
    pub child: Option<tokio::process::Child>,
}

impl Handle {
    /// A worker in this process.
    pub fn local(spec: Spec) -> Handle {
        let (tx, cmds) = mpsc::channel(4);
        let (replies, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            if let Err(e) = run(spec, cmds, replies).await {
                eprintln!("worker: {e:#}");
            }
        });
        Handle { tx, rx, child: None }
    }

    /// A worker in a child process (`loadtest worker`), with the spec as its first stdin line.
    pub async fn spawn(spec: &Spec) -> anyhow::Result<Handle> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("worker")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a worker process")?;
        let mut stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let mut first = serde_json::to_vec(spec)?;
        first.push(b'\n');
        stdin.write_all(&first).await?;
        let (tx, mut cmds) = mpsc::channel::<Cmd>(4);
        let (replies, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(cmd) = cmds.recv().await {
                let mut line = serde_json::to_vec(&cmd).expect("a command serializes");
                line.push(b'\n');
                if stdin.write_all(&line).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Reply>(&line) {
                    Ok(reply) => {
                        if replies.send(reply).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("worker said something unreadable: {e}"),
                }
            }
        });
        Ok(Handle { tx, rx, child: Some(child) })
    }

    pub async fn ask(&mut self, cmd: Cmd) -> anyhow::Result<Reply> {
        self.tx.send(cmd).await.context("the worker is gone")?;
        self.rx.recv().await.context("the worker ended without answering")
    }

    pub async fn ready(&mut self) -> anyhow::Result<Reply> {
        self.rx.recv().await.context("the worker ended before it was ready")
    }
}

/// `loadtest worker`: the spec on the first stdin line, then commands; replies on stdout.
pub async fn main() -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let spec: Spec = serde_json::from_str(&lines.next_line().await?.context("no spec")?)?;
    let (tx, cmds) = mpsc::channel(4);
    let (replies, mut rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Cmd>(&line) {
                Ok(cmd) => {
                    if tx.send(cmd).await.is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("worker: unreadable command: {e}"),
            }
        }
    });
    let runner = tokio::spawn(run(spec, cmds, replies));
    let mut out = tokio::io::stdout();
    while let Some(reply) = rx.recv().await {
        let mut line = serde_json::to_vec(&reply)?;
        line.push(b'\n');
        out.write_all(&line).await?;
        out.flush().await?;
    }
    runner.await??;
    // tokio's stdin reads on a blocking thread that the runtime would wait for at shutdown.
    std::process::exit(0)
}

/// Frames here are a few hundred bytes: tungstenite's default 128 KiB buffers per socket would
/// make tens of thousands of sockets cost gigabytes, on either side.
pub fn small_buffers() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn connect(url: &str, source: Option<Ipv4Addr>) -> anyhow::Result<Ws> {
    let parsed = reqwest::Url::parse(url)?;
    let host = parsed.host_str().context("no host")?;
    let port = parsed.port_or_known_default().context("no port")?;
    let addr: SocketAddr = format!("{host}:{port}").parse().context("a loopback address, not a name")?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    if let Some(ip) = source {
        port_at_connect(&socket)?;
        socket.bind(SocketAddr::new(ip.into(), 0))?;
    }
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(addr)).await??;
    stream.set_nodelay(true)?;
    let handshake = tokio_tungstenite::client_async_with_config(url, stream, Some(small_buffers()));
    let (ws, _) = tokio::time::timeout(Duration::from_secs(10), handshake).await??;
    Ok(ws)
}

/// Has the kernel choose the source port at `connect`, by the whole address pair, instead of at
/// `bind`: `bind(ip, 0)` looks for a port free towards any destination, a search that grows with
/// every socket in use and in TIME_WAIT. With 10,000 sockets just dropped, the reconnect storm's
/// binds took both cores for seconds (`perf`: `inet_csk_get_port`), so the storm measured the
/// load generator's kernel rather than the server.
fn port_at_connect(socket: &tokio::net::TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is the open socket's, and the option's value is a c_int of that size.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reads one customer socket until told to stop or closed; returns its log.
async fn read(
    mut ws: Ws,
    mut log: Log,
    mut stop: watch::Receiver<bool>,
    first: Option<tokio::sync::OwnedSemaphorePermit>,
    shown: Arc<AtomicUsize>,
) -> Log {
    let mut first = first;
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => msg,
        };
        let at = now_us();
        match msg {
            Some(Ok(Message::Text(text))) => {
                let Ok(Frame { ticket: Some(t) }) = serde_json::from_str::<Frame>(&text) else { continue };
                let waiting = t.status == "waiting";
                log.frames.push((t.seq, at, waiting, std::mem::take(&mut log.fresh)));
                log.last = Some((t.status, t.position, t.seq));
                if first.take().is_some() {
                    shown.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                log.closed = Some(frame.map(|f| u16::from(f.code)).unwrap_or(u16::from(CloseCode::Status)));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                log.closed.get_or_insert(1006);
                break;
            }
        }
    }
    log
}

async fn run(spec: Spec, mut cmds: mpsc::Receiver<Cmd>, replies: mpsc::Sender<Reply>) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut logs: Vec<Log> = spec.sockets.iter().map(|_| Log::default()).collect();
    let (mut tasks, ready) = open_all(&spec, &mut logs, &stop_rx, false).await;
    // Never read: held open (the kernel buffers fill, then the server must deal with them).
    let mut slow = Vec::new();
    for url in &spec.slow {
        if let Ok(ws) = connect(url, spec.source).await {
            slow.push(ws);
        }
    }
    replies.send(ready).await.ok();
    let mut stop_tx = stop_tx;
    let mut stop_rx = stop_rx;
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            Cmd::Drop => {
                stop_tx.send(true).ok();
                for (i, task) in tasks.drain(..).enumerate() {
                    if let Some(task) = task {
                        logs[i] = task.await.unwrap_or_default();
                    }
                }
                (stop_tx, stop_rx) = watch::channel(false);
                replies.send(Reply::Dropped).await.ok();
            }
            Cmd::Reconnect => {
                let (t, ready) = open_all(&spec, &mut logs, &stop_rx, true).await;
                tasks = t;
                replies.send(ready).await.ok();
            }
            Cmd::Finish { sent } => {
                stop_tx.send(true).ok();
                for (i, task) in tasks.drain(..).enumerate() {
                    if let Some(task) = task {
                        logs[i] = task.await.unwrap_or_default();
                    }
                }
                drop(slow);
                let report = summarize(&spec, &logs, &sent);
                replies.send(Reply::Report(Box::new(report))).await.ok();
                return Ok(());
            }
        }
    }
    Ok(())
}

type Task = Option<tokio::task::JoinHandle<Log>>;

/// Connects every socket (`resume`: with `since=` its last seq), at most `connect_concurrency`
/// handshakes at once, and waits (at most 60 s) until each has shown its first frame.
async fn open_all(spec: &Spec, logs: &mut [Log], stop: &watch::Receiver<bool>, resume: bool) -> (Vec<Task>, Reply) {
    let gate = Arc::new(Semaphore::new(spec.connect_concurrency.max(1)));
    let shown = Arc::new(AtomicUsize::new(0));
    let mut connecting = Vec::with_capacity(logs.len());
    for (i, target) in spec.sockets.iter().enumerate() {
        let mut url = target.url.clone();
        if resume {
            if let Some((_, _, seq)) = &logs[i].last {
                let sep = if url.contains('?') { '&' } else { '?' };
                url = format!("{url}{sep}since={seq}");
            }
        }
        let permit = gate.clone().acquire_owned().await.expect("the gate stays open");
        let (source, stop, shown) = (spec.source, stop.clone(), shown.clone());
        let mut log = std::mem::take(&mut logs[i]);
        log.fresh = true;
        connecting.push(tokio::spawn(async move {
            match connect(&url, source).await {
                Ok(ws) => Ok(tokio::spawn(read(ws, log, stop, Some(permit), shown))),
                Err(e) => Err((log, e)),
            }
        }));
    }
    let mut tasks = Vec::with_capacity(logs.len());
    let mut failed = 0;
    for (i, c) in connecting.into_iter().enumerate() {
        match c.await {
            Ok(Ok(task)) => tasks.push(Some(task)),
            Ok(Err((log, e))) => {
                if failed < 3 {
                    eprintln!("worker: connect failed: {e:#}");
                }
                failed += 1;
                logs[i] = log;
                tasks.push(None);
            }
            Err(_) => {
                failed += 1;
                tasks.push(None);
            }
        }
    }
    let connected = tasks.len() - failed;
    let deadline = Instant::now() + Duration::from_secs(60);
    while shown.load(Ordering::Relaxed) < connected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (tasks, Reply::Ready { connected, failed })
}

fn summarize(spec: &Spec, logs: &[Log], sent: &[Sent]) -> Report {
    let at: HashMap<(u32, i64), u64> = sent.iter().map(|s| ((s.queue, s.seq), s.at_us)).collect();
    let mut calls: HashMap<u32, Vec<i64>> = HashMap::new();
    for s in sent.iter().filter(|s| s.call) {
        calls.entry(s.queue).or_default().push(s.seq);
    }
    calls.values_mut().for_each(|v| v.sort_unstable());
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    let mut report = Report::default();
    for (target, log) in spec.sockets.iter().zip(logs) {
        if let Some(code) = log.closed {
            match report.closed.iter_mut().find(|c| c.0 == code) {
                Some(c) => c.1 += 1,
                None => report.closed.push((code, 1)),
            }
        }
        if let Some((status, position, seq)) = &log.last {
            report.last.push((target.ticket.clone(), status.clone(), *position, *seq));
        }
        report.frames += log.frames.len() as u64;
        let calls = calls.get(&target.queue).map(Vec::as_slice).unwrap_or(&[]);
        let mut record = |sent_at: u64, recv: u64| {
            let us = recv.saturating_sub(sent_at).max(1);
            hist.saturating_record(us);
            report.matched += 1;
            let second = (sent_at.saturating_sub(spec.epoch_us) / 1_000_000) as usize;
            if report.per_second.len() <= second {
                report.per_second.resize(second + 1, (0, 0, 0));
            }
            let b = &mut report.per_second[second];
            *b = (b.0 + 1, b.1 + us, b.2.max(us));
            report.last_delivery_us = report.last_delivery_us.max(recv);
        };
        let mut prev: Option<(i64, bool)> = None;
        for &(seq, recv, waiting, first) in &log.frames {
            let before = prev.replace((seq, waiting));
            if first {
                // The ticket as it is when a connection opens: not a delivery, but never older
                // than what the customer saw before.
                report.duplicates += before.is_some_and(|(p, _)| seq < p) as u64;
                continue;
            }
            let Some((p, was_waiting)) = before else { continue };
            if seq <= p {
                report.duplicates += 1;
                if report.duplicate_examples.len() < 3 {
                    report.duplicate_examples.push((target.ticket.clone(), p, seq, was_waiting, waiting));
                }
                continue;
            }
            // A frame shows the ticket as of its seq: a waiting customer learns of every call
            // since their last frame from it (a view computed after several calls carries them
            // all, and is sent once), so each of those calls is delivered now.
            let mut own = at.get(&(target.queue, seq)).copied();
            if was_waiting {
                for c in &calls[calls.partition_point(|&c| c <= p)..calls.partition_point(|&c| c <= seq)] {
                    record(at[&(target.queue, *c)], recv);
                    if *c == seq {
                        own = None;
                    } else {
                        report.coalesced += 1;
                    }
                }
            }
            if let Some(sent_at) = own {
                record(sent_at, recv);
            }
        }
        // Still waiting at the end, on an open connection: any later call never reached them.
        if let (Some(&(seq, _, true, _)), None) = (log.frames.last(), log.closed) {
            report.missed += (calls.len() - calls.partition_point(|&c| c <= seq)) as u64;
        }
    }
    report.latency = hist.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
    report
}
