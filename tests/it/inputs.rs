//! Outside input through the real server: whatever a client sends, the answer is a 2xx or a
//! problem+json 4xx with a stable code, never a 5xx.

use crate::common;

use common::{spawn_app, Reply};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Value};

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

/// Any JSON, leaning towards the field names the endpoints know (so `deny_unknown_fields` does
/// not refuse every case at the door) and the values they check.
fn arb_json(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        "[a-zA-Z0-9 _.+-]{0,12}",
        ".{0,40}", // any characters, NUL and control characters included
        Just(String::new()),
        "[a-z]{300,400}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN", |f| f.is_finite()).prop_map(Value::from),
        text.clone().prop_map(Value::from),
    ];
    let key = prop_oneof![3 => proptest::sample::select(keys).prop_map(str::to_owned), 1 => text];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body for an endpoint: usually an object of its fields, sometimes anything.
fn arb_body(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => proptest::collection::btree_map(proptest::sample::select(keys).prop_map(str::to_owned), arb_json(keys), 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => arb_json(keys),
    ]
}

const JOIN: &[&str] = &["name", "phone", "party_size", "fields"];
const QUEUE: &[&str] = &["slug", "name", "prefix", "capacity", "ticket_type", "settings", "service_seconds", "status"];
const TRANSITION: &[&str] = &["name", "counter", "note", "queue_id"];
const TICKET_TYPE: &[&str] = &["code", "name", "fsm", "fields_schema", "init", "states", "transitions", "from", "to"];
const OTHER: &[&str] =
    &["counter", "url", "events", "secret", "include_phone", "queue_id", "tenant", "email", "password"];

/// Generated cases, without shrinking (each is a request to a live server): a failure prints the
/// case, and the seed is fixed so it comes back.
fn cases<S: Strategy>(strategy: S, n: usize, seed: u8) -> Vec<S::Value> {
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        proptest::test_runner::Config::default(),
        proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &[seed; 32]),
    );
    (0..n).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect()
}

/// A raw request: any bytes as the body.
async fn send_raw(app: &common::TestApp, method: reqwest::Method, path: &str, body: Vec<u8>) -> Reply {
    let req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(body);
    common::into_reply(req.send().await.unwrap()).await
}

/// Arbitrary JSON bodies to every endpoint that takes one (and some bytes that are not JSON):
/// each answer is a 2xx, or a problem+json 4xx with a stable code; never a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_request_bodies_never_get_a_server_error() {
    let app = spawn_app().await;
    let (ticket, _) = app.joined(app.queue).await;
    let ticket = ticket["id"].as_str().unwrap().to_owned();
    let q = app.queue;
    let endpoints: Vec<(reqwest::Method, String, &'static [&'static str])> = vec![
        (reqwest::Method::POST, format!("/api/v1/queues/{q}/tickets"), JOIN),
        (reqwest::Method::POST, "/api/v1/queues".into(), QUEUE),
        (reqwest::Method::PATCH, format!("/api/v1/queues/{q}"), QUEUE),
        (reqwest::Method::POST, format!("/api/v1/tickets/{ticket}/transitions"), TRANSITION),
        (reqwest::Method::POST, format!("/api/v1/tickets/{ticket}/transfer"), TRANSITION),
        (reqwest::Method::POST, format!("/api/v1/queues/{q}/call-next"), OTHER),
        (reqwest::Method::POST, "/api/v1/ticket-types".into(), TICKET_TYPE),
        (reqwest::Method::POST, "/api/v1/webhooks".into(), OTHER),
        (reqwest::Method::POST, "/api/v1/auth/login".into(), OTHER),
        (reqwest::Method::POST, "/api/v1/socket-passes".into(), OTHER),
        (reqwest::Method::POST, format!("/api/v1/queues/{q}/display-keys"), OTHER),
    ];
    let started = std::time::Instant::now();
    let mut answered = std::collections::BTreeMap::<u16, u32>::new();
    for (i, (method, path, keys)) in endpoints.iter().enumerate() {
        let bodies = cases(arb_body(keys), 100, i as u8);
        let raw = cases(proptest::collection::vec(any::<u8>(), 0..200), 4, i as u8);
        let bodies = bodies.into_iter().map(|b| serde_json::to_vec(&b).unwrap()).chain(raw);
        for body in bodies {
            let shown = String::from_utf8_lossy(&body).into_owned();
            let reply = send_raw(&app, method.clone(), path, body).await;
            *answered.entry(reply.status.as_u16()).or_default() += 1;
            if !reply.status.is_success() {
                let what = format!("{method} {path} with {shown}");
                assert!(reply.status.is_client_error(), "{what}: {} {:?}", reply.status, reply.body);
                assert_eq!(reply.content_type, "application/problem+json", "{what}: {:?}", reply.body);
                assert!(!reply.code().is_empty() && reply.code() != "internal", "{what}: {:?}", reply.body);
            }
        }
    }
    println!("answers by status: {answered:?} in {:?}", started.elapsed());
    assert!(answered.keys().any(|s| (200..300).contains(s)), "no case got through: {answered:?}");
}

