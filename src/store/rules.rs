//! What the write path and the use cases both read, below both of them: what never changes
//! about a queue (its tenant and ticket type), its ticket type's rules, its pace for estimates,
//! and the queue row itself. Each from the caches when they have it. Their spans are at debug
//! level: they run on every join and read, mostly answered from the caches.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::cache::{Caches, Pace, QueueMeta, TicketRules};
use super::{Result, Store, StoreError};
use crate::domain::{CallHistory, Fsm, Queue, Roles};

/// The service time assumed for a queue with no history yet, unless its settings say otherwise.
pub const DEFAULT_SERVICE_SECS: f64 = 180.0;
/// Gaps between calls longer than this are breaks, not service.
const MAX_GAP_SECS: f64 = 1800.0;

/// Selects queues as staff see them; `$tail` adds conditions and order.
macro_rules! concat_queue_select {
    ($tail:literal) => {
        concat!(
            "SELECT q.id, q.slug, q.name, q.prefix, q.capacity, q.status, tt.code AS ticket_type, \
             q.waiting, q.last_seq, q.settings, q.location_id, q.created_at, q.updated_at \
             FROM queues q JOIN ticket_types tt ON tt.id = q.ticket_type_id",
            $tail
        )
    };
}
pub(super) use concat_queue_select;

impl Store {
    /// The tenant and ticket type of any queue, for public calls. Cached: neither ever changes.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub(super) async fn queue_meta(&self, id: Uuid) -> Result<Option<QueueMeta>> {
        if let Some(meta) = self.caches.queues.get(&id) {
            return Ok(Some(*meta));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.tenant_id', coalesce(qc_tenant_of_queue($1)::text, ''), true)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let row: Option<(Uuid, Uuid)> = sqlx::query_as("SELECT tenant_id, ticket_type_id FROM queues WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        let meta = row.map(|(tenant_id, ticket_type_id)| QueueMeta { tenant_id, ticket_type_id });
        if let Some(meta) = meta {
            self.caches.queues.insert(id, meta);
        }
        Ok(meta)
    }

    /// The pace of a queue for estimates, cached for a couple of seconds.
    #[tracing::instrument(level = "debug", skip_all, fields(queue = %queue))]
    pub(super) async fn pace_in(&self, conn: &mut PgConnection, queue: Uuid) -> Result<Arc<Pace>> {
        match self.caches.pace(queue, true) {
            Ok(pace) => Ok(pace),
            Err(claim) => Ok(claim.fulfil(self.read_pace(conn, queue).await?)),
        }
    }

    /// A queue's pace outside any transaction: from the cache when it has it, else read in a
    /// transaction of its own. `exact`: also when a change was committed since the last read.
    #[tracing::instrument(level = "debug", skip_all, fields(queue = %queue))]
    pub(super) async fn pace_of(&self, tenant: Uuid, queue: Uuid, exact: bool) -> Result<Arc<Pace>> {
        match self.caches.pace(queue, exact) {
            Ok(pace) => Ok(pace),
            Err(claim) => {
                let mut tx = self.begin(tenant).await?;
                let pace = self.read_pace(&mut tx, queue).await?;
                tx.commit().await?;
                Ok(claim.fulfil(pace))
            }
        }
    }

    /// The roles of a queue's ticket type: which states counts and estimates look for.
    #[tracing::instrument(level = "debug", skip_all, fields(queue = %queue))]
    pub(super) async fn roles_of(&self, conn: &mut PgConnection, queue: Uuid) -> Result<Roles> {
        let meta = self.queue_meta(queue).await?.ok_or(StoreError::NotFound)?;
        Ok(ticket_rules(conn, &self.caches, meta.ticket_type_id).await?.fsm.roles().clone())
    }

    /// Reads a queue's pace from the database.
    #[tracing::instrument(level = "debug", skip_all, fields(queue = %queue))]
    pub(super) async fn read_pace(&self, conn: &mut PgConnection, queue: Uuid) -> Result<Arc<Pace>> {
        let absent = self.roles_of(conn, queue).await?.absent;
        // Open counters are those among the recent calls; a free one has no called or serving
        // ticket at it (the same rule as the hubs' view).
        let (prior, calls, free): (Option<f64>, Vec<DateTime<Utc>>, i64) = sqlx::query_as(
            "WITH recent AS (SELECT called_at, counter FROM tickets WHERE queue_id = $1 AND called_at IS NOT NULL \
                             ORDER BY called_at DESC LIMIT 21) \
             SELECT (SELECT (settings->>'service_seconds')::float8 FROM queues WHERE id = $1), \
                    array(SELECT called_at FROM recent), \
                    (SELECT count(DISTINCT r.counter) FROM recent r WHERE r.counter IS NOT NULL AND NOT EXISTS ( \
                       SELECT 1 FROM tickets b WHERE b.queue_id = $1 AND NOT b.in_line AND b.finished_at IS NULL \
                         AND b.status IS DISTINCT FROM $2 AND b.counter = r.counter))",
        )
        .bind(queue)
        .bind(absent)
        .fetch_one(&mut *conn)
        .await?;
        Ok(Arc::new(Pace {
            history: CallHistory::from_calls(calls, MAX_GAP_SECS),
            prior_secs: prior.unwrap_or(DEFAULT_SERVICE_SECS),
            free: free as u32,
        }))
    }
}

/// A queue that is not deleted.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub(super) async fn fetch_queue(conn: &mut PgConnection, id: Uuid) -> Result<Option<Queue>> {
    Ok(sqlx::query_as(concat_queue_select!(" WHERE q.id = $1 AND q.deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// A ticket type's rules, from the cache or the database (inside the caller's tenant).
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub(super) async fn ticket_rules(conn: &mut PgConnection, caches: &Caches, id: Uuid) -> Result<Arc<TicketRules>> {
    if let Some(rules) = caches.ticket_types.get(&id) {
        return Ok(rules.clone());
    }
    let (code, fsm, schema): (String, Value, Option<Value>) =
        sqlx::query_as("SELECT code, fsm, fields_schema FROM ticket_types WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
    let fsm = Fsm::parse(&fsm).map_err(|e| anyhow::anyhow!("stored ticket type {code} is invalid: {e}"))?;
    let fields = match &schema {
        Some(s) => Some(jsonschema::validator_for(s).map_err(|e| anyhow::anyhow!("stored schema of {code}: {e}"))?),
        None => None,
    };
    let rules = Arc::new(TicketRules { code, fsm, fields, schema });
    caches.ticket_types.insert(id, rules.clone());
    Ok(rules)
}
