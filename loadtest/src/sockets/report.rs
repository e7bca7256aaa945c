//! The run's result: the workers' reports merged, then written out as JSON with the server's
//! memory and CPU.

use std::collections::HashMap;

use anyhow::bail;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::drive::{Acted, Opened};
use super::{round, Run};
use crate::procstat::Sample;
use crate::worker::{self, Cmd, Reply, Report, Sent};

/// The workers' reports, merged (see `worker::Report` for what each figure counts).
pub(super) struct Totals {
    /// Latency, µs.
    hist: Histogram<u64>,
    /// Per second of the run: (deliveries, sum of µs, max µs).
    per_second: Vec<(u64, u64, u64)>,
    frames: u64,
    pub(super) matched: u64,
    duplicates: u64,
    duplicate_examples: Vec<(String, i64, i64, bool, bool)>,
    missed: u64,
    coalesced: u64,
    /// When the last delivery arrived (µs since the epoch).
    last_delivery: u64,
    closed: HashMap<u16, u64>,
    /// Each ticket's last view: (ticket, status, position, seq).
    pub(super) last: Vec<(String, String, Option<i64>, i64)>,
}

impl Totals {
    /// Has each worker report, given every action's send time, and lets the worker processes
    /// exit.
    pub(super) async fn collect(workers: Vec<worker::Handle>, sent: &[Sent]) -> anyhow::Result<Totals> {
        let mut totals = Totals {
            hist: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            per_second: Vec::new(),
            frames: 0,
            matched: 0,
            duplicates: 0,
            duplicate_examples: Vec::new(),
            missed: 0,
            coalesced: 0,
            last_delivery: 0,
            closed: HashMap::new(),
            last: Vec::new(),
        };
        for mut w in workers {
            let Reply::Report(r) = w.ask(Cmd::Finish { sent: sent.to_vec() }).await? else {
                bail!("a worker did not report")
            };
            totals.add(*r);
            // Closing its commands closes a worker process's stdin: it exits.
            drop(w.tx);
            if let Some(mut child) = w.child.take() {
                child.wait().await.ok();
            }
        }
        Ok(totals)
    }

    fn add(&mut self, r: Report) {
        for (v, c) in &r.latency {
            self.hist.record_n(*v, *c).ok();
        }
        if self.per_second.len() < r.per_second.len() {
            self.per_second.resize(r.per_second.len(), (0, 0, 0));
        }
        for (i, b) in r.per_second.iter().enumerate() {
            let p = &mut self.per_second[i];
            *p = (p.0 + b.0, p.1 + b.1, p.2.max(b.2));
        }
        self.frames += r.frames;
        self.matched += r.matched;
        self.duplicates += r.duplicates;
        self.missed += r.missed;
        self.coalesced += r.coalesced;
        self.duplicate_examples.extend(r.duplicate_examples);
        self.last_delivery = self.last_delivery.max(r.last_delivery_us);
        for (k, v) in r.closed {
            *self.closed.entry(k).or_default() += v;
        }
        self.last.extend(r.last);
    }
}

impl Run<'_> {
    /// The result's JSON, but for the server's memory and CPU (see `Usage`).
    pub(super) fn report(
        &self,
        opened: &Opened,
        acted: &Acted,
        totals: &Totals,
        truth: Option<Value>,
        watched: Option<Value>,
        storm: Option<Value>,
    ) -> Value {
        let (args, hist) = (self.args, &totals.hist);
        let q = |p: f64| round(hist.value_at_quantile(p) as f64 / 1000.0, 2);
        // From the first action sent to the last delivery: a server that falls behind is not
        // credited for deliveries made after the load stopped.
        let first_sent = acted.sent.iter().map(|s| s.at_us).min().unwrap_or(0);
        let span = totals.last_delivery.saturating_sub(first_sent) as f64 / 1e6;
        let per_second_rate = |n: u64| if span > 0.0 { (n as f64 / span).round() } else { 0.0 };
        let distribution: Vec<Value> =
            [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0].iter().map(|p| json!([p, q(*p)])).collect();
        // How long staff waited for each answer (the write, committed): the part of a delivery's
        // latency before the fan-out.
        let mut answers = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
        for s in &acted.sent {
            answers.saturating_record(s.answered_us.saturating_sub(s.at_us).max(1));
        }
        let a = |p: f64| round(answers.value_at_quantile(p) as f64 / 1000.0, 2);
        let per_second: Vec<Value> = totals
            .per_second
            .iter()
            .map(|b| {
                let mean = if b.0 > 0 { round(b.1 as f64 / b.0 as f64 / 1000.0, 2) } else { 0.0 };
                json!([b.0, mean, round(b.2 as f64 / 1000.0, 2)])
            })
            .collect();
        json!({
            "target": self.label,
            "args": format!("{args:?}"),
            "customers": args.customers, "queues": args.queues, "slow": args.slow, "depth": args.depth,
            "sockets": {"connected": opened.connected, "failed": opened.failed,
                         "connect_seconds": round(opened.seconds, 2), "closed_by_server": totals.closed},
            "actions": {"done": acted.sent.len(), "refused": acted.refused, "errors": acted.errors,
                        "seconds": round(acted.seconds, 2),
                        "answer_ms": {"p50": a(0.5), "p99": a(0.99), "max": round(answers.max() as f64 / 1000.0, 2)}},
            "deliveries": {"frames": totals.frames, "matched": totals.matched},
            "latency_ms": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
                            "max": round(hist.max() as f64 / 1000.0, 2), "count": hist.len()},
            "throughput": {"deliveries_per_second": per_second_rate(totals.matched)},
            "correctness": {"duplicates": totals.duplicates, "duplicate_examples": totals.duplicate_examples,
                            "missed": totals.missed, "coalesced": totals.coalesced, "truth": truth, "watchers": watched},
            "per_second": per_second,
            "latency_distribution": distribution,
            "storm": storm,
        })
    }
}

/// The server's memory and CPU at the run's measurement points, read from /proc.
pub(super) struct Usage {
    pub(super) pids: Vec<u32>,
    /// Before the customer sockets opened.
    pub(super) before: Sample,
    /// A second after they all showed their ticket.
    pub(super) open: Sample,
    /// CPU per second over `--idle`, in cores.
    pub(super) idle_cpu: Option<f64>,
    /// Just before staff acted.
    pub(super) act_from: Sample,
    /// Two seconds after the last action's answer.
    pub(super) act_to: Sample,
}

impl Usage {
    /// The result's `server` object; per-socket and per-delivery figures need `connected` and
    /// `matched`.
    pub(super) fn json(&self, connected: usize, matched: u64) -> Value {
        let Usage { pids, before, open, idle_cpu, act_from, act_to } = self;
        let per = |bytes: i64| {
            if connected > 0 {
                json!(round(bytes as f64 / connected as f64 / 1024.0, 2))
            } else {
                Value::Null
            }
        };
        json!({
            "pids": pids,
            "rss_mib_before_sockets": round(before.rss as f64 / 1048576.0, 1),
            "rss_mib_with_sockets": round(open.rss as f64 / 1048576.0, 1),
            "rss_mib_after_actions": round(act_to.rss as f64 / 1048576.0, 1),
            "kib_per_socket": per(open.rss as i64 - before.rss as i64),
            "idle_cpu_cores": idle_cpu.map(|c| round(c, 4)),
            "cpu_seconds_acting": round(act_to.cpu - act_from.cpu, 2),
            "cpu_us_per_delivery": if matched > 0 { json!(round((act_to.cpu - act_from.cpu) * 1e6 / matched as f64, 2)) } else { Value::Null },
        })
    }
}
