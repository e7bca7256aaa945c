//! Joins and call-nexts, many in one statement.
//!
//! Every change of a batch was pending at once, so any order among them is a valid serial
//! history: the writer applies all joins of a tenant first (one INSERT), then all call-nexts
//! (one UPDATE that takes the first k tickets of each queue's line), numbering events in that
//! order. Called with one change, these are also the one-by-one path of the savepoint fallback.

use std::collections::HashMap;

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use super::apply::{event, queue, record};
use super::{BatchState, CheckInPlan, JoinRequest, Place, Placed, TicketChange};
use crate::domain::line::{at_end, GAP_BITS};
use crate::domain::queue::admit;
use crate::domain::ticket::display_number;
use crate::domain::{EventKind, JoinRefusal, Special};
use crate::store::appointments::{appointment_cols, AppointmentRow};
use crate::store::cache::Caches;
use crate::store::rows::{ticket_cols, TicketRow};
use crate::store::rules::ticket_rules;
use crate::store::{Conflict, Result, StoreError};

/// Per-change outcomes by index in the batch; the outer error fails the whole attempt.
pub(super) type Outcomes = Vec<(usize, Result<Placed>)>;

/// The rows a batch inserts, column by column.
#[derive(Default)]
struct NewTickets {
    id: Vec<Uuid>,
    queue_id: Vec<Uuid>,
    ticket_type_id: Vec<Uuid>,
    number: Vec<String>,
    status: Vec<String>,
    line_seq: Vec<i64>,
    name: Vec<Option<String>>,
    phone: Vec<Option<String>>,
    party_size: Vec<Option<i32>>,
    fields: Vec<serde_json::Value>,
    token_hash: Vec<Vec<u8>>,
    joined_at: Vec<chrono::DateTime<Utc>>,
    estimate: Vec<i32>,
    /// The contacts of the joins that gave some (few, usually none).
    contacts: Contacts,
}

/// Contacts to insert, column by column.
#[derive(Default)]
struct Contacts {
    ticket_id: Vec<Uuid>,
    queue_id: Vec<Uuid>,
    sms: Vec<Option<String>>,
    email: Vec<Option<String>>,
    push: Vec<Option<serde_json::Value>>,
    lang: Vec<String>,
}

impl NewTickets {
    fn push(&mut self, row: &TicketRow, request: &JoinRequest, token_hash: &[u8], line_seq: i64, estimate: i64) {
        self.id.push(row.id);
        self.queue_id.push(row.queue_id);
        self.ticket_type_id.push(row.ticket_type_id);
        self.number.push(row.number.clone());
        self.status.push(row.status.clone());
        self.line_seq.push(line_seq);
        self.name.push(request.name.clone());
        self.phone.push(request.phone.clone());
        self.party_size.push(request.party_size);
        self.fields.push(request.fields.clone());
        self.token_hash.push(token_hash.to_vec());
        self.joined_at.push(row.joined_at);
        self.estimate.push(estimate as i32);
        if let Some(c) = &request.notify {
            self.contacts.ticket_id.push(row.id);
            self.contacts.queue_id.push(row.queue_id);
            self.contacts.sms.push(c.sms.clone());
            self.contacts.email.push(c.email.clone());
            self.contacts.push.push(c.push.clone());
            self.contacts.lang.push(c.lang().as_str().to_owned());
        }
    }

