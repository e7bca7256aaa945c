//! Queues that keep time: opening hours (joins outside them refused with when the queue opens,
//! the public summary saying when it opens and closes), applied by the server itself once
//! however many nodes run, across daylight saving changes; daily numbers. (Called timeouts and
//! expiry: `tests/timers.rs`.) Time is moved with the nodes' shared clock, never waited for.

use crate::common;

use std::time::Duration;

use common::clock::{a_few_rounds, app_at, second_node};
use common::TestApp;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// Hours in Paris, every day the same intervals.
fn paris_every_day(intervals: Value) -> Value {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    json!({"tz": "Europe/Paris", "weekly": days.iter().map(|d| (d.to_string(), intervals.clone())).collect::<serde_json::Map<_, _>>()})
}

async fn summary(app: &TestApp, q: Uuid) -> Value {
    app.get(&format!("/api/v1/queues/{q}"), None).await.expect(200)
}

async fn patch(app: &TestApp, q: Uuid, body: Value) -> common::Reply {
    app.request(Method::PATCH, &format!("/api/v1/queues/{q}"), Some(&app.admin), Some(body)).await
}

/// The queue as staff list it.
async fn listed(app: &TestApp, q: Uuid) -> Value {
    let all = app.get("/api/v1/queues", Some(&app.admin)).await.expect(200);
    all.as_array().unwrap().iter().find(|x| x["id"] == json!(q)).cloned().unwrap_or(Value::Null)
}

