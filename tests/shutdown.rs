//! Stopping a node drains it: requests in flight are answered, and nothing is committed that
//! was not answered or is left uncommitted once the stop returns.

mod common;

use std::time::Duration;

use common::spawn_app;
use queuecast::store::JoinRequest;
use serde_json::json;
use sqlx::Connection;

/// How many `ticket.joined` events the queue has.
async fn joined_events(app: &common::TestApp) -> usize {
    app.all_events(&app.admin, app.queue).await.iter().filter(|e| e["kind"] == "ticket.joined").count()
}

#[tokio::test]
async fn stopping_a_node_answers_every_request_it_took_in() {
    // Arrange: a second node over the same database, and a client that opens a connection per
    // request (so no request lands on a kept-alive connection the stop closes).
    let app = spawn_app().await;
    let (node, stopper) = app.node(|_| {}).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let (first_tx, mut first) = tokio::sync::mpsc::channel::<()>(64);

    // Act: a burst of joins, and the stop as soon as the first is answered.
    let joins: Vec<_> = (0..40)
        .map(|i| {
            let (client, url, first_tx) =
                (client.clone(), format!("{node}/api/v1/queues/{}/tickets", app.queue), first_tx.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 5)).await;
                let reply = client.post(url).json(&json!({"name": format!("n{i}")})).send().await;
                let status = reply.ok().map(|r| r.status().as_u16());
                let _ = first_tx.send(()).await;
                status
            })
        })
        .collect();
    first.recv().await;
    stopper.stop().await;
    let mut answered = 0;
    for join in joins {
        match join.await.unwrap() {
            Some(201) => answered += 1,
            Some(other) => panic!("a join in flight was answered {other}"),
            None => {} // refused: it came after the door closed
        }
    }

    // Assert: every answered join is committed, and nothing else is.
    assert!(answered >= 1);
    assert_eq!(joined_events(&app).await, answered, "committed joins differ from answered ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_returns_after_every_submitted_change_is_committed() {
    // Arrange: joins submitted by requesters that go away at once (as when clients disconnect).
    let app = spawn_app().await;
    let joins: Vec<_> = (0..2000)
        .map(|_| {
            let store = app.store.clone();
            let queue = app.queue;
            tokio::spawn(async move { store.join(queue, JoinRequest::default(), None).await.map(|_| ()) })
        })
        .collect();
    // Until some are committed, so others are surely on their way.
    while joined_events(&app).await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for join in &joins {
        join.abort();
    }
    for join in joins {
        let _ = join.await; // after this, no task can submit anything more
    }

    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let count = "SELECT count(*) FROM queue_events WHERE kind = 'ticket.joined'";

    // Act
    app.store.flush().await;
    let at_flush: i64 = sqlx::query_scalar(count).fetch_one(&mut db).await.unwrap();

    // Assert: nothing the writer held was committed after the flush returned.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sqlx::query_scalar::<_, i64>(count).fetch_one(&mut db).await.unwrap(), at_flush);
}
