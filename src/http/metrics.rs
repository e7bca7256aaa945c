//! `GET /metrics` in Prometheus text, and a middleware that counts requests and writes the
//! access log (with secrets in query strings redacted).
//!
//! The counters and histograms are recorded where things happen (fan-out, sockets, the writer)
//! with the `metrics` macros; this module installs the one recorder of the process and reads the
//! gauges that are cheapest to read at scrape time (hubs, the pool, Redis).

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;

/// Query parameters whose values are secrets, never logged.
const SECRET_PARAMS: [&str; 3] = ["token", "pass", "key"];

/// Seconds: from a millisecond to ten seconds.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Changes per write batch.
const BATCH_BUCKETS: [f64; 12] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];

/// The recorder's handle. Installed once per process: tests run several nodes in one process,
/// and they share it (their series add up).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder, unless done already.
pub fn install() {
    HANDLE.get_or_init(|| {
        let built = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full("queuecast_write_batch_size".into()), &BATCH_BUCKETS))
            .and_then(|b| b.install_recorder());
        match built {
            Ok(handle) => {
                describe();
                Some(handle)
            }
            Err(err) => {
                // Another recorder (an embedding program's) took the slot: /metrics answers 503.
                tracing::warn!(cause = ?err, "the Prometheus recorder could not be installed");
                None
            }
        }
    });
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!("queuecast_sockets_open", "Open WebSockets, by kind (customer, staff, display)");
    describe_counter!(
        "queuecast_sockets_lagged_total",
        "Sockets that fell behind their hub and were sent a fresh start"
    );
    describe_counter!(
        "queuecast_sockets_closed_total",
        "Sockets closed by the server, by kind and reason (slow, idle, …)"
    );
    describe_counter!(
        "queuecast_sockets_refused_total",
        "Sockets closed because a newer one of the same credential passed its cap (4409), by kind"
    );
    describe_gauge!("queuecast_hubs_live", "Live hubs (queues with local clients) on this node");
    describe_counter!(
        "queuecast_events_applied_total",
        "Events applied to hubs, by the feed that brought them first (local, postgres, redis, poll, fill)"
    );
    describe_counter!("queuecast_events_duplicate_total", "Events dropped as already applied, by feed");
    describe_counter!("queuecast_gaps_filled_total", "Reads of queue_events that brought a hub missing events");
    describe_counter!(
        "queuecast_places_total",
        "Places in line answered to ticket reads, by how they were found: read (counted by the ticket's \
         own read), live (this node's live line), count (a second read, the live line missing)"
    );
    describe_histogram!(
        "queuecast_fanout_latency_seconds",
        Unit::Seconds,
        "From an event's time (taken in its transaction, just before commit) to its hub's broadcast"
    );
    describe_histogram!("queuecast_write_batch_size", Unit::Count, "Changes per writer transaction");
    describe_histogram!(
        "queuecast_write_commit_seconds",
        Unit::Seconds,
        "A writer batch from its start to its commit (all its requests wait this long)"
    );
    describe_gauge!("queuecast_db_pool_connections", "Connections in the database pool");
    describe_gauge!("queuecast_db_pool_idle_connections", "Idle connections in the database pool");
    describe_gauge!("queuecast_db_pool_max_connections", "The database pool's limit");
    describe_gauge!("queuecast_redis_up", "1 when Redis answers, 0 when not; absent without REDIS_URL");
    describe_counter!("queuecast_http_requests_total", "HTTP answers, by status class (2xx, 4xx, …)");
    describe_gauge!(
        "queuecast_admission_bound",
        "API requests this node takes on at once now: what it answers in the queue target (QUEUE_TARGET_MS)"
    );
}

/// `GET /metrics`: Prometheus text.
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let Some(handle) = HANDLE.get().and_then(Option::as_ref) else {
        return HttpResponse::ServiceUnavailable().body("no metrics recorder");
    };
    let pool = state.store.pool();
    metrics::gauge!("queuecast_db_pool_connections").set(pool.size() as f64);
    metrics::gauge!("queuecast_db_pool_idle_connections").set(pool.num_idle() as f64);
    metrics::gauge!("queuecast_db_pool_max_connections").set(pool.options().get_max_connections() as f64);
    metrics::gauge!("queuecast_hubs_live").set(state.fanout.hubs().len() as f64);
    if let Some(up) = state.fanout.redis_up() {
        metrics::gauge!("queuecast_redis_up").set(if up { 1.0 } else { 0.0 });
    }
    handle.run_upkeep();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
}

/// Counts every answer by status class, tells the client how long the server worked on it
/// (`Server-Timing: app;dur=` in milliseconds, as browsers' developer tools and the load
/// generator read it), and logs it (target `queuecast::access`, level debug) with secret query
/// values redacted.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let started = Instant::now();
    let access = tracing::enabled!(target: "queuecast::access", tracing::Level::DEBUG)
        .then(|| (req.method().clone(), req.path().to_owned(), redact(req.query_string())));
    let mut result = next.call(req).await;
    if let Ok(res) = &mut result {
        let took = format!("app;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&took) {
            res.headers_mut().insert(actix_web::http::header::HeaderName::from_static("server-timing"), value);
        }
    }
    let status = match &result {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    metrics::counter!("queuecast_http_requests_total", "class" => status_class(status.as_u16())).increment(1);
    if let Some((method, path, query)) = access {
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::debug!(target: "queuecast::access", %method, path, query, status = status.as_u16(), elapsed_ms, "request");
    }
    result
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A query string with the values of secret parameters replaced.
pub fn redact(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) => format!("{name}=REDACTED"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_are_redacted() {
        assert_eq!(redact("token=abc&since=4"), "token=REDACTED&since=4");
        assert_eq!(redact("pass=p1&key=k2&Token=t"), "pass=REDACTED&key=REDACTED&Token=REDACTED");
        assert_eq!(redact("after=3&limit=10"), "after=3&limit=10");
        assert_eq!(redact(""), "");
        assert_eq!(redact("keys=1&passport=2"), "keys=1&passport=2");
    }

    #[test]
    fn statuses_fall_in_their_class() {
        assert_eq!(status_class(201), "2xx");
        assert_eq!(status_class(409), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
