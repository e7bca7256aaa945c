//! What happened in a queue: volumes, waits, service times and how good the estimates were.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::tickets::ensure_queue;
use super::{Identity, Result, Store};

/// Figures over the tickets that joined since `since`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    pub queue_id: Uuid,
    pub since: DateTime<Utc>,
    /// In line now.
    pub waiting: i32,
    pub joined: i64,
    /// Tickets whose service started and ended.
    pub served: i64,
    pub no_shows: i64,
    pub cancelled: i64,
    /// Tickets that waited past the queue's `ticket_ttl_minutes` (the type's `expired` role).
    pub expired: i64,
    /// Tickets per current status.
    pub by_status: BTreeMap<String, i64>,
    /// From joining to the first call.
    pub wait_seconds: Spread,
    /// From the start of service to its end.
    pub service_seconds: Spread,
    /// The estimate given at joining against the wait that followed.
    pub estimate_error: EstimateError,
}

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct Spread {
    pub count: i64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct EstimateError {
    pub samples: i64,
    pub mean_abs_seconds: Option<f64>,
    pub median_abs_seconds: Option<f64>,
    /// Mean of (actual − estimated): positive when people waited longer than told.
    pub bias_seconds: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    waiting: i32,
    joined: i64,
    served: i64,
    wait_n: i64,
    wait_mean: Option<f64>,
    wait_p50: Option<f64>,
    wait_p90: Option<f64>,
    service_n: i64,
    service_mean: Option<f64>,
    service_p50: Option<f64>,
    service_p90: Option<f64>,
    err_n: i64,
    err_mean: Option<f64>,
    err_p50: Option<f64>,
    err_bias: Option<f64>,
}

impl Store {
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn stats(&self, who: &Identity, queue_id: Uuid, since: DateTime<Utc>) -> Result<QueueStats> {
        self.check_site(who, queue_id).await?;
        let mut tx = self.begin(who.tenant_id).await?;
        ensure_queue(&mut tx, queue_id).await?;
        let r: Row = sqlx::query_as(
            "WITH t AS (SELECT *, EXTRACT(epoch FROM finished_at - served_at)::float8 AS service, \
                               (actual_wait_seconds - estimated_wait_seconds)::float8 AS err \
                        FROM tickets WHERE queue_id = $1 AND joined_at >= $2) \
             SELECT (SELECT waiting FROM queues WHERE id = $1) AS waiting, \
               count(*) AS joined, \
               count(*) FILTER (WHERE service IS NOT NULL) AS served, \
               count(actual_wait_seconds) AS wait_n, avg(actual_wait_seconds)::float8 AS wait_mean, \
               percentile_cont(0.5) WITHIN GROUP (ORDER BY actual_wait_seconds) AS wait_p50, \
               percentile_cont(0.9) WITHIN GROUP (ORDER BY actual_wait_seconds) AS wait_p90, \
               count(service) AS service_n, avg(service) AS service_mean, \
               percentile_cont(0.5) WITHIN GROUP (ORDER BY service) AS service_p50, \
               percentile_cont(0.9) WITHIN GROUP (ORDER BY service) AS service_p90, \
               count(err) AS err_n, avg(abs(err)) AS err_mean, \
               percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(err)) AS err_p50, avg(err) AS err_bias \
             FROM t",
        )
        .bind(queue_id)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let by_status: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM tickets WHERE queue_id = $1 AND joined_at >= $2 GROUP BY status",
        )
        .bind(queue_id)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let roles = self.roles_of(&mut tx, queue_id).await?;
        tx.commit().await?;
        let by_status: BTreeMap<String, i64> = by_status.into_iter().collect();
        // The type's absent, abandoned and expired states, whatever their names.
        let count = |state: Option<String>| state.and_then(|s| by_status.get(&s).copied()).unwrap_or(0);
        Ok(QueueStats {
            queue_id,
            since,
            waiting: r.waiting,
            joined: r.joined,
            served: r.served,
            no_shows: count(roles.absent),
            cancelled: count(roles.abandoned),
            expired: count(roles.expired),
            by_status,
            wait_seconds: Spread { count: r.wait_n, mean: r.wait_mean, p50: r.wait_p50, p90: r.wait_p90 },
            service_seconds: Spread {
                count: r.service_n,
                mean: r.service_mean,
                p50: r.service_p50,
                p90: r.service_p90,
            },
            estimate_error: EstimateError {
                samples: r.err_n,
                mean_abs_seconds: r.err_mean,
                median_abs_seconds: r.err_p50,
                bias_seconds: r.err_bias,
            },
        })
    }
}

