//! Webhook endpoints, their delivery log, and the outbox the sender drains.
//!
//! Deliveries are inserted by the writer, in the transaction of their event (`writer::flush`).
//! The sender claims due ones across tenants through `qc_claim_deliveries` (a lease, FOR UPDATE
//! SKIP LOCKED) and records each attempt in a transaction scoped to the delivery's tenant.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Identity, Result, Store, StoreError};

/// An endpoint as managers see it (never with its secret).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub queue_id: Option<Uuid>,
    pub events: Vec<String>,
    pub include_phone: bool,
    pub created_at: DateTime<Utc>,
}

/// A new endpoint, already validated by the caller (URL, kinds, secret).
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub queue_id: Option<Uuid>,
    pub events: Vec<String>,
    pub secret: String,
    pub include_phone: bool,
}

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub kind: String,
    pub queue_id: Uuid,
    pub seq: i64,
    pub ticket_id: Option<Uuid>,
    pub position: Option<i32>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    /// When the next attempt is due; null once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A delivery the sender has leased: where to send it, how to sign it, what to say.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url: String,
    pub secret: String,
    pub kind: String,
    pub queue_id: Uuid,
    pub seq: i64,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The event as the protocol shows it, or the notification's payload.
    pub event: Value,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub status: Option<i32>,
    pub error: Option<String>,
    pub delivered: bool,
    /// When to try again; None with `delivered` false means the delivery has failed for good.
    pub retry_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Not found unless the user may see the endpoint: a user limited to some sites sees only
    /// the endpoints of their sites' queues (not the tenant-wide ones).
    async fn check_webhook(&self, who: &Identity, id: Uuid) -> Result<()> {
        if who.locations.is_none() {
            return Ok(());
        }
        let mut tx = self.begin(who.tenant_id).await?;
        let queue: Option<Option<Uuid>> =
            sqlx::query_scalar("SELECT queue_id FROM webhooks WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        match queue {
            Some(Some(queue)) => self.check_site(who, queue).await,
            _ => Err(StoreError::NotFound),
        }
    }

    /// Registers an endpoint in the manager's tenant. A queue of another tenant is not found.
    #[tracing::instrument(skip(self, who, via, new), fields(tenant = %who.tenant_id))]
    pub async fn create_webhook(&self, who: &Identity, via: &super::Via, new: NewWebhook) -> Result<Webhook> {
        match new.queue_id {
            Some(queue) => self.check_site(who, queue).await?,
            // Every queue's events would include other sites'.
            None if who.locations.is_some() => {
                return Err(StoreError::Invalid(
                    "queue_id: a user limited to some locations registers endpoints for one queue".into(),
                ))
            }
            None => {}
        }
        let mut tx = self.begin(who.tenant_id).await?;
        if let Some(queue_id) = new.queue_id {
            let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM queues WHERE id = $1")
                .bind(queue_id)
                .fetch_optional(&mut *tx)
                .await?;
            exists.ok_or(StoreError::NotFound)?;
        }
        let hook: Webhook = sqlx::query_as(
            "INSERT INTO webhooks (id, tenant_id, queue_id, url, events, secret, include_phone) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, url, queue_id, events, include_phone, created_at",
        )
        .bind(Uuid::new_v4())
        .bind(who.tenant_id)
        .bind(new.queue_id)
        .bind(&new.url)
        .bind(&new.events)
        .bind(&new.secret)
        .bind(new.include_phone)
        .fetch_one(&mut *tx)
        .await?;
        // The webhook as listed: never its secret.
        let change = super::audit::Change::new("webhook.created", "webhook", hook.id).after(&hook);
        super::audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok(hook)
    }

    /// The endpoints of the manager's tenant.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn list_webhooks(&self, who: &Identity) -> Result<Vec<Webhook>> {
        let mut tx = self.begin(who.tenant_id).await?;
        let hooks: Vec<Webhook> = sqlx::query_as(
            "SELECT id, url, queue_id, events, include_phone, created_at FROM webhooks ORDER BY created_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        if who.locations.is_none() {
            return Ok(hooks);
        }
        let mut mine = Vec::new();
        for hook in hooks {
            if self.check_webhook(who, hook.id).await.is_ok() {
                mine.push(hook);
            }
        }
        Ok(mine)
    }

    /// Removes an endpoint and its deliveries (pending ones are not sent).
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, id = %id))]
    pub async fn delete_webhook(&self, who: &Identity, via: &super::Via, id: Uuid) -> Result<()> {
        self.check_webhook(who, id).await?;
        let mut tx = self.begin(who.tenant_id).await?;
        let gone: Option<Webhook> = sqlx::query_as(
            "DELETE FROM webhooks WHERE id = $1 RETURNING id, url, queue_id, events, include_phone, created_at",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let gone = gone.ok_or(StoreError::NotFound)?;
        let change = super::audit::Change::new("webhook.deleted", "webhook", id).before(&gone);
        super::audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An endpoint's latest deliveries, newest first.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, id = %id))]
    pub async fn webhook_deliveries(&self, who: &Identity, id: Uuid, limit: i64) -> Result<Vec<Delivery>> {
        self.check_webhook(who, id).await?;
        let mut tx = self.begin(who.tenant_id).await?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM webhooks WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        exists.ok_or(StoreError::NotFound)?;
        let log = sqlx::query_as(
            "SELECT id, kind, queue_id, seq, ticket_id, position, \
               CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN failed_at IS NOT NULL THEN 'failed' \
                    ELSE 'pending' END AS status, \
               attempts, last_status, last_error, \
               CASE WHEN delivered_at IS NULL AND failed_at IS NULL THEN next_attempt_at END AS next_attempt_at, \
               delivered_at, failed_at, created_at \
             FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC, seq DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(log)
    }

    /// Leases up to `limit` due deliveries of any tenant for `lease`.
    #[tracing::instrument(skip_all)]
    pub async fn claim_deliveries(&self, limit: i32, lease: std::time::Duration) -> Result<Vec<Claimed>> {
        let lease_ms = i32::try_from(lease.as_millis()).unwrap_or(i32::MAX);
        Ok(sqlx::query_as("SELECT * FROM qc_claim_deliveries($1, $2)")
            .bind(limit)
            .bind(lease_ms)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Records one attempt of a leased delivery and releases the lease.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, id = %id))]
    pub async fn record_attempt(&self, tenant: Uuid, id: Uuid, outcome: &AttemptOutcome) -> Result<()> {
        let mut tx = self.begin(tenant).await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2, last_error = $3, \
               locked_until = NULL, delivered_at = CASE WHEN $4 THEN now() END, \
               failed_at = CASE WHEN NOT $4 AND $5::timestamptz IS NULL THEN now() END, \
               next_attempt_at = COALESCE($5, next_attempt_at) \
             WHERE id = $1 AND delivered_at IS NULL AND failed_at IS NULL",
        )
        .bind(id)
        .bind(outcome.status)
        .bind(&outcome.error)
        .bind(outcome.delivered)
        .bind(outcome.retry_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
