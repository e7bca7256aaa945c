//! Liveness and readiness.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// How long a dependency may take to answer a readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    status: &'static str,
}

/// Whether this node can serve, and how its dependencies are.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ready", "postgres": "up", "redis": "up"}))]
pub struct Readiness {
    /// `ready` or `unready`.
    status: &'static str,
    /// `up` or `down`.
    postgres: &'static str,
    /// `up`, `down` or `disabled` (no `REDIS_URL`); Redis down does not make a node unready.
    redis: &'static str,
}

/// The process is up.
#[utoipa::path(
    get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)),
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Ready when PostgreSQL answers; Redis is reported (and optional: without it a node runs on
/// PostgreSQL alone, so Redis down does not make the node unready).
#[utoipa::path(
    get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "PostgreSQL answers", body = Readiness),
        (status = 503, description = "PostgreSQL does not answer (this body, not a problem)", body = Readiness,
         example = json!({"status": "unready", "postgres": "down", "redis": "up"})),
    ),
)]
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
    let body = Readiness {
        status: if postgres { "ready" } else { "unready" },
        postgres: if postgres { "up" } else { "down" },
        redis,
    };
    if postgres {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
