//! Queues: setup, status, events and stats.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{present, Staff};
use super::AppState;
use crate::domain::Queue;
use crate::domain::{Event, QueueStatus};
use crate::error::ApiError;
use crate::store::{History, NewQueue, QueuePatch, QueueStats, QueueSummary, Role};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"slug": "main", "name": "Main desk", "prefix": "A", "capacity": 200}))]
pub struct CreateBody {
    /// Lowercase letters, digits and dashes; unique in the tenant.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    slug: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    /// Up to three capital letters before ticket numbers (`A` → `A042`).
    #[schema(pattern = "^[A-Z]{0,3}$")]
    prefix: Option<String>,
    /// The most people in line; none when absent.
    #[schema(minimum = 1)]
    capacity: Option<i32>,
    /// A ticket type's `code`; `default` when absent.
    ticket_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
    /// The site the queue belongs to; a user limited to sites must name one of theirs.
    location_id: Option<Uuid>,
}

#[utoipa::path(
    post, path = "/api/v1/queues", operation_id = "create_queue", tag = "setup",
    security(("bearer" = [])), request_body = CreateBody,
    responses((status = 201, description = "Created (managers and admins)", body = Queue)),
)]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    let b = body.into_inner();
    let new = NewQueue {
        slug: b.slug,
        name: b.name,
        prefix: b.prefix,
        capacity: b.capacity,
        ticket_type: b.ticket_type,
        settings: b.settings,
        location_id: b.location_id,
    };
    Ok(HttpResponse::Created().json(state.store.create_queue(who, &via, new).await?))
}

#[utoipa::path(
    get, path = "/api/v1/queues", operation_id = "list_queues", tag = "setup",
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant's queues", body = Vec<Queue>)),
)]
pub async fn list(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.list_queues(&staff.0).await?))
}

#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}", operation_id = "queue_summary", tag = "queues",
    params(("queue_id" = Uuid, Path)),
    responses((status = 200, description = "What anyone may know of a queue (the join page)", body = QueueSummary)),
)]
pub async fn summary(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.queue_summary(id.into_inner()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "paused"}))]
pub struct PatchBody {
    status: Option<QueueStatus>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: Option<String>,
    /// Absent: unchanged; null: no limit; a number: the new limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 1)]
    capacity: Option<Option<i32>>,
    /// Settings keys to change, checked as at creation: each given key replaces its value, a key
    /// given as null is removed, the others are kept. New `hours` apply at once (the queue opens
    /// or closes as they say now, unless `status` is given too).
    #[schema(value_type = Option<Object>)]
    settings: Option<serde_json::Map<String, Value>>,
    /// Absent: unchanged; null: at no site; an id: at that site.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    location_id: Option<Option<Uuid>>,
}

#[utoipa::path(
    patch, path = "/api/v1/queues/{queue_id}", operation_id = "update_queue", tag = "setup",
    params(("queue_id" = Uuid, Path)), security(("bearer" = [])),
    request_body(content = PatchBody, description = "At least one of `status`, `name`, `capacity`, `settings`"),
    responses((status = 200, description = "Changed (managers and admins); a `queue.updated` event follows", body = Queue)),
)]
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    id: web::Path<Uuid>,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    let b = body.into_inner();
    if b.status.is_none() && b.name.is_none() && b.capacity.is_none() && b.settings.is_none() && b.location_id.is_none()
    {
        return Err(ApiError::BadRequest(
            "nothing to change: give status, name, capacity, settings or location_id".into(),
        ));
    }
    let patch = QueuePatch {
        status: b.status,
        name: b.name,
        capacity: b.capacity,
        settings: b.settings,
        location_id: b.location_id,
    };
    Ok(HttpResponse::Ok().json(state.store.update_queue(who, &via, id.into_inner(), patch).await?))
}

/// A kiosk's key: opens `/ws/queues/{queue_id}/display?key=` and `/display/{queue_id}?key=`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"key": "ZGlzcGxheSBrZXkgZm9yIHRoZSBraW9zaw", "id": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"}))]
pub struct DisplayKey {
    key: String,
    id: Uuid,
}

#[utoipa::path(
    post, path = "/api/v1/queues/{queue_id}/display-keys", operation_id = "create_display_key", tag = "setup",
    params(("queue_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, description = "A new display key (managers and admins); shown once", body = DisplayKey)),
)]
pub async fn display_key(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    let (key_id, key) = state.store.create_display_key(who, &via, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(DisplayKey { key, id: key_id }))
}

