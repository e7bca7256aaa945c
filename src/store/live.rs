//! What the live fan-out reads: snapshots, events after a seq, socket credentials, and the
//! current seqs of many queues at once.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::rows::{ticket_cols, TicketRow};
use super::rules::ticket_rules;
use super::tickets::{ensure_queue, EventRow};
use super::{Identity, Result, Store, StoreError};
use crate::domain::Queue;
use crate::domain::{Event, Roles};
use crate::secret;

/// A queue at one seq: the queue, its line and its active tickets.
#[derive(Debug)]
pub struct Snapshot {
    pub seq: i64,
    pub queue: Queue,
    /// Tickets not finished (in line, called, serving…), with the `line_seq` that orders the line.
    pub tickets: Vec<(TicketRow, i64)>,
    /// Recent calls and their counters, for the estimate.
    pub calls: Vec<(DateTime<Utc>, Option<String>)>,
    /// The configured service time, if any.
    pub service_seconds: Option<f64>,
    /// The special states of the queue's ticket type.
    pub roles: Roles,
}

#[derive(sqlx::FromRow)]
struct SnapRow {
    #[sqlx(flatten)]
    row: TicketRow,
    line_seq: i64,
}

/// What a socket credential opens.
#[derive(Debug, Clone, Copy)]
pub struct Opened {
    pub tenant_id: Uuid,
    pub queue_id: Uuid,
}

impl Store {
    /// A consistent picture of a queue: every read sees the same committed state.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, queue = %queue))]
    pub async fn snapshot(&self, tenant: Uuid, queue: Uuid) -> Result<Snapshot> {
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        super::set_tenant(&mut tx, tenant).await?;
        let queue: Queue = super::rules::fetch_queue(&mut tx, queue).await?.ok_or(StoreError::NotFound)?;
        let meta = self.queue_meta(queue.id).await?.ok_or(StoreError::NotFound)?;
        let roles = ticket_rules(&mut tx, &self.caches, meta.ticket_type_id).await?.fsm.roles().clone();
        let rows: Vec<SnapRow> = sqlx::query_as(concat!(
            "SELECT t.line_seq, ",
            ticket_cols!(),
            " FROM tickets t WHERE t.queue_id = $1 AND t.finished_at IS NULL ORDER BY t.priority DESC, t.line_seq"
        ))
        .bind(queue.id)
        .fetch_all(&mut *tx)
        .await?;
        let calls: Vec<(DateTime<Utc>, Option<String>)> = sqlx::query_as(
            "SELECT called_at, counter FROM tickets WHERE queue_id = $1 AND called_at IS NOT NULL ORDER BY called_at DESC LIMIT 21",
        )
        .bind(queue.id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let service_seconds = queue.settings.get("service_seconds").and_then(Value::as_f64);
        Ok(Snapshot {
            seq: queue.last_seq,
            tickets: rows.into_iter().map(|r| (r.row, r.line_seq)).collect(),
            calls,
            service_seconds,
            roles,
            queue,
        })
    }

    /// Events of a queue after `after`, at most `limit`, in seq order.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, queue = %queue))]
    pub async fn events_in(&self, tenant: Uuid, queue: Uuid, after: i64, limit: i64) -> Result<Vec<Event>> {
        let mut tx = self.begin(tenant).await?;
        ensure_queue(&mut tx, queue).await?;
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT seq, queue_id, kind, actor, at, from_state, to_state, data FROM queue_events \
             WHERE queue_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(queue)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    /// The current seq of each of these queues (any tenant), for the safety-net poll.
    #[tracing::instrument(skip_all)]
    pub async fn last_seqs(&self, queues: &[Uuid]) -> Result<Vec<(Uuid, i64)>> {
        Ok(sqlx::query_as("SELECT id, last_seq FROM qc_last_seqs($1)").bind(queues).fetch_all(&self.pool).await?)
    }

    /// Uses up a socket pass: the staff user it was issued to, if it is valid, unused and fresh.
    #[tracing::instrument(skip_all)]
    pub async fn consume_socket_pass(&self, pass: &str) -> Result<Option<Identity>> {
        let hash = secret::hash_token(pass);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.tenant_id', coalesce(qc_tenant_of_socket_pass($1)::text, ''), true)")
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let row: Option<(Uuid, Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE socket_passes p SET used_at = now() FROM users u \
             WHERE p.pass_hash = $1 AND p.used_at IS NULL AND p.expires_at > now() \
               AND u.id = p.user_id AND u.disabled_at IS NULL \
             RETURNING u.id, u.tenant_id, u.email, u.role, coalesce(p.token_expires_at, p.expires_at)",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        // The identity lasts as long as the sign-in the pass was made with.
        Ok(row.and_then(|(user_id, tenant_id, email, role, expires_at)| {
            Some(Identity { user_id, tenant_id, email, role: super::Role::parse(&role)?, expires_at })
        }))
    }

    /// The queue a display key opens, if it is live.
    #[tracing::instrument(skip_all)]
    pub async fn open_display(&self, key: &str) -> Result<Option<Opened>> {
        let hash = secret::hash_token(key);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.tenant_id', coalesce(qc_tenant_of_display_key($1)::text, ''), true)")
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let row: Option<(Uuid, Uuid)> =
            sqlx::query_as("SELECT tenant_id, queue_id FROM display_keys WHERE key_hash = $1 AND revoked_at IS NULL")
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.map(|(tenant_id, queue_id)| Opened { tenant_id, queue_id }))
    }

    /// The tenant and queue of a ticket, if `token` opens it.
    #[tracing::instrument(skip_all, fields(ticket = %ticket))]
    pub async fn open_ticket(&self, ticket: Uuid, token: &str) -> Result<Option<Opened>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.tenant_id', coalesce(qc_tenant_of_ticket($1)::text, ''), true)")
            .bind(ticket)
            .execute(&mut *tx)
            .await?;
        let row: Option<(Uuid, Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT tenant_id, queue_id, token_hash FROM tickets WHERE id = $1")
                .bind(ticket)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row
            .filter(|(_, _, hash)| *hash == secret::hash_token(token))
            .map(|(tenant_id, queue_id, _)| Opened { tenant_id, queue_id }))
    }

    /// Announces that this node is alive on the NOTIFY channel, so listeners can tell a quiet
    /// channel from a dead connection.
    #[tracing::instrument(skip_all, fields(node = %node))]
    pub async fn heartbeat(&self, node: Uuid) -> Result<()> {
        let payload =
            serde_json::to_string(&crate::domain::Notification::Heartbeat(node)).map_err(anyhow::Error::from)?;
        sqlx::query("SELECT pg_notify('queuecast', $1)").bind(payload).execute(&self.pool).await?;
        Ok(())
    }
}

/// A page of a queue's line: the seq it reflects, how many are in line, and the tickets.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LinePage {
    pub seq: i64,
    pub waiting_total: usize,
    /// In call order, each with its `position`.
    pub tickets: Vec<crate::domain::Ticket>,
}

