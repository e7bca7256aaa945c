//! Sites of a tenant (a clinic's branches, a city's offices), and the rule that staff limited
//! to some sites see and act on only those sites' queues: [`Store::check_site`] and
//! [`Store::check_ticket_site`], called by every store function a staff user reaches with a
//! queue or a ticket.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::{self, Change, Via};
use super::{Identity, Result, Store, StoreError};

/// A site.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "5f0c3a52-1d2e-4f3a-8b4c-5d6e7f8a9b0c", "name": "Northside clinic", "timezone": "Europe/Paris",
    "address": "12 rue de la Paix, 75002 Paris", "created_at": "2026-11-23T08:00:00Z"
}))]
pub struct Location {
    pub id: Uuid,
    pub name: String,
    /// An IANA time zone: the default of its queues' hours and reports.
    pub timezone: String,
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A site's fields, new or changed (absent: unchanged; `address: Some(None)` removes it).
#[derive(Debug, Clone, Default)]
pub struct LocationPatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub address: Option<Option<String>>,
}

fn check(patch: &LocationPatch) -> Result<()> {
    if let Some(name) = &patch.name {
        if name.trim().is_empty() || name.chars().count() > 200 {
            return Err(StoreError::Invalid("name: 1 to 200 characters".into()));
        }
    }
    if let Some(tz) = &patch.timezone {
        if tz.parse::<chrono_tz::Tz>().is_err() {
            return Err(StoreError::Invalid(format!("timezone: `{tz}` is not an IANA time zone (e.g. Europe/Paris)")));
        }
    }
    if let Some(Some(address)) = &patch.address {
        if address.chars().count() > 500 {
            return Err(StoreError::Invalid("address: at most 500 characters".into()));
        }
    }
    Ok(())
}

const LOCATION_COLS: &str = "id, name, timezone, address, created_at";

async fn fetch(conn: &mut PgConnection, id: Uuid) -> Result<Option<Location>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {LOCATION_COLS} FROM locations WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Hours given without a time zone take their site's (`tz`), when the queue has a site.
pub(super) fn fill_hours_tz(settings: &mut serde_json::Map<String, serde_json::Value>, tz: Option<String>) {
    if let (Some(serde_json::Value::Object(hours)), Some(tz)) = (settings.get_mut("hours"), tz) {
        hours.entry("tz").or_insert(serde_json::Value::String(tz));
    }
}

/// The time zone of a site of the tenant.
pub(super) async fn timezone_of(conn: &mut PgConnection, location: Uuid) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT timezone FROM locations WHERE id = $1").bind(location).fetch_optional(conn).await?)
}

/// The site of a queue of the tenant (`Some(None)`: a queue of no site; `None`: no such queue).
pub(super) async fn site_of_queue(conn: &mut PgConnection, queue: Uuid) -> Result<Option<Option<Uuid>>> {
    let row: Option<Option<Uuid>> =
        sqlx::query_scalar("SELECT location_id FROM queues WHERE id = $1").bind(queue).fetch_optional(conn).await?;
    Ok(row)
}

/// Refuses (as not found) a site the user may not use: an unknown site, or one outside the
/// user's sites.
pub(super) async fn check_location_use(conn: &mut PgConnection, who: &Identity, location: Uuid) -> Result<()> {
    if fetch(conn, location).await?.is_none() {
        return Err(StoreError::Rejected("unknown_location", "location_id: no such location".into()));
    }
    if !who.may_see(Some(location)) {
        return Err(StoreError::Rejected("unknown_location", "location_id: not one of your locations".into()));
    }
    Ok(())
}

impl Store {
    /// The tenant's sites (a user limited to some sees only those).
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn list_locations(&self, who: &Identity) -> Result<Vec<Location>> {
        let mut tx = self.begin(who.tenant_id).await?;
        let all: Vec<Location> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {LOCATION_COLS} FROM locations ORDER BY name, id")))
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(all.into_iter().filter(|l| who.may_see(Some(l.id))).collect())
    }

    /// Adds a site.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn create_location(&self, who: &Identity, via: &Via, new: LocationPatch) -> Result<Location> {
        let (Some(name), Some(timezone)) = (new.name.clone(), new.timezone.clone()) else {
            return Err(StoreError::Invalid("give name and timezone".into()));
        };
        check(&new)?;
        let id = Uuid::new_v4();
        let mut tx = self.begin(who.tenant_id).await?;
        sqlx::query("INSERT INTO locations (id, tenant_id, name, timezone, address) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(who.tenant_id)
            .bind(name.trim())
            .bind(&timezone)
            .bind(new.address.flatten())
            .execute(&mut *tx)
            .await?;
        let location = fetch(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let change = Change::new("location.created", "location", id).after(&location);
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok(location)
    }

    /// Changes a site's name, time zone or address.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, id = %id))]
    pub async fn update_location(&self, who: &Identity, via: &Via, id: Uuid, patch: LocationPatch) -> Result<Location> {
        check(&patch)?;
        if !who.may_see(Some(id)) {
            return Err(StoreError::NotFound);
        }
        let mut tx = self.begin(who.tenant_id).await?;
        let before = fetch(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        sqlx::query(
            "UPDATE locations SET name = coalesce($2, name), timezone = coalesce($3, timezone), \
                    address = CASE WHEN $4 THEN $5 ELSE address END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(patch.name.as_deref().map(str::trim))
        .bind(&patch.timezone)
        .bind(patch.address.is_some())
        .bind(patch.address.clone().flatten())
        .execute(&mut *tx)
        .await?;
        let after = fetch(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let change = Change::new("location.updated", "location", id).before(&before).after(&after);
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, change).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// The time zone a queue's reports default to: its site's, or UTC.
    #[tracing::instrument(skip_all, fields(queue = %queue))]
    pub async fn default_tz(&self, who: &Identity, queue: Uuid) -> Result<String> {
        let mut tx = self.begin(who.tenant_id).await?;
        let tz: Option<Option<String>> = sqlx::query_scalar(
            "SELECT l.timezone FROM queues q LEFT JOIN locations l ON l.id = q.location_id WHERE q.id = $1",
        )
        .bind(queue)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(tz.flatten().unwrap_or_else(|| "UTC".into()))
    }

    /// Not found unless the user may work on this queue of the tenant: a user limited to some
    /// sites only on those sites' queues. Free for users limited to none.
    #[tracing::instrument(level = "debug", skip_all, fields(queue = %queue))]
    pub async fn check_site(&self, who: &Identity, queue: Uuid) -> Result<()> {
        if who.locations.is_none() {
            return Ok(());
        }
        let mut tx = self.begin(who.tenant_id).await?;
        let site = site_of_queue(&mut tx, queue).await?;
        tx.commit().await?;
        match site {
            Some(site) if who.may_see(site) => Ok(()),
            _ => Err(StoreError::NotFound),
        }
    }

    /// As [`Store::check_site`], for the queue a ticket is in.
    #[tracing::instrument(level = "debug", skip_all, fields(ticket = %ticket))]
    pub async fn check_ticket_site(&self, who: &Identity, ticket: Uuid) -> Result<()> {
        if who.locations.is_none() {
            return Ok(());
        }
        let mut tx = self.begin(who.tenant_id).await?;
        let site: Option<Option<Uuid>> = sqlx::query_scalar(
            "SELECT q.location_id FROM tickets t JOIN queues q ON q.id = t.queue_id WHERE t.id = $1",
        )
        .bind(ticket)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match site {
            Some(site) if who.may_see(site) => Ok(()),
            _ => Err(StoreError::NotFound),
        }
    }
}
