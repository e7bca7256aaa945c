//! Outside input through the real server: whatever a client sends, the answer is a 2xx or a
//! problem+json 4xx with a stable code, never a 5xx.

mod common;

use common::{spawn_app, Reply};
use serde_json::json;

/// The codes a refusal of bad input may carry.
const INPUT_CODES: &[&str] = &["bad_request", "not_found", "unauthorized", "forbidden", "payload_too_large"];

#[track_caller]
fn refused_as_input(reply: &Reply, what: &str) {
    assert!(reply.status.is_client_error(), "{what}: {} {:?}", reply.status, reply.body);
    assert_eq!(reply.content_type, "application/problem+json", "{what}: {:?}", reply.body);
    assert!(INPUT_CODES.contains(&reply.code()), "{what}: code {:?}", reply.code());
}

/// Found by schemathesis: PostgreSQL cannot store a NUL character, and a search for one
/// answered 500. Every way text reaches the database now answers 400 `bad_request` instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_a_nul_character_is_refused_as_bad_input_everywhere() {
    let app = spawn_app().await;
    let nul = "Ada\u{0}Lovelace";
    let search = app.get(&format!("/api/v1/tickets?queue_id={}&q=Ada%00Lo", app.queue), Some(&app.admin)).await;
    search.expect_problem(400, "bad_request");
    app.join(app.queue, json!({"name": nul})).await.expect_problem(400, "bad_request");
    app.join(app.queue, json!({"fields": {"note": nul}})).await.expect_problem(400, "bad_request");
    app.join(app.queue, json!({"fields": {nul: 1}})).await.expect_problem(400, "bad_request");
    let login = app.post("/api/v1/auth/login", None, json!({"tenant": "acme", "email": nul, "password": "x"})).await;
    refused_as_input(&login, "a sign-in with a NUL");
    let queue = app.post("/api/v1/queues", Some(&app.admin), json!({"slug": "nul", "name": nul})).await;
    queue.expect_problem(400, "bad_request");
    let (ticket, _) = app.joined(app.queue).await;
    let called = app.call_next(&app.admin, app.queue, "Desk\u{0}1").await;
    called.expect_problem(400, "bad_request");
    // And the line is unharmed: the good join went in, and nothing else did.
    let summary = app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
    assert_eq!(summary["waiting"], 1, "{summary}");
    assert_eq!(ticket["position"], 1);
}
