//! Queues: creation, lists, the public summary, status changes and deletion.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::audit::{self, Change, Via};
use super::cache::TicketRules;
use super::locations::{check_location_use, fill_hours_tz, timezone_of};
use super::rules::{concat_queue_select, fetch_queue, ticket_rules};
use super::writer::Audited;
use super::writer::{QueueChange, QueuePatch};
use super::{unique_violation, Conflict, Identity, Result, Store, StoreError};
use crate::domain::control::SnoozeLimits;
use crate::domain::queue::{valid_prefix, valid_slug};
use crate::domain::Queue;
use crate::domain::{Fsm, Hours, HoursError, NumberReset, QueueStatus, Roles, Timing};
use chrono::{DateTime, Utc};

/// What anyone may know of a queue (the join page).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "name": "Main desk", "status": "open", "waiting": 12,
    "eta_new_seconds": 1980, "eta_new_p90_seconds": 2700,
    "ticket_type": {"code": "default", "init": "waiting",
        "states": ["waiting", "called", "serving", "completed", "cancelled", "no_show"],
        "final": ["completed", "cancelled"], "roles": {"absent": "no_show", "abandoned": "cancelled"}},
    "opens_at": null, "closes_at": "2026-11-23T17:00:00Z", "tz": "Europe/Paris"
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
    /// With opening hours: when the queue next opens, while it takes no one new (outside its
    /// hours, or within `last_join_minutes` of closing); null otherwise.
    pub opens_at: Option<DateTime<Utc>>,
    /// With opening hours: when the period open now ends; null when closed (or open around
    /// the clock).
    pub closes_at: Option<DateTime<Utc>>,
    /// The time zone of the hours, to show `opens_at` and `closes_at` in local time; null
    /// without hours.
    pub tz: Option<String>,
    /// How often and how far a customer may step back (`POST …/snooze`); null: they may not.
    pub snooze: Option<SnoozeLimits>,
    /// The JSON Schema of the custom fields a join gives (`fields`), from the queue's ticket
    /// type; null when it has none.
    #[schema(value_type = Option<Object>)]
    pub fields_schema: Option<Value>,
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
    /// The site the queue belongs to (a user limited to sites must name one of theirs).
    pub location_id: Option<Uuid>,
}

pub(super) fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(StoreError::Invalid("a name has 1 to 200 characters".into()));
    }
    Ok(())
}

