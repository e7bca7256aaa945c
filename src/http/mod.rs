//! The REST API of `PROTOCOL.md`, its OpenAPI document, and the operators' endpoints.

pub mod admission;
mod appointments;
mod control;
mod csv;
mod devices;
mod extract;
mod gcra;
mod health;
pub mod limit;
mod line;
mod locations;
pub mod metrics;
mod notifications;
pub mod openapi;
mod pages;
mod queues;
mod staff;
mod tickets;
mod users;
mod webhooks;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::web;

pub use crate::error::{ApiError, Problem};
pub use crate::state::AppState;
pub use extract::MAX_BODY;

/// Registers every route, the body limits and the problem+json handlers of bad input.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(extract::json_config())
        .app_data(extract::path_config())
        .app_data(extract::query_config())
        .app_data(web::PayloadConfig::new(MAX_BODY))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::scrape))
        .service(openapi::explorer())
        .route(
            openapi::EXPLORER_PATH.trim_end_matches('/'),
            web::get().to(|| async {
                actix_web::HttpResponse::MovedPermanently()
                    .insert_header((actix_web::http::header::LOCATION, openapi::EXPLORER_PATH))
                    .finish()
            }),
        )
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(deadline))
                .wrap(from_fn(shed))
                .route("/auth/login", web::post().to(staff::login))
                .route("/auth/logout", web::post().to(users::logout))
                .route("/auth/password", web::post().to(users::change_password))
                .route("/auth/reset", web::post().to(users::reset_password))
                .route("/users", web::get().to(users::list))
                .route("/users", web::post().to(users::create))
                .route("/users/{user_id}", web::patch().to(users::update))
                .route("/users/{user_id}/password-reset", web::post().to(users::issue_reset))
                .route("/audit", web::get().to(users::audit))
                .route("/locations", web::get().to(locations::list))
                .route("/locations", web::post().to(locations::create))
                .route("/locations/{location_id}", web::patch().to(locations::update))
                .route("/socket-passes", web::post().to(staff::socket_pass))
                .route("/ticket-types", web::post().to(staff::create_ticket_type))
                .route("/ticket-types", web::get().to(staff::list_ticket_types))
                .route("/queues", web::post().to(queues::create))
                .route("/queues", web::get().to(queues::list))
                .route("/queues/{queue_id}", web::get().to(queues::summary))
                .route("/queues/{queue_id}", web::patch().to(queues::update))
                .route("/queues/{queue_id}", web::delete().to(queues::delete))
                .route("/queues/{queue_id}/display-keys", web::post().to(queues::display_key))
                .route("/queues/{queue_id}/display-keys/{key_id}", web::delete().to(queues::revoke_display_key))
                .route("/queues/{queue_id}/tickets", web::post().to(tickets::join))
                .route("/queues/{queue_id}/slots", web::get().to(appointments::slots))
                .route("/queues/{queue_id}/appointments", web::post().to(appointments::book))
                .route("/queues/{queue_id}/appointments", web::get().to(appointments::day))
                .route("/appointments/{appointment_id}", web::get().to(appointments::get))
                .route("/appointments/{appointment_id}/cancel", web::post().to(appointments::cancel))
                .route("/appointments/{appointment_id}/reschedule", web::post().to(appointments::reschedule))
                .route("/appointments/{appointment_id}/check-in", web::post().to(appointments::check_in))
                .route("/appointments/{appointment_id}/no-show", web::post().to(appointments::no_show))
                .route("/queues/{queue_id}/call-next", web::post().to(tickets::call_next))
                .route("/queues/{queue_id}/events", web::get().to(queues::events))
                .route("/queues/{queue_id}/stats", web::get().to(queues::stats))
                .route("/queues/{queue_id}/stats.csv", web::get().to(queues::stats_csv))
                .route("/queues/{queue_id}/history", web::get().to(queues::history))
                .route("/queues/{queue_id}/line", web::get().to(line::line))
                .route("/queues/{queue_id}/qr.svg", web::get().to(queues::qr_svg))
                .route("/queues/{queue_id}/notifications", web::get().to(notifications::report))
                .route("/tickets", web::get().to(tickets::search))
                .route("/tickets/{ticket_id}", web::get().to(tickets::get))
                .route("/tickets/{ticket_id}", web::patch().to(control::update))
                .route("/tickets/{ticket_id}/snooze", web::post().to(control::snooze))
                .route("/tickets/{ticket_id}/move", web::post().to(control::move_ticket))
                .route("/tickets/{ticket_id}/history", web::get().to(control::history))
                .route("/tickets/{ticket_id}/feedback", web::post().to(control::give_feedback))
                .route("/tickets/{ticket_id}/feedback", web::get().to(control::feedback))
                .route("/tickets/{ticket_id}/cancel", web::post().to(tickets::cancel))
                .route("/tickets/{ticket_id}/transitions", web::post().to(tickets::transition))
                .route("/tickets/{ticket_id}/transfer", web::post().to(tickets::transfer))
                .route("/tickets/{ticket_id}/notifications", web::get().to(notifications::list))
                .route("/tickets/{ticket_id}/push", web::put().to(notifications::subscribe))
                .route("/push/public-key", web::get().to(notifications::public_key))
                .route("/notifications/status/{channel}", web::get().to(notifications::receipt_get))
                .route("/notifications/status/{channel}", web::post().to(notifications::receipt))
                .route("/notifications/inbound/sms", web::get().to(notifications::inbound_get))
                .route("/notifications/inbound/sms", web::post().to(notifications::inbound))
                .route("/device-keys", web::post().to(devices::create))
                .route("/device-keys", web::get().to(devices::list))
                .route("/device-keys/{key_id}", web::delete().to(devices::revoke))
                .route("/kiosk", web::get().to(devices::view))
                .route("/kiosk/tickets", web::post().to(devices::kiosk_join))
                .route("/webhooks", web::post().to(webhooks::create))
                .route("/webhooks", web::get().to(webhooks::list))
                .route("/webhooks/{webhook_id}", web::delete().to(webhooks::delete))
                .route("/webhooks/{webhook_id}/deliveries", web::get().to(webhooks::deliveries)),
        )
        .configure(pages::configure)
        .default_service(web::to(|| async { ApiError::NotFound }));
}

