//! What every handler and socket shares: the store, the hubs, the settings and the signal that
//! the node is stopping. Cheap to clone.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::fanout::Fanout;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub fanout: Arc<Fanout>,
    /// Cancelled when the node starts stopping: sockets close with a "reconnect" code.
    pub closing: CancellationToken,
    pub settings: Arc<Settings>,
}
