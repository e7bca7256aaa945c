//! The retry storm's result: per-second figures, goodput by phase as a share of capacity, the
//! pre-storm p99 and how long latency took to come back under its threshold; and its chart.

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::customer::{Outcome, Second};
use super::{Phase, RetryArgs};
use crate::chart::{panels, Panel, Series};
use crate::sockets::round;

/// Seconds in a row the p99 must stay under the threshold to count as recovered.
const RECOVERED_FOR: usize = 3;
/// The first seconds of the run warm the connections up: not part of the pre-storm p99.
const WARM_UP: u64 = 2;

fn ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| round(h.value_at_quantile(q) as f64 / 1000.0, 2))
}

/// The result's JSON. `in_line`: tickets waiting in the run's queues at the end.
pub(super) fn result(args: &RetryArgs, phases: &[Phase], capacity: Value, o: &Outcome, in_line: i64) -> Value {
    let cap = capacity["joins_per_second"].as_f64().unwrap_or(0.0);
    let second = |i: u64| o.seconds.get(i as usize);
    // Goodput of a phase: tickets confirmed during it, per second and as a share of capacity.
    let phase_json = |p: &Phase| {
        let confirmed: u64 = (p.from..p.to()).filter_map(second).map(|s| s.goodput).sum();
        let arrived: u64 = (p.from..p.to()).filter_map(second).map(|s| s.arrivals).sum();
        let per_second = confirmed as f64 / p.seconds.max(1) as f64;
        json!({"name": p.name, "from": p.from, "seconds": p.seconds,
               "offered_per_second": p.rate.round() as u64, "arrived_per_second": (arrived as f64 / p.seconds.max(1) as f64).round() as u64,
               "goodput_per_second": per_second.round() as u64,
               "goodput_share_of_capacity": if cap > 0.0 { json!(round(per_second / cap, 3)) } else { Value::Null }})
    };
    let mut pre = Histogram::<u64>::new_with_bounds(1, 600_000_000, 2).expect("valid bounds");
    for i in WARM_UP.min(args.before / 2)..args.before {
        if let Some(s) = second(i) {
            pre.add(&s.latency).ok();
        }
    }
    let pre_p99 = ms(&pre, 0.99);
    let threshold = args.threshold_ms.or(pre_p99.map(|p| round(p * args.recovery, 2)));
    // Recovery: from the storm's end, the first second that starts RECOVERED_FOR seconds (or the
    // rest of the run) with successes, a p99 under the threshold and no timeouts.
    let storm_end = args.before + args.seconds;
    let calm = |s: &Second| {
        threshold.is_some_and(|t| ms(&s.latency, 0.99).is_some_and(|p| p < t))
            && s.timeouts == 0
            && s.waited_for_slot == 0
    };
    let run_end = (storm_end + args.after) as usize;
    let recovered_from = |from: usize| {
        (from..run_end).find(|&i| {
            let window = i..(i + RECOVERED_FOR).min(run_end);
            window.clone().all(|j| o.seconds.get(j).is_some_and(calm))
        })
    };
    let recovered = recovered_from(storm_end as usize);
    // The load offered to the node is every attempt sent: new customers' and the retries of
    // those still waiting, who keep it above capacity after the storm until they are served or
    // give up. From the first second it falls under capacity, how long latency takes to recover
    // is what tells a node that drains its backlog from one held overloaded by retries.
    let offered_drop =
        (storm_end as usize..run_end).find(|&i| o.seconds.get(i).is_some_and(|s| (s.attempts as f64) < cap));
    let recovered_after_drop = offered_drop.and_then(|d| recovered_from(d).map(|i| i - d));
    // Goodput while the storm's backlog drains (from its end until attempts fall under
    // capacity): after that the node can confirm no more than the new customers who arrive.
    let draining = storm_end as usize..offered_drop.unwrap_or(run_end);
    let drained: u64 = draining.clone().filter_map(|i| o.seconds.get(i)).map(|s| s.goodput).sum();
    let drain_share =
        (cap > 0.0 && !draining.is_empty()).then(|| round(drained as f64 / draining.len() as f64 / cap, 3));
    let per_second: Vec<Value> = o
        .seconds
        .iter()
        .enumerate()
        .map(|(t, s)| {
            json!({"t": t, "arrivals": s.arrivals, "attempts": s.attempts, "timeouts": s.timeouts,
                   "errors": s.errors, "waited_for_slot": s.waited_for_slot, "goodput": s.goodput,
                   "p50_ms": ms(&s.latency, 0.5), "p99_ms": ms(&s.latency, 0.99),
                   "in_flight": s.in_flight, "client_lag_ms": s.client_lag_ms})
        })
        .collect();
    let sum = |f: fn(&Second) -> u64| o.seconds.iter().map(f).sum::<u64>();
    // The client's own delay: every latency and timeout it reports includes it.
    let mut lags: Vec<u64> = o.seconds.iter().map(|s| s.client_lag_ms).collect();
    lags.sort_unstable();
    let lag_p90 = lags.get(lags.len() * 9 / 10).copied().unwrap_or(0);
    let late_timeouts = o.timeout_fired.value_at_quantile(0.5) as f64 > 1.25 * args.timeout_ms as f64;
    let (t2t, apt, fired) = (&o.time_to_ticket, &o.attempts_per_ticket, &o.timeout_fired);
    json!({
        "scenario": "retry-storm",
        "args": format!("{args:?}"),
        "capacity": capacity,
        "phases": phases.iter().map(phase_json).collect::<Vec<_>>(),
        "goodput_share": phases.iter().map(|p| (p.name.to_owned(), phase_json(p)["goodput_share_of_capacity"].clone()))
            .collect::<serde_json::Map<_, _>>(),
        "customers": {"arrived": o.arrived, "confirmed": o.confirmed, "gave_up": o.gave_up, "failed": o.failed,
                      "unfinished": o.unfinished, "max_schedule_lag_ms": round(o.max_lag_ms, 1),
                      "time_to_ticket_ms": {"p50": t2t.value_at_quantile(0.5), "p99": t2t.value_at_quantile(0.99), "max": t2t.max()},
                      "attempts_per_ticket": {"mean": round(apt.mean(), 2), "p99": apt.value_at_quantile(0.99), "max": apt.max()}},
        "attempts": {"sent": sum(|s| s.attempts), "timeouts": sum(|s| s.timeouts), "errors": sum(|s| s.errors),
                     "waited_for_slot": sum(|s| s.waited_for_slot),
                     "timeouts_fired_after_ms": {"p50": fired.value_at_quantile(0.5), "p99": fired.value_at_quantile(0.99), "max": fired.max()}},
        "tickets": {"confirmed": o.confirmed, "in_line": in_line, "without_a_customer": in_line - o.confirmed as i64,
                    "confirmed_twice": o.shared_tickets},
        "latency_ms": {"pre_storm_p99": pre_p99, "threshold": threshold},
        "client": {"lag_ms_p90_of_seconds": lag_p90, "lag_ms_max": lags.last().copied().unwrap_or(0),
                   "fell_behind": late_timeouts || lag_p90 > 100},
        "recovery_seconds": recovered.map(|i| i as u64 - storm_end),
        "offered_under_capacity_after_storm_seconds": offered_drop.map(|i| i as u64 - storm_end),
        "recovery_after_offered_drop_seconds": recovered_after_drop,
        "goodput_share_while_draining": drain_share,
        "per_second": per_second,
    })
}

