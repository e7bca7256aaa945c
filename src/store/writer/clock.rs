//! The changes the clock makes: a queue's hours applied (opening or closing it), a called ticket
//! whose call timed out, a waiting ticket that expired. Each is an event like any other (actor
//! `system`), and each is conditional on the row it locks: when several nodes' clocks submit the
//! same change, the first writer to lock the row applies it, and the others find it done and are
//! answered with a conflict that their clock ignores.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::apply::{bump, event, patch_queue, queue, record};
use super::{BatchState, Place, Placed, QueuePatch};
use crate::domain::timing::timeout_transition;
use crate::domain::{EventKind, NumberReset, Queue, QueueStatus, Special, Timing};
use crate::store::cache::Caches;
use crate::store::rows::{ticket_cols, MovedRow};
use crate::store::rules::ticket_rules;
use crate::store::{Conflict, Result};

/// The actor of the clock's events.
pub(crate) const SYSTEM: &str = "system";

/// A ticket change the clock makes.
pub(crate) struct Timed {
    pub queue_id: Uuid,
    pub ticket_id: Uuid,
    pub ticket_type_id: Uuid,
    pub kind: TimedKind,
    /// The `called_at` (a timeout) or `joined_at` (an expiry) the clock found due: a ticket
    /// called again since is not the one whose call timed out.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimedKind {
    /// Called and not started within `called_timeout_seconds`: to the `absent` role state.
    CallTimeout,
    /// In line for `ticket_ttl_minutes`: to the `expired` role state (`ticket.expired`).
    Expiry,
}

/// The queue's hours applied as of `now`, if its `hours_due_at` is still `due`: opened or
/// closed as the hours say (an event, actor `system`), or, when it already is (closed early by
/// hand), only its next change stored. Either way `hours_due_at` moves to the next change, so the
/// same due moment is never applied twice.
pub(super) async fn hours(
    tx: &mut PgConnection,
    state: &mut BatchState,
    queue_id: Uuid,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Queue> {
    let status = queue(state, queue_id)?.status;
    // The row is locked (the batch locked every queue it touches): this reads what the writer
    // that held the lock before us committed.
    let settings: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT settings FROM queues WHERE id = $1 AND hours_due_at = $2")
            .bind(queue_id)
            .bind(due)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(settings) = settings else {
        return Err(Conflict::InvalidTransition("these hours were already applied".into()).into());
    };
    let hours = Timing::read(&settings).hours;
    let next = hours.as_ref().and_then(|h| h.next_change(now));
    let want = match &hours {
        Some(h) if h.is_open(now) => QueueStatus::Open,
        Some(_) => QueueStatus::Closed,
        None => status,
    };
    if want != status {
        let patch = QueuePatch { status: Some(want), ..QueuePatch::default() };
        return patch_queue(tx, state, queue_id, &patch, Some(next), SYSTEM, now).await;
    }
    let mut unchanged: Queue = sqlx::query_as(
        "UPDATE queues q SET hours_due_at = $2 FROM ticket_types tt WHERE q.id = $1 AND tt.id = q.ticket_type_id \
         RETURNING q.id, q.slug, q.name, q.prefix, q.capacity, q.status, tt.code AS ticket_type, \
           q.waiting, q.last_seq, q.settings, q.location_id, q.created_at, q.updated_at",
    )
    .bind(queue_id)
    .bind(next)
    .fetch_one(&mut *tx)
    .await?;
    let q = queue(state, queue_id)?;
    unchanged.last_seq = q.last_seq;
    unchanged.waiting = q.waiting;
    Ok(unchanged)
}

/// A queue just opened (by its hours or by hand): with `number_reset: "daily"`, the first
/// opening of a local day starts numbers again at 1. Later openings that day (after a lunch
/// break) keep counting, so a number is never handed out twice in a day.
pub(super) async fn opened(tx: &mut PgConnection, state: &mut BatchState, q: &Queue, now: DateTime<Utc>) -> Result<()> {
    let timing = Timing::read(&q.settings);
    if timing.number_reset != NumberReset::Daily {
        return Ok(());
    }
    let day = timing.local_day(now);
    let last: Option<NaiveDate> =
        sqlx::query_scalar("SELECT numbered_on FROM queues WHERE id = $1").bind(q.id).fetch_one(&mut *tx).await?;
    if last.is_some_and(|last| last >= day) {
        return Ok(());
    }
    // Daily numbers just turned on: if numbers were handed out today already, today goes on
    // counting from them.
    let counted_today = last.is_none()
        && sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM tickets WHERE queue_id = $1 AND joined_at >= $2)",
        )
        .bind(q.id)
        .bind(timing.start_of(day))
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("UPDATE queues SET numbered_on = $2 WHERE id = $1").bind(q.id).bind(day).execute(&mut *tx).await?;
    if !counted_today {
        // Stored with the batch's other counters (`flush::close`).
        let state = queue(state, q.id)?;
        state.next_number = 1;
        state.dirty = true;
    }
    Ok(())
}

