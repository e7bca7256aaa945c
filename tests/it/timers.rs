//! Time running out for a ticket: a call nobody answers within `called_timeout_seconds` becomes
//! a no-show, a ticket waiting longer than `ticket_ttl_minutes` expires. Both are events (actor
//! `system`) that reach sockets, webhooks and stats, made once with two nodes running. Time is
//! moved with the nodes' shared clock (forward only: rows keep wall-clock times).

use crate::common;

use std::time::Duration;

use chrono::Timelike;
use common::clock::{a_few_rounds, app_now, second_node};
use common::{spawn_app_with, TestApp};
use queuecast::clock::Clock;
use queuecast::schedule::round;
use queuecast::store::{Store, StoreSettings};
use queuecast::tasks::Tasks;
use serde_json::{json, Value};
use uuid::Uuid;

/// A webhook endpoint nobody answers (its deliveries are only counted).
async fn hook(app: &TestApp, events: Value) -> String {
    let body = json!({"url": "http://127.0.0.1:9/hook", "events": events});
    let hook = app.post("/api/v1/webhooks", Some(&app.admin), body).await.expect(201);
    hook["id"].as_str().unwrap().to_owned()
}

/// The kinds of the deliveries made for an endpoint, with their seqs.
async fn deliveries(app: &TestApp, hook: &str) -> Vec<(String, i64)> {
    let log = app.get(&format!("/api/v1/webhooks/{hook}/deliveries?limit=500"), Some(&app.admin)).await.expect(200);
    let mut all: Vec<(String, i64)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_owned(), d["seq"].as_i64().unwrap()))
        .collect();
    all.sort();
    all
}

async fn status_of(app: &TestApp, ticket: &str) -> String {
    let t = app.get(&format!("/api/v1/tickets/{ticket}"), Some(&app.admin)).await.expect(200);
    t["status"].as_str().unwrap().to_owned()
}

