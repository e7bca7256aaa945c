//! Logins, socket passes and ticket types.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Staff;
use super::AppState;
use crate::store::{NewTicketType, Role};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    tenant: String,
    email: String,
    password: String,
}

pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let account = format!("{}\n{}", body.tenant.trim().to_lowercase(), body.email.trim().to_lowercase());
    state.limits.login(&req, &account)?;
    let Some(login) = state.store.login(&body.tenant, &body.email, &body.password).await? else {
        state.limits.login_failed(&account);
        return Err(ApiError::Unauthorized("wrong tenant, email or password".into()));
    };
    state.limits.login_succeeded(&account);
    let who = &login.identity;
    Ok(HttpResponse::Ok().json(json!({
        "token": login.token,
        "expires_at": who.expires_at,
        "user": {"id": who.user_id, "email": who.email, "role": who.role, "tenant_id": who.tenant_id},
    })))
}

pub async fn socket_pass(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let (pass, expires_at) = state.store.create_socket_pass(&staff.0).await?;
    Ok(HttpResponse::Ok().json(json!({"pass": pass, "expires_at": expires_at})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketTypeBody {
    code: String,
    name: String,
    fsm: Value,
    #[serde(default)]
    fields_schema: Option<Value>,
}

pub async fn create_ticket_type(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<TicketTypeBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    let b = body.into_inner();
    let new = NewTicketType { code: b.code, name: b.name, fsm: b.fsm, fields_schema: b.fields_schema };
    Ok(HttpResponse::Created().json(state.store.create_ticket_type(who, new).await?))
}

pub async fn list_ticket_types(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.list_ticket_types(&staff.0).await?))
}
