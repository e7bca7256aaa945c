//! Joining and moving tickets.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{bearer, OptionalJson, Staff};
use super::limit::Limiter;
use super::AppState;
use crate::domain::Ticket;
use crate::error::ApiError;
use crate::store::{JoinRequest, Seen, StoreError, TicketAccess};

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada", "phone": "+44 20 7946 0000", "party_size": 2}))]
pub struct JoinBody {
    /// Shown to staff only; never to displays.
    #[schema(max_length = 100)]
    name: Option<String>,
    /// Shown to staff only; never to displays.
    #[schema(max_length = 32, pattern = "^[ +().-]*([0-9][ +().-]*){3,}$")]
    phone: Option<String>,
    #[schema(minimum = 1, maximum = 1000)]
    party_size: Option<i32>,
    /// Checked against the ticket type's `fields_schema`.
    #[schema(value_type = Option<Object>)]
    fields: Option<Value>,
    /// Who to tell off the page, given only with the customer's explicit consent: a phone for
    /// SMS (international form), an e-mail address, a push subscription, the language of the
    /// messages (`en`, `fr`, `de`, `es`).
    notify: Option<NotifyBody>,
}

/// A customer's contacts for messages off the page (each optional).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sms": "+33612345678", "email": "ada@example.org", "lang": "fr"}))]
pub struct NotifyBody {
    #[schema(max_length = 32)]
    sms: Option<String>,
    #[schema(max_length = 254)]
    email: Option<String>,
    /// A PushSubscription as the browser's `PushManager.subscribe` gave it.
    #[schema(value_type = Option<Object>)]
    push: Option<Value>,
    #[schema(max_length = 2)]
    lang: Option<String>,
}

/// A new ticket and the secret that follows it.
#[derive(Serialize, ToSchema)]
pub struct JoinAnswer {
    ticket: Ticket,
    /// The ticket's secret: `?token=` on the customer socket and page, or `Authorization: Bearer`.
    token: String,
}

#[utoipa::path(
    post, path = "/api/v1/queues/{queue_id}/tickets", operation_id = "join", tag = "tickets",
    params(
        ("queue_id" = Uuid, Path, description = "The queue to join"),
        ("Idempotency-Key" = Option<String>, Header,
         description = "The same key with the same body answers the same ticket (for 24 h); with another body, 409 `idempotency_conflict`"),
    ),
    request_body(content = Option<JoinBody>, description = "All fields optional; the body may be empty"),
    responses((status = 201, description = "In line. `Idempotent-Replayed: true` when this answers an earlier request with the same key",
               body = JoinAnswer,
               headers(("Idempotent-Replayed" = String, description = "`true` on a replay")))),
)]
pub async fn join(
    state: web::Data<AppState>,
    limits: web::Data<Limiter>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: OptionalJson<JoinBody>,
) -> Result<HttpResponse, ApiError> {
    limits.join(&req).await?;
    let key = idempotency_key(&req)?;
    let b = body.0;
    let notify = b
        .notify
        .map(|n| Box::new(crate::domain::notify::Contacts { sms: n.sms, email: n.email, push: n.push, lang: n.lang }));
    let request = JoinRequest {
        name: b.name,
        phone: b.phone,
        party_size: b.party_size,
        fields: b.fields.unwrap_or(Value::Null),
        notify,
    };
    let joined = state.store.join(id.into_inner(), request, key).await?;
    let mut response = HttpResponse::Created();
    if joined.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(JoinAnswer { ticket: state.placed(joined.ticket).await?, token: joined.token }))
}

/// The `Idempotency-Key` header, if given: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get("Idempotency-Key") else { return Ok(None) };
    let key = value.to_str().map_err(|_| ApiError::BadRequest("Idempotency-Key must be ASCII".into()))?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest("Idempotency-Key: 1 to 255 visible ASCII characters".into()));
    }
    Ok(Some(key))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The ticket's token (or give it as `Authorization: Bearer`).
    pub(super) token: Option<String>,
}

