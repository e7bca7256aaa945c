//! Sites (locations) and staff limited to some of them: the limit holds on every staff route,
//! every list and every socket.

use crate::common;
use crate::users::{create_user, STAFF_PASSWORD};

use std::collections::BTreeSet;

use common::{spawn_app, TestApp, WsEvent};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// Two sites of acme, a queue at each with a ticket, and a manager limited to the first.
struct Sites {
    app: TestApp,
    north: String,
    south: String,
    /// The limited manager's token.
    limited: String,
    queue_n: Uuid,
    queue_s: Uuid,
    ticket_n: String,
    ticket_s: String,
    webhook_n: String,
    webhook_s: String,
    key_s: String,
    /// A device key of South's queue.
    device_s: String,
    appointment_n: String,
    appointment_s: String,
}

/// Settings that take bookings around the clock.
fn bookable() -> Value {
    let all_day = json!([["00:00", "24:00"]]);
    let weekly: serde_json::Map<String, Value> =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().map(|d| (d.to_string(), all_day.clone())).collect();
    json!({"hours": {"tz": "UTC", "weekly": weekly}, "appointments": {"slot_minutes": 30, "per_slot": 5}})
}

/// Books the first free slot of a queue from tomorrow on: the appointment's id.
async fn booked(app: &TestApp, queue: Uuid) -> String {
    let date = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d");
    let slots = app.get(&format!("/api/v1/queues/{queue}/slots?date={date}"), None).await.expect(200);
    let start =
        slots.as_array().unwrap().iter().find(|s| s["available"].as_i64() > Some(0)).unwrap()["start_at"].clone();
    let path = format!("/api/v1/queues/{queue}/appointments");
    let made = app.post(&path, None, json!({"start_at": start, "name": "Ada"})).await.expect(201);
    made["appointment"]["id"].as_str().unwrap().to_owned()
}

async fn sites() -> Sites {
    let app = spawn_app().await;
    let site = |name: &str, tz: &str| json!({"name": name, "timezone": tz});
    let north = app.post("/api/v1/locations", Some(&app.admin), site("North", "Europe/Paris")).await.expect(201);
    let south = app.post("/api/v1/locations", Some(&app.admin), site("South", "America/Sao_Paulo")).await.expect(201);
    let (north, south) = (north["id"].as_str().unwrap().to_owned(), south["id"].as_str().unwrap().to_owned());
    let at = |prefix: &str, site: &str| json!({"prefix": prefix, "location_id": site, "settings": bookable()});
    let queue_n = app.create_queue(&app.admin, "north-desk", at("N", &north)).await;
    let queue_s = app.create_queue(&app.admin, "south-desk", at("S", &south)).await;
    let appointment_n = booked(&app, queue_n).await;
    let appointment_s = booked(&app, queue_s).await;
    let (ticket_n, _) = app.joined(queue_n).await;
    let (ticket_s, _) = app.joined(queue_s).await;
    let hook = |queue: Uuid| json!({"url": "https://hooks.example/q", "queue_id": queue, "events": ["ticket.called"]});
    let made = app.post("/api/v1/webhooks", Some(&app.admin), hook(queue_s)).await.expect(201);
    let webhook_s = made["id"].as_str().unwrap().to_owned();
    let made = app.post("/api/v1/webhooks", Some(&app.admin), hook(queue_n)).await.expect(201);
    let webhook_n = made["id"].as_str().unwrap().to_owned();
    let key_s =
        app.post(&format!("/api/v1/queues/{queue_s}/display-keys"), Some(&app.admin), json!({})).await.expect(200);
    let key_s = key_s["id"].as_str().unwrap().to_owned();
    let device = json!({"kind": "display", "queue_ids": [queue_s]});
    let device_s = app.post("/api/v1/device-keys", Some(&app.admin), device).await.expect(201);
    let device_s = device_s["id"].as_str().unwrap().to_owned();
    create_user(&app, "north@acme.test", "manager", json!({"location_ids": [north]})).await;
    let limited = app.login("acme", "north@acme.test", STAFF_PASSWORD).await;
    Sites {
        north,
        south,
        limited,
        queue_n,
        queue_s,
        ticket_n: ticket_n["id"].as_str().unwrap().to_owned(),
        ticket_s: ticket_s["id"].as_str().unwrap().to_owned(),
        webhook_n,
        webhook_s,
        key_s,
        device_s,
        appointment_n,
        appointment_s,
        app,
    }
}

