//! All SQL lives here: one function per use case, each its own transaction.
//!
//! Every query runs as the `queuecast_app` role (set on each pooled connection) inside a
//! transaction that names its tenant, so PostgreSQL's row-level security keeps tenants apart
//! even if a query forgets a `WHERE tenant_id`. Changes to queues go through the [`writer`],
//! which batches them into few commits; reads go straight to the pool.

mod admin;
mod analytics;
pub mod appointments;
pub mod audit;
mod auth;
mod batched;
mod cache;
mod control;
mod devices;
mod display_keys;
mod guard;
mod hours;
mod joins;
mod live;
mod locations;
mod notifications;
mod opener;
mod queues;
mod rows;
mod rules;
mod search;
mod stats;
mod ticket_types;
mod tickets;
mod types;
mod users;
mod webhooks;
pub mod writer;

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

pub use admin::{NewTenant, Retained};
pub use analytics::{plausible_tz, DailyStats, Figures, MAX_REPORT_DAYS};
pub use appointments::{AppointmentAccess, Made, NewBooking, SlotView};
pub use audit::{AuditEntry, AuditQuery, Via, MAX_AUDIT_PAGE};
pub use auth::{Identity, Login, LoginOutcome, Role};
pub use control::{Feedback, TicketPatch};
pub use devices::DeviceKey;
pub use guard::verify_isolation;
pub use hours::{Applied, DueHours, DueTicket};
pub use joins::{Joined, Joiner};
pub use live::LinePage;
pub use locations::{Location, LocationPatch};
pub use notifications::{ClaimedMessage, MessageCounts, MessageDay, MessageOutcome, Receipt, SentMessage};
pub use queues::{NewQueue, QueueSummary, TypeSummary};
pub use rules::DEFAULT_SERVICE_SECS;
pub use search::{Found, MAX_SEARCH};
pub use stats::{History, HistoryPoint, QueueStats};
pub use ticket_types::{NewTicketType, TicketType};
pub use tickets::{Seen, TicketAccess, MAX_EVENTS_PAGE};
pub use users::{NewUser, User, UserPatch};
pub use webhooks::{AttemptOutcome, Claimed, Delivery, NewWebhook, Webhook};
pub use writer::{JoinRequest, MoveTo, QueuePatch};

use crate::clock::Clock;
use crate::tasks::Tasks;
use cache::Caches;
use writer::Writer;

/// The role every query of the service runs as: not the owner, no BYPASSRLS. A transaction of
/// ours never idles: one left open by a node that went silent mid-batch (a black-holed network
/// never tells PostgreSQL) is ended after 10 s, so the queue rows it locked do not stall the
/// other nodes for as long as TCP keepalive takes (hours).
const APP_ROLE_SQL: &str = "SET ROLE queuecast_app; SET idle_in_transaction_session_timeout = '10s'";

/// The hottest reads, prepared by every connection when it opens (SQL `PREPARE`, as the app
/// role), so that [`Store::read_once`] can send one with its tenant as one simple query and
/// still run a plan the connection keeps: a ticket by id (with its place in line, unless the
/// filter of live lines (`$2`, see [`cache::LiveLines`]) has its queue's bit), and its place.
const PREPARED_READS: &str = concat!(
    "PREPARE qc_read_ticket(uuid, bytea) AS SELECT t.token_hash, t.tenant_id, q.last_seq, ",
    "CASE WHEN get_bit($2, get_byte(uuid_send(t.queue_id), 15)) = 0 THEN ",
    rows::position_of_t!(),
    " END AS place, ",
    rows::ticket_cols!(),
    " FROM tickets t JOIN queues q ON q.id = t.queue_id WHERE t.id = $1; ",
    "PREPARE qc_place_ticket(uuid) AS SELECT q.last_seq, ",
    rows::position_of_t!(),
    " FROM tickets t JOIN queues q ON q.id = t.queue_id WHERE t.id = $1"
);

/// A read [`PREPARED_READS`] holds.
#[derive(Clone, Copy)]
enum PreparedRead {
    /// `qc_read_ticket`: the ticket, its token's hash, its tenant, its queue's seq, and its
    /// place unless this filter of live lines has its queue.
    Ticket([u8; 32]),
    /// `qc_place_ticket`: its queue's seq and its place in line (null when not in line).
    Place,
}

