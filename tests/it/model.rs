//! Random sequences of joins, calls, cancels, no-shows and requeues against the real server,
//! beside an in-memory model of the line: every position and status a customer's socket shows
//! must be one the model gave that ticket, and each customer ends seeing exactly the model's.

use crate::common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use common::{spawn_app, TestApp, Ws};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

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

/// The line: tickets by the order they first joined (a requeue restores that place).
#[derive(Default)]
struct Model {
    line: BTreeSet<usize>,
    status: Vec<Status>,
}

impl Model {
    fn settle(&mut self) {
        let line: Vec<usize> = self.line.iter().copied().collect();
        for (place, &i) in line.iter().enumerate() {
            self.status[i] = Status::Waiting(place as u32 + 1);
        }
    }
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
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();
    let mut customers: Vec<Customer> = Vec::new();
    for step in 0..steps {
        let roll = rng.random_range(0..10);
        let called: Vec<usize> = (0..customers.len()).filter(|&i| model.status[i] == Status::Called).collect();
        let missed: Vec<usize> = (0..customers.len()).filter(|&i| model.status[i] == Status::NoShow).collect();
        let waiting: Vec<usize> = model.line.iter().copied().collect();
        let what = match roll {
            0..=4 => {
                let (ticket, token) = app.joined(app.queue).await;
                let id = ticket["id"].as_str().unwrap().to_owned();
                let ws = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
                model.line.insert(customers.len());
                model.status.push(Status::Cancelled); // set by settle
                customers.push(Customer { id, token, ws, allowed: HashSet::new(), shown: Status::Cancelled });
                "join"
            }
            5..=6 => {
                let reply = app.call_next(&app.admin, app.queue, "D1").await;
                match model.line.pop_first() {
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
                model.line.remove(&i);
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
                model.line.insert(i);
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
