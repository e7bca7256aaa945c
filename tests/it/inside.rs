//! Webhooks cannot reach inside the deployment: addresses in URLs are refused at registration,
//! and what is sent goes only to addresses outside, checked on the connection's own address.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{spawn_app_with, TestApp};
use serde_json::{json, Value};

/// A listener on loopback that counts the connections it is offered.
async fn listener() -> (u16, Arc<AtomicUsize>) {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((_conn, _)) = socket.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, connections)
}

/// The endpoint's deliveries once the first has been attempted.
async fn attempted(app: &TestApp, hook: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = app.get(&format!("/api/v1/webhooks/{hook}/deliveries"), Some(&app.admin)).await.expect(200);
        let log = log.as_array().unwrap().clone();
        if log.iter().any(|d| d["attempts"].as_i64() > Some(0)) {
            return log;
        }
        assert!(tokio::time::Instant::now() < deadline, "no attempt: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn endpoints_inside_are_refused_at_registration_with_the_reason() {
    // Arrange
    let app = spawn_app_with(|s| {
        s.webhooks.allow_private = false;
        s.webhooks.allow_http = true;
    })
    .await;

    // Act + Assert
    for url in [
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://localhost:5432/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://239.1.1.1/",
    ] {
        let reply =
            app.post("/api/v1/webhooks", Some(&app.admin), json!({"url": url, "events": ["ticket.called"]})).await;
        reply.expect_problem(400, "bad_request");
        assert!(reply.body["detail"].as_str().unwrap().contains("cannot reach inside"), "{url}: {:?}", reply.body);
    }
    let fine = json!({"url": "https://hooks.example.com/queuecast", "events": ["ticket.called"]});
    app.post("/api/v1/webhooks", Some(&app.admin), fine).await.expect(201);
}

#[tokio::test]
async fn a_sender_never_connects_inside_whatever_was_registered() {
    // Arrange: endpoints registered where private ones are allowed (a node of an older
    // version, or a name that resolved outside then), sent by a node where they are not.
    let app = spawn_app_with(|s| s.webhooks.enabled = false).await;
    let (sender, stopper) = app
        .node(|s| {
            s.webhooks.allow_private = false;
            s.webhooks.poll = Duration::from_millis(100);
        })
        .await;
    let (port, connections) = listener().await;
    let mut hooks = Vec::new();
    // A name that resolves to loopback (the resolver's check), and an address (the URL's).
    for url in [format!("http://localhost:{port}/hook"), format!("http://127.0.0.1:{port}/hook")] {
        let hook = app
            .post("/api/v1/webhooks", Some(&app.admin), json!({"url": url, "events": ["ticket.joined"]}))
            .await
            .expect(201);
        hooks.push(hook["id"].as_str().unwrap().to_owned());
    }

    // Act
    app.on(&sender).joined(app.queue).await;

    // Assert: each attempt failed with the reason, and nothing connected to the listener.
    for hook in &hooks {
        let log = attempted(&app, hook).await;
        let error = log[0]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("cannot reach inside") && error.contains("loopback"), "{log:?}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the sender connected inside");
    // The control: the same endpoint, sent by a node that allows private addresses (the
    // refusing one stopped, so it claims nothing more), is reached.
    stopper.stop().await;
    let allowed = app.on(&app.second_node_with(|s| s.webhooks.poll = Duration::from_millis(100)).await);
    let url = format!("http://127.0.0.1:{port}/other");
    let hook =
        allowed.post("/api/v1/webhooks", Some(&app.admin), json!({"url": url, "events": ["ticket.joined"]})).await;
    hook.expect(201);
    allowed.joined(app.queue).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while connections.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the allowed node never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
