//! The audit trail: who changed what, when, from where. Each entry is written by the store
//! function that makes the change, in the change's own transaction, so the log holds exactly
//! what happened. The app role may only add and read entries (migration 0050).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Identity, Result, Store, StoreError};

/// Entries a page holds at most.
pub const MAX_AUDIT_PAGE: i64 = 500;

/// Where a request came from, as the audit log records it.
#[derive(Debug, Clone, Default)]
pub struct Via {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change {
    /// `user.created`, `queue.deleted`, `auth.login_failed`…
    pub action: &'static str,
    /// `user`, `queue`, `location`…
    pub entity: &'static str,
    pub entity_id: Option<String>,
    /// What the entity was, and became; never a secret (a hash, key, code or password).
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    pub fn new(action: &'static str, entity: &'static str, id: impl ToString) -> Change {
        Change { action, entity, entity_id: Some(id.to_string()), before: None, after: None }
    }

    pub fn before(mut self, v: impl Serialize) -> Change {
        self.before = serde_json::to_value(v).ok();
        self
    }

    pub fn after(mut self, v: impl Serialize) -> Change {
        self.after = serde_json::to_value(v).ok();
        self
    }
}

/// An entry of the audit log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({
    "id": 42, "at": "2026-11-23T09:41:12Z", "actor": "staff:3c2b1a00-1111-4222-8333-944455556666",
    "action": "user.updated", "entity": "user", "entity_id": "7d1e0c52-8f5a-4b7e-9a31-2c44e0f1d9b6",
    "before": {"role": "staff", "disabled": false}, "after": {"role": "staff", "disabled": true},
    "ip": "192.0.2.7", "user_agent": "Mozilla/5.0"
}))]
pub struct AuditEntry {
    /// Grows with every entry: page with `after=`.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `staff:<user id>`, `system` or `anonymous`.
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries after this id, oldest first; without it, the newest first (before `before`).
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub limit: i64,
    pub action: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
}

/// Appends an entry, in the transaction `conn` is in (which names the tenant).
pub(super) async fn record(
    conn: &mut PgConnection,
    tenant: Uuid,
    actor: &str,
    via: &Via,
    change: Change,
) -> Result<()> {
    let user_agent = via.user_agent.as_deref().map(|ua| ua.chars().take(512).collect::<String>());
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_id, before, after, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant)
    .bind(actor)
    .bind(change.action)
    .bind(change.entity)
    .bind(change.entity_id)
    .bind(change.before)
    .bind(change.after)
    .bind(&via.ip)
    .bind(user_agent)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// A page of the tenant's audit log.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn audit_log(&self, who: &Identity, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        if !(1..=MAX_AUDIT_PAGE).contains(&q.limit) {
            return Err(StoreError::Invalid(format!("limit: 1 to {MAX_AUDIT_PAGE}")));
        }
        let filters = "($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR entity = $4) \
                       AND ($5::text IS NULL OR entity_id = $5) AND ($6::text IS NULL OR actor = $6)";
        let sql = match q.after {
            Some(_) => format!("SELECT * FROM audit_log WHERE id > $1 AND {filters} ORDER BY id LIMIT $2"),
            None => format!(
                "SELECT * FROM audit_log WHERE ($1::bigint IS NULL OR id < $1) AND {filters} ORDER BY id DESC LIMIT $2"
            ),
        };
        let mut tx = self.begin(who.tenant_id).await?;
        let rows = sqlx::query_as::<_, AuditEntry>(sqlx::AssertSqlSafe(sql))
            .bind(q.after.or(q.before))
            .bind(q.limit)
            .bind(&q.action)
            .bind(&q.entity)
            .bind(&q.entity_id)
            .bind(&q.actor)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