/// Resolves a local `$ref` of the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
        None => value,
    }
}

/// The example body of an operation, if it takes one.
fn example_body(doc: &Value, op: &Value) -> Option<Value> {
    let schema = op.pointer("/requestBody/content/application~1json/schema")?;
    resolve(doc, schema).get("example").cloned()
}

/// Query strings that routes need beside their path.
fn query_of(path: &str) -> &'static str {
    match path {
        "/api/v1/queues/{queue_id}/stats.csv" | "/api/v1/queues/{queue_id}/notifications" => {
            "?from=2026-01-01&to=2026-01-02"
        }
        "/api/v1/queues/{queue_id}/appointments" => "?date=2026-01-01",
        _ => "",
    }
}

#[tokio::test]
async fn every_staff_route_of_the_document_answers_404_for_another_sites_queue() {
    // Arrange
    let s = sites().await;
    let app = &s.app;
    let doc = app.get("/api/openapi.json", None).await.expect(200);

    // Act: every operation that takes a staff bearer and names a queue, ticket, webhook or key,
    // called by the manager limited to North with South's.
    let mut walked = BTreeSet::new();
    let mut wrong = Vec::new();
    let mut own_gets = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let staff = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            let names: Vec<&str> = ["{queue_id}", "{ticket_id}", "{webhook_id}", "{key_id}", "{appointment_id}"]
                .into_iter()
                .filter(|p| path.contains(p))
                .collect();
            let others = path.matches('{').count() > names.len();
            if !staff || names.is_empty() || others {
                continue;
            }
            let fill = |queue: &Uuid, ticket: &str, webhook: &str| {
                let appointment = if *queue == s.queue_n { &s.appointment_n } else { &s.appointment_s };
                path.replace("{queue_id}", &queue.to_string())
                    .replace("{appointment_id}", appointment)
                    .replace("{ticket_id}", ticket)
                    .replace("{webhook_id}", webhook)
                    .replace("{key_id}", if path.starts_with("/api/v1/device-keys") { &s.device_s } else { &s.key_s })
            };
            let mut body = example_body(&doc, op);
            // A transfer's target is the user's own queue: only the ticket is South's.
            if let Some(target) = body.as_mut().and_then(|b| b.get_mut("queue_id")) {
                *target = json!(s.queue_n);
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = format!("{}{}", fill(&s.queue_s, &s.ticket_s, &s.webhook_s), query_of(path));
            let reply = app.request(method.clone(), &url, Some(&s.limited), body).await;
            if reply.status != 404 || reply.code() != "not_found" {
                wrong.push(format!("{method} {path}: {} {}", reply.status, reply.body));
            }
            walked.insert(format!("{method} {path}"));
            if method == Method::GET {
                own_gets.push(format!("{}{}", fill(&s.queue_n, &s.ticket_n, &s.webhook_n), query_of(path)));
            }
        }
    }

    // Assert: each refused as not found, and the walk covered the staff routes it must.
    assert!(wrong.is_empty(), "answered other than 404 not_found:\n{}", wrong.join("\n"));
    for must in [
        "POST /api/v1/queues/{queue_id}/call-next",
        "POST /api/v1/tickets/{ticket_id}/transitions",
        "POST /api/v1/tickets/{ticket_id}/transfer",
        "GET /api/v1/queues/{queue_id}/events",
        "GET /api/v1/queues/{queue_id}/stats",
        "GET /api/v1/queues/{queue_id}/stats.csv",
        "GET /api/v1/queues/{queue_id}/history",
        "GET /api/v1/queues/{queue_id}/line",
        "GET /api/v1/tickets/{ticket_id}",
        "PATCH /api/v1/queues/{queue_id}",
        "DELETE /api/v1/queues/{queue_id}",
        "GET /api/v1/webhooks/{webhook_id}/deliveries",
        "POST /api/v1/queues/{queue_id}/tickets",
        "GET /api/v1/queues/{queue_id}/appointments",
        "GET /api/v1/appointments/{appointment_id}",
        "POST /api/v1/appointments/{appointment_id}/check-in",
        "DELETE /api/v1/device-keys/{key_id}",
    ] {
        assert!(walked.contains(must), "{must} was not walked: {walked:?}");
    }
    // The same reads of the user's own site answer: the 404s are the site's, not the route's.
    for url in own_gets {
        let reply = app.get(&url, Some(&s.limited)).await;
        assert!(reply.status.is_success(), "{url}: {} {}", reply.status, reply.body);
    }
}

