//! Liveness and readiness.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

/// How long a dependency may take to answer a readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when PostgreSQL answers; Redis is reported (and optional: without it a node runs on
/// PostgreSQL alone, so Redis down does not make the node unready).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let postgres = tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(state.store.pool()))
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    let redis = match state.fanout.redis_up() {
        None => "disabled",
        Some(true) => "up",
        Some(false) => "down",
    };
    let body = json!({
        "status": if postgres { "ready" } else { "unready" },
        "postgres": if postgres { "up" } else { "down" },
        "redis": redis,
    });
    if postgres {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
