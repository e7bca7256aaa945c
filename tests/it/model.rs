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
        check(&app, &mut customers, &model.status, seed, step, what).await;
    }
}

/// Reads each socket until it shows the model's status; every frame on the way must be one the
/// model allowed for that ticket.
async fn check(app: &TestApp, customers: &mut [Customer], status: &[Status], seed: u64, step: usize, what: &str) {
    for (i, c) in customers.iter_mut().enumerate() {
        let want = status[i];
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

/// The line under staff's control: every ticket ever in line by its place (`line_seq`), which a
/// join takes at the end, a requeue keeps, and a move or snooze changes to just before the ticket
/// it now precedes (or the end, when none of its priority follows); the line is the tickets in
/// it by priority, then place.
#[derive(Default)]
struct Controlled {
    order: Vec<usize>,
    priority: Vec<i16>,
    in_line: Vec<bool>,
    snoozes: Vec<u32>,
    status: Vec<Status>,
}

impl Controlled {
    fn line(&self) -> Vec<usize> {
        let mut line: Vec<(i16, usize, usize)> = (self.order.iter().enumerate())
            .filter(|(_, &i)| self.in_line[i])
            .map(|(rank, &i)| (-self.priority[i], rank, i))
            .collect();
        line.sort_unstable();
        line.into_iter().map(|(_, _, i)| i).collect()
    }

    fn settle(&mut self) {
        for (place, i) in self.line().into_iter().enumerate() {
            self.status[i] = Status::Waiting(place as u32 + 1);
        }
    }

    /// `i` at `priority`, just before `next` if it is of that priority, else at the end.
    fn put(&mut self, i: usize, priority: i16, next: Option<usize>) {
        self.priority[i] = priority;
        self.order.retain(|&t| t != i);
        match next.filter(|&n| self.priority[n] == priority) {
            Some(n) => {
                let at = self.order.iter().position(|&t| t == n).unwrap();
                self.order.insert(at, i);
            }
            None => self.order.push(i),
        }
    }
}

/// Joins, calls (the next, or a chosen person), cancels, requeues, moves to a position or before
/// someone, snoozes and priorities, against the model above: what every customer's socket shows
/// must be what the model gave that ticket.
async fn run_controlled(seed: u64, steps: usize) {
    let app = spawn_app().await;
    let path = format!("/api/v1/queues/{}", app.queue);
    let settings = json!({"snooze": {"max_times": 3, "max_places": 3}});
    app.request(reqwest::Method::PATCH, &path, Some(&app.admin), Some(json!({"settings": settings}))).await.expect(200);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut m = Controlled::default();
    let mut customers: Vec<Customer> = Vec::new();
    for step in 0..steps {
        let line = m.line();
        let called: Vec<usize> = (0..customers.len()).filter(|&i| m.status[i] == Status::Called).collect();
        let pick = |rng: &mut StdRng, from: &[usize]| from[rng.random_range(0..from.len())];
        let what = match rng.random_range(0..13) {
            0..=3 => {
                let (ticket, token) = app.joined(app.queue).await;
                let id = ticket["id"].as_str().unwrap().to_owned();
                let ws = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
                let i = customers.len();
                m.order.push(i);
                m.priority.push(0);
                m.in_line.push(true);
                m.snoozes.push(0);
                m.status.push(Status::Cancelled); // set by settle
                customers.push(Customer { id, token, ws, allowed: HashSet::new(), shown: Status::Cancelled });
                "join"
            }
            4 => {
                let reply = app.call_next(&app.admin, app.queue, "D1").await;
                match line.first() {
                    Some(&i) => {
                        assert_eq!(
                            reply.expect(200)["id"].as_str(),
                            Some(customers[i].id.as_str()),
                            "seed {seed} step {step}"
                        );
                        m.in_line[i] = false;
                        m.status[i] = Status::Called;
                    }
                    None => reply.expect_problem(409, "queue_empty"),
                }
                "call next"
            }
            5 if !line.is_empty() => {
                let i = pick(&mut rng, &line);
                let path = format!("/api/v1/tickets/{}/transitions", customers[i].id);
                app.post(&path, Some(&app.admin), json!({"name": "call", "counter": "D2"})).await.expect(200);
                m.in_line[i] = false;
                m.status[i] = Status::Called;
                "call this"
            }
            6 if !line.is_empty() => {
                let i = pick(&mut rng, &line);
                let c = &customers[i];
                app.post(&format!("/api/v1/tickets/{}/cancel?token={}", c.id, c.token), None, json!({}))
                    .await
                    .expect(200);
                m.in_line[i] = false;
                m.status[i] = Status::Cancelled;
                "cancel"
            }
            7 if !called.is_empty() => {
                let i = pick(&mut rng, &called);
                app.transition(&app.admin, &customers[i].id, "requeue").await.expect(200);
                m.in_line[i] = true;
                "requeue"
            }
            8 if !line.is_empty() => {
                let i = pick(&mut rng, &line);
                let n = rng.random_range(1..=line.len());
                let rest: Vec<usize> = line.iter().copied().filter(|&t| t != i).collect();
                let after = n.checked_sub(2).and_then(|a| rest.get(a)).copied();
                let next = rest.get(n - 1).copied();
                let body = json!({"position": n});
                let reply =
                    app.post(&format!("/api/v1/tickets/{}/move", customers[i].id), Some(&app.admin), body).await;
                if reply.code() != "no_room" {
                    let ceiling = after.map_or(i16::MAX, |a| m.priority[a]);
                    let floor = next.map_or(i16::MIN, |b| m.priority[b]);
                    let p = m.priority[i].min(ceiling).max(floor);
                    assert_eq!(reply.expect(200)["position"].as_u64(), Some(n as u64), "seed {seed} step {step}");
                    m.put(i, p, next);
                }
                "move to a position"
            }
            9 if line.len() >= 2 => {
                let i = pick(&mut rng, &line);
                let rest: Vec<usize> = line.iter().copied().filter(|&t| t != i).collect();
                let j = pick(&mut rng, &rest);
                let k = rest.iter().position(|&t| t == j).unwrap();
                let after = k.checked_sub(1).map(|a| rest[a]);
                let body = json!({"before": customers[j].id});
                let reply =
                    app.post(&format!("/api/v1/tickets/{}/move", customers[i].id), Some(&app.admin), body).await;
                if reply.code() != "no_room" {
                    reply.expect(200);
                    let ceiling = after.map_or(i16::MAX, |a| m.priority[a]);
                    let p = m.priority[i].min(ceiling).max(m.priority[j]);
                    m.put(i, p, Some(j));
                }
                "move before"
            }
            10 if !line.is_empty() => {
                let i = pick(&mut rng, &line);
                let places = rng.random_range(1..=3usize);
                let c = &customers[i];
                let path = format!("/api/v1/tickets/{}/snooze?token={}", c.id, c.token);
                let reply = app.post(&path, None, json!({"places": places})).await;
                let at = line.iter().position(|&t| t == i).unwrap();
                let behind: Vec<usize> =
                    line[at + 1..].iter().copied().filter(|&t| m.priority[t] == m.priority[i]).collect();
                if m.snoozes[i] >= 3 {
                    reply.expect_problem(409, "snooze_limit");
                } else if behind.is_empty() {
                    reply.expect_problem(409, "already_last");
                } else if reply.code() != "no_room" {
                    reply.expect(200);
                    m.snoozes[i] += 1;
                    let next = behind.get(places.min(behind.len())).copied();
                    m.put(i, m.priority[i], next);
                }
                "snooze"
            }
            11 | 12 if !line.is_empty() => {
                let i = pick(&mut rng, &line);
                let p = rng.random_range(0..=2i16);
                let path = format!("/api/v1/tickets/{}", customers[i].id);
                let body = json!({"priority": p});
                app.request(reqwest::Method::PATCH, &path, Some(&app.admin), Some(body)).await.expect(200);
                m.priority[i] = p;
                "priority"
            }
            _ => continue,
        };
        m.settle();
        for (i, c) in customers.iter_mut().enumerate() {
            c.allowed.insert(m.status[i]);
        }
        check(&app, &mut customers, &m.status, seed, step, what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_customers_are_shown_follows_a_model_of_a_line_under_staff_control() {
    for seed in [11, 12, 13] {
        run_controlled(seed, 90).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_customers_are_shown_follows_a_model_of_the_line() {
    for seed in [1, 2, 3] {
        run(seed, 70).await;
    }
}