#[utoipa::path(
    delete, path = "/api/v1/queues/{queue_id}/display-keys/{key_id}", operation_id = "revoke_display_key",
    tag = "setup",
    params(("queue_id" = Uuid, Path), ("key_id" = Uuid, Path, description = "The `id` given with the key")),
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked: screens using the key close (4401) within 30 s")),
)]
pub async fn revoke_display_key(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    ids: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    let (queue, key) = ids.into_inner();
    state.store.revoke_display_key(who, &via, queue, key).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events with a greater `seq` (0 unless told).
    #[serde(default)]
    #[param(minimum = 0)]
    after: i64,
    /// 1 to 1000; 100 unless told.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/events", operation_id = "queue_events", tag = "queues",
    params(("queue_id" = Uuid, Path), EventsQuery), security(("bearer" = [])),
    responses((status = 200, description = "Events in `seq` order", body = Vec<Event>)),
)]
pub async fn events(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=crate::store::MAX_EVENTS_PAGE).contains(&limit) || q.after < 0 {
        return Err(ApiError::BadRequest(format!("after ≥ 0; limit 1 to {}", crate::store::MAX_EVENTS_PAGE)));
    }
    Ok(HttpResponse::Ok().json(state.store.events(&staff.0, id.into_inner(), q.after, limit).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// The window, in hours back from now (1 to 2160; 24 unless told).
    #[param(minimum = 1, maximum = 2160)]
    hours: Option<i64>,
    /// A day-by-day report instead: `YYYY-MM-DD`, both inclusive, in `tz` (UTC unless told).
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
}

/// The recent window (`hours`), or with `from` and `to` the day-by-day report.
#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/stats", operation_id = "queue_stats", tag = "queues",
    params(("queue_id" = Uuid, Path), StatsQuery), security(("bearer" = [])),
    responses((status = 200, description = "Volumes, waits, service times and estimate error over the last `hours`; with `from` and `to`, the day-by-day report (`days`, `totals`)", body = QueueStats)),
)]
pub async fn stats(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    q: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if q.from.is_some() || q.to.is_some() || q.tz.is_some() {
        if q.hours.is_some() {
            return Err(ApiError::BadRequest("give either hours, or from and to".into()));
        }
        let report = daily(&state, &staff, id.into_inner(), q).await?;
        return Ok(HttpResponse::Ok().json(report));
    }
    let hours = q.hours.unwrap_or(24);
    if !(1..=24 * 90).contains(&hours) {
        return Err(ApiError::BadRequest("hours: 1 to 2160".into()));
    }
    let since = chrono::Utc::now() - chrono::Duration::hours(hours);
    Ok(HttpResponse::Ok().json(state.store.stats(&staff.0, id.into_inner(), since).await?))
}

#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/stats.csv", operation_id = "queue_stats_csv", tag = "queues",
    params(("queue_id" = Uuid, Path), StatsQuery), security(("bearer" = [])),
    responses((status = 200, description = "The day-by-day report (from and to required): a header row, then a row per day",
               content_type = "text/csv", body = String)),
)]
/// The day-by-day report as CSV: a header row, then one row per day.
pub async fn stats_csv(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    q: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if q.hours.is_some() {
        return Err(ApiError::BadRequest("the CSV export takes from and to, not hours".into()));
    }
    let id = id.into_inner();
    let report = daily(&state, &staff, id, q).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"queue-{id}-{}-{}.csv\"", report.from, report.to),
        ))
        .body(super::csv::daily(&report)))
}

async fn daily(state: &AppState, staff: &Staff, id: Uuid, q: StatsQuery) -> Result<crate::store::DailyStats, ApiError> {
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Err(ApiError::BadRequest("give both from and to (YYYY-MM-DD)".into()));
    };
    let day = |name: &str, s: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| ApiError::BadRequest(format!("{name}: `{s}` is not a date (YYYY-MM-DD)")))
    };
    let (from, to) = (day("from", &from)?, day("to", &to)?);
    // Unless told, the days of the queue's site (UTC for a queue of no site).
    let tz = match q.tz {
        Some(tz) => tz,
        None => state.store.default_tz(&staff.0, id).await?,
    };
    Ok(state.store.daily_stats(&staff.0, id, from, to, &tz).await?)
}

#[utoipa::path(
    delete, path = "/api/v1/queues/{queue_id}", operation_id = "delete_queue", tag = "setup",
    params(("queue_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted softly: gone from lists, joins and pages; history and stats kept")),
)]
/// Deletes a queue softly (manager): see [`crate::store::Store::delete_queue`].
pub async fn delete(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    state.store.delete_queue(who, &via, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// How far back, in minutes (1 to 1440; 60 unless told).
    #[param(minimum = 1, maximum = 1440)]
    minutes: Option<u32>,
}

#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/history", operation_id = "queue_history", tag = "queues",
    params(("queue_id" = Uuid, Path), HistoryQuery), security(("bearer" = [])),
    responses((status = 200, description = "The queue minute by minute", body = History)),
)]
pub async fn history(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    q: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let minutes = q.minutes.unwrap_or(60);
    if !(1..=1440).contains(&minutes) {
        return Err(ApiError::BadRequest("minutes: 1 to 1440".into()));
    }
    Ok(HttpResponse::Ok().json(state.store.history(&staff.0, id.into_inner(), minutes).await?))
}

/// The QR code of a queue's join page, as SVG: what the kiosk shows and managers print.
#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/qr.svg", operation_id = "queue_qr_svg", tag = "queues",
    params(("queue_id" = Uuid, Path)),
    responses((status = 200, description = "The QR code of `/q/{queue_id}` (the join page)",
               content_type = "image/svg+xml", body = String)),
)]
pub async fn qr_svg(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Only queues that exist get a code; of another tenant's or a missing one, nothing is said.
    state.store.queue_summary(id).await?;
    let svg = qr_svg_of(&format!("{}/q/{id}", public_base(&state, &req)))?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(svg))
}

/// Where people reach this server: `PUBLIC_URL`, else the address this request came to.
pub(super) fn public_base(state: &AppState, req: &actix_web::HttpRequest) -> String {
    match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// A QR code of `url`, as SVG, black on white.
pub(super) fn qr_svg_of(url: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}
