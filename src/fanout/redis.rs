//! The Redis feed (optional): after commit the writing node publishes each event on
//! `queuecast:q:<queue_id>`; a node subscribes to the channels of its live hubs only.
//!
//! One RESP3 connection manager does both: it reconnects and resubscribes by itself, and its
//! pushes (messages, and a disconnect notice) arrive on a channel of ours. A disconnect means
//! "maybe lost", so every hub is brought up to date from PostgreSQL. Redis being down never
//! blocks or fails a write: publishing happens after commit, off the write path.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::Fanout;
use crate::domain::{Event, Notification};
use crate::store::writer::Committed;

/// How often the connection is checked and failed subscriptions retried.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// What the hubs ask of the subscriber.
pub(super) enum Wish {
    Subscribe(Uuid),
    Unsubscribe(Uuid),
}

pub(super) fn channel(queue: Uuid) -> String {
    format!("queuecast:q:{queue}")
}

/// Where every node hears which of its sockets another node's cap closes (a socket id a line).
pub(super) const SOCKET_CLOSES: &str = "queuecast:sockets:close";

/// The Redis side of a node.
pub(super) struct RedisFeed {
    pub wishes: mpsc::UnboundedSender<Wish>,
    pub up: AtomicBool,
    /// The connection, once made: for commands of others (socket counts, limits).
    pub conn: std::sync::OnceLock<ConnectionManager>,
}

/// The client for `url` as people write it (`redis://host:6379`, with or without
/// `?protocol=resp3`): the feed needs RESP3 for its pushes, so it asks for it itself. A URL that
/// cannot work at all (not a Redis URL, TLS, which this build does not speak) is an error.
pub(super) fn client(url: &str) -> anyhow::Result<redis::Client> {
    use anyhow::Context;
    use redis::IntoConnectionInfo;
    let info = url.into_connection_info().context("REDIS_URL is not a usable Redis URL")?;
    let settings = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(settings)).context("REDIS_URL is not a usable Redis URL")
}

/// Connects (in the background, retrying) and runs the publisher and the subscriber, as tasks
/// of the node.
pub(super) fn start(fanout: &Arc<Fanout>, client: redis::Client) -> Arc<RedisFeed> {
    let (wishes, wished) = mpsc::unbounded_channel();
    let feed = Arc::new(RedisFeed { wishes, up: AtomicBool::new(false), conn: Default::default() });
    fanout.tasks.spawn("redis-feed", run(fanout.clone(), feed.clone(), client, wished));
    feed
}

async fn run(
    fanout: Arc<Fanout>,
    feed: Arc<RedisFeed>,
    client: redis::Client,
    mut wished: mpsc::UnboundedReceiver<Wish>,
) {
    // Pushes are drained at once by the loop below, which only parses and dispatches.
    let (push_tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
    let config = ConnectionManagerConfig::new()
        .set_push_sender(push_tx)
        .set_automatic_resubscription()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    let mut conn = loop {
        match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
            Ok(c) => break c,
            Err(err) => {
                tracing::warn!(cause = ?err, "Redis is unreachable; retrying");
                tokio::time::sleep(CHECK_EVERY).await;
            }
        }
    };
    feed.up.store(true, Ordering::Relaxed);
    let _ = feed.conn.set(conn.clone());
    fanout.tasks.spawn("redis-publisher", publish(conn.clone(), fanout.store.committed()));

    let mut wanted: HashSet<Uuid> = HashSet::new();
    // Resubscribed by the manager after a reconnect, like the queues' channels.
    let mut retry = conn.subscribe(SOCKET_CLOSES).await.is_err();
    let mut check = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            wish = wished.recv() => {
                let Some(wish) = wish else { return };
                let ok = match wish {
                    Wish::Subscribe(q) => { wanted.insert(q); conn.subscribe(channel(q)).await.is_ok() }
                    Wish::Unsubscribe(q) => { wanted.remove(&q); conn.unsubscribe(channel(q)).await.is_ok() }
                };
                retry |= !ok;
            }
            push = pushes.recv() => {
                let Some(push) = push else { return };
                match push.kind {
                    PushKind::Message if is_channel(&push.data, SOCKET_CLOSES) => {
                        if let Some(Value::BulkString(id)) = push.data.get(1) {
                            let _ = fanout.socket_closes.send(String::from_utf8_lossy(id).into_owned());
                        }
                    }
                    PushKind::Message => {
                        if let Some(event) = event_of(&push.data) {
                            fanout.dispatch(Notification::Events(vec![event]), super::REDIS);
                        }
                    }
                    PushKind::Disconnection => {
                        feed.up.store(false, Ordering::Relaxed);
                        tracing::warn!("Redis disconnected; resynchronising the hubs from PostgreSQL");
                        fanout.resync_all();
                        retry = true;
                    }
                    _ => {}
                }
            }
            _ = check.tick() => {
                // A ping both detects half-open connections and tells /readyz how Redis is.
                let up = redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok();
                if up && !feed.up.swap(true, Ordering::Relaxed) {
                    fanout.resync_all();
                }
                feed.up.store(up, Ordering::Relaxed);
                if up && retry {
                    retry = conn.subscribe(SOCKET_CLOSES).await.is_err();
                    for q in &wanted {
                        retry |= conn.subscribe(channel(*q)).await.is_err();
                    }
                }
            }
        }
    }
}

fn is_channel(data: &[Value], name: &str) -> bool {
    matches!(data.first(), Some(Value::BulkString(c)) if c == name.as_bytes())
}

fn event_of(data: &[Value]) -> Option<Event> {
    match data.get(1)? {
        Value::BulkString(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

/// Publishes every batch this node commits, one pipeline per batch. Falling behind skips
/// ahead: subscribers that miss an event fill the gap from PostgreSQL.
async fn publish(mut conn: ConnectionManager, mut committed: broadcast::Receiver<Committed>) {
    loop {
        let events = match committed.recv().await {
            Ok(events) => events,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(skipped = n, "the Redis publisher fell behind");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut pipe = redis::pipe();
        for e in events.iter() {
            if let Ok(payload) = serde_json::to_string(&**e) {
                pipe.cmd("PUBLISH").arg(channel(e.queue_id)).arg(payload).ignore();
            }
        }
        if let Err(err) = pipe.query_async::<()>(&mut conn).await {
            tracing::debug!(cause = ?err, "publishing to Redis failed");
        }
    }
}
