//! A self-contained SVG of a run: latency over time (mean and max per second) and its
//! distribution by percentile, for Queuecast and, when measured, the floor.

use serde_json::Value;
use std::fmt::Write;

const W: f64 = 960.0;
const H: f64 = 300.0;
const PAD: f64 = 50.0;

/// The chart of one result (with its floor run inside `vs_floor.floor`, if any).
pub fn svg(result: &Value) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>"##,
        2.0 * H + 40.0
    );
    let floor = result.get("vs_floor").and_then(|f| f.get("floor"));
    let runs: Vec<(&Value, &str)> = std::iter::once((result, "#1f5fd6")).chain(floor.map(|f| (f, "#999"))).collect();
    // Panel 1: per second of the run, mean (solid) and max (dashed) latency.
    let ymax = runs
        .iter()
        .flat_map(|(r, _)| r["per_second"].as_array().into_iter().flatten())
        .map(|b| b[2].as_f64().unwrap_or(0.0))
        .fold(1.0, f64::max);
    let xmax = runs.iter().map(|(r, _)| r["per_second"].as_array().map_or(1, |a| a.len())).max().unwrap_or(1).max(2)
        as f64
        - 1.0;
    axes(&mut s, 0.0, "latency over the run (ms): mean solid, max dashed; x: second of the run", xmax, ymax);
    for (r, colour) in &runs {
        let pts = r["per_second"].as_array().cloned().unwrap_or_default();
        for (idx, dash) in [(1, ""), (2, r##" stroke-dasharray="4 3""##)] {
            let line: Vec<String> = pts
                .iter()
                .enumerate()
                .filter(|(_, b)| b[0].as_u64().unwrap_or(0) > 0)
                .map(|(i, b)| format!("{:.1},{:.1}", x(i as f64, xmax), y(0.0, b[idx].as_f64().unwrap_or(0.0), ymax)))
                .collect();
            let _ = write!(
                s,
                r##"<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{}"/>"##,
                line.join(" ")
            );
        }
    }
    // Panel 2: latency by percentile (x in "nines": 0.9 → 1, 0.99 → 2 …).
    let ymax = runs
        .iter()
        .flat_map(|(r, _)| r["latency_distribution"].as_array().into_iter().flatten())
        .map(|p| p[1].as_f64().unwrap_or(0.0))
        .fold(1.0, f64::max);
    let nines = |p: f64| if p >= 1.0 { 4.5 } else { -(1.0 - p).log10() };
    axes(&mut s, H + 20.0, "latency distribution (ms) by percentile: p50, p90, p99, p99.9, p99.99, max", 4.5, ymax);
    for (r, colour) in &runs {
        let pts: Vec<String> = r["latency_distribution"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let (q, v) = (p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0));
                format!("{:.1},{:.1}", x(nines(q), 4.5), y(H + 20.0, v, ymax))
            })
            .collect();
        let _ = write!(s, r##"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"##, pts.join(" "));
    }
    let _ = write!(
        s,
        r##"<text x="{PAD}" y="{}" fill="#1f5fd6">■ {}</text><text x="{}" y="{}" fill="#999">{}</text></svg>"##,
        2.0 * H + 32.0,
        crate::sockets::summary(result).replace('<', "&lt;"),
        PAD,
        2.0 * H + 16.0,
        if floor.is_some() { "■ floor (grey)" } else { "" }
    );
    s
}

fn x(v: f64, max: f64) -> f64 {
    PAD + v / max * (W - 2.0 * PAD)
}

fn y(top: f64, v: f64, max: f64) -> f64 {
    top + H - PAD + 10.0 - v / max * (H - PAD - 20.0)
}

fn axes(s: &mut String, top: f64, title: &str, xmax: f64, ymax: f64) {
    let (x0, y0, x1, y1) = (PAD, y(top, 0.0, ymax), W - PAD, y(top, ymax, ymax));
    let _ = write!(
        s,
        r##"<text x="{PAD}" y="{}" font-weight="bold">{title}</text><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/><text x="4" y="{y1}">{ymax:.1}</text><text x="4" y="{y0}">0</text><text x="{x1}" y="{}" text-anchor="end">{xmax:.0}</text>"##,
        top + 16.0,
        y0 + 14.0
    );
}
