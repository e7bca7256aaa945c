//! Live fan-out: one hub per live queue per node, fed by PostgreSQL NOTIFY (and a slow poll of
//! `queues.last_seq` as the last safety net). Hubs are caches; PostgreSQL is the truth: a hub can
//! be dropped and rebuilt at any time without losing anything.

pub mod hub;
mod pg;
mod poll;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::domain::Notification;
use crate::store::{Result, Store};
pub use hub::{Frame, Hub, Offer, StaffStart};

/// An idle hub lingers this long, so a client that reconnects finds it warm.
const GRACE: Duration = Duration::from_secs(10);

/// The hubs of this node.
pub struct Fanout {
    store: Store,
    /// Each queue's hub, built once by whoever asks first (others wait on the cell).
    hubs: DashMap<Uuid, Arc<OnceCell<Arc<Hub>>>>,
    /// This node, in heartbeats.
    node: Uuid,
}

/// A client's hold on a hub; dropping it lets an idle hub go.
pub struct Membership {
    pub hub: Arc<Hub>,
    fanout: Arc<Fanout>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if self.hub.leave() {
            let (fanout, queue) = (self.fanout.clone(), self.hub.queue_id);
            tokio::spawn(async move {
                tokio::time::sleep(GRACE).await;
                fanout.remove_if_idle(queue);
            });
        }
    }
}

impl Fanout {
    /// Starts the feeds: the PostgreSQL listener (with heartbeats) and the safety-net poll.
    pub fn start(store: Store, database_url: String) -> Arc<Fanout> {
        let fanout = Arc::new(Fanout { store, hubs: DashMap::new(), node: Uuid::new_v4() });
        tokio::spawn(pg::listen(fanout.clone(), database_url));
        tokio::spawn(pg::heartbeat(fanout.clone()));
        tokio::spawn(poll::run(fanout.clone()));
        fanout
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Joins the hub of a queue (of `tenant`), building it from a snapshot on first use.
    pub async fn join(self: &Arc<Self>, tenant: Uuid, queue: Uuid) -> Result<Membership> {
        loop {
            // Clone the cell out and drop the map guard before awaiting.
            let cell = self.hubs.entry(queue).or_insert_with(|| Arc::new(OnceCell::new())).clone();
            let hub = cell
                .get_or_try_init(|| async {
                    let snapshot = self.store.snapshot(tenant, queue).await?;
                    Ok::<_, crate::store::StoreError>(Arc::new(Hub::new(tenant, snapshot)))
                })
                .await?
                .clone();
            if hub.tenant_id != tenant {
                return Err(crate::store::StoreError::NotFound);
            }
            hub.join();
            // The map may have dropped this cell while we waited; then build again.
            if self.hubs.get(&queue).is_some_and(|c| Arc::ptr_eq(&c, &cell)) {
                // Events committed while the snapshot was read reached no one: catch up.
                hub.fill(&self.store).await?;
                return Ok(Membership { hub, fanout: self.clone() });
            }
            hub.leave();
        }
    }

    fn remove_if_idle(&self, queue: Uuid) {
        self.hubs.remove_if(&queue, |_, cell| cell.get().is_some_and(|h| h.idle()));
    }

    /// The live hubs.
    pub fn hubs(&self) -> Vec<Arc<Hub>> {
        self.hubs.iter().filter_map(|e| e.value().get().cloned()).collect()
    }

    fn hub(&self, queue: Uuid) -> Option<Arc<Hub>> {
        self.hubs.get(&queue).and_then(|c| c.get().cloned())
    }

    /// Fills a hub's gap in the background.
    fn fill_later(self: &Arc<Self>, hub: Arc<Hub>) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(err) = hub.fill(&store).await {
                tracing::warn!(cause = ?err, queue = %hub.queue_id, "filling a hub failed; the poll will retry");
            }
        });
    }

    /// Feeds a notification to the hubs it concerns.
    pub(crate) fn dispatch(self: &Arc<Self>, note: Notification) {
        match note {
            Notification::Events(events) => {
                for event in events {
                    let Some(hub) = self.hub(event.queue_id) else { continue };
                    if hub.offer(Arc::new(event)) == Offer::Gap {
                        self.fill_later(hub);
                    }
                }
            }
            Notification::Ranges(ranges) => {
                for range in ranges {
                    if let Some(hub) = self.hub(range.0).filter(|h| h.seq() < range.2) {
                        self.fill_later(hub);
                    }
                }
            }
            Notification::Heartbeat(_) => {}
        }
    }

    /// Brings every live hub up to date from the database (after a feed may have lost events).
    pub(crate) fn resync_all(self: &Arc<Self>) {
        for hub in self.hubs() {
            self.fill_later(hub);
        }
    }
}
