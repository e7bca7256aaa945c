//! Messages off the page: what a ticket was told, the providers' delivery receipts, and SMS
//! replies that opt out (STOP).

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::tickets::{access, TokenQuery};
use super::AppState;
use crate::domain::notify::{e164, is_opt_out, Channel};
use crate::error::ApiError;
use crate::notify::sms::{http_receipt, kannel_receipt};
use crate::store::{Receipt, SentMessage};

#[utoipa::path(
    get, path = "/api/v1/tickets/{ticket_id}/notifications", operation_id = "ticket_notifications", tag = "tickets",
    params(("ticket_id" = Uuid, Path), TokenQuery),
    security(("ticket_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The ticket's messages off the page (SMS, e-mail, push), oldest first, without their recipients",
               body = Vec<SentMessage>)),
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (who, _) = access(&state, &req, id, q.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(state.store.ticket_messages(id, &who).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceiptQuery {
    /// The message, as the URL this server gave the provider names it.
    id: Uuid,
    /// The URL's signature.
    sig: String,
    /// Kannel: the report's type (1 delivered, 2 undelivered, 4 queued, 8 accepted, 16 rejected).
    #[serde(rename = "type")]
    kind: Option<u32>,
    /// The Messages API: the message's status (also taken from a form body).
    #[serde(rename = "MessageStatus")]
    message_status: Option<String>,
}

/// The deployment's key that signs receipt URLs.
async fn receipts_key(state: &AppState) -> Result<Vec<u8>, ApiError> {
    Ok(state.store.server_key("receipts", || rand::random::<[u8; 32]>().to_vec()).await?)
}

#[utoipa::path(
    get, path = "/api/v1/notifications/status/{channel}", operation_id = "notification_receipt_get", tag = "providers",
    params(("channel" = String, Path, description = "`sms`"), ReceiptQuery),
    responses((status = 204, description = "Recorded: the message is `delivered` or `failed` (reports on the way change nothing)")),
)]
/// A delivery receipt by GET (Kannel's `dlr-url`).
pub async fn receipt_get(
    state: web::Data<AppState>,
    channel: web::Path<String>,
    q: web::Query<ReceiptQuery>,
) -> Result<HttpResponse, ApiError> {
    receipt(state, channel, q, web::Bytes::new()).await
}

#[utoipa::path(
    post, path = "/api/v1/notifications/status/{channel}", operation_id = "notification_receipt", tag = "providers",
    params(("channel" = String, Path, description = "`sms`"), ReceiptQuery),
    request_body(content = Option<String>, content_type = "application/x-www-form-urlencoded",
                 description = "The Messages API's status callback (`MessageSid`, `MessageStatus`, …)"),
    responses((status = 204, description = "Recorded: the message is `delivered` or `failed` (reports on the way change nothing)")),
)]
/// A provider's delivery receipt (Kannel calls the `dlr-url` with GET; the Messages API posts
/// a form): only at a URL this server signed.
pub async fn receipt(
    state: web::Data<AppState>,
    channel: web::Path<String>,
    q: web::Query<ReceiptQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let channel = Channel::parse(&channel).ok_or(ApiError::NotFound)?;
    let q = q.into_inner();
    if !crate::notify::verify(&receipts_key(&state).await?, channel, q.id, &q.sig) {
        // A URL this server did not make learns nothing.
        return Err(ApiError::NotFound);
    }
    let form: HashMap<String, String> = serde_urlencoded_form(&body);
    let receipt = match (q.kind, q.message_status.as_deref().or(form.get("MessageStatus").map(String::as_str))) {
        (Some(kind), _) => kannel_receipt(kind),
        (None, Some(status)) => http_receipt(status),
        (None, None) => return Err(ApiError::BadRequest("give type (Kannel) or MessageStatus".into())),
    };
    if !state.store.record_receipt(q.id, &receipt).await? {
        return Err(ApiError::NotFound);
    }
    if receipt != Receipt::Progress {
        let status = if receipt == Receipt::Delivered { "delivered" } else { "failed" };
        metrics::counter!("queuecast_notifications_total", "channel" => channel.as_str(), "status" => status)
            .increment(1);
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboundQuery {
    /// The URL's signature (see the README: the server logs the URL to give the provider).
    sig: String,
    /// Kannel (`%p`): the sender's number.
    from: Option<String>,
    /// Kannel (`%a`): the text.
    text: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/notifications/inbound/sms", operation_id = "inbound_sms_get", tag = "providers",
    params(InboundQuery),
    responses((status = 204, description = "Read: a STOP-style reply ends SMS to its number")),
)]
/// A reply by GET (Kannel's sms-service `get-url`).
pub async fn inbound_get(state: web::Data<AppState>, q: web::Query<InboundQuery>) -> Result<HttpResponse, ApiError> {
    inbound(state, q, web::Bytes::new()).await
}

#[utoipa::path(
    post, path = "/api/v1/notifications/inbound/sms", operation_id = "inbound_sms", tag = "providers",
    params(InboundQuery),
    request_body(content = Option<String>, content_type = "application/x-www-form-urlencoded",
                 description = "The Messages API's incoming message (`From`, `Body`, …)"),
    responses((status = 204, description = "Read: a STOP-style reply ends SMS to its number")),
)]
/// A reply to our SMS, from the provider (Kannel's sms-service get-url with `from` and `text`,
/// or the Messages API's form with `From` and `Body`): a STOP-style word opts the number out.
pub async fn inbound(
    state: web::Data<AppState>,
    q: web::Query<InboundQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if !crate::notify::verify(&receipts_key(&state).await?, Channel::Sms, Uuid::nil(), &q.sig) {
        return Err(ApiError::NotFound);
    }
    let form = serde_urlencoded_form(&body);
    let from = q.from.or_else(|| form.get("From").cloned()).unwrap_or_default();
    let text = q.text.or_else(|| form.get("Body").cloned()).unwrap_or_default();
    if is_opt_out(&text) {
        let phone = e164(&from).ok_or_else(|| ApiError::BadRequest("from: not a phone number".into()))?;
        state.store.opt_out(&phone).await?;
        tracing::info!("an SMS number opted out");
    }
    Ok(HttpResponse::NoContent().finish())
}

