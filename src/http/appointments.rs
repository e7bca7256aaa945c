//! Appointments: a queue's free slots, booking without an account, the booking's own page
//! (change, cancel, check in) and the day's list for staff.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{bearer, OptionalJson, Staff};
use super::limit::Limiter;
use super::tickets::{idempotency_key, JoinAnswer, TokenQuery};
use super::AppState;
use crate::domain::appointment::Appointment;
use crate::domain::DeviceKind;
use crate::error::ApiError;
use crate::store::{AppointmentAccess, NewBooking, SlotView, StoreError};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotsQuery {
    /// The first local day (YYYY-MM-DD, in the queue's hours' zone).
    date: String,
    /// How many days from `date`: 1 (the default) to 31.
    days: Option<u32>,
}

#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/slots", operation_id = "slots", tag = "appointments",
    params(("queue_id" = Uuid, Path), SlotsQuery),
    responses((status = 200, description = "The slots of those days, in order, with the places left in each",
               body = [SlotView])),
)]
pub async fn slots(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<SlotsQuery>,
) -> Result<HttpResponse, ApiError> {
    let date = parse_date(&q.date)?;
    let days = q.days.unwrap_or(1);
    if !(1..=crate::store::appointments::MAX_DAYS).contains(&days) {
        return Err(ApiError::BadRequest("days: 1 to 31".into()));
    }
    Ok(HttpResponse::Ok().json(state.store.slots(id.into_inner(), date, days).await?))
}

fn parse_date(s: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| ApiError::Rejected("bad_date", format!("date: `{s}` is not a date (YYYY-MM-DD)")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"start_at": "2026-12-02T09:00:00Z", "name": "Ada", "email": "ada@example.com", "lang": "en"}))]
pub struct BookBody {
    /// The start of a free slot (from `GET …/slots`).
    start_at: DateTime<Utc>,
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// An international number, for reminders by SMS.
    #[schema(max_length = 32)]
    phone: Option<String>,
    #[schema(max_length = 254)]
    email: Option<String>,
    /// en, fr, de or es: the language of its messages.
    #[schema(max_length = 2)]
    lang: Option<String>,
    /// Reminders, with the customer's consent: where to send them.
    notify: Option<RemindBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemindBody {
    #[schema(max_length = 32)]
    sms: Option<String>,
    #[schema(max_length = 254)]
    email: Option<String>,
    /// The language of the reminders (else the booking's).
    #[schema(max_length = 2)]
    lang: Option<String>,
}

/// A booking and the secret that opens its page.
#[derive(Serialize, ToSchema)]
pub struct BookAnswer {
    appointment: Appointment,
    /// The booking's secret: `?token=` on its page, or `Authorization: Bearer`.
    token: String,
}

#[utoipa::path(
    post, path = "/api/v1/queues/{queue_id}/appointments", operation_id = "book", tag = "appointments",
    params(
        ("queue_id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header,
         description = "The same key with the same body answers the same booking; with another body, 409 `idempotency_conflict`"),
    ),
    request_body = BookBody,
    responses((status = 201, description = "Booked. `Idempotent-Replayed: true` when this answers an earlier request with the same key",
               body = BookAnswer)),
)]
pub async fn book(
    state: web::Data<AppState>,
    limits: web::Data<Limiter>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<BookBody>,
) -> Result<HttpResponse, ApiError> {
    limits.join(&req).await?;
    let key = idempotency_key(&req)?;
    let b = body.into_inner();
    let (notify_sms, notify_email, notify_lang) = match b.notify {
        Some(n) => (n.sms, n.email, n.lang),
        None => (None, None, None),
    };
    let booking = NewBooking {
        start_at: b.start_at,
        name: b.name,
        phone: b.phone,
        email: b.email,
        lang: notify_lang.or(b.lang),
        notify_sms,
        notify_email,
    };
    let made = state.store.book(id.into_inner(), booking, key).await?;
    let mut response = HttpResponse::Created();
    if made.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(BookAnswer { appointment: made.appointment, token: made.token }))
}