/// Why a store call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(#[from] Conflict),
    #[error("{0}")]
    Invalid(String),
    /// Bad input with its own stable code (`invalid_phone`, `invalid_template`, …).
    #[error("{1}")]
    Rejected(&'static str, String),
    #[error("the server is overloaded; try again shortly")]
    Overloaded,
    #[error("the database is unreachable")]
    Unavailable,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A change that the current state of the queue does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("the queue is closed")]
    QueueClosed,
    /// Closed by its opening hours (or within their last minutes for joins): until when.
    #[error("{}", closed_until(.0))]
    ClosedUntil(Option<chrono::DateTime<chrono::Utc>>),
    #[error("the queue is paused and takes no one new for now")]
    QueuePaused,
    #[error("the queue is full")]
    QueueFull,
    #[error("no one is waiting")]
    QueueEmpty,
    #[error("{0}")]
    InvalidTransition(String),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyConflict,
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("people are still in line or being served: close the queue and serve or cancel them first")]
    QueueNotEmpty,
    #[error("this is the tenant's last enabled admin: make another admin first")]
    LastAdmin,
    #[error("this slot is fully booked")]
    SlotFull,
    /// Check-in opens at this moment.
    #[error("check-in opens at {}", .0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))]
    CheckInNotYet(chrono::DateTime<chrono::Utc>),
    #[error("this appointment was missed, and the queue takes no late arrivals")]
    AppointmentMissed,
    /// Past the queue's `snooze` limits (or snoozing is off): what they are.
    #[error("{0}")]
    SnoozeLimit(String),
    #[error("nobody is behind this ticket in line")]
    AlreadyLast,
    #[error("that spot in the line has been moved into too often; move the ticket one place further")]
    NoRoom,
    #[error("feedback is asked once the ticket has ended")]
    NotFinished,
    #[error("feedback was already given for this ticket")]
    FeedbackGiven,
}

fn closed_until(opens_at: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    match opens_at {
        Some(at) => format!(
            "the queue takes no one new now; it opens at {}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => "the queue takes no one new now, and no opening is scheduled".into(),
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<crate::domain::notify::Refusal> for StoreError {
    fn from(r: crate::domain::notify::Refusal) -> StoreError {
        StoreError::Rejected(r.code, r.detail)
    }
}

/// The store: the pool, the writer and the caches of things that never change.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    writer: Writer,
    /// Ticket tokens of customer sockets, checked in batches.
    opener: opener::Opener,
    /// Committed idempotency keys, looked up in batches.
    keys: joins::KeyLookups,
    caches: std::sync::Arc<Caches>,
    staff_token_ttl: chrono::Duration,
    clock: Clock,
}

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub pool_size: u32,
    /// Most changes one writer transaction takes at once.
    pub max_batch: usize,
    /// How long a staff login lasts.
    pub staff_token_ttl: chrono::Duration,
    /// What opening hours, daily numbers, timeouts and expiry go by (tests move it).
    pub clock: Clock,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            pool_size: 16,
            max_batch: 1024,
            staff_token_ttl: chrono::Duration::hours(12),
            clock: Clock::system(),
        }
    }
}