/// No API request waits on a silent database for long: past this it answers 503 `unavailable`.
/// (A black-holed connection never fails by itself; the writer's own deadline is shorter.)
const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(8);

async fn deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match tokio::time::timeout(REQUEST_DEADLINE, next.call(req)).await {
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(_) => Err(ApiError::Unavailable("the database did not answer in time".into()).into()),
    }
}

/// Sheds what the node's `Admission` does not take on: 503 `unavailable` with `Retry-After`,
/// after the admission's `shed_delay` (the refused request holds no place in the bound while it
/// waits). Answered at once, refusals let a crowd retrying without pause send the node tens of
/// thousands of requests a second, and answering them took the CPU from the joins it had taken
/// on: goodput fell to nothing (BENCHMARKS.md, s9).
async fn shed(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let admission = req.app_data::<web::Data<admission::Admission>>().map(|a| a.clone().into_inner());
    let _admitted = match admission.as_ref().map(|a| (a.admit(), a.shed_delay)) {
        Some((None, delay)) => {
            ::metrics::counter!("queuecast_requests_shed_total").increment(1);
            read_off(req).await;
            tokio::time::sleep(delay).await;
            return Err(ApiError::Unavailable("the server is at capacity; try again in a moment".into()).into());
        }
        Some((admitted, _)) => admitted,
        None => None,
    };
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// How long a refused request's body may take to arrive to be read off before the answer.
const READ_OFF_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Reads a refused request's body (one that came at once, of at most `MAX_BODY` bytes), so that
/// its connection stays open: actix-http closes a connection whose response went out before its
/// request's body was read, and a crowd's retries then each paid for a new connection, on the
/// node too (~2,900 a second at twice its capacity).
async fn read_off(req: ServiceRequest) {
    use futures_util::StreamExt;
    let (_req, mut payload) = req.into_parts();
    let _ = tokio::time::timeout(READ_OFF_WAIT, async {
        let mut read = 0;
        while let Some(Ok(chunk)) = payload.next().await {
            read += chunk.len();
            if read > MAX_BODY {
                break;
            }
        }
    })
    .await;
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &actix_web::HttpRequest) -> actix_web::HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}