/// Who is asking, and the ticket when finding that out already read it: the ticket's token
/// (query or bearer) or a staff bearer token.
pub(super) async fn access(
    state: &AppState,
    req: &HttpRequest,
    ticket: Uuid,
    token: Option<String>,
) -> Result<(TicketAccess, Option<Seen>), ApiError> {
    if let Some(token) = token {
        return Ok((TicketAccess::Token(token), None));
    }
    let Some(bearer) = bearer(req) else {
        return Err(ApiError::Unauthorized("give the ticket's token (?token= or Authorization: Bearer)".into()));
    };
    // A bearer is the ticket's own token or a staff token; try the customer first.
    let as_customer = TicketAccess::Token(bearer.clone());
    match state.store.ticket(ticket, &as_customer).await {
        Ok(seen) => Ok((as_customer, Some(seen))),
        Err(StoreError::NotFound) => match state.store.authenticate(&bearer).await? {
            Some(who) => Ok((TicketAccess::Staff(who), None)),
            None => Err(ApiError::NotFound),
        },
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get, path = "/api/v1/tickets/{ticket_id}", operation_id = "get_ticket", tag = "tickets",
    params(("ticket_id" = Uuid, Path), TokenQuery),
    security(("ticket_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The ticket now", body = Ticket)),
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let ticket = match access(&state, &req, id, q.into_inner().token).await? {
        (_, Some(seen)) => seen,
        (who, None) => state.store.ticket(id, &who).await?,
    };
    Ok(HttpResponse::Ok().json(state.placed(ticket).await?))
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket_id}/cancel", operation_id = "cancel_ticket", tag = "tickets",
    params(("ticket_id" = Uuid, Path), TokenQuery),
    security(("ticket_token" = []), ("bearer" = [])),
    responses((status = 200, description = "Cancelled", body = Ticket)),
)]
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (who, _) = access(&state, &req, id, q.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(state.placed(state.store.cancel(id, &who).await?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"counter": "Desk 2"}))]
pub struct CallNextBody {
    /// Where the customer is called to.
    #[schema(min_length = 1, max_length = 32, pattern = r"\S")]
    counter: String,
}

#[utoipa::path(
    post, path = "/api/v1/queues/{queue_id}/call-next", operation_id = "call_next", tag = "tickets",
    params(("queue_id" = Uuid, Path)), security(("bearer" = [])), request_body = CallNextBody,
    responses((status = 200, description = "The called ticket. Two staff calling at once never get the same one",
               body = Ticket)),
)]
pub async fn call_next(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<CallNextBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(state.placed(state.store.call_next(&staff.0, id.into_inner(), body.into_inner().counter).await?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "start"}))]
pub struct TransitionBody {
    /// A transition of the ticket type (`call`, `recall`, `start`, `complete`, `no_show`, `requeue`,
    /// `cancel` for the built-in type).
    name: String,
    #[schema(min_length = 1, max_length = 32, pattern = r"\S")]
    counter: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket_id}/transitions", operation_id = "transition_ticket", tag = "tickets",
    params(("ticket_id" = Uuid, Path)), security(("bearer" = [])), request_body = TransitionBody,
    responses((status = 200, description = "Moved", body = Ticket)),
)]
pub async fn transition(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<TransitionBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    Ok(HttpResponse::Ok()
        .json(state.placed(state.store.transition(&staff.0, id.into_inner(), &b.name, b.counter).await?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"queue_id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"}))]
pub struct TransferBody {
    /// The queue whose line the ticket joins (at the end).
    queue_id: Uuid,
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket_id}/transfer", operation_id = "transfer_ticket", tag = "tickets",
    params(("ticket_id" = Uuid, Path)), security(("bearer" = [])), request_body = TransferBody,
    responses((status = 200, description = "In the other line", body = Ticket)),
)]
pub async fn transfer(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(state.placed(state.store.transfer(&staff.0, id.into_inner(), body.queue_id).await?).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// A display number or its start (`A042`, `a04`), the last digits of a phone (3 or more), or
    /// a name (3 characters or more).
    q: String,
    /// Only this queue's tickets.
    queue_id: Option<Uuid>,
    /// 1 to 100; 20 unless told.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/tickets", operation_id = "search_tickets", tag = "tickets",
    params(SearchQuery), security(("bearer" = [])),
    responses((status = 200, description = "Matching tickets of the tenant, newest first, with name and phone",
               body = Vec<crate::store::Found>)),
)]
/// The finder: the tenant's tickets by number (`A042`, or its start), phone (its last digits)
/// or name, newest first, with name and phone.
pub async fn search(
    state: web::Data<AppState>,
    staff: Staff,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(20);
    if !(1..=crate::store::MAX_SEARCH).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit: 1 to {}", crate::store::MAX_SEARCH)));
    }
    Ok(HttpResponse::Ok().json(state.store.search_tickets(&staff.0, &q.q, q.queue_id, limit).await?))
}
