//! Join and sign-in limits shared by every node through Redis: two nodes behind a balancer
//! allow one address what one node does; when Redis fails, each node falls back to its own
//! limits, never to none and never to refusing everyone.

use crate::common;

use std::time::Duration;

use common::{spawn_app_with, Proxy, TestApp, ADMIN_EMAIL, PASSWORD};
use queuecast::config::Settings;
use serde_json::json;

fn limited(s: &mut Settings) {
    s.rate_limits.joins_per_minute = 3;
    s.rate_limits.logins_per_minute = 100;
    s.rate_limits.login_failures_free = 2;
}

/// Waits until the node says Redis is up.
async fn redis_up(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if app.get("/readyz", None).await.body["redis"] == "up" {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "Redis never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_nodes_allow_one_address_what_one_node_does() {
    // Arrange: two nodes of one deployment, one client address (127.0.0.1).
    let a = spawn_app_with(limited).await;
    let b = a.on(&a.second_node_with(limited).await);
    redis_up(&a).await;
    redis_up(&b).await;

    // Act + Assert: joins. Two on one node and one on the other use up the allowance of three.
    a.join(a.queue, json!({})).await.expect(201);
    b.join(a.queue, json!({})).await.expect(201);
    a.join(a.queue, json!({})).await.expect(201);
    b.join(a.queue, json!({})).await.expect_problem(429, "rate_limited");
    a.join(a.queue, json!({})).await.expect_problem(429, "rate_limited");

    // Failed sign-ins to one account slow down on every node together.
    let wrong = json!({"tenant": "acme", "email": ADMIN_EMAIL, "password": "not the password"});
    b.post("/api/v1/auth/login", None, wrong.clone()).await.expect_problem(401, "unauthorized");
    a.post("/api/v1/auth/login", None, wrong.clone()).await.expect_problem(401, "unauthorized");
    a.post("/api/v1/auth/login", None, wrong.clone()).await.expect_problem(401, "unauthorized");
    // Three failures, two of them on the other node: past the two free ones, the next attempt
    // waits, on this node too (which saw only one).
    let right = json!({"tenant": "acme", "email": ADMIN_EMAIL, "password": PASSWORD});
    b.post("/api/v1/auth/login", None, right).await.expect_problem(429, "rate_limited");
}

#[tokio::test]
async fn when_redis_fails_each_node_keeps_its_own_limits() {
    // Arrange: a node reaching Redis through a proxy that the test cuts.
    let proxy = Proxy::start(common::redis_addr()).await;
    let app = spawn_app_with(|s| {
        limited(s);
        s.redis_url = Some(format!("redis://127.0.0.1:{}", proxy.port));
    })
    .await;
    redis_up(&app).await;
    app.join(app.queue, json!({})).await.expect(201);
    app.join(app.queue, json!({})).await.expect(201);

    // Act
    proxy.cut();

    // Assert: not everyone refused (the node's own allowance of three is fresh), and not no
    // limit (the fourth is refused).
    for _ in 0..3 {
        app.join(app.queue, json!({})).await.expect(201);
    }
    app.join(app.queue, json!({})).await.expect_problem(429, "rate_limited");
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("queuecast_limits_fallback_total") || app.get("/readyz", None).await.body["redis"] == "down"
    );
}
