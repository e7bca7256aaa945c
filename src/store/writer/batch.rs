//! One batch: the changes drained at one moment, applied in one transaction (fast, then with a
//! savepoint per change if a statement failed), and every requester answered.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use uuid::Uuid;

use super::{apply, booking, bulk, flush, Placed, QueueChange, QueuePending, TicketChange, TicketPending};
use super::{presence, AppointmentChange, AppointmentPending, Booked, Committing, Mark};
use crate::domain::Queue;
use crate::domain::{Event, Notification, QueueStatus};
use crate::store::cache::Caches;
use crate::store::{Result, StoreError};

/// How long one attempt at a batch may take. Past it the database is taken as unreachable (a
/// black-holed connection never errors by itself) and the batch's changes answer `unavailable`:
/// not known to be done. If its commit did reach PostgreSQL, its events still arrive through
/// the other feeds, and an idempotent join retried gets the same ticket.
const ATTEMPT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(4);

/// The changes drained at one moment, by kind: each kind is answered with its own type.
#[derive(Default)]
pub(super) struct Batch {
    pub tickets: Vec<TicketPending>,
    pub queues: Vec<QueuePending>,
    pub appointments: Vec<AppointmentPending>,
    /// Presence told by sockets, in arrival order; nobody waits for them.
    pub marks: Vec<Mark>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.tickets.len() + self.queues.len() + self.appointments.len() + self.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Answers every change with the same refusal.
    pub fn refuse(self, err: impl Fn() -> StoreError) {
        for p in self.tickets {
            let _ = p.reply.send(Err(err()));
        }
        for p in self.queues {
            let _ = p.reply.send(Err(err()));
        }
        for p in self.appointments {
            let _ = p.reply.send(Err(err()));
        }
    }

    /// The batch's tenants in lock order, each with its changes of each kind (all sorted by
    /// tenant beforehand; within a tenant, arrival order).
    fn by_tenant(&self) -> Vec<Group<'_>> {
        let mut tenants: Vec<Uuid> = self
            .tickets
            .iter()
            .map(|p| p.tenant)
            .chain(self.queues.iter().map(|p| p.tenant))
            .chain(self.appointments.iter().map(|p| p.tenant))
            .chain(self.marks.iter().map(|m| m.tenant))
            .collect();
        tenants.sort_unstable();
        tenants.dedup();
        let (mut t, mut q, mut a, mut m) = (0, 0, 0, 0);
        tenants
            .into_iter()
            .map(|tenant| {
                let t_end = t + self.tickets[t..].iter().take_while(|p| p.tenant == tenant).count();
                let q_end = q + self.queues[q..].iter().take_while(|p| p.tenant == tenant).count();
                let a_end = a + self.appointments[a..].iter().take_while(|p| p.tenant == tenant).count();
                let m_end = m + self.marks[m..].iter().take_while(|p| p.tenant == tenant).count();
                let group = Group {
                    tenant,
                    tickets: &self.tickets[t..t_end],
                    queues: &self.queues[q..q_end],
                    appointments: &self.appointments[a..a_end],
                    marks: &self.marks[m..m_end],
                };
                (t, q, a, m) = (t_end, q_end, a_end, m_end);
                group
            })
            .collect()
    }
}

/// One tenant's share of a batch.
struct Group<'a> {
    tenant: Uuid,
    tickets: &'a [TicketPending],
    queues: &'a [QueuePending],
    appointments: &'a [AppointmentPending],
    marks: &'a [Mark],
}

/// What an attempt answers, in the batch's order, the events it committed and what it wrote to
/// the outboxes.
struct Answers {
    tickets: Vec<Result<Placed>>,
    queues: Vec<Result<Queue>>,
    appointments: Vec<Result<Booked>>,
    events: Vec<Arc<Event>>,
    wrote: Wrote,
}

/// Whether a batch wrote messages to send, or webhook deliveries: their senders are woken for
/// them (and otherwise find other nodes' rows by polling).
#[derive(Default, Clone, Copy)]
pub(super) struct Wrote {
    pub messages: bool,
    pub deliveries: bool,
}

