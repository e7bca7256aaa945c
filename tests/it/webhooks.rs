//! Webhooks: managers register endpoints; every matching committed event is delivered, signed,
//! to a receiver on loopback, retried with backoff when the receiver fails; `ticket.ahead` tells
//! a waiting customer's ticket when it reaches a position of its queue's `notify_ahead`.

use crate::common;

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::{spawn_app, spawn_app_with, TestApp};
use hmac::{Hmac, Mac};
use queuecast::store::Role;
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    body: Vec<u8>,
    json: Value,
    signature: String,
    delivery: String,
}

/// A tiny HTTP server on loopback that records what it is sent and answers with the statuses of
/// its script (then 200).
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> Receiver {
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (s, sc) = (seen.clone(), script.clone());
        let server = HttpServer::new(move || {
            let (seen, script) = (s.clone(), sc.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (seen, script) = (seen.clone(), script.clone());
                async move {
                    let header =
                        |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    seen.lock().unwrap().push(Received {
                        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        body: body.to_vec(),
                        signature: header("queuecast-signature"),
                        delivery: header("queuecast-delivery"),
                    });
                    let status = script.lock().unwrap().pop_front().unwrap_or(200);
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Receiver { url: format!("http://127.0.0.1:{port}/hook"), seen }
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came; all of them.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            assert!(tokio::time::Instant::now() < deadline, "expected {n} requests, got {}: {seen:?}", seen.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Checks `t=<unix>,v1=<hex>` against the body, as a receiver would.
fn verify(secret: &str, r: &Received) -> bool {
    let Some((t, v1)) = r.signature.strip_prefix("t=").and_then(|s| s.split_once(",v1=")) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let fresh = t.parse::<i64>().is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    fresh && expected == v1
}

/// Fast retries for tests.
async fn spawn_fast_app(max_attempts: i32) -> TestApp {
    spawn_app_with(|s| {
        s.webhooks.poll = Duration::from_millis(100);
        s.webhooks.backoff_base = Duration::from_millis(300);
        s.webhooks.max_attempts = max_attempts;
    })
    .await
}

async fn register(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/api/v1/webhooks", Some(token), body).await.expect(201)
}

async fn log(app: &TestApp, token: &str, hook: &Value) -> Vec<Value> {
    let id = hook["id"].as_str().unwrap();
    let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries?limit=500"), Some(token)).await.expect(200);
    log.as_array().unwrap().clone()
}

/// Waits until every delivery of the log is delivered or failed; the log.
async fn settled(app: &TestApp, hook: &Value, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = log(app, &app.admin, hook).await;
        if log.len() >= n && log.iter().all(|d| d["status"] != "pending") {
            return log;
        }
        assert!(tokio::time::Instant::now() < deadline, "deliveries did not settle: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_register_endpoints_and_bad_ones_are_refused() {
    let app = spawn_app().await;
    let url = "http://127.0.0.1:9/hook";

    let hook =
        register(&app, &app.admin, json!({"url": url, "queue_id": app.queue, "events": ["ticket.called"]})).await;
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"), "a secret is made: {hook}");
    assert_eq!(hook["queue_id"], json!(app.queue));
    let mine =
        register(&app, &app.admin, json!({"url": url, "events": ["ticket.joined"], "secret": "s3cret-of-my-own!"}))
            .await;
    assert_eq!(mine["secret"], "s3cret-of-my-own!");
    assert_eq!(mine["queue_id"], Value::Null);

    let listed = app.get("/api/v1/webhooks", Some(&app.admin)).await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(listed.as_array().unwrap().iter().all(|h| h.get("secret").is_none()), "secrets are shown once");

    for bad in [
        json!({"url": "http://hooks.example.com/q", "events": ["ticket.called"]}),
        json!({"url": "ftp://127.0.0.1/q", "events": ["ticket.called"]}),
        json!({"url": "not a url", "events": ["ticket.called"]}),
        json!({"url": url, "events": []}),
        json!({"url": url, "events": ["ticket.exploded"]}),
        json!({"url": url, "events": ["ticket.called"], "secret": "short"}),
    ] {
        app.post("/api/v1/webhooks", Some(&app.admin), bad.clone()).await.expect_problem(400, "bad_request");
    }
    let https = json!({"url": "https://hooks.example.com/q", "events": ["ticket.ahead", "queue.updated"]});
    register(&app, &app.admin, https).await;
    let missing = json!({"url": url, "queue_id": Uuid::new_v4(), "events": ["ticket.called"]});
    app.post("/api/v1/webhooks", Some(&app.admin), missing).await.expect_problem(404, "not_found");

    // Staff below manager may not.
    app.store.create_user("acme", "desk@acme.test", common::PASSWORD, Role::Staff).await.unwrap();
    let desk = app.login("acme", "desk@acme.test", common::PASSWORD).await;
    let body = json!({"url": url, "events": ["ticket.called"]});
    app.post("/api/v1/webhooks", Some(&desk), body).await.expect_problem(403, "forbidden");
    app.get("/api/v1/webhooks", Some(&desk)).await.expect_problem(403, "forbidden");

    let id = hook["id"].as_str().unwrap();
    let path = format!("/api/v1/webhooks/{id}");
    assert_eq!(app.request(reqwest::Method::DELETE, &path, Some(&app.admin), None).await.status, 204);
    app.request(reqwest::Method::DELETE, &path, Some(&app.admin), None).await.expect_problem(404, "not_found");
    app.get(&format!("{path}/deliveries"), Some(&app.admin)).await.expect_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_and_a_call_are_delivered_signed() {
    let app = spawn_fast_app(12).await;
    let receiver = Receiver::start(vec![]).await;
    let events = json!(["ticket.joined", "ticket.called"]);
    let hook = register(&app, &app.admin, json!({"url": receiver.url, "queue_id": app.queue, "events": events})).await;
    let secret = hook["secret"].as_str().unwrap();

    let (ticket, _) = app.joined(app.queue).await;
    app.call_next(&app.admin, app.queue, "3").await.expect(200);

    let mut seen = receiver.wait_for(2).await;
    seen.sort_by_key(|r| r.json["seq"].as_i64());
    for r in &seen {
        assert!(verify(secret, r), "the signature verifies: {r:?}");
        assert!(!verify("whsec_someone-else", r));
        assert_eq!(r.json["id"].as_str().unwrap(), r.delivery);
        assert_eq!(r.json["queue_id"], json!(app.queue));
        assert_eq!(r.json["event"]["ticket"]["id"], ticket["id"]);
    }
    assert_eq!(seen[0].json["type"], "ticket.joined");
    assert_eq!(seen[0].json["seq"], 1);
    assert_eq!(seen[0].json["event"]["kind"], "ticket.joined");
    assert_eq!(seen[1].json["type"], "ticket.called");
    assert_eq!(seen[1].json["event"]["ticket"]["counter"], "3");
    assert_eq!(seen[1].json["event"]["seq"], 2);

    let log = settled(&app, &hook, 2).await;
    assert!(log.iter().all(|d| d["status"] == "delivered" && d["attempts"] == 1 && d["last_status"] == 200), "{log:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.seen().len(), 2, "each delivery is sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_retried_then_delivered() {
    let app = spawn_fast_app(12).await;
    let receiver = Receiver::start(vec![500, 503]).await;
    let body = json!({"url": receiver.url, "queue_id": app.queue, "events": ["ticket.joined"]});
    let hook = register(&app, &app.admin, body).await;

    app.joined(app.queue).await;

    let seen = receiver.wait_for(3).await;
    assert!(seen.iter().all(|r| r.delivery == seen[0].delivery), "the same delivery, retried");
    let attempts: Vec<i64> = seen.iter().map(|r| r.json["attempt"].as_i64().unwrap()).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    let log = settled(&app, &hook, 1).await;
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["last_status"], 200);
    assert_eq!(log[0]["next_attempt_at"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_keeps_failing_is_given_up_on() {
    let app = spawn_fast_app(2).await;
    let receiver = Receiver::start(vec![500, 500, 500]).await;
    let body = json!({"url": receiver.url, "queue_id": app.queue, "events": ["ticket.joined"]});
    let hook = register(&app, &app.admin, body).await;

    app.joined(app.queue).await;

    let log = settled(&app, &hook, 1).await;
    assert_eq!(log[0]["status"], "failed");
    assert_eq!(log[0]["attempts"], 2);
    assert_eq!(log[0]["last_status"], 500);
    assert!(log[0]["last_error"].as_str().unwrap().contains("500"), "{log:?}");
    assert_eq!(receiver.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_subscribed_queues_and_kinds_get_deliveries() {
    let app = spawn_app().await;
    let other = app.create_queue(&app.admin, "other", json!({"prefix": "B"})).await;
    // No one listens on port 9: deliveries stay in the log, pending.
    let url = "http://127.0.0.1:9/hook";
    let calls_here =
        register(&app, &app.admin, json!({"url": url, "queue_id": app.queue, "events": ["ticket.called"]})).await;
    let all_calls = register(&app, &app.admin, json!({"url": url, "events": ["ticket.called"]})).await;

    app.joined(app.queue).await;
    app.joined(other).await;
    app.call_next(&app.admin, other, "1").await.expect(200);
    app.call_next(&app.admin, app.queue, "1").await.expect(200);

    let here = log(&app, &app.admin, &calls_here).await;
    assert_eq!(here.len(), 1, "one call in this queue: {here:?}");
    assert_eq!((here[0]["kind"].as_str(), here[0]["queue_id"].clone()), (Some("ticket.called"), json!(app.queue)));
    assert_eq!(here[0]["seq"], 2);
    let everywhere = log(&app, &app.admin, &all_calls).await;
    let queues: BTreeSet<String> = everywhere.iter().map(|d| d["queue_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(everywhere.len(), 2);
    assert_eq!(queues, BTreeSet::from([app.queue.to_string(), other.to_string()]));
    assert!(everywhere.iter().all(|d| d["kind"] == "ticket.called"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cannot_see_or_touch_each_others_webhooks() {
    let app = spawn_app().await;
    let (b_token, b_queue) = app.new_tenant("globex").await;
    let url = "http://127.0.0.1:9/hook";
    let a_hook = register(&app, &app.admin, json!({"url": url, "events": ["ticket.joined"]})).await;
    let a_id = a_hook["id"].as_str().unwrap();

    app.joined(b_queue).await;
    assert!(log(&app, &app.admin, &a_hook).await.is_empty(), "another tenant's events are not A's");

    let listed = app.get("/api/v1/webhooks", Some(&b_token)).await.expect(200);
    assert_eq!(listed, json!([]));
    app.get(&format!("/api/v1/webhooks/{a_id}/deliveries"), Some(&b_token)).await.expect_problem(404, "not_found");
    let path = format!("/api/v1/webhooks/{a_id}");
    app.request(reqwest::Method::DELETE, &path, Some(&b_token), None).await.expect_problem(404, "not_found");
    let on_a_queue = json!({"url": url, "queue_id": app.queue, "events": ["ticket.joined"]});
    app.post("/api/v1/webhooks", Some(&b_token), on_a_queue).await.expect_problem(404, "not_found");
    // A's endpoint is still there and still works.
    app.joined(app.queue).await;
    assert_eq!(log(&app, &app.admin, &a_hook).await.len(), 1);

    // The service's role sees no endpoint without a tenant.
    let mut conn = app.app_role_connection().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks").fetch_one(&mut conn).await.unwrap();
    let d: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries").fetch_one(&mut conn).await.unwrap();
    assert_eq!((n, d), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ahead_notification_tells_the_ticket_that_reaches_a_position() {
    let app = spawn_fast_app(12).await;
    let queue =
        app.create_queue(&app.admin, "ahead", json!({"prefix": "N", "settings": {"notify_ahead": [1, 3]}})).await;
    let receiver = Receiver::start(vec![]).await;
    let body = json!({"url": receiver.url, "queue_id": queue, "events": ["ticket.ahead"], "include_phone": true});
    let hook = register(&app, &app.admin, body).await;
    // Without include_phone, no phone.
    let quiet = Receiver::start(vec![]).await;
    register(&app, &app.admin, json!({"url": quiet.url, "queue_id": queue, "events": ["ticket.ahead"]})).await;

    let mut ids = Vec::new();
    for i in 1..=5 {
        let t = app.join(queue, json!({"phone": format!("+41 79 000 00 0{i}")})).await.expect(201);
        ids.push(t["ticket"]["id"].as_str().unwrap().to_owned());
    }
    // On joining: N001 is next (1), N003 is third (3).
    app.call_next(&app.admin, queue, "1").await.expect(200);
    // Now N002 is next and N004 third. A cancel behind them moves no one into a new place.
    let t5 = &ids[4];
    app.post(&format!("/api/v1/tickets/{t5}/cancel"), Some(&app.admin), json!({})).await.expect(200);

    let seen = receiver.wait_for(4).await;
    let told: BTreeSet<(String, i64)> = seen
        .iter()
        .map(|r| {
            (r.json["event"]["number"].as_str().unwrap().to_owned(), r.json["event"]["position"].as_i64().unwrap())
        })
        .collect();
    let expected = [("N001", 1), ("N003", 3), ("N002", 1), ("N004", 3)].map(|(n, p)| (n.to_owned(), p));
    assert_eq!(told, BTreeSet::from(expected));
    for r in &seen {
        assert!(verify(hook["secret"].as_str().unwrap(), r));
        assert_eq!(r.json["type"], "ticket.ahead");
        assert_eq!(r.json["event"]["queue_id"], json!(queue));
        let number = r.json["event"]["number"].as_str().unwrap();
        let i: usize = number[1..].parse().unwrap();
        assert_eq!(r.json["event"]["ticket_id"], json!(ids[i - 1]));
        assert_eq!(r.json["event"]["phone"], json!(format!("+41 79 000 00 0{i}")), "the gateway gets the phone");
    }
    let quiet_seen = quiet.wait_for(4).await;
    assert!(quiet_seen.iter().all(|r| r.json["event"].get("phone").is_none()), "no phone unless asked for");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.seen().len(), 4, "each ticket is told once per position");
    assert_eq!(settled(&app, &hook, 4).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_commit_that_wrote_deliveries_wakes_the_sender_of_its_node() {
    // Arrange: a sender that polls once a minute (so only a wake sends within the test), an
    // endpoint for calls only, and a second node that writes deliveries without sending any.
    let app = spawn_app_with(|s| s.webhooks.poll = Duration::from_secs(60)).await;
    let writer = app.on(&app.second_node_with(|s| s.webhooks.enabled = false).await);
    let receiver = Receiver::start(vec![]).await;
    let body = json!({"url": receiver.url, "queue_id": app.queue, "events": ["ticket.called"]});
    let hook = register(&app, &app.admin, body).await;
    app.joined(app.queue).await;
    app.joined(app.queue).await;
    writer.call_next(&app.admin, app.queue, "1").await.expect(200);

    // Act: the sender's node commits a change no endpoint asked for (a join), then a call.
    app.joined(app.queue).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_join = receiver.seen().len();
    app.call_next(&app.admin, app.queue, "2").await.expect(200);

    // Assert: the join left the outbox alone; the call woke the sender, which sent both calls.
    assert_eq!(after_join, 0, "nothing sent before a commit wrote a delivery");
    let mut counters: Vec<String> = receiver
        .wait_for(2)
        .await
        .iter()
        .map(|r| r.json["event"]["ticket"]["counter"].as_str().unwrap().to_owned())
        .collect();
    counters.sort();
    assert_eq!(counters, ["1", "2"]);
    assert_eq!(settled(&app, &hook, 2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_exist_only_for_committed_events() {
    let app = spawn_fast_app(12).await;
    let receiver = Receiver::start(vec![]).await;
    let body = json!({"url": receiver.url, "queue_id": app.queue, "events": ["ticket.joined"]});
    let hook = register(&app, &app.admin, body).await;
    // A check that fails at COMMIT, after the event and its delivery were both written.
    let mut owner = PgConnection::connect(&app.db_url).await.unwrap();
    owner
        .execute(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.data->'ticket'->>'name' = 'boom' THEN RAISE EXCEPTION 'boom at commit'; END IF; \
               RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER boom AFTER INSERT ON queue_events DEFERRABLE INITIALLY DEFERRED \
               FOR EACH ROW EXECUTE FUNCTION boom();",
        )
        .await
        .unwrap();

    let refused = app.join(app.queue, json!({"name": "boom"})).await;
    assert_eq!(refused.status.as_u16(), 500, "{:?}", refused.body);
    let (ticket, _) = app.joined(app.queue).await;

    let events = app.all_events(&app.admin, app.queue).await;
    assert_eq!(events.len(), 1, "only the second join committed");
    let log = settled(&app, &hook, 1).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["seq"], events[0]["seq"]);
    let seen = receiver.wait_for(1).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].json["event"]["ticket"]["id"], ticket["id"]);
    owner.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_stops_with_its_node_and_leaves_the_rest_in_the_outbox() {
    // Only the second node sends.
    let app = spawn_app_with(|s| s.webhooks.enabled = false).await;
    let (_, stopper) = app.node(|s| s.webhooks.poll = Duration::from_millis(100)).await;
    let receiver = Receiver::start(vec![]).await;
    let body = json!({"url": receiver.url, "queue_id": app.queue, "events": ["ticket.joined"]});
    let hook = register(&app, &app.admin, body).await;

    app.joined(app.queue).await;
    receiver.wait_for(1).await;
    stopper.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.joined(app.queue).await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.seen().len(), 1, "a stopped node sends nothing more");
    let log = log(&app, &app.admin, &hook).await;
    let statuses: Vec<&str> = log.iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["pending", "delivered"], "the second waits in the outbox for a sender");
}
