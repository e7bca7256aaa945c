//! Random sequences of joins, calls, cancels, no-shows, requeues and checked-in appointments
//! against the real server, beside an in-memory model of the line: every position and status a
//! customer's socket shows must be one the model gave that ticket, and each customer ends seeing
//! exactly the model's.
//!
//! The model's line rule: a walk-in's place is its join (the seq of its `ticket.joined`; a
//! requeue restores it); a checked-in appointment's is just after the last event at or before
//! `start_at − early_minutes`, behind the appointments checked in there before it. To know which
//! event that is, the test sets every event's time to a timeline it chose (`TICK` apart).

use crate::common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use common::{spawn_app, TestApp, Ws};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::Connection;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Status {
    Waiting(u32),
    Called,
    NoShow,
    Cancelled,
}

struct Customer {
    id: String,
    token: String,
    ws: Ws,
    /// What the model gave this ticket, after any step.
    allowed: HashSet<Status>,
    shown: Status,
}

/// Where a ticket stands: after the event `seq`, and among those placed there, `nth` (0 for the
/// walk-in whose join that event was; 1, 2, … for appointments checked in after it).
type Place = (i64, u32, usize);

/// The line: tickets by their places (a requeue restores a ticket's place).
#[derive(Default)]
struct Model {
    line: BTreeSet<Place>,
    place: Vec<Place>,
    status: Vec<Status>,
}

impl Model {
    fn settle(&mut self) {
        let line: Vec<usize> = self.line.iter().map(|p| p.2).collect();
        for (place, &i) in line.iter().enumerate() {
            self.status[i] = Status::Waiting(place as u32 + 1);
        }
    }

    fn enter(&mut self, i: usize) {
        self.line.insert(self.place[i]);
    }

    fn leave(&mut self, i: usize) {
        self.line.remove(&self.place[i]);
    }
}

/// Events' times on the test's timeline: event `seq` at `base + seq × TICK`.
const TICK_MS: i64 = 37_500;
/// Check-in opens this long before an appointment, whose place is the one of that moment.
const EARLY_MINUTES: i64 = 240;

/// Books a time whose check-in moment falls on the timeline after event `after` (and before the
/// next), sets the events' times, and checks the customer in: the ticket and its token.
async fn check_in(app: &TestApp, base: DateTime<Utc>, after: i64) -> (Value, String) {
    let mut owner = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("UPDATE queue_events SET at = $2 + seq * make_interval(secs => $3) WHERE queue_id = $1")
        .bind(app.queue)
        .bind(base)
        .bind(TICK_MS as f64 / 1000.0)
        .execute(&mut owner)
        .await
        .unwrap();
    // Every 8th event's time is on the slots' 5-minute grid (8 × 37.5 s), and `after` is one of
    // them: check-in opens at that event's time, before the next event's.
    assert_eq!(after % 8, 0);
    let opens = base + chrono::Duration::milliseconds(after * TICK_MS);
    let start = opens + chrono::Duration::minutes(EARLY_MINUTES);
    let body = json!({"start_at": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "name": "Booked"});
    let made = app.post(&format!("/api/v1/queues/{}/appointments", app.queue), None, body).await.expect(201);
    let id = made["appointment"]["id"].as_str().unwrap();
    let token = made["token"].as_str().unwrap();
    let checked =
        app.post(&format!("/api/v1/appointments/{id}/check-in?token={token}"), None, json!({})).await.expect(201);
    (checked["ticket"].clone(), checked["token"].as_str().unwrap().to_owned())
}

fn shown(frame: &Value) -> Status {
    let t = &frame["ticket"];
    match t["status"].as_str().unwrap() {
        "waiting" => Status::Waiting(t["position"].as_u64().unwrap() as u32),
        "called" => Status::Called,
        "no_show" => Status::NoShow,
        "cancelled" => Status::Cancelled,
        other => panic!("a status the model does not make: {other}"),
    }
}

