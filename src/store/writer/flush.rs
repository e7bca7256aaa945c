//! Appending what a batch produced: its events with the counters of the queues it moved and
//! its NOTIFY payloads in one set-based statement, its idempotency records in another.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use super::{BatchState, QueueState};
use crate::domain::notify::{message_vars, MessageKind, MAX_AHEAD};
use crate::domain::{Event, EventKind};
use crate::store::{Conflict, Result, StoreError};

/// Appends the events and idempotency records produced so far, in two statements, and notes
/// whether the events brought messages or webhook deliveries (their senders are woken for them):
/// after each change made inside its own savepoint (`alone`).
pub(super) async fn write_unwritten(tx: &mut PgConnection, tenant: Uuid, state: &mut BatchState) -> Result<()> {
    write(tx, tenant, state, None).await
}

/// Closes a tenant's part of a batch: what [`write_unwritten`] writes, and in the events'
/// statement the counters of the queues it moved and the batch's `pg_notify` payloads (`notify`:
/// the whole batch's, with its last tenant; none before). One round trip, not three.
pub(super) async fn close(
    tx: &mut PgConnection,
    tenant: Uuid,
    state: &mut BatchState,
    notify: &[String],
) -> Result<()> {
    write(tx, tenant, state, Some(notify)).await
}

