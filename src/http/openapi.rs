//! The REST API as an OpenAPI 3.1 document (`GET /api/openapi.json`) and an offline explorer
//! (`/api/docs/`, Swagger UI compiled into the binary).
//!
//! Each handler carries its own `#[utoipa::path]` (path, parameters, body, success answer). The
//! error answers are added here from one table, [`problems`], so every operation lists the
//! problem+json answers it can give, each with an example per stable `code`, built from the
//! real [`ApiError`] so a document and the wire cannot disagree on a status or a code.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    appointments, control, devices, health, line, locations, notifications, queues, staff, tickets, users, webhooks,
};
use crate::error::{ApiError, Problem};
use crate::store::Conflict;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
/// Where the explorer is served.
pub const EXPLORER_PATH: &str = "/api/docs/";

/// The part of the description OpenAPI cannot express: the live sockets and their close codes.
/// (tests/it/openapi.rs checks that every close code of `ws::close` is listed.)
const DESCRIPTION: &str = r#"The REST API of Queuecast, a real-time virtual queue server. `PROTOCOL.md` is the contract; this document is the same contract, machine-readable.

**Errors** are `application/problem+json`: `{"type", "title", "status", "detail", "code"}`. Clients branch on `code`, a stable machine word: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `queue_closed`, `queue_paused`, `queue_full`, `queue_empty`, `invalid_transition`, `idempotency_conflict`, `already_exists`, `last_admin`, `payload_too_large`, `unavailable`, `internal` (and `rate_limited` where limits are configured); bad contacts or message settings answer 400 with a code of their own: `invalid_phone`, `invalid_email`, `invalid_push_subscription`, `unknown_lang`, `invalid_template`, `invalid_notify_settings`; passwords and accounts: `weak_password`, `wrong_password`, `unknown_location`. A resource of another tenant answers `not_found`, never `forbidden`. Each operation below lists the codes it can answer.

**Authentication.** Staff send `Authorization: Bearer <token>` from `POST /api/v1/auth/login`. Customers use their ticket's `token` (query `token=` or `Authorization: Bearer`). Screens use a display `key` (query `key=` on their socket); lobby kiosks send their device key as `Authorization: Kiosk <key>`.

## Live sockets (WebSocket; not expressible in OpenAPI)

Text frames of JSON. The server pings every 15 s and closes sockets silent for 45 s. A client that lost its socket reconnects with `since=<last seq seen>` and receives exactly what it missed. The only message a client may send is `{"type":"ping"}` (answered `{"type":"pong"}`).