/// Runs one batch: fast, then with savepoints if anything failed; answers every change and
/// returns the events it committed, what it wrote to the outboxes, and whether the database
/// stopped answering.
#[tracing::instrument(skip_all)]
pub(super) async fn run(
    pool: &PgPool,
    held: &mut Option<PoolConnection<Postgres>>,
    caches: &Caches,
    committing: &Committing,
    mut batch: Batch,
) -> (Vec<Arc<Event>>, Wrote, bool) {
    // Marked by the attempt before its COMMIT; cleared once every requester is answered (or
    // the batch has failed), on every way out of here.
    let _answered = committing.clear_on_drop();
    // Tenants in a fixed order (lock order across nodes); within a tenant, arrival order.
    batch.tickets.sort_by_key(|p| p.tenant);
    batch.queues.sort_by_key(|p| p.tenant);
    batch.appointments.sort_by_key(|p| p.tenant);
    batch.marks.sort_by_key(|m| m.tenant);
    let size = batch.len();
    let Some(first) = within(pool, held, caches, committing, &batch, Mode::Fast).await else {
        tracing::warn!(size, "the database did not answer a batch in time");
        batch.refuse(|| StoreError::Unavailable);
        return (Vec::new(), Wrote::default(), true);
    };
    let answers = match first {
        Ok(answers) => answers,
        Err(err) => {
            tracing::warn!(cause = ?err, size, "batch failed; running it again change by change");
            match within(pool, held, caches, committing, &batch, Mode::Savepoints)
                .await
                .unwrap_or(Err(StoreError::Unavailable))
            {
                Ok(answers) => answers,
                Err(err) => {
                    tracing::error!(cause = ?err, size, "batch failed");
                    let unreachable = match &err {
                        StoreError::Db(e) => crate::store::is_unreachable(e),
                        e => matches!(e, StoreError::Unavailable),
                    };
                    let message = err.to_string();
                    batch.refuse(|| match unreachable {
                        true => StoreError::Unavailable,
                        false => StoreError::Other(anyhow::anyhow!("the batch failed: {message}")),
                    });
                    return (Vec::new(), Wrote::default(), false);
                }
            }
        }
    };
    // A requester that gave up (client gone) no longer listens; the change stands.
    for (pending, result) in batch.tickets.into_iter().zip(answers.tickets) {
        let _ = pending.reply.send(result);
    }
    for (pending, result) in batch.queues.into_iter().zip(answers.queues) {
        let _ = pending.reply.send(result);
    }
    for (pending, result) in batch.appointments.into_iter().zip(answers.appointments) {
        let _ = pending.reply.send(result);
    }
    (answers.events, answers.wrote, false)
}

