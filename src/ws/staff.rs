//! The staff socket: every event of a queue in seq order, each exactly once, resumed with
//! `since=`; opened by a one-time pass and closed when the sign-in behind it expires.
//!
//! Two modes for a client that falls behind (a flash crowd joins thousands a second): a console
//! (`mode=console`, the default) is sent a fresh snapshot (the head of the line and the counts,
//! never the whole line) instead of the backlog; an integration that must have every event
//! (`mode=events`) is closed as slow (4001) and resumes with `since=`.

use std::future::Future;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bytestring::ByteString;
use serde::Deserialize;
use uuid::Uuid;

use super::session::{Audience, Start, Step};
use super::{accept, close, refusal, Access, Opening, Refusal};
use crate::domain::ServerMessage;
use crate::error::ApiError;
use crate::fanout::{Frame, Hub, StaffStart, Window};
use crate::state::AppState;
use crate::store::{Identity, Store};

/// Missed events replayed from the database at most: further behind, a console gets a
/// snapshot, and an events client these many then a close to resume from there.
const MAX_REPLAY: i64 = 5000;

#[derive(Deserialize)]
pub struct StaffQuery {
    pass: String,
    since: Option<i64>,
    #[serde(default)]
    mode: Mode,
}

/// What a staff client wants when it falls behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// The queue as it is now: a fresh snapshot instead of the backlog.
    #[default]
    Console,
    /// Every event, gapless: closed as slow, to resume with `since=`.
    Events,
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
    let StaffQuery { pass, since, mode } = q.into_inner();
    accept(&req, body, state, StaffSocket { queue: queue.into_inner(), pass, since, mode })
}

/// A staff socket: opened by a one-time pass, resumed from `since`, closed when the sign-in
/// behind the pass expires.
struct StaffSocket {
    queue: Uuid,
    pass: String,
    since: Option<i64>,
    mode: Mode,
}

impl Opening for StaffSocket {
    type Grant = Identity;
    type Audience = StaffAudience;

    async fn authorize(&self, state: &AppState) -> Result<Access<Identity>, Refusal> {
        match state.store.consume_socket_pass(&self.pass).await {
            Ok(Some(who)) => match state.store.check_site(&who, self.queue).await {
                Ok(()) => Ok(Access { tenant: who.tenant_id, queue: self.queue, grant: who }),
                Err(e) => Err(refusal(&e)),
            },
            Ok(None) => Err((close::UNAUTHORIZED, "the pass is wrong, used or expired")),
            Err(e) => Err(refusal(&e)),
        }
    }

    async fn start(&self, state: &Arc<AppState>, hub: Arc<Hub>, _: &Identity) -> Result<Start<StaffAudience>, Refusal> {
        let (rx, start, mut last) = hub.subscribe_staff(self.since);
        let mut partial = false;
        let snapshot =
            |window: Window| async { window.text(&state.store, hub.tenant_id).await.map_err(|e| refusal(&e)) };
        let first = match start {
            StaffStart::Snapshot(window) => vec![snapshot(window).await?],
            StaffStart::Replay(texts) => texts,
            StaffStart::Fetch { after, upto } if upto - after <= MAX_REPLAY || self.mode == Mode::Events => {
                // An events client far behind gets the first MAX_REPLAY, and (its next frame then
                // showing a gap) a close to resume from there: bounded, and never a gap.
                let limit = (upto - after).min(MAX_REPLAY);
                match state.store.events_in(hub.tenant_id, self.queue, after, limit).await {
                    Ok(events) => {
                        // Short of the hub: the socket closes after these, to resume from them.
                        partial = limit < upto - after;
                        last = events.last().map_or(after, |e| e.seq);
                        events.iter().map(|event| ByteString::from(ServerMessage::Event { event }.to_text())).collect()
                    }
                    Err(e) if self.mode == Mode::Events => return Err(refusal(&e)),
                    Err(_) => {
                        let window = hub.snapshot();
                        last = window.seq;
                        vec![snapshot(window).await?]
                    }
                }
            }
            StaffStart::Fetch { .. } => {
                let window = hub.snapshot();
                last = window.seq;
                vec![snapshot(window).await?]
            }
        };
        let store = state.store.clone();
        Ok(Start { rx, first, audience: StaffAudience { hub, store, last, mode: self.mode, partial } })
    }

    fn credential(&self, who: &Identity, caps: &super::caps::SocketCaps) -> (String, usize) {
        (format!("user:{}", who.user_id), caps.staff)
    }

    /// When the sign-in expires, or at once when the user's sign-ins change (disabled, signed
    /// out, another password, other sites: announced by every node) and a re-check says the
    /// socket may not stay; re-checked now and then as well, in case an announcement was lost.
    fn revoked(self, who: Identity, state: &AppState) -> impl Future<Output = &'static str> + Send + use<> {
        let left = (who.expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
        let mut changes = state.fanout.revocations();
        let (store, every, queue) = (state.store.clone(), state.settings.credential_recheck, self.queue);
        async move {
            let expiry = tokio::time::sleep(left);
            tokio::pin!(expiry);
            let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            let mut announced = true;
            loop {
                let check = tokio::select! {
                    _ = &mut expiry => return "the sign-in has expired",
                    changed = changes.recv(), if announced => match changed {
                        Ok(user) => user == who.user_id,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            announced = false;
                            false
                        }
                    },
                    _ = recheck.tick() => true,
                };
                // Unknown (the database unreachable) is not revoked.
                if check && matches!(store.staff_may_stay(&who, queue).await, Ok(false)) {
                    return "the sign-in has ended or no longer opens this queue";
                }
            }
        }
    }
}

/// Staff: every event in seq order, each exactly once.
struct StaffAudience {
    hub: Arc<Hub>,
    /// Where a fresh snapshot reads the details of the head of the line.
    store: Store,
    /// The last seq this socket has (snapshot or event).
    last: i64,
    mode: Mode,
    /// Its first frames were a first step of a long replay (events mode).
    partial: bool,
}

impl Audience for StaffAudience {
    const KIND: &'static str = "staff";

    async fn on_frame(&mut self, frame: &Frame) -> Step {
        if frame.seq <= self.last {
            return (None, None);
        }
        if frame.seq > self.last + 1 {
            // Behind what the hub sends (a partial replay): never a gap on the wire.
            return self.on_lag().await;
        }
        self.last = frame.seq;
        (Some(frame.staff.clone()), None)
    }

    fn after_first(&self) -> Option<u16> {
        self.partial.then_some(close::SLOW)
    }

    async fn on_lag(&mut self) -> Step {
        match self.mode {
            Mode::Console => {
                let window = self.hub.snapshot();
                let seq = window.seq;
                // Boxed: a read of the database, rare, in a future that lasts as long as the socket.
                match Box::pin(window.text(&self.store, self.hub.tenant_id)).await {
                    Ok(snapshot) => {
                        self.last = seq;
                        (Some(snapshot), None)
                    }
                    // The database unreachable: the console reconnects (and resumes) later.
                    Err(_) => (None, Some(close::SHUTTING_DOWN)),
                }
            }
            Mode::Events => (None, Some(close::SLOW)),
        }
    }
}