- **Customer** `GET /ws/tickets/{ticket_id}?token=T[&since=S]`: first `{"type":"ticket","ticket":{...}}`, then the same message whenever the ticket's position, estimate, status or counter changes.
- **Staff** `GET /ws/queues/{queue_id}?pass=P[&since=S][&mode=console|events]` (a single-use pass from `POST /api/v1/socket-passes`; a browser's `Origin` must be allowed): first `{"type":"snapshot","seq":S,"queue":{...},"waiting":[ticket...],"waiting_total":N,"active":[ticket...]}` (or, with `since`, the missed events), then `{"type":"event","event":{...}}` for every event, in `seq` order, with no gap and no repeat. `waiting` is the head of the line (200 at most); the rest is paged with `GET /api/v1/queues/{queue_id}/line`. A client that falls behind gets a fresh snapshot (`mode=console`, the default) or is closed with 4001 to resume with `since=` (`mode=events`).
- **Display** `GET /ws/queues/{queue_id}/display?key=K` (a display key covering the queue: a per-queue key, or a device key of kind `display`): `{"type":"display","seq":S,"now_serving":[{number, counter, called_at}],"next":[number...],"waiting":N,"eta_new_seconds":E}` first and after every change. No names or phone numbers ever reach a display.

### Close codes

4000–4099: reconnect (with `since=`). 4400–4499: do not reconnect; it would fail the same way.

| code | meaning |
|---|---|
| 4000 | the server is shutting down: reconnect (to another node) |
| 4001 | the client did not keep up: reconnect with `since=` |
| 4002 | nothing heard from the client for 45 s |
| 4003 | the ticket moved to another queue: reconnect to follow it |
| 4400 | a message the protocol does not have |
| 4401 | the pass, token or key does not open this socket |
| 4404 | no such queue or ticket |
| 4413 | a frame over the size limit (4 KiB) |
| 4409 | a newer socket of the same ticket, user or device key took this one's place (each holds a few at most) |
| 4429 | too many messages too fast |

## Operations

`GET /metrics` serves Prometheus text (not described here)."#;

#[derive(OpenApi)]
#[openapi(
    info(title = "Queuecast", version = "1", description = "See the description below."),
    paths(
        health::healthz,
        health::readyz,
        staff::login,
        staff::socket_pass,
        staff::create_ticket_type,
        staff::list_ticket_types,
        queues::create,
        queues::list,
        queues::summary,
        queues::update,
        queues::delete,
        queues::display_key,
        queues::revoke_display_key,
        queues::events,
        queues::stats,
        queues::stats_csv,
        queues::history,
        line::line,
        queues::qr_svg,
        tickets::join,
        tickets::call_next,
        tickets::search,
        tickets::get,
        tickets::cancel,
        tickets::transition,
        tickets::transfer,
        control::snooze,
        control::move_ticket,
        control::update,
        control::history,
        control::give_feedback,
        control::feedback,
        notifications::list,
        notifications::report,
        notifications::public_key,
        notifications::subscribe,
        notifications::receipt_get,
        notifications::receipt,
        notifications::inbound_get,
        notifications::inbound,
        devices::create,
        devices::list,
        devices::revoke,
        devices::view,
        devices::kiosk_join,
        webhooks::create,
        webhooks::list,
        webhooks::delete,
        webhooks::deliveries,
        appointments::slots,
        appointments::book,
        appointments::get,
        appointments::cancel,
        appointments::reschedule,
        appointments::check_in,
        appointments::day,
        appointments::no_show,
        users::list,
        users::create,
        users::update,
        users::issue_reset,
        users::logout,
        users::change_password,
        users::reset_password,
        users::audit,
        locations::list,
        locations::create,
        locations::update,
    ),
    components(schemas(Problem)),
    modifiers(&Described, &Security, &Problems),
    tags(
        (name = "tickets", description = "Joining and moving tickets"),
        (name = "appointments", description = "Booked visits: slots, booking, check-in into the live line"),
        (name = "queues", description = "A queue's status, events, figures and QR code"),
        (name = "setup", description = "Queues, display keys and ticket types (managers and admins)"),
        (name = "staff", description = "Signing in and out, passwords and socket passes"),
        (name = "admin", description = "Accounts, sites and the audit log (admins)"),
        (name = "operations", description = "Health and readiness"),
        (name = "devices", description = "What a venue's screens and lobby kiosks do with their device key (`Authorization: Kiosk <key>`)"),
        (name = "providers", description = "Calls from SMS providers: delivery receipts and replies (signed URLs)"),
    ),
)]
pub struct ApiDoc;

/// The document, built once per process.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// The explorer page, serving the document at [`DOCUMENT_PATH`] too.
pub fn explorer() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new(format!("{EXPLORER_PATH}{{_:.*}}")).url(DOCUMENT_PATH, DOCUMENT.clone())
}

struct Described;

impl Modify for Described {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.description = Some(DESCRIPTION.to_owned());
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        bearer.description =
            Some("A staff token from `POST /api/v1/auth/login` (or a ticket's token where allowed)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "ticket_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The ticket's token, as the join answered it",
            ))),
        );
        components.add_security_scheme(
            "kiosk_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Kiosk <key>`: a device key of kind kiosk",
            ))),
        );
    }
}

