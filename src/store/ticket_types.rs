//! Ticket types: the state machines (and custom fields) tickets follow.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::queues::check_name;
use super::{unique_violation, Identity, Result, Store, StoreError};
use crate::domain::queue::valid_slug;
use crate::domain::Fsm;

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

impl Store {
    /// Saves a ticket type after checking its machine and its fields schema.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn create_ticket_type(&self, who: &Identity, via: &super::Via, new: NewTicketType) -> Result<TicketType> {
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
        let saved = TicketType {
            id: row.0,
            code: new.code,
            name: new.name.trim().to_owned(),
            fsm: fsm.to_json(),
            fields_schema: new.fields_schema,
            created_at: row.1,
        };
        let change = super::audit::Change::new("ticket_type.created", "ticket_type", saved.id).after(&saved);
        super::audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// The ticket types of the user's tenant.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
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
}
