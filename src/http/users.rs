//! Staff accounts (admins), signing out, changing and resetting passwords, and the audit log.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::Staff;
use super::limit::Limiter;
use super::AppState;
use crate::error::ApiError;
use crate::store::{AuditEntry, AuditQuery, NewUser, Role, User, UserPatch, Via, MAX_AUDIT_PAGE};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "desk@acme.test", "password": "a long pass phrase", "role": "staff",
                          "display_name": "Front desk", "location_ids": []}))]
pub struct CreateUserBody {
    email: String,
    /// 8 to 256 characters, not one of the most common passwords.
    password: String,
    role: Role,
    display_name: Option<String>,
    /// The sites the user is limited to; absent or empty: every site.
    #[serde(default)]
    location_ids: Vec<Uuid>,
}

#[utoipa::path(
    get, path = "/api/v1/users", operation_id = "list_users", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant's accounts (admins only)", body = Vec<User>)),
)]
pub async fn list(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(state.store.list_users(who).await?))
}

#[utoipa::path(
    post, path = "/api/v1/users", operation_id = "create_user", tag = "admin",
    security(("bearer" = [])), request_body = CreateUserBody,
    responses((status = 201, description = "Created (admins only)", body = User)),
)]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    via: Via,
    body: web::Json<CreateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    let b = body.into_inner();
    let new = NewUser {
        email: b.email,
        password: b.password,
        role: b.role,
        display_name: b.display_name,
        location_ids: b.location_ids,
    };
    Ok(HttpResponse::Created().json(state.store.add_user(who, &via, new).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true}))]
pub struct PatchUserBody {
    role: Option<Role>,
    /// Absent: unchanged; null: removed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    display_name: Option<Option<String>>,
    /// True ends every sign-in and socket of the user at once; false enables the account again.
    disabled: Option<bool>,
    /// Replaces the user's sites; empty: every site.
    location_ids: Option<Vec<Uuid>>,
}

/// Tells an absent field (`None`) from an explicit null (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(
    patch, path = "/api/v1/users/{user_id}", operation_id = "update_user", tag = "admin",
    params(("user_id" = Uuid, Path)), security(("bearer" = [])), request_body = PatchUserBody,
    responses((status = 200, description = "Changed (admins only)", body = User)),
)]
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    via: Via,
    id: web::Path<Uuid>,
    body: web::Json<PatchUserBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    let b = body.into_inner();
    if b.role.is_none() && b.display_name.is_none() && b.disabled.is_none() && b.location_ids.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: give role, display_name, disabled or location_ids".into(),
        ));
    }
    let id = id.into_inner();
    let patch =
        UserPatch { role: b.role, display_name: b.display_name, disabled: b.disabled, location_ids: b.location_ids };
    let user = state.store.update_user(who, &via, id, patch).await?;
    // This node's sockets at once; the others hear it from PostgreSQL.
    state.fanout.revoke(id);
    Ok(HttpResponse::Ok().json(user))
}

/// A password reset code: give it to the user (shown only here).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "cmVzZXQgY29kZSBzaG93biBvbmNl", "expires_at": "2026-11-24T09:41:12Z"}))]
pub struct ResetCode {
    /// Works once, with `POST /api/v1/auth/reset`.
    code: String,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/password-reset", operation_id = "issue_password_reset", tag = "admin",
    params(("user_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 201, description = "A one-time code, valid for a day (admins only)", body = ResetCode)),
)]
pub async fn issue_reset(
    state: web::Data<AppState>,
    staff: Staff,
    via: Via,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    let (code, expires_at) = state.store.issue_password_reset(who, &via, id.into_inner()).await?;
    Ok(HttpResponse::Created().json(ResetCode { code, expires_at }))
}

#[utoipa::path(
    post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "staff",
    security(("bearer" = [])),
    responses((status = 204, description = "This token no longer works, on any node")),
)]
pub async fn logout(state: web::Data<AppState>, staff: Staff, via: Via) -> Result<HttpResponse, ApiError> {
    state.store.logout(&staff.0, &via).await?;
    state.fanout.revoke(staff.0.user_id);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current": "correct horse battery", "new": "a new long pass phrase"}))]
pub struct PasswordBody {
    current: String,
    /// 8 to 256 characters, not one of the most common passwords.
    new: String,
}

#[utoipa::path(
    post, path = "/api/v1/auth/password", operation_id = "change_password", tag = "staff",
    security(("bearer" = [])), request_body = PasswordBody,
    responses((status = 204, description = "Changed; the user's other sign-ins have ended")),
)]
pub async fn change_password(
    state: web::Data<AppState>,
    staff: Staff,
    via: Via,
    body: web::Json<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    state.store.change_password(&staff.0, &via, &body.current, &body.new).await?;
    state.fanout.revoke(staff.0.user_id);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant": "acme", "email": "desk@acme.test", "code": "cmVzZXQgY29kZSBzaG93biBvbmNl",
                          "new": "a new long pass phrase"}))]
pub struct ResetBody {
    tenant: String,
    email: String,
    /// The code an admin was given.
    code: String,
    new: String,
}

#[utoipa::path(
    post, path = "/api/v1/auth/reset", operation_id = "reset_password", tag = "staff",
    request_body = ResetBody,
    responses((status = 204, description = "The new password is set; every sign-in of the user has ended")),
)]
pub async fn reset_password(
    state: web::Data<AppState>,
    limits: web::Data<Limiter>,
    req: HttpRequest,
    via: Via,
    body: web::Json<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let account = format!("{}\n{}", b.tenant.trim().to_lowercase(), b.email.trim().to_lowercase());
    limits.login(&req, &account).await?;
    if !state.store.reset_password(&b.tenant, &b.email, &b.code, &b.new, &via).await? {
        limits.login_failed(&account).await;
        return Err(ApiError::Unauthorized("wrong tenant, email or code, or the code was used or expired".into()));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Entries after this id, oldest first. Without it: the newest first.
    after: Option<i64>,
    /// Without `after`: entries before this id, newest first (the next page back).
    before: Option<i64>,
    /// 1 to 500 (default 100).
    limit: Option<i64>,
    /// e.g. `user.disabled`.
    action: Option<String>,
    /// e.g. `user`, `queue`.
    entity: Option<String>,
    entity_id: Option<String>,
    /// e.g. `staff:<user id>`.
    actor: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/audit", operation_id = "audit_log", tag = "admin",
    params(AuditParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of the tenant's audit log (admins only)", body = Vec<AuditEntry>)),
)]
pub async fn audit(
    state: web::Data<AppState>,
    staff: Staff,
    q: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit: 1 to {MAX_AUDIT_PAGE}")));
    }
    let query = AuditQuery {
        after: q.after,
        before: q.before,
        limit,
        action: q.action,
        entity: q.entity,
        entity_id: q.entity_id,
        actor: q.actor,
    };
    Ok(HttpResponse::Ok().json(state.store.audit_log(who, &query).await?))
}