/// One line a person reads.
pub(super) fn summary(r: &Value) -> String {
    let share = |i: usize| r["phases"][i]["goodput_share_of_capacity"].clone();
    format!(
        "[retry-storm] capacity {}/s · goodput before {} during {} after {} of capacity · {} customers: {} confirmed, {} gave up, {} failed · {} attempts, {} timeouts, {} errors, {} waited for a slot · pre-storm p99 {} ms, back under {} ms {} s after the storm ({} s after attempts fell under capacity, {} s after it; goodput {} of capacity until then) · {} tickets without a customer, {} confirmed twice",
        r["capacity"]["joins_per_second"],
        share(0),
        share(1),
        share(2),
        r["customers"]["arrived"],
        r["customers"]["confirmed"],
        r["customers"]["gave_up"],
        r["customers"]["failed"],
        r["attempts"]["sent"],
        r["attempts"]["timeouts"],
        r["attempts"]["errors"],
        r["attempts"]["waited_for_slot"],
        r["latency_ms"]["pre_storm_p99"],
        r["latency_ms"]["threshold"],
        r["recovery_seconds"],
        r["recovery_after_offered_drop_seconds"],
        r["offered_under_capacity_after_storm_seconds"],
        r["goodput_share_while_draining"],
        r["tickets"]["without_a_customer"],
        r["tickets"]["confirmed_twice"],
    ) + if r["client"]["fell_behind"] == true {
        " · THE LOAD GENERATOR FELL BEHIND (see client and timeouts_fired_after_ms): its latencies include its own delay"
    } else {
        ""
    }
}

