//! A server process's memory and CPU time, read from `/proc` (Linux).

#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Sample {
    /// Resident memory, bytes.
    pub rss: u64,
    /// User + system CPU time, seconds.
    pub cpu: f64,
}

/// The sum over `pids` (several nodes count as one service); zero when a pid is gone.
pub fn sample(pids: &[u32]) -> Sample {
    let ticks = 100.0; // USER_HZ: 100 on every Linux we run on.
    let page = 4096u64;
    let mut total = Sample::default();
    for pid in pids {
        if let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) {
            let resident: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            total.rss += resident * page;
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            total.cpu += (utime + stime) / ticks;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let s = super::sample(&[std::process::id()]);
        assert!(s.rss > 1_000_000, "{s:?}");
        let burn: u64 = (0..50_000_000u64).fold(0, |a, b| a ^ b.wrapping_mul(31));
        assert!(burn != 1);
        assert!(super::sample(&[std::process::id()]).cpu > 0.0);
    }
}
