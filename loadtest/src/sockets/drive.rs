//! What a run does to the service once it is set up: open the customers' sockets, hold them
//! idle, have staff act at a fixed rate, and storm (every customer reconnects at once).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::service::{Active, Service};
use super::{round, Actions, Run};
use crate::api::Failed;
use crate::procstat::{self, Sample};
use crate::worker::{self, now_us, Cmd, Reply, Sent, Spec, Target};

/// The customer sockets' handshakes.
pub(super) struct Opened {
    pub(super) connected: usize,
    pub(super) failed: usize,
    /// Until every socket had connected (or failed) and shown its ticket.
    pub(super) seconds: f64,
}

/// What staff did.
pub(super) struct Acted {
    /// The actions the service acknowledged, each with the time it was sent.
    pub(super) sent: Vec<Sent>,
    pub(super) refused: u64,
    pub(super) errors: u64,
    /// From the first tick to the last action's answer.
    pub(super) seconds: f64,
}

/// What the action tasks share: the acknowledged actions, and counts of those that were not.
#[derive(Default)]
struct Tally {
    sent: Mutex<Vec<Sent>>,
    errors: AtomicU64,
    refused: AtomicU64,
}

impl Tally {
    /// Records one action sent at `at_us` and answered now; prints the first few errors (even with `--quiet`).
    async fn record(&self, q: u32, at_us: u64, outcome: Result<Option<(i64, bool)>, Failed>, label: &str) {
        let answered_us = now_us();
        match outcome {
            Ok(Some((seq, call))) => self.sent.lock().await.push(Sent { queue: q, seq, at_us, answered_us, call }),
            Ok(None) => {}
            Err(Failed::Refused(_)) => {
                self.refused.fetch_add(1, Relaxed);
            }
            Err(Failed::Error(e)) => {
                if self.errors.fetch_add(1, Relaxed) < 3 {
                    eprintln!("[{label}] action failed: {e}");
                }
            }
        }
    }
}

impl Run<'_> {
    /// Opens the customer sockets, spread over workers, and waits until each shows its ticket.
    pub(super) async fn open_sockets(
        &self,
        targets: &[Target],
        slow: &[String],
    ) -> anyhow::Result<(Vec<worker::Handle>, Opened)> {
        let args = self.args;
        let procs = args.procs.max(1);
        let mut specs: Vec<Spec> = (0..procs)
            .map(|p| Spec {
                source: args.spread_sources.then(|| Ipv4Addr::new(127, 0, 0, 2 + p as u8)),
                connect_concurrency: args.connect_concurrency,
                epoch_us: self.epoch,
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
            workers.push(if args.procs == 0 {
                worker::Handle::local(spec)
            } else {
                worker::Handle::spawn(&spec).await?
            });
        }
        let (mut connected, mut failed) = (0, 0);
        for w in &mut workers {
            if let Reply::Ready { connected: c, failed: f, .. } = w.ready().await? {
                connected += c;
                failed += f;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        self.say(format!("{connected} sockets open and showing their ticket in {seconds:.1} s ({failed} failed)"));
        Ok((workers, Opened { connected, failed, seconds }))
    }

    /// Holds the sockets idle for `--idle` seconds: the server's CPU over them, in cores.
    pub(super) async fn hold_idle(&self, pids: &[u32], connected: usize, open: Sample) -> Option<f64> {
        let idle = self.args.idle;
        if idle == 0 {
            return None;
        }
        self.say(format!("holding {connected} sockets idle for {idle} s"));
        tokio::time::sleep(Duration::from_secs(idle)).await;
        let after = procstat::sample(pids);
        Some((after.cpu - open.cpu) / idle as f64)
    }

    /// Staff act at `--rate` for `--seconds` (not at all with rate 0).
    pub(super) async fn drive_staff(&self, service: &Arc<Service>) -> anyhow::Result<Acted> {
        let tally = Arc::new(Tally::default());
        let started = Instant::now();
        if self.args.rate > 0.0 {
            self.act_at_rate(service, &tally, started).await?;
        }
        let seconds = started.elapsed().as_secs_f64();
        // Every action task has ended: the lock is free and the counts are final.
        let sent = std::mem::take(&mut *tally.sent.lock().await);
        Ok(Acted { sent, refused: tally.refused.load(Relaxed), errors: tally.errors.load(Relaxed), seconds })
    }

    /// One action per tick, each in a task of its own (at most 256 in flight), until all are
    /// sent or 5 s after `--seconds`; then waits for their answers.
    async fn act_at_rate(&self, service: &Arc<Service>, tally: &Arc<Tally>, started: Instant) -> anyhow::Result<()> {
        let (args, label) = (self.args, self.label);
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
            if started.elapsed() > Duration::from_secs(args.seconds + 5) {
                break;
            }
            let permit = in_flight.clone().acquire_owned().await?;
            let q = (n % args.queues as u64) as u32;
            let roll: f64 = rng.random();
            let roll = if args.actions == Actions::Mixed { roll } else { 0.0 };
            let shared = (service.clone(), tally.clone(), active.clone());
            handles.push(tokio::spawn(async move {
                let _permit = permit;
                let (service, tally, active) = shared;
                let at = now_us();
                let outcome = service.act(q, roll, &active).await;
                tally.record(q, at, outcome, label).await;
            }));
            if !args.quiet && n > 0 && (n as f64 % (args.rate * 5.0).max(1.0)).abs() < 1.0 {
                eprintln!(
                    "[{label}] {:>4.0} s: {n} actions sent, {} errors",
                    started.elapsed().as_secs_f64(),
                    tally.errors.load(Relaxed)
                );
            }
        }
        for h in handles {
            h.await.ok();
        }
        Ok(())
    }

    /// Every customer drops and reconnects with `since=` at once: how long until all show their
    /// ticket again, and (with `--database-url`) how many transactions that cost.
    pub(super) async fn storm(&self, workers: &mut [worker::Handle], connected: usize) -> anyhow::Result<Value> {
        let database_url = self.args.database_url.as_deref();
        // PostgreSQL's backends report their counts up to 10 s late: let them settle around it.
        let settle = Duration::from_secs(11);
        if database_url.is_some() {
            tokio::time::sleep(settle).await;
        }
        let xacts = database_url.map(transactions);
        let started = Instant::now();
        for w in workers.iter_mut() {
            w.ask(Cmd::Drop).await?;
        }
        self.say(format!("{connected} sockets dropped; all reconnect with since= at once"));
        let rec = Instant::now();
        for w in workers.iter_mut() {
            w.tx.send(Cmd::Reconnect).await?;
        }
        let mut back = 0;
        for w in workers.iter_mut() {
            if let Reply::Ready { connected, .. } = w.ready().await? {
                back += connected;
            }
        }
        let converged = rec.elapsed().as_secs_f64();
        if database_url.is_some() {
            tokio::time::sleep(settle).await;
        }
        let used = match (xacts, database_url.map(transactions)) {
            (Some(Ok(a)), Some(Ok(b))) => json!(b - a),
            _ => Value::Null,
        };
        self.say(format!(
            "{back} sockets back, each showing its ticket, {converged:.2} s after the drop; transactions: {used}"
        ));
        Ok(json!({"reconnected": back, "seconds_to_all_shown": round(converged, 3),
            "transactions": used, "total_seconds": round(started.elapsed().as_secs_f64(), 3)}))
    }
}

/// Total committed transactions of the cluster, read with `psql`.
fn transactions(url: &str) -> anyhow::Result<i64> {
    let out = std::process::Command::new("psql")
        .args([url, "-Atqc", "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"])
        .output()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().context("psql answered no number")
}
