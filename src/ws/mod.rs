//! The three live sockets of the protocol: customer (`/ws/tickets/{id}`), staff
//! (`/ws/queues/{id}`) and display (`/ws/queues/{id}/display`). They open the same way (`open`):
//! the handler upgrades at once and hands the rest to the transport (`transport.rs`); the
//! credential is checked, the queue's hub joined, the socket subscribed and its first frames
//! sent, then `session::run` serves it. Each kind states only what sets it apart (an
//! `Opening`). Credentials that fail after the upgrade close the socket with a "do not
//! reconnect" code, so clients stop retrying.

pub mod caps;
pub mod close;
mod customer;
mod display;
mod gate;
mod message;
pub(crate) mod presence;
mod session;
mod staff;
mod transport;
pub mod upgrade;

pub use customer::customer;
pub use display::display;
pub use staff::staff;
pub use transport::WsTransport;

use std::future::Future;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use crate::error::ApiError;
use crate::fanout::{Hub, Membership};
use crate::state::AppState;
use crate::store::StoreError;
use session::{Audience, Start, MAX_FRAME};
use transport::{ActixWs, Transport};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/tickets/{ticket_id}", web::get().to(customer))
        .route("/ws/queues/{queue_id}", web::get().to(staff))
        .route("/ws/queues/{queue_id}/display", web::get().to(display));
}

/// Why a socket is turned away before its session starts: a close code and its reason.
type Refusal = (u16, &'static str);

/// What a credential opens: the hub of one queue, and what else its check learnt.
struct Access<G> {
    tenant: Uuid,
    queue: Uuid,
    grant: G,
}

/// What sets one kind of socket apart on its way in; `open` does the rest, the same for all.
trait Opening: 'static {
    /// What the credential check learnt that `revoked` needs (whose sign-in, say).
    type Grant;
    /// What this kind of socket makes of the hub's frames.
    type Audience: Audience;
    /// Checks the credential: which queue's hub the socket joins, or why it may not.
    async fn authorize(&self, state: &AppState) -> Result<Access<Self::Grant>, Refusal>;
    /// Subscribes to the joined hub and says what to send first.
    async fn start(
        &self,
        state: &Arc<AppState>,
        hub: Arc<Hub>,
        grant: &Self::Grant,
    ) -> Result<Start<Self::Audience>, Refusal>;
    /// Completes, with the reason to close (4401) with, when the credential lapses.
    fn revoked(self, grant: Self::Grant, state: &AppState) -> impl Future<Output = &'static str> + Send + use<Self>;
    /// The credential whose sockets are capped together (`ticket:<id>`, `user:<id>`, `key:<hash>`),
    /// and its cap.
    fn credential(&self, grant: &Self::Grant, caps: &caps::SocketCaps) -> (String, usize);
}

/// Answers the handshake and opens the socket over the configured transport: the handshake is
/// answered at once, and whatever fails later is told with a close code the client understands.
/// With tungstenite the socket is handed to actix-http's upgrade hook with the answer (which
/// runs it in the connection's task); with actix-ws it runs in a task of its own.
fn accept(
    req: &HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    socket: impl Opening,
) -> Result<HttpResponse, ApiError> {
    let not_a_handshake = |e: &dyn std::fmt::Display| ApiError::BadRequest(format!("not a WebSocket handshake: {e}"));
    match state.settings.ws_transport {
        WsTransport::Tungstenite => {
            let state = state.into_inner();
            upgrade::respond(req, move |io| open(socket, state, io)).map_err(|e| not_a_handshake(&e))
        }
        WsTransport::ActixWs => {
            let (response, session, stream) = actix_ws::handle(req, body).map_err(|e| not_a_handshake(&e))?;
            let stream = stream.max_frame_size(MAX_FRAME).aggregate_continuations().max_continuation_size(MAX_FRAME);
            actix_web::rt::spawn(open(socket, state.into_inner(), ActixWs { session, stream }));
            Ok(response)
        }
    }
}

/// Authorize, join the hub, start, then run until the socket ends; refused at the first step
/// that fails. The hub is left when `membership` drops, after the refusal or the session.
///
/// This future lives as long as the socket, so what it holds is memory per socket: everything
/// before the session (the opening's own state, reads of the database and Redis, whose futures
/// take kilobytes) is one boxed step, freed once it is done, and the session is boxed too, so
/// this future is a few pointers.
fn open<K: Opening>(socket: K, state: Arc<AppState>, io: impl Transport) -> impl Future<Output = ()> {
    let prepared = Box::pin(prepare(socket, state, io));
    async move {
        if let Some(session) = prepared.await {
            session.await;
        }
    }
}

/// Everything before the session: the socket admitted (or refused, and closed), its place
/// under its credential's cap held, and its session ready to run.
async fn prepare<K: Opening, T: Transport>(
    socket: K,
    state: Arc<AppState>,
    io: T,
) -> Option<std::pin::Pin<Box<impl Future<Output = ()>>>> {
    let (access, membership, start) = match admit(&socket, &state).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            refuse(io, refused).await;
            return None;
        }
    };
    let (credential, cap) = socket.credential(&access.grant, &state.settings.socket_caps);
    let held = state.caps.hold(K::Audience::KIND, credential, cap).await;
    let revoked = socket.revoked(access.grant, &state);
    // Boxed too: a staff socket's re-checks of its sign-in read the database.
    let ended: session::Revoked = Box::pin(async move {
        tokio::select! {
            why = revoked => (close::UNAUTHORIZED, why),
            _ = held.replaced.cancelled() => (close::REPLACED, "a newer socket of this credential took its place"),
        }
    });
    Some(Box::pin(session::run(io, membership, start, limits(&state), ended)))
}

/// What opening a socket takes before its session: the credential checked, the hub joined, the
/// socket subscribed and its first frames ready.
async fn admit<K: Opening>(
    socket: &K,
    state: &Arc<AppState>,
) -> Result<(Access<K::Grant>, Membership, Start<K::Audience>), Refusal> {
    let access = socket.authorize(state).await?;
    let membership = state.fanout.join(access.tenant, access.queue).await.map_err(|e| refusal(&e))?;
    let start = socket.start(state, membership.hub.clone(), &access.grant).await?;
    Ok((access, membership, start))
}

fn limits(state: &AppState) -> session::Limits {
    session::Limits {
        ping_every: state.settings.socket_ping,
        silent_for: state.settings.socket_silence,
        closing: state.closing.clone(),
    }
}

/// Closes a socket whose credentials failed.
async fn refuse(io: impl Transport, (code, why): Refusal) {
    let _ = tokio::time::timeout(session::SEND_DEADLINE, io.close(code, why)).await;
}

/// How a socket is refused when the store failed: a missing queue is final; anything else (the
/// database unreachable, say) is worth a reconnect, never a "bad credential" that would make
/// every phone and screen give up during an outage.
fn refusal(err: &StoreError) -> Refusal {
    match err {
        StoreError::NotFound => (close::NOT_FOUND, "no such queue"),
        _ => (close::SHUTTING_DOWN, "the server cannot serve this now; reconnect"),
    }
}
