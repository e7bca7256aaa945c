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
mod bulk;
mod flush;

pub(crate) use flush::{ahead_positions, MAX_NOTIFY_AHEAD};

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{PgConnection, PgPool};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::cache::{Caches, Pace};
use super::rows::{Queue, TicketRow};
use super::{Result, StoreError};
use crate::domain::{Event, EventKind, Notification, QueueStatus};
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
}

/// A change to a queue's status, name or capacity (`Some(None)` removes the capacity).
#[derive(Debug, Clone, Default)]
pub struct QueuePatch {
    pub status: Option<QueueStatus>,
    pub name: Option<String>,
    pub capacity: Option<Option<i32>>,
}

/// One change to one queue (a transfer touches two).
pub(crate) enum Change {
    Join {
        queue_id: Uuid,
        ticket_id: Uuid,
        request: JoinRequest,
        token_hash: Vec<u8>,
        idempotency: Option<Idempotency>,
        pace: Arc<Pace>,
    },
    CallNext {
        queue_id: Uuid,
        counter: String,
        actor: String,
    },
    Transition {
        queue_id: Uuid,
        ticket_id: Uuid,
        ticket_type_id: Uuid,
        name: String,
        counter: Option<String>,
        actor: String,
    },
    Transfer {
        queue_id: Uuid,
        ticket_id: Uuid,
        to_queue: Uuid,
        actor: String,
    },
    UpdateQueue {
        queue_id: Uuid,
        patch: QueuePatch,
        actor: String,
    },
}

impl Change {
    /// The queues whose rows the change locks.
    fn queues(&self) -> impl Iterator<Item = Uuid> {
        let (a, b) = match self {
            Change::Join { queue_id, .. }
            | Change::CallNext { queue_id, .. }
            | Change::Transition { queue_id, .. }
            | Change::UpdateQueue { queue_id, .. } => (*queue_id, None),
            Change::Transfer { queue_id, to_queue, .. } => (*queue_id, Some(*to_queue)),
        };
        std::iter::once(a).chain(b)
    }
}

/// The idempotency record of a join, as stored.
pub(crate) struct Idempotency {
    pub key_hash: Vec<u8>,
    pub request_hash: Vec<u8>,
    pub token_sealed: Vec<u8>,
}

/// What a committed change produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    Ticket {
        row: TicketRow,
        /// The seq of the event this view reflects.
        seq: i64,
        position: Option<u32>,
        /// For a replayed join: the sealed token of the original ticket.
        replayed: Option<Vec<u8>>,
    },
    Queue(Queue),
}

struct Pending {
    tenant: Uuid,
    change: Change,
    reply: oneshot::Sender<Result<Outcome>>,
}

/// What the writer receives: a change, or a request to be told once every change received
/// before it is committed (or refused). Not boxed: nearly every message is a change, which the
/// channel held unboxed before flushes existed.
#[allow(clippy::large_enum_variant)]
enum Message {
    Change(Pending),
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
}

