//! The customer socket: one ticket, whenever what its holder sees of it changes; opened by the
//! ticket's token.

use std::future::Future;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bytestring::ByteString;
use serde::Deserialize;
use uuid::Uuid;

use super::presence::Presence;
use super::session::{Audience, Start, Step};
use super::{accept, close, refusal, Access, Opening, Refusal};
use crate::domain::{Details, EventKind, Held, ServerMessage, Ticket};
use crate::error::ApiError;
use crate::fanout::{Frame, Hub};
use crate::state::AppState;
use crate::store::TicketAccess;

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
    accept(&req, body, state, CustomerSocket { ticket: ticket.into_inner(), token: q.into_inner().token })
}

/// A customer socket: opened by the ticket's token, for as long as the customer keeps it.
struct CustomerSocket {
    ticket: Uuid,
    token: String,
}

impl Opening for CustomerSocket {
    /// Who the ticket is for, read with the token: the live line does not keep it.
    type Grant = Details;
    type Audience = CustomerAudience;

    async fn authorize(&self, state: &AppState) -> Result<Access<Details>, Refusal> {
        match state.store.open_ticket(self.ticket, &self.token).await {
            Ok(Some(o)) => Ok(Access { tenant: o.tenant_id, queue: o.queue_id, grant: o.details }),
            Ok(None) => Err((close::UNAUTHORIZED, "the token does not open this ticket")),
            Err(e) => Err(refusal(&e)),
        }
    }

    async fn start(
        &self,
        state: &AppState,
        hub: Arc<Hub>,
        details: &Details,
    ) -> Result<Start<CustomerAudience>, Refusal> {
        let (rx, now) = hub.subscribe_customer(self.ticket);
        // A finished ticket is no longer in the hub: its last state comes from the database.
        let now = match now {
            Some(held) => held,
            None => match state.store.ticket(self.ticket, &TicketAccess::Token(self.token.clone())).await {
                Ok(seen) => match state.placed(seen).await {
                    Ok(t) => Held::Whole(t),
                    Err(e) => return Err(refusal(&e)),
                },
                Err(_) => return Err((close::NOT_FOUND, "no such ticket")),
            },
        };
        let presence = Presence::new(state, &hub, self.ticket);
        presence.here(&hub);
        let mut audience =
            CustomerAudience { hub, ticket: self.ticket, details: details.clone(), last: None, last_seq: 0, presence };
        let first = audience.changed(now).into_iter().collect();
        Ok(Start { rx, first, audience })
    }

    fn credential(&self, _: &Details, caps: &super::caps::SocketCaps) -> (String, usize) {
        (credential(self.ticket), caps.ticket)
    }

    /// A ticket's token does not lapse.
    fn revoked(self, _: Details, _: &AppState) -> impl Future<Output = &'static str> + Send {
        std::future::pending()
    }
}

/// The credential a ticket's sockets are capped (and counted) by.
pub(super) fn credential(ticket: Uuid) -> String {
    format!("ticket:{ticket}")
}

/// What a customer was last shown: position, estimate, status, counter.
type Shown = (Option<u32>, Option<i64>, String, Option<String>);

/// Customers: their own ticket, whenever its position, estimate, status or counter changes, and
/// after every event about it.
struct CustomerAudience {
    hub: Arc<Hub>,
    ticket: Uuid,
    /// Who the ticket is for (as of its last event): the hub may hold it bare.
    details: Details,
    last: Option<Shown>,
    /// The seq of the view last sent: views are computed from the hub as it is when a frame is
    /// handled, so under load one view can already include later events.
    last_seq: i64,
    presence: Presence,
}

impl Drop for CustomerAudience {
    /// The socket is closing: its customer is away unless they come back within the grace.
    fn drop(&mut self) {
        self.presence.left();
    }
}

impl CustomerAudience {
    /// The ticket's message, if it shows something new; dressed only then.
    fn changed(&mut self, held: Held) -> Option<ByteString> {
        let t = held.ticket();
        let key = (t.position, t.eta_seconds, t.status.clone(), t.counter.clone());
        if self.last.as_ref() == Some(&key) {
            return None;
        }
        self.last = Some(key);
        self.last_seq = t.seq;
        Some(ticket_message(&held.dressed(&self.details)))
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

    async fn on_frame(&mut self, frame: &Frame) -> Step {
        // Another node saw this customer's socket there close: this one is still open.
        if frame.event.presence.is_some_and(|p| p.ticket_id == self.ticket && !p.present) {
            self.presence.here(&self.hub);
        }
        let about_me = frame.event.ticket.as_ref().filter(|t| t.id == self.ticket);
        if let Some(t) = about_me {
            self.details = Details::of(t);
            if frame.event.seq > self.last_seq {
                // Every event about the ticket is shown, even one that changes none of the four
                // (a recall calls the customer again), unless a view sent already includes it (a
                // customer called twice would hear the chime twice).
                self.last = None;
            }
        }
        let moved = about_me.is_some() && frame.event.kind == EventKind::TransferredOut;
        let view = match (moved, self.hub.ticket(self.ticket)) {
            (false, Some(held)) => Some(held),
            _ => about_me.cloned().map(Held::Whole),
        };
        let text = view.and_then(|held| self.changed(held));
        (text, moved.then_some(close::MOVED))
    }

    async fn on_lag(&mut self) -> Step {
        (self.fresh(), None)
    }

    fn on_here(&mut self) {
        self.presence.here(&self.hub);
    }
}

impl CustomerAudience {
    /// The ticket as the hub has it now, sent whatever was shown before.
    fn fresh(&mut self) -> Option<ByteString> {
        let now = self.hub.ticket(self.ticket)?;
        self.last = None;
        self.changed(now)
    }
}
