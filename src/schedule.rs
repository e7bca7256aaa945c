//! The clock task: every node runs it, and together they apply what time brings, each change
//! once. Every tick it asks the database what is due at the clock's time (queues whose hours
//! open or close them, called tickets whose call timed out, waiting tickets that expired,
//! appointments nobody checked in for) and
//! submits each to this node's writer as a conditional change: whichever node's writer locks
//! the row first applies it, the others find it done (see `store::writer::clock`).
//!
//! Due work is found by polling, not by sleeping until the next due moment: another node may
//! change a queue's hours at any time, and a test may move the clock.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use crate::store::{Applied, Store};

/// The most queues, and tickets of each kind per queue, one tick takes on; the rest waits for
/// the next tick.
const PER_TICK: i32 = 500;

/// Runs for as long as the node: one round every `every`.
pub async fn run(store: Store, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = round(&store).await {
            tracing::warn!(cause = ?err, "the clock's round failed; trying again at the next tick");
        }
    }
}

/// Changes one round submits at once: the writer takes them in few batches.
const IN_FLIGHT: usize = 64;

/// One round: everything due at the clock's time now.
pub async fn round(store: &Store) -> crate::store::Result<()> {
    let now = store.clock().now();
    // One round trip a tick: every node asks, every second.
    let (hours, tickets) = store.due(now, PER_TICK).await?;
    apply_each(hours, "a queue's hours", |d| d.queue_id, |d| async move { store.apply_hours(&d, now).await }).await;
    apply_each(tickets, "a due ticket", |d| d.ticket_id, |d| async move { store.apply_due_ticket(&d).await }).await;
    let missed = store.due_appointments(now, PER_TICK).await?;
    apply_each(missed, "a missed appointment", |d| d.appointment_id, |d| async move { store.apply_missed(&d).await })
        .await;
    let reminders = store.due_reminders(now, PER_TICK).await?;
    apply_each(reminders, "a reminder", |d| d.appointment_id, |d| async move { store.remind(&d, now).await }).await;
    Ok(())
}

/// Applies each due change (`IN_FLIGHT` at once), saying what became of it: done here, done
/// already (by another node), or failed (tried again next round, as it is still due).
async fn apply_each<T, Fut>(due: Vec<T>, what: &str, id: impl Fn(&T) -> uuid::Uuid, apply: impl Fn(T) -> Fut)
where
    Fut: std::future::Future<Output = crate::store::Result<Applied>>,
{
    let (id, apply) = (&id, &apply);
    stream::iter(due)
        .for_each_concurrent(IN_FLIGHT, |due| async move {
            let id = id(&due);
            match apply(due).await {
                Ok(Applied::Here) => tracing::debug!(%id, what, "applied"),
                Ok(Applied::Already) => {}
                Err(err) => tracing::warn!(cause = ?err, %id, what, "applying a due change failed"),
            }
        })
        .await;
}
