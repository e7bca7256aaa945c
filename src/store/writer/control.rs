//! Line control inside the writer's transaction: a customer stepping back (`ticket.snoozed`),
//! staff moving a ticket (`ticket.moved`) or changing its priority or notes (`ticket.updated`).
//! (A customer coming or going is `presence`: set-based, and nobody waits for it.)
//!
//! A ticket put somewhere inside its line takes a free `line_seq` right before the ticket it now
//! precedes (`line::just_before`), or a new one at the end, and its event says which (`line`), so
//! every hub places it exactly where the database does. `line_seq`s stay unique among a queue's unfinished tickets: a ticket out of line
//! now (called, a no-show) may be requeued to its old place.

use sqlx::PgConnection;
use uuid::Uuid;

use super::apply::{bump, counted_position, event, queue, record};
use super::{BatchState, Placed};
use crate::domain::control::{priority_between, SnoozeLimits};
use crate::domain::event::words;
use crate::domain::line::{at_end, just_before, GAP_BITS};
use crate::domain::EventKind;
use crate::store::rows::{ticket_cols, TicketRow};
use crate::store::{Conflict, Result, StoreError};

/// A change to where a ticket stands, or what staff know of it.
pub(crate) struct LineChange {
    pub queue_id: Uuid,
    pub ticket_id: Uuid,
    pub op: LineOp,
    pub actor: String,
}

pub(crate) enum LineOp {
    /// Back `places` places among those of its priority, within the queue's `settings.snooze`.
    Snooze {
        places: u32,
    },
    Move(MoveTo),
    /// A new priority, new notes (`Some(None)` clears them), or both.
    Update {
        priority: Option<i16>,
        notes: Option<Option<String>>,
    },
}

/// Where staff move a ticket.
#[derive(Debug, Clone, Copy)]
pub enum MoveTo {
    /// To this position (1 = next) of the line.
    Position(u32),
    /// Just ahead of this ticket of the same line.
    Before(Uuid),
}

/// The ticket as locked, with its place.
#[derive(sqlx::FromRow)]
struct Current {
    #[sqlx(flatten)]
    row: TicketRow,
    line_seq: i64,
}

/// A ticket of the line next to where one goes.
#[derive(sqlx::FromRow, Debug)]
struct Near {
    priority: i16,
    line_seq: i64,
}

pub(super) async fn apply(tx: &mut PgConnection, state: &mut BatchState, change: &LineChange) -> Result<Placed> {
    let LineChange { queue_id, ticket_id, op, actor } = change;
    queue(state, *queue_id)?;
    let current: Option<Current> = sqlx::query_as(concat!(
        "SELECT t.line_seq, ",
        ticket_cols!(),
        " FROM tickets t WHERE t.id = $1 AND t.queue_id = $2 FOR UPDATE"
    ))
    .bind(ticket_id)
    .bind(queue_id)
    .fetch_optional(&mut *tx)
    .await?;
    let current = current.ok_or(StoreError::NotFound)?;
    match op {
        LineOp::Update { priority, notes } => update(tx, state, current, *priority, notes, actor).await,
        LineOp::Snooze { places } => {
            let (after, before) = snoozed(tx, state, &current, *places).await?;
            let priority = current.row.priority;
            reorder(tx, state, current, after, before, priority, words::SNOOZED, actor).await
        }
        LineOp::Move(to) => {
            let (after, before) = moved(tx, state, &current, *to).await?;
            let priority = priority_between(
                current.row.priority,
                after.as_ref().map(|a| a.priority),
                before.as_ref().map(|b| b.priority),
            );
            reorder(tx, state, current, after, before, priority, words::MOVED, actor).await
        }
    }
}

fn waiting_only(current: &Current) -> Result<()> {
    if current.row.in_line {
        Ok(())
    } else {
        Err(Conflict::InvalidTransition(format!(
            "only a ticket waiting in line can move; this one is `{}`",
            current.row.status
        ))
        .into())
    }
}

