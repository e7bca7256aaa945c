//! Appointments: slots from a queue's hours, booking (a hundred people taking the last place
//! make one booking), check-in into the live line at the place the rule gives, and appointments
//! nobody came for marked missed once with two nodes running.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use common::clock::{a_few_rounds, second_node};
use common::{spawn_app_with, TestApp};
use futures_util::future::join_all;
use queuecast::clock::Clock;
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;

/// A node on a clock reading the wall clock's time (events keep wall-clock times), with no
/// per-address join limit, and a queue open around the clock (UTC) that books `appointments`.
async fn booking_app(appointments: Value) -> (TestApp, Clock, Uuid) {
    booking_app_mailing(appointments, None).await
}

/// The same, sending e-mail through `smtp` when given.
pub(crate) async fn booking_app_mailing(appointments: Value, smtp: Option<String>) -> (TestApp, Clock, Uuid) {
    let clock = Clock::system();
    clock.set(Utc::now());
    let shared = clock.clone();
    let app = spawn_app_with(move |s| {
        s.store.clock = shared;
        s.clock_every = Duration::from_millis(100);
        s.rate_limits.joins_per_minute = 0;
        s.notify.smtp_url = smtp;
        s.notify.mail_from = Some("Clinic <clinic@queuecast.test>".into());
        // A console whose clock a browser test moves a day on still holds a valid session.
        s.store.staff_token_ttl = chrono::Duration::days(3);
    })
    .await;
    let all_day = json!([["00:00", "24:00"]]);
    let weekly: serde_json::Map<String, Value> =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().map(|d| (d.to_string(), all_day.clone())).collect();
    let settings = json!({"hours": {"tz": "UTC", "weekly": weekly}, "appointments": appointments});
    let queue = app.create_queue(&app.admin.clone(), "clinic", json!({"prefix": "C", "settings": settings})).await;
    (app, clock, queue)
}