/// Waits (up to 10 s) until the ticket is in `status`.
async fn until_ticket(app: &TestApp, ticket: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while status_of(app, ticket).await != status {
        assert!(tokio::time::Instant::now() < deadline, "ticket {ticket} never became {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The queue's events of `kind`: (ticket id, actor).
async fn events_of(app: &TestApp, q: Uuid, kind: &str) -> Vec<(String, String)> {
    let events = app.all_events(&app.admin, q).await;
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| (e["ticket"]["id"].as_str().unwrap().to_owned(), e["actor"].as_str().unwrap().to_owned()))
        .collect()
}

fn id(ticket: &Value) -> String {
    ticket["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_call_becomes_a_no_show_once_with_two_nodes_running() {
    let (app, clock) = app_now().await;
    let other = second_node(&app, &clock).await;
    let staff = &app.admin;
    let q = app.create_queue(staff, "desk", json!({"settings": {"called_timeout_seconds": 60}})).await;
    let hook = hook(&app, json!(["ticket.no_show"])).await;
    for _ in 0..4 {
        app.joined(q).await;
    }
    let mut console = other.staff_socket(q, None).await;
    console.json().await; // the snapshot
    let first = app.call_next(staff, q, "Desk 1").await.expect(200);
    let second = other.call_next(staff, q, "Desk 2").await.expect(200);
    let started = app.call_next(staff, q, "Desk 3").await.expect(200);
    app.transition(staff, &id(&started), "start").await.expect(200);

    // 30 s on, nobody has timed out.
    clock.advance(chrono::Duration::seconds(30));
    a_few_rounds().await;
    assert_eq!(status_of(&app, &id(&first)).await, "called");

    // 61 s on: both calls time out, once each, by the clock; the ticket being served and the
    // one still waiting do not.
    clock.advance(chrono::Duration::seconds(31));
    until_ticket(&app, &id(&first), "no_show").await;
    until_ticket(&other, &id(&second), "no_show").await;
    a_few_rounds().await;
    let mut no_shows = events_of(&app, q, "ticket.no_show").await;
    no_shows.sort();
    let mut want = vec![(id(&first), "system".to_owned()), (id(&second), "system".to_owned())];
    want.sort();
    assert_eq!(no_shows, want, "each call timed out once");
    assert_eq!(status_of(&app, &id(&started)).await, "serving");

    // The staff socket saw them as events; the webhook outbox has one delivery each; stats count them.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let frame = console.json().await;
        if frame["event"]["kind"] == "ticket.no_show" {
            assert_eq!(frame["event"]["actor"], "system");
            seen.push(id(&frame["event"]["ticket"]));
        }
    }
    let delivered = deliveries(&app, &hook).await;
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    let stats = app.get(&format!("/api/v1/queues/{q}/stats"), Some(staff)).await.expect(200);
    assert_eq!(stats["no_shows"], 2);

    // A no-show may still be requeued by staff, as before.
    app.transition(staff, &id(&first), "requeue").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_waiting_past_its_ttl_expires_once_with_two_nodes_running() {
    let (app, clock) = app_now().await;
    let other = second_node(&app, &clock).await;
    let staff = &app.admin;
    let q = app.create_queue(staff, "desk", json!({"settings": {"ticket_ttl_minutes": 30}})).await;
    let hook = hook(&app, json!(["ticket.expired"])).await;
    let mut tickets = Vec::new();
    for _ in 0..12 {
        tickets.push(app.joined(q).await);
    }
    let called = app.call_next(staff, q, "Desk 1").await.expect(200);
    let (waiting, token) = &tickets[11];
    let mut customer = other.ws(&format!("/ws/tickets/{}?token={token}", id(waiting))).await;
    assert_eq!(customer.json().await["ticket"]["position"], 11);

    clock.advance(chrono::Duration::minutes(29));
    a_few_rounds().await;
    assert_eq!(status_of(&app, &id(waiting)).await, "waiting");

    clock.advance(chrono::Duration::minutes(2));
    until_ticket(&other, &id(waiting), "expired").await;
    until_ticket(&app, &id(&tickets[1].0), "expired").await;
    a_few_rounds().await;

    // Each expired once, by the clock, and left the line; the called ticket did not expire.
    let mut expired = events_of(&app, q, "ticket.expired").await;
    expired.sort();
    let mut want: Vec<(String, String)> = tickets[1..].iter().map(|(t, _)| (id(t), "system".to_owned())).collect();
    want.sort();
    assert_eq!(expired, want, "each expired once");
    assert_eq!(status_of(&app, &id(&called)).await, "called");
    let s = app.get(&format!("/api/v1/queues/{q}"), None).await.expect(200);
    assert_eq!(s["waiting"], 0);
    let t = app.get(&format!("/api/v1/tickets/{}", id(waiting)), Some(staff)).await.expect(200);
    assert_eq!((&t["position"], t["finished_at"].is_string()), (&Value::Null, true), "{t}");

    // The customer's page hears it; the outbox and the stats have it.
    let mut last = customer.json().await;
    while last["ticket"]["status"] != "expired" {
        last = customer.json().await;
    }
    assert_eq!(last["ticket"]["position"], Value::Null);
    assert_eq!(deliveries(&app, &hook).await.len(), 11);
    let stats = app.get(&format!("/api/v1/queues/{q}/stats"), Some(staff)).await.expect(200);
    assert_eq!((&stats["expired"], &stats["by_status"]["expired"]), (&json!(11), &json!(11)));
}

/// What two nodes' clock tasks do at the same moment, run by hand: two more stores (each with
/// its own writer) on the same database and clock run one round each, at once, over the same
/// due work (a queue's opening, called timeouts, expiries). Every change is made once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clocks_racing_over_the_same_due_work_apply_each_change_once() {
    let clock = Clock::system();
    let shared = clock.clone();
    // The app's own clock task looks once at start, then not for an hour.
    let app = spawn_app_with(move |s| {
        s.store.clock = shared;
        s.clock_every = Duration::from_secs(3600);
    })
    .await;
    let staff = &app.admin;

    // A zone where it is now ten-something in the morning, and hours that open it at noon.
    let now = chrono::Utc::now();
    let offset = (10 - i64::from(now.hour())).rem_euclid(24);
    let offset = if offset > 14 { offset - 24 } else { offset };
    let zone = if offset >= 0 { format!("Etc/GMT-{offset}") } else { format!("Etc/GMT+{}", -offset) };
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let weekly: serde_json::Map<String, Value> =
        days.iter().map(|d| (d.to_string(), json!([["12:00", "14:00"]]))).collect();
    let hours_queue =
        app.create_queue(staff, "noon", json!({"settings": {"hours": {"tz": zone, "weekly": weekly}}})).await;
    let summary = app.get(&format!("/api/v1/queues/{hours_queue}"), None).await.expect(200);
    assert_eq!(summary["status"], "closed", "{zone}: {summary}");
    let noon: chrono::DateTime<chrono::Utc> = summary["opens_at"].as_str().unwrap().parse().unwrap();

    let q = app
        .create_queue(staff, "timed", json!({"settings": {"called_timeout_seconds": 60, "ticket_ttl_minutes": 30}}))
        .await;
    for _ in 0..20 {
        app.joined(q).await;
    }
    for _ in 0..8 {
        app.call_next(staff, q, "Desk").await.expect(200);
    }

    // Noon there, and well past every timeout and time to live.
    clock.set(noon + chrono::Duration::seconds(1));
    assert!(clock.now() - now > chrono::Duration::minutes(31), "noon is over an hour away");
    let tasks = Tasks::new();
    let settings = || StoreSettings { pool_size: 4, clock: clock.clone(), ..StoreSettings::default() };
    let a = Store::connect(&app.db_url, settings(), &tasks).await.unwrap();
    let b = Store::connect(&app.db_url, settings(), &tasks).await.unwrap();
    let (ra, rb) = tokio::join!(round(&a), round(&b));
    ra.unwrap();
    rb.unwrap();

    let opened = app.all_events(staff, hours_queue).await;
    let opened: Vec<&Value> = opened.iter().filter(|e| e["actor"] == "system").collect();
    assert_eq!(opened.len(), 1, "opened once: {opened:?}");
    assert_eq!(opened[0]["queue"]["status"], "open");
    let (no_shows, expired) = (events_of(&app, q, "ticket.no_show").await, events_of(&app, q, "ticket.expired").await);
    assert_eq!((no_shows.len(), expired.len()), (8, 12), "each ticket once");
    let distinct: std::collections::HashSet<&String> = no_shows.iter().chain(&expired).map(|(t, _)| t).collect();
    assert_eq!(distinct.len(), 20);
    tasks.stop(Duration::from_secs(5)).await;
}
