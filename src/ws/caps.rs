//! Sockets per credential, capped: one ticket's token, one staff user, one device key may hold
//! only so many sockets at once (a phone, a watch and a laptop; not a node's every file). A new
//! socket over the cap closes the oldest of the same credential (4409, do not reconnect: the
//! newest wins), so a flood with one credential holds at most its cap and never stops anyone
//! else from connecting.
//!
//! Counted on this node, and with Redis across nodes: each credential's sockets are a sorted set
//! (by opening time) that a new socket joins and trims in one transaction; the ids trimmed are
//! published, and the node holding each closes it. Without Redis, or while it fails, the cap
//! holds per node. A crashed node's entries are the oldest, so they are trimmed first.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

use crate::fanout::Fanout;

/// How many sockets a credential may hold at once.
#[derive(Debug, Clone, Copy)]
pub struct SocketCaps {
    /// Per ticket token (a customer's phone, watch, laptop).
    pub ticket: usize,
    /// Per staff user (their consoles, across their sign-ins).
    pub staff: usize,
    /// Per device key (a display of up to 12 queues opens one socket each).
    pub device: usize,
}

impl Default for SocketCaps {
    fn default() -> Self {
        SocketCaps { ticket: 5, staff: 50, device: 50 }
    }
}

/// A credential's entries in Redis live this long after its last socket opened.
const REDIS_TTL_SECS: i64 = 24 * 3600;

/// The sockets of this node, by credential. A socket's id is a number here, and
/// `<node>-<number>` in Redis and across nodes (`member`): as strings, the ids took three
/// allocations per socket.
pub struct Caps {
    /// This node, in socket ids.
    node: String,
    next: AtomicU64,
    /// Each credential's sockets here, oldest first: (id, what closes it).
    open: DashMap<String, VecDeque<(u64, CancellationToken)>>,
    /// Every socket here, by id: what closes it.
    by_id: DashMap<u64, CancellationToken>,
    fanout: Arc<Fanout>,
}

/// A socket's place under its credential's cap; dropping it gives the place back.
pub struct Held {
    caps: Arc<Caps>,
    credential: String,
    id: u64,
    /// Cancelled when a newer socket of the credential takes this one's place.
    pub replaced: CancellationToken,
}

impl Caps {
    /// The registry of this node; listens for the sockets other nodes close, for as long as the
    /// node's tasks run.
    pub fn start(fanout: Arc<Fanout>, tasks: &crate::tasks::Tasks) -> Arc<Caps> {
        let caps = Arc::new(Caps {
            node: uuid::Uuid::new_v4().simple().to_string(),
            next: AtomicU64::new(0),
            open: DashMap::new(),
            by_id: DashMap::new(),
            fanout: fanout.clone(),
        });
        let mut closes = fanout.socket_closes();
        let this = caps.clone();
        tasks.spawn("socket-caps", async move {
            loop {
                match closes.recv().await {
                    Ok(id) => {
                        this.close(&id);
                    }
                    // Missed closes: those sockets outlive their cap until they end by themselves.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        caps
    }

    /// Takes a place for a new socket of `credential` (e.g. `ticket:<id>`), closing the oldest
    /// over `cap`, here and on other nodes.
    pub async fn hold(self: &Arc<Self>, kind: &'static str, credential: String, cap: usize) -> Held {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let replaced = CancellationToken::new();
        self.by_id.insert(id, replaced.clone());
        let evicted: Vec<CancellationToken> = {
            let mut mine = self.open.entry(credential.clone()).or_default();
            mine.push_back((id, replaced.clone()));
            let over = mine.len().saturating_sub(cap);
            mine.drain(..over).map(|(_, token)| token).collect()
        };
        for token in &evicted {
            token.cancel();
        }
        if let Some(mut conn) = self.fanout.redis() {
            let key = format!("queuecast:sockets:{credential}");
            let now = chrono::Utc::now().timestamp_micros();
            let over: Result<(Vec<String>,), _> = redis::pipe()
                .atomic()
                .cmd("ZADD")
                .arg(&key)
                .arg(now)
                .arg(self.member(id))
                .ignore()
                .cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-(cap as i64) - 1)
                .cmd("ZREMRANGEBYRANK")
                .arg(&key)
                .arg(0)
                .arg(-(cap as i64) - 1)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(REDIS_TTL_SECS)
                .ignore()
                .query_async(&mut conn)
                .await;
            match over {
                Ok((ids,)) if !ids.is_empty() => {
                    let elsewhere: Vec<String> = ids.into_iter().filter(|i| !self.close(i)).collect();
                    metrics::counter!("queuecast_sockets_refused_total", "kind" => kind)
                        .increment(elsewhere.len() as u64);
                    self.fanout.close_sockets(&elsewhere).await;
                }
                Ok(_) => {}
                // Counted on this node only meanwhile: never no cap, never everyone refused.
                Err(err) => tracing::debug!(cause = ?err, "counting sockets in Redis failed"),
            }
        }
        metrics::counter!("queuecast_sockets_refused_total", "kind" => kind).increment(evicted.len() as u64);
        Held { caps: self.clone(), credential, id, replaced }
    }

    /// How many sockets of `credential` are open on this node.
    pub fn holding(&self, credential: &str) -> usize {
        self.open.get(credential).map_or(0, |mine| mine.len())
    }

    /// A socket's id as Redis and other nodes know it.
    fn member(&self, id: u64) -> String {
        format!("{}-{id}", self.node)
    }

    /// Closes a socket of this node by the id Redis knows it by; whether it was here.
    fn close(&self, member: &str) -> bool {
        let here = member.strip_prefix(self.node.as_str()).and_then(|n| n.strip_prefix('-')?.parse::<u64>().ok());
        match here.and_then(|id| self.by_id.get(&id).map(|t| t.clone())) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.caps.by_id.remove(&self.id);
        if let Some(mut mine) = self.caps.open.get_mut(&self.credential) {
            mine.retain(|(id, _)| *id != self.id);
        }
        self.caps.open.remove_if(&self.credential, |_, mine| mine.is_empty());
        if let Some(mut conn) = self.caps.fanout.redis() {
            let (key, id) = (format!("queuecast:sockets:{}", self.credential), self.caps.member(self.id));
            tokio::spawn(async move {
                let _ = redis::cmd("ZREM").arg(key).arg(id).query_async::<()>(&mut conn).await;
            });
        }
    }
}
