//! What the live fan-out reads: a queue's live view, events after a seq, the details of
//! tickets a window of the line shows, socket credentials, and the current seqs of many queues
//! at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::{FromRow, Row};
use uuid::Uuid;

use super::rows::{ticket_cols, TicketRow};
use super::rules::ticket_rules;
use super::tickets::{ensure_queue, EventRow};
use super::{Identity, Result, Store, StoreError};
use crate::domain::{Details, Event, Queue, QueueView, Waiting};
use crate::secret;

/// What a customer's token opens: the ticket's queue, and who the ticket is for (the live line
/// does not keep names).
#[derive(Debug, Clone)]
pub struct OpenedTicket {
    pub tenant_id: Uuid,
    pub queue_id: Uuid,
    pub details: Details,
}

/// A waiting ticket never called (no counter, no call, no service) is listed without its details:
/// the live line does not keep them. The same test as `QueueView`'s.
macro_rules! untouched {
    () => {
        "(t.in_line AND t.counter IS NULL AND t.called_at IS NULL AND t.served_at IS NULL AND t.snoozes = 0)"
    };
}

impl Store {
    /// A queue's live view, read in one consistent snapshot. Its tickets are streamed into the
    /// view as they arrive: a line of 500,000 is never a list of rows in memory, and the waiting
    /// come without names or fields.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, queue = %queue))]
    pub async fn live_view(&self, tenant: Uuid, queue: Uuid) -> Result<QueueView> {
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        super::set_tenant(&mut tx, tenant).await?;
        let queue: Queue = super::rules::fetch_queue(&mut tx, queue).await?.ok_or(StoreError::NotFound)?;
        let meta = self.queue_meta(queue.id).await?.ok_or(StoreError::NotFound)?;
        let roles = ticket_rules(&mut tx, &self.caches, meta.ticket_type_id).await?.fsm.roles().clone();
        let calls: Vec<(DateTime<Utc>, Option<String>)> = sqlx::query_as(
            "SELECT called_at, counter FROM tickets WHERE queue_id = $1 AND called_at IS NOT NULL ORDER BY called_at DESC LIMIT 21",
        )
        .bind(queue.id)
        .fetch_all(&mut *tx)
        .await?;
        let prior =
            queue.settings.get("service_seconds").and_then(Value::as_f64).unwrap_or(super::DEFAULT_SERVICE_SECS);
        let json = serde_json::to_value(&queue).map_err(anyhow::Error::from)?;
        let mut view = QueueView::new(queue.last_seq, queue.id, json, calls, prior, roles);
        // The details of the untouched read as NULL, and are not decoded.
        let mut rows = sqlx::query(concat!(
            "SELECT ",
            untouched!(),
            " AS untouched, t.line_seq, t.id, t.queue_id, t.ticket_type_id, t.number, t.status, t.in_line, \
             t.priority, t.counter, t.joined_at, t.called_at, t.served_at, t.finished_at, t.party_size, \
             t.present, t.present_at, t.snoozes, t.notes, \
             CASE WHEN ",
            untouched!(),
            " THEN NULL ELSE t.customer_name END AS customer_name, CASE WHEN ",
            untouched!(),
            " THEN NULL ELSE t.fields END AS fields \
             FROM tickets t WHERE t.queue_id = $1 AND t.finished_at IS NULL"
        ))
        .bind(queue.id)
        .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let line_seq: i64 = row.try_get("line_seq")?;
            if row.try_get("untouched")? {
                view.hold_waiting(Waiting {
                    id: row.try_get("id")?,
                    number: row.try_get("number")?,
                    status: row.try_get("status")?,
                    priority: row.try_get("priority")?,
                    joined_at: row.try_get("joined_at")?,
                    line_seq,
                    present: row.try_get("present")?,
                    present_at: row.try_get("present_at")?,
                });
            } else {
                let ticket = TicketRow::from_row(&row)?;
                view.hold(&ticket.view(queue.last_seq, Some(1)), line_seq);
            }
        }
        drop(rows);
        tx.commit().await?;
        Ok(view)
    }

    /// Who each of these tickets of a tenant is for, for a window of the line the live line
    /// shows bare.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, tickets = ids.len()))]
    pub async fn details(&self, tenant: Uuid, ids: &[Uuid]) -> Result<HashMap<Uuid, Details>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut tx = self.begin(tenant).await?;
        let rows: Vec<(Uuid, Option<String>, Option<i32>, Value)> =
            sqlx::query_as("SELECT id, customer_name, party_size, fields FROM tickets WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(id, name, party_size, fields)| (id, Details { name, party_size, fields })).collect())
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
        type Row = (Uuid, Uuid, String, String, DateTime<Utc>, Option<Vec<Uuid>>, Option<Vec<u8>>);
        let row: Option<Row> = sqlx::query_as(
            "UPDATE socket_passes p SET used_at = now() FROM users u \
             WHERE p.pass_hash = $1 AND p.used_at IS NULL AND p.expires_at > now() \
               AND u.id = p.user_id AND u.disabled_at IS NULL \
               AND (p.token_hash IS NULL OR EXISTS (SELECT 1 FROM staff_tokens st WHERE st.token_hash = p.token_hash)) \
             RETURNING u.id, u.tenant_id, u.email, u.role, coalesce(p.token_expires_at, p.expires_at), \
                       (SELECT array_agg(ul.location_id) FROM user_locations ul WHERE ul.user_id = u.id), \
                       p.token_hash",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        // The identity lasts as long as the sign-in the pass was made with.
        Ok(row.and_then(|(user_id, tenant_id, email, role, expires_at, locations, session)| {
            let role = super::Role::parse(&role)?;
            Some(Identity { user_id, tenant_id, email, role, expires_at, locations, session })
        }))
    }

    /// Whether a staff socket may stay open: its user is still enabled, the sign-in behind it
    /// still stands, and the user may still see the queue's site.
    #[tracing::instrument(skip_all, fields(user = %who.user_id, queue = %queue))]
    pub async fn staff_may_stay(&self, who: &Identity, queue: Uuid) -> Result<bool> {
        let mut tx = self.begin(who.tenant_id).await?;
        let ok: Option<bool> = sqlx::query_scalar(
            "SELECT (u.disabled_at IS NULL) \
                AND ($2::bytea IS NULL OR EXISTS (SELECT 1 FROM staff_tokens st \
                                                 WHERE st.token_hash = $2 AND st.expires_at > now())) \
                AND (NOT EXISTS (SELECT 1 FROM user_locations ul WHERE ul.user_id = u.id) \
                     OR EXISTS (SELECT 1 FROM queues q JOIN user_locations ul ON ul.location_id = q.location_id \
                                WHERE q.id = $3 AND ul.user_id = u.id)) \
             FROM users u WHERE u.id = $1",
        )
        .bind(who.user_id)
        .bind(&who.session)
        .bind(queue)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ok == Some(true))
    }

    /// The tenant and queue of a ticket, and who it is for, if `token` opens it: checked with
    /// the others waiting (see `opener.rs`).
    pub async fn open_ticket(&self, ticket: Uuid, token: &str) -> Result<Option<OpenedTicket>> {
        self.opener.open(ticket, token).await
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
    /// Up to `limit` tickets of a queue's line from position `after + 1`, read in one snapshot,
    /// for a node without a live line of the queue. The line's bucket counts (`line_counts`)
    /// find the bucket holding position `after + 1`; the line's index is read from there: at
    /// most a bucket (1,024 entries) more than the page, at any depth.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, queue = %queue))]
    pub async fn line_page(&self, who: &Identity, queue: Uuid, after: i64, limit: i64) -> Result<LinePage> {
        self.check_site(who, queue).await?;
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        super::set_tenant(&mut tx, who.tenant_id).await?;
        let (seq, waiting): (i64, i32) =
            sqlx::query_as("SELECT last_seq, waiting FROM queues WHERE id = $1 AND deleted_at IS NULL")
                .bind(queue)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        // From the first bucket whose count reaches past `after`: the rest of its priority,
        // then the lower priorities, each an ordered range of the line's index.
        let rows: Vec<TicketRow> = sqlx::query_as(concat!(
            "WITH b AS (SELECT priority, bucket, waiting, \
                   sum(waiting) OVER (ORDER BY priority DESC, bucket) - waiting AS ahead \
                 FROM line_counts WHERE queue_id = $1 AND waiting > 0), \
             s AS (SELECT priority, bucket << 26 AS from_seq, $2 - ahead AS skip FROM b \
                 WHERE ahead + waiting > $2 ORDER BY priority DESC, bucket LIMIT 1) \
             SELECT p.* FROM s, LATERAL (\
               (SELECT ",
            ticket_cols!(),
            ", t.line_seq FROM tickets t WHERE t.queue_id = $1 AND t.in_line AND t.priority = s.priority \
                  AND t.line_seq >= s.from_seq ORDER BY t.line_seq LIMIT s.skip + $3) \
               UNION ALL \
               (SELECT ",
            ticket_cols!(),
            ", t.line_seq FROM tickets t WHERE t.queue_id = $1 AND t.in_line AND t.priority < s.priority \
                  ORDER BY t.priority DESC, t.line_seq LIMIT s.skip + $3)) p \
             ORDER BY p.priority DESC, p.line_seq OFFSET (SELECT skip FROM s) LIMIT $3"
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
