//! The three live sockets of the protocol: customer (`/ws/tickets/{id}`), staff
//! (`/ws/queues/{id}`) and display (`/ws/queues/{id}/display`). The upgrade handler checks what it
//! can at once, spawns the session and returns; credentials that fail after the upgrade close the
//! socket with a "do not reconnect" code, so clients stop retrying.

pub mod close;
mod message;
mod session;

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bytestring::ByteString;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{EventKind, ServerMessage, Ticket};
use crate::fanout::{Frame, Hub, Membership, StaffStart};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{StoreError, TicketAccess};
use session::{Audience, Start, MAX_FRAME};

/// Missed events replayed from the database at most; further behind gets a snapshot.
const MAX_REPLAY: i64 = 5000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/tickets/{ticket_id}", web::get().to(customer))
        .route("/ws/queues/{queue_id}", web::get().to(staff))
        .route("/ws/queues/{queue_id}/display", web::get().to(display));
}

type Upgraded = (HttpResponse, actix_ws::Session, actix_ws::AggregatedMessageStream);

fn upgrade(req: &HttpRequest, body: web::Payload) -> Result<Upgraded, ApiError> {
    let (response, session, stream) =
        actix_ws::handle(req, body).map_err(|e| ApiError::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    let stream = stream.max_frame_size(MAX_FRAME).aggregate_continuations().max_continuation_size(MAX_FRAME);
    Ok((response, session, stream))
}

fn limits(state: &AppState) -> session::Limits {
    session::Limits {
        ping_every: state.settings.socket_ping,
        silent_for: state.settings.socket_silence,
        closing: state.closing.clone(),
    }
}

/// Closes a socket whose credentials failed.
async fn refuse(session: actix_ws::Session, code: u16, why: &str) {
    let _ = session.close(Some(close::reason(code, why))).await;
}

/// How a socket is refused when the store failed: a missing queue is final; anything else (the
/// database unreachable, say) is worth a reconnect, never a "bad credential" that would make
/// every phone and screen give up during an outage.
fn refusal(err: &StoreError) -> (u16, &'static str) {
    match err {
        StoreError::NotFound => (close::NOT_FOUND, "no such queue"),
        _ => (close::SHUTTING_DOWN, "the server cannot serve this now; reconnect"),
    }
}

#[derive(Deserialize)]
pub struct StaffQuery {
    pass: String,
    since: Option<i64>,
}

pub async fn staff(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    queue: web::Path<Uuid>,
    q: web::Query<StaffQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(origin) = req.headers().get("origin") {
        let allowed = origin.to_str().is_ok_and(|o| state.settings.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            return Err(ApiError::Forbidden("this Origin may not open staff sockets".into()));
        }
    }
    let (response, session, stream) = upgrade(&req, body)?;
    let (state, queue, q) = (state.into_inner(), queue.into_inner(), q.into_inner());
    actix_web::rt::spawn(async move {
        let who = match state.store.consume_socket_pass(&q.pass).await {
            Ok(Some(who)) => who,
            Ok(None) => return refuse(session, close::UNAUTHORIZED, "the pass is wrong, used or expired").await,
            Err(e) => return refuse(session, refusal(&e).0, refusal(&e).1).await,
        };
        let membership = match state.fanout.join(who.tenant_id, queue).await {
            Ok(m) => m,
            Err(e) => return refuse(session, refusal(&e).0, refusal(&e).1).await,
        };
        let hub = membership.hub.clone();
        let (rx, start, seq) = hub.subscribe_staff(q.since);
        let first = match start {
            StaffStart::Snapshot(snapshot) => vec![snapshot],
            StaffStart::Replay(frames) => frames.iter().map(|f| f.staff.clone()).collect(),
            StaffStart::Fetch { after, upto } if upto - after <= MAX_REPLAY => {
                match state.store.events_in(hub.tenant_id, queue, after, upto - after).await {
                    Ok(events) => events
                        .iter()
                        .map(|event| ByteString::from(ServerMessage::Event { event }.to_text()))
                        .collect(),
                    Err(_) => vec![hub.snapshot().1],
                }
            }
            StaffStart::Fetch { .. } => vec![hub.snapshot().1],
        };
        let audience = StaffAudience { hub, last: seq };
        let left = (who.expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
        let expired = async move {
            tokio::time::sleep(left).await;
            "the sign-in has expired"
        };
        session::run(session, stream, Start { membership, rx, first }, audience, limits(&state), expired).await;
    });
    Ok(response)
}

/// Staff: every event in seq order, each exactly once.
struct StaffAudience {
    hub: Arc<Hub>,
    /// The last seq this socket has (snapshot or event).
    last: i64,
}

impl Audience for StaffAudience {
    const KIND: &'static str = "staff";

    fn on_frame(&mut self, frame: &Frame) -> (Option<ByteString>, Option<u16>) {
        if frame.seq <= self.last {
            return (None, None);
        }
        self.last = frame.seq;
        (Some(frame.staff.clone()), None)
    }

    fn on_lag(&mut self) -> Option<ByteString> {
        let (seq, snapshot) = self.hub.snapshot();
        self.last = seq;
        Some(snapshot)
    }
}

/// `since=` is accepted and needs nothing: a display always starts from the board as it is now.
#[derive(Deserialize)]
pub struct KeyQuery {
    key: String,
}

pub async fn display(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    queue: web::Path<Uuid>,
    q: web::Query<KeyQuery>,
) -> Result<HttpResponse, ApiError> {
    let (response, session, stream) = upgrade(&req, body)?;
    let (state, queue, q) = (state.into_inner(), queue.into_inner(), q.into_inner());
    actix_web::rt::spawn(async move {
        let opened = match state.store.open_display(&q.key).await {
            Ok(Some(o)) if o.queue_id == queue => o,
            Ok(_) => return refuse(session, close::UNAUTHORIZED, "the key does not open this display").await,
            Err(e) => return refuse(session, refusal(&e).0, refusal(&e).1).await,
        };
        let membership = match state.fanout.join(opened.tenant_id, queue).await {
            Ok(m) => m,
            Err(e) => return refuse(session, refusal(&e).0, refusal(&e).1).await,
        };
        let hub = membership.hub.clone();
        let (rx, board) = hub.subscribe_display();
        let audience = DisplayAudience { hub };
        let (store, every, key) = (state.store.clone(), state.settings.credential_recheck, q.key);
        let revoked = async move {
            loop {
                tokio::time::sleep(every).await;
                // Unknown (the database unreachable) is not revoked.
                if let Ok(o) = store.open_display(&key).await {
                    if o.is_none_or(|o| o.queue_id != queue) {
                        return "the display key was revoked";
                    }
                }
            }
        };
        session::run(session, stream, Start { membership, rx, first: vec![board] }, audience, limits(&state), revoked)
            .await;
    });
    Ok(response)
}

/// Displays: the board after every change, numbers and counters only.
struct DisplayAudience {
    hub: Arc<Hub>,
}

impl Audience for DisplayAudience {
    const KIND: &'static str = "display";

    fn on_frame(&mut self, frame: &Frame) -> (Option<ByteString>, Option<u16>) {
        (Some(frame.display.clone()), None)
    }

    fn on_lag(&mut self) -> Option<ByteString> {
        Some(self.hub.display())
    }
}

/// `since=` is accepted and needs nothing: a customer always gets their ticket as it is now.
#[derive(Deserialize)]
pub struct TokenQuery {
    token: String,
}

pub async fn customer(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    ticket: web::Path<Uuid>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let (response, session, stream) = upgrade(&req, body)?;
    let (state, ticket, q) = (state.into_inner(), ticket.into_inner(), q.into_inner());
    actix_web::rt::spawn(async move {
        let opened = match state.store.open_ticket(ticket, &q.token).await {
            Ok(Some(o)) => o,
            Ok(None) => return refuse(session, close::UNAUTHORIZED, "the token does not open this ticket").await,
            Err(e) => return refuse(session, refusal(&e).0, refusal(&e).1).await,
        };
        let membership: Membership = match state.fanout.join(opened.tenant_id, opened.queue_id).await {
            Ok(m) => m,
            Err(e) => return refuse(session, refusal(&e).0, refusal(&e).1).await,
        };
        let hub = membership.hub.clone();
        let (rx, now) = hub.subscribe_customer(ticket);
        // A finished ticket is no longer in the hub: its last state comes from the database.
        let now = match now {
            Some(t) => t,
            None => match state.store.ticket(ticket, &TicketAccess::Token(q.token.clone())).await {
                Ok(t) => t,
                Err(_) => return refuse(session, close::NOT_FOUND, "no such ticket").await,
            },
        };
        let mut audience = CustomerAudience { hub, ticket, last: None, last_seq: 0 };
        let first = audience.changed(&now).into_iter().collect();
        let never = std::future::pending();
        session::run(session, stream, Start { membership, rx, first }, audience, limits(&state), never).await;
    });
    Ok(response)
}

/// What a customer was last shown: position, estimate, status, counter.
type Shown = (Option<u32>, Option<i64>, String, Option<String>);

/// Customers: their own ticket, whenever its position, estimate, status or counter changes, and
/// after every event about it.
struct CustomerAudience {
    hub: Arc<Hub>,
    ticket: Uuid,
    last: Option<Shown>,
    /// The seq of the view last sent: views are computed from the hub as it is when a frame is
    /// handled, so under load one view can already include later events.
    last_seq: i64,
}

impl CustomerAudience {
    fn changed(&mut self, t: &Ticket) -> Option<ByteString> {
        let key = (t.position, t.eta_seconds, t.status.clone(), t.counter.clone());
        if self.last.as_ref() == Some(&key) {
            return None;
        }
        self.last = Some(key);
        self.last_seq = t.seq;
        Some(ticket_message(t))
    }
}

/// `{"type":"ticket","ticket":{…}}`, serialized straight from the ticket: this runs once per
/// customer per event, and going through a `serde_json::Value` (a map built field by field, then
/// written out) cost about as much again.
fn ticket_message(ticket: &Ticket) -> ByteString {
    ByteString::from(ServerMessage::Ticket { ticket }.to_text())
}

impl Audience for CustomerAudience {
    const KIND: &'static str = "customer";

    fn on_frame(&mut self, frame: &Frame) -> (Option<ByteString>, Option<u16>) {
        let about_me = frame.event.ticket.as_ref().filter(|t| t.id == self.ticket);
        if about_me.is_some() && frame.event.seq > self.last_seq {
            // Every event about the ticket is shown, even one that changes none of the four
            // (a recall calls the customer again), unless a view sent already includes it (a
            // customer called twice would hear the chime twice).
            self.last = None;
        }
        let moved = about_me.is_some() && frame.event.kind == EventKind::TransferredOut;
        let view = match (moved, self.hub.ticket(self.ticket)) {
            (false, Some(t)) => Some(t),
            _ => about_me.cloned(),
        };
        let text = view.and_then(|t| self.changed(&t));
        (text, moved.then_some(close::MOVED))
    }

    fn on_lag(&mut self) -> Option<ByteString> {
        let now = self.hub.ticket(self.ticket)?;
        self.last = None;
        self.changed(&now)
    }
}