/// The problems an operation can answer, by operation id. Every operation but the health probes
/// can also answer 500 `internal` and 503 `unavailable` (the database is unreachable or the
/// writer is overloaded).
fn problems(operation_id: &str) -> Vec<ApiError> {
    let bad = || ApiError::BadRequest("invalid JSON body: missing field `counter`".into());
    let bad_path = || ApiError::BadRequest("invalid path: UUID parsing failed".into());
    let signed_out = || ApiError::Unauthorized("sign in: Authorization: Bearer <token>".into());
    let kiosk_out = || ApiError::Unauthorized("the device key is not valid (wrong, or revoked)".into());
    let role = |r: &str| ApiError::Forbidden(format!("this needs the {r} role"));
    let big = || ApiError::PayloadTooLarge(super::MAX_BODY);
    let transition =
        || ApiError::Conflict(Conflict::InvalidTransition("the ticket cannot `start` in its current state".into()));
    use ApiError::NotFound;
    let rejected = |code: &'static str, d: &str| ApiError::Rejected(code, d.into());
    let no_appointments = || {
        ApiError::Rejected(
            "no_appointments",
            "this queue takes no appointments (its settings need `hours` and `appointments`)".into(),
        )
    };
    let booking_token = || ApiError::Unauthorized("give the booking's token (?token= or Authorization: Bearer)".into());
    let mut found = match operation_id {
        "healthz" | "readyz" => return Vec::new(),
        "login" => vec![
            bad(),
            ApiError::Unauthorized("wrong tenant, email or password".into()),
            big(),
            ApiError::RateLimited(std::time::Duration::from_secs(4)),
        ],
        "create_socket_pass" | "list_ticket_types" | "list_queues" => vec![signed_out()],
        "create_ticket_type" => vec![
            ApiError::BadRequest("fsm: the init state is not a state".into()),
            signed_out(),
            role("admin"),
            ApiError::Conflict(Conflict::AlreadyExists("ticket type `pharmacy`".into())),
            big(),
        ],
        "create_queue" => vec![
            ApiError::BadRequest("slug: lowercase letters, digits and dashes, at most 63".into()),
            rejected("invalid_template", "settings.notify.templates.fr.called: unknown placeholder `{nmber}`"),
            rejected("invalid_notify_settings", "settings.notify.ahead: whole numbers of people ahead, 0 to 49"),
            rejected("unknown_location", "location_id: no such location"),
            signed_out(),
            role("manager"),
            ApiError::Conflict(Conflict::AlreadyExists("queue `main`".into())),
            big(),
        ],
        "queue_summary" | "queue_qr_svg" => vec![bad_path(), NotFound],
        "update_queue" => vec![
            ApiError::BadRequest("settings.hours.weekly.mon: \"25:00\" is not a time (HH:MM, 00:00 to 24:00)".into()),
            rejected("unknown_location", "location_id: no such location"),
            signed_out(),
            role("manager"),
            NotFound,
            big(),
        ],
        "create_display_key" | "revoke_display_key" => vec![bad_path(), signed_out(), role("manager"), NotFound],
        "create_device_key" => vec![
            ApiError::BadRequest("queue_ids: 1 to 12 queues".into()),
            signed_out(),
            role("manager"),
            NotFound,
            big(),
        ],
        "list_device_keys" => vec![signed_out(), role("manager")],
        "revoke_device_key" => vec![bad_path(), signed_out(), role("manager"), NotFound],
        "kiosk_device" => vec![kiosk_out()],
        "kiosk_join" => vec![
            ApiError::BadRequest("Idempotency-Key: 1 to 255 visible ASCII characters".into()),
            kiosk_out(),
            ApiError::Forbidden("a display key does not issue tickets: use a kiosk key".into()),
            NotFound,
            ApiError::Conflict(Conflict::ClosedUntil("2026-11-24T08:00:00Z".parse().ok())),
            ApiError::Conflict(Conflict::QueuePaused),
            ApiError::Conflict(Conflict::QueueFull),
            ApiError::Conflict(Conflict::IdempotencyConflict),
            big(),
        ],
        "queue_events" => vec![ApiError::BadRequest("after ≥ 0; limit 1 to 1000".into()), signed_out(), NotFound],
        "queue_stats" => vec![ApiError::BadRequest("hours: 1 to 2160".into()), signed_out(), NotFound],
        "queue_stats_csv" => {
            vec![ApiError::BadRequest("give both from and to (YYYY-MM-DD)".into()), signed_out(), NotFound]
        }
        "delete_queue" => {
            vec![bad_path(), signed_out(), role("manager"), NotFound, ApiError::Conflict(Conflict::QueueNotEmpty)]
        }
        "create_webhook" => vec![
            ApiError::BadRequest("events: `ticket.teleported` is not one of …".into()),
            signed_out(),
            role("manager"),
            NotFound,
            big(),
        ],
        "list_webhooks" => vec![signed_out(), role("manager")],
        "delete_webhook" | "webhook_deliveries" => vec![bad_path(), signed_out(), role("manager"), NotFound],
        "search_tickets" => vec![ApiError::BadRequest("limit: 1 to 100".into()), signed_out()],
        "queue_history" => vec![ApiError::BadRequest("minutes: 1 to 1440".into()), signed_out(), NotFound],
        "queue_line" => vec![ApiError::BadRequest("after_position ≥ 0; limit 1 to 500".into()), signed_out(), NotFound],
        "join" => vec![
            ApiError::BadRequest("Idempotency-Key: 1 to 255 visible ASCII characters".into()),
            ApiError::Unauthorized("the token is invalid or expired".into()),
            rejected("invalid_phone", "notify.sms: a phone number in international form, + and 8 to 15 digits"),
            rejected("invalid_email", "notify.email: an e-mail address (name@domain.example)"),
            rejected("invalid_push_subscription", "notify.push: a PushSubscription {endpoint, keys: {p256dh, auth}}"),
            rejected("unknown_lang", "notify.lang: `xx` is not one of en, fr, de, es"),
            NotFound,
            // Outside its opening hours the problem says when the queue opens (null: not scheduled).
            ApiError::Conflict(Conflict::ClosedUntil("2026-11-24T08:00:00Z".parse().ok())),
            ApiError::Conflict(Conflict::QueuePaused),
            ApiError::Conflict(Conflict::QueueFull),
            ApiError::Conflict(Conflict::IdempotencyConflict),
            big(),
            ApiError::RateLimited(std::time::Duration::from_secs(12)),
        ],
        "call_next" => vec![bad(), signed_out(), NotFound, ApiError::Conflict(Conflict::QueueEmpty), big()],
        "get_ticket" => vec![
            bad_path(),
            ApiError::Unauthorized("give the ticket's token (?token= or Authorization: Bearer)".into()),
            NotFound,
        ],
        "cancel_ticket" => vec![
            bad_path(),
            ApiError::Unauthorized("give the ticket's token (?token= or Authorization: Bearer)".into()),
            NotFound,
            transition(),
        ],
        "transition_ticket" => vec![bad(), signed_out(), NotFound, transition(), big()],
        "snooze_ticket" => vec![
            ApiError::BadRequest("places: 1 or more".into()),
            ApiError::Unauthorized("give the ticket's token (?token= or Authorization: Bearer)".into()),
            ApiError::Forbidden("only the ticket's customer does this, with its token".into()),
            NotFound,
            ApiError::Conflict(Conflict::SnoozeLimit("a ticket may step back 2 times in this queue".into())),
            ApiError::Conflict(Conflict::AlreadyLast),
            transition(),
            big(),
        ],
        "move_ticket" => vec![
            ApiError::BadRequest("position: 1 to 12, the length of the line".into()),
            signed_out(),
            NotFound,
            transition(),
            ApiError::Conflict(Conflict::NoRoom),
            big(),
        ],
        "update_ticket" => vec![
            ApiError::BadRequest("priority: 0 to 9".into()),
            signed_out(),
            NotFound,
            ApiError::Conflict(Conflict::InvalidTransition("a finished ticket has no priority to change".into())),
            big(),
        ],
        "ticket_history" | "get_feedback" => vec![
            bad_path(),
            ApiError::Unauthorized("give the ticket's token (?token= or Authorization: Bearer)".into()),
            NotFound,
        ],
        "give_feedback" => vec![
            ApiError::BadRequest("rating: a whole number from 1 to 5".into()),
            ApiError::Unauthorized("give the ticket's token (?token= or Authorization: Bearer)".into()),
            ApiError::Forbidden("only the ticket's customer does this, with its token".into()),
            NotFound,
            ApiError::Conflict(Conflict::NotFinished),
            ApiError::Conflict(Conflict::FeedbackGiven),
            big(),
        ],
        "transfer_ticket" => vec![
            ApiError::BadRequest("the ticket is already in that queue".into()),
            signed_out(),
            NotFound,
            ApiError::Conflict(Conflict::QueueClosed),
            transition(),
            big(),
        ],
        "ticket_notifications" => vec![
            bad_path(),
            ApiError::Unauthorized("give the ticket's token (?token= or Authorization: Bearer)".into()),
            NotFound,
        ],
        "push_public_key" => Vec::new(),
        "list_users" => vec![signed_out(), role("admin")],
        "create_user" => vec![
            ApiError::BadRequest("`ann` is not an email address".into()),
            rejected("weak_password", "this password is among the most common ones; choose another"),
            rejected("unknown_location", "location_ids: no such location"),
            signed_out(),
            role("admin"),
            ApiError::Conflict(Conflict::AlreadyExists("a user with email `desk@acme.test`".into())),
            big(),
        ],
        "update_user" => vec![
            ApiError::BadRequest("nothing to change: give role, display_name, disabled or location_ids".into()),
            rejected("unknown_location", "location_ids: no such location"),
            signed_out(),
            role("admin"),
            NotFound,
            ApiError::Conflict(Conflict::LastAdmin),
            big(),
        ],
        "issue_password_reset" => vec![bad_path(), signed_out(), role("admin"), NotFound],
        "logout" => vec![signed_out()],
        "change_password" => vec![
            bad(),
            rejected("wrong_password", "current: not the account's password"),
            rejected("weak_password", "a password has at least 8 characters"),
            signed_out(),
            big(),
        ],
        "reset_password" => vec![
            bad(),
            rejected("weak_password", "a password has at least 8 characters"),
            ApiError::Unauthorized("wrong tenant, email or code, or the code was used or expired".into()),
            big(),
            ApiError::RateLimited(std::time::Duration::from_secs(4)),
        ],
        "list_locations" => vec![signed_out()],
        "create_location" | "update_location" => vec![
            ApiError::BadRequest("timezone: `Mars/Olympus` is not an IANA time zone (e.g. Europe/Paris)".into()),
            signed_out(),
            role("admin"),
            NotFound,
            big(),
        ],
        "audit_log" => vec![ApiError::BadRequest("limit: 1 to 500".into()), signed_out(), role("admin")],
        "ticket_push" => vec![
            bad(),
            rejected("invalid_push_subscription", "notify.push: a PushSubscription {endpoint, keys: {p256dh, auth}}"),
            ApiError::Unauthorized("give the ticket's token (?token= or Authorization: Bearer)".into()),
            NotFound,
            big(),
        ],
        "queue_notifications_report" => {
            vec![ApiError::BadRequest("from: `2026-13-01` is not a date (YYYY-MM-DD)".into()), signed_out(), NotFound]
        }
        "notification_receipt" | "notification_receipt_get" => {
            vec![ApiError::BadRequest("give type (Kannel) or MessageStatus".into()), NotFound]
        }
        "inbound_sms" | "inbound_sms_get" => vec![ApiError::BadRequest("from: not a phone number".into()), NotFound],
        "slots" => {
            vec![rejected("bad_date", "date: `2026-13-01` is not a date (YYYY-MM-DD)"), no_appointments(), NotFound]
        }
        "book" => vec![
            bad(),
            rejected("slot_in_past", "start_at is in the past"),
            rejected("slot_outside_hours", "start_at is outside the queue's hours"),
            rejected("slot_off_grid", "start_at is not on the slot grid"),
            rejected("slot_too_far_ahead", "start_at is further ahead than this queue books"),
            no_appointments(),
            NotFound,
            ApiError::Conflict(Conflict::SlotFull),
            ApiError::Conflict(Conflict::IdempotencyConflict),
            big(),
        ],
        "get_appointment" => vec![bad_path(), booking_token(), NotFound],
        "cancel_appointment" => vec![bad_path(), booking_token(), NotFound, transition()],
        "reschedule_appointment" => vec![
            bad(),
            rejected("slot_off_grid", "start_at is not on the slot grid"),
            booking_token(),
            NotFound,
            ApiError::Conflict(Conflict::SlotFull),
            transition(),
            big(),
        ],
        "check_in" => vec![
            bad_path(),
            booking_token(),
            ApiError::Forbidden("a display key cannot check anyone in".into()),
            NotFound,
            ApiError::Conflict(Conflict::CheckInNotYet("2026-12-02T08:45:00Z".parse().expect("a time"))),
            ApiError::Conflict(Conflict::AppointmentMissed),
            ApiError::Conflict(Conflict::QueueClosed),
            transition(),
        ],
        "appointment_no_show" => vec![bad_path(), signed_out(), NotFound, transition()],
        "queue_appointments" => {
            vec![rejected("bad_date", "date: `2026-13-01` is not a date (YYYY-MM-DD)"), signed_out(), NotFound]
        }
        // An operation missing here still gets the generic answers below; tests/it/openapi.rs
        // fails on it, so it is noticed.
        _ => Vec::new(),
    };
    found.push(ApiError::Unavailable("the database is unreachable".into()));
    found.push(ApiError::Internal(anyhow::anyhow!("example")));
    found
}

/// Adds each operation's problem+json answers: one response per status, listing its codes, with
/// an example per code.
struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.patch, &mut item.put, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                add_problems(operation);
            }
        }
    }
}

fn add_problems(operation: &mut Operation) {
    let id = operation.operation_id.clone().unwrap_or_default();
    let mut by_status: BTreeMap<u16, Vec<ApiError>> = BTreeMap::new();
    for err in problems(&id) {
        by_status.entry(actix_web::ResponseError::status_code(&err).as_u16()).or_default().push(err);
    }
    for (status, errors) in by_status {
        let codes: Vec<String> = errors.iter().map(|e| format!("`{}`", e.code())).collect();
        let mut content = Content::new(Some(Ref::from_schema_name("Problem")));
        for err in &errors {
            let value = serde_json::to_value(err.problem()).unwrap_or_default();
            let example = ExampleBuilder::new().summary(err.code()).value(Some(value)).build();
            content.examples.insert(err.code().to_owned(), RefOr::T(example));
        }
        let response = ResponseBuilder::new()
            .description(format!("Problem: {}", codes.join(", ")))
            .content("application/problem+json", content)
            .build();
        operation.responses.responses.insert(status.to_string(), RefOr::T(response));
    }
}
