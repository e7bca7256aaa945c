//! Display keys: the revocable secrets that open a queue's kiosk screens.

use uuid::Uuid;

use super::audit::{self, Change, Via};
use super::{Identity, Result, Store, StoreError};
use crate::secret;

impl Store {
    /// Revokes a display key of a queue: its screens are closed within a recheck period.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, queue_id = %queue_id, key_id = %key_id))]
    pub async fn revoke_display_key(&self, who: &Identity, via: &Via, queue_id: Uuid, key_id: Uuid) -> Result<()> {
        self.check_site(who, queue_id).await?;
        let mut tx = self.begin(who.tenant_id).await?;
        let done = sqlx::query(
            "UPDATE display_keys SET revoked_at = now() WHERE id = $1 AND queue_id = $2 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(queue_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let change =
            Change::new("display_key.revoked", "display_key", key_id).before(serde_json::json!({"queue_id": queue_id}));
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new display key for a queue's kiosk screens: its id, and the key (shown once; only
    /// its hash is stored).
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, queue_id = %queue_id))]
    pub async fn create_display_key(&self, who: &Identity, via: &Via, queue_id: Uuid) -> Result<(Uuid, String)> {
        self.check_site(who, queue_id).await?;
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
        // The key itself is a secret: only which queue it opens.
        let change = Change::new("display_key.created", "display_key", id)
            .after(serde_json::json!({"queue_id": queue_id, "kind": "display"}));
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok((id, key))
    }
}
