//! One error type at the boundary (REST handlers and socket upgrades alike), rendered as
//! problem+json with a stable `code`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::{Conflict, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// Bad input with a code of its own (`invalid_phone`, `invalid_template`, …): 400.
    #[error("{1}")]
    Rejected(&'static str, String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("no such resource")]
    NotFound,
    #[error("{0}")]
    Conflict(Conflict),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Unavailable(String),
    #[error("too many requests; try again in {} s", retry_after_secs(.0))]
    RateLimited(std::time::Duration),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// An error answer (RFC 9457 problem details, `application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:queuecast:problem:queue_empty",
    "title": "Conflict",
    "status": 409,
    "detail": "no one is waiting",
    "code": "queue_empty"
}))]
pub struct Problem {
    /// `urn:queuecast:problem:<code>`.
    r#type: String,
    title: &'static str,
    /// The HTTP status, repeated.
    status: u16,
    /// What went wrong, for people.
    detail: String,
    /// The stable machine word clients branch on (see the API description for the list).
    code: &'static str,
    /// `queue_closed` by the queue's opening hours: when it next opens (null: no opening is
    /// scheduled); `too_early` (an appointment's check-in): when check-in opens. Absent from
    /// other problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    opens_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
}

impl ApiError {
    /// The stable machine word clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Rejected(code, _) => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::Conflict(c) => match c {
                Conflict::QueueClosed | Conflict::ClosedUntil(_) => "queue_closed",
                Conflict::QueuePaused => "queue_paused",
                Conflict::QueueFull => "queue_full",
                Conflict::QueueEmpty => "queue_empty",
                Conflict::InvalidTransition(_) => "invalid_transition",
                Conflict::IdempotencyConflict => "idempotency_conflict",
                Conflict::AlreadyExists(_) => "already_exists",
                Conflict::QueueNotEmpty => "queue_not_empty",
                Conflict::LastAdmin => "last_admin",
                Conflict::SlotFull => "slot_full",
                Conflict::CheckInNotYet(_) => "too_early",
                Conflict::AppointmentMissed => "appointment_missed",
                Conflict::SnoozeLimit(_) => "snooze_limit",
                Conflict::AlreadyLast => "already_last",
                Conflict::NoRoom => "no_room",
                Conflict::NotFinished => "not_finished",
                Conflict::FeedbackGiven => "feedback_given",
            },
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The problem+json body of this error.
    pub fn problem(&self) -> Problem {
        let code = self.code();
        Problem {
            r#type: format!("urn:queuecast:problem:{code}"),
            title: self.title(),
            status: self.status_code().as_u16(),
            detail: self.to_string(),
            code,
            opens_at: match self {
                ApiError::Conflict(Conflict::ClosedUntil(at)) => Some(*at),
                ApiError::Conflict(Conflict::CheckInNotYet(at)) => Some(Some(*at)),
                _ => None,
            },
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) | ApiError::Rejected(..) => "Bad request",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound => "Not found",
            ApiError::Conflict(_) => "Conflict",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::Unavailable(_) => "Unavailable",
            ApiError::RateLimited(_) => "Too many requests",
            ApiError::Internal(_) => "Internal server error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Rejected(..) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(err) = self {
            // Logged once, here, where the request ends; the client gets an opaque 500.
            tracing::error!(cause = ?err, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::RateLimited(wait) => {
                response.insert_header(("Retry-After", retry_after_secs(wait).to_string()));
            }
            // Overloaded or the database away: worth trying again shortly, not at once.
            ApiError::Unavailable(_) => {
                response.insert_header(("Retry-After", "1"));
            }
            _ => {}
        }
        response.json(self.problem())
    }
}

/// Whole seconds to wait, rounded up, at least one.
fn retry_after_secs(wait: &std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(c) => ApiError::Conflict(c),
            StoreError::Invalid(msg) => ApiError::BadRequest(msg),
            StoreError::Rejected(code, msg) => ApiError::Rejected(code, msg),
            StoreError::Overloaded | StoreError::Unavailable => ApiError::Unavailable(err.to_string()),
            StoreError::Db(e) if crate::store::is_unreachable(&e) => {
                ApiError::Unavailable("the database is unreachable".into())
            }
            StoreError::Db(e) if crate::store::is_unstorable_text(&e) => {
                ApiError::BadRequest("text may not contain NUL characters (\\u0000)".into())
            }
            StoreError::Db(e) => ApiError::Internal(e.into()),
            StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}
