//! `loadtest table FILE…`: the median of each figure over the runs of each scenario, as the
//! Markdown table BENCHMARKS.md holds. Runs are grouped by file name without its `-runN` suffix.

use std::collections::BTreeMap;

use serde_json::Value;

/// (column, where in a result, decimals)
const COLUMNS: &[(&str, &[&str], usize)] = &[
    ("sockets", &["sockets", "connected"], 0),
    ("actions", &["actions", "done"], 0),
    ("p50 ms", &["latency_ms", "p50"], 1),
    ("p99 ms", &["latency_ms", "p99"], 1),
    ("p99.9 ms", &["latency_ms", "p999"], 1),
    ("max ms", &["latency_ms", "max"], 1),
    ("deliveries/s", &["throughput", "deliveries_per_second"], 0),
    ("floor p99 ms", &["vs_floor", "floor", "latency_ms", "p99"], 1),
    ("p99 ÷ floor", &["vs_floor", "p99"], 2),
    ("deliveries ÷ floor", &["vs_floor", "deliveries_per_second"], 2),
    ("KiB/socket", &["server", "kib_per_socket"], 1),
    ("server MiB", &["server", "rss_mib_after_actions"], 0),
    ("idle CPU (cores)", &["server", "idle_cpu_cores"], 3),
    ("CPU µs/delivery", &["server", "cpu_us_per_delivery"], 1),
    ("storm s", &["storm", "seconds_to_all_shown"], 2),
    ("storm transactions", &["storm", "transactions"], 0),
    ("transitions/s", &["transitions_per_second"], 0),
    ("joins/s", &["joins_per_second"], 0),
    ("requests/s", &["requests_per_second"], 0),
    ("write p99 ms", &["latency_ms_write", "p99"], 1),
    ("write p99.9 ms", &["latency_ms_write", "p999"], 1),
    ("capacity joins/s", &["capacity", "joins_per_second"], 0),
    ("goodput ÷ capacity, storm", &["goodput_share", "storm"], 3),
    ("goodput ÷ capacity, after", &["goodput_share", "after"], 3),
    ("pre-storm p99 ms", &["latency_ms", "pre_storm_p99"], 1),
    ("p99 back after s", &["recovery_seconds"], 0),
    ("attempts < capacity after s", &["offered_under_capacity_after_storm_seconds"], 0),
    ("p99 back after that, s", &["recovery_after_offered_drop_seconds"], 0),
    ("goodput ÷ capacity while draining", &["goodput_share_while_draining"], 3),
    ("in line", &["deepest", "depth"], 0),
    ("ticket read p99 ms", &["deepest", "read_p99_ms"], 1),
    ("call-next p99 ms", &["deepest", "call_next_p99_ms"], 1),
];

/// Counted over all runs (they must be 0).
const FAULTS: &[(&str, &[&str])] = &[
    ("errors", &["actions", "errors"]),
    ("duplicates", &["correctness", "duplicates"]),
    ("missed", &["correctness", "missed"]),
    ("disagree", &["correctness", "truth", "disagree"]),
    ("gaps", &["correctness", "watchers", "gaps"]),
    ("failed writes", &["failed"]),
    ("duplicate answers disagreeing", &["duplicates", "mismatches"]),
    ("tickets confirmed twice", &["tickets", "confirmed_twice"]),
];

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k)).filter(|v| !v.is_null())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

pub fn table(files: &[String]) -> anyhow::Result<String> {
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in files {
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(f)?)?;
        // A write run's latency is an HTTP answer's, not a delivery's: a column of its own.
        if v.get("transitions_per_second").is_some() {
            v["latency_ms_write"] = v["latency_ms"].take();
        }
        let stem = std::path::Path::new(f).file_stem().and_then(|s| s.to_str()).unwrap_or(f);
        let name = stem.rsplit_once("-run").map_or(stem, |(n, _)| n).to_owned();
        groups.entry(name).or_default().push(v);
    }
    let used: Vec<_> =
        COLUMNS.iter().filter(|(_, p, _)| groups.values().flatten().any(|r| at(r, p).is_some())).collect();
    let mut out =
        format!("| scenario | runs | {} | faults |\n", used.iter().map(|c| c.0).collect::<Vec<_>>().join(" | "));
    out += &format!("|---|---|{}---|\n", "---|".repeat(used.len()));
    for (name, runs) in &groups {
        let cells: Vec<String> = used
            .iter()
            .map(|(_, path, digits)| {
                let xs: Vec<f64> = runs.iter().filter_map(|r| at(r, path)).filter_map(Value::as_f64).collect();
                if xs.is_empty() {
                    "".into()
                } else {
                    format!("{:.*}", *digits, median(xs))
                }
            })
            .collect();
        let faults: Vec<String> = FAULTS
            .iter()
            .filter_map(|(label, path)| {
                let n: u64 = runs.iter().filter_map(|r| at(r, path)).filter_map(Value::as_u64).sum();
                runs.iter().any(|r| at(r, path).is_some()).then(|| format!("{label} {n}"))
            })
            .collect();
        out += &format!("| {name} | {} | {} | {} |\n", runs.len(), cells.join(" | "), faults.join(", "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn medians() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