/// Between whom a snoozing ticket goes: `places` back among those of its priority behind it
/// (fewer if fewer are), within the queue's limits.
async fn snoozed(
    tx: &mut PgConnection,
    state: &mut BatchState,
    current: &Current,
    places: u32,
) -> Result<(Option<Near>, Option<Near>)> {
    waiting_only(current)?;
    let limits =
        queue(state, current.row.queue_id)?.snooze.as_ref().and_then(|s| SnoozeLimits::parse(Some(s)).ok().flatten());
    if let Some(why) = SnoozeLimits::refuse(limits, current.row.snoozes, places) {
        return Err(Conflict::SnoozeLimit(why).into());
    }
    let mut behind: Vec<Near> = sqlx::query_as(
        "SELECT priority, line_seq FROM tickets WHERE queue_id = $1 AND in_line AND priority = $2 AND line_seq > $3 \
         ORDER BY line_seq LIMIT $4",
    )
    .bind(current.row.queue_id)
    .bind(current.row.priority)
    .bind(current.line_seq)
    .bind(i64::from(places) + 1)
    .fetch_all(&mut *tx)
    .await?;
    if behind.is_empty() {
        return Err(Conflict::AlreadyLast.into());
    }
    let k = (places as usize).min(behind.len());
    let before = (behind.len() > k).then(|| behind.remove(k));
    let after = behind.swap_remove(k - 1);
    Ok((Some(after), before))
}