/// A form body's fields (empty when it is not one).
fn serde_urlencoded_form(body: &[u8]) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("x:?{}", String::from_utf8_lossy(body)))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The first and last day, `YYYY-MM-DD`, inclusive, in `tz` (UTC unless told); 366 days at most.
    from: String,
    to: String,
    tz: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/notifications", operation_id = "queue_notifications_report", tag = "queues",
    params(("queue_id" = Uuid, Path), ReportQuery), security(("bearer" = [])),
    responses((status = 200, description = "The day report of messages: per day (of their writing, in `tz`) and channel, how many were sent, delivered, failed and are pending",
               body = Vec<crate::store::MessageDay>)),
)]
/// The day report of a queue's messages off the page.
pub async fn report(
    state: web::Data<AppState>,
    staff: super::extract::Staff,
    id: web::Path<Uuid>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let day = |name: &str, s: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| ApiError::BadRequest(format!("{name}: `{s}` is not a date (YYYY-MM-DD)")))
    };
    let (from, to) = (day("from", &q.from)?, day("to", &q.to)?);
    if from > to || (to - from).num_days() >= crate::store::MAX_REPORT_DAYS {
        return Err(ApiError::BadRequest(format!("from ≤ to, at most {} days", crate::store::MAX_REPORT_DAYS)));
    }
    // Unless told, the days of the queue's site (UTC for a queue of no site).
    let tz = match q.tz {
        Some(tz) => tz,
        None => state.store.default_tz(&staff.0, *id).await?,
    };
    if !crate::store::plausible_tz(&tz) {
        return Err(ApiError::BadRequest(format!("tz: `{tz}` is not a time zone name")));
    }
    Ok(HttpResponse::Ok().json(state.store.message_days(&staff.0, id.into_inner(), from, to, &tz).await?))
}

/// The deployment's VAPID application server key.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PublicKey {
    /// The uncompressed P-256 public key, base64url: `PushManager.subscribe`'s `applicationServerKey`.
    key: String,
}

#[utoipa::path(
    get, path = "/api/v1/push/public-key", operation_id = "push_public_key", tag = "tickets",
    responses((status = 200, description = "The key push subscriptions are made for", body = PublicKey)),
)]
pub async fn public_key(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let private = state.store.server_key(crate::notify::push::KEY_NAME, crate::notify::push::new_private_key).await?;
    let key = crate::notify::push::public_key(&private).map_err(ApiError::Internal)?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=3600")).json(PublicKey { key }))
}

/// A subscription made on the ticket's page.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "subscription": {"endpoint": "https://push.example/send/abc123",
                     "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
                              "auth": "tBHItJI5svbpez7KI4CCXg"}},
    "lang": "fr"
}))]
pub struct PushBody {
    /// The PushSubscription as `PushManager.subscribe` gave it (`toJSON()`).
    #[schema(value_type = Object)]
    subscription: serde_json::Value,
    /// The language of the messages (`en`, `fr`, `de`, `es`).
    lang: Option<String>,
}

#[utoipa::path(
    put, path = "/api/v1/tickets/{ticket_id}/push", operation_id = "ticket_push", tag = "tickets",
    params(("ticket_id" = Uuid, Path), TokenQuery),
    security(("ticket_token" = []), ("bearer" = [])),
    request_body = PushBody,
    responses((status = 204, description = "This phone is told the ticket's next moments by push")),
)]
/// "Notify me on this phone": a push subscription for a ticket already in line.
pub async fn subscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
    body: web::Json<PushBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let contacts =
        crate::domain::notify::Contacts { push: Some(body.subscription), lang: body.lang, ..Default::default() }
            .checked()
            .map_err(|r| ApiError::Rejected(r.code, r.detail))?;
    let (who, _) = access(&state, &req, id, q.into_inner().token).await?;
    // unwrap: `checked` kept the subscription it was given.
    state.store.set_push(id, &who, contacts.push.as_ref().unwrap(), contacts.lang().as_str()).await?;
    Ok(HttpResponse::NoContent().finish())
}