/// Two panels over the run's seconds: the counts, and the latency of successful attempts.
pub(super) fn chart(r: &Value) -> String {
    let rows = r["per_second"].as_array().cloned().unwrap_or_default();
    let line = |label: &str, colour: &'static str, key: &str| Series {
        label: label.into(),
        colour,
        dashed: false,
        // A second without a figure (no success: no latency) breaks the line.
        points: rows
            .iter()
            .map(|s| (s["t"].as_f64().unwrap_or(0.0) + 0.5, s[key].as_f64().unwrap_or(f64::NAN)))
            .collect(),
    };
    let x_range = Some((0.0, rows.len().max(1) as f64));
    let capacity = r["capacity"]["joins_per_second"].as_f64().unwrap_or(0.0);
    // Attempts that waited for a slot can outnumber the rest: the scale follows
    // the other lines, and higher points are drawn at the top.
    let y_max = rows
        .iter()
        .flat_map(|s| {
            ["arrivals", "attempts", "in_flight", "timeouts", "goodput"].map(|k| s[k].as_f64().unwrap_or(0.0))
        })
        .fold(capacity, f64::max)
        * 1.1;
    let x_ticks: Vec<(f64, String)> = (0..=rows.len()).step_by(10).map(|t| (t as f64, format!("{t} s"))).collect();
    let phases = r["phases"].as_array().cloned().unwrap_or_default();
    let marks: Vec<(f64, String)> = phases
        .iter()
        .skip(1)
        .map(|p| (p["from"].as_f64().unwrap_or(0.0), format!("{} →", p["name"].as_str().unwrap_or(""))))
        .collect();
    let counts = Panel {
        title: "per second: new customers, attempts (in flight), timeouts, not sent (clipped), goodput".into(),
        series: vec![
            line("new customers", "#999", "arrivals"),
            Series { dashed: true, ..line("in flight", "#2a9d3a", "in_flight") },
            line("attempts", "#e08a00", "attempts"),
            line("timeouts", "#c00", "timeouts"),
            line("waited for a slot", "#7a3db8", "waited_for_slot"),
            line("goodput", "#1f5fd6", "goodput"),
        ],
        x_ticks: x_ticks.clone(),
        marks: marks.clone(),
        levels: vec![(capacity, "capacity".into())],
        x_range,
        y_max: Some(y_max),
        ..Panel::default()
    };
    let mut latency_marks = marks;
    if let (Some(back), Some(end)) = (r["recovery_seconds"].as_f64(), phases.get(2).and_then(|p| p["from"].as_f64())) {
        latency_marks.push((end + back, "p99 back".into()));
    }
    if let (Some(drop), Some(end)) =
        (r["offered_under_capacity_after_storm_seconds"].as_f64(), phases.get(2).and_then(|p| p["from"].as_f64()))
    {
        latency_marks.push((end + drop, "attempts < capacity".into()));
    }
    let latency = Panel {
        title: "latency of successful attempts (ms), per second: p50, p99; the load generator's own lag".into(),
        series: vec![
            line("p50", "#6a9be8", "p50_ms"),
            line("p99", "#1f5fd6", "p99_ms"),
            line("client lag", "#999", "client_lag_ms"),
        ],
        x_ticks,
        marks: latency_marks,
        levels: r["latency_ms"]["threshold"].as_f64().map(|t| (t, "threshold".into())).into_iter().collect(),
        x_range,
        ..Panel::default()
    };
    panels(&[counts, latency], &summary(r))
}
