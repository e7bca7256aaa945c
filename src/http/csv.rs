//! The day-by-day report as CSV.

use std::fmt::Write;

use crate::store::{DailyStats, Figures};

/// The columns, in order.
const HEADER: &str = "day,joined,served,no_shows,cancelled,abandoned,abandonment_rate,wait_mean_seconds,\
                      wait_p90_seconds,service_mean_seconds,estimate_error_mean_abs_seconds,estimate_error_bias_seconds,\
                      wait_mean_seconds_booked,wait_mean_seconds_walk_in,appointments_booked,appointments_kept,\
                      appointments_missed,appointments_cancelled,no_shows_present,rating_count,rating_mean";

/// A header row, then one row per day (CRLF line ends, as RFC 4180 has them). Missing figures
/// (no ticket to measure) are empty cells.
pub fn daily(report: &DailyStats) -> String {
    let mut out = String::with_capacity(64 * (report.days.len() + 1));
    out.push_str(HEADER);
    out.push_str("\r\n");
    for day in &report.days {
        row(&mut out, &day.day.to_string(), &day.figures);
    }
    out
}

fn row(out: &mut String, day: &str, f: &Figures) {
    let num = |v: Option<f64>, places: usize| v.map(|v| format!("{v:.places$}")).unwrap_or_default();
    // unwrap: writing to a String cannot fail
    writeln!(
        out,
        "{day},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r",
        f.joined,
        f.served,
        f.no_shows,
        f.cancelled,
        f.abandoned,
        num(f.abandonment_rate, 4),
        num(f.wait_seconds.mean, 1),
        num(f.wait_seconds.p90, 1),
        num(f.service_seconds.mean, 1),
        num(f.estimate_error.mean_abs_seconds, 1),
        num(f.estimate_error.bias_seconds, 1),
        num(f.wait_seconds_booked.mean, 1),
        num(f.wait_seconds_walk_in.mean, 1),
        f.appointments.booked,
        f.appointments.kept,
        f.appointments.missed,
        f.appointments.cancelled,
        f.no_shows_present,
        f.rating.count,
        num(f.rating.mean, 2),
    )
    .unwrap();
}