async fn run(seed: u64, steps: usize) {
    let app = spawn_app().await;
    // Open around the clock and taking appointments, placed as of four hours before their time.
    let all_day = json!([["00:00", "24:00"]]);
    let weekly: serde_json::Map<String, Value> =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().map(|d| (d.to_string(), all_day.clone())).collect();
    let settings = json!({"hours": {"tz": "UTC", "weekly": weekly},
        "appointments": {"slot_minutes": 5, "per_slot": 100, "early_minutes": EARLY_MINUTES, "late_minutes": 240}});
    let path = format!("/api/v1/queues/{}", app.queue);
    let patched = app.request(reqwest::Method::PATCH, &path, Some(&app.admin), Some(json!({"settings": settings})));
    patched.await.expect(200);
    // The timeline starts 200 minutes ago (so every check-in moment is less than four hours
    // ago: its appointment is ahead, and check-in is open), on the grid.
    let base = (Utc::now() - chrono::Duration::minutes(200)).duration_trunc(chrono::Duration::minutes(5)).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();
    let mut customers: Vec<Customer> = Vec::new();
    // How many appointments were checked in after each event.
    let mut checked_after: std::collections::HashMap<i64, u32> = std::collections::HashMap::new();
    for step in 0..steps {
        let roll = rng.random_range(0..11);
        let called: Vec<usize> = (0..customers.len()).filter(|&i| model.status[i] == Status::Called).collect();
        let missed: Vec<usize> = (0..customers.len()).filter(|&i| model.status[i] == Status::NoShow).collect();
        let waiting: Vec<usize> = model.line.iter().map(|p| p.2).collect();
        let what = match roll {
            0..=4 => {
                let (ticket, token) = app.joined(app.queue).await;
                let id = ticket["id"].as_str().unwrap().to_owned();
                let ws = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
                model.place.push((ticket["seq"].as_i64().unwrap(), 0, customers.len()));
                model.status.push(Status::Cancelled); // set by settle
                model.enter(customers.len());
                customers.push(Customer { id, token, ws, allowed: HashSet::new(), shown: Status::Cancelled });
                "join"
            }
            10 => {
                // A moment on the grid of the timeline so far: after every 8th event.
                let last = app.all_events(&app.admin, app.queue).await.last().map_or(0, |e| e["seq"].as_i64().unwrap());
                let after = 8 * rng.random_range(0..=last / 8);
                let (ticket, token) = check_in(&app, base, after).await;
                let id = ticket["id"].as_str().unwrap().to_owned();
                let ws = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
                let nth = checked_after.entry(after).or_insert(0);
                *nth += 1;
                model.place.push((after, *nth, customers.len()));
                model.status.push(Status::Cancelled); // set by settle
                model.enter(customers.len());
                customers.push(Customer { id, token, ws, allowed: HashSet::new(), shown: Status::Cancelled });
                "check_in"
            }
            5..=6 => {
                let reply = app.call_next(&app.admin, app.queue, "D1").await;
                match model.line.pop_first().map(|p| p.2) {
                    Some(i) => {
                        assert_eq!(
                            reply.expect(200)["id"].as_str(),
                            Some(customers[i].id.as_str()),
                            "seed {seed} step {step}"
                        );
                        model.status[i] = Status::Called;
                    }
                    None => reply.expect_problem(409, "queue_empty"),
                }
                "call"
            }
            7 if !waiting.is_empty() => {
                let i = waiting[rng.random_range(0..waiting.len())];
                let c = &customers[i];
                app.post(&format!("/api/v1/tickets/{}/cancel?token={}", c.id, c.token), None, json!({}))
                    .await
                    .expect(200);
                model.leave(i);
                model.status[i] = Status::Cancelled;
                "cancel"
            }
            8 if !called.is_empty() => {
                let i = called[rng.random_range(0..called.len())];
                app.transition(&app.admin, &customers[i].id, "no_show").await.expect(200);
                model.status[i] = Status::NoShow;
                "no_show"
            }
            9 if !called.is_empty() || !missed.is_empty() => {
                let pool: Vec<usize> = called.iter().chain(&missed).copied().collect();
                let i = pool[rng.random_range(0..pool.len())];
                app.transition(&app.admin, &customers[i].id, "requeue").await.expect(200);
                model.enter(i);
                "requeue"
            }
            _ => continue,
        };
        model.settle();
        for (i, c) in customers.iter_mut().enumerate() {
            c.allowed.insert(model.status[i]);
        }
        check(&app, &mut customers, &model, seed, step, what).await;
    }
}

/// Reads each socket until it shows the model's status; every frame on the way must be one the
/// model allowed for that ticket.
async fn check(app: &TestApp, customers: &mut [Customer], model: &Model, seed: u64, step: usize, what: &str) {
    for (i, c) in customers.iter_mut().enumerate() {
        let want = model.status[i];
        while c.shown != want {
            let Some(frame) = c.ws.json_within(Duration::from_secs(5)).await else {
                let truth = app.get(&format!("/api/v1/tickets/{}?token={}", c.id, c.token), None).await.body;
                panic!("seed {seed} step {step} ({what}): customer {i} shows {:?}, the model says {want:?}; the server says {truth}", c.shown);
            };
            c.shown = shown(&frame);
            assert!(
                c.allowed.contains(&c.shown),
                "seed {seed} step {step} ({what}): customer {i} was shown {:?}, never the model's ({:?})",
                c.shown,
                c.allowed
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_customers_are_shown_follows_a_model_of_the_line() {
    for seed in [1, 2, 3] {
        run(seed, 70).await;
    }
}
