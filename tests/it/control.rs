//! Line control over HTTP and sockets: snoozes, moves, priorities and notes, a ticket's history,
//! presence, custom fields and feedback; every refusal with its code and nothing changed.

use crate::common;

use std::time::Duration;

use common::{spawn_app, spawn_app_with, TestApp, Ws};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// A customer in line with an open socket.
struct Customer {
    id: String,
    token: String,
    ws: Ws,
    /// The position the socket showed last.
    shown: Option<u64>,
}

async fn customers(app: &TestApp, n: usize) -> Vec<Customer> {
    let mut all = Vec::new();
    for _ in 0..n {
        let (ticket, token) = app.joined(app.queue).await;
        let id = ticket["id"].as_str().unwrap().to_owned();
        let mut ws = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
        let first = ws.json().await;
        let shown = first["ticket"]["position"].as_u64();
        all.push(Customer { id, token, ws, shown });
    }
    all
}

/// The line in order, as the database has it (owner connection, no hub involved).
async fn line_in_db(app: &TestApp) -> Vec<String> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db_url).await.unwrap();
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM tickets WHERE queue_id = $1 AND in_line ORDER BY priority DESC, line_seq")
            .bind(app.queue)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    ids.into_iter().map(|i| i.to_string()).collect()
}

/// Every customer's socket ends showing the position the database gives it (reading frames
/// until it does, 5 s at most each), and the REST read agrees.
async fn sockets_agree_with_the_database(app: &TestApp, customers: &mut [Customer]) {
    let line = line_in_db(app).await;
    for c in customers.iter_mut() {
        let want = line.iter().position(|id| *id == c.id).map(|p| p as u64 + 1);
        while c.shown != want {
            let frame = c.ws.json_within(Duration::from_secs(5)).await;
            let Some(frame) = frame else {
                panic!("{} shows {:?}, the database says {want:?}", c.id, c.shown);
            };
            c.shown = frame["ticket"]["position"].as_u64();
        }
        let read = app.get(&format!("/api/v1/tickets/{}?token={}", c.id, c.token), None).await.expect(200);
        assert_eq!(read["position"].as_u64(), want, "REST read of {}", c.id);
    }
}

async fn last_seq(app: &TestApp) -> i64 {
    app.all_events(&app.admin, app.queue).await.last().map_or(0, |e| e["seq"].as_i64().unwrap())
}

