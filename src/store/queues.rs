//! Queues, display keys and ticket types.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::cache::{Caches, Pace, QueueMeta, TicketRules};
use super::writer::{Change, Outcome};
use super::{unique_violation, Conflict, Identity, Result, Store, StoreError};
use crate::domain::queue::{valid_prefix, valid_slug};
use crate::domain::{CallHistory, Fsm, QueueStatus, Roles};
use crate::secret;

/// The service time assumed for a queue with no history yet, unless its settings say otherwise.
pub const DEFAULT_SERVICE_SECS: f64 = 180.0;
/// Gaps between calls longer than this are breaks, not service.
const MAX_GAP_SECS: f64 = 1800.0;

/// A queue as staff see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "slug": "main", "name": "Main desk", "prefix": "A",
    "capacity": null, "status": "open", "ticket_type": "default", "waiting": 12, "last_seq": 57,
    "settings": {}, "location_id": null, "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T09:41:12Z"
}))]
pub struct Queue {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub prefix: String,
    pub capacity: Option<i32>,
    pub status: QueueStatus,
    pub ticket_type: String,
    pub waiting: i32,
    pub last_seq: i64,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub location_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

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

/// What anyone may know of a queue (the join page).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "name": "Main desk", "status": "open", "waiting": 12,
    "eta_new_seconds": 1980, "eta_new_p90_seconds": 2700,
    "ticket_type": {"code": "default", "init": "waiting",
        "states": ["waiting", "called", "serving", "completed", "cancelled", "no_show"],
        "final": ["completed", "cancelled"], "roles": {"absent": "no_show", "abandoned": "cancelled"}}
}))]
pub struct QueueSummary {
    pub id: Uuid,
    pub name: String,
    pub status: QueueStatus,
    pub waiting: i32,
    pub eta_new_seconds: i64,
    pub eta_new_p90_seconds: i64,
    /// What a customer page needs of the queue's ticket type to word a ticket's state.
    pub ticket_type: TypeSummary,
}

/// A ticket type as customers' pages see it: its states, which of them end a ticket, and the
/// roles of its special states.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "code": "default", "init": "waiting",
    "states": ["waiting", "called", "serving", "completed", "cancelled", "no_show"],
    "final": ["completed", "cancelled"], "roles": {"absent": "no_show", "abandoned": "cancelled"}
}))]
pub struct TypeSummary {
    pub code: String,
    /// Tickets in this state are in line.
    pub init: String,
    pub states: Vec<String>,
    /// States with no way out: the ticket has ended.
    #[serde(rename = "final")]
    pub final_states: Vec<String>,
    #[schema(value_type = Object)]
    pub roles: Roles,
}

impl TypeSummary {
    fn of(rules: &TicketRules) -> TypeSummary {
        let fsm = &rules.fsm;
        TypeSummary {
            code: rules.code.clone(),
            init: fsm.init().to_owned(),
            states: fsm.states().to_vec(),
            final_states: fsm.final_states().into_iter().map(str::to_owned).collect(),
            roles: fsm.roles().clone(),
        }
    }
}

/// A new queue.
#[derive(Debug, Clone, Default)]
pub struct NewQueue {
    pub slug: String,
    pub name: String,
    pub prefix: Option<String>,
    pub capacity: Option<i32>,
    pub ticket_type: Option<String>,
    pub settings: Option<Value>,
}

/// A change to a queue's status, name or capacity (`Some(None)` removes the capacity).
#[derive(Debug, Clone, Default)]
pub struct QueuePatch {
    pub status: Option<QueueStatus>,
    pub name: Option<String>,
    pub capacity: Option<Option<i32>>,
}

/// A ticket type as saved.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TicketType {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub fsm: Value,
    #[schema(value_type = Option<Object>)]
    pub fields_schema: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// A new ticket type.
#[derive(Debug, Clone)]
pub struct NewTicketType {
    pub code: String,
    pub name: String,
    pub fsm: Value,
    pub fields_schema: Option<Value>,
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(StoreError::Invalid("a name has 1 to 200 characters".into()));
    }
    Ok(())
}

fn check_settings(settings: &Value) -> Result<()> {
    let Some(map) = settings.as_object() else {
        return Err(StoreError::Invalid("settings must be an object".into()));
    };
    if let Some(v) = map.get("service_seconds") {
        if !v.as_f64().is_some_and(|s| (1.0..=86_400.0).contains(&s)) {
            return Err(StoreError::Invalid("settings.service_seconds must be 1 to 86400".into()));
        }
    }
    if let Some(v) = map.get("notify_ahead") {
        let positions = super::writer::ahead_positions(v).filter(|p| p.len() <= 10);
        let distinct =
            positions.as_ref().is_some_and(|p| p.iter().collect::<std::collections::HashSet<_>>().len() == p.len());
        if !distinct {
            let max = super::writer::MAX_NOTIFY_AHEAD;
            return Err(StoreError::Invalid(format!(
                "settings.notify_ahead must be a list of at most 10 distinct positions, 1 to {max}"
            )));
        }
    }
    Ok(())
}