/// Between whom a moved ticket goes.
async fn moved(
    tx: &mut PgConnection,
    state: &mut BatchState,
    current: &Current,
    to: MoveTo,
) -> Result<(Option<Near>, Option<Near>)> {
    waiting_only(current)?;
    let queue_id = current.row.queue_id;
    match to {
        MoveTo::Position(n) => {
            let waiting = queue(state, queue_id)?.waiting.max(1) as u32;
            if n < 1 || n > waiting {
                return Err(StoreError::Invalid(format!("position: 1 to {waiting}, the length of the line")));
            }
            // The line without the ticket: it goes after the (n-1)th and before the nth.
            let skip = i64::from(n.saturating_sub(2));
            let mut near: Vec<Near> = sqlx::query_as(
                "SELECT priority, line_seq FROM tickets WHERE queue_id = $1 AND in_line AND id <> $2 \
                 ORDER BY priority DESC, line_seq OFFSET $3 LIMIT 2",
            )
            .bind(queue_id)
            .bind(current.row.id)
            .bind(skip)
            .fetch_all(&mut *tx)
            .await?;
            if n == 1 {
                near.truncate(1);
                return Ok((None, near.pop()));
            }
            let before = (near.len() == 2).then(|| near.remove(1));
            Ok((near.pop(), before))
        }
        MoveTo::Before(other) => {
            if other == current.row.id {
                return Err(StoreError::Invalid("before: another ticket than the one moved".into()));
            }
            let target: Option<Near> =
                sqlx::query_as("SELECT priority, line_seq FROM tickets WHERE id = $1 AND queue_id = $2 AND in_line")
                    .bind(other)
                    .bind(queue_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let target =
                target.ok_or_else(|| StoreError::Invalid("before: a ticket waiting in the same line".into()))?;
            let after: Option<Near> = sqlx::query_as(
                "SELECT priority, line_seq FROM tickets WHERE queue_id = $1 AND in_line AND id <> $2 \
                   AND (priority > $3 OR (priority = $3 AND line_seq < $4)) \
                 ORDER BY priority, line_seq DESC LIMIT 1",
            )
            .bind(queue_id)
            .bind(current.row.id)
            .bind(target.priority)
            .bind(target.line_seq)
            .fetch_optional(&mut *tx)
            .await?;
            Ok((after, Some(target)))
        }
    }
}

/// Puts the ticket after `after` and before `before` at `priority`: one statement, one event
/// that says where.
#[allow(clippy::too_many_arguments)]
async fn reorder(
    tx: &mut PgConnection,
    state: &mut BatchState,
    current: Current,
    after: Option<Near>,
    before: Option<Near>,
    priority: i16,
    word: &str,
    actor: &str,
) -> Result<Placed> {
    let queue_id = current.row.queue_id;
    let seq = queue(state, queue_id)?.last_seq + 1;
    // Only neighbours of the same priority bound its `line_seq`; priorities order the rest.
    let lo = after.filter(|a| a.priority == priority).map(|a| a.line_seq);
    let hi = before.filter(|b| b.priority == priority).map(|b| b.line_seq);
    let line_seq = match hi {
        // Last of its priority: after every place taken so far.
        None => at_end(seq),
        Some(hi) => {
            let lo = lo.unwrap_or(hi - (1 << GAP_BITS));
            // In two index ranges, whatever the line's length: those in line (`tickets_line`, a
            // range per priority) and those out of it but unfinished (`tickets_active`: few).
            let taken: Vec<i64> = sqlx::query_scalar(
                "SELECT line_seq FROM tickets WHERE queue_id = $1 AND in_line \
                   AND priority = ANY ('{9,8,7,6,5,4,3,2,1,0}'::int2[]) AND line_seq > $2 AND line_seq < $3 AND id <> $4 \
                 UNION ALL \
                 SELECT line_seq FROM tickets WHERE queue_id = $1 AND NOT in_line AND finished_at IS NULL \
                   AND line_seq > $2 AND line_seq < $3",
            )
            .bind(queue_id)
            .bind(lo)
            .bind(hi)
            .bind(current.row.id)
            .fetch_all(&mut *tx)
            .await?;
            just_before(lo, hi, &taken).ok_or(Conflict::NoRoom)?
        }
    };
    let snoozed = i16::from(word == words::SNOOZED);
    let row: TicketRow = sqlx::query_as(concat!(
        "UPDATE tickets t SET line_seq = $2, priority = $3, snoozes = t.snoozes + $4 WHERE t.id = $1 RETURNING ",
        ticket_cols!()
    ))
    .bind(current.row.id)
    .bind(line_seq)
    .bind(priority)
    .bind(snoozed)
    .fetch_one(&mut *tx)
    .await?;
    let place = counted_position(tx, row.id).await?;
    let seq = bump(queue(state, queue_id)?);
    let mut e = event(queue_id, seq, EventKind::ticket(word), Some(row.view(seq, place)), actor, None, None);
    e.line = Some(line_seq);
    record(state, e);
    Ok(Placed { row, seq, place: place.into(), replayed: None })
}

/// A new priority (which moves the ticket among the line's priorities, keeping its order within
/// them) and/or notes.
async fn update(
    tx: &mut PgConnection,
    state: &mut BatchState,
    current: Current,
    priority: Option<i16>,
    notes: &Option<Option<String>>,
    actor: &str,
) -> Result<Placed> {
    if priority.is_some() && current.row.finished_at.is_some() {
        return Err(Conflict::InvalidTransition("a finished ticket has no priority to change".into()).into());
    }
    let row: TicketRow = sqlx::query_as(concat!(
        "UPDATE tickets t SET priority = COALESCE($2, t.priority), notes = CASE WHEN $3 THEN $4 ELSE t.notes END \
         WHERE t.id = $1 RETURNING ",
        ticket_cols!()
    ))
    .bind(current.row.id)
    .bind(priority)
    .bind(notes.is_some())
    .bind(notes.clone().flatten())
    .fetch_one(&mut *tx)
    .await?;
    let place = if row.in_line { counted_position(tx, row.id).await? } else { None };
    let queue_id = row.queue_id;
    let seq = bump(queue(state, queue_id)?);
    let e = event(queue_id, seq, EventKind::ticket(words::UPDATED), Some(row.view(seq, place)), actor, None, None);
    record(state, e);
    Ok(Placed { row, seq, place: place.into(), replayed: None })
}
