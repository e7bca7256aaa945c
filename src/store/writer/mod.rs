//! The write path: every change to a queue, batched per node into few durable commits.
//!
//! A NOTIFY inside a transaction holds a global lock across the WAL flush, so commits that
//! notify do not group (~835/s on our 2-core machines). The writer therefore drains every change
//! waiting at that moment into one transaction:
//!
//! 1. per tenant (sorted), name the tenant and lock the rows of every queue the changes touch,
//!    in id order (so writers on other nodes can never deadlock with us), reading their counters;
//! 2. apply each change with one statement, numbering its events from the locked counters;
//! 3. append all events (and, in the same statement, the webhook deliveries they match), queue
//!    the `ticket.ahead` notifications of lines that moved, and store the counters, each in one
//!    set-based statement;
//! 4. one NOTIFY per ~7 KB of events, then COMMIT, and only then answer every request.
//!
//! Under light load a batch is one change and nothing waits; under a flash crowd thousands of
//! joins share a handful of commits.
//!
//! Changes are checked before they run (state machine, queue status, capacity, the line), so a
//! statement failing is rare; when one does, the whole attempt is rolled back and the batch is
//! run again with a savepoint around each change, so the bad change fails alone and the others
//! commit. Savepoints are not used on the fast path: each one that writes is a subtransaction,
//! and more than 64 in a transaction overflow PostgreSQL's subtransaction cache, which slows
//! every other session's snapshots.

mod apply;
mod batch;
mod booking;
mod bulk;
mod clock;
mod control;
mod flush;
mod presence;

use batch::{Batch, BatchState, QueueState};
pub(crate) use clock::{Timed, TimedKind, SYSTEM};
pub use control::MoveTo;
pub(crate) use control::{LineChange, LineOp};
pub(crate) use flush::{ahead_positions, MAX_NOTIFY_AHEAD};
pub(crate) use presence::Mark;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use sqlx::PgPool;
use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::cache::{Caches, Pace};
use super::rows::TicketRow;
use super::{Result, StoreError};
use crate::domain::Queue;
use crate::domain::{Event, QueueStatus};
use crate::tasks::Tasks;

/// Changes waiting for the writer, at most. Past this a request is answered 503 at once rather
/// than queued without bound.
const QUEUE_DEPTH: usize = 65_536;

/// What a customer gives when joining.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct JoinRequest {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub party_size: Option<i32>,
    pub fields: serde_json::Value,
    /// Who to tell off the page, with the customer's consent (checked). Left out of the
    /// idempotency hash when absent, so keys stored before it existed still match. Boxed: most
    /// joins give none, and every change waiting for the writer is as large as a join.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<Box<crate::domain::notify::Contacts>>,
}

/// A change to a queue's status, name, capacity (`Some(None)` removes the capacity) or settings.
#[derive(Debug, Clone, Default)]
pub struct QueuePatch {
    pub status: Option<QueueStatus>,
    pub name: Option<String>,
    pub capacity: Option<Option<i32>>,
    /// Settings keys to set (each replaces its whole value) or, when null, to remove; the
    /// others are kept. Applied under the row lock, so concurrent patches of different keys
    /// both stand.
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// Some(None): at no site.
    pub location_id: Option<Option<Uuid>>,
}

/// A change to a ticket (a join makes one), answered with the ticket as the change left it.
/// A transfer touches two queues; the others one.
pub(crate) enum TicketChange {
    Join {
        queue_id: Uuid,
        ticket_id: Uuid,
        request: JoinRequest,
        token_hash: Vec<u8>,
        idempotency: Option<Idempotency>,
        pace: Arc<Pace>,
        /// `customer`, or who made it for them (a walk-in's staff member, a kiosk; for a
        /// check-in, who checked the customer in).
        actor: String,
        /// A booked customer checking in: the appointment this ticket is for, and where it
        /// enters the line.
        check_in: Option<CheckInPlan>,
    },
    CallNext {
        queue_id: Uuid,
        counter: String,
        actor: String,
    },
    Transition(Transition),
    Transfer(Transfer),
    /// A called timeout or an expiry, made by the clock.
    Timed(Timed),
    /// A snooze, a move, a priority or notes, presence.
    Line(LineChange),
}