impl Writer {
    pub(super) fn start(pool: PgPool, caches: Arc<Caches>, max_batch: usize, tasks: &Tasks) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (committed, _) = broadcast::channel(COMMITTED);
        let sent = committed.clone();
        tasks.spawn_graceful("writer", move |stop| run(pool, caches, rx, max_batch.max(1), sent, stop));
        Writer { tx, committed }
    }

    /// The events of every batch this node commits, after the commit.
    pub fn committed(&self) -> broadcast::Receiver<Committed> {
        self.committed.subscribe()
    }

    /// Submits a change and waits until it is committed (or refused).
    pub(crate) async fn submit(&self, tenant: Uuid, change: Change) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(Message::Change(Pending { tenant, change, reply })).map_err(|e| match e {
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

/// Commits batches until the node stops; then takes no new change (a submit answers that the
/// writer has stopped) and commits what it was already given before it ends.
async fn run(
    pool: PgPool,
    caches: Arc<Caches>,
    mut rx: mpsc::Receiver<Message>,
    max_batch: usize,
    committed: broadcast::Sender<Committed>,
    stop: CancellationToken,
) {
    let mut received = Vec::with_capacity(max_batch);
    let mut flushed = Vec::new();
    loop {
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
        let mut batch = Vec::with_capacity(received.len());
        for message in received.drain(..) {
            match message {
                Message::Change(pending) => batch.push(pending),
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
        let started = std::time::Instant::now();
        let (events, stalled) = run_batch(&pool, &caches, batch).await;
        metrics::histogram!("queuecast_write_batch_size").record(size as f64);
        metrics::histogram!("queuecast_write_commit_seconds").record(started.elapsed().as_secs_f64());
        if stalled {
            // The database did not answer in time: what waits now would meet the same silence.
            // Answer it at once rather than one deadline after another (a flush is answered
            // with this batch).
            while let Ok(message) = rx.try_recv() {
                match message {
                    Message::Change(pending) => {
                        let _ = pending.reply.send(Err(StoreError::Unavailable));
                    }
                    Message::Flushed(done) => flushed.push(done),
                }
            }
        }
        // Calls, finishes and moves change a queue's pace; joins do not.
        for e in events.iter().filter(|e| e.kind != EventKind::Joined) {
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

/// How long one attempt at a batch may take. Past it the database is taken as unreachable (a
/// black-holed connection never errors by itself) and the batch's changes answer `unavailable`:
/// not known to be done. If its commit did reach PostgreSQL, its events still arrive through
/// the other feeds, and an idempotent join retried gets the same ticket.
const ATTEMPT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(4);

/// Runs one batch: fast, then with savepoints if anything failed; answers every change and
/// returns the events it committed, and whether the database stopped answering.
async fn run_batch(pool: &PgPool, caches: &Caches, mut batch: Vec<Pending>) -> (Vec<Arc<Event>>, bool) {
    // Tenants in a fixed order (lock order across nodes); within a tenant, arrival order.
    batch.sort_by_key(|p| p.tenant);
    let pending = &batch;
    let within =
        |mode| async move { tokio::time::timeout(ATTEMPT_DEADLINE, attempt(pool, caches, pending, mode)).await.ok() };
    let Some(first) = within(Mode::Fast).await else {
        tracing::warn!(size = batch.len(), "the database did not answer a batch in time");
        for pending in batch {
            let _ = pending.reply.send(Err(StoreError::Unavailable));
        }
        return (Vec::new(), true);
    };
    let (results, events) = match first {
        Ok(results) => results,
        Err(err) => {
            tracing::warn!(cause = ?err, size = batch.len(), "batch failed; running it again change by change");
            match within(Mode::Savepoints).await.unwrap_or(Err(StoreError::Unavailable)) {
                Ok(results) => results,
                Err(err) => {
                    tracing::error!(cause = ?err, size = batch.len(), "batch failed");
                    let unreachable = match &err {
                        StoreError::Db(e) => super::is_unreachable(e),
                        e => matches!(e, StoreError::Unavailable),
                    };
                    let message = err.to_string();
                    let answer = || match unreachable {
                        true => StoreError::Unavailable,
                        false => StoreError::Other(anyhow::anyhow!("the batch failed: {message}")),
                    };
                    (batch.iter().map(|_| Err(answer())).collect(), Vec::new())
                }
            }
        }
    };
    for (pending, result) in batch.into_iter().zip(results) {
        // A requester that gave up (client gone) no longer listens; the change stands.
        let _ = pending.reply.send(result);
    }
    (events, false)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No savepoints: any failed statement fails the attempt.
    Fast,
    /// A savepoint around each change: a failed statement fails only its change.
    Savepoints,
}

/// The counters of a locked queue, as the batch moves them.
#[derive(Debug, Clone, sqlx::FromRow)]
struct QueueState {
    id: Uuid,
    status: QueueStatus,
    capacity: Option<i32>,
    waiting: i32,
    last_seq: i64,
    next_number: i32,
    prefix: String,
    ticket_type_id: Uuid,
    /// `settings.notify_ahead`: the positions whose ticket gets a `ticket.ahead` notification.
    notify_ahead: Option<serde_json::Value>,
    /// Moved by this batch: its counters are stored at the end.
    #[sqlx(default)]
    dirty: bool,
}

/// Idempotency records one tenant's part of a batch has produced but not yet written.
#[derive(Default)]
struct Unwritten {
    keys: Vec<KeyRow>,
}

/// An idempotency record as stored: (key hash, request hash, ticket id, sealed token).
type KeyRow = (Vec<u8>, Vec<u8>, Uuid, Vec<u8>);

/// An idempotency record: (request hash, ticket id, sealed token), by key hash.
type Keys = HashMap<Vec<u8>, (Vec<u8>, Uuid, Vec<u8>)>;

/// Everything of the batch so far that later changes may need to see.
struct BatchState {
    queues: HashMap<Uuid, QueueState>,
    /// Idempotency records by key hash.
    keys: Keys,
    unwritten: Unwritten,
    /// This tenant's events so far, in seq order per queue; `events[..written]` are inserted.
    events: Vec<Arc<Event>>,
    written: usize,
}

type Attempt = (Vec<Result<Outcome>>, Vec<Arc<Event>>);

async fn attempt(pool: &PgPool, caches: &Caches, batch: &[Pending], mode: Mode) -> Result<Attempt> {
    let mut tx = pool.begin().await?;
    let mut results: Vec<Result<Outcome>> = Vec::with_capacity(batch.len());
    let mut all_events = Vec::new();

    for group in batch.chunk_by(|a, b| a.tenant == b.tenant) {
        let tenant = group[0].tenant;
        super::set_tenant(&mut tx, tenant).await?;
        let mut ids: Vec<Uuid> = group.iter().flat_map(|p| p.change.queues()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut state = BatchState {
            queues: lock_queues(&mut tx, &ids).await?,
            keys: load_keys(&mut tx, tenant, group).await?,
            unwritten: Unwritten::default(),
            events: Vec::new(),
            written: 0,
        };

        match mode {
            Mode::Fast => results.extend(apply_group(&mut tx, caches, &mut state, tenant, group).await?),
            Mode::Savepoints => {
                for pending in group {
                    results.push(apply_alone(&mut tx, caches, &mut state, &pending.change, tenant).await);
                }
            }
        }
        flush::write_unwritten(&mut tx, tenant, &mut state).await?;
        flush::notify_ahead(&mut tx, &state.queues).await?;
        flush::store_counters(&mut tx, &state.queues).await?;
        all_events.append(&mut state.events);
    }

    let borrowed: Vec<&Event> = all_events.iter().map(|e| &**e).collect();
    for payload in Notification::payloads(&borrowed) {
        sqlx::query("SELECT pg_notify('queuecast', $1)").bind(payload).execute(&mut *tx).await?;
    }
    tx.commit().await.map_err(commit_error)?;
    Ok((results, all_events))
}

/// A tenant's changes without savepoints: all joins in one statement, then all call-nexts in
/// one, then the rest one by one. Any failed statement fails the attempt.
async fn apply_group(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    tenant: Uuid,
    group: &[Pending],
) -> Result<Vec<Result<Outcome>>> {
    let indexed: Vec<(usize, &Change)> = group.iter().map(|p| &p.change).enumerate().collect();
    let (joins, rest): (Vec<_>, Vec<_>) = indexed.into_iter().partition(|(_, c)| matches!(c, Change::Join { .. }));
    let (calls, rest): (Vec<_>, Vec<_>) = rest.into_iter().partition(|(_, c)| matches!(c, Change::CallNext { .. }));
    let mut results: Vec<Option<Result<Outcome>>> = group.iter().map(|_| None).collect();
    let mut outcomes = bulk::joins(tx, caches, state, tenant, &joins).await?;
    outcomes.extend(bulk::calls(tx, caches, state, &calls).await?);
    for (i, change) in rest {
        match apply::apply(tx, caches, state, change).await {
            Err(StoreError::Db(err)) => return Err(StoreError::Db(err)),
            other => outcomes.push((i, other)),
        }
    }
    for (i, outcome) in outcomes {
        results[i] = Some(outcome);
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| StoreError::Other(anyhow::anyhow!("a change got no outcome"))))
        .collect()
}

/// One change, by whichever path applies it.
async fn apply_one(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    tenant: Uuid,
    change: &Change,
) -> Result<Outcome> {
    let one = [(0, change)];
    let outcomes = match change {
        Change::Join { .. } => bulk::joins(tx, caches, state, tenant, &one).await?,
        Change::CallNext { .. } => bulk::calls(tx, caches, state, &one).await?,
        _ => return apply::apply(tx, caches, state, change).await,
    };
    outcomes
        .into_iter()
        .next()
        .map(|(_, outcome)| outcome)
        .unwrap_or_else(|| Err(StoreError::Other(anyhow::anyhow!("a change got no outcome"))))
}

/// One change inside its own savepoint; on failure, the batch state is as before it.
async fn apply_alone(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    change: &Change,
    tenant: Uuid,
) -> Result<Outcome> {
    let queues_before = state.queues.clone();
    let (events_before, keys_before) = (state.events.len(), state.keys.clone());
    sqlx::query("SAVEPOINT change").execute(&mut *tx).await?;
    let result = match apply_one(&mut *tx, caches, state, tenant, change).await {
        Ok(outcome) => flush::write_unwritten(&mut *tx, tenant, state).await.map(|()| outcome),
        Err(err) => Err(err),
    };
    match result {
        Ok(outcome) => {
            sqlx::query("RELEASE SAVEPOINT change").execute(&mut *tx).await?;
            Ok(outcome)
        }
        Err(err) => {
            sqlx::query("ROLLBACK TO SAVEPOINT change").execute(&mut *tx).await?;
            state.queues = queues_before;
            state.events.truncate(events_before);
            // Each change before this one was written when it succeeded.
            state.written = events_before;
            state.keys = keys_before;
            state.unwritten = Unwritten::default();
            Err(apply::meaning_of(err))
        }
    }
}

/// Locks the queues' rows in id order and reads their counters. Deleted queues are not found.
async fn lock_queues(tx: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, QueueState>> {
    let rows: Vec<(Uuid, QueueState)> = sqlx::query_as::<_, QueueState>(
        "SELECT id, status, capacity, waiting, last_seq, next_number, prefix, ticket_type_id, \
           settings->'notify_ahead' AS notify_ahead \
         FROM queues WHERE id = ANY($1) AND deleted_at IS NULL ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|q| (q.id, q))
    .collect();
    Ok(rows.into_iter().collect())
}

/// The live idempotency records of the batch's joins.
async fn load_keys(tx: &mut PgConnection, tenant: Uuid, group: &[Pending]) -> Result<Keys> {
    let hashes: Vec<&[u8]> = group
        .iter()
        .filter_map(|p| match &p.change {
            Change::Join { idempotency: Some(i), .. } => Some(i.key_hash.as_slice()),
            _ => None,
        })
        .collect();
    if hashes.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<KeyRow> = sqlx::query_as(
        "SELECT key_hash, request_hash, ticket_id, token_sealed FROM idempotency_keys \
         WHERE tenant_id = $1 AND key_hash = ANY($2) AND expires_at > now()",
    )
    .bind(tenant)
    .bind(hashes)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|(k, r, t, s)| (k, (r, t, s))).collect())
}

/// A full NOTIFY queue fails the commit (nothing was applied): the service is unavailable.
fn commit_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("54000") => StoreError::Overloaded,
        _ => StoreError::Db(err),
    }
}
