//! What every handler and socket shares: the store, the hubs, the settings and the signal that
//! the node is stopping. Cheap to clone.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::{Details, Ticket};
use crate::fanout::Fanout;
use crate::store::{Seen, Store};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub fanout: Arc<Fanout>,
    /// Cancelled when the node starts stopping: sockets close with a "reconnect" code.
    pub closing: CancellationToken,
    pub settings: Arc<Settings>,
    /// This node's sockets by credential, capped.
    pub caps: Arc<crate::ws::caps::Caps>,
}

impl AppState {
    /// A ticket with its place in line: as the store's read counted it, or from this node's
    /// live line of the queue when it has one (O(log n); who it is for from what the database
    /// read), else counted by the database.
    pub async fn placed(&self, seen: Seen) -> crate::store::Result<Ticket> {
        match seen {
            Seen::Placed(ticket) => Ok(ticket),
            Seen::InLine(ticket) => match self.fanout.live_ticket(ticket.queue_id, ticket.id, ticket.seq).await {
                // The live line knows where the ticket is; staff's notes come with the read.
                Some(live) => {
                    metrics::counter!("queuecast_places_total", "by" => "live").increment(1);
                    Ok(Ticket { notes: ticket.notes.clone(), ..live.dressed(&Details::of(&ticket)) })
                }
                None => {
                    metrics::counter!("queuecast_places_total", "by" => "count").increment(1);
                    self.store.place(ticket).await
                }
            },
        }
    }
}
