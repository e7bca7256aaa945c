//! Ticket tokens checked together. A customer socket opens with one check of its ticket's token;
//! after a node restarts or a network blip, every phone of a crowd reconnects in the same second,
//! and a transaction per socket (a round trip, a snapshot and a commit each) was most of what the
//! storm cost. Checks wait here while one batch is read, and the next batch reads all of them:
//! one transaction per batch, a statement per tenant in it. A lone check is read at once.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::live::OpenedTicket;
use super::{Result, StoreError};
use crate::domain::Details;
use crate::secret;
use crate::tasks::Tasks;

/// Most checks read in one batch.
const MAX_BATCH: usize = 500;
/// Checks waiting at most; past it a check is answered "unavailable" at once, so a flood of
/// sockets cannot queue without bound (the client reconnects later).
const QUEUE: usize = 20_000;
/// While checks arrive together (the last batch had company), how long a batch waits for more
/// before it is read: at a few thousand sockets a second this makes batches of about a hundred,
/// for a few milliseconds more per socket. A check that arrives alone is read at once.
const GATHER: Duration = Duration::from_millis(10);

/// One check: a ticket, the hash of the token offered for it, and where to answer.
struct Check {
    ticket: Uuid,
    hash: Vec<u8>,
    answer: oneshot::Sender<Result<Option<OpenedTicket>>>,
}

/// The sender of checks to the node's batcher.
#[derive(Clone)]
pub(super) struct Opener {
    tx: mpsc::Sender<Check>,
}

impl Opener {
    pub(super) fn start(pool: PgPool, tasks: &Tasks) -> Opener {
        let (tx, rx) = mpsc::channel(QUEUE);
        tasks.spawn("ticket-tokens", run(pool, rx));
        Opener { tx }
    }

    /// The tenant and queue of a ticket, and who it is for, if `token` opens it.
    pub(super) async fn open(&self, ticket: Uuid, token: &str) -> Result<Option<OpenedTicket>> {
        let (answer, answered) = oneshot::channel();
        let check = Check { ticket, hash: secret::hash_token(token).to_vec(), answer };
        self.tx.try_send(check).map_err(|_| StoreError::Overloaded)?;
        answered.await.map_err(|_| StoreError::Unavailable)?
    }
}

/// Reads checks in batches for as long as the node runs.
async fn run(pool: PgPool, mut rx: mpsc::Receiver<Check>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut crowded = false;
    loop {
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        if crowded && batch.len() < MAX_BATCH {
            let until = tokio::time::Instant::now() + GATHER;
            while batch.len() < MAX_BATCH {
                let room = MAX_BATCH - batch.len();
                match tokio::time::timeout_at(until, rx.recv_many(&mut batch, room)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        crowded = batch.len() > 1;
        let tickets: Vec<Uuid> = batch.iter().map(|c| c.ticket).collect();
        match read(&pool, &tickets).await {
            Ok(rows) => {
                for check in batch.drain(..) {
                    let opened =
                        rows.iter().find(|r| r.id == check.ticket && r.token_hash == check.hash).map(|r| r.opened());
                    let _ = check.answer.send(Ok(opened));
                }
            }
            Err(err) => {
                tracing::warn!(cause = ?err, checks = batch.len(), "checking ticket tokens failed");
                for check in batch.drain(..) {
                    let _ = check.answer.send(Err(StoreError::Unavailable));
                }
            }
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    queue_id: Uuid,
    token_hash: Vec<u8>,
    customer_name: Option<String>,
    party_size: Option<i32>,
    fields: serde_json::Value,
}

impl Row {
    fn opened(&self) -> OpenedTicket {
        OpenedTicket {
            tenant_id: self.tenant_id,
            queue_id: self.queue_id,
            details: Details {
                name: self.customer_name.clone(),
                party_size: self.party_size,
                fields: self.fields.clone(),
            },
        }
    }
}

/// The tickets of a batch, in one transaction: their tenants first, then each tenant's under
/// row-level security with that tenant set.
#[tracing::instrument(skip_all, fields(checks = tickets.len()))]
async fn read(pool: &PgPool, tickets: &[Uuid]) -> Result<Vec<Row>> {
    let mut tx = pool.begin().await?;
    let owners: Vec<(Uuid, Option<Uuid>)> =
        sqlx::query_as("SELECT id, qc_tenant_of_ticket(id) FROM unnest($1::uuid[]) AS id")
            .bind(tickets)
            .fetch_all(&mut *tx)
            .await?;
    let mut tenants: Vec<Uuid> = owners.iter().filter_map(|o| o.1).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut rows = Vec::with_capacity(tickets.len());
    for tenant in tenants {
        let theirs: Vec<Uuid> = owners.iter().filter(|o| o.1 == Some(tenant)).map(|o| o.0).collect();
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)").bind(tenant.to_string()).execute(&mut *tx).await?;
        rows.extend(
            sqlx::query_as::<_, Row>(
                "SELECT id, tenant_id, queue_id, token_hash, customer_name, party_size, fields \
                 FROM tickets WHERE id = ANY($1)",
            )
            .bind(&theirs)
            .fetch_all(&mut *tx)
            .await?,
        );
    }
    tx.commit().await?;
    Ok(rows)
}