/// A checked-in appointment's ticket: its appointment (marked `checked_in` with the ticket, in
/// the same transaction) and where it enters the line: at the place of a join at `placed_as_of`
/// (see `domain::appointment`), or at the end when None (a late arrival).
#[derive(Debug, Clone)]
pub(crate) struct CheckInPlan {
    pub appointment_id: Uuid,
    pub placed_as_of: Option<DateTime<Utc>>,
}

/// A change to an appointment, answered with the appointment as it left it. Each is an event
/// of its queue's log, made under the queue's row lock.
pub(crate) enum AppointmentChange {
    Book(Box<Booking>),
    /// To another free slot of the same queue.
    Reschedule {
        queue_id: Uuid,
        appointment_id: Uuid,
        slot: crate::domain::appointment::Slot,
        opens_at: DateTime<Utc>,
        missed_at: DateTime<Utc>,
        per_slot: u32,
        /// The reminders owed at the new time (when it has contacts for them).
        reminders: Vec<i32>,
        actor: String,
    },
    Cancel {
        queue_id: Uuid,
        appointment_id: Uuid,
        actor: String,
    },
    /// Nobody checked in: by the clock at `missed_at` (if that is still its `missed_at`), or by
    /// staff (`missed_at: None`) at any time before check-in.
    Miss {
        queue_id: Uuid,
        appointment_id: Uuid,
        missed_at: Option<DateTime<Utc>>,
        actor: String,
    },
}

impl AppointmentChange {
    fn queue_id(&self) -> Uuid {
        match self {
            AppointmentChange::Book(b) => b.queue_id,
            AppointmentChange::Reschedule { queue_id, .. }
            | AppointmentChange::Cancel { queue_id, .. }
            | AppointmentChange::Miss { queue_id, .. } => *queue_id,
        }
    }
}

/// A new booking.
pub(crate) struct Booking {
    pub queue_id: Uuid,
    pub appointment_id: Uuid,
    pub slot: crate::domain::appointment::Slot,
    pub per_slot: u32,
    pub opens_at: DateTime<Utc>,
    pub missed_at: DateTime<Utc>,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub lang: String,
    /// Where reminders go, given with consent.
    pub notify_sms: Option<String>,
    pub notify_email: Option<String>,
    /// The reminders it is owed: minutes before its start, largest first, all still ahead.
    pub reminders: Vec<i32>,
    /// The token sealed for the reminders' links.
    pub link_sealed: Vec<u8>,
    pub token_hash: Vec<u8>,
    pub idempotency: Option<Idempotency>,
}

/// An appointment as a committed change left it; for a replayed booking, its sealed token.
#[derive(Debug)]
pub(crate) struct Booked {
    pub row: crate::store::appointments::AppointmentRow,
    pub replayed: Option<Vec<u8>>,
}

/// A named transition of a ticket's state machine.
pub(crate) struct Transition {
    pub queue_id: Uuid,
    pub ticket_id: Uuid,
    pub ticket_type_id: Uuid,
    pub name: String,
    pub counter: Option<String>,
    pub actor: String,
}

/// A ticket moved to the end of another queue's line.
pub(crate) struct Transfer {
    pub queue_id: Uuid,
    pub ticket_id: Uuid,
    pub to_queue: Uuid,
    pub actor: String,
}

impl TicketChange {
    /// The queues whose rows the change locks.
    fn queues(&self) -> impl Iterator<Item = Uuid> {
        let (a, b) = match self {
            TicketChange::Join { queue_id, .. }
            | TicketChange::CallNext { queue_id, .. }
            | TicketChange::Transition(Transition { queue_id, .. })
            | TicketChange::Timed(Timed { queue_id, .. })
            | TicketChange::Line(LineChange { queue_id, .. }) => (*queue_id, None),
            TicketChange::Transfer(Transfer { queue_id, to_queue, .. }) => (*queue_id, Some(*to_queue)),
        };
        std::iter::once(a).chain(b)
    }
}

/// A change to a queue itself (status, name, capacity, settings), answered with the queue.
pub(crate) struct QueueChange {
    pub queue_id: Uuid,
    pub patch: QueuePatch,
    pub actor: String,
    /// The clock's time when the change was asked for: what daily numbers go by.
    pub now: DateTime<Utc>,
    /// The queue's next opening or closing, to store with the patch (`Some(None)`: none), when
    /// the patch sets or removes its hours.
    pub reschedule: Option<Option<DateTime<Utc>>>,
    /// Set by the clock: not a patch, but the queue's hours applied as of `now`, and only if its
    /// `hours_due_at` is still this (another node's clock may have applied them first).
    pub due: Option<DateTime<Utc>>,
    /// A change through the API is audited, in the change's own transaction (the clock's are
    /// events, not audited).
    pub audit: Option<Audited>,
}

