//! The load generator's fan-out scenario (BENCHMARKS.md scenario 2) at small scale, in process:
//! it must count exactly the deliveries the protocol promises and find every view correct, against
//! Queuecast and against its floor. Speed is not asserted here (BENCHMARKS.md records it).

use crate::common;

use clap::Parser;
use common::{spawn_app, ADMIN_EMAIL, PASSWORD};
use queuecast_loadtest::sockets::{self, Actions};
use serde_json::Value;

fn args(url: &str, floor: bool) -> sockets::Args {
    sockets::Args {
        url: vec![url.to_owned()],
        who: queuecast_loadtest::api::Credentials {
            tenant: "acme".into(),
            email: ADMIN_EMAIL.into(),
            password: PASSWORD.into(),
        },
        floor,
        vs_floor: !floor,
        queues: 1,
        customers: 150,
        slow: 0,
        rate: 5.0,
        actions: Actions::Calls,
        seconds: 3,
        idle: 0,
        storm: false,
        depth: 0,
        procs: 0,
        spread_sources: false,
        server_pid: vec![],
        database_url: None,
        connect_concurrency: 64,
        out: "target/loadtest".into(),
        name: "smoke-fanout".into(),
        quiet: true,
    }
}

/// 15 call-nexts in a line of 150: call k reaches the called customer and the 150 − k still
/// waiting, so exactly Σ (151 − k) frames carry an action's seq.
const EXPECTED: u64 = 15 * 151 - 15 * 16 / 2;
/// The floor has no calls, only broadcasts: every client gets all 15.
const EXPECTED_FLOOR: u64 = 15 * 150;

fn assert_exact(run: &Value, expected: u64) {
    assert_eq!(run["sockets"]["connected"], 150, "{run}");
    assert_eq!(run["sockets"]["failed"], 0, "{run}");
    assert_eq!(run["actions"]["done"], 15, "{run}");
    assert_eq!(run["actions"]["errors"], 0, "{run}");
    assert_eq!(run["deliveries"]["matched"], expected, "{run}");
    assert_eq!(run["latency_ms"]["count"], expected, "{run}");
    assert_eq!(run["correctness"]["duplicates"], 0, "{run}");
    assert_eq!(run["correctness"]["missed"], 0, "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fanout_smoke_counts_every_delivery_and_agrees_with_the_database() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = spawn_app().await;
    let run = sockets::run(args(&app.base, false)).await.expect("the scenario runs");
    assert_exact(&run, EXPECTED);
    assert_exact(&run["vs_floor"]["floor"], EXPECTED_FLOOR);
    let truth = &run["correctness"]["truth"];
    assert_eq!(truth["agree"], 150, "{truth}");
    assert_eq!(truth["disagree"], 0, "{truth}");
    let watchers = &run["correctness"]["watchers"];
    assert_eq!(watchers["staff_sockets"], 1, "{watchers}");
    assert_eq!(watchers["display_sockets"], 1, "{watchers}");
    assert_eq!((watchers["gaps"].as_u64(), watchers["repeats"].as_u64()), (Some(0), Some(0)), "{watchers}");
    assert!(run["vs_floor"]["p99"].as_f64().is_some(), "a ratio to the floor: {run}");
    let chart = std::fs::read_to_string("target/loadtest/smoke-fanout.svg").unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("polyline"), "{chart}");
}

/// The retry storm at small scale, over the generator's own HTTP connections: every customer
/// gets exactly one ticket, every ticket in line has its customer, and the figures add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_storm_smoke_gives_every_customer_one_ticket() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = spawn_app().await;
    let args = queuecast_loadtest::retry::RetryArgs::try_parse_from([
        "retry-storm",
        "--url",
        &app.base,
        "--tenant",
        "acme",
        "--email",
        ADMIN_EMAIL,
        "--password",
        PASSWORD,
        "--capacity",
        "40",
        "--before",
        "3",
        "--seconds",
        "2",
        "--after",
        "1",
        "--give-up",
        "10",
        "--max-in-flight",
        "8",
        "--quiet",
        "--name",
        "smoke-storm",
    ])
    .unwrap();

    let run = queuecast_loadtest::retry::run(args).await.unwrap();

    let arrived = run["customers"]["arrived"].as_u64().unwrap();
    assert!(arrived > 50, "{run}");
    assert_eq!(run["customers"]["confirmed"].as_u64(), Some(arrived), "{run}");
    assert_eq!((run["customers"]["gave_up"].as_u64(), run["customers"]["failed"].as_u64()), (Some(0), Some(0)));
    assert_eq!(run["tickets"]["confirmed_twice"], 0, "{run}");
    assert_eq!(run["tickets"]["in_line"].as_u64(), Some(arrived), "{run}");
    let sent = run["attempts"]["sent"].as_u64().unwrap();
    assert_eq!(
        sent,
        arrived + run["attempts"]["errors"].as_u64().unwrap() + run["attempts"]["timeouts"].as_u64().unwrap(),
        "{run}"
    );
}
