//! Appending what a batch produced: its events and idempotency records, and the counters of
//! the queues it moved, each in one set-based statement.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use super::{BatchState, QueueState};
use crate::domain::{Event, EventKind};
use crate::store::{Conflict, Result, StoreError};

/// Appends the events and idempotency records produced so far, in two statements.
pub(super) async fn write_unwritten(tx: &mut PgConnection, tenant: Uuid, state: &mut BatchState) -> Result<()> {
    let events = &state.events[state.written..];
    if !events.is_empty() {
        let mut cols = EventColumns::default();
        for e in events {
            cols.push(tenant, e);
        }
        // The events, and in the same statement a delivery for each endpoint that subscribed to
        // one: both commit together or not at all.
        sqlx::query(
            "WITH ev AS ( \
               INSERT INTO queue_events (queue_id, seq, tenant_id, kind, ticket_id, from_state, to_state, actor, data, at) \
               SELECT * FROM unnest($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], \
                                    $7::text[], $8::text[], $9::jsonb[], $10::timestamptz[]) \
               RETURNING queue_id, seq, kind) \
             INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, queue_id, seq, kind) \
             SELECT gen_random_uuid(), w.tenant_id, w.id, ev.queue_id, ev.seq, ev.kind \
             FROM ev JOIN webhooks w ON w.tenant_id = $11 AND (w.queue_id IS NULL OR w.queue_id = ev.queue_id) \
               AND ev.kind = ANY (w.events)",
        )
        .bind(cols.queue_id)
        .bind(cols.seq)
        .bind(cols.tenant_id)
        .bind(cols.kind)
        .bind(cols.ticket_id)
        .bind(cols.from)
        .bind(cols.to)
        .bind(cols.actor)
        .bind(cols.data)
        .bind(cols.at)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    }
    state.written = state.events.len();
    let keys = std::mem::take(&mut state.unwritten.keys);
    if !keys.is_empty() {
        let n = keys.len() as u64;
        let (mut k, mut r, mut t, mut s) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (key, request, ticket, sealed) in keys {
            k.push(key);
            r.push(request);
            t.push(ticket);
            s.push(sealed);
        }
        // An expired record with the same key is replaced; a live one (a concurrent request with
        // the same key on another node) makes the insert come up short, which fails the attempt.
        let done = sqlx::query(
            "INSERT INTO idempotency_keys AS k (tenant_id, key_hash, request_hash, ticket_id, token_sealed, expires_at) \
             SELECT $1, v.k, v.r, v.t, v.s, now() + interval '24 hours' \
             FROM unnest($2::bytea[], $3::bytea[], $4::uuid[], $5::bytea[]) AS v(k, r, t, s) \
             ON CONFLICT (tenant_id, key_hash) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
                ticket_id = EXCLUDED.ticket_id, token_sealed = EXCLUDED.token_sealed, \
                created_at = now(), expires_at = EXCLUDED.expires_at \
             WHERE k.expires_at <= now()",
        )
        .bind(tenant)
        .bind(k)
        .bind(r)
        .bind(t)
        .bind(s)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != n {
            return Err(StoreError::Conflict(Conflict::IdempotencyConflict));
        }
    }
    Ok(())
}

