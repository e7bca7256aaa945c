//! Applying one transition, transfer or queue update inside the writer's transaction: checks
//! first, then one statement. (Joins and call-nexts are in `bulk`.)
//!
//! A change either runs its statement and records its events, or is refused before touching
//! anything (or by a statement that matched no row), so a refusal never leaves half a change.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Audited, BatchState, Placed, QueueChange, QueuePatch, QueueState, TicketChange, Transfer, Transition};
use crate::domain::line::at_end;
use crate::domain::Queue;
use crate::domain::{Event, EventKind, QueueStatus, Special, Ticket};
use crate::store::audit::Change;
use crate::store::cache::Caches;
use crate::store::rows::{position, position_of_t, ticket_cols, MovedRow};
use crate::store::rules::{fetch_queue, ticket_rules};
use crate::store::{Conflict, Result, StoreError};

/// A transition or a transfer (joins and call-nexts are applied in bulk).
pub(super) async fn apply(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    change: &TicketChange,
) -> Result<Placed> {
    match change {
        TicketChange::Join { .. } | TicketChange::CallNext { .. } => {
            Err(StoreError::Other(anyhow::anyhow!("joins and call-nexts are applied in bulk")))
        }
        TicketChange::Transition(change) => transition(tx, caches, state, change).await,
        TicketChange::Transfer(change) => transfer(tx, caches, state, change).await,
        TicketChange::Timed(change) => super::clock::timed(tx, caches, state, change).await,
        TicketChange::Line(change) => super::control::apply(tx, state, change).await,
    }
}

/// A named transition, checked against the ticket type's machine and the locked row.
async fn transition(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    change: &Transition,
) -> Result<Placed> {
    let Transition { queue_id, ticket_id, ticket_type_id, name, counter, actor } = change;
    queue(state, *queue_id)?;
    let rules = ticket_rules(tx, caches, *ticket_type_id).await?;
    let fsm = &rules.fsm;
    let t = fsm.transition(name).ok_or_else(|| {
        Conflict::InvalidTransition(format!("`{name}` is not a transition of ticket type `{}`", rules.code))
    })?;
    let now = Utc::now();
    let to_line = t.to == fsm.init();
    let moved: Option<MovedRow> = sqlx::query_as(concat!(
        "WITH old AS (SELECT id, status, in_line FROM tickets \
                      WHERE id = $1 AND queue_id = $2 AND ticket_type_id = $3 FOR UPDATE) \
         UPDATE tickets t SET status = $4, in_line = $5, \
           counter = CASE WHEN $5 THEN NULL ELSE COALESCE($6, t.counter) END, \
           called_at = CASE WHEN $7 THEN $9 ELSE t.called_at END, \
           actual_wait_seconds = CASE WHEN $7 \
             THEN COALESCE(t.actual_wait_seconds, GREATEST(0, EXTRACT(epoch FROM $9 - t.joined_at))::int) \
             ELSE t.actual_wait_seconds END, \
           served_at = CASE WHEN $8 THEN $9 ELSE t.served_at END, \
           finished_at = CASE WHEN $10 THEN $9 END \
         FROM old WHERE t.id = old.id AND old.status = ANY($11) \
         RETURNING old.status AS from_state, old.in_line AS was_in_line, ",
        ticket_cols!()
    ))
    .bind(ticket_id)
    .bind(queue_id)
    .bind(ticket_type_id)
    .bind(&t.to)
    .bind(to_line)
    .bind(counter)
    .bind(Special::of(name) == Some(Special::Call))
    .bind(Special::of(name) == Some(Special::Start))
    .bind(now)
    .bind(fsm.is_terminal(&t.to))
    .bind(&t.from)
    .fetch_optional(&mut *tx)
    .await?;
    let moved =
        moved.ok_or_else(|| Conflict::InvalidTransition(format!("the ticket cannot `{name}` in its current state")))?;
    let place = if to_line { counted_position(tx, *ticket_id).await? } else { None };
    let q = queue(state, *queue_id)?;
    let seq = bump(q);
    q.waiting += i32::from(to_line) - i32::from(moved.was_in_line);
    let view = moved.row.view(seq, place);
    let kind = EventKind::transition(name);
    record(state, event(*queue_id, seq, kind, Some(view), actor, Some(&moved.from_state), Some(&t.to)));
    Ok(Placed { row: moved.row, seq, place: place.into(), replayed: None })
}

