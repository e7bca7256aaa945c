//! The front desk and the venue over HTTP and sockets: walk-ins made by staff, device keys for
//! several queues, the kiosk's tickets, and what each key may not do.

use crate::common;

use std::time::Duration;

use common::{spawn_app, spawn_app_with, Reply, TestApp, PASSWORD};
use queuecast::store::Role;
use serde_json::{json, Value};
use uuid::Uuid;

/// Makes a device key of `kind` for `queues`: (its id, the key).
pub async fn device_key(app: &TestApp, kind: &str, queues: &[Uuid]) -> (String, String) {
    let made = app.post("/api/v1/device-keys", Some(&app.admin), json!({"kind": kind, "queue_ids": queues})).await;
    let made = made.expect(201);
    (made["id"].as_str().unwrap().to_owned(), made["key"].as_str().unwrap().to_owned())
}

/// A kiosk's ticket for `queue`, with `Authorization: Kiosk <key>` and `idem` as its
/// Idempotency-Key.
pub async fn kiosk_ticket(app: &TestApp, key: &str, queue: Uuid, idem: &str, extra: Value) -> Reply {
    let mut body = json!({"queue_id": queue});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let res = app
        .http
        .post(format!("{}/api/v1/kiosk/tickets", app.base))
        .header("Authorization", format!("Kiosk {key}"))
        .header("Idempotency-Key", idem)
        .json(&body)
        .send()
        .await
        .unwrap();
    common::into_reply(res).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> u16 {
    app.http.delete(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_in_is_made_by_staff_as_the_actor_past_the_per_address_limit() {
    // Arrange: one join a minute per address, and a staff member at the desk.
    let app = spawn_app_with(|s| s.rate_limits.joins_per_minute = 1).await;
    app.store.create_user("acme", "desk@acme.test", PASSWORD, Role::Staff).await.unwrap();
    let desk = app.login("acme", "desk@acme.test", PASSWORD).await;

    // Act: a customer uses the address's one join; the desk adds three people from it.
    app.joined(app.queue).await;
    app.join(app.queue, json!({})).await.expect_problem(429, "rate_limited");
    let mut numbers = Vec::new();
    for name in ["Ada", "Grace", "Linus"] {
        let walk_in = app
            .post(&format!("/api/v1/queues/{}/tickets", app.queue), Some(&desk), json!({"name": name, "party_size": 2}))
            .await
            .expect(201);
        assert_eq!(walk_in["ticket"]["name"], name);
        assert!(walk_in["token"].as_str().is_some_and(|t| !t.is_empty()));
        numbers.push(walk_in["ticket"]["number"].as_str().unwrap().to_owned());
    }

    // Assert: three tickets in line after the customer's, each joined with the desk as actor.
    assert_eq!(numbers, ["A002", "A003", "A004"]);
    let events = app.all_events(&app.admin, app.queue).await;
    let actors: Vec<&str> =
        events.iter().filter(|e| e["kind"] == "ticket.joined").map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors[0], "customer");
    assert_eq!(actors.len(), 4);
    assert!(actors[1..].iter().all(|a| a.starts_with("staff:") && *a == actors[1]), "{actors:?}");
    let summary = app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
    assert_eq!(summary["waiting"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_in_needs_a_valid_token_of_the_queues_tenant() {
    let app = spawn_app().await;
    app.post(&format!("/api/v1/queues/{}/tickets", app.queue), Some("not-a-token"), json!({}))
        .await
        .expect_problem(401, "unauthorized");
    let (beta, _) = app.new_tenant("beta").await;
    app.post(&format!("/api/v1/queues/{}/tickets", app.queue), Some(&beta), json!({}))
        .await
        .expect_problem(404, "not_found");
    let summary = app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
    assert_eq!(summary["waiting"], 0, "no refused walk-in made a ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_make_list_and_revoke_device_keys_for_several_queues() {
    let app = spawn_app().await;
    let pharmacy = app.create_queue(&app.admin, "pharmacy", json!({"prefix": "P"})).await;

    let made = app
        .post("/api/v1/device-keys", Some(&app.admin), json!({"kind": "display", "queue_ids": [app.queue, pharmacy]}))
        .await
        .expect(201);
    assert_eq!(made["kind"], "display");
    assert_eq!(made["queue_ids"], json!([app.queue, pharmacy]));
    let key = made["key"].as_str().unwrap();
    assert!(made["url"].as_str().unwrap().ends_with(&format!("/display?key={key}")));
    assert!(made["qr_svg"].as_str().unwrap().contains("<svg"));

    let listed = app.get("/api/v1/device-keys", Some(&app.admin)).await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], made["id"]);
    assert!(listed[0].get("key").is_none(), "a key is shown once: {listed}");
    assert_eq!(listed[0]["last_seen_at"], Value::Null);

    // Used once: the list says when.
    app.ws(&format!("/ws/queues/{pharmacy}/display?key={key}")).await.json().await;
    let listed = app.get("/api/v1/device-keys", Some(&app.admin)).await.expect(200);
    assert!(listed[0]["last_seen_at"].is_string(), "{listed}");

    let id = made["id"].as_str().unwrap();
    assert_eq!(delete(&app, &format!("/api/v1/device-keys/{id}"), &app.admin).await, 204);
    assert_eq!(app.get("/api/v1/device-keys", Some(&app.admin)).await.expect(200), json!([]));
    assert_eq!(delete(&app, &format!("/api/v1/device-keys/{id}"), &app.admin).await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_keys_refuse_bad_lists_other_tenants_queues_and_staff_below_manager() {
    let app = spawn_app().await;
    let post = |body: Value, token: String| {
        let app = &app;
        async move { app.post("/api/v1/device-keys", Some(&token), body).await }
    };
    let admin = app.admin.clone();
    post(json!({"kind": "display", "queue_ids": []}), admin.clone()).await.expect_problem(400, "bad_request");
    post(json!({"kind": "display", "queue_ids": [app.queue, app.queue]}), admin.clone())
        .await
        .expect_problem(400, "bad_request");
    let many: Vec<Uuid> = (0..13).map(|_| app.queue).collect();
    post(json!({"kind": "kiosk", "queue_ids": many}), admin.clone()).await.expect_problem(400, "bad_request");
    post(json!({"kind": "tv", "queue_ids": [app.queue]}), admin.clone()).await.expect_problem(400, "bad_request");
    let (beta, beta_queue) = app.new_tenant("beta").await;
    post(json!({"kind": "display", "queue_ids": [app.queue, beta_queue]}), admin.clone())
        .await
        .expect_problem(404, "not_found");
    app.store.create_user("acme", "desk@acme.test", PASSWORD, Role::Staff).await.unwrap();
    let desk = app.login("acme", "desk@acme.test", PASSWORD).await;
    post(json!({"kind": "display", "queue_ids": [app.queue]}), desk.clone()).await.expect_problem(403, "forbidden");
    app.get("/api/v1/device-keys", Some(&desk)).await.expect_problem(403, "forbidden");

    // Another tenant neither sees nor revokes acme's keys.
    let (id, _) = device_key(&app, "kiosk", &[app.queue]).await;
    assert_eq!(app.get("/api/v1/device-keys", Some(&beta)).await.expect(200), json!([]));
    assert_eq!(delete(&app, &format!("/api/v1/device-keys/{id}"), &beta).await, 404);
    assert_eq!(app.get("/api/v1/device-keys", Some(&app.admin)).await.expect(200).as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_key_for_two_queues_opens_both_screens_and_old_keys_still_open_theirs() {
    let app = spawn_app().await;
    let pharmacy = app.create_queue(&app.admin, "pharmacy", json!({"prefix": "P"})).await;
    let other = app.create_queue(&app.admin, "other", json!({})).await;
    let (_, key) = device_key(&app, "display", &[app.queue, pharmacy]).await;
    app.joined(pharmacy).await;

    for (queue, waiting) in [(app.queue, 0), (pharmacy, 1)] {
        let mut screen = app.ws(&format!("/ws/queues/{queue}/display?key={key}")).await;
        let board = screen.json().await;
        assert_eq!(board["type"], "display");
        assert_eq!(board["waiting"], waiting);
    }
    assert_eq!(app.ws(&format!("/ws/queues/{other}/display?key={key}")).await.closed().await, 4401);

    // A key of the per-queue kind keeps opening its one queue.
    let old =
        app.post(&format!("/api/v1/queues/{pharmacy}/display-keys"), Some(&app.admin), json!({})).await.expect(200);
    let old = old["key"].as_str().unwrap();
    assert_eq!(app.ws(&format!("/ws/queues/{pharmacy}/display?key={old}")).await.json().await["waiting"], 1);
    assert_eq!(app.ws(&format!("/ws/queues/{}/display?key={old}", app.queue)).await.closed().await, 4401);

    // What a device sees of its key: its kind and queues, in order.
    let device = app.http.get(format!("{}/api/v1/kiosk", app.base)).header("Authorization", format!("Kiosk {key}"));
    let device = common::into_reply(device.send().await.unwrap()).await.expect(200);
    assert_eq!(device["kind"], "display");
    let ids: Vec<&str> = device["queues"].as_array().unwrap().iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [app.queue.to_string(), pharmacy.to_string()]);
    assert_eq!(device["queues"][1]["waiting"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_issues_tickets_once_per_tap_in_its_queues_only() {
    let app = spawn_app().await;
    let pharmacy = app.create_queue(&app.admin, "pharmacy", json!({"prefix": "P"})).await;
    let other = app.create_queue(&app.admin, "other", json!({})).await;
    let (key_id, key) = device_key(&app, "kiosk", &[app.queue, pharmacy]).await;

    let first = kiosk_ticket(&app, &key, pharmacy, "tap-1", json!({"name": "Ada"})).await.expect(201);
    assert_eq!(first["ticket"]["number"], "P001");
    assert_eq!(first["ticket"]["position"], 1);
    let token = first["token"].as_str().unwrap();
    let url = first["ticket_url"].as_str().unwrap();
    assert_eq!(url, format!("{}/t/{}?token={token}", app.base, first["ticket"]["id"].as_str().unwrap()));
    assert!(first["qr_svg"].as_str().unwrap().contains("<svg"));
    // The link works: the ticket's token opens it.
    let seen =
        app.get(&format!("/api/v1/tickets/{}?token={token}", first["ticket"]["id"].as_str().unwrap()), None).await;
    assert_eq!(seen.expect(200)["number"], "P001");

    // The same tap sent again is the same ticket; the next tap is the next one.
    let again = kiosk_ticket(&app, &key, pharmacy, "tap-1", json!({"name": "Ada"})).await;
    assert_eq!(again.expect(201)["ticket"]["id"], first["ticket"]["id"]);
    let second = kiosk_ticket(&app, &key, pharmacy, "tap-2", json!({})).await.expect(201);
    assert_eq!(second["ticket"]["number"], "P002");
    kiosk_ticket(&app, &key, pharmacy, "tap-1", json!({"name": "Grace"}))
        .await
        .expect_problem(409, "idempotency_conflict");

    // A queue outside the key is not found; nothing was made there.
    kiosk_ticket(&app, &key, other, "tap-3", json!({})).await.expect_problem(404, "not_found");
    assert_eq!(app.get(&format!("/api/v1/queues/{other}"), None).await.expect(200)["waiting"], 0);

    // The events name the kiosk.
    let events = app.all_events(&app.admin, pharmacy).await;
    assert!(events.iter().all(|e| e["actor"] == format!("kiosk:{key_id}")), "{events:?}");
    assert_eq!(events.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_does_only_its_own_job() {
    let app = spawn_app().await;
    let (_, display) = device_key(&app, "display", &[app.queue]).await;
    let (kiosk_id, kiosk) = device_key(&app, "kiosk", &[app.queue]).await;

    // A display key issues no ticket; a wrong key and no key are unauthorized.
    kiosk_ticket(&app, &display, app.queue, "a", json!({})).await.expect_problem(403, "forbidden");
    kiosk_ticket(&app, "wrong", app.queue, "b", json!({})).await.expect_problem(401, "unauthorized");
    let bare = app.post("/api/v1/kiosk/tickets", None, json!({"queue_id": app.queue})).await;
    bare.expect_problem(401, "unauthorized");
    assert!(bare.content_type.starts_with("application/problem+json"), "{}", bare.content_type);

    // A kiosk key opens no display and no staff socket, and is no bearer token.
    assert_eq!(app.ws(&format!("/ws/queues/{}/display?key={kiosk}", app.queue)).await.closed().await, 4401);
    assert_eq!(app.ws(&format!("/ws/queues/{}?pass={kiosk}", app.queue)).await.closed().await, 4401);
    app.get("/api/v1/queues", Some(&kiosk)).await.expect_problem(401, "unauthorized");
    app.post(&format!("/api/v1/queues/{}/call-next", app.queue), Some(&kiosk), json!({"counter": "1"}))
        .await
        .expect_problem(401, "unauthorized");

    // Revoked: the kiosk is refused at once.
    assert_eq!(delete(&app, &format!("/api/v1/device-keys/{kiosk_id}"), &app.admin).await, 204);
    kiosk_ticket(&app, &kiosk, app.queue, "c", json!({})).await.expect_problem(401, "unauthorized");
    assert_eq!(app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200)["waiting"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_device_key_closes_every_screen_it_opened() {
    let app = spawn_app_with(|s| s.credential_recheck = Duration::from_millis(200)).await;
    let pharmacy = app.create_queue(&app.admin, "pharmacy", json!({"prefix": "P"})).await;
    let (id, key) = device_key(&app, "display", &[app.queue, pharmacy]).await;
    let mut screens = Vec::new();
    for q in [app.queue, pharmacy] {
        let mut s = app.ws(&format!("/ws/queues/{q}/display?key={key}")).await;
        assert_eq!(s.json().await["type"], "display");
        screens.push(s);
    }
    assert_eq!(delete(&app, &format!("/api/v1/device-keys/{id}"), &app.admin).await, 204);
    let started = std::time::Instant::now();
    for s in &mut screens {
        assert_eq!(s.closed().await, 4401);
    }
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    assert_eq!(app.ws(&format!("/ws/queues/{pharmacy}/display?key={key}")).await.closed().await, 4401);
}
