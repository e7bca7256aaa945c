//! Many writers at once: no ticket handed out twice, no seq skipped or repeated.

use crate::common;

use std::collections::HashSet;

use common::spawn_app;
use futures_util::future::join_all;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

fn assert_gapless(events: &[Value], count: usize) {
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=count as i64).collect::<Vec<_>>(), "seqs must be 1..={count} with no gap or repeat");
}

async fn staff_race(staff: usize) {
    let app = spawn_app().await;
    // Arrange: more people than desks.
    for _ in 0..staff + 5 {
        app.joined(app.queue).await;
    }
    // Act: every desk calls next at the same moment.
    let calls = (0..staff).map(|i| {
        let app = &app;
        async move { app.call_next(&app.admin, app.queue, &format!("Desk {i}")).await.expect(200) }
    });
    let called: Vec<Value> = join_all(calls).await;

    // Assert: distinct tickets, the first in line, and a gapless log.
    let ids: HashSet<&str> = called.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), staff, "two desks got the same ticket");
    let mut numbers: Vec<&str> = called.iter().map(|t| t["number"].as_str().unwrap()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=staff).map(|n| format!("A{n:03}")).collect();
    assert_eq!(numbers, expected, "call-next takes the head of the line");
    let mut by_seq = called.clone();
    by_seq.sort_by_key(|t| t["seq"].as_i64());
    let in_seq_order: Vec<&str> = by_seq.iter().map(|t| t["number"].as_str().unwrap()).collect();
    assert_eq!(in_seq_order, expected, "earlier calls (by seq) took earlier tickets");
    let events = app.all_events(&app.admin, app.queue).await;
    assert_gapless(&events, 2 * staff + 5);
    assert_eq!(events.iter().filter(|e| e["kind"] == "ticket.called").count(), staff);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_staff_calling_next_at_once_get_different_tickets() {
    staff_race(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_staff_calling_next_at_once_get_different_tickets() {
    staff_race(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_desks_calling_than_people_waiting_leaves_the_rest_with_queue_empty() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.joined(app.queue).await;
    }
    let desks: Vec<String> = (0..8).map(|i| format!("Desk {i}")).collect();
    let calls = join_all(desks.iter().map(|d| app.call_next(&app.admin, app.queue, d))).await;
    let ok = calls.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 3);
    for r in calls.iter().filter(|r| r.status != 200) {
        r.expect_problem(409, "queue_empty");
    }
    assert_gapless(&app.all_events(&app.admin, app.queue).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_joins_get_a_thousand_numbers_seqs_and_places() {
    let app = spawn_app().await;
    let joins = (0..1000).map(|i| {
        let app = &app;
        async move { app.join(app.queue, json!({"name": format!("p{i}")})).await.expect(201)["ticket"].clone() }
    });
    let tickets: Vec<Value> = join_all(joins).await;

    let numbers: HashSet<&str> = tickets.iter().map(|t| t["number"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), 1000);
    let mut seqs: Vec<i64> = tickets.iter().map(|t| t["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
    let mut places: Vec<i64> = tickets.iter().map(|t| t["position"].as_i64().unwrap()).collect();
    places.sort();
    assert_eq!(places, (1..=1000).collect::<Vec<_>>());
    // Number, seq and place agree for each ticket: the line is in join order.
    for t in &tickets {
        let seq = t["seq"].as_i64().unwrap();
        assert_eq!(t["position"].as_i64(), Some(seq));
        assert_eq!(t["number"].as_str().unwrap(), format!("A{seq:03}"));
    }
    assert_gapless(&app.all_events(&app.admin, app.queue).await, 1000);
    let summary = app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
    assert_eq!(summary["waiting"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_replayed_with_its_idempotency_key_answers_the_same_ticket() {
    let app = spawn_app().await;
    let path = format!("{}/api/v1/queues/{}/tickets", app.base, app.queue);
    let send = |key: &'static str, body: Value| {
        let req = app.http.post(&path).header("Idempotency-Key", key).json(&body);
        async move { common::into_reply(req.send().await.unwrap()).await }
    };

    let first = send("join-7f3a", json!({"name": "Ann"})).await.expect(201);
    let again = send("join-7f3a", json!({"name": "Ann"})).await.expect(201);
    assert_eq!(again["ticket"]["id"], first["ticket"]["id"]);
    assert_eq!(again["token"], first["token"], "the replay hands back the same secret");
    let other = send("join-7f3a", json!({"name": "Bob"})).await;
    other.expect_problem(409, "idempotency_conflict");

    // Concurrent replays of one key make one ticket.
    let burst: Vec<Value> = join_all((0..20).map(|_| send("burst-1", json!({"party_size": 3}))))
        .await
        .into_iter()
        .map(|r| r.expect(201))
        .collect();
    let ids: HashSet<&str> = burst.iter().map(|b| b["ticket"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1);
    assert_gapless(&app.all_events(&app.admin, app.queue).await, 2);

    // The token really opens the ticket; the stored record does not hold it in the clear.
    let id = first["ticket"]["id"].as_str().unwrap();
    let token = first["token"].as_str().unwrap();
    app.get(&format!("/api/v1/tickets/{id}?token={token}"), None).await.expect(200);
    let mut conn = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let sealed: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_sealed FROM idempotency_keys").fetch_all(&mut conn).await.unwrap();
    assert_eq!(sealed.len(), 2);
    assert!(sealed.iter().all(|s| !String::from_utf8_lossy(s).contains(token)));
}

/// Holds the queue's row lock from another connection, so the writer's next transaction waits
/// and every change sent meanwhile piles up into one batch.
async fn hold_queue(app: &common::TestApp) -> sqlx::PgConnection {
    let mut conn = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    conn.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT 1 FROM queues WHERE id = $1 FOR UPDATE").bind(app.queue).execute(&mut conn).await.unwrap();
    conn
}

async fn pause() {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_database_rejects_fails_alone_and_the_rest_of_its_batch_commits() {
    let app = spawn_app().await;
    // Fault injection in this test's own database: one customer's ticket cannot be stored.
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    owner
        .execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.customer_name = 'Poison' THEN \
                 RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = 'poison refused'; END IF; \
               RETURN NEW; END $$; \
             CREATE TRIGGER refuse_poison BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
        )
        .await
        .unwrap();
    let mut lock = hold_queue(&app).await;

    // The first join takes the writer into the held lock; the next eleven pile up behind it.
    let first = app.join(app.queue, json!({"name": "First"}));
    let rest = async {
        pause().await;
        let names = (0..11).map(|i| if i == 5 { "Poison".to_owned() } else { format!("p{i}") });
        join_all(names.map(|name| app.join(app.queue, json!({"name": name})))).await
    };
    let release = async {
        pause().await;
        pause().await;
        lock.execute("COMMIT").await.unwrap();
    };
    let (first, rest, ()) = tokio::join!(first, rest, release);

    first.expect(201);
    for (i, reply) in rest.into_iter().enumerate() {
        if i == 5 {
            reply.expect_problem(400, "bad_request");
        } else {
            reply.expect(201);
        }
    }
    let events = app.all_events(&app.admin, app.queue).await;
    assert_gapless(&events, 11);
    assert!(events.iter().all(|e| e["ticket"]["name"] != "Poison"));
    let numbers: HashSet<&str> = events.iter().map(|e| e["ticket"]["number"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), 11, "the refused join took no number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_two_queues_in_one_batch_each_take_the_head_of_their_own_line() {
    let app = spawn_app().await;
    let other = app.create_queue(&app.admin, "other", json!({})).await;
    let mut line_a = Vec::new();
    for _ in 0..4 {
        line_a.push(app.joined(app.queue).await.0["id"].as_str().unwrap().to_owned());
    }
    let mut line_b = Vec::new();
    for _ in 0..3 {
        line_b.push(app.joined(other).await.0["id"].as_str().unwrap().to_owned());
    }
    let mut lock = hold_queue(&app).await;

    // The first call takes the writer into the held lock; two more to this queue and four to
    // the other (one more than wait there) pile up into the next batch, interleaved.
    let first = app.call_next(&app.admin, app.queue, "Desk 0");
    let rest = async {
        pause().await;
        let queues = [other, app.queue, other, other, app.queue, other];
        let app = &app;
        join_all(queues.map(|q| async move { (q, app.call_next(&app.admin, q, "Desk 1").await) })).await
    };
    let release = async {
        pause().await;
        pause().await;
        lock.execute("COMMIT").await.unwrap();
    };
    let (first, rest, ()) = tokio::join!(first, rest, release);

    assert_eq!(first.expect(200)["id"], line_a[0]);
    let mut called_a = HashSet::new();
    let mut called_b = HashSet::new();
    let mut empty = 0;
    for (queue, reply) in rest {
        if reply.status == 409 {
            assert_eq!(queue, other, "only the other queue's line runs out");
            reply.expect_problem(409, "queue_empty");
            empty += 1;
            continue;
        }
        let id = reply.expect(200)["id"].as_str().unwrap().to_owned();
        match queue == app.queue {
            true => called_a.insert(id),
            false => called_b.insert(id),
        };
    }
    assert_eq!(empty, 1);
    assert_eq!(called_a, line_a[1..3].iter().cloned().collect(), "the next two of this queue's line");
    assert_eq!(called_b, line_b.iter().cloned().collect(), "the whole of the other queue's line");
    assert_gapless(&app.all_events(&app.admin, app.queue).await, 4 + 3);
    assert_gapless(&app.all_events(&app.admin, other).await, 3 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_racing_another_nodes_join_with_the_same_key_is_refused_alone() {
    let app = spawn_app().await;
    // Another writer (as if on another node) holds an uncommitted record for key "k-held".
    let tenant: uuid::Uuid = app.store.tenant_by_slug("acme").await.unwrap().unwrap();
    let mut other = app.app_role_connection().await;
    other.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, key_hash, request_hash, ticket_id, token_sealed, expires_at) \
         VALUES ($1, sha256('k-held'), '\\x00', gen_random_uuid(), '\\x00', now() + interval '1 hour')",
    )
    .bind(tenant)
    .execute(&mut other)
    .await
    .unwrap();
    let mut lock = hold_queue(&app).await;

    // Our join with that key and ten plain joins pile up into one batch; the keyed insert then
    // waits on the other writer's row until it commits.
    let path = format!("{}/api/v1/queues/{}/tickets", app.base, app.queue);
    let held = async {
        pause().await;
        let req = app.http.post(&path).header("Idempotency-Key", "k-held").json(&json!({"name": "Held"}));
        common::into_reply(req.send().await.unwrap()).await
    };
    let plain = async {
        pause().await;
        join_all((0..10).map(|_| app.join(app.queue, json!({})))).await
    };
    let first = app.join(app.queue, json!({}));
    let release = async {
        pause().await;
        pause().await;
        lock.execute("COMMIT").await.unwrap();
        pause().await;
        other.execute("COMMIT").await.unwrap();
    };
    let (first, held, plain, ()) = tokio::join!(first, held, plain, release);

    first.expect(201);
    held.expect_problem(409, "idempotency_conflict");
    for reply in plain {
        reply.expect(201);
    }
    let events = app.all_events(&app.admin, app.queue).await;
    assert_gapless(&events, 11);
    assert!(events.iter().all(|e| e["ticket"]["name"] != "Held"));
}