/// Out of one line and onto the end of another: two events, one per queue.
async fn transfer(tx: &mut PgConnection, caches: &Caches, state: &mut BatchState, change: &Transfer) -> Result<Placed> {
    let Transfer { queue_id, ticket_id, to_queue, actor } = change;
    if queue_id == to_queue {
        return Err(StoreError::Invalid("the ticket is already in that queue".into()));
    }
    let from_type = queue(state, *queue_id)?.ticket_type_id;
    let to = queue(state, *to_queue)?;
    if to.status == QueueStatus::Closed {
        return Err(Conflict::QueueClosed.into());
    }
    let to_type = to.ticket_type_id;
    let from_rules = ticket_rules(tx, caches, from_type).await?;
    let to_rules = ticket_rules(tx, caches, to_type).await?;
    let terminal: Vec<&String> = from_rules.fsm.states().iter().filter(|s| from_rules.fsm.is_terminal(s)).collect();
    let seq_in = queue(state, *to_queue)?.last_seq + 1;
    let moved: Option<MovedRow> = sqlx::query_as(concat!(
        "WITH old AS (SELECT id, status, in_line FROM tickets WHERE id = $1 AND queue_id = $2 FOR UPDATE) \
         UPDATE tickets t SET queue_id = $3, ticket_type_id = $4, status = $5, in_line = true, line_seq = $6, \
           counter = NULL, called_at = NULL, served_at = NULL, finished_at = NULL \
         FROM old WHERE t.id = old.id AND NOT (old.status = ANY($7)) \
         RETURNING old.status AS from_state, old.in_line AS was_in_line, ",
        ticket_cols!()
    ))
    .bind(ticket_id)
    .bind(queue_id)
    .bind(to_queue)
    .bind(to_type)
    .bind(to_rules.fsm.init())
    .bind(at_end(seq_in))
    .bind(terminal)
    .fetch_optional(&mut *tx)
    .await?;
    let moved = moved.ok_or_else(|| Conflict::InvalidTransition("a finished ticket cannot be transferred".into()))?;
    // The end of its priority's line: behind everyone for the usual priority 0 (the batch knows
    // how many wait there), counted only for a ticket of higher priority.
    let place = match moved.row.priority {
        0 => Some(queue(state, *to_queue)?.waiting as u32 + 1),
        p => position(Some(
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM tickets WHERE queue_id = $1 AND in_line AND priority >= $2",
            )
            .bind(to_queue)
            .bind(p)
            .fetch_one(&mut *tx)
            .await?,
        )),
    };

    let from = queue(state, *queue_id)?;
    let seq_out = bump(from);
    from.waiting -= i32::from(moved.was_in_line);
    let to = queue(state, *to_queue)?;
    let seq_in = bump(to);
    to.waiting += 1;
    let out_view = moved.row.view(seq_out, None);
    let kind = EventKind::TransferredOut;
    record(state, event(*queue_id, seq_out, kind, Some(out_view), actor, Some(&moved.from_state), None));
    let in_view = moved.row.view(seq_in, place);
    let init = Some(to_rules.fsm.init());
    record(state, event(*to_queue, seq_in, EventKind::TransferredIn, Some(in_view), actor, None, init));
    Ok(Placed { row: moved.row, seq: seq_in, place: place.into(), replayed: None })
}

/// A queue's status, name, capacity or settings, changed: an event like any other. (Or, from the
/// clock, its hours applied: see [`super::clock::hours`].)
pub(super) async fn update_queue(tx: &mut PgConnection, state: &mut BatchState, change: &QueueChange) -> Result<Queue> {
    let QueueChange { queue_id, patch, actor, now, reschedule, due, audit } = change;
    if let Some(due) = due {
        return super::clock::hours(tx, state, *queue_id, *due, *now).await;
    }
    // The row is locked by the batch already: what it was is what this change changes.
    let before = match audit {
        Some(_) => fetch_queue(tx, *queue_id).await?,
        None => None,
    };
    let updated = patch_queue(tx, state, *queue_id, patch, *reschedule, actor, *now).await?;
    if let Some(Audited { tenant, via }) = audit {
        let change = Change::new("queue.updated", "queue", queue_id).before(&before).after(&updated);
        crate::store::audit::record(tx, *tenant, actor, via, change).await?;
    }
    Ok(updated)
}

