//! Device keys (migration 0040): one revocable secret for a screen or a lobby tablet, covering
//! up to 12 queues. The per-queue display keys of `display_keys` open the same way, as a
//! display device of one queue.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Identity, Result, Store, StoreError};
use crate::domain::device::check_queue_ids;
use crate::domain::{Device, DeviceKind};
use crate::secret;

/// A device key as managers list it: never the key itself.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeviceKey {
    pub id: Uuid,
    pub kind: DeviceKind,
    pub queue_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    /// When a device last used it (updated at most once a minute); null: never.
    pub last_seen_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    kind: String,
    queue_ids: Vec<Uuid>,
    created_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
}

impl KeyRow {
    fn key(self) -> Result<DeviceKey> {
        let kind = DeviceKind::parse(&self.kind).ok_or_else(|| anyhow::anyhow!("device key kind {}", self.kind))?;
        Ok(DeviceKey {
            id: self.id,
            kind,
            queue_ids: self.queue_ids,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
        })
    }
}

impl Store {
    /// A new device key for `queue_ids` (queues of the tenant, 1 to 12, in the order given): the
    /// key's record, and the key (shown once; only its hash is stored).
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, kind = kind.as_str()))]
    pub async fn create_device_key(
        &self,
        who: &Identity,
        via: &super::Via,
        kind: DeviceKind,
        queue_ids: Vec<Uuid>,
    ) -> Result<(DeviceKey, String)> {
        check_queue_ids(&queue_ids).map_err(StoreError::Invalid)?;
        for queue in &queue_ids {
            self.check_site(who, *queue).await?;
        }
        let mut tx = self.begin(who.tenant_id).await?;
        // Another tenant's queue (or none) is simply not found, like everywhere else.
        let found: i64 = sqlx::query_scalar("SELECT count(*) FROM queues WHERE id = ANY($1) AND deleted_at IS NULL")
            .bind(&queue_ids)
            .fetch_one(&mut *tx)
            .await?;
        if found != queue_ids.len() as i64 {
            return Err(StoreError::NotFound);
        }
        let (id, key) = (Uuid::new_v4(), secret::new_token());
        let row: KeyRow = sqlx::query_as(
            "INSERT INTO device_keys (id, tenant_id, kind, queue_ids, key_hash) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, kind, queue_ids, created_at, last_seen_at",
        )
        .bind(id)
        .bind(who.tenant_id)
        .bind(kind.as_str())
        .bind(&queue_ids)
        .bind(secret::hash_token(&key))
        .fetch_one(&mut *tx)
        .await?;
        let made = row.key()?;
        // The key itself is a secret: only what it opens.
        let change = super::audit::Change::new("device_key.created", "device_key", id).after(&made);
        super::audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok((made, key))
    }

    /// The tenant's live device keys, oldest first.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn device_keys(&self, who: &Identity) -> Result<Vec<DeviceKey>> {
        let mut tx = self.begin(who.tenant_id).await?;
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT id, kind, queue_ids, created_at, last_seen_at FROM device_keys \
             WHERE revoked_at IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let keys: Vec<DeviceKey> = rows.into_iter().map(KeyRow::key).collect::<Result<_>>()?;
        if who.locations.is_none() {
            return Ok(keys);
        }
        // A limited user sees the keys whose every queue is at their sites.
        let mut mine = Vec::new();
        for key in keys {
            let mut all = true;
            for queue in &key.queue_ids {
                all &= self.check_site(who, *queue).await.is_ok();
            }
            if all {
                mine.push(key);
            }
        }
        Ok(mine)
    }

    /// Revokes a device key: its devices stop working at their next request, and their
    /// sockets close within a recheck period.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, key_id = %id))]
    pub async fn revoke_device_key(&self, who: &Identity, via: &super::Via, id: Uuid) -> Result<()> {
        if who.locations.is_some() && !self.device_keys(who).await?.iter().any(|k| k.id == id) {
            return Err(StoreError::NotFound);
        }
        let mut tx = self.begin(who.tenant_id).await?;
        let done: Option<KeyRow> = sqlx::query_as(
            "UPDATE device_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL \
             RETURNING id, kind, queue_ids, created_at, last_seen_at",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let gone = done.ok_or(StoreError::NotFound)?.key()?;
        let change = super::audit::Change::new("device_key.revoked", "device_key", id).before(&gone);
        super::audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The device a key opens, if it is live: a device key, or a per-queue display key (a
    /// display of its one queue). Notes when a device key was last seen, at most once a minute.
    #[tracing::instrument(skip_all)]
    pub async fn open_device(&self, key: &str) -> Result<Option<Device>> {
        let hash = secret::hash_token(key);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "SELECT set_config('app.tenant_id', \
             coalesce(qc_tenant_of_device_key($1), qc_tenant_of_display_key($1))::text, true)",
        )
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        let row: Option<(Uuid, Uuid, String, Vec<Uuid>, bool)> = sqlx::query_as(
            "SELECT id, tenant_id, kind, queue_ids, \
                    last_seen_at IS NULL OR last_seen_at < now() - interval '1 minute' \
             FROM device_keys WHERE key_hash = $1 AND revoked_at IS NULL \
             UNION ALL \
             SELECT id, tenant_id, 'display', ARRAY[queue_id], false \
             FROM display_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, tenant_id, kind, queue_ids, stale)) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        if stale {
            sqlx::query("UPDATE device_keys SET last_seen_at = now() WHERE id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let kind = DeviceKind::parse(&kind).ok_or_else(|| anyhow::anyhow!("device key kind {kind}"))?;
        Ok(Some(Device { id, tenant_id, kind, queue_ids }))
    }
}
