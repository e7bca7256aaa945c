//! Abuse: limits on joins and sign-ins per client, and sign-ins that slow down after failures.

use crate::common;

use std::time::Duration;

use common::{spawn_app_with, ADMIN_EMAIL, PASSWORD};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_past_the_limit_answer_429_with_retry_after() {
    let app = spawn_app_with(|s| s.rate_limits.joins_per_minute = 3).await;
    for _ in 0..3 {
        app.join(app.queue, json!({})).await.expect(201);
    }
    let res = app
        .http
        .post(format!("{}/api/v1/queues/{}/tickets", app.base, app.queue))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "Retry-After: {retry}");
    let reply = common::into_reply(res).await;
    reply.expect_problem(429, "rate_limited");
    // Nothing was taken: the refused join made no ticket.
    let summary = app.get(&format!("/api/v1/queues/{}", app.queue), None).await.expect(200);
    assert_eq!(summary["waiting"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_sign_ins_slow_down_and_a_success_resets_them() {
    let app = spawn_app_with(|s| s.rate_limits.login_failures_free = 3).await;
    let attempt = |password: &'static str| {
        let app = &app;
        async move {
            app.post("/api/v1/auth/login", None, json!({"tenant": "acme", "email": ADMIN_EMAIL, "password": password}))
                .await
        }
    };
    for _ in 0..3 {
        attempt("wrong").await.expect_problem(401, "unauthorized");
    }
    attempt("wrong").await.expect_problem(401, "unauthorized");
    // Four failures: the next attempt, even with the right password, must wait a second.
    attempt(PASSWORD).await.expect_problem(429, "rate_limited");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    attempt("wrong").await.expect_problem(401, "unauthorized");
    // Five failures: two seconds now.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    attempt(PASSWORD).await.expect_problem(429, "rate_limited");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    attempt(PASSWORD).await.expect(200);
    attempt("wrong").await.expect_problem(401, "unauthorized");
    attempt(PASSWORD).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_per_address_are_limited() {
    let app = spawn_app_with(|s| s.rate_limits.logins_per_minute = 2).await;
    // spawn_app signed in once already.
    app.post("/api/v1/auth/login", None, json!({"tenant": "acme", "email": ADMIN_EMAIL, "password": PASSWORD}))
        .await
        .expect(200);
    app.post("/api/v1/auth/login", None, json!({"tenant": "acme", "email": "x@acme.test", "password": "x"}))
        .await
        .expect_problem(429, "rate_limited");
}
