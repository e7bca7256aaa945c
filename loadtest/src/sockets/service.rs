//! Where the customers are and how staff reach them: the run's set-up, a staff action, and the
//! checks that read the service back (watcher sockets, the database's view of each ticket).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use super::Run;
use crate::api::{Api, Failed};
use crate::fill::{fill, Reservoir};
use crate::worker::Target;

/// Where the customers are and how staff reach them (one per run).
#[allow(clippy::large_enum_variant)]
pub(super) enum Service {
    Queuecast { api: Api, nodes: Vec<Api>, queues: Vec<String> },
    Floor { _server: FloorServer, staff: Mutex<FloorStaff> },
}

/// The floor server lives as long as this: a child process (killed on drop) or a task.
pub(super) enum FloorServer {
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
pub(super) type Active = Vec<(String, String)>;

/// What the set-up made: the service, where each socket goes, and whose memory and CPU to read.
pub(super) struct Setup {
    pub(super) service: Service,
    /// One per customer.
    pub(super) targets: Vec<Target>,
    /// The URLs of the sockets that never read.
    pub(super) slow: Vec<String>,
    /// The server processes, for /proc.
    pub(super) pids: Vec<u32>,
}

impl Run<'_> {
    /// Starts the floor server and connects its staff socket; customer `i` is ticket `i`.
    pub(super) async fn set_up_floor(&self) -> anyhow::Result<Setup> {
        let args = self.args;
        let mut pids = args.server_pid.clone();
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
        let targets = (0..args.customers)
            .map(|i| {
                let q = (i % args.queues as usize) as u32;
                Target { url: format!("ws://{addr}/q/{q}"), ticket: i.to_string(), queue: q }
            })
            .collect();
        let slow = (0..args.slow).map(|i| format!("ws://{addr}/q/{}", i % args.queues as usize)).collect();
        let (staff, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/staff")).await?;
        Ok(Setup { service: Service::Floor { _server: server, staff: Mutex::new(staff) }, targets, slow, pids })
    }

    /// Signs in, creates the run's queues and joins the customers over REST, spread over the
    /// nodes.
    pub(super) async fn set_up_queuecast(&self) -> anyhow::Result<Setup> {
        let args = self.args;
        let api = Api::login(self.http.clone(), &args.url[0], &args.who).await?;
        let nodes = args.url.iter().map(|u| api.on(u)).collect::<anyhow::Result<Vec<_>>>()?;
        let run = self.epoch / 1000;
        let mut queues = Vec::new();
        for i in 0..args.queues {
            queues.push(api.create_queue(&format!("load-{run}-{i}")).await?);
        }
        if args.depth > 0 {
            for q in &queues {
                let none = Arc::new(std::sync::Mutex::new(Reservoir::new(0)));
                let progress = (!args.quiet).then_some(self.label);
                let filled = fill(&api, q, args.depth, 256, none, progress).await?;
                self.say(format!(
                    "{} tickets put in line ahead of the customers in {:.1} s",
                    filled.joined, filled.seconds
                ));
            }
        }
        let started = Instant::now();
        let joined = join_all(&api, &queues, args.customers).await?;
        self.say(format!("{} customers joined over REST in {:.1} s", joined.len(), started.elapsed().as_secs_f64()));
        let url = |i: usize, id: &str, token: &str| {
            format!("{}/ws/tickets/{id}?token={token}", nodes[i % nodes.len()].ws_base())
        };
        let mut targets = Vec::with_capacity(args.customers);
        for (i, (queue, id, token)) in joined.into_iter().enumerate() {
            targets.push(Target { url: url(i, &id, &token), ticket: id, queue });
        }
        let mut slow = Vec::new();
        if args.slow > 0 {
            for (i, (_, id, token)) in join_all(&api, &queues, args.slow).await?.into_iter().enumerate() {
                slow.push(url(i, &id, &token));
            }
        }
        let service = Service::Queuecast { api, nodes, queues };
        Ok(Setup { service, targets, slow, pids: args.server_pid.clone() })
    }
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

impl Service {
    /// One staff action on queue `q`: its seq and whether it was a call-next. `roll` in [0, 1)
    /// picks a mixed action (0: call next).
    pub(super) async fn act(&self, q: u32, roll: f64, active: &[Mutex<Active>]) -> Result<Option<(i64, bool)>, Failed> {
        match self {
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

    /// A staff and a display socket per queue (Queuecast; the floor has none).
    pub(super) async fn watch(&self) -> anyhow::Result<Option<Watchers>> {
        match self {
            Service::Queuecast { api, nodes, queues } => Ok(Some(open_watchers(api, nodes, queues).await?)),
            Service::Floor { .. } => Ok(None),
        }
    }

    /// Every customer's last view against the database's (Queuecast; the floor keeps none).
    pub(super) async fn truth(
        &self,
        last: &[(String, String, Option<i64>, i64)],
        connected: usize,
    ) -> anyhow::Result<Option<Value>> {
        match self {
            Service::Queuecast { api, .. } => Ok(Some(check_truth(api, last, connected).await?)),
            Service::Floor { .. } => Ok(None),
        }
    }
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
pub(super) struct Watchers {
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
    /// Stops the sockets: how many there were, and the gaps and repeats they saw.
    pub(super) async fn finish(self) -> Value {
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
