//! Whether a customer is watching their ticket: told by their sockets, written as events
//! (`ticket.present`, `ticket.away`) only when it changes, so a page reloading or a storm of
//! reconnections writes nothing.
//!
//! - A customer socket opening, or its page saying `{"type":"here"}`, makes the customer present
//!   unless the queue's live view already has them so.
//! - When a customer's socket closes, and after `presence_grace` no socket of that ticket is
//!   open on this node, they are away. Not when the node is stopping: its sockets reconnect
//!   elsewhere, and the customer has not left.
//! - A node that still holds a socket of the ticket when another node says away answers that
//!   they are present after all (one ticket open on two phones behind two nodes): one task per
//!   node hears every `ticket.away` its hubs apply (`answer_aways`); customer sockets do not
//!   follow presence events at all.

use std::sync::Arc;

use uuid::Uuid;

use super::caps::Caps;
use crate::fanout::hub::Away;
use crate::fanout::Hub;
use crate::state::AppState;
use crate::store::Store;

/// What a customer socket needs to tell its customer's presence: the node's state (shared by
/// every socket; a socket's own copy of the store's handles and the hub's ids took 136 bytes of
/// its `Live`) and its ticket.
/// The tenant and queue are its hub's.
pub struct Presence {
    state: Arc<AppState>,
    ticket: Uuid,
}

impl Presence {
    pub fn new(state: Arc<AppState>, ticket: Uuid) -> Presence {
        Presence { state, ticket }
    }

    /// The customer's socket is open: present, if the live view does not say so already (a
    /// finished ticket, which it no longer holds, needs nothing).
    pub fn here(&self, hub: &Hub) {
        // A borrowed view: this runs for every socket that opens, and for every "here".
        if hub.with_ticket(self.ticket, |t| !t.present) == Some(true) {
            tell(&self.state.store, hub.tenant_id, hub.queue_id, self.ticket, true);
        }
    }

    /// The customer's socket closed: away after the grace, unless another socket of theirs
    /// opened here meanwhile, or the node is stopping.
    pub fn left(&self, hub: &Hub) {
        let (state, ticket, tenant, queue) = (self.state.clone(), self.ticket, hub.tenant_id, hub.queue_id);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(state.settings.presence_grace) => {}
                _ = state.closing.cancelled() => return,
            }
            if state.caps.holding(&super::customer::credential(ticket)) == 0 {
                tell(&state.store, tenant, queue, ticket, false);
            }
        });
    }
}

/// Handed to the writer, which writes a crowd's presence in one statement per batch; no task
/// waits for it (a socket opening used to spawn one, ~10 KB each while it waited).
fn tell(store: &Store, tenant: Uuid, queue: Uuid, ticket: Uuid, present: bool) {
    if !store.presence(tenant, queue, ticket, present) {
        // Presence is a hint to staff: the next change tells.
        tracing::debug!(%ticket, present, "the writer could not take a presence mark");
    }
}

/// Answers every `ticket.away` this node's hubs apply with `ticket.present` when this node still
/// holds a socket of that customer, for as long as the node runs.
pub async fn answer_aways(store: Store, caps: Arc<Caps>, mut aways: tokio::sync::broadcast::Receiver<Away>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match aways.recv().await {
            Ok(away) => {
                if caps.holding(&super::customer::credential(away.ticket)) > 0 {
                    store.presence(away.tenant, away.queue, away.ticket, true);
                }
            }
            // Missed aways: those customers show away until their page next says "here" (at
            // most a minute).
            Err(RecvError::Lagged(missed)) => tracing::debug!(missed, "presence fell behind the aways"),
            Err(RecvError::Closed) => return,
        }
    }
}
