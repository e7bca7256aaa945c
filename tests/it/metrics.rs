//! `/metrics` moves as the queue does. (nextest runs each test in a process of its own, so the
//! process-wide recorder starts empty here.)

use crate::common;

use std::time::Duration;

use common::{spawn_app, TestApp};

async fn scrape(app: &TestApp) -> String {
    let reply = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    reply.text().await.unwrap()
}

/// The value of one series, e.g. `queuecast_sockets_open{kind="customer"}`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The sum of every series of a metric, whatever its labels.
fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Scrapes until `ok` holds (the other feeds and the socket tasks are asynchronous), for 10 s.
async fn eventually(app: &TestApp, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(app).await;
        if ok(&text) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} never held:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_join_a_call_and_sockets_move_the_metrics() {
    // Arrange: a ticket with its customer watching, and a staff console.
    let app = spawn_app().await;
    let before = scrape(&app).await;
    assert_eq!(sum(&before, "queuecast_events_applied_total"), 0.0, "{before}");
    let (ticket, token) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap();
    let mut customer = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    customer.json().await;
    let mut staff = app.staff_socket(app.queue, None).await;
    assert_eq!(staff.json().await["type"], "snapshot");

    // Act: someone else joins, and the first is called.
    app.joined(app.queue).await;
    app.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
    loop {
        if customer.json().await["ticket"]["status"] == "called" {
            break;
        }
    }

    // Assert: sockets and hubs, as they are now.
    let text = scrape(&app).await;
    assert_eq!(value(&text, r#"queuecast_sockets_open{kind="customer"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, r#"queuecast_sockets_open{kind="staff"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, "queuecast_hubs_live"), Some(1.0), "{text}");
    // Both events after the hub was built reached it, each timed from its commit.
    assert!(sum(&text, "queuecast_events_applied_total") >= 2.0, "{text}");
    assert!(value(&text, "queuecast_fanout_latency_seconds_count").unwrap_or(0.0) >= 2.0, "{text}");
    assert!(
        text.contains("queuecast_fanout_latency_seconds_bucket{le=\"0.01\"}"),
        "a histogram, not a summary: {text}"
    );
    // Three changes went through the writer, each in a batch of its own or shared.
    assert!(value(&text, "queuecast_write_batch_size_count").unwrap_or(0.0) >= 1.0, "{text}");
    assert!(value(&text, "queuecast_write_batch_size_sum").unwrap_or(0.0) >= 3.0, "{text}");
    assert!(value(&text, "queuecast_write_commit_seconds_count").unwrap_or(0.0) >= 1.0, "{text}");
    // The pool as the test configured it, read at scrape time.
    assert_eq!(value(&text, "queuecast_db_pool_max_connections"), Some(8.0), "{text}");
    assert!(value(&text, "queuecast_db_pool_connections").unwrap_or(0.0) >= 1.0, "{text}");
    assert!(value(&text, "queuecast_db_pool_idle_connections").is_some(), "{text}");
    assert!(value(&text, r#"queuecast_http_requests_total{class="2xx"}"#).unwrap_or(0.0) >= 5.0, "{text}");

    // The PostgreSQL feed (and Redis, when set) brings the same events again: dropped as duplicates.
    eventually(&app, "duplicates counted", |t| sum(t, "queuecast_events_duplicate_total") >= 2.0).await;
    if std::env::var_os("REDIS_URL").is_some() {
        eventually(&app, "redis up", |t| value(t, "queuecast_redis_up") == Some(1.0)).await;
    } else {
        assert!(!text.contains("queuecast_redis_up"), "{text}");
    }

    // A refused request counts as 4xx.
    app.call_next("not-a-token", app.queue, "Desk 1").await.expect_problem(401, "unauthorized");
    let text = scrape(&app).await;
    assert!(value(&text, r#"queuecast_http_requests_total{class="4xx"}"#).unwrap_or(0.0) >= 1.0, "{text}");

    // Sockets that close are no longer open.
    drop(customer);
    drop(staff);
    eventually(&app, "sockets closed", |t| {
        value(t, r#"queuecast_sockets_open{kind="customer"}"#) == Some(0.0)
            && value(t, r#"queuecast_sockets_open{kind="staff"}"#) == Some(0.0)
    })
    .await;
}

#[tokio::test]
async fn a_client_that_sends_junk_is_counted_as_closed_with_its_reason() {
    // Arrange
    let app = spawn_app().await;
    let (ticket, token) = app.joined(app.queue).await;
    let mut customer = app.ws(&format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap())).await;
    customer.json().await;

    // Act
    customer.send("hello".into()).await;
    assert_eq!(customer.closed().await, 4400);

    // Assert
    eventually(&app, "the close counted", |t| {
        value(t, r#"queuecast_sockets_closed_total{kind="customer",reason="unknown_message"}"#) == Some(1.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_how_long_the_server_worked_on_it() {
    let app = spawn_app().await;
    for path in
        ["/healthz", &format!("/api/v1/queues/{}", app.queue), "/api/v1/tickets/00000000-0000-0000-0000-000000000000"]
    {
        let reply = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
        let timing = reply.headers().get("server-timing").map(|v| v.to_str().unwrap().to_owned());
        let ms: Option<f64> = timing.as_deref().and_then(|t| t.strip_prefix("app;dur=")?.parse().ok());
        assert!(ms.is_some_and(|ms| (0.0..8_000.0).contains(&ms)), "{path}: {timing:?}");
    }
}
