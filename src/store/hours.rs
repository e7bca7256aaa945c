//! Time-keeping use cases: a queue's timing for joins, and what the clock finds due and applies
//! (through the writer, conditionally: see `writer::clock`).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::cache::TIMING_TTL;
use super::writer::{QueueChange, QueuePatch, Timed, TimedKind};
use super::{Conflict, Result, Store, StoreError};
use crate::domain::Timing;

/// A queue whose hours open or close it now.
#[derive(Debug, Clone)]
pub struct DueHours {
    pub queue_id: Uuid,
    pub tenant_id: Uuid,
    /// Its `hours_due_at` as found: applied only if it still is.
    pub due_at: DateTime<Utc>,
}

/// A ticket whose call timed out (`kind` = `timeout`) or whose wait expired (`expire`).
#[derive(Debug, Clone)]
pub struct DueTicket {
    pub kind: String,
    pub tenant_id: Uuid,
    pub queue_id: Uuid,
    pub ticket_id: Uuid,
    pub ticket_type_id: Uuid,
    /// Its `called_at` (timeout) or `joined_at` (expiry), as found.
    pub since: DateTime<Utc>,
}

/// A row of `Store::due`: a queue's hours (no ticket) or a ticket.
#[derive(sqlx::FromRow)]
struct DueRow {
    kind: String,
    tenant_id: Uuid,
    queue_id: Uuid,
    ticket_id: Option<Uuid>,
    ticket_type_id: Option<Uuid>,
    since: DateTime<Utc>,
}

/// What applying a due change came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// This node's writer applied it.
    Here,
    /// Another node (or a person) got there first: nothing to do.
    Already,
}

impl Store {
    /// A queue's time-keeping settings, read at most every [`TIMING_TTL`] (joins ask every time).
    #[tracing::instrument(level = "debug", skip_all, fields(queue = %queue))]
    pub(super) async fn timing(&self, tenant: Uuid, queue: Uuid) -> Result<Arc<Timing>> {
        if let Some(hit) = self.caches.timings.get(&queue).map(|e| e.value().clone()) {
            if hit.0.elapsed() < TIMING_TTL {
                return Ok(hit.1);
            }
        }
        let timing = Arc::new(Timing::read(&self.queue_settings(tenant, queue).await?));
        self.caches.timings.insert(queue, (Instant::now(), timing.clone()));
        Ok(timing)
    }

    /// A queue's settings as stored; not found for a deleted queue or another tenant's.
    pub(super) async fn queue_settings(&self, tenant: Uuid, queue: Uuid) -> Result<serde_json::Value> {
        let mut tx = self.begin(tenant).await?;
        let settings: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT settings FROM queues WHERE id = $1 AND deleted_at IS NULL")
                .bind(queue)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        settings.ok_or(StoreError::NotFound)
    }

    /// Refuses a join the queue's hours do not take at the clock's time: outside them, or
    /// within `last_join_minutes` of closing.
    pub(super) async fn check_hours(&self, tenant: Uuid, queue: Uuid) -> Result<Arc<Timing>> {
        let timing = self.timing(tenant, queue).await?;
        if let Some(hours) = &timing.hours {
            let now = self.clock.now();
            if !hours.takes_joins(now) {
                return Err(Conflict::ClosedUntil(hours.opens_at(now)).into());
            }
        }
        Ok(timing)
    }

    /// What is due at `now`, across tenants, in one round trip (every node asks every tick):
    /// queues whose hours open or close them (at most `limit`), and tickets whose call timed out
    /// or whose wait expired (at most `limit` of each kind per queue).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn due(&self, now: DateTime<Utc>, limit: i32) -> Result<(Vec<DueHours>, Vec<DueTicket>)> {
        let rows: Vec<DueRow> = sqlx::query_as(
            "SELECT 'hours' AS kind, tenant_id, queue_id, NULL::uuid AS ticket_id, NULL::uuid AS ticket_type_id, \
                    due_at AS since FROM qc_due_hours($1, $2) \
             UNION ALL \
             SELECT kind, tenant_id, queue_id, ticket_id, ticket_type_id, since FROM qc_due_tickets($1, $2)",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let (mut hours, mut tickets) = (Vec::new(), Vec::new());
        for r in rows {
            match (r.ticket_id, r.ticket_type_id) {
                (Some(ticket_id), Some(ticket_type_id)) => tickets.push(DueTicket {
                    kind: r.kind,
                    tenant_id: r.tenant_id,
                    queue_id: r.queue_id,
                    ticket_id,
                    ticket_type_id,
                    since: r.since,
                }),
                _ => hours.push(DueHours { queue_id: r.queue_id, tenant_id: r.tenant_id, due_at: r.since }),
            }
        }
        Ok((hours, tickets))
    }

    /// Applies a queue's hours as of `now`, through the writer, if no one has yet.
    #[tracing::instrument(skip(self))]
    pub async fn apply_hours(&self, due: &DueHours, now: DateTime<Utc>) -> Result<Applied> {
        let change = QueueChange {
            queue_id: due.queue_id,
            patch: QueuePatch::default(),
            actor: super::writer::SYSTEM.to_owned(),
            now,
            reschedule: None,
            due: Some(due.due_at),
            audit: None,
        };
        let outcome = self.writer.update_queue(due.tenant_id, change).await;
        self.caches.timings.remove(&due.queue_id);
        already_or(outcome.map(|_| ()))
    }

    /// Times out a call or expires a waiting ticket, through the writer, if no one has yet.
    #[tracing::instrument(skip(self))]
    pub async fn apply_due_ticket(&self, due: &DueTicket) -> Result<Applied> {
        let kind = match due.kind.as_str() {
            "timeout" => TimedKind::CallTimeout,
            "expire" => TimedKind::Expiry,
            other => return Err(StoreError::Other(anyhow::anyhow!("unknown kind of due ticket `{other}`"))),
        };
        let change = super::writer::TicketChange::Timed(Timed {
            queue_id: due.queue_id,
            ticket_id: due.ticket_id,
            ticket_type_id: due.ticket_type_id,
            kind,
            since: due.since,
        });
        already_or(self.writer.submit(due.tenant_id, change).await.map(|_| ()))
    }
}

/// A conflict means the change was already made (by another node, or overtaken by a person).
fn already_or(outcome: Result<()>) -> Result<Applied> {
    match outcome {
        Ok(()) => Ok(Applied::Here),
        Err(StoreError::Conflict(_) | StoreError::NotFound) => Ok(Applied::Already),
        Err(err) => Err(err),
    }
}