/// The recent past of a queue, minute by minute: for the staff console's chart.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct History {
    pub from: DateTime<Utc>,
    pub step_seconds: u32,
    /// True when the queue had more than [`HISTORY_EVENTS`] events in the window, so the oldest
    /// minutes are missing their joins and calls.
    pub truncated: bool,
    pub points: Vec<HistoryPoint>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HistoryPoint {
    /// The minute's start.
    pub at: DateTime<Utc>,
    /// People in line at the end of the minute.
    pub waiting: i32,
    pub joined: i64,
    pub called: i64,
    /// The mean wait of the people called in that minute.
    pub mean_wait_seconds: Option<f64>,
}

/// The most events a history reads, newest first: the window is bounded by the primary key,
/// whatever the queue's age.
pub const HISTORY_EVENTS: i64 = 50_000;

impl Store {
    /// The last `minutes` minutes of a queue, read from its events: how many waited at the end
    /// of each minute (walking back from the queue's current count), joined, were called, and
    /// how long those called had waited.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn history(&self, who: &Identity, queue_id: Uuid, minutes: u32) -> Result<History> {
        self.check_site(who, queue_id).await?;
        let mut tx = self.begin(who.tenant_id).await?;
        ensure_queue(&mut tx, queue_id).await?;
        let from: DateTime<Utc> =
            sqlx::query_scalar("SELECT date_trunc('minute', now()) - make_interval(mins => $1 - 1)")
                .bind(minutes as i32)
                .fetch_one(&mut *tx)
                .await?;
        let truncated: bool = sqlx::query_scalar(
            "SELECT count(*) = $3 AND min(at) > $2 FROM \
               (SELECT at FROM queue_events WHERE queue_id = $1 ORDER BY seq DESC LIMIT $3) r",
        )
        .bind(queue_id)
        .bind(from)
        .bind(HISTORY_EVENTS)
        .fetch_one(&mut *tx)
        .await?;
        // A ticket enters the line when it reaches its type's initial state and leaves it when
        // it moves on from there; summing those steps backwards from now gives each minute's line.
        let points: Vec<HistoryPoint> = sqlx::query_as(
            "WITH q AS (SELECT q.waiting, tt.fsm->>'init' AS init FROM queues q \
                        JOIN ticket_types tt ON tt.id = q.ticket_type_id WHERE q.id = $1), \
             recent AS (SELECT * FROM queue_events WHERE queue_id = $1 ORDER BY seq DESC LIMIT $3), \
             e AS (SELECT date_trunc('minute', at) AS at, \
                     sum(((to_state = (SELECT init FROM q)) IS TRUE)::int \
                       - ((from_state = (SELECT init FROM q)) IS TRUE)::int) AS delta, \
                     count(*) FILTER (WHERE kind = 'ticket.joined') AS joined, \
                     count(*) FILTER (WHERE kind = 'ticket.called') AS called, \
                     (avg(EXTRACT(epoch FROM (data->'ticket'->>'called_at')::timestamptz \
                                          - (data->'ticket'->>'joined_at')::timestamptz)) \
                       FILTER (WHERE kind = 'ticket.called'))::float8 AS mean_wait_seconds \
                   FROM recent WHERE at >= $2 GROUP BY 1), \
             b AS (SELECT generate_series($2, date_trunc('minute', now()), interval '1 minute') AS at) \
             SELECT b.at, coalesce(e.joined, 0) AS joined, coalesce(e.called, 0) AS called, e.mean_wait_seconds, \
               ((SELECT waiting FROM q) - coalesce(sum(coalesce(e.delta, 0)) OVER \
                  (ORDER BY b.at DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))::int AS waiting \
             FROM b LEFT JOIN e USING (at) ORDER BY b.at",
        )
        .bind(queue_id)
        .bind(from)
        .bind(HISTORY_EVENTS)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(History { from, step_seconds: 60, truncated, points })
    }
}