/// Checks the keys of `settings` that the server reads (others are kept as given): numbers in
/// range, `notify_ahead` positions, and the time-keeping keys, which must also suit the ticket
/// type (`fsm`). A key given as null is not checked (a patch removes it).
fn check_settings(settings: &Value, fsm: &Fsm) -> Result<Timing> {
    let Some(map) = settings.as_object() else {
        return Err(StoreError::Invalid("settings must be an object".into()));
    };
    if let Some(v) = map.get("service_seconds").filter(|v| !v.is_null()) {
        if !v.as_f64().is_some_and(|s| (1.0..=86_400.0).contains(&s)) {
            return Err(StoreError::Invalid("settings.service_seconds must be 1 to 86400".into()));
        }
    }
    if let Some(v) = map.get("notify_ahead").filter(|v| !v.is_null()) {
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
    crate::domain::notify::QueueNotify::parse(map.get("notify"))?;
    crate::domain::embed::parse(map.get("embed_origins")).map_err(StoreError::Invalid)?;
    crate::domain::control::SnoozeLimits::parse(map.get("snooze"))
        .map_err(|e| StoreError::Invalid(format!("settings.{e}")))?;
    if let Some(v) = map.get("appointments").filter(|v| !v.is_null()) {
        crate::domain::appointment::AppointmentSettings::parse(v)
            .map_err(|e| StoreError::Invalid(format!("settings.{e}")))?;
    }
    let invalid = |e: HoursError| StoreError::Invalid(format!("settings.{e}"));
    let timing = Timing::parse(map).map_err(invalid)?;
    timing.check_against(fsm).map_err(invalid)?;
    Ok(timing)
}

impl Store {
    /// Creates a queue in the user's tenant.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn create_queue(&self, who: &Identity, via: &Via, new: NewQueue) -> Result<Queue> {
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
        let mut settings = new.settings.unwrap_or_else(|| serde_json::json!({}));
        if !settings.is_object() {
            return Err(StoreError::Invalid("settings must be an object".into()));
        }
        let type_code = new.ticket_type.unwrap_or_else(|| "default".into());

        let mut tx = self.begin(who.tenant_id).await?;
        let type_id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM ticket_types WHERE code = $1")
            .bind(&type_code)
            .fetch_optional(&mut *tx)
            .await?;
        let type_id = type_id.ok_or_else(|| StoreError::Invalid(format!("no ticket type `{type_code}`")))?;
        match new.location_id {
            Some(location) => check_location_use(&mut tx, who, location).await?,
            None if who.locations.is_some() => {
                return Err(StoreError::Rejected(
                    "unknown_location",
                    "location_id: a user limited to some locations puts queues at one of them".into(),
                ))
            }
            None => {}
        }
        if let (Some(location), Some(map)) = (new.location_id, settings.as_object_mut()) {
            fill_hours_tz(map, timezone_of(&mut tx, location).await?);
        }
        let rules = ticket_rules(&mut tx, &self.caches, type_id).await?;
        let timing = check_settings(&settings, &rules.fsm)?;
        // With hours, a queue starts as they say now, and the clock takes it from there.
        let now = self.clock.now();
        let (status, due) = match &timing.hours {
            Some(h) if h.is_open(now) => (QueueStatus::Open, h.next_change(now)),
            Some(h) => (QueueStatus::Closed, h.next_change(now)),
            None => (QueueStatus::Open, None),
        };
        // Numbers handed out from now on count for today.
        let numbered_on = (timing.number_reset == NumberReset::Daily).then(|| timing.local_day(now));
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO queues (id, tenant_id, slug, name, prefix, capacity, ticket_type_id, settings, status, \
               hours_due_at, numbered_on, location_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id)
        .bind(who.tenant_id)
        .bind(&new.slug)
        .bind(new.name.trim())
        .bind(&prefix)
        .bind(new.capacity)
        .bind(type_id)
        .bind(&settings)
        .bind(status)
        .bind(due)
        .bind(numbered_on)
        .bind(new.location_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, format!("a queue with slug `{}`", new.slug)))?;
        let queue = fetch_queue(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        audit::record(
            &mut tx,
            who.tenant_id,
            &who.actor(),
            via,
            Change::new("queue.created", "queue", id).after(&queue),
        )
        .await?;
        tx.commit().await?;
        Ok(queue)
    }

    /// The queues of the user's tenant.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id))]
    pub async fn list_queues(&self, who: &Identity) -> Result<Vec<Queue>> {
        let mut tx = self.begin(who.tenant_id).await?;
        let queues: Vec<Queue> =
            sqlx::query_as(concat_queue_select!(" WHERE q.deleted_at IS NULL ORDER BY q.created_at, q.slug"))
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(queues.into_iter().filter(|q| who.may_see(q.location_id)).collect())
    }

    /// One queue of the user's tenant.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, id = %id))]
    pub async fn queue(&self, who: &Identity, id: Uuid) -> Result<Queue> {
        let mut tx = self.begin(who.tenant_id).await?;
        let queue = fetch_queue(&mut tx, id).await?;
        tx.commit().await?;
        queue.filter(|q| who.may_see(q.location_id)).ok_or(StoreError::NotFound)
    }

    /// The origins a queue's join page (and its tickets' pages) may be framed by; none for an
    /// unknown queue.
    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn embed_origins(&self, id: Uuid) -> Result<Vec<String>> {
        let Some(meta) = self.queue_meta(id).await? else { return Ok(Vec::new()) };
        let mut tx = self.begin(meta.tenant_id).await?;
        let origins: Option<Value> = sqlx::query_scalar("SELECT settings->'embed_origins' FROM queues WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .flatten();
        tx.commit().await?;
        // Checked when saved; a list saved before that which does not read frames nothing.
        Ok(crate::domain::embed::parse(origins.as_ref()).unwrap_or_default())
    }

    /// The origins the page of a ticket may be framed by: its queue's.
    #[tracing::instrument(skip_all, fields(ticket = %ticket))]
    pub async fn embed_origins_of_ticket(&self, ticket: Uuid) -> Result<Vec<String>> {
        let mut tx = self.begin_as(&format!("coalesce(qc_tenant_of_ticket('{ticket}')::text, '')")).await?;
        let queue: Option<Uuid> = sqlx::query_scalar("SELECT queue_id FROM tickets WHERE id = $1")
            .bind(ticket)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        match queue {
            Some(queue) => self.embed_origins(queue).await,
            None => Ok(Vec::new()),
        }
    }

    /// The public summary of any queue: the join page's header.
    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn queue_summary(&self, id: Uuid) -> Result<QueueSummary> {
        let meta = self.queue_meta(id).await?.ok_or(StoreError::NotFound)?;
        let mut tx = self.begin(meta.tenant_id).await?;
        // Name, status, waiting, and the settings the summary reads (hours, snooze).
        type Row = (String, QueueStatus, i32, Option<Value>, Option<Value>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT name, status, waiting, settings->'hours', settings->'snooze' FROM queues \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let (name, status, waiting, hours, snooze) = row.ok_or(StoreError::NotFound)?;
        // Hours were checked when saved; any saved before that which do not read are no hours.
        let hours = hours.and_then(|h| Hours::parse(&h).ok());
        let now = self.clock.now();
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
            opens_at: hours.as_ref().filter(|h| !h.takes_joins(now)).and_then(|h| h.opens_at(now)),
            closes_at: hours.as_ref().and_then(|h| h.closes_at(now)),
            tz: hours.as_ref().map(|h| h.tz().name().to_owned()),
            snooze: SnoozeLimits::parse(snooze.as_ref()).ok().flatten(),
            fields_schema: rules.schema.clone(),
        })
    }

    /// Opens, pauses or closes a queue, renames it, or changes its capacity or settings: an
    /// event like any other change. Settings keys given replace theirs (null removes one) and
    /// are checked as at creation. New hours take effect at once: the queue opens or closes as
    /// they say now (unless the patch names a status), and the clock takes it from there.
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, id = %id))]
    pub async fn update_queue(&self, who: &Identity, via: &Via, id: Uuid, mut patch: QueuePatch) -> Result<Queue> {
        if let Some(name) = &patch.name {
            check_name(name)?;
        }
        if patch.capacity.flatten().is_some_and(|c| c < 1) {
            return Err(StoreError::Invalid("capacity must be at least 1".into()));
        }
        self.check_site(who, id).await?;
        if let Some(Some(location)) = patch.location_id {
            let mut tx = self.begin(who.tenant_id).await?;
            check_location_use(&mut tx, who, location).await?;
            tx.commit().await?;
        } else if patch.location_id == Some(None) && who.locations.is_some() {
            return Err(StoreError::Rejected(
                "unknown_location",
                "location_id: a user limited to some locations keeps queues at one of them".into(),
            ));
        }
        let now = self.clock.now();
        let mut reschedule = None;
        if let Some(keys) = &mut patch.settings {
            let mut tx = self.begin(who.tenant_id).await?;
            let row: Option<(Uuid, Option<Uuid>)> =
                sqlx::query_as("SELECT ticket_type_id, location_id FROM queues WHERE id = $1 AND deleted_at IS NULL")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let (type_id, site) = row.ok_or(StoreError::NotFound)?;
            // Hours without a zone take the site's: the one the patch moves the queue to, or its own.
            if let Some(site) = patch.location_id.unwrap_or(site) {
                fill_hours_tz(keys, timezone_of(&mut tx, site).await?);
            }
            let rules = ticket_rules(&mut tx, &self.caches, type_id).await?;
            tx.commit().await?;
            let timing = check_settings(&Value::Object(keys.clone()), &rules.fsm)?;
            if keys.contains_key("hours") {
                reschedule = Some(timing.hours.as_ref().and_then(|h| h.next_change(now)));
                if let (None, Some(h)) = (patch.status, &timing.hours) {
                    patch.status = Some(if h.is_open(now) { QueueStatus::Open } else { QueueStatus::Closed });
                }
            }
        }
        let audit = Some(Audited { tenant: who.tenant_id, via: via.clone() });
        let change = QueueChange { queue_id: id, patch, actor: who.actor(), now, reschedule, due: None, audit };
        let updated = self.writer.update_queue(who.tenant_id, change).await;
        self.caches.timings.remove(&id);
        updated
    }

    /// Deletes a queue softly: it leaves lists, takes no joins or changes (404), and frees its
    /// slug; its tickets, events and stats stay readable. Refused while anyone is in line or
    /// being served.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn delete_queue(&self, who: &Identity, via: &Via, id: Uuid) -> Result<()> {
        self.check_site(who, id).await?;
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
        audit::record(&mut tx, who.tenant_id, &who.actor(), via, Change::new("queue.deleted", "queue", id)).await?;
        tx.commit().await?;
        Ok(())
    }
}