/// JSON Schema documents for a ticket type's `fields`, any shape, leaning on the keywords.
fn arb_schema() -> impl Strategy<Value = Value> {
    const KEYWORDS: &[&str] = &[
        "type",
        "properties",
        "required",
        "pattern",
        "minLength",
        "maxLength",
        "enum",
        "items",
        "$ref",
        "format",
        "minimum",
        "maximum",
        "additionalProperties",
        "patternProperties",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "const",
        "$schema",
        "$id",
        "$defs",
        "if",
        "then",
        "else",
        "multipleOf",
        "uniqueItems",
        "dependentSchemas",
    ];
    let special = prop_oneof![
        Just(json!({"type": "object", "properties": {"n": {"type": "string", "pattern": "(a+)+$"}}})),
        Just(json!({"$ref": "http://127.0.0.1:9/schema.json"})),
        Just(json!({"$ref": "#/definitions/loop", "definitions": {"loop": {"$ref": "#/definitions/loop"}}})),
        Just(json!({"type": "object", "properties": {"n": {"pattern": "["}}})),
        Just(json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"})),
        Just(json!({"format": "email", "minLength": -1, "maxLength": 1e300})),
        Just(json!({"multipleOf": 0})),
    ];
    prop_oneof![3 => arb_json(KEYWORDS), 1 => special]
}

/// Any JSON as a ticket type's `fields` schema is refused with a 4xx or accepted; an accepted
/// one then judges joins with any fields, again never with a 5xx (and never hangs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_fields_schemas_are_refused_or_enforced_never_a_server_error() {
    let app = spawn_app().await;
    let fsm = json!({"init": "waiting", "states": ["waiting", "called", "done"],
                     "transitions": [{"name": "call", "from": "waiting", "to": "called"},
                                     {"name": "finish", "from": "called", "to": "done"}]});
    let (mut accepted, mut refused, mut joins) = (0, 0, 0);
    let started = std::time::Instant::now();
    for (i, schema) in cases(arb_schema(), 300, 7).into_iter().enumerate() {
        let body = json!({"code": format!("t{i}"), "name": "Fuzzed", "fsm": fsm, "fields_schema": schema});
        let created = app.post("/api/v1/ticket-types", Some(&app.admin), body).await;
        if !created.status.is_success() {
            refused_as_input(&created, &format!("the schema {schema}"));
            refused += 1;
            continue;
        }
        accepted += 1;
        if accepted > 40 {
            continue; // enough queues: the rest only need to be judged
        }
        let queue = app.create_queue(&app.admin, &format!("q{i}"), json!({"ticket_type": format!("t{i}")})).await;
        for fields in cases(arb_json(&["n", "name", "a"]), 4, i as u8) {
            let reply = app.join(queue, json!({"fields": fields})).await;
            joins += 1;
            if reply.status != 201 {
                refused_as_input(&reply, &format!("fields {fields} against {schema}"));
            }
        }
    }
    // A pattern that backtracks badly, with the input that makes it: judged at once.
    let evil = json!({"type": "object", "properties": {"n": {"type": "string", "pattern": "^(a+)+$"}}});
    let body = json!({"code": "evil", "name": "Evil", "fsm": fsm, "fields_schema": evil});
    app.post("/api/v1/ticket-types", Some(&app.admin), body).await.expect(201);
    let queue = app.create_queue(&app.admin, "evil", json!({"ticket_type": "evil"})).await;
    let judged = std::time::Instant::now();
    let reply = app.join(queue, json!({"fields": {"n": format!("{}!", "a".repeat(4000))}})).await;
    reply.expect_problem(400, "bad_request");
    assert!(judged.elapsed() < std::time::Duration::from_secs(2), "judged in {:?}", judged.elapsed());
    println!("{accepted} schemas accepted, {refused} refused, {joins} joins judged, in {:?}", started.elapsed());
    assert!(accepted > 0 && refused > 0, "the cases never reached one side: {accepted} accepted, {refused} refused");
}

/// Any text frame (and binary, and oversized ones) on a live socket: a ping is answered and the
/// socket stays open; anything else closes it with the protocol's code; the server never breaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_socket_frames_get_a_pong_or_a_named_close() {
    use futures_util::SinkExt;
    let app = spawn_app().await;
    let (ticket, token) = app.joined(app.queue).await;
    let path = format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap());
    let frames = prop_oneof![
        4 => arb_json(&["type", "since", "id"]).prop_map(|v| v.to_string()),
        1 => Just(r#"{"type":"ping","id":7}"#.to_owned()),
        2 => ".{0,60}",
        1 => "[\\[{]{4000,5000}",
    ];
    let (mut pongs, mut closes) = (0, 0);
    for text in cases(frames, 100, 3) {
        let mut ws = app.ws(&path).await;
        assert_eq!(ws.json().await["type"], "ticket");
        let ping = serde_json::from_str::<Value>(&text).is_ok_and(|v| v.is_object() && v["type"] == "ping");
        let big = text.len() > 4096;
        ws.send(text.clone()).await;
        match ws.next().await {
            common::WsEvent::Json(m) => {
                assert!(ping && m["type"] == "pong", "{text:?} was answered {m}");
                pongs += 1;
            }
            common::WsEvent::Closed(code) => {
                let expected = if big { 4413 } else { 4400 };
                assert!(!ping && code == expected, "{text:?} closed the socket with {code}");
                closes += 1;
            }
        }
    }
    // Binary frames are not part of the protocol either.
    let mut ws = app.ws(&path).await;
    ws.json().await;
    ws.stream_mut().send(tokio_tungstenite::tungstenite::Message::binary(vec![0u8, 159, 146, 150])).await.unwrap();
    assert_eq!(ws.closed().await, 4400);
    println!("{pongs} pongs, {closes} closes");
    assert!(pongs > 0 && closes > 0);
    // And the server is still whole: the ticket opens as before.
    assert_eq!(app.ws(&path).await.json().await["ticket"]["position"], 1);
}