/// Applies a patch: one statement, one event. An opening (to `open` from another status) may
/// start the day's numbers again at 1 (`number_reset: "daily"`).
pub(super) async fn patch_queue(
    tx: &mut PgConnection,
    state: &mut BatchState,
    queue_id: Uuid,
    patch: &QueuePatch,
    reschedule: Option<Option<DateTime<Utc>>>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Queue> {
    let was = queue(state, queue_id)?.status;
    // The keys to set, and those (given as null) to remove.
    let (set, removed): (serde_json::Map<String, serde_json::Value>, Vec<String>) = match &patch.settings {
        Some(keys) => (
            keys.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect(),
            keys.iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k.clone()).collect(),
        ),
        None => Default::default(),
    };
    let mut updated: Queue = sqlx::query_as(
        "UPDATE queues q SET status = COALESCE($2, q.status), name = COALESCE($3, q.name), \
           capacity = CASE WHEN $4 THEN $5 ELSE q.capacity END, \
           settings = CASE WHEN $6 THEN (q.settings || $7) - $8::text[] ELSE q.settings END, \
           hours_due_at = CASE WHEN $9 THEN $10 ELSE q.hours_due_at END, \
           location_id = CASE WHEN $11 THEN $12 ELSE q.location_id END, updated_at = now() \
         FROM ticket_types tt WHERE q.id = $1 AND tt.id = q.ticket_type_id \
         RETURNING q.id, q.slug, q.name, q.prefix, q.capacity, q.status, tt.code AS ticket_type, \
           q.waiting, q.last_seq, q.settings, q.location_id, q.created_at, q.updated_at",
    )
    .bind(queue_id)
    .bind(patch.status)
    .bind(&patch.name)
    .bind(patch.capacity.is_some())
    .bind(patch.capacity.flatten())
    .bind(patch.settings.is_some())
    .bind(serde_json::Value::Object(set))
    .bind(removed)
    .bind(reschedule.is_some())
    .bind(reschedule.flatten())
    .bind(patch.location_id.is_some())
    .bind(patch.location_id.flatten())
    .fetch_one(&mut *tx)
    .await?;
    if updated.status == QueueStatus::Open && was != QueueStatus::Open {
        super::clock::opened(tx, state, &updated, now).await?;
    }
    let q = queue(state, queue_id)?;
    let seq = bump(q);
    q.status = updated.status;
    q.capacity = updated.capacity;
    updated.last_seq = seq;
    updated.waiting = q.waiting;
    let mut e = event(queue_id, seq, EventKind::QueueUpdated, None, actor, None, None);
    e.queue = Some(serde_json::to_value(&updated).map_err(anyhow::Error::from)?);
    record(state, e);
    Ok(updated)
}

/// What a failed statement means to the client, when it means something.
pub(super) fn meaning_of(err: StoreError) -> StoreError {
    match &err {
        StoreError::Db(sqlx::Error::Database(db)) => match db.code().as_deref() {
            Some("23505") if db.table() == Some("idempotency_keys") => Conflict::IdempotencyConflict.into(),
            Some("23514") => StoreError::Invalid(format!("a value is out of range ({})", db.message())),
            _ => err,
        },
        _ => err,
    }
}

/// A queue the batch has locked; absent means not found (or another tenant's).
pub(super) fn queue(state: &mut BatchState, id: Uuid) -> Result<&mut QueueState> {
    state.queues.get_mut(&id).ok_or(StoreError::NotFound)
}

/// The queue's next seq, taken.
pub(super) fn bump(q: &mut QueueState) -> i64 {
    q.last_seq += 1;
    q.dirty = true;
    q.head_moved = true;
    q.last_seq
}

pub(super) fn event(
    queue_id: Uuid,
    seq: i64,
    kind: EventKind,
    ticket: Option<Ticket>,
    actor: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Event {
    Event {
        seq,
        queue_id,
        kind,
        ticket,
        actor: actor.to_owned(),
        at: Utc::now(),
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        queue: None,
        appointment: None,
        line: None,
        presence: None,
    }
}

pub(super) fn record(state: &mut BatchState, event: Event) {
    state.events.push(std::sync::Arc::new(event));
}

/// A ticket's place in its line, counted: for a ticket put back in the middle of a line (a
/// requeue restores its place), which only a count can tell. Rare (a staff action); joins and
/// calls never count.
pub(super) async fn counted_position(tx: &mut PgConnection, id: Uuid) -> Result<Option<u32>> {
    let count: Option<i64> =
        sqlx::query_scalar(concat!("SELECT ", position_of_t!(), " FROM tickets t WHERE t.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    Ok(position(count))
}
