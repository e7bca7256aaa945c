//! The Redis feed carries events between nodes; with Redis cut, PostgreSQL carries them.

use crate::common;

use std::time::Duration;

use common::{redis_addr, spawn_app, Proxy};
use queuecast::fanout::Feeds;

/// Waits (at most 20 s) until the node's /readyz reports Redis as `state`.
async fn redis_becomes(node: &common::TestApp, state: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = node.get("/readyz", None).await.expect(200)["redis"].clone();
        if now == state {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "Redis still {now} after 20 s, expected {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn expect_seqs(ws: &mut common::Ws, from: i64, to: i64) {
    for seq in from..=to {
        let msg = ws.json().await;
        assert_eq!((msg["type"].as_str(), msg["event"]["seq"].as_i64()), (Some("event"), Some(seq)), "{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_alone_carries_a_change_from_one_node_to_another() {
    let app = spawn_app().await;
    let url = std::env::var("REDIS_URL").expect("REDIS_URL");
    // Node B hears only Redis: no LISTEN, no own commits, no poll.
    let b = app.on(&app
        .second_node_with(|s| {
            s.feeds = Some(Feeds { postgres: false, local: false, redis_url: Some(url), poll_every: None })
        })
        .await);
    let mut ws = b.staff_socket(app.queue, None).await;
    assert_eq!(ws.json().await["seq"], 0);
    // The subscription is asynchronous: wait until Redis counts B on the queue's channel.
    let redis = redis::Client::open(std::env::var("REDIS_URL").unwrap()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let channel = format!("queuecast:q:{}", app.queue);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, subscribers): (String, i64) =
            redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel).query_async(&mut conn).await.unwrap();
        if subscribers > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "node B never subscribed to {channel}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        app.joined(app.queue).await;
    }
    app.call_next(&app.admin, app.queue, "1").await.expect(200);
    expect_seqs(&mut ws, 1, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_cut_and_back_every_event_still_arrives_once_in_order() {
    let app = spawn_app().await;
    let proxy = Proxy::start(redis_addr()).await;
    let via_proxy = format!("redis://127.0.0.1:{}", proxy.port);
    // Node B: Redis through the proxy, and LISTEN; no poll.
    let b = app.on(&app
        .second_node_with(|s| {
            s.feeds = Some(Feeds { postgres: true, local: true, redis_url: Some(via_proxy), poll_every: None })
        })
        .await);
    let mut ws = b.staff_socket(app.queue, None).await;
    ws.json().await;
    redis_becomes(&b, "up").await;

    app.joined(app.queue).await;
    expect_seqs(&mut ws, 1, 1).await;
    proxy.cut();
    for _ in 0..20 {
        app.joined(app.queue).await;
    }
    expect_seqs(&mut ws, 2, 21).await;
    // /readyz tells, and writes on B itself still work with Redis gone.
    redis_becomes(&b, "down").await;
    b.joined(app.queue).await;
    expect_seqs(&mut ws, 22, 22).await;

    proxy.restore();
    redis_becomes(&b, "up").await;
    for _ in 0..5 {
        app.joined(app.queue).await;
    }
    expect_seqs(&mut ws, 23, 27).await;
}

/// A Redis of this test's own, that it may kill and start again on the same port.
struct PrivateRedis {
    port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting redis-server");
        PrivateRedis { port, child }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/?protocol=resp3", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (at most 20 s) until `n` clients subscribe to the queue's channel of this Redis.
async fn subscribed(url: &str, queue: uuid::Uuid, n: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let channel = format!("queuecast:q:{queue}");
    loop {
        let count = async {
            let mut conn = redis::Client::open(url).ok()?.get_multiplexed_async_connection().await.ok()?;
            let (_, count): (String, i64) =
                redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel).query_async(&mut conn).await.ok()?;
            Some(count)
        }
        .await;
        if count == Some(n) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{channel} has {count:?} subscribers, not {n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Node B hears only Redis. Its pub/sub connection is killed (`CLIENT KILL TYPE pubsub`), then
/// Redis itself is killed and started again while node A writes: B resubscribes, catches up from
/// the database, and its console gets every event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_pubsub_clients_and_a_restarted_redis_lose_nothing() {
    let app = spawn_app().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = PrivateRedis::start(port);
    let url = redis.url();
    let a = app.on(&app.second_node_with(|s| s.redis_url = Some(url.clone())).await);
    let b = app.on(&app
        .second_node_with(|s| {
            s.feeds = Some(Feeds { postgres: false, local: false, redis_url: Some(url.clone()), poll_every: None })
        })
        .await);
    let mut ws = b.staff_socket(app.queue, None).await;
    assert_eq!(ws.json().await["seq"], 0);
    subscribed(&url, app.queue, 1).await;
    for _ in 0..3 {
        a.joined(app.queue).await;
    }
    expect_seqs(&mut ws, 1, 3).await;

    let mut conn = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query_async(&mut conn).await.unwrap();
    assert!(killed >= 1, "no pub/sub client to kill");
    for _ in 0..3 {
        a.joined(app.queue).await;
    }
    subscribed(&url, app.queue, 1).await;
    a.joined(app.queue).await;
    expect_seqs(&mut ws, 4, 7).await;

    redis.kill();
    for _ in 0..3 {
        a.joined(app.queue).await;
    }
    let mut redis = PrivateRedis::start(port);
    subscribed(&redis.url(), app.queue, 1).await;
    for _ in 0..3 {
        a.joined(app.queue).await;
    }
    expect_seqs(&mut ws, 8, 13).await;
    redis.kill();
}

#[tokio::test]
async fn a_redis_url_that_cannot_work_stops_the_node_at_startup_with_a_clear_error() {
    // Arrange
    let app = spawn_app().await;
    for url in ["http://127.0.0.1:6379", "redis://127.0.0.1:notaport", "rediss://127.0.0.1:6380"] {
        let mut settings = queuecast::config::Settings::new("127.0.0.1:0", &app.db_url);
        settings.redis_url = Some(url.into());

        // Act
        let built = queuecast::startup::Application::build(settings).await;

        // Assert: refused with a message that names the setting, not a retry loop.
        let err = built.err().unwrap_or_else(|| panic!("{url} was accepted"));
        assert!(format!("{err:#}").contains("REDIS_URL"), "{url}: {err:#}");
    }
}