#[derive(Default)]
struct EventColumns {
    queue_id: Vec<Uuid>,
    seq: Vec<i64>,
    tenant_id: Vec<Uuid>,
    kind: Vec<EventKind>,
    ticket_id: Vec<Option<Uuid>>,
    from: Vec<Option<String>>,
    to: Vec<Option<String>>,
    actor: Vec<String>,
    data: Vec<serde_json::Value>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl EventColumns {
    fn push(&mut self, tenant_id: Uuid, e: &Event) {
        self.queue_id.push(e.queue_id);
        self.seq.push(e.seq);
        self.tenant_id.push(tenant_id);
        self.kind.push(e.kind.clone());
        self.ticket_id.push(e.ticket.as_ref().map(|t| t.id));
        self.from.push(e.from.clone());
        self.to.push(e.to.clone());
        self.actor.push(e.actor.clone());
        self.data.push(serde_json::json!({ "ticket": e.ticket, "queue": e.queue }));
        self.at.push(e.at);
    }
}

/// The positions of a queue's `notify_ahead` setting: whole numbers 1 to [`MAX_NOTIFY_AHEAD`].
pub(crate) fn ahead_positions(setting: &serde_json::Value) -> Option<Vec<i32>> {
    let list = setting.as_array()?;
    let positions: Vec<i32> = list.iter().filter_map(|v| v.as_i64()).filter_map(|n| i32::try_from(n).ok()).collect();
    let valid = positions.len() == list.len() && positions.iter().all(|n| (1..=MAX_NOTIFY_AHEAD).contains(n));
    valid.then_some(positions)
}

/// The largest position `notify_ahead` may name: the writer reads that many tickets per queue.
pub(crate) const MAX_NOTIFY_AHEAD: i32 = 50;

/// Queues a `ticket.ahead` notification for each ticket now at a position its queue's
/// `notify_ahead` names, in every queue this batch moved, for each endpoint subscribed to the kind.
/// One statement: per queue, one read of the head of its line (`LIMIT max(N)` on `tickets_line`).
/// A ticket is told once per endpoint and position (a unique index), however often the line
/// behind it moves.
pub(super) async fn notify_ahead(tx: &mut PgConnection, queues: &HashMap<Uuid, QueueState>) -> Result<()> {
    let (mut q_ids, mut q_pos, mut q_seq) = (Vec::new(), Vec::new(), Vec::new());
    for (id, q) in queues.iter().filter(|(_, q)| q.dirty) {
        let Some(positions) = q.notify_ahead.as_ref().and_then(ahead_positions) else { continue };
        for n in positions {
            q_ids.push(*id);
            q_pos.push(n);
            q_seq.push(q.last_seq);
        }
    }
    if q_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH want AS (SELECT * FROM unnest($1::uuid[], $2::int4[], $3::int8[]) AS w(queue_id, pos, seq)), \
         lim AS (SELECT queue_id, max(pos) AS k, max(seq) AS seq FROM want GROUP BY queue_id), \
         head AS ( \
           SELECT lim.queue_id, lim.seq, p.id, p.tenant_id, p.number, p.customer_phone, \
                  row_number() OVER (PARTITION BY lim.queue_id ORDER BY p.priority DESC, p.line_seq)::int4 AS pos \
           FROM lim CROSS JOIN LATERAL ( \
             SELECT id, tenant_id, number, customer_phone, priority, line_seq FROM tickets \
             WHERE queue_id = lim.queue_id AND in_line ORDER BY priority DESC, line_seq LIMIT lim.k) p), \
         hit AS (SELECT head.* FROM head JOIN want ON want.queue_id = head.queue_id AND want.pos = head.pos) \
         INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, queue_id, seq, kind, ticket_id, position, payload) \
         SELECT gen_random_uuid(), hit.tenant_id, w.id, hit.queue_id, hit.seq, 'ticket.ahead', hit.id, hit.pos, \
           jsonb_build_object('ticket_id', hit.id, 'number', hit.number, 'position', hit.pos, \
                              'queue_id', hit.queue_id, 'seq', hit.seq) \
           || CASE WHEN w.include_phone THEN jsonb_build_object('phone', hit.customer_phone) ELSE '{}' END \
         FROM hit JOIN webhooks w ON w.tenant_id = hit.tenant_id \
           AND (w.queue_id IS NULL OR w.queue_id = hit.queue_id) AND 'ticket.ahead' = ANY (w.events) \
         ON CONFLICT (webhook_id, ticket_id, position) WHERE kind = 'ticket.ahead' DO NOTHING",
    )
    .bind(q_ids)
    .bind(q_pos)
    .bind(q_seq)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Stores the counters of every queue the batch moved, in one statement.
pub(super) async fn store_counters(tx: &mut PgConnection, queues: &HashMap<Uuid, QueueState>) -> Result<()> {
    let moved: Vec<(&Uuid, &QueueState)> = queues.iter().filter(|(_, q)| q.dirty).collect();
    if moved.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE queues q SET last_seq = v.last_seq, next_number = v.next_number, waiting = v.waiting, updated_at = now() \
         FROM unnest($1::uuid[], $2::int8[], $3::int4[], $4::int4[]) AS v(id, last_seq, next_number, waiting) \
         WHERE q.id = v.id",
    )
    .bind(moved.iter().map(|(id, _)| **id).collect::<Vec<_>>())
    .bind(moved.iter().map(|(_, q)| q.last_seq).collect::<Vec<_>>())
    .bind(moved.iter().map(|(_, q)| q.next_number).collect::<Vec<_>>())
    .bind(moved.iter().map(|(_, q)| q.waiting).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