impl Store {
    /// Creates a queue in the user's tenant.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn create_queue(&self, who: &Identity, new: NewQueue) -> Result<Queue> {
        if !valid_slug(&new.slug) {
            return Err(StoreError::Invalid("slug: lowercase letters, digits and dashes, at most 63".into()));
        }
        check_name(&new.name)?;
        let prefix = new.prefix.unwrap_or_else(|| "A".into());
        if !valid_prefix(&prefix) {
            return Err(StoreError::Invalid("prefix: up to three capital letters".into()));
        }
        if new.capacity.is_some_and(|c| c < 1) {
            return Err(StoreError::Invalid("capacity must be at least 1".into()));
        }
        let settings = new.settings.unwrap_or_else(|| serde_json::json!({}));
        check_settings(&settings)?;
        let type_code = new.ticket_type.unwrap_or_else(|| "default".into());

        let mut tx = self.begin(who.tenant_id).await?;
        let type_id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM ticket_types WHERE code = $1")
            .bind(&type_code)
            .fetch_optional(&mut *tx)
            .await?;
        let type_id = type_id.ok_or_else(|| StoreError::Invalid(format!("no ticket type `{type_code}`")))?;
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO queues (id, tenant_id, slug, name, prefix, capacity, ticket_type_id, settings) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(who.tenant_id)
        .bind(&new.slug)
        .bind(new.name.trim())
        .bind(&prefix)
        .bind(new.capacity)
        .bind(type_id)
        .bind(&settings)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, format!("a queue with slug `{}`", new.slug)))?;
        let queue = fetch_queue(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(queue)
    }

    /// The queues of the user's tenant.
    pub async fn list_queues(&self, who: &Identity) -> Result<Vec<Queue>> {
        let mut tx = self.begin(who.tenant_id).await?;
        let queues = sqlx::query_as(concat_queue_select!(" WHERE q.deleted_at IS NULL ORDER BY q.created_at, q.slug"))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(queues)
    }

    /// One queue of the user's tenant.
    pub async fn queue(&self, who: &Identity, id: Uuid) -> Result<Queue> {
        let mut tx = self.begin(who.tenant_id).await?;
        let queue = fetch_queue(&mut tx, id).await?;
        tx.commit().await?;
        queue.ok_or(StoreError::NotFound)
    }

    /// The public summary of any queue: the join page's header.
    pub async fn queue_summary(&self, id: Uuid) -> Result<QueueSummary> {
        let meta = self.queue_meta(id).await?.ok_or(StoreError::NotFound)?;
        let mut tx = self.begin(meta.tenant_id).await?;
        let row: Option<(String, QueueStatus, i32)> =
            sqlx::query_as("SELECT name, status, waiting FROM queues WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let (name, status, waiting) = row.ok_or(StoreError::NotFound)?;
        let pace = self.pace_in(&mut tx, id).await?;
        let rules = ticket_rules(&mut tx, &self.caches, meta.ticket_type_id).await?;
        tx.commit().await?;
        let eta = pace.estimate(waiting as u32 + 1);
        Ok(QueueSummary {
            id,
            name,
            status,
            waiting,
            eta_new_seconds: eta.p50,
            eta_new_p90_seconds: eta.p90,
            ticket_type: TypeSummary::of(&rules),
        })
    }

    /// Opens, pauses or closes a queue, or renames it: an event like any other change.
    pub async fn update_queue(&self, who: &Identity, id: Uuid, patch: QueuePatch) -> Result<Queue> {
        if let Some(name) = &patch.name {
            check_name(name)?;
        }
        if patch.capacity.flatten().is_some_and(|c| c < 1) {
            return Err(StoreError::Invalid("capacity must be at least 1".into()));
        }
        let change = Change::UpdateQueue { queue_id: id, patch, actor: who.actor() };
        match self.writer.submit(who.tenant_id, change).await? {
            Outcome::Queue(queue) => Ok(queue),
            Outcome::Ticket { .. } => Err(StoreError::Other(anyhow::anyhow!("a queue update answered a ticket"))),
        }
    }

    /// Deletes a queue softly: it leaves lists, takes no joins or changes (404), and frees its
    /// slug; its tickets, events and stats stay readable. Refused while anyone is in line or
    /// being served.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn delete_queue(&self, who: &Identity, id: Uuid) -> Result<()> {
        let mut tx = self.begin(who.tenant_id).await?;
        // `waiting` is re-read on the row a concurrent writer commits (read committed re-checks
        // the updated row), so a join that lands meanwhile keeps the queue.
        let deleted: Option<i32> = sqlx::query_scalar(
            "UPDATE queues SET deleted_at = now(), status = $2, updated_at = now() \
             WHERE id = $1 AND deleted_at IS NULL AND waiting = 0 \
               AND NOT EXISTS (SELECT 1 FROM tickets WHERE queue_id = $1 AND finished_at IS NULL) \
             RETURNING 1",
        )
        .bind(id)
        .bind(QueueStatus::Closed)
        .fetch_optional(&mut *tx)
        .await?;
        if deleted.is_none() {
            let live = fetch_queue(&mut tx, id).await?;
            return Err(if live.is_some() { Conflict::QueueNotEmpty.into() } else { StoreError::NotFound });
        }
        tx.commit().await?;
        Ok(())
    }

    /// A new display key for a queue's kiosk screens.
    /// Revokes a display key of a queue: its screens are closed within a recheck period.
    pub async fn revoke_display_key(&self, who: &Identity, queue_id: Uuid, key_id: Uuid) -> Result<()> {
        let mut tx = self.begin(who.tenant_id).await?;
        let done = sqlx::query(
            "UPDATE display_keys SET revoked_at = now() WHERE id = $1 AND queue_id = $2 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(queue_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn create_display_key(&self, who: &Identity, queue_id: Uuid) -> Result<(Uuid, String)> {
        let mut tx = self.begin(who.tenant_id).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM queues WHERE id = $1 AND deleted_at IS NULL")
            .bind(queue_id)
            .fetch_optional(&mut *tx)
            .await?;
        exists.ok_or(StoreError::NotFound)?;
        let (id, key) = (Uuid::new_v4(), secret::new_token());
        sqlx::query("INSERT INTO display_keys (id, tenant_id, queue_id, key_hash) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(who.tenant_id)
            .bind(queue_id)
            .bind(secret::hash_token(&key))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((id, key))
    }

    /// Saves a ticket type after checking its machine and its fields schema.
    pub async fn create_ticket_type(&self, who: &Identity, new: NewTicketType) -> Result<TicketType> {
        if !valid_slug(&new.code.replace('_', "-")) {
            return Err(StoreError::Invalid("code: lowercase letters, digits, - and _".into()));
        }
        check_name(&new.name)?;
        let fsm = Fsm::parse(&new.fsm).map_err(|e| StoreError::Invalid(format!("fsm: {e}")))?;
        if let Some(schema) = &new.fields_schema {
            jsonschema::validator_for(schema).map_err(|e| StoreError::Invalid(format!("fields_schema: {e}")))?;
        }
        let mut tx = self.begin(who.tenant_id).await?;
        let row: (Uuid, DateTime<Utc>) = sqlx::query_as(
            "INSERT INTO ticket_types (id, tenant_id, code, name, fsm, fields_schema) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at",
        )
        .bind(Uuid::new_v4())
        .bind(who.tenant_id)
        .bind(&new.code)
        .bind(new.name.trim())
        .bind(fsm.to_json())
        .bind(&new.fields_schema)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, format!("a ticket type with code `{}`", new.code)))?;
        tx.commit().await?;
        Ok(TicketType {
            id: row.0,
            code: new.code,
            name: new.name.trim().to_owned(),
            fsm: fsm.to_json(),
            fields_schema: new.fields_schema,
            created_at: row.1,
        })
    }

    /// The ticket types of the user's tenant.
    pub async fn list_ticket_types(&self, who: &Identity) -> Result<Vec<TicketType>> {
        let mut tx = self.begin(who.tenant_id).await?;
        let mut types: Vec<TicketType> =
            sqlx::query_as("SELECT id, code, name, fsm, fields_schema, created_at FROM ticket_types ORDER BY code")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        // Types saved before roles existed get theirs as the write path reads them.
        for t in &mut types {
            if let Ok(fsm) = Fsm::parse(&t.fsm) {
                t.fsm = fsm.to_json();
            }
        }
        Ok(types)
    }

    /// The tenant and ticket type of any queue, for public calls. Cached: neither ever changes.
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
    pub(super) async fn pace_in(&self, conn: &mut PgConnection, queue: Uuid) -> Result<Arc<Pace>> {
        match self.caches.pace(queue, true) {
            Ok(pace) => Ok(pace),
            Err(claim) => Ok(claim.fulfil(self.read_pace(conn, queue).await?)),
        }
    }

    /// The roles of a queue's ticket type: which states counts and estimates look for.
    pub(super) async fn roles_of(&self, conn: &mut PgConnection, queue: Uuid) -> Result<Roles> {
        let meta = self.queue_meta(queue).await?.ok_or(StoreError::NotFound)?;
        Ok(ticket_rules(conn, &self.caches, meta.ticket_type_id).await?.fsm.roles().clone())
    }

    /// Reads a queue's pace from the database.
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
pub(super) async fn fetch_queue(conn: &mut PgConnection, id: Uuid) -> Result<Option<Queue>> {
    Ok(sqlx::query_as(concat_queue_select!(" WHERE q.id = $1 AND q.deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// A ticket type's rules, from the cache or the database (inside the caller's tenant).
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
    let fields = match schema {
        Some(s) => Some(jsonschema::validator_for(&s).map_err(|e| anyhow::anyhow!("stored schema of {code}: {e}"))?),
        None => None,
    };
    let rules = Arc::new(TicketRules { code, fsm, fields });
    caches.ticket_types.insert(id, rules.clone());
    Ok(rules)
}