/// Who is asking: the booking's token (query or bearer), or a staff bearer token.
async fn access(
    state: &AppState,
    req: &HttpRequest,
    id: Uuid,
    token: Option<String>,
) -> Result<AppointmentAccess, ApiError> {
    if let Some(token) = token {
        return Ok(AppointmentAccess::Token(token));
    }
    let scheme = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if scheme.is_some_and(|s| s.len() > 6 && s[..6].eq_ignore_ascii_case("kiosk ")) {
        let device = super::devices::device(state, req).await?;
        if device.kind != DeviceKind::Kiosk {
            return Err(ApiError::Forbidden("a display key cannot check anyone in".into()));
        }
        return Ok(AppointmentAccess::Kiosk(device));
    }
    let Some(bearer) = bearer(req) else {
        return Err(ApiError::Unauthorized("give the booking's token (?token= or Authorization: Bearer)".into()));
    };
    let as_customer = AppointmentAccess::Token(bearer.clone());
    match state.store.appointment(id, &as_customer).await {
        Ok(_) => Ok(as_customer),
        Err(StoreError::NotFound) => match state.store.authenticate(&bearer).await? {
            Some(who) => Ok(AppointmentAccess::Staff(who)),
            None => Err(ApiError::NotFound),
        },
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get, path = "/api/v1/appointments/{appointment_id}", operation_id = "get_appointment", tag = "appointments",
    params(("appointment_id" = Uuid, Path), TokenQuery),
    security(("ticket_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The appointment now", body = Appointment)),
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let who = access(&state, &req, id, q.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(state.store.appointment(id, &who).await?))
}

#[utoipa::path(
    post, path = "/api/v1/appointments/{appointment_id}/cancel", operation_id = "cancel_appointment",
    tag = "appointments", params(("appointment_id" = Uuid, Path), TokenQuery),
    security(("ticket_token" = []), ("bearer" = [])),
    responses((status = 200, description = "Cancelled: its place in the slot is free again", body = Appointment)),
)]
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let who = access(&state, &req, id, q.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(state.store.cancel_appointment(id, &who).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"start_at": "2026-12-02T10:30:00Z"}))]
pub struct RescheduleBody {
    /// The start of another free slot of the same queue.
    start_at: DateTime<Utc>,
}

#[utoipa::path(
    post, path = "/api/v1/appointments/{appointment_id}/reschedule", operation_id = "reschedule_appointment",
    tag = "appointments", params(("appointment_id" = Uuid, Path), TokenQuery),
    security(("ticket_token" = []), ("bearer" = [])), request_body = RescheduleBody,
    responses((status = 200, description = "Moved to the new slot", body = Appointment)),
)]
pub async fn reschedule(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
    body: web::Json<RescheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let who = access(&state, &req, id, q.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(state.store.reschedule(id, &who, body.start_at).await?))
}

#[utoipa::path(
    post, path = "/api/v1/appointments/{appointment_id}/check-in", operation_id = "check_in", tag = "appointments",
    params(("appointment_id" = Uuid, Path), TokenQuery),
    security(("ticket_token" = []), ("bearer" = []), ("kiosk_key" = [])),
    request_body(content = Option<Object>, description = "No body"),
    responses((status = 201, description = "In line: ahead of walk-ins who joined after `check_in_opens_at`, behind \
                                            those before (or at the end when late)", body = JoinAnswer)),
)]
pub async fn check_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
    _body: OptionalJson<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let who = access(&state, &req, id, q.into_inner().token).await?;
    let joined = state.store.check_in(id, &who).await?;
    Ok(HttpResponse::Created().json(JoinAnswer::new(state.placed(joined.ticket).await?, joined.token)))
}

#[utoipa::path(
    post, path = "/api/v1/appointments/{appointment_id}/no-show", operation_id = "appointment_no_show",
    tag = "appointments", params(("appointment_id" = Uuid, Path)), security(("bearer" = [])),
    request_body(content = Option<Object>, description = "No body"),
    responses((status = 200, description = "Marked missed (event `appointment.missed`, actor the staff member)",
               body = Appointment)),
)]
pub async fn no_show(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    _body: OptionalJson<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.mark_missed(id.into_inner(), &staff.0).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// The local day (YYYY-MM-DD, in the queue's hours' zone).
    date: String,
}

#[utoipa::path(
    get, path = "/api/v1/queues/{queue_id}/appointments", operation_id = "queue_appointments", tag = "appointments",
    params(("queue_id" = Uuid, Path), DayQuery), security(("bearer" = [])),
    responses((status = 200, description = "The day's appointments in time order, with names and contacts",
               body = [Appointment])),
)]
pub async fn day(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    q: web::Query<DayQuery>,
) -> Result<HttpResponse, ApiError> {
    let date = parse_date(&q.date)?;
    Ok(HttpResponse::Ok().json(state.store.appointments_on(&staff.0, id.into_inner(), date).await?))
}