#[tokio::test]
async fn a_limited_user_lists_finds_and_opens_only_their_sites() {
    // Arrange
    let s = sites().await;
    let app = &s.app;

    // Act
    let queues = app.get("/api/v1/queues", Some(&s.limited)).await.expect(200);
    let locations = app.get("/api/v1/locations", Some(&s.limited)).await.expect(200);
    let found = app.get("/api/v1/tickets?q=S00", Some(&s.limited)).await.expect(200);
    let hooks = app.get("/api/v1/webhooks", Some(&s.limited)).await.expect(200);
    let all_hooks = app.get("/api/v1/webhooks", Some(&app.admin)).await.expect(200);
    let pass = app.pass(&s.limited).await;
    let mut south = app.ws(&format!("/ws/queues/{}?pass={pass}", s.queue_s)).await;
    let pass = app.pass(&s.limited).await;
    let mut north = app.ws(&format!("/ws/queues/{}?pass={pass}", s.queue_n)).await;

    // Assert
    let ids: Vec<&str> = queues.as_array().unwrap().iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![s.queue_n.to_string()]);
    let names: Vec<&str> = locations.as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["North"]);
    assert_eq!(found.as_array().unwrap().len(), 0, "{found}");
    let hook_ids: Vec<&str> = hooks.as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(hook_ids, vec![s.webhook_n.as_str()]);
    assert_eq!(all_hooks.as_array().unwrap().len(), 2);
    assert!(matches!(south.next().await, WsEvent::Closed(4404)));
    assert_eq!(north.json().await["type"], "snapshot");
    // The admin, limited to none, sees both.
    assert_eq!(app.get("/api/v1/queues", Some(&app.admin)).await.expect(200).as_array().unwrap().len(), 3);
    // A limited manager puts new queues at their own sites only.
    let at = |site: &str| json!({"slug": format!("q-{}", &site[..8]), "name": "Q", "location_id": site});
    app.post("/api/v1/queues", Some(&s.limited), at(&s.south)).await.expect_problem(400, "unknown_location");
    app.post("/api/v1/queues", Some(&s.limited), json!({"slug": "nowhere", "name": "Q"}))
        .await
        .expect_problem(400, "unknown_location");
    app.post("/api/v1/queues", Some(&s.limited), at(&s.north)).await.expect(201);
    let hook = json!({"url": "https://hooks.example/all", "events": ["ticket.called"]});
    app.post("/api/v1/webhooks", Some(&s.limited), hook).await.expect_problem(400, "bad_request");
}

#[tokio::test]
async fn moving_a_user_to_another_site_closes_their_sockets_there_at_once() {
    // Arrange: the limited manager watches North; sockets re-check only every 10 minutes.
    let app = common::spawn_app_with(|c| c.credential_recheck = std::time::Duration::from_secs(600)).await;
    let north =
        app.post("/api/v1/locations", Some(&app.admin), json!({"name": "North", "timezone": "UTC"})).await.expect(201);
    let south =
        app.post("/api/v1/locations", Some(&app.admin), json!({"name": "South", "timezone": "UTC"})).await.expect(201);
    let queue = app.create_queue(&app.admin, "north-desk", json!({"location_id": north["id"]})).await;
    let id = create_user(&app, "desk@acme.test", "staff", json!({"location_ids": [north["id"]]})).await;
    let token = app.login("acme", "desk@acme.test", STAFF_PASSWORD).await;
    let pass = app.pass(&token).await;
    let mut socket = app.ws(&format!("/ws/queues/{queue}?pass={pass}")).await;
    assert_eq!(socket.json().await["type"], "snapshot");
    app.get(&format!("/api/v1/queues/{queue}/events"), Some(&token)).await.expect(200);

    // Act
    let moved = json!({"location_ids": [south["id"]]});
    app.request(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&app.admin), Some(moved)).await.expect(200);

    // Assert
    assert_eq!(socket.closed().await, 4401);
    app.get(&format!("/api/v1/queues/{queue}/events"), Some(&token)).await.expect_problem(404, "not_found");
}

