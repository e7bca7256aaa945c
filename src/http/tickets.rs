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
use crate::store::{JoinRequest, Joiner, Seen, StoreError, TicketAccess};

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada", "phone": "+44 20 7946 0000", "party_size": 2}))]
pub struct JoinBody {
    /// Shown to staff only; never to displays.
    #[schema(max_length = 100)]
    pub(super) name: Option<String>,
    /// Shown to staff only; never to displays.
    #[schema(max_length = 32, pattern = "^[ +().-]*([0-9][ +().-]*){3,}$")]
    pub(super) phone: Option<String>,
    #[schema(minimum = 1, maximum = 1000)]
    pub(super) party_size: Option<i32>,
    /// Checked against the ticket type's `fields_schema`.
    #[schema(value_type = Option<Object>)]
    pub(super) fields: Option<Value>,
    /// Who to tell off the page, given only with the customer's explicit consent: a phone for
    /// SMS (international form), an e-mail address, a push subscription, the language of the
    /// messages (`en`, `fr`, `de`, `es`, `ja`).
    pub(super) notify: Option<NotifyBody>,
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

impl JoinAnswer {
    pub(super) fn new(ticket: Ticket, token: String) -> JoinAnswer {
        JoinAnswer { ticket, token }
    }
}

#[utoipa::path(
    post, path = "/api/v1/queues/{queue_id}/tickets", operation_id = "join", tag = "tickets",
    params(
        ("queue_id" = Uuid, Path, description = "The queue to join"),
        ("Idempotency-Key" = Option<String>, Header,
         description = "The same key with the same body answers the same ticket (for 24 h); with another body, 409 `idempotency_conflict`"),
    ),
    request_body(content = Option<JoinBody>, description = "All fields optional; the body may be empty"),
    security((), ("bearer" = [])),
    responses((status = 201, description = "In line. `Idempotent-Replayed: true` when this answers an earlier request with the same key. \
               With a staff bearer token it is a walk-in made at the desk: the event's actor is the staff member and no per-address limit applies",
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
    // A staff bearer token makes it a walk-in: staff add many people from one desk, so the
    // per-address limit is the customers' only.
    let walk_in = match bearer(&req) {
        Some(token) => Some(
            state
                .store
                .authenticate(&token)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("the token is invalid or expired".into()))?,
        ),
        None => {
            limits.join(&req).await?;
            None
        }
    };
    let by = walk_in.as_ref().map_or(Joiner::Customer, Joiner::Staff);
    let (ticket, token, replayed) = join_for(&state, &req, by, id.into_inner(), body.0).await?;
    Ok(joined(JoinAnswer { ticket, token }, replayed))
}

/// A join made for `by`, from the body every kind of join shares: the ticket placed, its token,
/// and whether it answers an earlier request with the same `Idempotency-Key`.
pub(super) async fn join_for(
    state: &AppState,
    req: &HttpRequest,
    by: Joiner<'_>,
    queue: Uuid,
    b: JoinBody,
) -> Result<(Ticket, String, bool), ApiError> {
    let key = idempotency_key(req)?;
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
    let joined = state.store.join_by(by, queue, request, key).await?;
    Ok((state.placed(joined.ticket).await?, joined.token, joined.replayed))
}

/// 201 with `answer`, saying when it is a replay.
pub(super) fn joined(answer: impl Serialize, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::Created();
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(answer)
}

/// The `Idempotency-Key` header, if given: 1 to 255 visible ASCII characters.
pub(super) fn idempotency_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
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