    /// Inserts every ticket in one statement.
    async fn insert(self, tx: &mut PgConnection, tenant: Uuid) -> Result<()> {
        if self.id.is_empty() {
            return Ok(());
        }
        // The tickets and the contacts some gave, in one statement (one round trip in the
        // writer's transaction); before the events are written, whose messages are found
        // through the contacts.
        let c = self.contacts;
        sqlx::query(
            "WITH contacts AS ( \
               INSERT INTO notify_contacts (ticket_id, tenant_id, queue_id, sms, email, push, lang) \
               SELECT c.t, $1, c.q, c.s, c.e, c.p, c.l \
               FROM unnest($15::uuid[], $16::uuid[], $17::text[], $18::text[], $19::jsonb[], $20::text[]) \
                 AS c(t, q, s, e, p, l)) \
             INSERT INTO tickets (id, tenant_id, queue_id, ticket_type_id, number, status, in_line, line_seq, \
               customer_name, customer_phone, party_size, fields, token_hash, joined_at, estimated_wait_seconds) \
             SELECT v.id, $1, v.queue_id, v.ticket_type_id, v.number, v.status, true, v.line_seq, v.name, v.phone, \
               v.party_size, v.fields, v.token_hash, v.joined_at, v.estimate \
             FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::int8[], $8::text[], \
                         $9::text[], $10::int4[], $11::jsonb[], $12::bytea[], $13::timestamptz[], $14::int4[]) \
               AS v(id, queue_id, ticket_type_id, number, status, line_seq, name, phone, party_size, fields, \
                    token_hash, joined_at, estimate)",
        )
        .bind(tenant)
        .bind(self.id)
        .bind(self.queue_id)
        .bind(self.ticket_type_id)
        .bind(self.number)
        .bind(self.status)
        .bind(self.line_seq)
        .bind(self.name)
        .bind(self.phone)
        .bind(self.party_size)
        .bind(self.fields)
        .bind(self.token_hash)
        .bind(self.joined_at)
        .bind(self.estimate)
        .bind(c.ticket_id)
        .bind(c.queue_id)
        .bind(c.sms)
        .bind(c.email)
        .bind(c.push)
        .bind(c.lang)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

pub(super) async fn joins(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    tenant: Uuid,
    changes: &[(usize, &TicketChange)],
) -> Result<Outcomes> {
    let mut out = Vec::with_capacity(changes.len());
    let mut rows = NewTickets::default();
    // Rows inserted by this batch, for replays of a key used twice in it.
    let mut fresh: HashMap<Uuid, (TicketRow, i64, u32)> = HashMap::new();
    // Replays of keys committed by earlier batches: (index, ticket, sealed token, seq).
    let mut committed: Vec<(usize, Uuid, Vec<u8>, i64)> = Vec::new();
    // Places inside the line taken by check-ins of this batch, not yet inserted.
    let mut inside: Vec<(Uuid, i64)> = Vec::new();
    for &(i, change) in changes {
        let TicketChange::Join { queue_id, ticket_id, request, token_hash, idempotency, pace, actor, check_in } =
            change
        else {
            continue;
        };
        let last_seq = match queue(state, *queue_id) {
            Ok(q) => q.last_seq,
            Err(e) => {
                out.push((i, Err(e)));
                continue;
            }
        };
        if let Some(idem) = idempotency {
            if let Some((request_hash, original, sealed)) = state.keys.get(&idem.key_hash) {
                let outcome = if *request_hash != idem.request_hash {
                    Err(Conflict::IdempotencyConflict.into())
                } else if let Some((row, seq, place)) = fresh.get(original) {
                    Ok(Placed { row: row.clone(), seq: *seq, place: Place::At(*place), replayed: Some(sealed.clone()) })
                } else {
                    // Committed by an earlier batch after the requester looked: read below, in one
                    // statement with the batch's other such replays.
                    committed.push((i, *original, sealed.clone(), last_seq));
                    continue;
                };
                out.push((i, outcome));
                continue;
            }
        }
        let q = queue(state, *queue_id)?;
        if let Err(refusal) = admit(q.status, q.capacity, q.waiting) {
            let conflict = match refusal {
                JoinRefusal::Closed => Conflict::QueueClosed,
                JoinRefusal::Paused => Conflict::QueuePaused,
                JoinRefusal::Full => Conflict::QueueFull,
            };
            out.push((i, Err(conflict.into())));
            continue;
        }
        let type_id = q.ticket_type_id;
        let rules = ticket_rules(tx, caches, type_id).await?;
        // Joins enter at priority 0 behind everyone in line, so their place is the count; a
        // checked-in appointment may enter inside the line.
        let (line_seq, place, appointment) = match check_in {
            None => {
                let q = queue(state, *queue_id)?;
                (at_end(q.last_seq + 1), (q.waiting + 1) as u32, None)
            }
            Some(plan) => match checked_in(tx, state, *queue_id, *ticket_id, plan, &mut inside).await? {
                Ok((line_seq, place, appointment)) => (line_seq, place, Some(appointment)),
                Err(refused) => {
                    out.push((i, Err(refused)));
                    continue;
                }
            },
        };
        let q = queue(state, *queue_id)?;
        let estimate = pace.estimate(place);
        let seq = q.last_seq + 1;
        let row = TicketRow {
            id: *ticket_id,
            queue_id: *queue_id,
            ticket_type_id: type_id,
            number: display_number(&q.prefix, q.next_number),
            status: rules.fsm.init().to_owned(),
            in_line: true,
            priority: 0,
            counter: None,
            customer_name: request.name.clone(),
            party_size: request.party_size,
            fields: request.fields.clone(),
            joined_at: Utc::now(),
            called_at: None,
            served_at: None,
            finished_at: None,
            present: false,
            present_at: None,
            snoozes: 0,
            notes: None,
        };
        q.last_seq = seq;
        q.next_number += 1;
        q.waiting += 1;
        q.dirty = true;
        // A join at the end of a line longer than the told places moves nobody "N ahead" tells.
        q.head_moved |= appointment.is_some() || place as i32 <= q.told_places;

        rows.push(&row, request, token_hash, line_seq, estimate.p50);

        if let Some(idem) = idempotency {
            state.keys.insert(idem.key_hash.clone(), (idem.request_hash.clone(), row.id, idem.token_sealed.clone()));
            let record = (idem.key_hash.clone(), idem.request_hash.clone(), row.id, idem.token_sealed.clone());
            state.unwritten.keys.push(record);
        }
        let mut view = row.view(seq, Some(place));
        view.eta_seconds = Some(estimate.p50);
        view.eta_p90_seconds = Some(estimate.p90);
        let init = Some(rules.fsm.init());
        let mut joined = event(*queue_id, seq, EventKind::Joined, Some(view), actor, None, init);
        joined.line = (line_seq != at_end(seq)).then_some(line_seq);
        record(state, joined);
        if let Some(appointment) = appointment {
            super::booking::told(state, &appointment, "checked_in", actor)?;
        }
        fresh.insert(row.id, (row.clone(), seq, place));
        out.push((i, Ok(Placed { row, seq, place: Place::At(place), replayed: None })));
    }

    rows.insert(tx, tenant).await?;
    out.extend(replayed(tx, committed).await?);
    Ok(out)
}

/// A booked customer's check-in: the appointment marked `checked_in` with the ticket, and the
/// ticket's place: that of a join at `placed_as_of` (the first free `line_seq` after the place
/// of the last event before that moment, so ahead of everyone who entered the line after it),
/// or the end. Refused (the outer error) when the appointment is no longer booked or missed.
async fn checked_in(
    tx: &mut PgConnection,
    state: &mut BatchState,
    queue_id: Uuid,
    ticket_id: Uuid,
    plan: &CheckInPlan,
    inside: &mut Vec<(Uuid, i64)>,
) -> Result<std::result::Result<(i64, u32, AppointmentRow), StoreError>> {
    let appointment: Option<AppointmentRow> = sqlx::query_as(concat!(
        "UPDATE appointments a SET status = 'checked_in', ticket_id = $2, checked_in_at = now(), updated_at = now()          WHERE a.id = $1 AND a.queue_id = $3 AND a.status IN ('booked', 'missed') RETURNING ",
        appointment_cols!()
    ))
    .bind(plan.appointment_id)
    .bind(ticket_id)
    .bind(queue_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(appointment) = appointment else {
        return Ok(Err(
            Conflict::InvalidTransition("this appointment is already checked in or cancelled".into()).into()
        ));
    };
    let q = queue(state, queue_id)?;
    let end = (at_end(q.last_seq + 1), (q.waiting + 1) as u32);
    let Some(as_of) = plan.placed_as_of else {
        return Ok(Ok((end.0, end.1, appointment)));
    };
    // The place of the last event at or before `as_of`, and the last place already taken in
    // the gap after it (by earlier check-ins, committed or of this batch).
    let (gap, taken): (i64, Option<i64>) = sqlx::query_as(
        "WITH s AS (SELECT coalesce((SELECT seq FROM queue_events WHERE queue_id = $1 AND at <= $2                                      ORDER BY seq DESC LIMIT 1), 0) << $3 AS gap)          SELECT s.gap, (SELECT max(line_seq) FROM tickets WHERE queue_id = $1 AND line_seq > s.gap                         AND line_seq < s.gap + (1::int8 << $3)) FROM s",
    )
    .bind(queue_id)
    .bind(as_of)
    .bind(GAP_BITS as i32)
    .fetch_one(&mut *tx)
    .await?;
    let in_batch = inside.iter().filter(|(q, k)| *q == queue_id && *k > gap && *k < gap + (1 << GAP_BITS)).map(|k| k.1);
    // Spaced, so that staff can still move someone between two check-ins (`line::just_before`).
    let line_seq = taken.into_iter().chain(in_batch).max().unwrap_or(gap) + CHECK_IN_STEP;
    if line_seq >= gap + (1 << GAP_BITS) || line_seq >= end.0 {
        // The gap is full (255 check-ins between two events), or there is nobody after it.
        return Ok(Ok((end.0, end.1, appointment)));
    }
    // Its place: everyone of higher priority, and everyone of priority 0 before it (bucket
    // counts, then a count inside its own bucket), and check-ins of this batch before it.
    let ahead: i64 = sqlx::query_scalar(
        "SELECT (SELECT coalesce(sum(waiting), 0) FROM line_counts WHERE queue_id = $1                    AND (priority > 0 OR (priority = 0 AND bucket < $2 >> 26)))               + (SELECT count(*) FROM tickets WHERE queue_id = $1 AND in_line AND priority = 0                    AND line_seq >= ($2 >> 26) << 26 AND line_seq < $2)",
    )
    .bind(queue_id)
    .bind(line_seq)
    .fetch_one(&mut *tx)
    .await?;
    let earlier_here = inside.iter().filter(|(q, k)| *q == queue_id && *k < line_seq).count() as i64;
    inside.push((queue_id, line_seq));
    Ok(Ok((line_seq, (ahead + earlier_here + 1) as u32, appointment)))
}

/// The room a check-in leaves after the one before it in the same gap.
const CHECK_IN_STEP: i64 = 1 << 8;

/// The tickets of keys committed by earlier batches, read in one statement, their places owed:
/// a replay costs the batch no count of the line, however many there are.
async fn replayed(tx: &mut PgConnection, committed: Vec<(usize, Uuid, Vec<u8>, i64)>) -> Result<Outcomes> {
    if committed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = committed.iter().map(|c| c.1).collect();
    // One lookup by key per ticket, whatever plan the connection keeps (see `load_keys`).
    let rows: Vec<TicketRow> = sqlx::query_as(concat!(
        "SELECT ",
        ticket_cols!(),
        " FROM unnest($1::uuid[]) AS i(id) CROSS JOIN LATERAL (SELECT * FROM tickets WHERE id = i.id OFFSET 0) t"
    ))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    // Several retries of one key may be in the batch: each gets its own copy.
    let rows: HashMap<Uuid, TicketRow> = rows.into_iter().map(|r| (r.id, r)).collect();
    Ok(committed
        .into_iter()
        .map(|(i, id, sealed, seq)| {
            let placed = rows.get(&id).cloned().ok_or(StoreError::NotFound).map(|row| Placed {
                place: if row.in_line { Place::Owed } else { Place::Out },
                row,
                seq,
                replayed: Some(sealed),
            });
            (i, placed)
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct CalledRow {
    #[sqlx(flatten)]
    row: TicketRow,
    call_slot: i64,
}

pub(super) async fn calls(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    changes: &[(usize, &TicketChange)],
) -> Result<Outcomes> {
    let mut out = Vec::with_capacity(changes.len());
    // Each request's place among the calls to its queue: the kth call takes the kth in line.
    let mut asked: Vec<(usize, Uuid, i64, &str)> = Vec::new();
    let mut per_queue: HashMap<Uuid, i64> = HashMap::new();
    let (mut c_counter, mut c_to, mut c_terminal) = (vec![], vec![], vec![]);
    let mut init_of: HashMap<Uuid, (String, String)> = HashMap::new();
    for &(i, change) in changes {
        let TicketChange::CallNext { queue_id, counter, actor } = change else { continue };
        let type_id = match queue(state, *queue_id) {
            Ok(q) => q.ticket_type_id,
            Err(e) => {
                out.push((i, Err(e)));
                continue;
            }
        };
        let rules = ticket_rules(tx, caches, type_id).await?;
        // unwrap: a machine is only saved with a `call` transition out of its init state.
        let called = rules.fsm.leads_to(Special::Call).unwrap();
        init_of.insert(*queue_id, (rules.fsm.init().to_owned(), called.to_owned()));
        let rank = per_queue.entry(*queue_id).or_insert(0);
        *rank += 1;
        asked.push((i, *queue_id, *rank, actor));
        c_counter.push(counter.clone());
        c_to.push(called.to_owned());
        c_terminal.push(rules.fsm.is_terminal(called));
    }
    if asked.is_empty() {
        return Ok(out);
    }

    let now = Utc::now();
    // Each call's slot: the calls to the queues before its own, plus its rank in its queue. One
    // key to join on: the statement runs its generic plan, made for a guess of ten rows a
    // side, which merged on the queue alone and compared every call of a queue with every
    // ticket picked from it.
    let (mut q_ids, mut q_counts, mut q_bases) = (vec![], vec![], vec![]);
    let mut base: HashMap<Uuid, i64> = HashMap::with_capacity(per_queue.len());
    let mut first = 0;
    for (queue_id, count) in per_queue {
        q_ids.push(queue_id);
        q_counts.push(count);
        q_bases.push(first);
        base.insert(queue_id, first);
        first += count;
    }
    let c_slot: Vec<i64> = asked.iter().map(|(_, queue_id, rank, _)| base[queue_id] + rank).collect();
    // The head of each line; the queue row locks we hold make them ours alone.
    let called: Vec<CalledRow> = sqlx::query_as(concat!(
        "WITH picked AS ( \
           SELECT p.id, r.base + row_number() OVER (PARTITION BY r.queue_id ORDER BY p.priority DESC, p.line_seq) AS slot \
           FROM unnest($1::uuid[], $2::int8[], $3::int8[]) AS r(queue_id, k, base) \
           CROSS JOIN LATERAL (SELECT id, priority, line_seq FROM tickets \
                               WHERE queue_id = r.queue_id AND in_line \
                               ORDER BY priority DESC, line_seq LIMIT r.k) p), \
         asked AS (SELECT * FROM unnest($4::int8[], $5::text[], $6::text[], $7::bool[]) \
                   AS c(slot, counter, to_state, terminal)) \
         UPDATE tickets t SET status = asked.to_state, in_line = false, counter = asked.counter, called_at = $8, \
           actual_wait_seconds = COALESCE(t.actual_wait_seconds, GREATEST(0, EXTRACT(epoch FROM $8 - t.joined_at))::int), \
           finished_at = CASE WHEN asked.terminal THEN $8 END \
         FROM picked JOIN asked ON asked.slot = picked.slot \
         WHERE t.id = picked.id \
         RETURNING picked.slot AS call_slot, ",
        ticket_cols!()
    ))
    .bind(q_ids)
    .bind(q_counts)
    .bind(q_bases)
    .bind(&c_slot)
    .bind(c_counter)
    .bind(c_to)
    .bind(c_terminal)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_slot: HashMap<i64, TicketRow> = called.into_iter().map(|c| (c.call_slot, c.row)).collect();

    for ((i, queue_id, _, actor), slot) in asked.into_iter().zip(c_slot) {
        let Some(row) = by_slot.remove(&slot) else {
            out.push((i, Err(Conflict::QueueEmpty.into())));
            continue;
        };
        let q = queue(state, queue_id)?;
        q.last_seq += 1;
        q.waiting -= 1;
        q.dirty = true;
        q.head_moved = true;
        let seq = q.last_seq;
        let (init, to) = &init_of[&queue_id];
        let kind = EventKind::transition(Special::Call.name());
        let e = event(queue_id, seq, kind, Some(row.view(seq, None)), actor, Some(init), Some(to));
        record(state, e);
        out.push((i, Ok(Placed { row, seq, place: Place::Out, replayed: None })));
    }
    Ok(out)
}
