//! Webhook endpoints and their delivery log (managers).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::Staff;
use super::AppState;
use crate::error::ApiError;
use crate::store::{NewWebhook, Role};
use crate::webhooks::{check_url, KINDS};

/// Deliveries a log page shows, at most.
const MAX_LOG_PAGE: i64 = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://sms.example.com/queuecast", "events": ["ticket.called", "ticket.ahead"],
                          "include_phone": true}))]
pub struct CreateBody {
    /// https (http only to loopback, or with WEBHOOKS_ALLOW_HTTP).
    url: String,
    /// Only this queue's events; all of the tenant's when absent.
    queue_id: Option<Uuid>,
    /// Event kinds: those of PROTOCOL.md and `ticket.ahead`.
    events: Vec<String>,
    /// 16 to 200 printable ASCII characters; generated (and shown once) when absent.
    secret: Option<String>,
    /// Whether `ticket.ahead` notifications carry the customer's phone.
    #[serde(default)]
    include_phone: bool,
}

#[utoipa::path(
    post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "setup",
    request_body = CreateBody, security(("bearer" = [])),
    responses((status = 201, description = "The endpoint, with its signing secret (shown this once)", body = crate::store::Webhook)),
)]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    let b = body.into_inner();
    let url = b.url.trim().to_owned();
    let allowed = &state.settings.webhooks;
    check_url(&url, allowed.allow_http, allowed.allow_private).map_err(ApiError::BadRequest)?;
    if b.events.is_empty() {
        return Err(ApiError::BadRequest("events: name at least one kind".into()));
    }
    let mut events = Vec::with_capacity(b.events.len());
    for kind in b.events {
        if !KINDS.contains(&kind.as_str()) {
            return Err(ApiError::BadRequest(format!("events: `{kind}` is not one of {}", KINDS.join(", "))));
        }
        if !events.contains(&kind) {
            events.push(kind);
        }
    }
    let secret = match b.secret {
        Some(s) if (16..=200).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic()) => s,
        Some(_) => return Err(ApiError::BadRequest("secret: 16 to 200 printable ASCII characters".into())),
        None => format!("whsec_{}", crate::secret::new_token()),
    };
    let new = NewWebhook { url, queue_id: b.queue_id, events, secret: secret.clone(), include_phone: b.include_phone };
    let hook = state.store.create_webhook(who, &via, new).await?;
    // The secret is shown here, once; listings never show it.
    let mut body = serde_json::to_value(&hook).map_err(|e| ApiError::Internal(e.into()))?;
    body["secret"] = json!(secret);
    Ok(HttpResponse::Created().json(body))
}

#[utoipa::path(
    get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "setup", security(("bearer" = [])),
    responses((status = 200, description = "The tenant's endpoints (never their secrets)", body = Vec<crate::store::Webhook>)),
)]
pub async fn list(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    Ok(HttpResponse::Ok().json(state.store.list_webhooks(who).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/webhooks/{webhook_id}", operation_id = "delete_webhook", tag = "setup",
    params(("webhook_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted, with its delivery log")),
)]
pub async fn delete(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    state.store.delete_webhook(who, &via, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// 1 to 500; 50 unless told.
    limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/webhooks/{webhook_id}/deliveries", operation_id = "webhook_deliveries", tag = "setup",
    params(("webhook_id" = Uuid, Path), LogQuery), security(("bearer" = [])),
    responses((status = 200, description = "The delivery log, newest first", body = Vec<crate::store::Delivery>)),
)]
pub async fn deliveries(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LOG_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit: 1 to {MAX_LOG_PAGE}")));
    }
    Ok(HttpResponse::Ok().json(state.store.webhook_deliveries(who, id.into_inner(), limit).await?))
}