/// A called timeout or an expiry, if the ticket is still as the clock found it.
pub(super) async fn timed(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    change: &Timed,
) -> Result<Placed> {
    let Timed { queue_id, ticket_id, ticket_type_id, kind, since } = change;
    queue(state, *queue_id)?;
    let rules = ticket_rules(tx, caches, *ticket_type_id).await?;
    let fsm = &rules.fsm;
    let cannot = |what: &str| Conflict::InvalidTransition(format!("ticket type `{}` has no {what}", rules.code));
    let (from, to, kind_of_event) = match kind {
        TimedKind::CallTimeout => {
            let name = timeout_transition(fsm).ok_or_else(|| cannot("transition from called to absent"))?;
            let called = fsm.leads_to(Special::Call).ok_or_else(|| cannot("call"))?;
            let to = fsm.transition(name).map(|t| t.to.as_str()).ok_or_else(|| cannot(name))?;
            (called, to, EventKind::transition(name))
        }
        TimedKind::Expiry => {
            let expired = fsm.roles().expired.as_deref().ok_or_else(|| cannot("expired state"))?;
            (fsm.init(), expired, EventKind::transition("expire"))
        }
    };
    let expiry = *kind == TimedKind::Expiry;
    let moved: Option<MovedRow> = sqlx::query_as(concat!(
        "WITH old AS (SELECT id, status, in_line FROM tickets \
                      WHERE id = $1 AND queue_id = $2 AND ticket_type_id = $3 FOR UPDATE) \
         UPDATE tickets t SET status = $4, in_line = false, \
           counter = CASE WHEN old.in_line THEN NULL ELSE t.counter END, \
           finished_at = CASE WHEN $5 THEN $6 END \
         FROM old WHERE t.id = old.id AND old.status = $7 AND old.in_line = $8 \
           AND CASE WHEN $8 THEN t.joined_at = $9 ELSE t.called_at = $9 AND t.served_at IS NULL END \
         RETURNING old.status AS from_state, old.in_line AS was_in_line, ",
        ticket_cols!()
    ))
    .bind(ticket_id)
    .bind(queue_id)
    .bind(ticket_type_id)
    .bind(to)
    .bind(fsm.is_terminal(to))
    .bind(Utc::now())
    .bind(from)
    .bind(expiry)
    .bind(since)
    .fetch_optional(&mut *tx)
    .await?;
    let moved =
        moved.ok_or_else(|| Conflict::InvalidTransition("the ticket moved on before its time ran out".into()))?;
    let q = queue(state, *queue_id)?;
    let seq = bump(q);
    q.waiting -= i32::from(moved.was_in_line);
    let view = moved.row.view(seq, None);
    record(state, event(*queue_id, seq, kind_of_event, Some(view), SYSTEM, Some(&moved.from_state), Some(to)));
    Ok(Placed { row: moved.row, seq, place: Place::Out, replayed: None })
}