/// One attempt within [`ATTEMPT_DEADLINE`] (`None` past it), on the writer's connection: the
/// one the last batch committed on, kept so that a batch starts on a backend that is awake
/// rather than on whichever the pool hands out; a new one from the pool after any failure (the
/// failed one goes back to the pool, which tests it).
async fn within(
    pool: &PgPool,
    held: &mut Option<PoolConnection<Postgres>>,
    caches: &Caches,
    committing: &Committing,
    batch: &Batch,
    mode: Mode,
) -> Option<Result<Answers>> {
    let kept = held.take();
    let outcome = tokio::time::timeout(ATTEMPT_DEADLINE, async move {
        let mut conn = match kept {
            Some(conn) => conn,
            None => pool.acquire().await?,
        };
        let answers = attempt(&mut conn, caches, committing, batch, mode).await?;
        Ok((answers, conn))
    })
    .await
    .ok()?;
    Some(outcome.map(|(answers, conn)| {
        *held = Some(conn);
        answers
    }))
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
pub(super) struct QueueState {
    pub id: Uuid,
    pub status: QueueStatus,
    pub capacity: Option<i32>,
    pub waiting: i32,
    pub last_seq: i64,
    pub next_number: i32,
    pub prefix: String,
    pub ticket_type_id: Uuid,
    /// `settings.notify_ahead`: the positions whose ticket gets a `ticket.ahead` notification.
    pub notify_ahead: Option<serde_json::Value>,
    /// `settings.notify.ahead`: "N ahead" counts whose ticket gets a message on its channels.
    pub messages_ahead: Option<serde_json::Value>,
    /// `settings.snooze`: how often and how far a customer may step back.
    pub snooze: Option<serde_json::Value>,
    /// The moments `settings.notify` switches off (`"called": false`): no message is written.
    pub notify_off: Vec<String>,
    /// Moved by this batch: its counters are stored at the end.
    #[sqlx(default)]
    pub dirty: bool,
    /// How far from the front of the line its "N ahead" messages and webhooks look (read once,
    /// when the queue is locked): a join placed behind that moves nobody they tell.
    #[sqlx(default)]
    pub told_places: i32,
    /// Moved by this batch where "N ahead" looks (anything but a join behind the told places):
    /// who is at a told place is read again at the end.
    #[sqlx(default)]
    pub head_moved: bool,
}

/// Idempotency records one tenant's part of a batch has produced but not yet written.
#[derive(Default)]
pub(super) struct Unwritten {
    pub keys: Vec<KeyRow>,
}

/// An idempotency record as stored: (key hash, request hash, ticket id, sealed token).
pub(super) type KeyRow = (Vec<u8>, Vec<u8>, Uuid, Vec<u8>);

/// An idempotency record: (request hash, ticket id, sealed token), by key hash.
pub(super) type Keys = HashMap<Vec<u8>, (Vec<u8>, Uuid, Vec<u8>)>;

/// Everything of the batch so far that later changes may need to see.
pub(super) struct BatchState {
    pub queues: HashMap<Uuid, QueueState>,
    /// Idempotency records by key hash.
    pub keys: Keys,
    pub unwritten: Unwritten,
    /// This tenant's events so far, in seq order per queue; `events[..written]` are inserted.
    pub events: Vec<Arc<Event>>,
    pub written: usize,
    /// What this tenant's part wrote to the outboxes.
    pub wrote: Wrote,
}

async fn attempt(
    conn: &mut PgConnection,
    caches: &Caches,
    committing: &Committing,
    batch: &Batch,
    mode: Mode,
) -> Result<Answers> {
    let groups = batch.by_tenant();
    // BEGIN, the plans' bounds and the first tenant named, in one round trip. A connection
    // switches a statement to a generic plan after five runs and keeps it; made while the
    // tables were short (as on the connection the writer keeps, or on any connection of a node
    // that was quiet before a crowd), it may read a whole table or a whole index once they
    // are long: the idempotency records' lookup did, and keyed joins fell from 4,604 to 1,768 a
    // second (BENCHMARKS.md). Every statement of a batch reads by key or by the line's index,
    // so sequential and bitmap scans are off. With those off a plan does not depend on the
    // values of a batch (its arrays' lengths, its queues), so every statement runs its generic
    // plan from the first: the head of a line's read (a call-next's, "N ahead"'s) was planned
    // again in every batch, where the planner judged the generic plan dearer for its guess of
    // ten queues a batch, and planning cost more than running (0.7 ms each, issue 14).
    let first =
        groups.first().map_or(String::new(), |g| format!("; SELECT set_config('app.tenant_id', '{}', true)", g.tenant));
    let sql = format!(
        "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; \
         SET LOCAL plan_cache_mode = force_generic_plan{first}"
    );
    let mut tx = conn.begin_with(sqlx::AssertSqlSafe(sql)).await?;
    let mut answers = Answers {
        tickets: Vec::with_capacity(batch.tickets.len()),
        queues: Vec::new(),
        appointments: Vec::new(),
        events: Vec::new(),
        wrote: Wrote::default(),
    };

    let last = groups.len().saturating_sub(1);
    for (i, Group { tenant, tickets, queues, appointments, marks }) in groups.into_iter().enumerate() {
        // The first was named with BEGIN.
        if i > 0 {
            crate::store::set_tenant(&mut tx, tenant).await?;
        }
        let mut ids: Vec<Uuid> = tickets
            .iter()
            .flat_map(|p| p.change.queues())
            .chain(queues.iter().map(|p| p.change.queue_id))
            .chain(appointments.iter().map(|p| p.change.queue_id()))
            .chain(marks.iter().map(|m| m.queue_id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut state = BatchState {
            queues: lock_queues(&mut tx, &ids).await?,
            keys: load_keys(&mut tx, tenant, tickets).await?,
            unwritten: Unwritten::default(),
            events: Vec::new(),
            written: 0,
            wrote: Wrote::default(),
        };

        // A tenant's ticket changes, then its queue changes (a pause or a close applies to the
        // line as these joins and calls left it), then its appointments.
        match mode {
            Mode::Fast => {
                answers.tickets.extend(apply_group(&mut tx, caches, &mut state, tenant, tickets).await?);
                presence::apply(&mut tx, &mut state, marks).await?;
                for pending in queues {
                    match apply::update_queue(&mut tx, &mut state, &pending.change).await {
                        Err(StoreError::Db(err)) => return Err(StoreError::Db(err)),
                        other => answers.queues.push(other),
                    }
                }
                for pending in appointments {
                    match booking::apply(&mut tx, &mut state, &pending.change).await {
                        Err(StoreError::Db(err)) => return Err(StoreError::Db(err)),
                        other => answers.appointments.push(other),
                    }
                }
            }
            Mode::Savepoints => {
                for pending in tickets {
                    let change = &pending.change;
                    answers.tickets.push(alone(&mut tx, caches, &mut state, tenant, change).await);
                }
                marks_alone(&mut tx, &mut state, marks).await?;
                for pending in queues {
                    answers.queues.push(alone(&mut tx, caches, &mut state, tenant, &pending.change).await);
                }
                for pending in appointments {
                    answers.appointments.push(alone(&mut tx, caches, &mut state, tenant, &pending.change).await);
                }
            }
        }
        // The whole batch's NOTIFY goes with its last tenant's statement (every event is
        // numbered by then), in one piece as before.
        let payloads = match i == last {
            true => {
                Notification::payloads(&answers.events.iter().chain(&state.events).map(|e| &**e).collect::<Vec<_>>())
            }
            false => Vec::new(),
        };
        flush::close(&mut tx, tenant, &mut state, &payloads).await?;
        let deliveries = flush::notify_ahead(&mut tx, &state.queues).await?;
        let messages = flush::messages_ahead(&mut tx, &state.queues).await?;
        answers.events.append(&mut state.events);
        answers.wrote.messages |= state.wrote.messages || messages;
        answers.wrote.deliveries |= state.wrote.deliveries || deliveries;
    }

    committing.mark(&answers.events);
    if let Err(err) = tx.commit().await {
        // Nothing was committed: another node may commit these seqs, and its NOTIFY is needed.
        committing.clear();
        return Err(commit_error(err));
    }
    Ok(answers)
}

/// A tenant's ticket changes without savepoints: all joins in one statement, then all
/// call-nexts in one, then the rest one by one. Any failed statement fails the attempt.
async fn apply_group(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    tenant: Uuid,
    group: &[TicketPending],
) -> Result<Vec<Result<Placed>>> {
    let indexed: Vec<(usize, &TicketChange)> = group.iter().map(|p| &p.change).enumerate().collect();
    let (joins, rest): (Vec<_>, Vec<_>) =
        indexed.into_iter().partition(|(_, c)| matches!(c, TicketChange::Join { .. }));
    let (calls, rest): (Vec<_>, Vec<_>) =
        rest.into_iter().partition(|(_, c)| matches!(c, TicketChange::CallNext { .. }));
    let mut results: Vec<Option<Result<Placed>>> = group.iter().map(|_| None).collect();
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

/// A change that can be applied on its own (inside its savepoint), with what it answers.
trait Alone {
    type Answer;
    async fn apply(
        &self,
        tx: &mut PgConnection,
        caches: &Caches,
        state: &mut BatchState,
        tenant: Uuid,
    ) -> Result<Self::Answer>;
}

impl Alone for TicketChange {
    type Answer = Placed;

    /// By whichever path applies it.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        caches: &Caches,
        state: &mut BatchState,
        tenant: Uuid,
    ) -> Result<Placed> {
        let one = [(0, self)];
        let outcomes = match self {
            TicketChange::Join { .. } => bulk::joins(tx, caches, state, tenant, &one).await?,
            TicketChange::CallNext { .. } => bulk::calls(tx, caches, state, &one).await?,
            _ => return apply::apply(tx, caches, state, self).await,
        };
        outcomes
            .into_iter()
            .next()
            .map(|(_, outcome)| outcome)
            .unwrap_or_else(|| Err(StoreError::Other(anyhow::anyhow!("a change got no outcome"))))
    }
}

impl Alone for QueueChange {
    type Answer = Queue;

    async fn apply(&self, tx: &mut PgConnection, _: &Caches, state: &mut BatchState, _: Uuid) -> Result<Queue> {
        apply::update_queue(tx, state, self).await
    }
}

impl Alone for AppointmentChange {
    type Answer = Booked;

    async fn apply(&self, tx: &mut PgConnection, _: &Caches, state: &mut BatchState, _: Uuid) -> Result<Booked> {
        booking::apply(tx, state, self).await
    }
}

/// One change inside its own savepoint; on failure, the batch state is as before it.
async fn alone<C: Alone>(
    tx: &mut PgConnection,
    caches: &Caches,
    state: &mut BatchState,
    tenant: Uuid,
    change: &C,
) -> Result<C::Answer> {
    let queues_before = state.queues.clone();
    let (events_before, keys_before) = (state.events.len(), state.keys.clone());
    sqlx::query("SAVEPOINT change").execute(&mut *tx).await?;
    let result = match change.apply(&mut *tx, caches, state, tenant).await {
        Ok(answer) => flush::write_unwritten(&mut *tx, tenant, state).await.map(|()| answer),
        Err(err) => Err(err),
    };
    match result {
        Ok(answer) => {
            sqlx::query("RELEASE SAVEPOINT change").execute(&mut *tx).await?;
            Ok(answer)
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

/// The marks inside their own savepoint: if their statement fails, they are dropped (it runs
/// before any event is numbered, so the batch's state is as before it).
async fn marks_alone(tx: &mut PgConnection, state: &mut BatchState, marks: &[Mark]) -> Result<()> {
    if marks.is_empty() {
        return Ok(());
    }
    sqlx::query("SAVEPOINT marks").execute(&mut *tx).await?;
    match presence::apply(&mut *tx, state, marks).await {
        Ok(()) => sqlx::query("RELEASE SAVEPOINT marks").execute(&mut *tx).await?,
        Err(err) => {
            tracing::warn!(cause = ?err, marks = marks.len(), "presence marks failed; dropped");
            sqlx::query("ROLLBACK TO SAVEPOINT marks").execute(&mut *tx).await?
        }
    };
    Ok(())
}

/// Locks the queues' rows in id order and reads their counters. Deleted queues are not found.
async fn lock_queues(tx: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, QueueState>> {
    let rows: Vec<(Uuid, QueueState)> = sqlx::query_as::<_, QueueState>(
        "SELECT id, status, capacity, waiting, last_seq, next_number, prefix, ticket_type_id, \
           settings->'notify_ahead' AS notify_ahead, settings->'notify'->'ahead' AS messages_ahead, \
           settings->'snooze' AS snooze, \
           ARRAY(SELECT j.k FROM jsonb_each(settings->'notify') AS j(k, v) WHERE j.v = 'false') AS notify_off \
         FROM queues WHERE id = ANY($1) AND deleted_at IS NULL ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|mut q| {
        let webhooks = q.notify_ahead.as_ref().and_then(flush::ahead_positions).unwrap_or_default();
        let messages = q.messages_ahead.as_ref().map(flush::message_places).unwrap_or_default();
        q.told_places = webhooks.into_iter().chain(messages).max().unwrap_or(0);
        (q.id, q)
    })
    .collect();
    Ok(rows.into_iter().collect())
}

/// The live idempotency records of the batch's joins.
async fn load_keys(tx: &mut PgConnection, tenant: Uuid, group: &[TicketPending]) -> Result<Keys> {
    let hashes: Vec<&[u8]> = group
        .iter()
        .filter_map(|p| match &p.change {
            TicketChange::Join { idempotency: Some(i), .. } => Some(i.key_hash.as_slice()),
            _ => None,
        })
        .collect();
    if hashes.is_empty() {
        return Ok(HashMap::new());
    }
    // One lookup by the whole primary key per key (a lateral subquery the planner cannot turn
    // into a join): a plan made while the table was short took `key_hash = ANY(…)` as a filter
    // on the tenant's part of the key and read every record of the tenant. Whether a record is
    // live is read from each row found, not asked of the index on expiry.
    // A stored record and whether it is live.
    type Found = (Vec<u8>, Vec<u8>, Uuid, Vec<u8>, bool);
    let rows: Vec<Found> = sqlx::query_as(
        "SELECT k.key_hash, k.request_hash, k.ticket_id, k.token_sealed, k.expires_at > now() \
         FROM unnest($2::bytea[]) AS h(key_hash) \
         CROSS JOIN LATERAL (SELECT * FROM idempotency_keys WHERE tenant_id = $1 AND key_hash = h.key_hash OFFSET 0) k",
    )
    .bind(tenant)
    .bind(hashes)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().filter(|row| row.4).map(|(k, r, t, s, _)| (k, (r, t, s))).collect())
}

/// A full NOTIFY queue fails the commit (nothing was applied): the service is unavailable.
fn commit_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("54000") => StoreError::Overloaded,
        _ => StoreError::Db(err),
    }
}
