//! Logins, socket passes and ticket types.

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::Staff;
use super::limit::Limiter;
use super::AppState;
use crate::error::ApiError;
use crate::store::{LoginOutcome, NewTicketType, Role, TicketType, Via};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant": "acme", "email": "admin@acme.test", "password": "correct horse battery"}))]
pub struct LoginBody {
    /// The tenant's slug.
    tenant: String,
    email: String,
    password: String,
}

/// A staff login: the bearer token and who it is.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "token": "b3BlbiBzZXNhbWUgYmVhcmVyIHRva2Vu", "expires_at": "2026-11-23T21:30:00Z",
    "user": {"id": "3c2b1a00-1111-4222-8333-944455556666", "email": "admin@acme.test", "role": "admin",
             "tenant_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}
}))]
pub struct LoginAnswer {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    expires_at: DateTime<Utc>,
    user: LoginUser,
}

#[derive(Serialize, ToSchema)]
pub struct LoginUser {
    id: Uuid,
    email: String,
    role: Role,
    tenant_id: Uuid,
}

#[utoipa::path(
    post, path = "/api/v1/auth/login", operation_id = "login", tag = "staff",
    request_body = LoginBody,
    responses((status = 200, description = "Signed in", body = LoginAnswer)),
)]
pub async fn login(
    state: web::Data<AppState>,
    limits: web::Data<Limiter>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let account = format!("{}\n{}", body.tenant.trim().to_lowercase(), body.email.trim().to_lowercase());
    limits.login(&req, &account).await?;
    let via = Via::extract(&req).await?;
    let LoginOutcome::SignedIn(login) = state.store.login(&body.tenant, &body.email, &body.password, &via).await?
    else {
        limits.login_failed(&account).await;
        return Err(ApiError::Unauthorized("wrong tenant, email or password".into()));
    };
    limits.login_succeeded(&account).await;
    let who = login.identity;
    Ok(HttpResponse::Ok().json(LoginAnswer {
        token: login.token,
        expires_at: who.expires_at,
        user: LoginUser { id: who.user_id, email: who.email, role: who.role, tenant_id: who.tenant_id },
    }))
}

/// A single-use pass that opens one staff socket within 60 s.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"pass": "c2luZ2xlIHVzZSBzb2NrZXQgcGFzcw", "expires_at": "2026-11-23T09:42:12Z"}))]
pub struct SocketPass {
    /// Give as `?pass=` to `/ws/queues/{queue_id}`.
    pass: String,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(
    post, path = "/api/v1/socket-passes", operation_id = "create_socket_pass", tag = "staff",
    security(("bearer" = [])),
    responses((status = 200, description = "A pass for one staff socket", body = SocketPass)),
)]
pub async fn socket_pass(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let (pass, expires_at) = state.store.create_socket_pass(&staff.0).await?;
    Ok(HttpResponse::Ok().json(SocketPass { pass, expires_at }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code": "pharmacy", "name": "Pharmacy",
    "fsm": {"init": "waiting", "states": ["waiting", "called", "done"],
            "transitions": [{"name": "call", "from": "waiting", "to": "called"},
                            {"name": "complete", "from": "called", "to": "done"}]}
}))]
pub struct TicketTypeBody {
    code: String,
    name: String,
    /// `{"init", "states", "transitions": [{"name", "from", "to"}]}`; `from` may be a list.
    #[schema(value_type = Object)]
    fsm: Value,
    /// A JSON Schema that a join's `fields` must match.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    fields_schema: Option<Value>,
}

#[utoipa::path(
    post, path = "/api/v1/ticket-types", operation_id = "create_ticket_type", tag = "setup",
    security(("bearer" = [])), request_body = TicketTypeBody,
    responses((status = 201, description = "Saved (admins only)", body = TicketType)),
)]
pub async fn create_ticket_type(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    body: web::Json<TicketTypeBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    let b = body.into_inner();
    let new = NewTicketType { code: b.code, name: b.name, fsm: b.fsm, fields_schema: b.fields_schema };
    Ok(HttpResponse::Created().json(state.store.create_ticket_type(who, &via, new).await?))
}

#[utoipa::path(
    get, path = "/api/v1/ticket-types", operation_id = "list_ticket_types", tag = "setup",
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant's ticket types and the built-in ones", body = Vec<TicketType>)),
)]
pub async fn list_ticket_types(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.list_ticket_types(&staff.0).await?))
}
