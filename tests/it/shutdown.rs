//! Stopping a node drains it: requests in flight are answered, and nothing is committed that
//! was not answered or is left uncommitted once the stop returns.

use crate::common;

use std::time::Duration;

use common::{spawn_app, Proxy};
use queuecast::fanout::Feeds;
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

/// `host:port` of a `postgres://user:password@host:port/db` URL.
fn pg_addr(url: &str) -> std::net::SocketAddr {
    let host_port = url.rsplit_once('@').unwrap().1.split('/').next().unwrap();
    std::net::ToSocketAddrs::to_socket_addrs(host_port).unwrap().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_makes_no_connection_to_postgresql_or_redis() {
    // Arrange: a node that reaches PostgreSQL and Redis through counting proxies, with Redis
    // written as people write it (no `?protocol=resp3`), a fast safety-net poll, and a live hub
    // (a phone on its socket), so every feed and timer is running.
    let app = spawn_app().await;
    let pg = Proxy::start(pg_addr(&app.db_url)).await;
    let redis = Proxy::start(common::redis_addr()).await;
    let db_via_proxy = app.db_url.replace(&pg_addr(&app.db_url).to_string(), &format!("127.0.0.1:{}", pg.port));
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let (base, stopper) = app
        .node(|s| {
            s.database_url = db_via_proxy;
            s.redis_url = Some(redis_url.clone());
            s.feeds = Some(Feeds { poll_every: Some(Duration::from_millis(100)), ..Feeds::all(Some(redis_url)) });
        })
        .await;
    let node = app.on(&base);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while node.get("/readyz", None).await.body["redis"] != "up" {
        assert!(tokio::time::Instant::now() < deadline, "Redis is not up on the node");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ticket, token) = node.joined(app.queue).await;
    let mut phone = node.ws(&format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap())).await;
    assert_eq!(phone.json().await["type"], "ticket");
    assert!(pg.open() > 0 && redis.open() > 0, "the node is not using the proxies");

    // Act
    stopper.stop().await;
    let (pg_seen, redis_seen) = (pg.accepted(), redis.accepted());
    // Two heartbeats, two Redis checks, forty polls, and a listener's silence timeout nearly.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Assert: nothing was opened since, and nothing is left open.
    assert_eq!(pg.accepted(), pg_seen, "connections made to PostgreSQL after the stop");
    assert_eq!(redis.accepted(), redis_seen, "connections made to Redis after the stop");
    assert_eq!(pg.open(), 0, "connections to PostgreSQL still open after the stop");
    assert_eq!(redis.open(), 0, "connections to Redis still open after the stop");
}
