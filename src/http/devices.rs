//! The venue's devices: device keys (managers make and withdraw them), and what a device does
//! with its key: a kiosk issues tickets (`Authorization: Kiosk <key>`), any device reads the
//! queues it covers.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::Staff;
use super::queues::{public_base, qr_svg_of};
use super::tickets::{join_for, joined, JoinBody};
use super::AppState;
use crate::domain::{Device, DeviceKind, Ticket};
use crate::error::ApiError;
use crate::store::{DeviceKey, Joiner, QueueSummary, Role, StoreError};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "display", "queue_ids": ["1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b"]}))]
pub struct NewDeviceKey {
    kind: DeviceKind,
    /// 1 to 12 queues of the tenant, in the order a display shows them.
    #[schema(min_items = 1, max_items = 12)]
    queue_ids: Vec<Uuid>,
}

/// A new device key: the key is shown here only.
#[derive(Serialize, ToSchema)]
pub struct CreatedDeviceKey {
    id: Uuid,
    /// The secret to give the device: `?key=` on `/display` and `/kiosk`.
    key: String,
    kind: DeviceKind,
    queue_ids: Vec<Uuid>,
    /// The page to open on the device: `/display?key=` or `/kiosk?key=`.
    url: String,
    /// The QR code of `url`, as SVG, to open it on a tablet without typing.
    qr_svg: String,
}

#[utoipa::path(
    post, path = "/api/v1/device-keys", operation_id = "create_device_key", tag = "setup",
    request_body = NewDeviceKey, security(("bearer" = [])),
    responses((status = 201, description = "A new device key (managers and admins); the key is shown once", body = CreatedDeviceKey)),
)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    staff: Staff,
    via: crate::store::Via,
    body: web::Json<NewDeviceKey>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    let NewDeviceKey { kind, queue_ids } = body.into_inner();
    let (made, key) = state.store.create_device_key(who, &via, kind, queue_ids).await?;
    let url = format!("{}/{}?key={key}", public_base(&state, &req), kind.as_str());
    let qr_svg = qr_svg_of(&url)?;
    Ok(HttpResponse::Created().json(CreatedDeviceKey {
        id: made.id,
        key,
        kind: made.kind,
        queue_ids: made.queue_ids,
        url,
        qr_svg,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/device-keys", operation_id = "list_device_keys", tag = "setup",
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant's live device keys, without the keys", body = Vec<DeviceKey>)),
)]
pub async fn list(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    Ok(HttpResponse::Ok().json(state.store.device_keys(who).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/device-keys/{key_id}", operation_id = "revoke_device_key", tag = "setup",
    params(("key_id" = Uuid, Path, description = "The `id` given with the key")),
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked: its kiosks stop at once, its screens close (4401) within 30 s")),
)]
pub async fn revoke(
    state: web::Data<AppState>,
    staff: Staff,
    via: crate::store::Via,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let who = staff.require(Role::Manager)?;
    state.store.revoke_device_key(who, &via, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The live device of `Authorization: Kiosk <key>`; 401 for a missing, wrong or revoked key.
pub(super) async fn device(state: &AppState, req: &HttpRequest) -> Result<Device, ApiError> {
    let key = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("kiosk"))
        .map(|(_, key)| key.trim())
        .filter(|key| !key.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("give the device's key: Authorization: Kiosk <key>".into()))?;
    state
        .store
        .open_device(key)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the device key is not valid (wrong, or revoked)".into()))
}

/// A device and the queues its key covers.
#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    kind: DeviceKind,
    /// In the key's order; queues deleted since are left out.
    queues: Vec<QueueSummary>,
}

#[utoipa::path(
    get, path = "/api/v1/kiosk", operation_id = "kiosk_device", tag = "devices",
    params(("Authorization" = String, Header, description = "`Kiosk <key>`: a device key (display or kiosk)")),
    responses((status = 200, description = "What the key is for and the queues it covers, each as its public summary", body = DeviceView)),
)]
pub async fn view(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let d = device(&state, &req).await?;
    let mut queues = Vec::with_capacity(d.queue_ids.len());
    for id in &d.queue_ids {
        match state.store.queue_summary(*id).await {
            Ok(q) => queues.push(q),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(HttpResponse::Ok().json(DeviceView { kind: d.kind, queues }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"queue_id": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", "name": "Ada", "party_size": 2}))]
pub struct KioskJoin {
    /// One of the key's queues.
    queue_id: Uuid,
    #[schema(max_length = 100)]
    name: Option<String>,
    #[schema(minimum = 1, maximum = 1000)]
    party_size: Option<i32>,
    /// Checked against the ticket type's `fields_schema`.
    #[schema(value_type = Option<Object>)]
    fields: Option<Value>,
}

/// A ticket issued by a kiosk, and where to follow it on a phone.
#[derive(Serialize, ToSchema)]
pub struct KioskTicket {
    ticket: Ticket,
    token: String,
    /// The ticket's live page, with its token: what the kiosk's QR code opens.
    ticket_url: String,
    /// The QR code of `ticket_url`, as SVG.
    qr_svg: String,
}

#[utoipa::path(
    post, path = "/api/v1/kiosk/tickets", operation_id = "kiosk_join", tag = "devices",
    params(
        ("Authorization" = String, Header, description = "`Kiosk <key>`: a kiosk's device key"),
        ("Idempotency-Key" = Option<String>, Header,
         description = "One per tap: the same key with the same body answers the same ticket; with another body, 409 `idempotency_conflict`"),
    ),
    request_body = KioskJoin,
    responses((status = 201, description = "In line (actor `kiosk:<key id>`). `Idempotent-Replayed: true` on a replay",
               body = KioskTicket,
               headers(("Idempotent-Replayed" = String, description = "`true` on a replay")))),
)]
pub async fn kiosk_join(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<KioskJoin>,
) -> Result<HttpResponse, ApiError> {
    let d = device(&state, &req).await?;
    if d.kind != DeviceKind::Kiosk {
        return Err(ApiError::Forbidden("a display key does not issue tickets: use a kiosk key".into()));
    }
    let KioskJoin { queue_id, name, party_size, fields } = body.into_inner();
    let b = JoinBody { name, party_size, fields, ..JoinBody::default() };
    let (ticket, token, replayed) = join_for(&state, &req, Joiner::Kiosk(&d), queue_id, b).await?;
    let ticket_url = format!("{}/t/{}?token={token}", public_base(&state, &req), ticket.id);
    let qr_svg = qr_svg_of(&ticket_url)?;
    Ok(joined(KioskTicket { ticket, token, ticket_url, qr_svg }, replayed))
}
