//! What a hub's view of a long line costs in memory: builds the view of a queue with N people
//! waiting (as a hub does from its snapshot) and prints the process's resident memory before and
//! after, per waiting ticket.
//!
//! `cargo run --release --example hub_memory -- 500000`

use chrono::{DateTime, Utc};
use queuecast::domain::{QueueView, Roles, Ticket};
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
    let tickets: Vec<(Ticket, i64)> = (1..=n)
        .map(|i| {
            let ticket = Ticket {
                id: Uuid::new_v4(),
                queue_id: Uuid::nil(),
                number: format!("A{i:03}"),
                status: "waiting".into(),
                position: Some(i as u32),
                eta_seconds: None,
                eta_p90_seconds: None,
                counter: None,
                joined_at: joined,
                called_at: None,
                seq: n as i64,
                served_at: None,
                finished_at: None,
                priority: 0,
                name: Some(format!("Person {i}")),
                party_size: Some(1),
                fields: serde_json::json!({}),
            };
            (ticket, i as i64)
        })
        .collect();
    let view = QueueView::new(n as i64, serde_json::json!({"name": "Main"}), tickets, Vec::new(), 180.0, Roles::default());
    let after = resident_bytes();
    assert_eq!(view.waiting_total(), n);
    let per = (after - before) as f64 / n as f64;
    println!("{n} waiting: {:.1} MiB resident for the view, {per:.0} bytes per waiting ticket", (after - before) as f64 / 1048576.0);
}