/// Where an audited queue change came from.
pub(crate) struct Audited {
    pub tenant: Uuid,
    pub via: crate::store::Via,
}

/// The idempotency record of a join, as stored.
pub(crate) struct Idempotency {
    pub key_hash: Vec<u8>,
    pub request_hash: Vec<u8>,
    pub token_sealed: Vec<u8>,
}

/// A ticket as a committed ticket change left it.
#[derive(Debug)]
pub(crate) struct Placed {
    pub row: TicketRow,
    /// The seq of the event this view reflects.
    pub seq: i64,
    pub place: Place,
    /// For a replayed join: the sealed token of the original ticket.
    pub replayed: Option<Vec<u8>>,
}

/// Where a placed ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In line at this position (1 = next).
    At(u32),
    /// Not in line.
    Out,
    /// In line, its position not counted inside the batch (a join replayed from a key an earlier
    /// batch committed): counting a line inside the writer costs every change of the batch, so
    /// whoever answers finds it outside.
    Owed,
}

impl From<Option<u32>> for Place {
    fn from(position: Option<u32>) -> Place {
        position.map_or(Place::Out, Place::At)
    }
}

/// A change waiting for the writer, and where its answer goes: a ticket change can only be
/// answered with a ticket, a queue change with a queue.
struct Pending<C, T> {
    tenant: Uuid,
    change: C,
    reply: oneshot::Sender<Result<T>>,
}

type TicketPending = Pending<TicketChange, Placed>;
type QueuePending = Pending<QueueChange, Queue>;
type AppointmentPending = Pending<AppointmentChange, Booked>;

/// What the writer receives: a change, or a request to be told once every change received
/// before it is committed (or refused). Not boxed: nearly every message is a ticket change,
/// which the channel held unboxed before flushes existed.
#[allow(clippy::large_enum_variant)]
enum Message {
    Ticket(TicketPending),
    Queue(QueuePending),
    Appointment(AppointmentPending),
    /// A customer came or went: nobody waits for it.
    Presence(Mark),
    Flushed(oneshot::Sender<()>),
}

/// The events of one committed batch, shared by every in-process listener.
pub type Committed = Arc<[Arc<Event>]>;

/// Committed batches kept for in-process listeners. One that falls further behind skips ahead
/// (the NOTIFY feed and the poll still bring it everything).
const COMMITTED: usize = 1024;

/// The handle the store submits changes through. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Message>,
    committed: broadcast::Sender<Committed>,
    outboxes: Arc<Outboxes>,
    committing: Arc<Committing>,
    /// The size of the last batch committed: how much the node is writing.
    last_batch: Arc<std::sync::atomic::AtomicUsize>,
}

/// The queues whose events this node's writer is committing, up to which seq: from just before
/// a batch's COMMIT until every requester of the batch is answered. The NOTIFY feed leaves those
/// events to the local feed, which brings them right after: offered first, they could make a
/// hub wake every socket of a queue before the writer woke the requesters, and on a worker's
/// single-threaded runtime a request's answer then waited behind its thousands of sends
/// (100-200 ms for a staff member's call at 10,000 sockets; BENCHMARKS.md, "Quieter nodes").
/// One case loses the NOTIFY: a COMMIT that reached PostgreSQL but whose answer came after the
/// attempt's deadline, when the notification arrived before the writer gave up. Its events then
/// reach the hubs with the next event of their queue (a gap, filled) or the poll, within 3 s.
#[derive(Default)]
pub struct Committing(DashMap<Uuid, i64>);

impl Committing {
    /// Whether the event `seq` of `queue` is this node's, still being answered.
    pub fn holds(&self, queue: Uuid, seq: i64) -> bool {
        self.0.get(&queue).is_some_and(|upto| seq <= *upto)
    }

    fn mark(&self, events: &[Arc<Event>]) {
        for e in events {
            self.0.entry(e.queue_id).and_modify(|upto| *upto = (*upto).max(e.seq)).or_insert(e.seq);
        }
    }

