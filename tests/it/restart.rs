//! PostgreSQL itself restarts (`pg_ctl restart -m immediate`: a crash and recovery) while writers
//! and sockets run: no acknowledged change is lost, writes come back, and every client's history
//! stays whole.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{spawn_app_at, TestApp, Ws, WsEvent};
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;

/// A PostgreSQL cluster of the test's own (initdb into a temporary directory, loopback only,
/// trust authentication), so it can be restarted without touching the shared one. Stopped and
/// removed on drop.
struct PrivatePg {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

/// The newest PostgreSQL's binaries (Debian keeps them under /usr/lib/postgresql/<version>/bin).
fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| d.ok()).map(|d| d.path().join("bin")).filter(|b| b.join("pg_ctl").exists()).collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|b| b.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    found.pop().expect("PostgreSQL's binaries are not under /usr/lib/postgresql (install postgresql)")
}

/// initdb and pg_ctl refuse root: as root, they run as `postgres`.
fn as_postgres(program: &Path) -> Command {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

#[track_caller]
fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PrivatePg {
    fn start() -> PrivatePg {
        let bin = pg_bin();
        let dir = std::env::temp_dir().join(format!("qc-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let postgres = Command::new("id").args(["-u", "postgres"]).output().ok().filter(|o| o.status.success());
        if let Some(uid) = postgres.and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<u32>().ok()) {
            std::os::unix::fs::chown(&dir, Some(uid), None).unwrap();
        }
        std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&dir).unwrap().permissions(), 0o700);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = PrivatePg { dir, bin, port };
        let mut initdb = as_postgres(&pg.bin.join("initdb"));
        initdb.arg("-D").arg(&pg.dir).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        let mut start = pg.pg_ctl();
        start.args(["-w", "-t", "60", "start", "-o"]).arg(format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=100 -c fsync=on -c synchronous_commit=on",
            pg.port,
            pg.dir.display()
        ));
        run(start, "starting the private PostgreSQL");
        pg
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = as_postgres(&self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(&self.dir).arg("-l").arg(self.dir.join("server.log"));
        cmd
    }

    /// The server's URL, without database name.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Crashes the server (no checkpoint, no goodbye to clients) and starts it again: it
    /// recovers from its write-ahead log.
    fn restart_command(&self) -> Command {
        let mut restart = self.pg_ctl();
        restart.args(["-w", "-t", "60", "restart", "-m", "immediate"]);
        restart
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let mut stop = self.pg_ctl();
        stop.args(["-w", "-t", "30", "stop", "-m", "immediate"]);
        let _ = stop.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the writers were told: the joins and calls answered 2xx.
#[derive(Default)]
struct Acked {
    /// (ticket id, seq of its `ticket.joined` event)
    joins: Vec<(String, i64)>,
    /// Ticket ids answered by call-next.
    calls: Vec<String>,
    /// When each acknowledgement came.
    at: Vec<Instant>,
    unavailable: u32,
}

/// Only these may answer while the database is away: success, 503 `unavailable`, and for
/// call-next an empty line.
#[track_caller]
fn allowed(reply: &common::Reply, ok: u16) -> bool {
    if reply.status.as_u16() == ok {
        return true;
    }
    let code = reply.code();
    assert!(
        (reply.status == 503 && code == "unavailable") || (reply.status == 409 && code == "queue_empty"),
        "answered {} {:?} while the database went away",
        reply.status,
        reply.body
    );
    false
}

/// A staff console's history: every seq it was shown, and whether each came after a snapshot.
struct Console {
    ws: Ws,
    last: i64,
    seen: Vec<i64>,
    reconnects: u32,
}

impl Console {
    async fn open(app: &TestApp, since: Option<i64>) -> Option<Ws> {
        let reply = app.post("/api/v1/socket-passes", Some(&app.admin), json!({})).await;
        let pass = reply.body["pass"].as_str()?.to_owned();
        let since = since.map(|s| format!("&since={s}")).unwrap_or_default();
        app.try_ws(&format!("/ws/queues/{}?pass={pass}{since}", app.queue), None).await.ok()
    }

    /// Takes what the socket sends for up to `within`; reconnects with `since=` if it closed.
    async fn read(&mut self, app: &TestApp, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(got) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match got {
                WsEvent::Json(m) if m["type"] == "snapshot" => {
                    self.last = m["seq"].as_i64().unwrap();
                }
                WsEvent::Json(m) if m["type"] == "event" => {
                    let seq = m["event"]["seq"].as_i64().unwrap();
                    assert!(seq > self.last, "seq {seq} after {}: a repeat or out of order", self.last);
                    assert_eq!(seq, self.last + 1, "a gap after {} without a snapshot", self.last);
                    self.last = seq;
                    self.seen.push(seq);
                }
                WsEvent::Json(m) => panic!("unexpected message {m}"),
                WsEvent::Closed(code) => {
                    assert_ne!(code, 0, "the console hung");
                    assert!(self.reconnects < 20, "the console was closed {} times", self.reconnects);
                    self.reconnects += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if let Some(ws) = Console::open(app, Some(self.last)).await {
                        self.ws = ws;
                    }
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_run_loses_no_acknowledged_change() {
    let pg = PrivatePg::start();
    let app = spawn_app_at(&pg.url(), |_| {}).await;
    let mut console = Console { ws: app.staff_socket(app.queue, None).await, last: -1, seen: vec![], reconnects: 0 };
    console.read(&app, Duration::from_millis(300)).await;
    assert_eq!(console.last, 0, "the console starts from an empty line's snapshot");
    let mut customers = Vec::new();
    for _ in 0..3 {
        let (ticket, token) = app.joined(app.queue).await;
        let path = format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap());
        customers.push((ticket["id"].as_str().unwrap().to_owned(), path.clone(), app.ws(&path).await));
    }

    let acked = Mutex::new(Acked::default());
    let stop = AtomicBool::new(false);
    let restarted = Mutex::new(None::<Instant>);
    let joiner = || async {
        // Bounded: until told to stop, at most 3,000 joins each.
        for _ in 0..3000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let reply = app.join(app.queue, json!({"name": "Writer"})).await;
            let mut acked = acked.lock().unwrap();
            if allowed(&reply, 201) {
                let t = &reply.body["ticket"];
                acked.joins.push((t["id"].as_str().unwrap().to_owned(), t["seq"].as_i64().unwrap()));
                acked.at.push(Instant::now());
            } else {
                acked.unavailable += 1;
            }
        }
    };
    let caller = async {
        for _ in 0..3000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let reply = app.call_next(&app.admin, app.queue, "Desk 1").await;
            if allowed(&reply, 200) {
                let mut acked = acked.lock().unwrap();
                acked.calls.push(reply.body["id"].as_str().unwrap().to_owned());
                acked.at.push(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let fault = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let started = Instant::now();
        // pg_ctl blocks: it runs on a thread of its own while the writers go on.
        let restart = pg.restart_command();
        tokio::task::spawn_blocking(move || run(restart, "restarting the private PostgreSQL")).await.unwrap();
        let done = Instant::now();
        println!("PostgreSQL restarted in {:?}", done - started);
        *restarted.lock().unwrap() = Some(started);
        // Writes must come back: an acknowledgement after the restart, within 30 s.
        let back = loop {
            let last = acked.lock().unwrap().at.last().copied();
            if let Some(at) = last.filter(|at| *at > done) {
                break at;
            }
            let waited = done.elapsed();
            assert!(waited < Duration::from_secs(30), "no write was acknowledged for {waited:?} after the restart");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        println!("writes were acknowledged again {:?} after the restart began", back - started);
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::Relaxed);
    };
    let watch = async {
        while !stop.load(Ordering::Relaxed) {
            console.read(&app, Duration::from_millis(500)).await;
        }
    };
    tokio::join!(joiner(), joiner(), caller, fault, watch);
    let acked = acked.into_inner().unwrap();
    let restarted = restarted.into_inner().unwrap().expect("the restart happened");
    let before = acked.at.iter().filter(|at| **at < restarted).count();
    println!(
        "{} joins and {} calls acknowledged ({before} before the restart), {} answered 503",
        acked.joins.len(),
        acked.calls.len(),
        acked.unavailable
    );
    assert!(before > 0 && acked.at.len() > before, "writes ran on both sides of the restart");

    // Every acknowledged change is in the database and in the event log, at the seq it was given.
    let events = app.all_events(&app.admin, app.queue).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "the event log has gaps or repeats");
    let of = |kind: &str| -> std::collections::HashMap<String, i64> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| (e["ticket"]["id"].as_str().unwrap().to_owned(), e["seq"].as_i64().unwrap()))
            .collect()
    };
    let (joined, called) = (of("ticket.joined"), of("ticket.called"));
    for (id, seq) in &acked.joins {
        assert_eq!(joined.get(id), Some(seq), "acknowledged join {id} (seq {seq}) is not in the log");
    }
    for id in &acked.calls {
        assert!(called.contains_key(id), "acknowledged call of {id} is not in the log");
    }
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let ids: Vec<Uuid> = acked.joins.iter().map(|(id, _)| id.parse().unwrap()).collect();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(stored, ids.len() as i64, "acknowledged tickets missing from the database");
    let calls: Vec<Uuid> = acked.calls.iter().map(|id| id.parse().unwrap()).collect();
    let still_waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tickets WHERE id = ANY($1) AND status = 'waiting'")
            .bind(&calls)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(still_waiting, 0, "an acknowledged call was undone");

    // The console catches up to the log's end, every seq once and in order.
    let last = *seqs.last().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while console.last < last && Instant::now() < deadline {
        console.read(&app, Duration::from_millis(500)).await;
    }
    assert_eq!(console.last, last, "the console stopped at {} of {last}", console.last);
    println!("the console saw {} events with {} reconnects", console.seen.len(), console.reconnects);

    // Each customer ends on what the database says of their ticket.
    for (id, path, mut ws) in customers {
        let mut shown: Option<Value> = None;
        for _ in 0..200 {
            match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
                Ok(WsEvent::Json(m)) => shown = Some(m["ticket"].clone()),
                Ok(WsEvent::Closed(code)) => {
                    assert_ne!(code, 0, "a customer's socket hung");
                    ws = app.ws(&path).await;
                }
                Err(_quiet) => break,
            }
        }
        let shown = shown.expect("the customer was shown their ticket");
        let now = app.get(&format!("/api/v1/tickets/{id}"), Some(&app.admin)).await.expect(200);
        assert_eq!(
            (&shown["status"], &shown["position"]),
            (&now["status"], &now["position"]),
            "customer {id} shows {shown} but the database has {now}"
        );
    }
}

/// The server's own database connections are killed (`pg_terminate_backend`), again and again,
/// in the middle of its queries, while writers join: each answer is a 2xx or a 503
/// `unavailable` (never a 500), and every acknowledged join is in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_servers_database_connections_mid_query_answers_503_never_500() {
    let app = common::spawn_app().await;
    let mut admin = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let acked = Mutex::new(Acked::default());
    let stop = AtomicBool::new(false);
    let joiner = || async {
        for _ in 0..3000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let reply = app.join(app.queue, json!({})).await;
            let mut acked = acked.lock().unwrap();
            if allowed(&reply, 201) {
                let t = &reply.body["ticket"];
                acked.joins.push((t["id"].as_str().unwrap().to_owned(), t["seq"].as_i64().unwrap()));
            } else {
                acked.unavailable += 1;
            }
        }
    };
    let reader = async {
        for _ in 0..3000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let reply =
                app.get(&format!("/api/v1/queues/{}/events?after=0&limit=5", app.queue), Some(&app.admin)).await;
            allowed(&reply, 200);
        }
    };
    let killer = async {
        // Sixty connections, however many rounds that takes (a round finds none while the pool
        // reconnects), within a bound.
        let (mut killed, deadline) = (0, tokio::time::Instant::now() + Duration::from_secs(30));
        while killed < 60 && tokio::time::Instant::now() < deadline {
            killed += sqlx::query_scalar::<_, i64>(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'queuecast' AND pid <> pg_backend_pid()",
            )
            .fetch_one(&mut admin)
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.store(true, Ordering::Relaxed);
        killed
    };
    let (_, _, _, killed) = tokio::join!(joiner(), joiner(), reader, killer);
    let acked = acked.into_inner().unwrap();
    println!(
        "{killed} connections killed; {} joins acknowledged, {} answered 503",
        acked.joins.len(),
        acked.unavailable
    );
    assert!(killed >= 60, "only {killed} connections were killed");
    // The last round may have killed a connection the next request is the first to use (it
    // answers 503, as allowed): the log is read once the server answers again.
    let events = format!("/api/v1/queues/{}/events?after=0&limit=1", app.queue);
    for _ in 0..50 {
        if app.get(&events, Some(&app.admin)).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let joined: std::collections::HashMap<String, i64> = app
        .all_events(&app.admin, app.queue)
        .await
        .iter()
        .filter(|e| e["kind"] == "ticket.joined")
        .map(|e| (e["ticket"]["id"].as_str().unwrap().to_owned(), e["seq"].as_i64().unwrap()))
        .collect();
    for (id, seq) in &acked.joins {
        assert_eq!(joined.get(id), Some(seq), "acknowledged join {id} (seq {seq}) is not in the log");
    }
}
