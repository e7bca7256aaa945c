//! Customers coming and going (`ticket.present`, `ticket.away`), many in one statement.
//!
//! Presence is told by sockets, not asked for by a request: nobody waits for its answer, so a
//! mark is sent to the writer without a reply and a crowd's marks cost one UPDATE per batch
//! (ten thousand sockets opening at once were ten thousand statements, each a round trip, and
//! a task each waiting for its answer).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::apply::{bump, event, record};
use super::clock::SYSTEM;
use super::BatchState;
use crate::domain::event::words;
use crate::domain::{EventKind, Presence};
use crate::store::Result;

/// A customer came (their page opened) or went, as a socket saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    pub tenant: Uuid,
    pub queue_id: Uuid,
    pub ticket_id: Uuid,
    pub present: bool,
    pub at: DateTime<Utc>,
}

/// Applies one tenant's marks: a ticket of a locked queue, unfinished, whose presence the mark
/// changes gets an event; the others are already so and write nothing. Of several marks of one
/// ticket the last told stands (a flicker inside one batch is nobody's news).
pub(super) async fn apply(tx: &mut PgConnection, state: &mut BatchState, marks: &[Mark]) -> Result<()> {
    // By ticket and queue: a mark told under a queue the ticket is not in matches nothing, and
    // must not hide one told under the right queue.
    let mut last: HashMap<(Uuid, Uuid), usize> = HashMap::with_capacity(marks.len());
    for (i, m) in marks.iter().enumerate() {
        if state.queues.contains_key(&m.queue_id) {
            last.insert((m.ticket_id, m.queue_id), i);
        }
    }
    if last.is_empty() {
        return Ok(());
    }
    let mut order: Vec<usize> = last.into_values().collect();
    order.sort_unstable();
    let chosen: Vec<&Mark> = order.iter().map(|&i| &marks[i]).collect();
    let changed: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE tickets t SET present = v.present, present_at = v.at \
         FROM unnest($1::uuid[], $2::uuid[], $3::bool[], $4::timestamptz[]) AS v(id, queue_id, present, at) \
         WHERE t.id = v.id AND t.queue_id = v.queue_id AND t.finished_at IS NULL AND t.present <> v.present \
         RETURNING t.id, t.queue_id",
    )
    .bind(chosen.iter().map(|m| m.ticket_id).collect::<Vec<_>>())
    .bind(chosen.iter().map(|m| m.queue_id).collect::<Vec<_>>())
    .bind(chosen.iter().map(|m| m.present).collect::<Vec<_>>())
    .bind(chosen.iter().map(|m| m.at).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    // By ticket and queue again: a mark told under the wrong queue changed nothing, even when
    // another mark of the same ticket did.
    let changed: HashSet<(Uuid, Uuid)> = changed.into_iter().collect();
    // Numbered in the order they were told.
    for m in chosen.into_iter().filter(|m| changed.contains(&(m.ticket_id, m.queue_id))) {
        let Some(q) = state.queues.get_mut(&m.queue_id) else { continue };
        let seq = bump(q);
        let (word, actor) = if m.present { (words::PRESENT, "customer") } else { (words::AWAY, SYSTEM) };
        let mut e = event(m.queue_id, seq, EventKind::ticket(word), None, actor, None, None);
        e.presence = Some(Presence { ticket_id: m.ticket_id, present: m.present, at: m.at });
        record(state, e);
    }
    Ok(())
}
