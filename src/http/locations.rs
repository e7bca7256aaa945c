//! Sites: listed for staff (a limited user sees theirs), created and changed by admins.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{present, Staff};
use super::AppState;
use crate::error::ApiError;
use crate::store::{Location, LocationPatch, Role, Via};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Northside clinic", "timezone": "Europe/Paris", "address": "12 rue de la Paix, Paris"}))]
pub struct LocationBody {
    /// 1 to 200 characters.
    name: Option<String>,
    /// An IANA time zone, e.g. `Europe/Paris`.
    timezone: Option<String>,
    /// Absent: unchanged; null: removed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    address: Option<Option<String>>,
}

impl LocationBody {
    fn patch(self) -> LocationPatch {
        LocationPatch { name: self.name, timezone: self.timezone, address: self.address }
    }
}

#[utoipa::path(
    get, path = "/api/v1/locations", operation_id = "list_locations", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant's sites (a user limited to some: those)", body = Vec<Location>)),
)]
pub async fn list(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.list_locations(&staff.0).await?))
}

#[utoipa::path(
    post, path = "/api/v1/locations", operation_id = "create_location", tag = "admin",
    security(("bearer" = [])), request_body = LocationBody,
    responses((status = 201, description = "Created (admins only)", body = Location)),
)]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    via: Via,
    body: web::Json<LocationBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    Ok(HttpResponse::Created().json(state.store.create_location(who, &via, body.into_inner().patch()).await?))
}

#[utoipa::path(
    patch, path = "/api/v1/locations/{location_id}", operation_id = "update_location", tag = "admin",
    params(("location_id" = Uuid, Path)), security(("bearer" = [])), request_body = LocationBody,
    responses((status = 200, description = "Changed (admins only)", body = Location)),
)]
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    via: Via,
    id: web::Path<Uuid>,
    body: web::Json<LocationBody>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Admin)?;
    let patch = body.into_inner().patch();
    if patch.name.is_none() && patch.timezone.is_none() && patch.address.is_none() {
        return Err(ApiError::BadRequest("nothing to change: give name, timezone or address".into()));
    }
    Ok(HttpResponse::Ok().json(state.store.update_location(who, &via, id.into_inner(), patch).await?))
}
