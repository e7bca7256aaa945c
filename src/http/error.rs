//! One error type at the HTTP boundary, rendered as problem+json with a stable `code`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::{Conflict, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
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
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize)]
struct Problem<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
}

impl ApiError {
    /// The stable machine word clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::Conflict(c) => match c {
                Conflict::QueueClosed => "queue_closed",
                Conflict::QueuePaused => "queue_paused",
                Conflict::QueueFull => "queue_full",
                Conflict::QueueEmpty => "queue_empty",
                Conflict::InvalidTransition(_) => "invalid_transition",
                Conflict::IdempotencyConflict => "idempotency_conflict",
                Conflict::AlreadyExists(_) => "already_exists",
                Conflict::QueueNotEmpty => "queue_not_empty",
            },
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound => "Not found",
            ApiError::Conflict(_) => "Conflict",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::Unavailable(_) => "Unavailable",
            ApiError::Internal(_) => "Internal server error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(err) = self {
            // Logged once, here, where the request ends; the client gets an opaque 500.
            tracing::error!(cause = ?err, "request failed");
        }
        let status = self.status_code();
        let code = self.code();
        let problem = Problem {
            r#type: format!("urn:queuecast:problem:{code}"),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            code,
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if let ApiError::Unauthorized(_) = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(problem)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(c) => ApiError::Conflict(c),
            StoreError::Invalid(msg) => ApiError::BadRequest(msg),
            StoreError::Overloaded | StoreError::Unavailable => ApiError::Unavailable(err.to_string()),
            StoreError::Db(e) if crate::store::is_unreachable(&e) => {
                ApiError::Unavailable("the database is unreachable".into())
            }
            StoreError::Db(e) => ApiError::Internal(e.into()),
            StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}
