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
use super::{BatchState, JoinRequest, Place, Placed, TicketChange};
use crate::domain::line::at_end;
use crate::domain::queue::admit;
use crate::domain::ticket::display_number;
use crate::domain::{EventKind, JoinRefusal, Special};
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
        sqlx::query(
            "INSERT INTO tickets (id, tenant_id, queue_id, ticket_type_id, number, status, in_line, line_seq, \
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
        .execute(&mut *tx)
        .await?;
        let c = self.contacts;
        if !c.ticket_id.is_empty() {
            // Before the events are written: their messages are found through these.
            sqlx::query(
                "INSERT INTO notify_contacts (ticket_id, tenant_id, queue_id, sms, email, push, lang) \
                 SELECT v.t, $1, v.q, v.s, v.e, v.p, v.l \
                 FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[], $7::text[]) \
                   AS v(t, q, s, e, p, l)",
            )
            .bind(tenant)
            .bind(c.ticket_id)
            .bind(c.queue_id)
            .bind(c.sms)
            .bind(c.email)
            .bind(c.push)
            .bind(c.lang)
            .execute(&mut *tx)
            .await?;
        }
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
    for &(i, change) in changes {
        let TicketChange::Join { queue_id, ticket_id, request, token_hash, idempotency, pace } = change else {
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
        let q = queue(state, *queue_id)?;
        // Joins enter at priority 0 behind everyone in line, so their place is the count.
        let place = (q.waiting + 1) as u32;
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
        };
        q.last_seq = seq;
        q.next_number += 1;
        q.waiting += 1;
        q.dirty = true;

        rows.push(&row, request, token_hash, at_end(seq), estimate.p50);

        if let Some(idem) = idempotency {
            state.keys.insert(idem.key_hash.clone(), (idem.request_hash.clone(), row.id, idem.token_sealed.clone()));
            let record = (idem.key_hash.clone(), idem.request_hash.clone(), row.id, idem.token_sealed.clone());
            state.unwritten.keys.push(record);
        }
        let mut view = row.view(seq, Some(place));
        view.eta_seconds = Some(estimate.p50);
        view.eta_p90_seconds = Some(estimate.p90);
        let init = Some(rules.fsm.init());
        record(state, event(*queue_id, seq, EventKind::Joined, Some(view), "customer", None, init));
        fresh.insert(row.id, (row.clone(), seq, place));
        out.push((i, Ok(Placed { row, seq, place: Place::At(place), replayed: None })));
    }

    rows.insert(tx, tenant).await?;
    out.extend(replayed(tx, committed).await?);
    Ok(out)
}

/// The tickets of keys committed by earlier batches, read in one statement, their places owed:
/// a replay costs the batch no count of the line, however many there are.
async fn replayed(tx: &mut PgConnection, committed: Vec<(usize, Uuid, Vec<u8>, i64)>) -> Result<Outcomes> {
    if committed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = committed.iter().map(|c| c.1).collect();
    let rows: Vec<TicketRow> =
        sqlx::query_as(concat!("SELECT ", ticket_cols!(), " FROM tickets t WHERE t.id = ANY($1)"))
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
    call_queue: Uuid,
    call_rank: i64,
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
    let (mut c_queue, mut c_rank, mut c_counter, mut c_to, mut c_terminal) = (vec![], vec![], vec![], vec![], vec![]);
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
        c_queue.push(*queue_id);
        c_rank.push(*rank);
        c_counter.push(counter.clone());
        c_to.push(called.to_owned());
        c_terminal.push(rules.fsm.is_terminal(called));
    }
    if asked.is_empty() {
        return Ok(out);
    }

    let now = Utc::now();
    let (q_ids, q_counts): (Vec<Uuid>, Vec<i64>) = per_queue.into_iter().unzip();
    // The head of each line; the queue row locks we hold make them ours alone.
    let called: Vec<CalledRow> = sqlx::query_as(concat!(
        "WITH picked AS ( \
           SELECT p.id, r.queue_id, row_number() OVER (PARTITION BY r.queue_id ORDER BY p.priority DESC, p.line_seq) AS rank \
           FROM unnest($1::uuid[], $2::int8[]) AS r(queue_id, k) \
           CROSS JOIN LATERAL (SELECT id, priority, line_seq FROM tickets \
                               WHERE queue_id = r.queue_id AND in_line \
                               ORDER BY priority DESC, line_seq LIMIT r.k) p), \
         asked AS (SELECT * FROM unnest($3::uuid[], $4::int8[], $5::text[], $6::text[], $7::bool[]) \
                   AS c(queue_id, rank, counter, to_state, terminal)) \
         UPDATE tickets t SET status = asked.to_state, in_line = false, counter = asked.counter, called_at = $8, \
           actual_wait_seconds = COALESCE(t.actual_wait_seconds, GREATEST(0, EXTRACT(epoch FROM $8 - t.joined_at))::int), \
           finished_at = CASE WHEN asked.terminal THEN $8 END \
         FROM picked JOIN asked ON asked.queue_id = picked.queue_id AND asked.rank = picked.rank \
         WHERE t.id = picked.id \
         RETURNING picked.queue_id AS call_queue, picked.rank AS call_rank, ",
        ticket_cols!()
    ))
    .bind(q_ids)
    .bind(q_counts)
    .bind(c_queue)
    .bind(c_rank)
    .bind(c_counter)
    .bind(c_to)
    .bind(c_terminal)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_rank: HashMap<(Uuid, i64), TicketRow> =
        called.into_iter().map(|c| ((c.call_queue, c.call_rank), c.row)).collect();

    for (i, queue_id, rank, actor) in asked {
        let Some(row) = by_rank.remove(&(queue_id, rank)) else {
            out.push((i, Err(Conflict::QueueEmpty.into())));
            continue;
        };
        let q = queue(state, queue_id)?;
        q.last_seq += 1;
        q.waiting -= 1;
        q.dirty = true;
        let seq = q.last_seq;
        let (init, to) = &init_of[&queue_id];
        let kind = EventKind::transition(Special::Call.name());
        let e = event(queue_id, seq, kind, Some(row.view(seq, None)), actor, Some(init), Some(to));
        record(state, e);
        out.push((i, Ok(Placed { row, seq, place: Place::Out, replayed: None })));
    }
    Ok(out)
}
