//! A join sent again with its `Idempotency-Key` answers the same ticket and token, with the
//! right place, wherever the first one stands: committed long ago, committed by the batch before,
//! in the same batch, or on another node. A replay of a committed key never waits for the
//! writer, so retries cannot slow the writes they repeat.

use crate::common;

use std::time::{Duration, Instant};

use common::{spawn_app, Reply, TestApp};
use futures_util::future::join_all;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

/// Sends a join to `base` with `key`.
async fn keyed_join(app: &TestApp, base: &str, key: &str, body: Value) -> Reply {
    let path = format!("{base}/api/v1/queues/{}/tickets", app.queue);
    let req = app.http.post(&path).header("Idempotency-Key", key).json(&body);
    common::into_reply(req.send().await.unwrap()).await
}

/// Holds the queue's row lock from another connection: the writer's next batch waits on it.
async fn hold_queue(app: &TestApp) -> sqlx::PgConnection {
    let mut conn = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    conn.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT 1 FROM queues WHERE id = $1 FOR UPDATE").bind(app.queue).execute(&mut conn).await.unwrap();
    conn
}

/// A join that waits for the queue's row, locked by the connection returned, with the node
/// working on it (sent 300 ms ago).
async fn hold_a_join(app: &TestApp) -> (sqlx::PgConnection, tokio::task::JoinHandle<common::Reply>) {
    let lock = hold_queue(app).await;
    let held = tokio::spawn({
        let app = app.on(&app.base);
        async move { app.join(app.queue, json!({})).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    (lock, held)
}

fn same_ticket(a: &Value, b: &Value) {
    assert_eq!(a["ticket"]["id"], b["ticket"]["id"], "{a} / {b}");
    assert_eq!(a["token"], b["token"], "the replay hands back the same secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_a_committed_key_answers_while_the_queue_is_locked_by_a_writer() {
    // Arrange: two people, then a keyed join; then another writer holds the queue's row.
    let app = spawn_app().await;
    app.joined(app.queue).await;
    app.joined(app.queue).await;
    let first = keyed_join(&app, &app.base, "k-early", json!({"name": "Ann"})).await.expect(201);
    let mut lock = hold_queue(&app).await;
    let blocked = tokio::spawn({
        let app = app.on(&app.base);
        async move { app.join(app.queue, json!({})).await }
    });

    // Act
    let started = Instant::now();
    let again = keyed_join(&app, &app.base, "k-early", json!({"name": "Ann"})).await.expect(201);

    // Assert: answered at once, with the same ticket in its place, while a new join waits.
    assert!(started.elapsed() < Duration::from_secs(2), "the replay took {:?}", started.elapsed());
    same_ticket(&first, &again);
    assert_eq!(again["ticket"]["position"], 3);
    assert!(!blocked.is_finished(), "the lock did not hold the writer");
    lock.execute("COMMIT").await.unwrap();
    blocked.await.unwrap().expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_in_one_batch_share_the_first_outcome_and_make_one_ticket() {
    // Arrange: the writer's batch waits on a lock, so these all pile into it.
    let app = spawn_app().await;
    app.joined(app.queue).await;
    let mut lock = hold_queue(&app).await;

    // Act
    let burst = join_all((0..8).map(|_| keyed_join(&app, &app.base, "k-burst", json!({"party_size": 2}))));
    let release = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        lock.execute("COMMIT").await.unwrap();
    };
    let (replies, ()) = tokio::join!(burst, release);

    // Assert
    let replies: Vec<Value> = replies.into_iter().map(|r| r.expect(201)).collect();
    for r in &replies {
        same_ticket(&replies[0], r);
        assert_eq!(r["ticket"]["position"], 2);
    }
    let joins = app.all_events(&app.admin, app.queue).await.len();
    assert_eq!(joins, 2, "one ticket for the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sent_while_its_original_waits_in_a_batch_is_answered_by_the_next_batch() {
    // Arrange: the original is in a batch held by a lock; its retry looks, finds no committed
    // key, and waits behind it for the next batch.
    let app = spawn_app().await;
    app.joined(app.queue).await;
    let mut lock = hold_queue(&app).await;
    let original = tokio::spawn({
        let app = app.on(&app.base);
        async move { keyed_join(&app, &app.base, "k-retry", json!({"name": "Bo"})).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let retry = tokio::spawn({
        let app = app.on(&app.base);
        async move { keyed_join(&app, &app.base, "k-retry", json!({"name": "Bo"})).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act
    lock.execute("COMMIT").await.unwrap();

    // Assert
    let original = original.await.unwrap().expect(201);
    let retry = retry.await.unwrap().expect(201);
    same_ticket(&original, &retry);
    assert_eq!((&original["ticket"]["position"], &retry["ticket"]["position"]), (&json!(2), &json!(2)));
    assert_eq!(app.all_events(&app.admin, app.queue).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_committed_on_one_node_replays_on_another_with_the_place_the_database_gives() {
    // Arrange: the keyed join lands on a second node, behind two others.
    let app = spawn_app().await;
    let other = app.second_node().await;
    app.joined(app.queue).await;
    app.joined(app.queue).await;
    let first = keyed_join(&app, &other, "k-node", json!({"name": "Cy"})).await.expect(201);
    assert_eq!(first["ticket"]["position"], 3);

    // Act: replayed here, before and after two calls, with and without a live hub of the queue.
    let again = keyed_join(&app, &app.base, "k-node", json!({"name": "Cy"})).await.expect(201);
    app.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
    app.call_next(&app.admin, app.queue, "Desk 2").await.expect(200);
    let counted = keyed_join(&app, &app.base, "k-node", json!({"name": "Cy"})).await.expect(201);
    let id = first["ticket"]["id"].as_str().unwrap();
    let mut phone = app.ws(&format!("/ws/tickets/{id}?token={}", first["token"].as_str().unwrap())).await;
    assert_eq!(phone.json().await["ticket"]["position"], 1);
    let live = keyed_join(&app, &app.base, "k-node", json!({"name": "Cy"})).await.expect(201);

    // Assert
    for r in [&again, &counted, &live] {
        same_ticket(&first, r);
    }
    assert_eq!(again["ticket"]["position"], 3);
    assert_eq!(counted["ticket"]["position"], 1);
    assert_eq!(live["ticket"]["position"], 1);
    assert!(live["ticket"]["eta_seconds"].is_i64(), "{live}");
    keyed_join(&app, &app.base, "k-node", json!({"name": "Other"})).await.expect_problem(409, "idempotency_conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_bound_of_requests_in_flight_a_node_answers_503_at_once_instead_of_queueing() {
    // Arrange: a node working on one API request at most, and one join held by a locked queue.
    let app = common::spawn_app_with(|s| s.max_in_flight = 1).await;
    let (mut lock, held) = hold_a_join(&app).await;

    // Act
    let started = Instant::now();
    let res = app.http.get(format!("{}/api/v1/queues/{}", app.base, app.queue)).send().await.unwrap();

    // Assert: refused at once, saying when to come back; the held join still commits.
    assert!(started.elapsed() < Duration::from_secs(1), "the refusal took {:?}", started.elapsed());
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    common::into_reply(res).await.expect_problem(503, "unavailable");
    lock.execute("COMMIT").await.unwrap();
    held.await.unwrap().expect(201);
    app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_waits_for_its_503_without_taking_a_place_in_the_bound() {
    // Arrange: a node working on one API request at most, refusals answered after 400 ms, and
    // one join held by a locked queue.
    let app = common::spawn_app_with(|s| {
        s.max_in_flight = 1;
        s.shed_delay = Duration::from_millis(400);
    })
    .await;
    let (mut lock, held) = hold_a_join(&app).await;

    // Act: two requests refused while the join is held; then the join is let go.
    let started = Instant::now();
    let url = format!("{}/api/v1/queues/{}", app.base, app.queue);
    let (a, b) = tokio::join!(app.http.get(&url).send(), app.http.get(&url).send());
    let waited = started.elapsed();
    lock.execute("COMMIT").await.unwrap();

    // Assert: both refused after the delay (together, not one after the other), and the held
    // join commits: the waiting refusals held no place.
    assert_eq!((a.unwrap().status().as_u16(), b.unwrap().status().as_u16()), (503, 503));
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_millis(790), "{waited:?}");
    held.await.unwrap().expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_refused_for_capacity_keeps_its_connection_for_the_retry() {
    // Arrange: a node working on one API request at most, and one join held by a locked queue.
    let app = common::spawn_app_with(|s| s.max_in_flight = 1).await;
    let (mut lock, held) = hold_a_join(&app).await;

    // Act: a join with a body, refused.
    let url = format!("{}/api/v1/queues/{}/tickets", app.base, app.queue);
    let res =
        app.http.post(&url).header("Idempotency-Key", "shed-1").json(&json!({"name": "Ada"})).send().await.unwrap();

    // Assert: 503, and the connection stays open for the retry (a response sent before its
    // request's body was read closes the connection, and every retry paid a new one).
    assert_eq!(res.status(), 503);
    let connection = res.headers().get("connection").map(|v| v.to_str().unwrap().to_owned());
    assert_ne!(connection.as_deref(), Some("close"));
    common::into_reply(res).await.expect_problem(503, "unavailable");
    lock.execute("COMMIT").await.unwrap();
    held.await.unwrap().expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_join_looks_its_key_up_by_key_however_many_keys_came_after_the_writer_planned() {
    // Arrange: the writer runs its statements on its connection more than five times while
    // the tenant holds a handful of keys (PostgreSQL then keeps a plan made for that), then the
    // tenant's keys grow to 20,000.
    let app = spawn_app().await;
    for i in 0..8 {
        keyed_join(&app, &app.base, &format!("warm-{i}"), json!({})).await.expect(201);
    }
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, key_hash, request_hash, ticket_id, token_sealed, expires_at) \
         SELECT q.tenant_id, sha256(('many-' || i)::bytea), sha256('{}'::bytea), gen_random_uuid(), '\\x00', \
                now() + interval '1 hour' \
         FROM queues q CROSS JOIN generate_series(1, 20000) AS i WHERE q.id = $1",
    )
    .bind(app.queue)
    .execute(&mut owner)
    .await
    .unwrap();
    // Rows read from the table so far, as PostgreSQL counts them (a backend reports its counts
    // within a second of going idle).
    let reads =
        "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relname = 'idempotency_keys'";
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before: i64 = sqlx::query_scalar(reads).fetch_one(&mut owner).await.unwrap();

    // Act: one more keyed join, and a replay of it.
    let first = keyed_join(&app, &app.base, "after-the-crowd", json!({})).await.expect(201);
    let again = keyed_join(&app, &app.base, "after-the-crowd", json!({})).await.expect(201);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after: i64 = sqlx::query_scalar(reads).fetch_one(&mut owner).await.unwrap();

    // Assert: the same ticket, and a handful of rows read, not the tenant's 20,000 keys.
    assert_eq!(first["ticket"]["id"], again["ticket"]["id"]);
    assert!(after - before < 50, "rows of idempotency_keys read: {}", after - before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_looked_up_together_answer_each_its_own_tenants_ticket() {
    // Arrange: forty keyed joins in each of two tenants, the same keys in both (so the same key
    // hashes: only the tenant tells them apart), all sent at once.
    let app = spawn_app().await;
    let (_, beta_queue) = app.new_tenant("beta").await;
    let send = |queue: uuid::Uuid, key: String| {
        let (http, url) = (app.http.clone(), format!("{}/api/v1/queues/{queue}/tickets", app.base));
        async move {
            common::into_reply(http.post(&url).header("Idempotency-Key", key).json(&json!({})).send().await.unwrap())
                .await
        }
    };
    let asked: Vec<(uuid::Uuid, String)> =
        [app.queue, beta_queue].into_iter().flat_map(|q| (0..40).map(move |i| (q, format!("drop-{i}")))).collect();
    let first = join_all(asked.iter().map(|(q, k)| send(*q, k.clone()))).await;

    // Act: every one sent again at once, while the keys' table is locked: the first lookup
    // waits, and the others are looked up together once it is released.
    let mut lock = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    lock.execute("BEGIN; LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let again = tokio::spawn(join_all(asked.clone().into_iter().map(|(q, k)| send(q, k))));
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock.execute("COMMIT").await.unwrap();
    let again = again.await.unwrap();

    // Assert: each answers its own first ticket and token, in its own tenant's queue.
    for (((queue, key), first), again) in asked.iter().zip(first).zip(again) {
        let (first, again) = (first.expect(201), again.expect(201));
        same_ticket(&first, &again);
        assert_eq!(again["ticket"]["queue_id"], json!(queue), "{key}");
    }
}
