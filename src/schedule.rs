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
    stream::iter(hours)
        .for_each_concurrent(IN_FLIGHT, |due| async move {
            match store.apply_hours(&due, now).await {
                Ok(Applied::Here) => tracing::debug!(queue = %due.queue_id, "applied the queue's hours"),
                Ok(Applied::Already) => {}
                Err(err) => tracing::warn!(cause = ?err, queue = %due.queue_id, "applying the queue's hours failed"),
            }
        })
        .await;
    stream::iter(tickets)
        .for_each_concurrent(IN_FLIGHT, |due| async move {
            match store.apply_due_ticket(&due).await {
                Ok(Applied::Here) => tracing::debug!(ticket = %due.ticket_id, kind = due.kind, "applied a due ticket"),
                Ok(Applied::Already) => {}
                Err(err) => tracing::warn!(cause = ?err, ticket = %due.ticket_id, "applying a due ticket failed"),
            }
        })
        .await;
    let missed = store.due_appointments(now, PER_TICK).await?;
    stream::iter(missed)
        .for_each_concurrent(IN_FLIGHT, |due| async move {
            match store.apply_missed(&due).await {
                Ok(Applied::Here) => tracing::debug!(appointment = %due.appointment_id, "marked an appointment missed"),
                Ok(Applied::Already) => {}
                Err(err) => tracing::warn!(cause = ?err, appointment = %due.appointment_id, "marking an appointment missed failed"),
            }
        })
        .await;
    let reminders = store.due_reminders(now, PER_TICK).await?;
    stream::iter(reminders)
        .for_each_concurrent(IN_FLIGHT, |due| async move {
            match store.remind(&due, now).await {
                Ok(Applied::Here) => tracing::debug!(appointment = %due.appointment_id, "wrote a reminder"),
                Ok(Applied::Already) => {}
                Err(err) => {
                    tracing::warn!(cause = ?err, appointment = %due.appointment_id, "writing a reminder failed")
                }
            }
        })
        .await;
    Ok(())
}
