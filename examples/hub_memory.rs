//! What a hub's view of a long line costs in memory: builds the view of a queue with N people
//! waiting (as a hub does from its snapshot) and prints the process's resident memory before and
//! after, per waiting ticket.
//!
//! `cargo run --release --example hub_memory -- 500000`

use chrono::{DateTime, Utc};
use queuecast::domain::{QueueView, Roles, Waiting};
use uuid::Uuid;

fn resident_bytes() -> u64 {
    // statm: size resident shared … in pages.
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("statm");
    pages * 4096
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let joined = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
    let before = resident_bytes();
    // As a hub is built: rows streamed into the view one by one, each waiting ticket without
    // its details.
    let mut view =
        QueueView::new(n as i64, Uuid::nil(), serde_json::json!({"name": "Main"}), Vec::new(), 180.0, Roles::default());
    for i in 1..=n {
        let number = format!("A{i:03}");
        view.hold_waiting(Waiting {
            id: Uuid::new_v4(),
            number: &number,
            status: "waiting",
            priority: 0,
            joined_at: joined,
            line_seq: i as i64,
            present: false,
            present_at: None,
        });
    }
    let after = resident_bytes();
    assert_eq!(view.waiting_total(), n);
    let per = (after - before) as f64 / n as f64;
    println!(
        "{n} waiting: {:.1} MiB resident for the view, {per:.0} bytes per waiting ticket",
        (after - before) as f64 / 1048576.0
    );
}
