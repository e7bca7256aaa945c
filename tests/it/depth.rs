//! A long line costs a staff socket and a page of the line what a short one does: the snapshot
//! is a window (the head of the line and the counts), the rest is paged, from this node's hub or
//! from the database, and an integration far behind is served in bounded steps.

use crate::common;

use common::{spawn_app, TestApp, WsEvent};
use serde_json::{json, Value};
use sqlx::Connection;

/// The whole line, paged from `base` after the `head` already known.
async fn page_all(app: &TestApp, base: &str, mut line: Vec<Value>, total: usize, seq: i64) -> Vec<Value> {
    let node = app.on(base);
    while line.len() < total {
        let path = format!("/api/v1/queues/{}/line?after_position={}&limit=250", app.queue, line.len());
        let page = node.get(&path, Some(&app.admin)).await.expect(200);
        assert_eq!(page["seq"].as_i64(), Some(seq), "a page of another moment");
        assert_eq!(page["waiting_total"].as_u64(), Some(total as u64));
        let tickets = page["tickets"].as_array().unwrap();
        assert!(!tickets.is_empty(), "the line ended at {} of {total}", line.len());
        line.extend(tickets.iter().cloned());
    }
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_snapshot_at_depth_is_a_window_and_the_line_pages_the_same_from_hub_and_database() {
    // Arrange: 1,200 in line, a fifth of them with priority (set before any node holds the line
    // live, so each reads it from the database), over two buckets of the line's counts each.
    let app = spawn_app().await;
    app.fill(1200).await;
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let raised = sqlx::query("UPDATE tickets SET priority = 1 WHERE queue_id = $1 AND line_seq % 5 = 0")
        .bind(app.queue)
        .execute(&mut owner)
        .await
        .unwrap();
    assert_eq!(raised.rows_affected(), 240);
    let other = app.second_node().await;

    // Act: a console opens (this node now has the queue's hub); the other node has none.
    let mut console = app.staff_socket(app.queue, None).await;
    let snap = console.json().await;

    // Assert: a window under 100 KB with the count, and the same line, position by position,
    // whoever pages it.
    let size = serde_json::to_string(&snap).unwrap().len();
    assert!(size < 100_000, "the snapshot is {size} bytes");
    let head = snap["waiting"].as_array().unwrap().clone();
    assert_eq!((head.len(), snap["waiting_total"].as_u64()), (200, Some(1200)));
    let seq = snap["seq"].as_i64().unwrap();
    let from_hub = page_all(&app, &app.base, head.clone(), 1200, seq).await;
    let from_db = page_all(&app, &other, head, 1200, seq).await;
    let ids = |line: &[Value]| line.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(&from_hub), ids(&from_db));
    // The hub holds the waiting bare (no names): what it shows is dressed from the database, and
    // is the database's ticket field for field.
    let same = ["number", "status", "name", "party_size", "fields", "joined_at", "priority", "counter", "seq"];
    for (i, (a, b)) in from_hub.iter().zip(&from_db).enumerate() {
        assert_eq!((a["position"].as_u64(), b["position"].as_u64()), (Some(i as u64 + 1), Some(i as u64 + 1)));
        for field in same {
            assert_eq!(a[field], b[field], "{field} at {}", i + 1);
        }
    }
    let names: std::collections::HashSet<&str> = from_hub.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 1200, "every person once");

    // Bad pages are refused with a code.
    for bad in ["after_position=-1", "limit=0", "limit=501", "after_position=x"] {
        app.get(&format!("/api/v1/queues/{}/line?{bad}", app.queue), Some(&app.admin))
            .await
            .expect_problem(400, "bad_request");
    }
    app.get(&format!("/api/v1/queues/{}/line", app.queue), None).await.expect_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_client_far_behind_gets_bounded_steps_then_a_close_and_resumes_without_a_gap() {
    // Arrange: more events than one replay serves (5,000).
    let app = spawn_app().await;
    app.fill(6100).await;

    // Act: an integration asks for everything since the start.
    let pass = app.pass(&app.admin.clone()).await;
    let mut ws = app.ws(&format!("/ws/queues/{}?pass={pass}&since=0&mode=events", app.queue)).await;
    let mut seen = Vec::new();
    let code = loop {
        match ws.next().await {
            WsEvent::Json(frame) => {
                assert_eq!(frame["type"], "event", "an events client never gets a snapshot");
                seen.push(frame["event"]["seq"].as_i64().unwrap());
            }
            WsEvent::Closed(code) => break code,
        }
    };

    // Assert: the first 5,000 in order, then 4001; resuming from there brings the rest.
    assert_eq!(code, 4001);
    assert_eq!(seen, (1..=5000).collect::<Vec<_>>());
    let pass = app.pass(&app.admin.clone()).await;
    let mut ws = app.ws(&format!("/ws/queues/{}?pass={pass}&since=5000&mode=events", app.queue)).await;
    for seq in 5001..=6100 {
        assert_eq!(ws.json().await["event"]["seq"].as_i64(), Some(seq));
    }
    let pass = app.pass(&app.admin.clone()).await;
    let refused = app.try_ws(&format!("/ws/queues/{}?pass={pass}&mode=everything", app.queue), None).await;
    assert!(refused.is_err(), "an unknown mode is refused before the upgrade");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_counted_by_the_database_match_the_live_line_across_buckets() {
    // Arrange: a line over three buckets of 1,024, moved about: some leave from the middle, some
    // are called, some of those are put back at their place, one moves to another queue and
    // back (re-entering at the end), and the database's counters must follow every move.
    let app = spawn_app().await;
    app.fill(2600).await;
    let other_queue = app.create_queue(&app.admin, "other", serde_json::json!({})).await;
    let page = app.get(&format!("/api/v1/queues/{}/line?limit=500", app.queue), Some(&app.admin)).await.expect(200);
    let ids: Vec<String> =
        page["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    let deep = app
        .get(&format!("/api/v1/queues/{}/line?after_position=1500&limit=500", app.queue), Some(&app.admin))
        .await
        .expect(200);
    let deep_ids: Vec<String> =
        deep["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    for id in deep_ids.iter().step_by(7) {
        app.post(&format!("/api/v1/tickets/{id}/cancel"), Some(&app.admin), serde_json::json!({})).await.expect(200);
    }
    let mut called = Vec::new();
    for _ in 0..40 {
        called.push(app.call_next(&app.admin, app.queue, "D1").await.expect(200)["id"].as_str().unwrap().to_owned());
    }
    for id in called.iter().step_by(3) {
        app.transition(&app.admin, id, "requeue").await.expect(200);
    }
    let moved = &ids[300];
    app.post(
        &format!("/api/v1/tickets/{moved}/transfer"),
        Some(&app.admin),
        serde_json::json!({"queue_id": other_queue}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/tickets/{moved}/transfer"),
        Some(&app.admin),
        serde_json::json!({"queue_id": app.queue}),
    )
    .await
    .expect(200);

    // Act: the whole line from a node holding it live, and each ticket's place read on a node
    // without it (counted by the database).
    let mut console = app.staff_socket(app.queue, None).await;
    let snap = console.json().await;
    let (seq, total) = (snap["seq"].as_i64().unwrap(), snap["waiting_total"].as_u64().unwrap() as usize);
    let live = page_all(&app, &app.base, snap["waiting"].as_array().unwrap().clone(), total, seq).await;
    let other = app.on(&app.second_node().await);

    // Assert
    assert_eq!(live.last().unwrap()["id"].as_str(), Some(moved.as_str()), "a transfer back enters at the end");
    for (i, t) in live.iter().enumerate().filter(|(i, _)| i % 11 == 0 || *i + 1 == total) {
        let id = t["id"].as_str().unwrap();
        let read = other.get(&format!("/api/v1/tickets/{id}"), Some(&app.admin)).await.expect(200);
        assert_eq!(read["position"].as_u64(), Some(i as u64 + 1), "ticket {id} at {}", i + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_the_live_line_holds_bare_is_shown_whole_to_its_customer() {
    // Arrange: a console makes this node hold the queue's line; Ada joins it and waits (the hub
    // keeps her bare: no name, no fields).
    let app = spawn_app().await;
    let mut console = app.staff_socket(app.queue, None).await;
    console.json().await;
    let ada = json!({"name": "Ada", "party_size": 3, "fields": {"note": "wheelchair"}});
    let joined = app.join(app.queue, ada).await.expect(201);
    let (id, token) = (joined["ticket"]["id"].as_str().unwrap(), joined["token"].as_str().unwrap());
    console.json().await;

    // Act: she reads her ticket, opens her page's socket, then she is called.
    let read = app.get(&format!("/api/v1/tickets/{id}?token={token}"), None).await.expect(200);
    let mut phone = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    let first = phone.json().await;
    app.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
    let called = phone.json().await;

    // Assert: whole every time, from the hub's place and the database's details.
    for (what, t) in [("read", &read), ("first frame", &first["ticket"]), ("called", &called["ticket"])] {
        assert_eq!(
            (&t["name"], &t["party_size"], &t["fields"]["note"]),
            (&json!("Ada"), &json!(3), &json!("wheelchair")),
            "{what}"
        );
    }
    assert_eq!((read["position"].as_u64(), first["ticket"]["position"].as_u64()), (Some(1), Some(1)));
    assert_eq!(called["ticket"]["status"], "called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_grows_gets_its_first_statistics_from_the_node_within_seconds() {
    // Arrange: autovacuum off for the tickets (only the node may analyse them), a fresh database
    // whose tables have never been analysed, and plans of the hot reads made while the line is
    // short (a connection keeps a generic plan made without statistics until an ANALYZE).
    let app = spawn_app().await;
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("ALTER TABLE tickets SET (autovacuum_enabled = false)").execute(&mut owner).await.unwrap();
    app.fill(8).await;
    let last = app.join(app.queue, json!({})).await.expect(201);
    let read =
        format!("/api/v1/tickets/{}?token={}", last["ticket"]["id"].as_str().unwrap(), last["token"].as_str().unwrap());
    for _ in 0..8 {
        app.get(&read, None).await.expect(200);
    }
    let analysed = "SELECT relname::text, last_analyze IS NOT NULL FROM pg_stat_user_tables \
                    WHERE relname IN ('tickets', 'webhooks') ORDER BY relname";
    let before: Vec<(String, bool)> = sqlx::query_as(analysed).fetch_all(&mut owner).await.unwrap();

    // Act: the line grows past the threshold.
    app.fill(300).await;

    // Assert: within seconds the grown table has statistics, made by an ANALYZE (autovacuum's
    // would be `last_autoanalyze`), and one that did not grow has none; the read still answers.
    // (A backend that went idle within a second of its last report tells PostgreSQL's statistics
    // what it changed 10 s later: the node may only see the growth then.)
    let mut after = before.clone();
    for _ in 0..300 {
        after = sqlx::query_as(analysed).fetch_all(&mut owner).await.unwrap();
        if after[0].1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(before, [("tickets".to_owned(), false), ("webhooks".to_owned(), false)]);
    assert_eq!(after, [("tickets".to_owned(), true), ("webhooks".to_owned(), false)]);
    let ticket = app.get(&read, None).await.expect(200);
    assert_eq!(ticket["position"].as_u64(), Some(9));
}

/// How many places this test's node answered `by` one way (see `queuecast_places_total`).
async fn places_by(app: &TestApp, by: &str) -> u64 {
    let text = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let name = format!("queuecast_places_total{{by=\"{by}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&name)).map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_counts_its_place_itself_unless_the_node_holds_the_queues_live_line() {
    // Arrange: two in line in each of two queues whose ids end in different bytes (the filter
    // of live lines tells such queues apart).
    let app = spawn_app().await;
    let mut other = app.create_queue(&app.admin, "other-0", json!({})).await;
    for i in 1.. {
        if other.as_bytes()[15] != app.queue.as_bytes()[15] {
            break;
        }
        other = app.create_queue(&app.admin, &format!("other-{i}"), json!({})).await;
    }
    let mut second = Vec::new();
    for queue in [app.queue, other] {
        app.join(queue, json!({})).await.expect(201);
        let joined = app.join(queue, json!({})).await.expect(201);
        second.push(format!(
            "/api/v1/tickets/{}?token={}",
            joined["ticket"]["id"].as_str().unwrap(),
            joined["token"].as_str().unwrap()
        ));
    }
    let position = |t: &Value| t["position"].as_u64();

    // Act / Assert: without a live line, the read counts the place.
    assert_eq!(position(&app.get(&second[0], None).await.expect(200)), Some(2));
    assert_eq!((places_by(&app, "read").await, places_by(&app, "live").await), (1, 0));

    // A console makes the node hold the first queue's line: its reads leave the place to it…
    let mut console = app.staff_socket(app.queue, None).await;
    console.json().await;
    assert_eq!(position(&app.get(&second[0], None).await.expect(200)), Some(2));
    assert_eq!((places_by(&app, "read").await, places_by(&app, "live").await), (1, 1));

    // …and the other queue's reads still count theirs; nothing needed a second read.
    assert_eq!(position(&app.get(&second[1], None).await.expect(200)), Some(2));
    assert_eq!((places_by(&app, "read").await, places_by(&app, "live").await), (2, 1));
    assert_eq!(places_by(&app, "count").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_grown_past_its_size_gets_its_first_statistics_before_its_changes_are_reported() {
    // Arrange: a table of 20,000 rows (~700 KB) whose change counters read zero, as when the
    // backend that filled it has not reported them yet.
    let app = spawn_app().await;
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE grown AS SELECT g AS n FROM generate_series(1, 20000) g")
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::raw_sql("SELECT pg_stat_force_next_flush()").execute(&mut owner).await.unwrap();
    sqlx::raw_sql("SELECT pg_stat_reset_single_table_counters('grown'::regclass)").execute(&mut owner).await.unwrap();
    let (changes,): (i64,) =
        sqlx::query_as("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'grown'")
            .fetch_one(&mut owner)
            .await
            .unwrap();

    // Act: a look for tables without statistics (the node's, every quarter second, may come
    // first).
    queuecast::store::analyse_new_tables(&mut owner).await.unwrap();

    // Assert: the table has its statistics.
    let (columns,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM pg_stats WHERE tablename = 'grown'").fetch_one(&mut owner).await.unwrap();
    assert_eq!((changes, columns), (0, 1));
}
