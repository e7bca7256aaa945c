//! Ticket tokens checked together. A customer socket opens with one check of its ticket's token;
//! after a node restarts or a network blip, every phone of a crowd reconnects in the same second,
//! and a transaction per socket (a round trip, a snapshot and a commit each) was most of what the
//! storm cost. Checks wait here while one batch is read, and the next batch reads all of them:
//! one transaction per batch, a statement per tenant in it. A lone check is read at once.

use sqlx::PgPool;
use uuid::Uuid;

use super::batched::Batched;
use super::live::OpenedTicket;
use super::Result;
use crate::domain::Details;
use crate::secret;
use crate::tasks::Tasks;

/// The checks of the node's customer sockets, read in batches (see `batched`).
#[derive(Clone)]
pub(super) struct Opener {
    checks: Batched<(Uuid, Vec<u8>), Option<OpenedTicket>>,
}

impl Opener {
    pub(super) fn start(pool: PgPool, tasks: &Tasks) -> Opener {
        let checks = Batched::start("ticket-tokens", tasks, move |checks: Vec<(Uuid, Vec<u8>)>| {
            let pool = pool.clone();
            async move {
                let tickets: Vec<Uuid> = checks.iter().map(|c| c.0).collect();
                let rows = read(&pool, &tickets).await?;
                Ok(checks
                    .iter()
                    .map(|(ticket, hash)| {
                        rows.iter().find(|r| r.id == *ticket && r.token_hash == *hash).map(Row::opened)
                    })
                    .collect())
            }
        });
        Opener { checks }
    }

    /// The tenant and queue of a ticket, and who it is for, if `token` opens it.
    pub(super) async fn open(&self, ticket: Uuid, token: &str) -> Result<Option<OpenedTicket>> {
        self.checks.ask((ticket, secret::hash_token(token).to_vec())).await
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
