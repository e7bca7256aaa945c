//! Close codes. 4000–4099: the client should reconnect (with `since=`); 4400–4499: it should
//! not, because reconnecting would fail the same way.

use actix_ws::{CloseCode, CloseReason};

/// The server is shutting down: reconnect (to another node).
pub const SHUTTING_DOWN: u16 = 4000;
/// The client did not keep up: reconnect with `since=`.
pub const SLOW: u16 = 4001;
/// Nothing heard from the client for 45 s.
pub const IDLE: u16 = 4002;
/// The ticket moved to another queue: reconnect to follow it.
pub const MOVED: u16 = 4003;

/// A message the protocol does not have.
pub const UNKNOWN_MESSAGE: u16 = 4400;
/// The pass, token or key does not open this socket.
pub const UNAUTHORIZED: u16 = 4401;
/// No such queue or ticket here.
pub const NOT_FOUND: u16 = 4404;
/// A frame over the size limit.
pub const TOO_BIG: u16 = 4413;
/// A newer socket of the same credential (ticket, user or device key) took this one's place:
/// the credential holds as many as its cap.
pub const REPLACED: u16 = 4409;
/// Too many messages too fast.
pub const FLOOD: u16 = 4429;

/// A close code's name, as metrics label it.
pub fn name(code: u16) -> &'static str {
    match code {
        SHUTTING_DOWN => "shutting_down",
        SLOW => "slow",
        IDLE => "idle",
        MOVED => "moved",
        UNKNOWN_MESSAGE => "unknown_message",
        UNAUTHORIZED => "unauthorized",
        NOT_FOUND => "not_found",
        TOO_BIG => "too_big",
        FLOOD => "flood",
        REPLACED => "replaced",
        _ => "other",
    }
}

pub fn reason(code: u16, description: &str) -> CloseReason {
    CloseReason { code: CloseCode::Other(code), description: Some(description.to_owned()) }
}
