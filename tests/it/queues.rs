//! Paused, closed and full queues; bad input of every kind.

use crate::common;

use common::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_closed_and_full_queues_turn_joins_away_and_keep_their_line() {
    let app = spawn_app().await;
    let staff = &app.admin;
    let q = app.create_queue(staff, "small", json!({"capacity": 2})).await;
    let path = format!("/api/v1/queues/{q}");
    let patch = |body| app.request(Method::PATCH, &path, Some(staff), Some(body));

    app.joined(q).await;
    app.joined(q).await;
    app.join(q, json!({})).await.expect_problem(409, "queue_full");
    app.call_next(staff, q, "1").await.expect(200);
    app.joined(q).await; // room again

    let paused = patch(json!({"status": "paused"})).await.expect(200);
    assert_eq!((paused["status"].as_str(), paused["waiting"].as_i64()), (Some("paused"), Some(2)));
    app.join(q, json!({})).await.expect_problem(409, "queue_paused");
    app.call_next(staff, q, "1").await.expect(200); // the line is still served

    patch(json!({"status": "closed"})).await.expect(200);
    app.join(q, json!({})).await.expect_problem(409, "queue_closed");
    assert_eq!(app.get(&format!("/api/v1/queues/{q}"), None).await.expect(200)["status"], "closed");

    let reopened = patch(json!({"status": "open", "name": "Small desk", "capacity": null})).await.expect(200);
    assert_eq!((reopened["name"].as_str(), reopened["capacity"].as_i64()), (Some("Small desk"), None));
    for _ in 0..3 {
        app.joined(q).await;
    }
    let events = app.all_events(staff, q).await;
    let updates: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "queue.updated")
        .map(|e| e["queue"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(updates, ["paused", "closed", "open"]);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());

    patch(json!({"status": "asleep"})).await.expect_problem(400, "bad_request");
    patch(json!({})).await.expect_problem(400, "bad_request");
    patch(json!({"capacity": 0})).await.expect_problem(400, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_a_problem_with_a_reason() {
    let app = spawn_app().await;
    let (staff, q) = (&app.admin, app.queue);
    let raw = |method: Method, path: String, body: &'static str| {
        let req = app
            .http
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(staff)
            .header("content-type", "application/json")
            .body(body);
        async move { common::into_reply(req.send().await.unwrap()).await }
    };

    // Broken JSON, wrong types, unknown fields, missing fields.
    raw(Method::POST, format!("/api/v1/queues/{q}/tickets"), "{\"name\": ").await.expect_problem(400, "bad_request");
    raw(Method::POST, format!("/api/v1/queues/{q}/call-next"), "[]").await.expect_problem(400, "bad_request");
    app.join(q, json!({"party_size": "two"})).await.expect_problem(400, "bad_request");
    app.join(q, json!({"party_size": 0})).await.expect_problem(400, "bad_request");
    app.join(q, json!({"phone": "call me"})).await.expect_problem(400, "bad_request");
    app.join(q, json!({"fields": [1, 2]})).await.expect_problem(400, "bad_request");
    let unknown = app.join(q, json!({"nmae": "typo"})).await;
    unknown.expect_problem(400, "bad_request");
    assert!(unknown.body["detail"].as_str().unwrap().contains("nmae"));
    app.call_next(staff, q, "").await.expect_problem(400, "bad_request");
    app.post(&format!("/api/v1/queues/{q}/call-next"), Some(staff), json!({})).await.expect_problem(400, "bad_request");
    app.post("/api/v1/queues", Some(staff), json!({"slug": "Bad Slug", "name": "x"}))
        .await
        .expect_problem(400, "bad_request");
    app.post("/api/v1/queues", Some(staff), json!({"slug": "ok", "name": "x", "prefix": "abc"}))
        .await
        .expect_problem(400, "bad_request");
    app.post("/api/v1/queues", Some(staff), json!({"slug": "ok", "name": "x", "ticket_type": "nope"}))
        .await
        .expect_problem(400, "bad_request");
    app.post("/api/v1/queues", Some(staff), json!({"slug": "main", "name": "again"}))
        .await
        .expect_problem(409, "already_exists");
    app.get(&format!("/api/v1/queues/{q}/events?after=-1"), Some(staff)).await.expect_problem(400, "bad_request");
    app.get(&format!("/api/v1/queues/{q}/events?limit=5000"), Some(staff)).await.expect_problem(400, "bad_request");
    app.get(&format!("/api/v1/queues/{q}/events?after=abc"), Some(staff)).await.expect_problem(400, "bad_request");
    app.get("/api/v1/queues/not-a-uuid", None).await.expect_problem(400, "bad_request");
    app.get(&format!("/api/v1/queues/{}", uuid::Uuid::new_v4()), None).await.expect_problem(404, "not_found");
    app.get("/api/v1/nowhere", None).await.expect_problem(404, "not_found");
    app.join(q, json!({})).await.expect(201); // and a good one still works
    let idem = app
        .http
        .post(format!("{}/api/v1/queues/{q}/tickets", app.base))
        .header("Idempotency-Key", "x".repeat(300))
        .send()
        .await
        .unwrap();
    common::into_reply(idem).await.expect_problem(400, "bad_request");

    // Bodies over 64 KiB, on every kind of endpoint.
    let big = json!({"name": "x", "fields": {"blob": "y".repeat(70 * 1024)}});
    app.join(q, big.clone()).await.expect_problem(413, "payload_too_large");
    app.post("/api/v1/queues", Some(staff), big.clone()).await.expect_problem(413, "payload_too_large");
    app.post("/api/v1/auth/login", None, big).await.expect_problem(413, "payload_too_large");

    // Nothing of it reached the log but the one good join.
    assert_eq!(app.all_events(staff, q).await.len(), 1);
}