#[tokio::test]
async fn bad_sites_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let (other_admin, _) = app.new_tenant("globex").await;
    let theirs = app.post("/api/v1/locations", Some(&other_admin), json!({"name": "Theirs", "timezone": "UTC"})).await;
    let theirs = theirs.expect(201)["id"].as_str().unwrap().to_owned();

    // Act + Assert
    app.post("/api/v1/locations", Some(&app.admin), json!({"name": "X", "timezone": "Mars/Olympus"}))
        .await
        .expect_problem(400, "bad_request");
    app.post("/api/v1/locations", Some(&app.admin), json!({"name": "X"})).await.expect_problem(400, "bad_request");
    app.request(Method::PATCH, &format!("/api/v1/locations/{theirs}"), Some(&app.admin), Some(json!({"name": "Mine"})))
        .await
        .expect_problem(404, "not_found");
    app.post("/api/v1/queues", Some(&app.admin), json!({"slug": "x", "name": "X", "location_id": theirs}))
        .await
        .expect_problem(400, "unknown_location");
    let moved = json!({"location_id": Uuid::new_v4()});
    app.request(Method::PATCH, &format!("/api/v1/queues/{}", app.queue), Some(&app.admin), Some(moved))
        .await
        .expect_problem(400, "unknown_location");
    let staff = json!({"email": "x@acme.test", "password": STAFF_PASSWORD, "role": "staff", "location_ids": [theirs]});
    app.post("/api/v1/users", Some(&app.admin), staff).await.expect_problem(400, "unknown_location");
    let changed = app
        .request(
            Method::PATCH,
            &format!("/api/v1/locations/{theirs}"),
            Some(&other_admin),
            Some(json!({"address": "1 Main St"})),
        )
        .await
        .expect(200);
    assert_eq!(changed["address"], "1 Main St");
}

#[tokio::test]
async fn a_sites_time_zone_is_the_default_of_its_queues_hours_and_reports() {
    // Arrange
    let app = spawn_app().await;
    let site = json!({"name": "Tokyo office", "timezone": "Asia/Tokyo"});
    let tokyo = app.post("/api/v1/locations", Some(&app.admin), site).await.expect(201);
    let weekly = json!({"mon": [["09:00", "17:00"]]});

    // Act: hours without a zone, at creation and by a patch.
    let body = json!({"location_id": tokyo["id"], "settings": {"hours": {"weekly": weekly}}});
    let queue = app.create_queue(&app.admin, "tokyo", body).await;
    let other = app.create_queue(&app.admin, "tokyo-2", json!({"location_id": tokyo["id"]})).await;
    let patch = json!({"settings": {"hours": {"weekly": weekly}}});
    let patched = app.request(Method::PATCH, &format!("/api/v1/queues/{other}"), Some(&app.admin), Some(patch)).await;
    let report =
        app.get(&format!("/api/v1/queues/{queue}/stats?from=2026-01-10&to=2026-01-10"), Some(&app.admin)).await;
    let plain_path = format!("/api/v1/queues/{}/stats?from=2026-01-10&to=2026-01-10", app.queue);
    let plain = app.get(&plain_path, Some(&app.admin)).await;

    // Assert
    let summary = app.get(&format!("/api/v1/queues/{queue}"), None).await.expect(200);
    assert_eq!(summary["tz"], "Asia/Tokyo");
    assert_eq!(patched.expect(200)["settings"]["hours"]["tz"], "Asia/Tokyo");
    assert_eq!(report.expect(200)["tz"], "Asia/Tokyo");
    assert_eq!(plain.expect(200)["tz"], "UTC");
    // A queue of no site still needs a zone in its hours.
    let bare = json!({"settings": {"hours": {"weekly": weekly}}});
    let reply =
        app.request(Method::PATCH, &format!("/api/v1/queues/{}", app.queue), Some(&app.admin), Some(bare)).await;
    reply.expect_problem(400, "bad_request");
}
