//! Extractors: staff identity from a bearer token, JSON bodies with our limits and errors.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::ApiError;
use crate::store::{Identity, Role};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;

/// The bearer token of a request, if it has one.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned()).filter(|t| !t.is_empty())
}

/// A signed-in staff user (any role).
pub struct Staff(pub Identity);

impl Staff {
    /// Refuses users below `role`.
    pub fn require(&self, role: Role) -> Result<&Identity, ApiError> {
        if self.0.role >= role {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!("this needs the {} role", role.as_str())))
        }
    }
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let token = token.ok_or_else(|| ApiError::Unauthorized("sign in: Authorization: Bearer <token>".into()))?;
            match state.store.authenticate(&token).await? {
                Some(identity) => Ok(Staff(identity)),
                None => Err(ApiError::Unauthorized("the token is invalid or expired".into())),
            }
        })
    }
}

/// Where a request came from, for the audit log: the client's address (as the rate limits see
/// it, behind a trusted proxy too) and its User-Agent.
impl FromRequest for crate::store::Via {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = match req.app_data::<web::Data<super::limit::Limiter>>() {
            Some(limits) => limits.client(req),
            None => req.peer_addr().map(|a| a.ip()),
        };
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        std::future::ready(Ok(crate::store::Via { ip: ip.map(|ip| ip.to_string()), user_agent }))
    }
}

/// A JSON body, or the empty object's default when the body is empty (for calls whose fields
/// are all optional).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > MAX_BODY) {
                return Err(ApiError::PayloadTooLarge(MAX_BODY));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(ApiError::PayloadTooLarge(MAX_BODY));
                }
                body.extend_from_slice(&chunk);
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            serde_json::from_slice(&body)
                .map(OptionalJson)
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
        })
    }
}

/// How `web::Json`, `web::Path` and `web::Query` report bad input: as problems.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(MAX_BODY).content_type_required(false).error_handler(|err, _| match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge(MAX_BODY).into()
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!("invalid JSON body: {e}")).into(),
        other => ApiError::BadRequest(format!("invalid JSON body: {other}")).into(),
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err: PathError, _| ApiError::BadRequest(format!("invalid path: {err}")).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err: QueryPayloadError, _| ApiError::BadRequest(format!("invalid query: {err}")).into())
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>` field of a
/// patch: tells an absent field (`None`, unchanged) from an explicit null (`Some(None)`).
pub(super) fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
