//! Joining and moving tickets.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{bearer, OptionalJson, Staff};
use super::AppState;
use crate::domain::Ticket;
use crate::store::{JoinRequest, StoreError, TicketAccess};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    name: Option<String>,
    phone: Option<String>,
    party_size: Option<i32>,
    fields: Option<Value>,
}

pub async fn join(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: OptionalJson<JoinBody>,
) -> Result<HttpResponse, ApiError> {
    let key = match req.headers().get("Idempotency-Key") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::BadRequest("Idempotency-Key must be ASCII".into()))?),
        None => None,
    };
    let b = body.0;
    let request =
        JoinRequest { name: b.name, phone: b.phone, party_size: b.party_size, fields: b.fields.unwrap_or(Value::Null) };
    let joined = state.store.join(id.into_inner(), request, key).await?;
    let mut response = HttpResponse::Created();
    if joined.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(json!({"ticket": joined.ticket, "token": joined.token})))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// Who is asking, and the ticket when finding that out already read it: the ticket's token
/// (query or bearer) or a staff bearer token.
async fn access(
    state: &AppState,
    req: &HttpRequest,
    ticket: Uuid,
    token: Option<String>,
) -> Result<(TicketAccess, Option<Ticket>), ApiError> {
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
    Ok(HttpResponse::Ok().json(ticket))
}

pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (who, _) = access(&state, &req, id, q.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(state.store.cancel(id, &who).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallNextBody {
    counter: String,
}

pub async fn call_next(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<CallNextBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.call_next(&staff.0, id.into_inner(), body.into_inner().counter).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    name: String,
    counter: Option<String>,
}

pub async fn transition(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<TransitionBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    Ok(HttpResponse::Ok().json(state.store.transition(&staff.0, id.into_inner(), &b.name, b.counter).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    queue_id: Uuid,
}

pub async fn transfer(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.transfer(&staff.0, id.into_inner(), body.queue_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: String,
    queue_id: Option<Uuid>,
    limit: Option<i64>,
}

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