impl Store {
    /// Up to `limit` tickets of a queue's line from position `after + 1`, read in one snapshot.
    /// For a node without a live line of the queue: the database walks the line's index up to
    /// `after`, so deep pages cost more here than from a hub.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, queue = %queue))]
    pub async fn line_page(&self, who: &Identity, queue: Uuid, after: i64, limit: i64) -> Result<LinePage> {
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        super::set_tenant(&mut tx, who.tenant_id).await?;
        let (seq, waiting): (i64, i32) =
            sqlx::query_as("SELECT last_seq, waiting FROM queues WHERE id = $1 AND deleted_at IS NULL")
                .bind(queue)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        let rows: Vec<TicketRow> = sqlx::query_as(concat!(
            "SELECT ",
            ticket_cols!(),
            " FROM tickets t WHERE t.queue_id = $1 AND t.in_line \
              ORDER BY t.priority DESC, t.line_seq OFFSET $2 LIMIT $3"
        ))
        .bind(queue)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let pace = self.pace_in(&mut tx, queue).await?;
        tx.commit().await?;
        let tickets = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let place = (after + 1) as u32 + i as u32;
                let mut ticket = row.view(seq, Some(place));
                let e = pace.estimate(place);
                (ticket.eta_seconds, ticket.eta_p90_seconds) = (Some(e.p50), Some(e.p90));
                ticket
            })
            .collect();
        Ok(LinePage { seq, waiting_total: waiting.max(0) as usize, tickets })
    }
}