impl Store {
    /// Connects the pool (every connection switched to the app role) and starts the writer, as
    /// one of `tasks`.
    #[tracing::instrument(skip_all)]
    pub async fn connect(database_url: &str, settings: StoreSettings, tasks: &Tasks) -> anyhow::Result<Store> {
        let options: PgConnectOptions = database_url.parse().context("parsing DATABASE_URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            // No ping before each use: sqlx already pings a connection when it is released, so
            // one that broke while idle (a restarted PostgreSQL) fails its first query, answered
            // `unavailable` like any lost connection, and is closed. The ping was one more round
            // trip in front of every transaction (a ticket read made two).
            .test_before_acquire(false)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(APP_ROLE_SQL).await?;
                    conn.execute(PREPARED_READS).await?;
                    Ok(())
                })
            })
            .connect_with(options.application_name("queuecast"))
            .await
            .context("connecting to PostgreSQL")?;
        verify_isolation(&mut *pool.acquire().await.context("connecting to PostgreSQL")?).await?;
        let caches = std::sync::Arc::new(Caches::default());
        let writer = Writer::start(pool.clone(), caches.clone(), settings.max_batch, tasks);
        let opener = opener::Opener::start(pool.clone(), tasks);
        let keys = joins::key_lookups(pool.clone(), tasks);
        Ok(Store {
            pool,
            writer,
            opener,
            keys,
            caches,
            staff_token_ttl: settings.staff_token_ttl,
            clock: settings.clock,
        })
    }

    /// The events of every batch this node commits, after the commit.
    pub fn committed(&self) -> tokio::sync::broadcast::Receiver<writer::Committed> {
        self.writer.committed()
    }

    /// Whether the event `seq` of `queue` is this node's own, committed or being committed and
    /// not yet answered (see [`writer::Committing`]).
    pub fn committing_here(&self, queue: Uuid, seq: i64) -> bool {
        self.writer.committing().holds(queue, seq)
    }

    /// What wakes the outboxes' senders: this node's commits that wrote to them.
    pub fn outboxes(&self) -> &writer::Outboxes {
        self.writer.outboxes()
    }

    /// Whether this node's writer is busy with a crowd's changes (see [`Writer::busy`]).
    pub fn writing_a_crowd(&self) -> bool {
        self.writer.busy()
    }

    /// This node holds (or is building) a live line of `queue`: reads of its tickets leave
    /// their places to it.
    pub fn live_line_held(&self, queue: Uuid) {
        self.caches.live_lines.held(queue);
    }

    /// This node no longer holds its live line of `queue`.
    pub fn live_line_dropped(&self, queue: Uuid) {
        self.caches.live_lines.dropped(queue);
    }

    /// Waits until every change submitted so far is committed or refused.
    pub async fn flush(&self) {
        self.writer.flush().await;
    }

    /// Closes the pool: from the call on, no connection is opened or handed out; the future
    /// ends once every connection is closed.
    pub fn close(&self) -> impl std::future::Future<Output = ()> + '_ {
        self.pool.close()
    }

    /// The clock that hours, daily numbers, timeouts and expiry go by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The pool, for health checks.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens a transaction scoped to `tenant`.
    async fn begin(&self, tenant: Uuid) -> Result<Transaction<'static, Postgres>> {
        self.begin_as(&format!("'{tenant}'")).await
    }

    /// A transaction whose tenant is `tenant`, an SQL expression (a UUID's text, or the owner of
    /// a ticket: `qc_tenant_of_ticket('…')`; only UUIDs may be inlined). One round trip for both:
    /// BEGIN and naming the tenant, in one simple query.
    async fn begin_as(&self, tenant: &str) -> Result<Transaction<'static, Postgres>> {
        let sql = format!("BEGIN; SELECT set_config('app.tenant_id', {tenant}, true)");
        Ok(self.pool.begin_with(sqlx::AssertSqlSafe(sql)).await?)
    }

    /// One read of `id` in one round trip: naming the tenant (`tenant`, as for
    /// [`Store::begin_as`]) and executing a statement the connection prepared, sent together as
    /// one simple query, which PostgreSQL runs as one transaction. Its plan is the connection's:
    /// a read sent as text was parsed and planned every time, which cost PostgreSQL more than the
    /// read itself (BENCHMARKS.md). The read's rows.
    async fn read_once(&self, tenant: &str, read: PreparedRead, id: Uuid) -> Result<Vec<sqlx::postgres::PgRow>> {
        let call = match read {
            PreparedRead::Ticket(live) => {
                let mut hex = String::with_capacity(2 * live.len());
                for byte in live {
                    let _ = write!(hex, "{byte:02x}");
                }
                format!("qc_read_ticket('{id}', '\\x{hex}')")
            }
            PreparedRead::Place => format!("qc_place_ticket('{id}')"),
        };
        // Without sequential scans: a connection plans its prepared reads once (after five
        // custom plans) and keeps the plan, and one planned while the line was short may read the
        // whole table once it is long (a place at 100,000 took 400 ms until the table was
        // analysed again). These reads only ever want their indexes.
        let sql = format!(
            "SELECT set_config('app.tenant_id', {tenant}, true), set_config('enable_seqscan', 'off', true); \
             EXECUTE {call}"
        );
        let mut rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        // The first is set_config's.
        rows.remove(0);
        Ok(rows)
    }
}

