//! Nodes on a clock the test moves: `Clock::set` and `advance` reach every node given it, and
//! each looks for due work every 100 ms.

use std::time::Duration;

use queuecast::clock::Clock;

use super::{spawn_app_with, TestApp};

/// A node whose clock reads `at` (and runs on from there).
pub async fn app_at(at: &str) -> (TestApp, Clock) {
    let clock = Clock::system();
    clock.set(at.parse().unwrap());
    let shared = clock.clone();
    let app = spawn_app_with(move |s| {
        s.store.clock = shared;
        s.clock_every = Duration::from_millis(100);
    })
    .await;
    (app, clock)
}

/// A node on the system clock's time, that the test can move on.
pub async fn app_now() -> (TestApp, Clock) {
    app_at(&chrono::Utc::now().to_rfc3339()).await
}

/// Another node over the same database, on the same clock: its view.
pub async fn second_node(app: &TestApp, clock: &Clock) -> TestApp {
    let shared = clock.clone();
    let base = app
        .second_node_with(move |s| {
            s.store.clock = shared;
            s.clock_every = Duration::from_millis(100);
        })
        .await;
    app.on(&base)
}

/// Lets every node's clock run a few more rounds.
pub async fn a_few_rounds() {
    tokio::time::sleep(Duration::from_millis(600)).await;
}