async fn patch(app: &TestApp, path: &str, body: Value) -> common::Reply {
    app.request(Method::PATCH, path, Some(&app.admin.clone()), Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_steps_back_within_the_queues_limits_and_every_socket_follows() {
    // Arrange: two snoozes of at most 3 places each, and five customers watching.
    let app = spawn_app().await;
    let queue_path = format!("/api/v1/queues/{}", app.queue);
    patch(&app, &queue_path, json!({"settings": {"snooze": {"max_times": 2, "max_places": 3}}})).await.expect(200);
    let summary = app.get(&queue_path, None).await.expect(200);
    assert_eq!(summary["snooze"], json!({"max_times": 2, "max_places": 3}));
    let mut people = customers(&app, 5).await;
    let snooze = |c: &Customer, places: i64| {
        let path = format!("/api/v1/tickets/{}/snooze?token={}", c.id, c.token);
        let app = &app;
        async move { app.post(&path, None, json!({"places": places})).await }
    };

    // Act and assert: the first steps back 2 (behind the third), then 3 more.
    let moved = snooze(&people[0], 2).await.expect(200);
    assert_eq!((moved["position"].as_u64(), moved["snoozes"].as_i64()), (Some(3), Some(1)));
    sockets_agree_with_the_database(&app, &mut people).await;
    let moved = snooze(&people[0], 3).await.expect(200);
    assert_eq!(moved["position"], 5);
    sockets_agree_with_the_database(&app, &mut people).await;
    let events = app.all_events(&app.admin, app.queue).await;
    let snoozed: Vec<&Value> = events.iter().filter(|e| e["kind"] == "ticket.snoozed").collect();
    assert_eq!(snoozed.len(), 2);
    assert_eq!(snoozed[1]["ticket"]["position"], 5);

    // Refusals, each with its code and nothing changed: past the limits, nobody behind, more
    // places than allowed, no places, staff's token, a ticket no longer waiting.
    snooze(&people[0], 1).await.expect_problem(409, "snooze_limit");
    snooze(&people[4], 4).await.expect_problem(409, "snooze_limit");
    snooze(&people[1], 0).await.expect_problem(400, "bad_request");
    let (newest, newest_token) = app.joined(app.queue).await;
    let newest = newest["id"].as_str().unwrap().to_owned();
    let before = last_seq(&app).await;
    let path = format!("/api/v1/tickets/{newest}/snooze?token={newest_token}");
    app.post(&path, None, json!({"places": 1})).await.expect_problem(409, "already_last");
    let path = format!("/api/v1/tickets/{}/snooze", people[1].id);
    app.post(&path, Some(&app.admin), json!({"places": 1})).await.expect_problem(403, "forbidden");
    assert_eq!(last_seq(&app).await, before);
    let line = line_in_db(&app).await;
    assert_eq!(line[line.len() - 2..], [people[0].id.clone(), newest]);
    let head = app.call_next(&app.admin, app.queue, "D1").await.expect(200);
    let called = people.iter().find(|c| c.id == head["id"].as_str().unwrap()).unwrap();
    snooze(called, 1).await.expect_problem(409, "invalid_transition");
    sockets_agree_with_the_database(&app, &mut people).await;

    // Without settings.snooze nobody may step back, and bad limits are refused.
    patch(&app, &queue_path, json!({"settings": {"snooze": null}})).await.expect(200);
    snooze(&people[2], 1).await.expect_problem(409, "snooze_limit");
    patch(&app, &queue_path, json!({"settings": {"snooze": {"max_times": 0, "max_places": 3}}}))
        .await
        .expect_problem(400, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_move_tickets_and_set_priorities_and_every_socket_follows() {
    // Arrange: six customers watching.
    let app = spawn_app().await;
    let mut people = customers(&app, 6).await;
    let ids: Vec<String> = people.iter().map(|c| c.id.clone()).collect();
    let move_to = |id: &str, body: Value| {
        let path = format!("/api/v1/tickets/{id}/move");
        let app = &app;
        async move { app.post(&path, Some(&app.admin), body).await }
    };

    // Act: the last to the front, the first just before the fourth, a priority for the fifth.
    let moved = move_to(&ids[5], json!({"position": 1})).await.expect(200);
    assert_eq!(moved["position"], 1);
    sockets_agree_with_the_database(&app, &mut people).await;
    let moved = move_to(&ids[0], json!({"before": ids[3]})).await.expect(200);
    assert_eq!(moved["position"], 4);
    sockets_agree_with_the_database(&app, &mut people).await;
    let raised = patch(&app, &format!("/api/v1/tickets/{}", ids[4]), json!({"priority": 5})).await.expect(200);
    assert_eq!((raised["priority"].as_i64(), raised["position"].as_u64()), (Some(5), Some(1)));
    sockets_agree_with_the_database(&app, &mut people).await;
    // Moved among the ordinary, a priority ticket becomes one of them; moved ahead of a priority
    // ticket, an ordinary one takes its priority.
    let lowered = move_to(&ids[4], json!({"position": 4})).await.expect(200);
    assert_eq!((lowered["priority"].as_i64(), lowered["position"].as_u64()), (Some(0), Some(4)));
    patch(&app, &format!("/api/v1/tickets/{}", ids[2]), json!({"priority": 3})).await.expect(200);
    let ahead = move_to(&ids[1], json!({"before": ids[2]})).await.expect(200);
    assert_eq!((ahead["priority"].as_i64(), ahead["position"].as_u64()), (Some(3), Some(1)));
    sockets_agree_with_the_database(&app, &mut people).await;

    // Assert: the order is what those moves make, in the database, the hub's pages and the
    // call order; calling this person takes them out of the middle.
    let want = [&ids[1], &ids[2], &ids[5], &ids[4], &ids[0], &ids[3]].map(|s| s.to_owned());
    assert_eq!(line_in_db(&app).await, want);
    let path = format!("/api/v1/queues/{}/line?after_position=0&limit=10", app.queue);
    let page = app.get(&path, Some(&app.admin)).await.expect(200);
    let paged: Vec<&str> = page["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(paged, want);
    let called = app
        .post(
            &format!("/api/v1/tickets/{}/transitions", ids[0]),
            Some(&app.admin),
            json!({"name": "call", "counter": "D2"}),
        )
        .await
        .expect(200);
    assert_eq!(called["counter"], "D2");
    sockets_agree_with_the_database(&app, &mut people).await;
    let next = app.call_next(&app.admin, app.queue, "D1").await.expect(200);
    assert_eq!(next["id"].as_str(), Some(ids[1].as_str()));

    // Refusals with nothing changed: a priority of 10, a position outside the line, before
    // itself or a ticket not waiting, moving a ticket not waiting, nothing to change.
    let before = last_seq(&app).await;
    let order = line_in_db(&app).await;
    patch(&app, &format!("/api/v1/tickets/{}", ids[3]), json!({"priority": 10}))
        .await
        .expect_problem(400, "bad_request");
    patch(&app, &format!("/api/v1/tickets/{}", ids[3]), json!({})).await.expect_problem(400, "bad_request");
    move_to(&ids[3], json!({"position": 0})).await.expect_problem(400, "bad_request");
    move_to(&ids[3], json!({"position": 99})).await.expect_problem(400, "bad_request");
    move_to(&ids[3], json!({"position": 1, "before": ids[2]})).await.expect_problem(400, "bad_request");
    move_to(&ids[3], json!({"before": ids[3]})).await.expect_problem(400, "bad_request");
    move_to(&ids[3], json!({"before": ids[0]})).await.expect_problem(400, "bad_request");
    move_to(&ids[0], json!({"position": 1})).await.expect_problem(409, "invalid_transition");
    move_to(&ids[3], json!({"position": 1})).await; // a valid one, to check the count below
    assert_eq!(last_seq(&app).await, before + 1);
    assert_eq!(line_in_db(&app).await.len(), order.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_for_staff_and_a_history_tells_a_tickets_life_in_order() {
    let app = spawn_app().await;
    let (ticket, token) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap();

    // Notes: in staff's reads and the PATCH answer; never in the customer's, nor in events.
    let noted = patch(&app, &format!("/api/v1/tickets/{id}"), json!({"notes": "  Needs the ramp "})).await.expect(200);
    assert_eq!(noted["notes"], "Needs the ramp");
    let as_staff = app.get(&format!("/api/v1/tickets/{id}"), Some(&app.admin)).await.expect(200);
    assert_eq!(as_staff["notes"], "Needs the ramp");
    let as_customer = app.get(&format!("/api/v1/tickets/{id}?token={token}"), None).await.expect(200);
    assert!(as_customer.get("notes").is_none(), "{as_customer}");
    let too_long = json!({"notes": "x".repeat(2001)});
    patch(&app, &format!("/api/v1/tickets/{id}"), too_long).await.expect_problem(400, "bad_request");

    // A life: joined, updated, called, started, completed.
    app.call_next(&app.admin, app.queue, "D1").await.expect(200);
    app.transition(&app.admin, id, "start").await.expect(200);
    app.transition(&app.admin, id, "complete").await.expect(200);
    let cleared = patch(&app, &format!("/api/v1/tickets/{id}"), json!({"notes": null})).await.expect(200);
    assert!(cleared.get("notes").is_none());
    patch(&app, &format!("/api/v1/tickets/{id}"), json!({"priority": 2}))
        .await
        .expect_problem(409, "invalid_transition");

    let history = app.get(&format!("/api/v1/tickets/{id}/history?token={token}"), None).await.expect(200);
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["ticket.joined", "ticket.updated", "ticket.called", "ticket.started", "ticket.completed", "ticket.updated"]
    );
    let seqs: Vec<i64> = history.as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // The customer sees staff as `staff`; staff see who.
    assert_eq!(history[2]["actor"], "staff");
    let staff_view = app.get(&format!("/api/v1/tickets/{id}/history"), Some(&app.admin)).await.expect(200);
    assert!(staff_view[2]["actor"].as_str().unwrap().starts_with("staff:"));
    let all = serde_json::to_string(&app.all_events(&app.admin, app.queue).await).unwrap();
    assert!(!all.contains("ramp"), "notes leaked into events");

    // Another tenant's staff and a wrong token learn nothing.
    let (beta, _) = app.new_tenant("beta").await;
    app.get(&format!("/api/v1/tickets/{id}/history"), Some(&beta)).await.expect_problem(404, "not_found");
    app.get(&format!("/api/v1/tickets/{id}/history?token=nope"), None).await.expect_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_given_once_after_the_end_and_counted_in_reports() {
    let app = spawn_app().await;
    let (ticket, token) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap();
    let path = format!("/api/v1/tickets/{id}/feedback?token={token}");
    let give = |body: Value| app.post(&path, None, body);

    give(json!({"rating": 5})).await.expect_problem(409, "not_finished");
    app.call_next(&app.admin, app.queue, "D1").await.expect(200);
    app.transition(&app.admin, id, "start").await.expect(200);
    app.transition(&app.admin, id, "complete").await.expect(200);
    let none = app.get(&format!("/api/v1/tickets/{id}/feedback?token={token}"), None).await.expect(200);
    assert!(none.is_null(), "{none}");
    give(json!({"rating": 6})).await.expect_problem(400, "bad_request");
    give(json!({"rating": 4, "extra": 1})).await.expect_problem(400, "bad_request");
    let path = format!("/api/v1/tickets/{id}/feedback");
    app.post(&path, Some(&app.admin), json!({"rating": 1})).await.expect_problem(403, "forbidden");
    let given = give(json!({"rating": 4, "comment": " Quick "})).await.expect(201);
    assert_eq!((given["rating"].as_i64(), given["comment"].as_str()), (Some(4), Some("Quick")));
    give(json!({"rating": 1})).await.expect_problem(409, "feedback_given");
    let read = app.get(&format!("/api/v1/tickets/{id}/feedback"), Some(&app.admin)).await.expect(200);
    assert_eq!(read["rating"], 4);

    // A second ticket rated 1: the day's mean is 2.5 over 2.
    let (other, other_token) = app.joined(app.queue).await;
    let other = other["id"].as_str().unwrap();
    app.post(&format!("/api/v1/tickets/{other}/cancel?token={other_token}"), None, json!({})).await.expect(200);
    app.post(&format!("/api/v1/tickets/{other}/feedback?token={other_token}"), None, json!({"rating": 1}))
        .await
        .expect(201);
    let today = chrono::Utc::now().date_naive();
    let report = app
        .get(&format!("/api/v1/queues/{}/stats?from={today}&to={today}&tz=UTC", app.queue), Some(&app.admin))
        .await
        .expect(200);
    assert_eq!(report["totals"]["rating"], json!({"count": 2, "mean": 2.5}), "{report}");
    let csv = app
        .http
        .get(format!("{}/api/v1/queues/{}/stats.csv?from={today}&to={today}&tz=UTC", app.base, app.queue))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.lines().next().unwrap().ends_with("no_shows_present,rating_count,rating_mean"), "{csv}");
    assert!(csv.lines().nth(1).unwrap().ends_with(",0,2,2.50\r") || csv.lines().nth(1).unwrap().ends_with(",0,2,2.50"));
}

/// The next staff event of one of `kinds`, skipping others.
async fn next_event(ws: &mut Ws, kinds: &[&str]) -> Value {
    loop {
        let frame = ws.json_within(Duration::from_secs(10)).await.expect("an event within 10 s");
        if frame["type"] == "event" && kinds.contains(&frame["event"]["kind"].as_str().unwrap_or("")) {
            return frame["event"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_appears_and_disappears_in_a_staff_socket_as_a_customer_page_opens_and_closes() {
    let app = spawn_app_with(|s| s.presence_grace = Duration::from_millis(400)).await;
    let (ticket, token) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap();
    assert_eq!(ticket["present"], false);
    let mut staff = app.staff_socket(app.queue, None).await;
    let snapshot = staff.json().await;
    assert_eq!(snapshot["waiting"][0]["present"], false);

    // The page opens: present.
    let mut page = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    page.json().await;
    let came = next_event(&mut staff, &["ticket.present", "ticket.away"]).await;
    assert_eq!(came["kind"], "ticket.present");
    assert_eq!((came["presence"]["ticket_id"].as_str(), came["presence"]["present"].as_bool()), (Some(id), Some(true)));
    assert!(came["ticket"].is_null());
    // Saying "here" again changes nothing, and writes nothing.
    page.send(json!({"type": "here"}).to_string()).await;
    let seq = came["seq"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snapshot = app.staff_socket(app.queue, None).await.json().await;
    assert_eq!((snapshot["seq"].as_i64(), &snapshot["waiting"][0]["present"]), (Some(seq), &json!(true)));
    assert!(snapshot["waiting"][0]["present_at"].is_string());

    // The page closes: away after the grace; a reload within it is not leaving.
    drop(page);
    let mut again = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    again.json().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let read = app.get(&format!("/api/v1/tickets/{id}"), Some(&app.admin)).await.expect(200);
    assert_eq!(read["present"], true, "a reload within the grace counted as leaving");
    drop(again);
    let went = next_event(&mut staff, &["ticket.present", "ticket.away"]).await;
    assert_eq!((went["kind"].as_str(), went["presence"]["present"].as_bool()), (Some("ticket.away"), Some(false)));
    let read = app.get(&format!("/api/v1/tickets/{id}"), Some(&app.admin)).await.expect(200);
    assert_eq!(read["present"], false);

    // Displays are not told of presence: their board did not change.
    let events = app.all_events(&app.admin, app.queue).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ticket.joined", "ticket.present", "ticket.away"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_present_on_one_node_stays_present_when_their_socket_on_another_closes() {
    let app = spawn_app_with(|s| s.presence_grace = Duration::from_millis(300)).await;
    let b = app.on(&app.second_node_with(|s| s.presence_grace = Duration::from_millis(300)).await);
    let (ticket, token) = app.joined(app.queue).await;
    let id = ticket["id"].as_str().unwrap();
    let mut staff = app.staff_socket(app.queue, None).await;
    staff.json().await;
    let mut on_a = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    on_a.json().await;
    assert_eq!(next_event(&mut staff, &["ticket.present", "ticket.away"]).await["kind"], "ticket.present");
    let mut on_b = b.ws(&format!("/ws/tickets/{id}?token={token}")).await;
    on_b.json().await;

    // The phone behind node A closes; the laptop behind node B is still open.
    drop(on_a);
    let went = next_event(&mut staff, &["ticket.present", "ticket.away"]).await;
    assert_eq!(went["kind"], "ticket.away");
    let back = next_event(&mut staff, &["ticket.present", "ticket.away"]).await;
    assert_eq!(back["kind"], "ticket.present", "node B still holds a socket of the customer");
    drop(on_b);
    assert_eq!(next_event(&mut staff, &["ticket.present", "ticket.away"]).await["kind"], "ticket.away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_presence_marks_writes_each_change_once_and_the_last_told_stands() {
    let app = spawn_app().await;
    let tenant = app.store.tenant_by_slug("acme").await.unwrap().unwrap();
    let mut ids = Vec::new();
    for _ in 0..60 {
        let (ticket, _) = app.joined(app.queue).await;
        ids.push(Uuid::parse_str(ticket["id"].as_str().unwrap()).unwrap());
    }
    // The first is called, the second cancelled (finished: its presence no longer matters).
    app.call_next(&app.admin.clone(), app.queue, "1").await.expect(200);
    app.transition(&app.admin.clone(), &ids[1].to_string(), "cancel").await.expect(200);
    let other_queue = app.create_queue(&app.admin.clone(), "elsewhere", json!({})).await;

    // Told without waiting, as sockets tell it: most land in one batch.
    for id in &ids {
        assert!(app.store.presence(tenant, app.queue, *id, true));
    }
    // A flicker: the last told stands, whatever batches it fell in.
    let flicker = ids[5];
    assert!(app.store.presence(tenant, app.queue, flicker, false));
    assert!(app.store.presence(tenant, app.queue, flicker, true));
    assert!(app.store.presence(tenant, app.queue, flicker, false));
    // Nothing to change, a ticket told under another queue, an unknown ticket: nothing written.
    assert!(app.store.presence(tenant, app.queue, ids[2], true));
    assert!(app.store.presence(tenant, other_queue, ids[2], false));
    assert!(app.store.presence(tenant, app.queue, Uuid::new_v4(), true));
    app.store.flush().await;

    let events = app.all_events(&app.admin, app.queue).await;
    let marks: Vec<&Value> = events.iter().filter(|e| e["presence"].is_object()).collect();
    let mut shown = std::collections::HashMap::new();
    for e in &marks {
        let id = Uuid::parse_str(e["presence"]["ticket_id"].as_str().unwrap()).unwrap();
        let present = e["presence"]["present"].as_bool().unwrap();
        assert_eq!(e["kind"], if present { "ticket.present" } else { "ticket.away" });
        // Each event is a change: never told twice in a row.
        assert_ne!(shown.insert(id, present), Some(present), "{id} told {present} twice in a row");
    }
    for (i, id) in ids.iter().enumerate() {
        // The called one counts (not finished), the cancelled one does not.
        let want = i != 1 && *id != flicker;
        let read = app.get(&format!("/api/v1/tickets/{id}"), Some(&app.admin)).await.expect(200);
        assert_eq!(read["present"], want, "ticket {i}");
        assert_eq!(shown.get(id).copied().unwrap_or(false), want, "ticket {i}: the last event disagrees");
    }
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "events numbered without gaps");
    // The mark told under the wrong queue, beside one that changed the same ticket, wrote nothing there.
    assert!(app.all_events(&app.admin, other_queue).await.is_empty(), "an event in a queue the ticket is not in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_fields_are_asked_by_the_types_schema_and_checked() {
    let app = spawn_app().await;
    let schema = json!({"type": "object", "additionalProperties": false,
        "properties": {"prescription_id": {"type": "string", "minLength": 3, "title": "Prescription"},
                       "urgent": {"type": "boolean"}},
        "required": ["prescription_id"]});
    let fsm = json!({"init": "received", "states": ["received", "in_progress", "ready", "completed", "cancelled"],
        "transitions": [{"name": "call", "from": "received", "to": "in_progress"},
                        {"name": "ready", "from": "in_progress", "to": "ready"},
                        {"name": "complete", "from": "ready", "to": "completed"},
                        {"name": "cancel", "from": ["received", "in_progress", "ready"], "to": "cancelled"}],
        "roles": {"abandoned": "cancelled"}});
    app.post(
        "/api/v1/ticket-types",
        Some(&app.admin),
        json!({"code": "pharmacy", "name": "Pharmacy", "fsm": fsm, "fields_schema": schema}),
    )
    .await
    .expect(201);
    let queue =
        app.create_queue(&app.admin.clone(), "pharmacy", json!({"ticket_type": "pharmacy", "prefix": "P"})).await;
    let summary = app.get(&format!("/api/v1/queues/{queue}"), None).await.expect(200);
    assert_eq!(summary["fields_schema"], schema);

    app.join(queue, json!({})).await.expect_problem(400, "bad_request");
    app.join(queue, json!({"fields": {"prescription_id": "R1"}})).await.expect_problem(400, "bad_request");
    app.join(queue, json!({"fields": {"prescription_id": "R123", "colour": "red"}}))
        .await
        .expect_problem(400, "bad_request");
    let joined = app.join(queue, json!({"fields": {"prescription_id": "R123", "urgent": true}})).await.expect(201);
    assert_eq!(joined["ticket"]["fields"]["prescription_id"], "R123");
    let events = app.all_events(&app.admin, queue).await;
    assert_eq!(events.len(), 1, "refused joins wrote nothing");
}
