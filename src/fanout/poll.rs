//! The last safety net: every few seconds, one query compares every live hub with its queue's
//! `last_seq`, so updates arrive even with every feed down.

use std::sync::Arc;
use std::time::Duration;

use super::Fanout;

pub(super) async fn run(fanout: Arc<Fanout>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let hubs = fanout.hubs();
        if hubs.is_empty() {
            continue;
        }
        let hubs: std::collections::HashMap<_, _> = hubs.into_iter().map(|h| (h.queue_id, h)).collect();
        let ids: Vec<_> = hubs.keys().copied().collect();
        match fanout.store.last_seqs(&ids).await {
            Ok(seqs) => {
                for (id, last) in seqs {
                    if let Some(hub) = hubs.get(&id).filter(|h| h.seq() < last) {
                        tracing::debug!(queue = %id, behind = last - hub.seq(), "the poll found a hub behind");
                        fanout.fill_later(hub.clone(), super::POLL);
                    }
                }
            }
            Err(err) => tracing::debug!(cause = ?err, "the safety-net poll failed"),
        }
    }
}
