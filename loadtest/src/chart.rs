//! Self-contained SVG charts. `svg` draws a `sockets` run: latency over time (mean and max per
//! second) and its distribution by percentile, for Queuecast and, when measured, the floor.
//! `panels` draws any other scenario's figures as lines over shared axes (`retry-storm`, `depth`).

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

/// A line of a `Panel`: its (x, y) points in order; a NaN y breaks the line (no data there).
pub struct Series {
    pub label: String,
    pub colour: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// One chart panel: lines over shared axes, with labelled x ticks, vertical marks (an x and what
/// happened there) and horizontal levels (a y and what it is).
#[derive(Default)]
pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
    pub x_ticks: Vec<(f64, String)>,
    pub marks: Vec<(f64, String)>,
    pub levels: Vec<(f64, String)>,
    /// Draw a dot at every point (for few points, e.g. one per depth).
    pub dots: bool,
    /// The x axis's range (default: the points' and marks'), to line panels up.
    pub x_range: Option<(f64, f64)>,
    /// The y axis's top (default: the highest point); higher points are drawn at the top.
    pub y_max: Option<f64>,
}

/// A self-contained SVG of panels stacked top to bottom, with a footer (lines broken at "\n",
/// and wrapped at " · ").
pub fn panels(panels: &[Panel], footer: &str) -> String {
    let mut lines = vec![String::new()];
    for (i, part) in footer.split('\n').flat_map(|l| l.split(" · ").enumerate()) {
        if i == 0 && !lines.last().expect("one line at least").is_empty() {
            lines.push(String::new());
        }
        let last = lines.last_mut().expect("one line at least");
        if last.is_empty() {
            last.push_str(part);
        } else if last.chars().count() + part.chars().count() > 140 {
            lines.push(part.to_owned());
        } else {
            last.push_str(" · ");
            last.push_str(part);
        }
    }
    let mut s = String::new();
    let height = panels.len() as f64 * (H + 20.0) + 24.0 + 16.0 * lines.len() as f64;
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>"##
    );
    for (i, p) in panels.iter().enumerate() {
        panel(&mut s, i as f64 * (H + 20.0), p);
    }
    for (i, line) in lines.iter().enumerate() {
        let top = panels.len() as f64 * (H + 20.0) + 20.0 + 16.0 * i as f64;
        let _ = write!(s, r##"<text x="{PAD}" y="{top}">{}</text>"##, esc(line));
    }
    s + "</svg>"
}

fn panel(s: &mut String, top: f64, p: &Panel) {
    let xs = p.series.iter().flat_map(|l| l.points.iter().map(|pt| pt.0)).chain(p.marks.iter().map(|m| m.0));
    let (lo, hi) = p.x_range.unwrap_or_else(|| xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x))));
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    // Dots off the axes: a little room on both sides.
    let (lo, hi) = if p.dots { (lo - (hi - lo) * 0.04, hi + (hi - lo) * 0.04) } else { (lo, hi) };
    let ys = p.series.iter().flat_map(|l| l.points.iter().map(|pt| pt.1)).chain(p.levels.iter().map(|l| l.0));
    let ymax = p.y_max.unwrap_or_else(|| ys.filter(|y| y.is_finite()).fold(0.0, f64::max) * 1.05).max(1e-9);
    let px = |x: f64| PAD + (x - lo) / (hi - lo) * (W - 2.0 * PAD);
    let (y0, y1) = (y(top, 0.0, ymax), y(top, ymax, ymax));
    let _ = write!(
        s,
        r##"<text x="{PAD}" y="{}" font-weight="bold">{}</text><line x1="{PAD}" y1="{y0}" x2="{}" y2="{y0}" stroke="black"/><line x1="{PAD}" y1="{y0}" x2="{PAD}" y2="{y1}" stroke="black"/><text x="4" y="{y1}">{}</text><text x="4" y="{y0}">0</text>"##,
        top + 16.0,
        esc(&p.title),
        W - PAD,
        short(ymax)
    );
    for (x, label) in &p.x_ticks {
        let _ = write!(s, r##"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"##, px(*x), y0 + 14.0, esc(label));
    }
    for (x, label) in &p.marks {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" y1="{y0}" x2="{0:.1}" y2="{y1}" stroke="#888" stroke-dasharray="2 3"/><text x="{1:.1}" y="{2}" fill="#555">{3}</text>"##,
            px(*x),
            px(*x) + 3.0,
            y1 + 12.0,
            esc(label)
        );
    }
    for (v, label) in &p.levels {
        let _ = write!(
            s,
            r##"<line x1="{PAD}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#c00" stroke-dasharray="6 3"/><text x="{1}" y="{2:.1}" fill="#c00" text-anchor="end">{3}</text>"##,
            y(top, *v, ymax),
            W - PAD,
            y(top, *v, ymax) - 3.0,
            esc(label)
        );
    }
    // The legend, under the x axis's figures.
    let mut legend_x = PAD;
    for l in &p.series {
        let dash = if l.dashed { "- - " } else { "■ " };
        let _ = write!(
            s,
            r##"<text x="{legend_x:.1}" y="{}" fill="{}">{dash}{}</text>"##,
            y0 + 30.0,
            l.colour,
            esc(&l.label)
        );
        legend_x += 24.0 + 7.0 * l.label.chars().count() as f64;
    }
    let py = |v: f64| y(top, v.min(ymax), ymax);
    for l in &p.series {
        let dash = if l.dashed { r##" stroke-dasharray="4 3""## } else { "" };
        for run in l.points.split(|pt| !pt.1.is_finite()).filter(|r| !r.is_empty()) {
            let pts: Vec<String> = run.iter().map(|(a, b)| format!("{:.1},{:.1}", px(*a), py(*b))).collect();
            let _ = write!(
                s,
                r##"<polyline fill="none" stroke="{}" stroke-width="1.5"{dash} points="{}"/>"##,
                l.colour,
                pts.join(" ")
            );
        }
        if p.dots {
            for (a, b) in l.points.iter().filter(|pt| pt.1.is_finite()) {
                let _ = write!(s, r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"##, px(*a), py(*b), l.colour);
            }
        }
    }
}

/// A y-axis figure: few digits.
fn short(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::{panels, Panel, Series};

    #[test]
    fn panels_draw_every_series_and_escape_labels() {
        let line = |label: &str| Series {
            label: label.into(),
            colour: "#000",
            dashed: false,
            points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
        };
        let p = Panel {
            title: "a <title>".into(),
            series: vec![line("one"), line("two")],
            marks: vec![(1.0, "storm".into())],
            levels: vec![(2.5, "capacity".into())],
            ..Panel::default()
        };
        let svg = panels(&[p], "x < y");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        let gap = Series { points: vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 2.0), (3.0, 2.0)], ..line("gap") };
        let svg2 = panels(&[Panel { series: vec![gap], ..Panel::default() }], "");
        assert_eq!(svg2.matches("<polyline").count(), 2, "a NaN breaks the line: {svg2}");
        assert!(svg.contains("a &lt;title&gt;") && svg.contains("x &lt; y") && svg.contains("capacity"));
    }
}