/// Names the tenant of the current transaction.
async fn set_tenant(conn: &mut PgConnection, tenant: Uuid) -> Result<()> {
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)").bind(tenant.to_string()).execute(conn).await?;
    Ok(())
}

/// Runs pending migrations as the connecting (owner) role, on a connection of its own.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(database_url).await.context("connecting to PostgreSQL")?;
    sqlx::migrate!("./migrations").run(&mut conn).await.context("running migrations")?;
    conn.close().await.ok();
    Ok(())
}

/// How many rows a table must have gained since it was made before the node gathers its first
/// statistics ([`analyse_new_tables`])…
pub const FIRST_STATISTICS_AFTER: i64 = 200;
/// …or how large it must have grown: its size is known at once, its changes only once the
/// backends that made them report them (within a second or so of going idle, and a busy writer
/// goes idle between batches).
pub const FIRST_STATISTICS_SIZE: i64 = 64 * 1024;

/// Gathers the first statistics of our tables that have none yet (never analysed, by us or by
/// autovacuum) and have at least [`FIRST_STATISTICS_AFTER`] rows changed or
/// [`FIRST_STATISTICS_SIZE`] bytes, on `owner`: a connection as the owner (the app role may
/// neither see the tables' statistics nor analyse). The tables analysed, and how many others
/// still have no statistics.
///
/// Why it matters: a connection keeps a generic plan of a statement it ran five times, and one
/// planned before a table's first `ANALYZE` guesses every column's selectivity. On a fresh
/// database the planner then picked the tenant's index to read a ticket by id, and the index of
/// arrival times to count a place; both read the whole line once it was long (53 ms for a place
/// read at 100,000; BENCHMARKS.md), until autovacuum's first analysis, a minute or more later.
/// The writer's presence marks, planned while 5,000 joins were not yet reported, read the whole
/// table once per mark (1.3 s a batch of 1,024, issue 18). Analysing invalidates the plans made
/// without statistics; plans made with them hold at any depth.
pub async fn analyse_new_tables(owner: &mut PgConnection) -> Result<(Vec<String>, usize)> {
    // `pg_stat_user_tables` asked of our tables alone: the view computes its columns for every
    // relation of the database, catalogs and TOAST included, and took ~4 ms a look, against
    // ~0.6 ms for the same rows read from `pg_class` (BENCHMARKS.md, "Quieter nodes").
    let tables: Vec<(String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, pg_stat_get_mod_since_analyze(c.oid) >= $1 OR pg_relation_size(c.oid) >= $2 \
         FROM pg_class c \
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'm', 'p') \
           AND pg_stat_get_last_analyze_time(c.oid) IS NULL AND pg_stat_get_last_autoanalyze_time(c.oid) IS NULL",
    )
    .bind(FIRST_STATISTICS_AFTER)
    .bind(FIRST_STATISTICS_SIZE)
    .fetch_all(&mut *owner)
    .await?;
    let (due, waiting): (Vec<_>, Vec<_>) = tables.into_iter().partition(|(_, grown)| *grown);
    let mut analysed = Vec::with_capacity(due.len());
    for (table, _) in due {
        let sql = format!("ANALYZE public.\"{}\"", table.replace('"', "\"\""));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *owner).await?;
        analysed.push(table);
    }
    Ok((analysed, waiting.len()))
}

/// Whether an error means the database could not be reached (rather than refused something).
/// A connection PostgreSQL itself ended counts: an operator or a shutdown terminated it (57P01,
/// 57P02), the server is starting up or recovering (57P03), or the connection broke (class 08).
pub fn is_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

/// Whether PostgreSQL refused text it cannot store: a NUL character (`\u0000`) in a string
/// (22021) or in JSON (22P05). Outside input may hold one anywhere; it is bad input, not a fault.
pub fn is_unstorable_text(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")))
}

/// Maps a unique violation to what it means; other errors pass through.
fn unique_violation(err: sqlx::Error, what: impl Into<String>) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(Conflict::AlreadyExists(what.into()))
        }
        _ => StoreError::Db(err),
    }
}
