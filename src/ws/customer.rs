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
use crate::domain::{Details, EventKind, Held, Ticket, TicketFrames, TicketView};
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
        state: &Arc<AppState>,
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
        let presence = Presence::new(state.clone(), self.ticket);
        presence.here(&hub);
        let mut seen = Seen { details: details.clone(), last: None, frames: None, last_seq: 0 };
        let first = seen.changed(TicketView::held(&now)).into_iter().collect();
        Ok(Start { rx, first, audience: CustomerAudience { hub, ticket: self.ticket, seen, presence } })
    }

    fn credential(&self, _: &Details, caps: &super::caps::SocketCaps) -> (String, usize) {
        (credential(self.ticket), caps.ticket)
    }

    /// A ticket's token does not lapse.
    fn revoked(self, _: Details, _: &AppState) -> impl Future<Output = &'static str> + Send + use<> {
        std::future::pending()
    }
}

/// The credential a ticket's sockets are capped (and counted) by.
pub(super) fn credential(ticket: Uuid) -> String {
    format!("ticket:{ticket}")
}

/// What a customer was last shown: position, estimate, status, counter. Its strings are
/// overwritten in place, so telling a change allocates nothing but the frame.
#[derive(Debug, PartialEq)]
struct Shown {
    position: Option<u32>,
    eta_seconds: Option<i64>,
    status: String,
    counter: Option<String>,
}

impl Shown {
    fn of(t: &TicketView<'_>) -> Shown {
        Shown {
            position: t.position,
            eta_seconds: t.eta_seconds,
            status: t.status.to_owned(),
            counter: t.counter.map(str::to_owned),
        }
    }

    fn shows(&self, t: &TicketView<'_>) -> bool {
        (self.position, self.eta_seconds, self.status.as_str(), self.counter.as_deref())
            == (t.position, t.eta_seconds, t.status, t.counter)
    }

    fn update(&mut self, t: &TicketView<'_>) {
        (self.position, self.eta_seconds) = (t.position, t.eta_seconds);
        self.status.clear();
        self.status.push_str(t.status);
        match (&mut self.counter, t.counter) {
            (Some(mine), Some(now)) => {
                mine.clear();
                mine.push_str(now);
            }
            (mine, now) => *mine = now.map(str::to_owned),
        }
    }
}

/// Customers: their own ticket, whenever its position, estimate, status or counter changes, and
/// after every event about it.
struct CustomerAudience {
    hub: Arc<Hub>,
    ticket: Uuid,
    seen: Seen,
    presence: Presence,
}

/// What a customer was shown, and who the ticket is for.
struct Seen {
    /// Who the ticket is for (as of its last event): the hub may hold it bare.
    details: Details,
    last: Option<Shown>,
    /// The ticket's frames, made from its details: made again after every event about it.
    frames: Option<TicketFrames>,
    /// The seq of the view last sent: views are computed from the hub as it is when a frame is
    /// handled, so under load one view can already include later events.
    last_seq: i64,
}

impl Drop for CustomerAudience {
    /// The socket is closing: its customer is away unless they come back within the grace.
    fn drop(&mut self) {
        self.presence.left(&self.hub);
    }
}

impl Seen {
    /// The ticket's message, if it shows something new; dressed only then. Runs under the
    /// hub's lock (`Hub::with_ticket`): a comparison, and one serialization when it changed.
    fn changed(&mut self, t: TicketView<'_>) -> Option<ByteString> {
        let first = self.last_seq == 0;
        match &mut self.last {
            Some(last) if last.shows(&t) => return None,
            Some(last) => last.update(&t),
            None => self.last = Some(Shown::of(&t)),
        }
        self.last_seq = t.seq;
        let d = &self.details;
        // Serialized straight from the borrowed view: this runs once per customer per event,
        // and going through a `serde_json::Value` cost about as much again, as did copying the
        // ticket out of the hub; the fixed half is written once (`TicketFrames`) and kept from
        // the second frame on: most sockets sit idle after their first, and kept it for nothing.
        let view = t.dressed(d.name.as_deref(), d.party_size, &d.fields);
        let text = match &self.frames {
            Some(frames) => frames.frame(&view),
            None if first => TicketFrames::new(&view).frame(&view),
            None => self.frames.insert(TicketFrames::new(&view)).frame(&view),
        };
        Some(ByteString::from(text))
    }

    /// Who the ticket is for, as an event about it says: its frames are made again.
    fn about(&mut self, t: &Ticket) {
        self.details = Details::of(t);
        self.frames = None;
    }
}

impl Audience for CustomerAudience {
    const KIND: &'static str = "customer";

    async fn on_frame(&mut self, frame: &Frame) -> Step {
        // Customers follow the hub's `lines`, which carry no presence events (see `Hub`).
        let about_me = frame.event.ticket.as_ref().filter(|t| t.id == self.ticket);
        let CustomerAudience { hub, ticket, seen, .. } = self;
        if let Some(t) = about_me {
            seen.about(t);
            if frame.event.seq > seen.last_seq {
                // Every event about the ticket is shown, even one that changes none of the four
                // (a recall calls the customer again), unless a view sent already includes it (a
                // customer called twice would hear the chime twice).
                seen.last = None;
            }
        }
        let moved = about_me.is_some() && frame.event.kind == EventKind::TransferredOut;
        let from_hub = if moved { None } else { hub.with_ticket(*ticket, |t| seen.changed(t)) };
        let text = match from_hub {
            Some(text) => text,
            None => about_me.and_then(|t| seen.changed(TicketView::of(t))),
        };
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
    /// The ticket as the hub has it now, after falling behind: sent whatever was shown before
    /// (an event about the ticket may have been among those missed), unless a view as recent
    /// was sent already (the same frame twice would chime twice).
    fn fresh(&mut self) -> Option<ByteString> {
        let CustomerAudience { hub, ticket, seen, .. } = self;
        hub.with_ticket(*ticket, |t| {
            // A view sent at this seq already showed every event up to it: none was missed.
            if t.seq <= seen.last_seq {
                return None;
            }
            // Events about the ticket may be among those missed.
            seen.last = None;
            seen.frames = None;
            seen.changed(t)
        })
        .flatten()
    }
}