    fn clear(&self) {
        self.0.clear();
    }

    /// Clears every mark when dropped (the writer commits one batch at a time).
    fn clear_on_drop(&self) -> impl Drop + '_ {
        struct Clear<'a>(&'a Committing);
        impl Drop for Clear<'_> {
            fn drop(&mut self) {
                self.0.clear();
            }
        }
        Clear(self)
    }
}

/// What wakes each outbox's sender: a commit that wrote to it (from this node; other nodes' rows
/// are found by polling). A wake with nobody waiting is kept for the sender's next wait.
#[derive(Default)]
pub struct Outboxes {
    /// Messages to send (`notifications`).
    pub messages: Notify,
    /// Webhook deliveries (`webhook_deliveries`).
    pub deliveries: Notify,
}

impl Outboxes {
    fn wake(&self, wrote: batch::Wrote) {
        if wrote.messages {
            self.messages.notify_one();
        }
        if wrote.deliveries {
            self.deliveries.notify_one();
        }
    }
}

/// Changes in a batch, or waiting, from which the writer counts as busy (see [`Writer::busy`]).
const BUSY: usize = 32;

impl Writer {
    pub(super) fn start(pool: PgPool, caches: Arc<Caches>, max_batch: usize, tasks: &Tasks) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (committed, _) = broadcast::channel(COMMITTED);
        let last_batch = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let outboxes = Arc::new(Outboxes::default());
        let committing = Arc::new(Committing::default());
        let tells = Tells {
            committed: committed.clone(),
            outboxes: outboxes.clone(),
            committing: committing.clone(),
            last_batch: last_batch.clone(),
        };
        tasks.spawn_graceful("writer", move |stop| run(pool, caches, rx, max_batch.max(1), tells, stop));
        Writer { tx, committed, outboxes, committing, last_batch }
    }

    /// What wakes the outboxes' senders.
    pub fn outboxes(&self) -> &Outboxes {
        &self.outboxes
    }

    /// The events this node is committing and has not yet answered for.
    pub fn committing(&self) -> &Committing {
        &self.committing
    }

    /// Whether the node is writing a crowd's changes (its last batch, or the changes waiting,
    /// count at least [`BUSY`]): work that can wait (the message sender) gives way meanwhile.
    pub fn busy(&self) -> bool {
        let waiting = self.tx.max_capacity() - self.tx.capacity();
        waiting >= BUSY || self.last_batch.load(std::sync::atomic::Ordering::Relaxed) >= BUSY
    }

    /// The events of every batch this node commits, after the commit.
    pub fn committed(&self) -> broadcast::Receiver<Committed> {
        self.committed.subscribe()
    }

    /// Submits a ticket change and waits until it is committed (or refused).
    pub(crate) async fn submit(&self, tenant: Uuid, change: TicketChange) -> Result<Placed> {
        self.send(|reply| Message::Ticket(Pending { tenant, change, reply })).await
    }

    /// Submits an appointment change and waits until it is committed (or refused).
    pub(crate) async fn book(&self, tenant: Uuid, change: AppointmentChange) -> Result<Booked> {
        self.send(|reply| Message::Appointment(Pending { tenant, change, reply })).await
    }

    /// Submits a queue change and waits until it is committed (or refused).
    pub(crate) async fn update_queue(&self, tenant: Uuid, change: QueueChange) -> Result<Queue> {
        self.send(|reply| Message::Queue(Pending { tenant, change, reply })).await
    }

    /// Tells a customer's presence, without waiting: false when the writer cannot take it now
    /// (full, or stopped), and the mark is dropped (presence is a hint; the next change tells).
    pub(crate) fn mark(&self, mark: Mark) -> bool {
        self.tx.try_send(Message::Presence(mark)).is_ok()
    }

    async fn send<T>(&self, message: impl FnOnce(oneshot::Sender<Result<T>>) -> Message) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(message(reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::Other(anyhow::anyhow!("the writer has stopped")),
        })?;
        answer.await.map_err(|_| StoreError::Other(anyhow::anyhow!("the writer dropped a change")))?
    }

    /// Waits until every change submitted before this call is committed or refused: so a node
    /// that stops does not drop a batch whose requester has gone away.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        // Waits for room rather than failing: stopping is when the queue may be full.
        if self.tx.send(Message::Flushed(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

/// What the writer tells the rest of the node: each commit's events, the outboxes it wrote to,
/// what it is committing, and how large its batches are.
struct Tells {
    committed: broadcast::Sender<Committed>,
    outboxes: Arc<Outboxes>,
    committing: Arc<Committing>,
    last_batch: Arc<std::sync::atomic::AtomicUsize>,
}

/// Commits batches until the node stops; then takes no new change (a submit answers that the
/// writer has stopped) and commits what it was already given before it ends.
async fn run(
    pool: PgPool,
    caches: Arc<Caches>,
    mut rx: mpsc::Receiver<Message>,
    max_batch: usize,
    tells: Tells,
    stop: CancellationToken,
) {
    let Tells { committed, outboxes, committing, last_batch } = tells;
    let mut received = Vec::with_capacity(max_batch);
    let mut flushed = Vec::new();
    // The connection batches are written on, kept between them (see `batch::within`).
    let mut held = None;
    loop {
        if rx.is_empty() {
            // Nothing waits: whatever comes next is no crowd yet.
            last_batch.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        let n = tokio::select! {
            n = rx.recv_many(&mut received, max_batch) => n,
            _ = stop.cancelled(), if !rx.is_closed() => {
                rx.close();
                continue;
            }
        };
        if n == 0 {
            break;
        }
        let mut batch = Batch::default();
        for message in received.drain(..) {
            match message {
                Message::Ticket(pending) => batch.tickets.push(pending),
                Message::Queue(pending) => batch.queues.push(pending),
                Message::Appointment(pending) => batch.appointments.push(pending),
                Message::Presence(mark) => batch.marks.push(mark),
                // Answered after this batch: every change received before it is in it or earlier.
                Message::Flushed(done) => flushed.push(done),
            }
        }
        if batch.is_empty() {
            for done in flushed.drain(..) {
                let _ = done.send(());
            }
            continue;
        }
        let size = batch.len();
        last_batch.store(size, std::sync::atomic::Ordering::Relaxed);
        let started = std::time::Instant::now();
        let (events, wrote, stalled) = batch::run(&pool, &mut held, &caches, &committing, batch).await;
        outboxes.wake(wrote);
        metrics::histogram!("queuecast_write_batch_size").record(size as f64);
        metrics::histogram!("queuecast_write_commit_seconds").record(started.elapsed().as_secs_f64());
        if stalled {
            // The database did not answer in time: what waits now would meet the same silence.
            // Answer it at once rather than one deadline after another (a flush is answered
            // with this batch).
            while let Ok(message) = rx.try_recv() {
                match message {
                    Message::Ticket(pending) => {
                        let _ = pending.reply.send(Err(StoreError::Unavailable));
                    }
                    Message::Queue(pending) => {
                        let _ = pending.reply.send(Err(StoreError::Unavailable));
                    }
                    Message::Appointment(pending) => {
                        let _ = pending.reply.send(Err(StoreError::Unavailable));
                    }
                    Message::Presence(_) => {}
                    Message::Flushed(done) => flushed.push(done),
                }
            }
        }
        // Calls, finishes and moves change a queue's pace; joins do not.
        for e in events.iter().filter(|e| e.kind.moves_pace()) {
            caches.pace_changed(e.queue_id);
        }
        if !events.is_empty() {
            // No listener is fine: nobody in this process is watching.
            let _ = committed.send(Arc::from(events));
        }
        tracing::debug!(size, elapsed_us = started.elapsed().as_micros() as u64, "committed batch");
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventKind;

    fn event(queue: Uuid, seq: i64) -> Arc<Event> {
        Arc::new(Event::bare(queue, seq, EventKind::QueueUpdated))
    }

    #[test]
    fn a_batch_holds_its_queues_events_up_to_its_last_until_it_is_answered() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let committing = Committing::default();
        {
            let _answered = committing.clear_on_drop();
            committing.mark(&[event(a, 7), event(a, 8), event(b, 3)]);
            assert!(committing.holds(a, 7) && committing.holds(a, 8) && committing.holds(b, 3));
            // Another node's next event of the queue, and queues the batch did not touch.
            assert!(!committing.holds(a, 9));
            assert!(!committing.holds(Uuid::new_v4(), 1));
        }
        assert!(!committing.holds(a, 8) && !committing.holds(b, 3), "answered: the NOTIFY feed offers them again");
    }
}