/// The first slot start at least `ahead` after `now` on a grid of `step` minutes.
fn slot_after(now: DateTime<Utc>, ahead: chrono::Duration, step: i64) -> DateTime<Utc> {
    (now + ahead).duration_trunc(chrono::Duration::minutes(step)).unwrap() + chrono::Duration::minutes(step)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn book(app: &TestApp, queue: Uuid, start: DateTime<Utc>, name: &str) -> (Value, String) {
    let body = json!({"start_at": stamp(start), "name": name, "email": format!("{}@example.com", name.to_lowercase())});
    let made = app.post(&format!("/api/v1/queues/{queue}/appointments"), None, body).await.expect(201);
    (made["appointment"].clone(), made["token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_count_down_as_people_book_and_a_full_slot_answers_slot_full() {
    // Arrange: two places per slot of 15 minutes.
    let (app, clock, queue) = booking_app(json!({"slot_minutes": 15, "per_slot": 2})).await;
    let start = slot_after(clock.now(), chrono::Duration::hours(2), 15);
    let date = start.date_naive();
    let free_at = |slots: &Value| {
        slots
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["start_at"] == stamp(start))
            .map(|s| s["available"].as_i64().unwrap())
    };

    // Act and assert: the slot counts down, then refuses.
    let slots = app.get(&format!("/api/v1/queues/{queue}/slots?date={date}"), None).await.expect(200);
    assert_eq!(slots.as_array().unwrap().len(), 96, "a day open around the clock has 96 slots of 15 minutes");
    assert_eq!(free_at(&slots), Some(2));
    let (first, token) = book(&app, queue, start, "Ada").await;
    assert_eq!(first["status"], "booked");
    book(&app, queue, start, "Grace").await;
    let slots = app.get(&format!("/api/v1/queues/{queue}/slots?date={date}"), None).await.expect(200);
    assert_eq!(free_at(&slots), Some(0));
    let body = json!({"start_at": stamp(start), "name": "Linus"});
    app.post(&format!("/api/v1/queues/{queue}/appointments"), None, body).await.expect_problem(409, "slot_full");

    // A cancellation frees the place; the customer reads their booking with its token only.
    let id = first["id"].as_str().unwrap();
    app.get(&format!("/api/v1/appointments/{id}?token=wrong"), None).await.expect_problem(404, "not_found");
    let mine = app.get(&format!("/api/v1/appointments/{id}?token={token}"), None).await.expect(200);
    assert_eq!(mine["name"], "Ada");
    let cancelled = app.post(&format!("/api/v1/appointments/{id}/cancel?token={token}"), None, json!({})).await;
    assert_eq!(cancelled.expect(200)["status"], "cancelled");
    app.post(&format!("/api/v1/appointments/{id}/cancel?token={token}"), None, json!({}))
        .await
        .expect_problem(409, "invalid_transition");
    book(&app, queue, start, "Linus").await;

    // Every step is an event of the queue's log, in order.
    let kinds: Vec<String> = app
        .all_events(&app.admin, queue)
        .await
        .iter()
        .filter_map(|e| e["kind"].as_str().filter(|k| k.starts_with("appointment.")).map(str::to_owned))
        .collect();
    assert_eq!(kinds, ["appointment.booked", "appointment.booked", "appointment.cancelled", "appointment.booked"]);

    // Staff mark one missed by hand (the customer called to say they will not come); once.
    let grace =
        app.get(&format!("/api/v1/queues/{queue}/appointments?date={date}"), Some(&app.admin)).await.expect(200);
    let grace =
        grace.as_array().unwrap().iter().find(|a| a["name"] == "Grace").unwrap()["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/appointments/{grace}/no-show"), None, json!({}))
        .await
        .expect_problem(401, "unauthorized");
    let missed = app.post(&format!("/api/v1/appointments/{grace}/no-show"), Some(&app.admin), json!({})).await;
    assert_eq!(missed.expect(200)["status"], "missed");
    app.post(&format!("/api/v1/appointments/{grace}/no-show"), Some(&app.admin), json!({}))
        .await
        .expect_problem(409, "invalid_transition");

    // Staff see the day with names and contacts.
    let day = app.get(&format!("/api/v1/queues/{queue}/appointments?date={date}"), Some(&app.admin)).await.expect(200);
    let names: Vec<&str> = day.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Ada", "Grace", "Linus"]);
    assert_eq!(day[1]["email"], "grace@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_people_booking_the_last_place_at_once_make_one_booking() {
    // Arrange: one place per slot, two nodes.
    let (app, clock, queue) = booking_app(json!({"slot_minutes": 10, "per_slot": 1})).await;
    let other = second_node(&app, &clock).await;
    let start = slot_after(clock.now(), chrono::Duration::hours(1), 10);

    // Act: a hundred bookings of that slot at once, half on each node.
    let tries = (0..100).map(|i| {
        let node = if i % 2 == 0 { &app } else { &other };
        let body = json!({"start_at": stamp(start), "name": format!("Customer {i}")});
        async move { node.post(&format!("/api/v1/queues/{queue}/appointments"), None, body).await }
    });
    let replies = join_all(tries).await;

    // Assert: one booked, ninety-nine full; one booking in the database.
    let booked = replies.iter().filter(|r| r.status.as_u16() == 201).count();
    let full = replies.iter().filter(|r| r.status.as_u16() == 409 && r.code() == "slot_full").count();
    assert_eq!((booked, full), (1, 99), "{:?}", replies.iter().find(|r| ![201, 409].contains(&r.status.as_u16())));
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments WHERE queue_id = $1 AND start_at = $2")
        .bind(queue)
        .bind(start)
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checked_in_appointment_goes_ahead_of_walk_ins_who_came_after_its_time_and_behind_those_before() {
    // Arrange: check-in opens 15 minutes before the appointment, whose place is that of a join
    // then. The appointment starts 5 to 10 minutes from now, so that moment is 5 to 10 minutes
    // ago. Walk-in A joined 20 minutes ago (its event moved back in time: events keep wall-clock
    // times); walk-in B joins now.
    let (app, clock, queue) = booking_app(json!({"slot_minutes": 5, "early_minutes": 15, "late_minutes": 10})).await;
    // The day the report below starts on: before anything happens.
    let today = clock.now().date_naive();
    let start = slot_after(clock.now(), chrono::Duration::minutes(5), 5);
    let (appointment, token) = book(&app, queue, start, "Ada").await;
    let (a, _) = join(&app, queue, "A").await;
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let moved = sqlx::query(
        "UPDATE queue_events SET at = at - interval '20 minutes' WHERE queue_id = $1 AND kind = 'ticket.joined'",
    )
    .bind(queue)
    .execute(&mut owner)
    .await
    .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    let (b, _) = join(&app, queue, "B").await;
    assert_eq!(b["position"], 2);

    // Act: the booked customer checks in with their link.
    let id = appointment["id"].as_str().unwrap();
    let checked = app.post(&format!("/api/v1/appointments/{id}/check-in?token={token}"), None, json!({})).await;
    let checked = checked.expect(201);

    // Assert: second, between A and B, as every view of the line says; called in that order.
    assert_eq!(checked["ticket"]["position"], 2, "{checked}");
    assert_eq!(checked["ticket"]["number"], "C003");
    let b_now = app.get(&format!("/api/v1/tickets/{}", b["id"].as_str().unwrap()), Some(&app.admin)).await.expect(200);
    assert_eq!(b_now["position"], 3);
    let line = app.get(&format!("/api/v1/queues/{queue}/line?after_position=0&limit=10"), Some(&app.admin)).await;
    let order: Vec<String> = line.expect(200)["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, ["C001", "C003", "C002"]);
    let mut called = Vec::new();
    for _ in 0..3 {
        let t = app.call_next(&app.admin, queue, "Desk 1").await.expect(200);
        called.push(t["id"].as_str().unwrap().to_owned());
    }
    let ids = [a["id"].as_str().unwrap(), checked["ticket"]["id"].as_str().unwrap(), b["id"].as_str().unwrap()];
    assert_eq!(called, ids);
    let now = app.get(&format!("/api/v1/appointments/{id}?token={token}"), None).await.expect(200);
    assert_eq!((now["status"].as_str(), now["ticket_id"].as_str()), (Some("checked_in"), Some(ids[1])));

    // A second check-in is refused; an appointment whose check-in is not open yet says when.
    app.post(&format!("/api/v1/appointments/{id}/check-in?token={token}"), None, json!({}))
        .await
        .expect_problem(409, "invalid_transition");
    let later = slot_after(clock.now(), chrono::Duration::hours(1), 5);
    let (early, early_token) = book(&app, queue, later, "Grace").await;
    let early_id = early["id"].as_str().unwrap();
    let refused =
        app.post(&format!("/api/v1/appointments/{early_id}/check-in?token={early_token}"), None, json!({})).await;
    refused.expect_problem(409, "too_early");
    assert_eq!(refused.body["opens_at"], stamp(later - chrono::Duration::minutes(15)));

    // The day report counts the appointments and tells the booked customer's wait from the
    // walk-ins' (over today and tomorrow: the joins are today, and either booking may fall after
    // midnight, the first within ten minutes of it).
    let (from, to) = (today, today + chrono::Days::new(1));
    let path = format!("/api/v1/queues/{queue}/stats?from={from}&to={to}&tz=UTC");
    let report = app.get(&path, Some(&app.admin)).await.expect(200);
    let totals = &report["totals"];
    assert_eq!(totals["appointments"], json!({"booked": 2, "kept": 1, "missed": 0, "cancelled": 0}), "{report}");
    assert_eq!(totals["joined"], 3);
    assert!(totals["wait_seconds_booked"]["mean"].is_number() && totals["wait_seconds_walk_in"]["mean"].is_number());
}

async fn join(app: &TestApp, queue: Uuid, name: &str) -> (Value, String) {
    let body = app.join(queue, json!({"name": name})).await.expect(201);
    (body["ticket"].clone(), body["token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appointment_nobody_came_for_is_missed_once_with_two_nodes_and_a_late_arrival_joins_at_the_end() {
    // Arrange: two nodes on one clock; an appointment, and someone already in line.
    let (app, clock, queue) = booking_app(json!({"slot_minutes": 5, "late_minutes": 10})).await;
    let _other = second_node(&app, &clock).await;
    let start = slot_after(clock.now(), chrono::Duration::minutes(30), 5);
    let (appointment, token) = book(&app, queue, start, "Ada").await;
    join(&app, queue, "A").await;
    let id = appointment["id"].as_str().unwrap();

    // Act: the clock passes the late allowance.
    clock.advance(chrono::Duration::minutes(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = app.get(&format!("/api/v1/appointments/{id}?token={token}"), None).await.expect(200);
        if now["status"] == "missed" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never missed: {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a_few_rounds().await;

    // Assert: one `appointment.missed`, by the system.
    let missed: Vec<Value> =
        app.all_events(&app.admin, queue).await.into_iter().filter(|e| e["kind"] == "appointment.missed").collect();
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0]["actor"], "system");
    assert_eq!(missed[0]["appointment"]["id"], id);
    assert!(missed[0]["appointment"].get("email").is_none(), "events carry no contacts");

    // A late arrival (the default: as a walk-in) joins at the end.
    let late = app.post(&format!("/api/v1/appointments/{id}/check-in?token={token}"), None, json!({})).await;
    assert_eq!(late.expect(201)["ticket"]["position"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_that_cannot_be_booked_answer_400_with_their_codes() {
    let (app, clock, queue) = booking_app(json!({"slot_minutes": 15, "days_ahead": 7})).await;
    let path = format!("/api/v1/queues/{queue}/appointments");
    let start = slot_after(clock.now(), chrono::Duration::hours(1), 15);
    for (start_at, code) in [
        (start - chrono::Duration::hours(3), "slot_in_past"),
        (start + chrono::Duration::minutes(7), "slot_off_grid"),
        (start + chrono::Duration::days(9), "slot_too_far_ahead"),
    ] {
        let body = json!({"start_at": stamp(start_at), "name": "Ada"});
        app.post(&path, None, body).await.expect_problem(400, code);
    }
    for body in [json!({"start_at": "tomorrow", "name": "Ada"}), json!({"start_at": stamp(start), "name": " "})] {
        app.post(&path, None, body).await.expect_problem(400, "bad_request");
    }
    let body = json!({"start_at": stamp(start), "name": "Ada", "phone": "call me"});
    app.post(&path, None, body).await.expect_problem(400, "invalid_phone");
    app.get(&format!("/api/v1/queues/{queue}/slots?date=2026-13-01"), None).await.expect_problem(400, "bad_date");
    app.get(&format!("/api/v1/queues/{queue}/slots?date=2026-12-01&days=40"), None)
        .await
        .expect_problem(400, "bad_request");

    // Outside the hours of a queue open 09:00–12:00 in Paris; a queue without appointments.
    let hours = json!({"tz": "Europe/Paris", "weekly": {"mon": [["09:00", "12:00"]], "tue": [["09:00", "12:00"]],
        "wed": [["09:00", "12:00"]], "thu": [["09:00", "12:00"]], "fri": [["09:00", "12:00"]]}});
    let settings = json!({"hours": hours, "appointments": {"slot_minutes": 30}});
    let paris = app.create_queue(&app.admin.clone(), "paris", json!({"settings": settings})).await;
    let evening = (clock.now() + chrono::Duration::days(1)).date_naive().and_hms_opt(20, 0, 0).unwrap().and_utc();
    let body = json!({"start_at": stamp(evening), "name": "Ada"});
    app.post(&format!("/api/v1/queues/{paris}/appointments"), None, body)
        .await
        .expect_problem(400, "slot_outside_hours");
    let body = json!({"start_at": stamp(start), "name": "Ada"});
    let plain = app.queue;
    app.post(&format!("/api/v1/queues/{plain}/appointments"), None, body).await.expect_problem(400, "no_appointments");
    let bad = json!({"settings": {"appointments": {"per_slot": 0}}});
    let path = format!("/api/v1/queues/{paris}");
    app.request(reqwest::Method::PATCH, &path, Some(&app.admin), Some(bad)).await.expect_problem(400, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_booking_sent_twice_with_its_key_answers_the_same_appointment_and_token() {
    let (app, clock, queue) = booking_app(json!({"per_slot": 5})).await;
    let start = slot_after(clock.now(), chrono::Duration::hours(1), 15);
    let body = json!({"start_at": stamp(start), "name": "Ada"});
    let send = |body: Value| {
        let req = app
            .http
            .post(format!("{}/api/v1/queues/{queue}/appointments", app.base))
            .header("Idempotency-Key", "booking-1")
            .json(&body);
        async move { common::into_reply(req.send().await.unwrap()).await }
    };
    let first = send(body.clone()).await.expect(201);
    let again = send(body).await.expect(201);
    assert_eq!(first["appointment"]["id"], again["appointment"]["id"]);
    assert_eq!(first["token"], again["token"]);
    let other = json!({"start_at": stamp(start), "name": "Grace"});
    send(other).await.expect_problem(409, "idempotency_conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_reach_the_customer_the_day_before_and_an_hour_before_once_with_two_nodes() {
    // Arrange: a booking for tomorrow, reminders by e-mail in French, two nodes on one clock.
    let (url, dir) = crate::notifications::smtp();
    let (app, clock, queue) = booking_app_mailing(json!({"slot_minutes": 30}), Some(url.clone())).await;
    let shared = clock.clone();
    let _other = app
        .second_node_with(move |s| {
            s.store.clock = shared;
            s.clock_every = Duration::from_millis(100);
            s.notify.smtp_url = Some(url);
            s.notify.mail_from = Some("Clinic <clinic@queuecast.test>".into());
        })
        .await;
    let start = slot_after(clock.now(), chrono::Duration::hours(26), 30);
    let to = format!("ada-{}@example.org", Uuid::new_v4().simple());
    let body = json!({"start_at": stamp(start), "name": "Ada", "notify": {"email": to, "lang": "fr"}});
    let made = app.post(&format!("/api/v1/queues/{queue}/appointments"), None, body).await.expect(201);
    let id = made["appointment"]["id"].as_str().unwrap();
    a_few_rounds().await;
    assert!(crate::notifications::mails_to(&dir, &to, 0).await.is_empty(), "nothing is due yet");

    // Act: the day before, then an hour before.
    clock.set(start - chrono::Duration::minutes(24 * 60 - 1));
    let first = crate::notifications::mails_to(&dir, &to, 1).await;
    clock.set(start - chrono::Duration::minutes(59));
    let both = crate::notifications::mails_to(&dir, &to, 2).await;
    a_few_rounds().await;

    // Assert: two e-mails, each once, in French, with the time in the queue's zone and the
    // booking's link.
    assert_eq!(first.len(), 1);
    let again = crate::notifications::mails_to(&dir, &to, 2).await;
    assert_eq!(again.len(), 2, "each reminder once: {again:#?}");
    let when = start.format("%Y-%m-%d %H:%M").to_string();
    for mail in &both {
        assert_eq!(mail["subject"], format!("Rappel : Queue clinic, {when}"));
        let text = mail["text"].as_str().unwrap();
        // The link of whichever node sent it (no PUBLIC_URL here): the booking's page, with its
        // token, so it opens on any device.
        assert!(text.contains("http://127.0.0.1:") && text.contains(&format!("/a/{id}?token=")), "{text}");
        let link = text.split_whitespace().find(|w| w.contains("/a/")).unwrap();
        let token = link.split("?token=").nth(1).unwrap();
        assert_eq!(token, made["token"].as_str().unwrap());
        let opened = app.get(&format!("/api/v1/appointments/{id}?token={token}"), None).await.expect(200);
        assert_eq!(opened["status"], "booked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lobby_kiosk_of_the_queue_checks_a_booking_in_and_other_keys_cannot() {
    // Arrange: a booking whose check-in is open (it starts within the early allowance), and keys.
    let (app, clock, queue) = booking_app(json!({"slot_minutes": 5, "early_minutes": 30})).await;
    let start = slot_after(clock.now(), chrono::Duration::minutes(5), 5);
    let (appointment, _) = book(&app, queue, start, "Ada").await;
    let id = appointment["id"].as_str().unwrap();
    let app = &app;
    let key = |kind: &str, queues: Vec<Uuid>| {
        let body = json!({"kind": kind, "queue_ids": queues});
        async move {
            app.post("/api/v1/device-keys", Some(&app.admin), body).await.expect(201)["key"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let kiosk = key("kiosk", vec![queue]).await;
    let elsewhere = key("kiosk", vec![app.queue]).await;
    let display = key("display", vec![queue]).await;
    let check_in = |key: String| {
        let req = app
            .http
            .post(format!("{}/api/v1/appointments/{id}/check-in", app.base))
            .header("Authorization", format!("Kiosk {key}"));
        async move { common::into_reply(req.send().await.unwrap()).await }
    };

    // Act and assert: a kiosk of another queue learns nothing, a display may not, this one does.
    check_in(elsewhere).await.expect_problem(404, "not_found");
    check_in(display).await.expect_problem(403, "forbidden");
    check_in("not-a-key".into()).await.expect_problem(401, "unauthorized");
    let checked = check_in(kiosk.clone()).await.expect(201);
    assert_eq!(checked["ticket"]["position"], 1);
    let joined = app.all_events(&app.admin, queue).await.into_iter().find(|e| e["kind"] == "ticket.joined").unwrap();
    assert!(joined["actor"].as_str().unwrap().starts_with("kiosk:"), "{joined}");
    check_in(kiosk).await.expect_problem(409, "invalid_transition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_has_a_queue_that_takes_appointments() {
    // Arrange: the demo tenant, set up twice (a restart of `queuecast demo` finds it there).
    let app = common::spawn_app().await;
    queuecast::demo::set_up(&app.store, &app.base).await.unwrap();
    queuecast::demo::set_up(&app.store, &app.base).await.unwrap();
    let token = app.login("demo", "admin@demo.test", "demo-password").await;

    // Act: the demo's queues, and tomorrow's slots of the one that books.
    let queues = app.get("/api/v1/queues", Some(&token)).await.expect(200);
    let slugs: Vec<&str> = queues.as_array().unwrap().iter().map(|q| q["slug"].as_str().unwrap()).collect();
    let vaccines = queues.as_array().unwrap().iter().find(|q| q["slug"] == "vaccines").unwrap();
    let tomorrow = (Utc::now() + chrono::Duration::days(1)).date_naive();
    let path = format!("/api/v1/queues/{}/slots?date={tomorrow}", vaccines["id"].as_str().unwrap());
    let slots = app.get(&path, None).await.expect(200);

    // Assert: three queues; 07:00–21:00 in slots of 15 minutes with two places each.
    assert_eq!(slugs.len(), 3, "{slugs:?}");
    assert_eq!(slots.as_array().unwrap().len(), 56);
    assert!(slots.as_array().unwrap().iter().all(|s| s["available"] == 2));
    // The pharmacy follows prescriptions and asks their number; the main desk lets people step back.
    let by_slug = |slug: &str| queues.as_array().unwrap().iter().find(|q| q["slug"] == slug).unwrap()["id"].clone();
    let pharmacy =
        app.get(&format!("/api/v1/queues/{}", by_slug("pharmacy").as_str().unwrap()), None).await.expect(200);
    assert_eq!(pharmacy["ticket_type"]["init"], "received");
    assert_eq!(pharmacy["fields_schema"]["required"], json!(["prescription_id"]));
    let main = app.get(&format!("/api/v1/queues/{}", by_slug("main").as_str().unwrap()), None).await.expect(200);
    assert_eq!(main["snooze"], json!({"max_times": 2, "max_places": 5}));
}