async fn write(tx: &mut PgConnection, tenant: Uuid, state: &mut BatchState, closing: Option<&[String]>) -> Result<()> {
    let events = &state.events[state.written..];
    let moved: Vec<(&Uuid, &QueueState)> = match closing {
        Some(_) => state.queues.iter().filter(|(_, q)| q.dirty).collect(),
        None => Vec::new(),
    };
    let notify = closing.unwrap_or_default();
    if !events.is_empty() || !moved.is_empty() || !notify.is_empty() {
        let mut cols = EventColumns::default();
        let mut told = ToldColumns::default();
        for e in events {
            cols.push(tenant, e);
            told.push(e, state.queues.get(&e.queue_id));
        }
        // The events, and in the same statement a delivery for each endpoint that subscribed to
        // one and a message for each channel a customer gave for the moments that are told
        // (`settings.notify`): all commit together or not at all. Which events are told, and
        // their messages' words, come from the batch; a told ticket without contacts costs one
        // probe of `notify_contacts`' primary key. Closing, also the queues' counters and the
        // NOTIFY payloads, in order (the feed reads a queue's ranges as they come); `nt` is
        // counted so that it runs (a query in WITH runs only if it is read).
        let (messages, deliveries, notified): (bool, bool, i64) = sqlx::query_as(
            "WITH ev AS ( \
               INSERT INTO queue_events (queue_id, seq, tenant_id, kind, ticket_id, from_state, to_state, actor, data, at) \
               SELECT * FROM unnest($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], \
                                    $7::text[], $8::text[], $9::jsonb[], $10::timestamptz[]) \
               RETURNING queue_id, seq, kind), \
             msg AS ( \
               INSERT INTO notifications (id, tenant_id, queue_id, ticket_id, channel, kind, seq, state, recipient, lang, vars) \
               SELECT gen_random_uuid(), c.tenant_id, t.queue_id, t.ticket_id, ch.channel, t.kind, t.seq, t.state, \
                 ch.recipient, c.lang, t.vars \
               FROM unnest($12::uuid[], $13::uuid[], $14::int8[], $15::text[], $16::text[], $17::jsonb[]) \
                 AS t(ticket_id, queue_id, seq, kind, state, vars) \
               JOIN notify_contacts c ON c.ticket_id = t.ticket_id \
               CROSS JOIN LATERAL (VALUES ('sms', c.sms), ('email', c.email), ('push', c.push::text)) AS ch(channel, recipient) \
               WHERE ch.recipient IS NOT NULL \
               RETURNING 1), \
             wh AS ( \
               INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, queue_id, seq, kind) \
               SELECT gen_random_uuid(), w.tenant_id, w.id, ev.queue_id, ev.seq, ev.kind \
               FROM ev JOIN webhooks w ON w.tenant_id = $11 AND (w.queue_id IS NULL OR w.queue_id = ev.queue_id) \
                 AND ev.kind = ANY (w.events) \
               RETURNING 1), \
             counters AS ( \
               UPDATE queues q SET last_seq = v.last_seq, next_number = v.next_number, waiting = v.waiting, updated_at = now() \
               FROM unnest($18::uuid[], $19::int8[], $20::int4[], $21::int4[]) AS v(id, last_seq, next_number, waiting) \
               WHERE q.id = v.id), \
             nt AS (SELECT pg_notify('queuecast', p) FROM unnest($22::text[]) WITH ORDINALITY AS u(p, i) ORDER BY i) \
             SELECT EXISTS (SELECT FROM msg), EXISTS (SELECT FROM wh), (SELECT count(*) FROM nt)",
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
        .bind(told.ticket_id)
        .bind(told.queue_id)
        .bind(told.seq)
        .bind(told.kind)
        .bind(told.state)
        .bind(told.vars)
        .bind(moved.iter().map(|(id, _)| **id).collect::<Vec<_>>())
        .bind(moved.iter().map(|(_, q)| q.last_seq).collect::<Vec<_>>())
        .bind(moved.iter().map(|(_, q)| q.next_number).collect::<Vec<_>>())
        .bind(moved.iter().map(|(_, q)| q.waiting).collect::<Vec<_>>())
        .bind(notify)
        .fetch_one(&mut *tx)
        .await?;
        debug_assert_eq!(notified, notify.len() as i64);
        state.wrote.messages |= messages;
        state.wrote.deliveries |= deliveries;
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

/// The events of a batch that bring a message on each of their ticket's channels: one row per
/// event told, with its message's kind, the state it tells and its words' values.
#[derive(Default)]
struct ToldColumns {
    ticket_id: Vec<Uuid>,
    queue_id: Vec<Uuid>,
    seq: Vec<i64>,
    kind: Vec<&'static str>,
    state: Vec<String>,
    vars: Vec<serde_json::Value>,
}

impl ToldColumns {
    /// Adds `e` if it is told: a moment its queue has not switched off (`queue` is its locked
    /// row; every event of a batch has one).
    fn push(&mut self, e: &Event, queue: Option<&QueueState>) {
        let (Some(ticket), Some(queue)) = (&e.ticket, queue) else { return };
        let Some(kind) = MessageKind::told_by(e) else { return };
        if queue.notify_off.iter().any(|off| off == kind.as_str()) {
            return;
        }
        self.ticket_id.push(ticket.id);
        self.queue_id.push(e.queue_id);
        self.seq.push(e.seq);
        self.kind.push(kind.as_str());
        self.state.push(e.to.clone().unwrap_or_else(|| ticket.status.clone()));
        self.vars.push(message_vars(ticket));
    }
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
        self.ticket_id.push(e.ticket.as_ref().map(|t| t.id).or(e.presence.map(|p| p.ticket_id)));
        self.from.push(e.from.clone());
        self.to.push(e.to.clone());
        self.actor.push(e.actor.clone());
        let mut data = serde_json::json!({ "ticket": e.ticket, "queue": e.queue });
        if let Some(appointment) = &e.appointment {
            data["appointment"] = appointment.clone();
        }
        if let Some(line) = e.line {
            data["line"] = line.into();
        }
        if let Some(presence) = &e.presence {
            data["presence"] = serde_json::json!(presence);
        }
        self.data.push(data);
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
/// Whether it wrote any.
pub(super) async fn notify_ahead(tx: &mut PgConnection, queues: &HashMap<Uuid, QueueState>) -> Result<bool> {
    let (mut q_ids, mut q_pos, mut q_seq) = (Vec::new(), Vec::new(), Vec::new());
    for (id, q) in queues.iter().filter(|(_, q)| q.head_moved) {
        let Some(positions) = q.notify_ahead.as_ref().and_then(ahead_positions) else { continue };
        for n in positions {
            q_ids.push(*id);
            q_pos.push(n);
            q_seq.push(q.last_seq);
        }
    }
    if q_ids.is_empty() {
        return Ok(false);
    }
    let done = sqlx::query(
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
    Ok(done.rows_affected() > 0)
}

/// The places a queue's `settings.notify.ahead` tells: "N ahead" is the ticket at place N + 1.
pub(super) fn message_places(setting: &serde_json::Value) -> Vec<i32> {
    let list = setting.as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .filter_map(|n| n.as_i64())
        .filter(|n| (0..=i64::from(MAX_AHEAD)).contains(n))
        .map(|n| n as i32 + 1)
        .collect()
}

/// Writes an `ahead` message for each channel of each ticket now with N people ahead of it, for
/// the N of its queue's `settings.notify.ahead`, in every queue this batch moved. One statement:
/// per queue, one read of the head of its line (`LIMIT max(N) + 1` on `tickets_line`), then a
/// probe of the contacts of the few tickets at those places. A ticket is told once per channel
/// and N (a unique index), however often the line behind it moves.
/// Whether it wrote any.
pub(super) async fn messages_ahead(tx: &mut PgConnection, queues: &HashMap<Uuid, QueueState>) -> Result<bool> {
    let (mut q_ids, mut q_pos, mut q_seq) = (Vec::new(), Vec::new(), Vec::new());
    for (id, q) in queues.iter().filter(|(_, q)| q.head_moved) {
        let Some(ahead) = q.messages_ahead.as_ref() else { continue };
        for place in message_places(ahead) {
            q_ids.push(*id);
            q_pos.push(place);
            q_seq.push(q.last_seq);
        }
    }
    if q_ids.is_empty() {
        return Ok(false);
    }
    let done = sqlx::query(
        "WITH want AS (SELECT * FROM unnest($1::uuid[], $2::int4[], $3::int8[]) AS w(queue_id, pos, seq)), \
         lim AS (SELECT queue_id, max(pos) AS k, max(seq) AS seq FROM want GROUP BY queue_id), \
         head AS ( \
           SELECT lim.queue_id, lim.seq, p.id, p.number, p.status, \
                  row_number() OVER (PARTITION BY lim.queue_id ORDER BY p.priority DESC, p.line_seq)::int4 AS pos \
           FROM lim CROSS JOIN LATERAL ( \
             SELECT id, number, status, priority, line_seq FROM tickets \
             WHERE queue_id = lim.queue_id AND in_line ORDER BY priority DESC, line_seq LIMIT lim.k) p), \
         hit AS (SELECT head.* FROM head JOIN want ON want.queue_id = head.queue_id AND want.pos = head.pos) \
         INSERT INTO notifications (id, tenant_id, queue_id, ticket_id, channel, kind, position, seq, state, \
                                    recipient, lang, vars) \
         SELECT gen_random_uuid(), c.tenant_id, hit.queue_id, hit.id, ch.channel, 'ahead', hit.pos, hit.seq, \
           hit.status, ch.recipient, c.lang, jsonb_build_object('number', hit.number, 'ahead', hit.pos - 1) \
         FROM hit JOIN notify_contacts c ON c.ticket_id = hit.id \
         CROSS JOIN LATERAL (VALUES ('sms', c.sms), ('email', c.email), ('push', c.push::text)) AS ch(channel, recipient) \
         WHERE ch.recipient IS NOT NULL \
         ON CONFLICT (ticket_id, channel, position) WHERE kind = 'ahead' DO NOTHING",
    )
    .bind(q_ids)
    .bind(q_pos)
    .bind(q_seq)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() > 0)
}
