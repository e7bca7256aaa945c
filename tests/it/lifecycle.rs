//! A ticket's life through the REST API, and every way to get a transition wrong.

use crate::common;

use common::{spawn_app, TestApp};
use serde_json::{json, Value};

async fn ticket(app: &TestApp, id: &str, token: &str) -> Value {
    app.get(&format!("/api/v1/tickets/{id}?token={token}"), None).await.expect(200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_goes_from_joining_to_completed_and_every_step_is_an_event() {
    let app = spawn_app().await;
    let staff = &app.admin;

    // Arrange: three people join.
    let first =
        app.join(app.queue, json!({"name": "Ann", "phone": "+44 20 7946 0000", "party_size": 2})).await.expect(201);
    let (second, second_token) = app.joined(app.queue).await;
    let (third, _) = app.joined(app.queue).await;
    let (id, token) = (first["ticket"]["id"].as_str().unwrap(), first["token"].as_str().unwrap());
    assert_eq!(first["ticket"]["number"], "A001");
    assert_eq!(first["ticket"]["status"], "waiting");
    assert_eq!(first["ticket"]["position"], 1);
    assert_eq!(first["ticket"]["name"], "Ann");
    assert!(first["ticket"]["eta_seconds"].as_i64().unwrap() > 0);
    assert!(first["ticket"]["eta_p90_seconds"].as_i64() >= first["ticket"]["eta_seconds"].as_i64());
    assert_eq!((second["number"].as_str(), second["position"].as_i64()), (Some("A002"), Some(2)));
    assert_eq!(third["position"], 3);

    // Act: call, start, complete.
    let called = app.call_next(staff, app.queue, "Desk 4").await.expect(200);
    assert_eq!((called["id"].as_str(), called["status"].as_str()), (Some(id), Some("called")));
    assert_eq!(called["counter"], "Desk 4");
    assert!(called["called_at"].is_string());
    assert!(called["position"].is_null());

    // The others moved up, as their customers see it.
    let seen = ticket(&app, second["id"].as_str().unwrap(), &second_token).await;
    assert_eq!((seen["position"].as_i64(), seen["seq"].as_i64()), (Some(1), Some(4)));
    let summary = app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
    assert_eq!(summary["waiting"], 2);
    assert!(summary["eta_new_seconds"].as_i64().unwrap() > 0);

    let started = app.transition(staff, id, "start").await.expect(200);
    assert_eq!(started["status"], "serving");
    assert!(started["served_at"].is_string());
    let done = app.transition(staff, id, "complete").await.expect(200);
    assert_eq!(done["status"], "completed");
    assert!(done["finished_at"].is_string());
    assert_eq!(done["counter"], "Desk 4");

    // Assert: the customer sees it, and the log tells the whole story in order.
    assert_eq!(ticket(&app, id, token).await["status"], "completed");
    // Desk 4 is free again: the next in line is expected to be called at once.
    let next = ticket(&app, second["id"].as_str().unwrap(), &second_token).await;
    assert_eq!((next["position"].as_i64(), next["eta_seconds"].as_i64()), (Some(1), Some(0)));
    let events = app.all_events(staff, app.queue).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["ticket.joined", "ticket.joined", "ticket.joined", "ticket.called", "ticket.started", "ticket.completed"]
    );
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(events[3]["ticket"]["id"], id);
    assert_eq!((events[3]["from"].as_str(), events[3]["to"].as_str()), (Some("waiting"), Some("called")));
    assert!(events[3]["actor"].as_str().unwrap().starts_with("staff:"));
    assert_eq!(events[0]["actor"], "customer");

    let stats = app.get(&format!("/api/v1/queues/{}/stats", app.queue), Some(staff)).await.expect(200);
    assert_eq!(
        (stats["joined"].as_i64(), stats["served"].as_i64(), stats["waiting"].as_i64()),
        (Some(3), Some(1), Some(2))
    );
    assert_eq!(stats["by_status"]["waiting"], 2);
    assert_eq!(stats["wait_seconds"]["count"], 1);
    assert_eq!(stats["estimate_error"]["samples"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_the_state_machine_does_not_allow_answers_409() {
    let app = spawn_app().await;
    let staff = &app.admin;
    // One ticket in each state of the default type.
    let (waiting, _) = app.joined(app.queue).await;
    let mut tickets = vec![("waiting", waiting["id"].as_str().unwrap().to_owned())];
    for (state, path) in [
        ("called", vec![]),
        ("serving", vec!["start"]),
        ("completed", vec!["start", "complete"]),
        ("no_show", vec!["no_show"]),
        ("cancelled", vec!["cancel"]),
    ] {
        let q = app.create_queue(staff, state.replace('_', "-").as_str(), json!({})).await;
        app.joined(q).await;
        let t = app.call_next(staff, q, "1").await.expect(200);
        let id = t["id"].as_str().unwrap().to_owned();
        for step in path {
            app.transition(staff, &id, step).await.expect(200);
        }
        tickets.push((state, id));
    }
    let allowed: &[(&str, &[&str])] = &[
        ("waiting", &["call", "cancel"]),
        ("called", &["recall", "start", "no_show", "requeue", "cancel"]),
        ("serving", &["complete"]),
        ("completed", &[]),
        ("no_show", &["requeue"]),
        ("cancelled", &[]),
    ];
    let all = ["call", "recall", "start", "complete", "no_show", "requeue", "cancel"];

    for (state, id) in &tickets {
        let ok = allowed.iter().find(|(s, _)| s == state).unwrap().1;
        for name in all.iter().filter(|n| !ok.contains(n)) {
            let reply = app.transition(staff, id, name).await;
            reply.expect_problem(409, "invalid_transition");
            assert!(reply.body["detail"].as_str().unwrap().contains(name), "{:?}", reply.body);
        }
        app.transition(staff, id, "teleport").await.expect_problem(409, "invalid_transition");
    }
    // Nothing changed: each ticket is still in its state.
    for (state, id) in &tickets {
        let t = app.get(&format!("/api/v1/tickets/{id}"), Some(staff)).await.expect(200);
        assert_eq!(t["status"], *state);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_requeue_no_show_and_cancel_move_tickets_in_and_out_of_line() {
    let app = spawn_app().await;
    let staff = &app.admin;
    let (a, a_token) = app.joined(app.queue).await;
    let (b, _) = app.joined(app.queue).await;
    let a_id = a["id"].as_str().unwrap();

    app.call_next(staff, app.queue, "1").await.expect(200);
    let recalled = app.transition(staff, a_id, "recall").await.expect(200);
    assert_eq!(recalled["status"], "called");
    app.transition(staff, a_id, "no_show").await.expect(200);
    // Requeued, A keeps its original place ahead of B.
    let back = app.transition(staff, a_id, "requeue").await.expect(200);
    assert_eq!((back["status"].as_str(), back["position"].as_i64()), (Some("waiting"), Some(1)));
    assert!(back["counter"].is_null());
    assert_eq!(app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200)["waiting"], 2);

    // The customer leaves the line with their own token.
    let left = app.post(&format!("/api/v1/tickets/{a_id}/cancel?token={a_token}"), None, json!({})).await.expect(200);
    assert_eq!(left["status"], "cancelled");
    let next = app.call_next(staff, app.queue, "2").await.expect(200);
    assert_eq!(next["id"], b["id"]);
    app.call_next(staff, app.queue, "2").await.expect_problem(409, "queue_empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transferred_ticket_joins_the_end_of_the_other_line() {
    let app = spawn_app().await;
    let staff = &app.admin;
    let pharmacy = app.create_queue(staff, "pharmacy", json!({"prefix": "P"})).await;
    app.joined(pharmacy).await;
    let (t, token) = app.joined(app.queue).await;
    let id = t["id"].as_str().unwrap();
    app.call_next(staff, app.queue, "1").await.expect(200);

    let moved = app
        .post(&format!("/api/v1/tickets/{id}/transfer"), Some(staff), json!({"queue_id": pharmacy}))
        .await
        .expect(200);
    assert_eq!(moved["queue_id"], pharmacy.to_string());
    assert_eq!((moved["status"].as_str(), moved["position"].as_i64()), (Some("waiting"), Some(2)));
    assert_eq!(moved["number"], "A001", "the customer keeps their number");
    assert_eq!(ticket(&app, id, &token).await["position"], 2);

    let out = app.all_events(staff, app.queue).await;
    assert_eq!(out.last().unwrap()["kind"], "ticket.transferred_out");
    let inn = app.all_events(staff, pharmacy).await;
    assert_eq!(inn.last().unwrap()["kind"], "ticket.transferred_in");
    assert_eq!(inn.last().unwrap()["seq"], 2);
    app.post(&format!("/api/v1/tickets/{id}/transfer"), Some(staff), json!({"queue_id": pharmacy}))
        .await
        .expect_problem(400, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_ticket_type_drives_its_own_states_and_checks_its_fields() {
    let app = spawn_app().await;
    let staff = &app.admin;
    let fsm = json!({
        "init": "queued", "states": ["queued", "at_desk", "done"],
        "transitions": [{"name": "call", "from": "queued", "to": "at_desk"},
                        {"name": "finish", "from": ["queued", "at_desk"], "to": "done"}]
    });
    let schema = json!({"type": "object", "required": ["reason"], "additionalProperties": false,
                        "properties": {"reason": {"type": "string", "enum": ["visa", "passport"]}}});
    let created = app
        .post(
            "/api/v1/ticket-types",
            Some(staff),
            json!({"code": "consular", "name": "Consular", "fsm": fsm, "fields_schema": schema}),
        )
        .await
        .expect(201);
    assert_eq!(created["code"], "consular");
    let q = app.create_queue(staff, "consular", json!({"ticket_type": "consular"})).await;

    app.join(q, json!({"fields": {"reason": "holiday"}})).await.expect_problem(400, "bad_request");
    app.join(q, json!({})).await.expect_problem(400, "bad_request");
    let t = app.join(q, json!({"fields": {"reason": "visa"}})).await.expect(201);
    assert_eq!(t["ticket"]["status"], "queued");
    assert_eq!(t["ticket"]["fields"]["reason"], "visa");
    let called = app.call_next(staff, q, "B").await.expect(200);
    assert_eq!(called["status"], "at_desk");
    let done = app.transition(staff, called["id"].as_str().unwrap(), "finish").await.expect(200);
    assert_eq!(done["status"], "done");
    assert!(done["finished_at"].is_string());
    assert_eq!(app.all_events(staff, q).await.last().unwrap()["kind"], "ticket.finished");

    // Machines are checked when saved.
    for bad in [
        json!({"init": "x", "states": ["a"], "transitions": [{"name": "call", "from": "a", "to": "a"}]}),
        json!({"init": "a", "states": ["a", "b"], "transitions": [{"name": "go", "from": "a", "to": "b"}]}),
        json!("not a machine"),
    ] {
        app.post("/api/v1/ticket-types", Some(staff), json!({"code": "bad", "name": "Bad", "fsm": bad}))
            .await
            .expect_problem(400, "bad_request");
    }
    app.post(
        "/api/v1/ticket-types",
        Some(staff),
        json!({"code": "s", "name": "S", "fsm": fsm, "fields_schema": {"type": 12}}),
    )
    .await
    .expect_problem(400, "bad_request");
    app.post("/api/v1/ticket-types", Some(staff), json!({"code": "consular", "name": "Again", "fsm": fsm}))
        .await
        .expect_problem(409, "already_exists");
}