/// Waits (up to 10 s) until `check` holds of the queue's summary; the summary.
async fn until_summary(app: &TestApp, q: Uuid, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = summary(app, q).await;
        if check(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "waited 10 s for {what}: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the queue's status is `status`.
async fn until_status(app: &TestApp, q: Uuid, status: &str) -> Value {
    until_summary(app, q, status, |s| s["status"] == status).await
}

/// The queue's `queue.updated` events made by the clock: the statuses they set.
async fn system_updates(app: &TestApp, q: Uuid) -> Vec<String> {
    let events = app.all_events(&app.admin, q).await;
    events
        .iter()
        .filter(|e| e["kind"] == "queue.updated" && e["actor"] == "system")
        .map(|e| e["queue"]["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_hours_and_timeouts_are_refused_with_a_code_and_nothing_is_saved() {
    let (app, _clock) = app_at("2026-12-07T10:00:00Z").await;
    let ok = json!({"mon": [["09:00", "18:00"]]});
    let many_days: Vec<String> = (0..367)
        .map(|i| (chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + chrono::Days::new(i)).to_string())
        .collect();
    let bad = [
        (
            "overlapping intervals",
            json!({"hours": {"tz": "Europe/Paris", "weekly": {"mon": [["09:00", "12:30"], ["12:00", "18:00"]]}}}),
        ),
        ("25:00", json!({"hours": {"tz": "Europe/Paris", "weekly": {"mon": [["09:00", "25:00"]]}}})),
        ("an unknown zone", json!({"hours": {"tz": "Europe/Atlantis", "weekly": ok}})),
        ("an unknown day", json!({"hours": {"tz": "Europe/Paris", "weekly": {"moonday": [["09:00", "18:00"]]}}})),
        ("367 closed days", json!({"hours": {"tz": "Europe/Paris", "weekly": ok, "closed_on": many_days}})),
        ("a negative last join", json!({"hours": {"tz": "Europe/Paris", "weekly": ok, "last_join_minutes": -1}})),
        ("a negative timeout", json!({"called_timeout_seconds": -30})),
        ("an absurd timeout", json!({"called_timeout_seconds": 1_000_000_000})),
        ("a fractional timeout", json!({"called_timeout_seconds": 1.5})),
        ("a negative ttl", json!({"ticket_ttl_minutes": -5})),
        ("an absurd ttl", json!({"ticket_ttl_minutes": 10_000_000})),
        ("an unknown reset", json!({"number_reset": "weekly"})),
        ("hours that are not an object", json!({"hours": "9 to 5"})),
    ];
    let q = app.queue;
    let before = listed(&app, q).await;
    for (what, settings) in &bad {
        let created = app
            .post("/api/v1/queues", Some(&app.admin), json!({"slug": "bad", "name": "Bad", "settings": settings}))
            .await;
        created.expect_problem(400, "bad_request");
        assert!(created.body["detail"].as_str().unwrap().starts_with("settings."), "{what}: {:?}", created.body);
        assert!(listed(&app, q).await.is_object());
        let patched = patch(&app, q, json!({"settings": settings})).await;
        patched.expect_problem(400, "bad_request");
        assert_eq!(listed(&app, q).await, before, "{what}: nothing saved");
    }
    let all = app.get("/api/v1/queues", Some(&app.admin)).await.expect(200);
    assert_eq!(all.as_array().unwrap().len(), 1, "no queue was created: {all}");
    assert!(app.all_events(&app.admin, q).await.is_empty(), "no event either");

    // A type without an `expired` state cannot expire tickets, nor time out calls without an
    // absent state to move them to.
    app.post(
        "/api/v1/ticket-types",
        Some(&app.admin),
        json!({"code": "bare", "name": "Bare", "fsm": {
        "init": "in_line", "states": ["in_line", "at_desk", "done"],
        "transitions": [{"name": "call", "from": "in_line", "to": "at_desk"},
                        {"name": "finish", "from": "at_desk", "to": "done"}]}}),
    )
    .await
    .expect(201);
    for settings in [json!({"ticket_ttl_minutes": 60}), json!({"called_timeout_seconds": 60})] {
        let body = json!({"slug": "bare", "name": "Bare", "ticket_type": "bare", "settings": settings});
        app.post("/api/v1/queues", Some(&app.admin), body).await.expect_problem(400, "bad_request");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_patched_key_by_key_and_null_removes_one() {
    let (app, _clock) = app_at("2026-12-07T10:00:00Z").await;
    let q = app.create_queue(&app.admin, "desk", json!({"settings": {"service_seconds": 90}})).await;
    let hours = paris_every_day(json!([["09:00", "18:00"]]));
    let patched =
        patch(&app, q, json!({"settings": {"hours": hours, "called_timeout_seconds": 120}})).await.expect(200);
    assert_eq!(patched["settings"], json!({"service_seconds": 90, "hours": hours, "called_timeout_seconds": 120}));
    let patched = patch(&app, q, json!({"settings": {"called_timeout_seconds": null}})).await.expect(200);
    assert_eq!(patched["settings"], json!({"service_seconds": 90, "hours": hours}));
    let events = app.all_events(&app.admin, q).await;
    assert_eq!(events.len(), 2, "each patch is an event");
    assert_eq!(events[1]["queue"]["settings"], patched["settings"]);
}

/// Monday 2026-12-07: Paris is on CET (UTC+1), so 09:00 there is 08:00Z and 18:00 is 17:00Z.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_outside_hours_is_refused_with_when_the_queue_opens_and_the_summary_says_so() {
    let (app, clock) = app_at("2026-12-07T07:00:00Z").await;
    let hours = json!({"tz": "Europe/Paris", "weekly": {"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]]},
        "last_join_minutes": 15});
    let q = app.create_queue(&app.admin, "desk", json!({"settings": {"hours": hours}})).await;

    // Before opening: closed, and the join says when it opens.
    let s = summary(&app, q).await;
    assert_eq!(s["status"], "closed", "a queue with hours starts as they say: {s}");
    assert_eq!(
        (&s["opens_at"], &s["closes_at"], &s["tz"]),
        (&json!("2026-12-07T08:00:00Z"), &Value::Null, &json!("Europe/Paris"))
    );
    let refused = app.join(q, json!({})).await;
    refused.expect_problem(409, "queue_closed");
    assert_eq!(refused.body["opens_at"], "2026-12-07T08:00:00Z");

    // At 09:00 Paris the clock opens it, and joins are taken.
    clock.set("2026-12-07T08:00:01Z".parse().unwrap());
    let s = until_status(&app, q, "open").await;
    assert_eq!((&s["opens_at"], &s["closes_at"]), (&Value::Null, &json!("2026-12-07T17:00:00Z")));
    app.join(q, json!({})).await.expect(201);

    // Within the last 15 minutes: still open for those in line, but no one new joins.
    clock.set("2026-12-07T16:45:30Z".parse().unwrap());
    let refused = app.join(q, json!({})).await;
    refused.expect_problem(409, "queue_closed");
    assert_eq!(refused.body["opens_at"], "2026-12-08T08:00:00Z");
    let s = summary(&app, q).await;
    assert_eq!(s["status"], "open");
    assert_eq!((&s["opens_at"], &s["closes_at"]), (&json!("2026-12-08T08:00:00Z"), &json!("2026-12-07T17:00:00Z")));

    // Closed by hand during hours: the join says when the hours open it next.
    clock.set("2026-12-08T09:00:00Z".parse().unwrap());
    // (Once the clock has caught up with Monday's closing: it finds the queue open as it should be.)
    a_few_rounds().await;
    assert_eq!(summary(&app, q).await["closes_at"], "2026-12-08T17:00:00Z");
    patch(&app, q, json!({"status": "closed"})).await.expect(200);
    let refused = app.join(q, json!({})).await;
    refused.expect_problem(409, "queue_closed");
    assert_eq!(refused.body["opens_at"], "2026-12-14T08:00:00Z", "next Monday");

    // A queue without hours says nothing of either.
    let plain = summary(&app, app.queue).await;
    assert_eq!((&plain["opens_at"], &plain["closes_at"], &plain["tz"]), (&Value::Null, &Value::Null, &Value::Null));
    patch(&app, app.queue, json!({"status": "closed"})).await.expect(200);
    let closed = app.join(app.queue, json!({})).await;
    closed.expect_problem(409, "queue_closed");
    assert!(closed.body.get("opens_at").is_none(), "only queues with hours say when they open: {:?}", closed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_open_and_close_queues_by_their_hours_once_each() {
    let (app, clock) = app_at("2026-12-07T07:59:00Z").await;
    let other = second_node(&app, &clock).await;
    let hours = paris_every_day(json!([["09:00", "18:00"]]));
    let mut queues = Vec::new();
    for i in 0..12 {
        queues.push(app.create_queue(&app.admin, &format!("desk-{i}"), json!({"settings": {"hours": hours}})).await);
    }
    // A staff socket on the second node sees the clock's events like any others.
    let mut staff = other.staff_socket(queues[0], None).await;
    assert_eq!(staff.json().await["queue"]["status"], "closed");

    // 09:00 in Paris: both nodes' clocks find every queue due at once.
    clock.set("2026-12-07T08:00:00.500Z".parse().unwrap());
    for &q in &queues {
        until_status(&app, q, "open").await;
    }
    let frame = staff.json().await;
    assert_eq!((&frame["event"]["kind"], &frame["event"]["actor"]), (&json!("queue.updated"), &json!("system")));
    assert_eq!(frame["event"]["queue"]["status"], "open");
    a_few_rounds().await;
    for &q in &queues {
        assert_eq!(system_updates(&app, q).await, ["open"], "opened once");
    }

    // 18:00: closed, once; and nothing more until tomorrow's 09:00.
    clock.set("2026-12-07T17:00:00.500Z".parse().unwrap());
    for &q in &queues {
        until_status(&other, q, "closed").await;
    }
    a_few_rounds().await;
    for &q in &queues {
        assert_eq!(system_updates(&app, q).await, ["open", "closed"], "closed once");
        let events = app.all_events(&app.admin, q).await;
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "numbered without gaps");
    }
    assert_eq!(summary(&app, queues[0]).await["opens_at"], "2026-12-08T08:00:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_early_by_hand_the_queue_stays_closed_and_new_hours_apply_at_once() {
    let (app, clock) = app_at("2026-12-07T09:00:00Z").await;
    let hours = paris_every_day(json!([["09:00", "18:00"]]));
    let q = app.queue;
    // New hours on an open queue during them: it stays open; the change is the staff's event.
    patch(&app, q, json!({"settings": {"hours": hours}})).await.expect(200);
    assert_eq!(summary(&app, q).await["closes_at"], "2026-12-07T17:00:00Z");

    // Closed by hand at 17:30 Paris: at 18:00 there is nothing to announce.
    clock.set("2026-12-07T16:30:00Z".parse().unwrap());
    patch(&app, q, json!({"status": "closed"})).await.expect(200);
    clock.set("2026-12-07T17:00:01Z".parse().unwrap());
    a_few_rounds().await;
    assert!(system_updates(&app, q).await.is_empty());
    // And the next morning it opens as usual.
    clock.set("2026-12-08T08:00:01Z".parse().unwrap());
    until_status(&app, q, "open").await;
    assert_eq!(system_updates(&app, q).await, ["open"]);

    // Hours that say closed now close it at once (the patch's own event), and opening hours
    // removed leave it as it is.
    let night = paris_every_day(json!([["20:00", "22:00"]]));
    let patched = patch(&app, q, json!({"settings": {"hours": night}})).await.expect(200);
    assert_eq!(patched["status"], "closed");
    let patched = patch(&app, q, json!({"settings": {"hours": null}})).await.expect(200);
    assert_eq!(patched["status"], "closed");
    clock.set("2026-12-08T19:00:01Z".parse().unwrap());
    a_few_rounds().await;
    assert_eq!(summary(&app, q).await["status"], "closed", "no hours, no clock");
    assert_eq!(system_updates(&app, q).await, ["open"]);
}

/// Paris changes clocks on the last Sundays of March (2026-03-29: 02:00 CET → 03:00 CEST) and
/// October (2026-10-25: 03:00 CEST → 02:00 CET): 09:00 there is 08:00Z the day before the first
/// change, 07:00Z on it, and 08:00Z again from the second. Two nodes, each opening once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openings_follow_paris_time_across_both_clock_changes_once_with_two_nodes() {
    let (app, clock) = app_at("2026-03-28T07:59:00Z").await;
    let other = second_node(&app, &clock).await;
    let hours = json!({"tz": "Europe/Paris", "weekly": {"sat": [["09:00", "18:00"]], "sun": [["09:00", "18:00"]]}});
    let q = app.create_queue(&app.admin, "weekend", json!({"settings": {"hours": hours}})).await;
    assert_eq!(summary(&app, q).await["opens_at"], "2026-03-28T08:00:00Z", "Saturday, CET");

    clock.set("2026-03-28T08:00:00.500Z".parse().unwrap());
    until_status(&app, q, "open").await;
    clock.set("2026-03-28T17:00:00.500Z".parse().unwrap());
    let s = until_status(&other, q, "closed").await;
    assert_eq!(s["opens_at"], "2026-03-29T07:00:00Z", "Sunday, CEST: an hour earlier in UTC");

    // An hour before Sunday's opening in UTC terms is still closed: 08:00Z is 10:00 CEST.
    clock.set("2026-03-29T06:59:00Z".parse().unwrap());
    a_few_rounds().await;
    assert_eq!(summary(&app, q).await["status"], "closed");
    clock.set("2026-03-29T07:00:00.500Z".parse().unwrap());
    let s = until_status(&other, q, "open").await;
    assert_eq!(s["closes_at"], "2026-03-29T16:00:00Z");

    // Months pass with the nodes down (the clock jumps): the first round closes it, once.
    clock.set("2026-10-24T20:00:00Z".parse().unwrap());
    let s = until_status(&app, q, "closed").await;
    assert_eq!(s["opens_at"], "2026-10-25T08:00:00Z", "Sunday after the change, CET again");
    clock.set("2026-10-25T07:59:00Z".parse().unwrap());
    a_few_rounds().await;
    assert_eq!(summary(&app, q).await["status"], "closed", "07:59Z is 08:59 CET");
    clock.set("2026-10-25T08:00:00.500Z".parse().unwrap());
    let s = until_status(&app, q, "open").await;
    assert_eq!(s["closes_at"], "2026-10-25T17:00:00Z");
    a_few_rounds().await;
    assert_eq!(system_updates(&app, q).await, ["open", "closed", "open", "closed", "open"]);
}

/// Joins; the ticket's number.
async fn number(app: &TestApp, q: Uuid) -> String {
    let body = app.join(q, json!({})).await.expect(201);
    body["ticket"]["number"].as_str().unwrap().to_owned()
}

/// Tuesday 2026-12-08 in Paris (CET, UTC+1): open 09:00–12:30 and 14:00–18:00 every day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_numbers_start_again_at_the_first_opening_of_each_local_day() {
    let (app, clock) = app_at("2026-12-08T07:30:00Z").await;
    let other = second_node(&app, &clock).await;
    let hours = paris_every_day(json!([["09:00", "12:30"], ["14:00", "18:00"]]));
    let q = app.create_queue(&app.admin, "daily", json!({"settings": {"hours": hours, "number_reset": "daily"}})).await;
    let plain = app.create_queue(&app.admin, "plain", json!({"prefix": "P", "settings": {"hours": hours}})).await;

    clock.set("2026-12-08T08:00:00.500Z".parse().unwrap());
    until_status(&app, q, "open").await;
    until_status(&app, plain, "open").await;
    assert_eq!([number(&app, q).await, number(&other, q).await], ["A001", "A002"]);
    assert_eq!(number(&app, plain).await, "P001");

    // After lunch the same day, numbers go on.
    clock.set("2026-12-08T11:30:00.500Z".parse().unwrap());
    until_status(&app, q, "closed").await;
    clock.set("2026-12-08T13:00:00.500Z".parse().unwrap());
    until_status(&app, q, "open").await;
    assert_eq!(number(&other, q).await, "A003");
    // Closed and opened again by hand: the same day still.
    patch(&app, q, json!({"status": "closed"})).await.expect(200);
    patch(&app, q, json!({"status": "open"})).await.expect(200);
    assert_eq!(number(&app, q).await, "A004");

    // The next morning: A001 again (once, with two nodes); the queue without daily numbers goes on.
    clock.set("2026-12-08T17:00:00.500Z".parse().unwrap());
    until_status(&app, q, "closed").await;
    clock.set("2026-12-09T08:00:00.500Z".parse().unwrap());
    until_status(&other, q, "open").await;
    until_status(&other, plain, "open").await;
    a_few_rounds().await;
    let day_two = [number(&app, q).await, number(&other, q).await, number(&app, q).await];
    assert_eq!(day_two, ["A001", "A002", "A003"]);
    assert_eq!(number(&app, plain).await, "P002");
    // Tickets stay distinct by id: yesterday's A001 and today's are two tickets.
    let events = app.all_events(&app.admin, q).await;
    let a001: std::collections::HashSet<&str> = events
        .iter()
        .filter(|e| e["kind"] == "ticket.joined" && e["ticket"]["number"] == "A001")
        .map(|e| e["ticket"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(a001.len(), 2);
}

/// The day numbers count by is the queue's local day, not UTC's: hours of 00:30–01:00 and
/// 02:00–03:00 in Paris open on one local day but on two UTC dates (23:30Z and 01:00Z).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_numbers_count_by_the_local_day_not_the_utc_date() {
    let (app, clock) = app_at("2026-12-07T23:00:00Z").await;
    let hours = paris_every_day(json!([["00:30", "01:00"], ["02:00", "03:00"]]));
    let body = json!({"prefix": "N", "settings": {"hours": hours, "number_reset": "daily"}});
    let q = app.create_queue(&app.admin, "night", body).await;
    clock.set("2026-12-07T23:30:00.500Z".parse().unwrap());
    until_status(&app, q, "open").await;
    assert_eq!(number(&app, q).await, "N001");
    clock.set("2026-12-08T00:00:00.500Z".parse().unwrap());
    until_status(&app, q, "closed").await;
    clock.set("2026-12-08T01:00:00.500Z".parse().unwrap());
    until_status(&app, q, "open").await;
    assert_eq!(number(&app, q).await, "N002", "still Tuesday in Paris");
    clock.set("2026-12-08T02:00:00.500Z".parse().unwrap());
    until_status(&app, q, "closed").await;
    clock.set("2026-12-08T23:30:00.500Z".parse().unwrap());
    until_status(&app, q, "open").await;
    assert_eq!(number(&app, q).await, "N001", "Wednesday in Paris");
}
