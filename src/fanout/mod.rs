//! Live fan-out: one hub per live queue per node, fed by this node's own commits (`local`),
//! PostgreSQL NOTIFY (`pg`), Redis pub/sub when configured (`redis`), and a slow poll of
//! `queues.last_seq` as the last safety net (`poll`). Every feed brings the same numbered events;
//! a hub applies each once, in seq order, and fills gaps from `queue_events`. Hubs are caches;
//! PostgreSQL is the truth: a hub can be dropped and rebuilt at any time without losing anything.

pub mod hub;
mod pg;
mod poll;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::domain::{Event, Held, Notification};
use crate::store::{LinePage, Result, Store};
use crate::tasks::Tasks;
pub use hub::{dress, Frame, Hub, Offer, StaffStart, Window};

/// How long a read waits for this node's hub to apply what the reader saw in the database
/// (the feeds bring an event within milliseconds; past this the database answers).
const LIVE_PATIENCE: Duration = Duration::from_millis(100);

/// An idle hub lingers this long, so a client that reconnects finds it warm.
const GRACE: Duration = Duration::from_secs(10);

/// The feeds, as metrics name them: which one brought an event to a hub first. `fill` is a read
/// of `queue_events` after a gap, a pointer notification, a resync or a hub's first client; `poll`
/// is the safety-net poll's.
pub(crate) const LOCAL: &str = "local";
pub(crate) const POSTGRES: &str = "postgres";
pub(crate) const REDIS: &str = "redis";
pub(crate) const POLL: &str = "poll";
pub(crate) const FILL: &str = "fill";

/// Counts what became of an event that `feed` brought.
fn record(offer: &Offer, feed: &'static str) {
    match offer {
        Offer::Applied => metrics::counter!("queuecast_events_applied_total", "feed" => feed).increment(1),
        Offer::Duplicate => metrics::counter!("queuecast_events_duplicate_total", "feed" => feed).increment(1),
        Offer::Gap => {}
    }
}

/// Which feeds a node runs (all, normally; tests switch some off to prove the others).
#[derive(Debug, Clone)]
pub struct Feeds {
    /// LISTEN on PostgreSQL.
    pub postgres: bool,
    /// This node's own commits, straight to its hubs.
    pub local: bool,
    /// Redis pub/sub, when a URL is given.
    pub redis_url: Option<String>,
    /// The safety-net poll; None turns it off.
    pub poll_every: Option<Duration>,
}

impl Feeds {
    pub fn all(redis_url: Option<String>) -> Feeds {
        Feeds { postgres: true, local: true, redis_url, poll_every: Some(Duration::from_secs(3)) }
    }
}

/// The hubs of this node.
pub struct Fanout {
    store: Store,
    redis: std::sync::OnceLock<Arc<redis::RedisFeed>>,
    /// Each queue's hub, built once by whoever asks first (others wait on the cell).
    hubs: DashMap<Uuid, Arc<OnceCell<Arc<Hub>>>>,
    /// This node, in heartbeats.
    node: Uuid,
    /// The node's tasks: the feeds, and each hub's short-lived fills and grace timers.
    tasks: Tasks,
    /// Users whose sign-ins changed (from any node): their sockets re-check themselves. A
    /// socket that lags behind this channel re-checks too, so a slow one misses nothing.
    revocations: tokio::sync::broadcast::Sender<Uuid>,
    /// Sockets (by id) that another node's cap closed, heard on Redis.
    socket_closes: tokio::sync::broadcast::Sender<String>,
    /// Customers this node's hubs were told are away (see `Hub`), for `ws::presence` to answer.
    aways: tokio::sync::broadcast::Sender<hub::Away>,
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
            self.fanout.tasks.spawn("hub-grace", async move {
                tokio::time::sleep(GRACE).await;
                if fanout.remove_if_idle(queue) {
                    fanout.wish(redis::Wish::Unsubscribe(queue));
                }
            });
        }
    }
}

impl Fanout {
    /// Starts the feeds, each one of `tasks`: this node's commits, the PostgreSQL listener (with
    /// heartbeats), Redis when configured, and the safety-net poll. A Redis URL that cannot work
    /// at all is an error here, not a retry loop.
    pub fn start(store: Store, database_url: String, feeds: Feeds, tasks: &Tasks) -> anyhow::Result<Arc<Fanout>> {
        let redis = feeds.redis_url.as_deref().map(redis::client).transpose()?;
        let fanout = Arc::new(Fanout {
            store,
            redis: Default::default(),
            hubs: DashMap::new(),
            node: Uuid::new_v4(),
            tasks: tasks.clone(),
            revocations: tokio::sync::broadcast::channel(256).0,
            socket_closes: tokio::sync::broadcast::channel(1024).0,
            aways: tokio::sync::broadcast::channel(4096).0,
        });
        tasks.spawn("heartbeat", pg::heartbeat(fanout.clone()));
        if feeds.postgres {
            tasks.spawn("postgres-feed", pg::listen(fanout.clone(), database_url));
        }
        if feeds.local {
            tasks.spawn("local-feed", local(fanout.clone()));
        }
        if let Some(client) = redis {
            let _ = fanout.redis.set(redis::start(&fanout, client));
        }
        if let Some(every) = feeds.poll_every {
            tasks.spawn("poll", poll::run(fanout.clone(), every));
        }
        Ok(fanout)
    }

    /// Whether Redis is configured, and then whether it answers.
    pub fn redis_up(&self) -> Option<bool> {
        self.redis.get().map(|r| r.up.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn wish(&self, wish: redis::Wish) {
        if let Some(r) = self.redis.get() {
            let _ = r.wishes.send(wish);
        }
    }

    /// Joins the hub of a queue (of `tenant`), building it from a snapshot on first use.
    pub async fn join(self: &Arc<Self>, tenant: Uuid, queue: Uuid) -> Result<Membership> {
        loop {
            // Clone the cell out and drop the map guard before awaiting.
            let cell = self
                .hubs
                .entry(queue)
                .or_insert_with(|| {
                    self.store.live_line_held(queue);
                    Arc::new(OnceCell::new())
                })
                .clone();
            let mut built = false;
            let hub = cell
                .get_or_try_init(|| async {
                    built = true;
                    let view = self.store.live_view(tenant, queue).await?;
                    Ok::<_, crate::store::StoreError>(Arc::new(Hub::new(tenant, view, self.aways.clone())))
                })
                .await;
            let hub = match hub {
                Ok(hub) => hub.clone(),
                Err(err) => {
                    // Nothing was built: the cell goes (the next client builds anew), unless
                    // someone else built it meanwhile.
                    if self.hubs.remove_if(&queue, |_, c| Arc::ptr_eq(c, &cell) && c.get().is_none()).is_some() {
                        self.store.live_line_dropped(queue);
                    }
                    return Err(err);
                }
            };
            if hub.tenant_id != tenant {
                return Err(crate::store::StoreError::NotFound);
            }
            hub.join();
            // The map may have dropped this cell while we waited; then build again.
            if self.hubs.get(&queue).is_some_and(|c| Arc::ptr_eq(&c, &cell)) {
                self.wish(redis::Wish::Subscribe(queue));
                // Held from here: a fill that fails lets go of the hub as a client leaving does.
                let membership = Membership { hub, fanout: self.clone() };
                if built {
                    // Events committed while the snapshot was read reached no one: catch up.
                    // (A hub already live is kept current by the feeds: joining it costs no
                    // query, which is what keeps a reconnect storm cheap.)
                    membership.hub.fill(&self.store, FILL).await?;
                }
                return Ok(membership);
            }
            hub.leave();
        }
    }

    /// A user's sign-ins changed: this node forgets what it cached of them, and the user's
    /// sockets here re-check themselves.
    pub fn revoke(&self, user: Uuid) {
        self.store.forget_user(user);
        // Failing only means no socket listens now.
        let _ = self.revocations.send(user);
    }

    /// Redis, when configured and connected: for what nodes count together.
    pub fn redis(&self) -> Option<::redis::aio::ConnectionManager> {
        let feed = self.redis.get()?;
        feed.up.load(std::sync::atomic::Ordering::Relaxed).then(|| feed.conn.get().cloned()).flatten()
    }

    /// Customers told away on any node, as this node's hubs apply it.
    pub fn aways(&self) -> tokio::sync::broadcast::Receiver<hub::Away> {
        self.aways.subscribe()
    }

    /// Sockets (by id) that other nodes' caps close from now on.
    pub fn socket_closes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.socket_closes.subscribe()
    }

    /// Tells every node to close these sockets (their ids), over Redis.
    pub async fn close_sockets(&self, ids: &[String]) {
        let Some(mut conn) = self.redis() else { return };
        let mut pipe = ::redis::pipe();
        for id in ids {
            pipe.cmd("PUBLISH").arg(redis::SOCKET_CLOSES).arg(id).ignore();
        }
        if let Err(err) = pipe.query_async::<()>(&mut conn).await {
            tracing::debug!(cause = ?err, "publishing socket closes failed");
        }
    }

    /// Users whose sign-ins change from now on.
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<Uuid> {
        self.revocations.subscribe()
    }

    fn remove_if_idle(&self, queue: Uuid) -> bool {
        let removed = self.hubs.remove_if(&queue, |_, cell| cell.get().is_some_and(|h| h.idle())).is_some();
        if removed {
            self.store.live_line_dropped(queue);
        }
        removed
    }

    /// The live hubs.
    pub fn hubs(&self) -> Vec<Arc<Hub>> {
        self.hubs.iter().filter_map(|e| e.value().get().cloned()).collect()
    }

    /// A ticket from this node's live line of its queue, as of `seq` or later: its place in
    /// O(log n), where the database would count the line. None when this node has no hub of the
    /// queue, the hub does not hold the ticket, or it does not reach `seq` within a moment.
    pub async fn live_ticket(&self, queue: Uuid, ticket: Uuid, seq: i64) -> Option<Held> {
        self.hub(queue)?.ticket_at(ticket, seq, LIVE_PATIENCE).await
    }

    /// A page of the line from this node's hub of the queue (of `tenant`), if it has one; the
    /// details of its bare tickets are read from the database.
    pub async fn line_page(&self, tenant: Uuid, queue: Uuid, after: usize, limit: usize) -> Result<Option<LinePage>> {
        let Some(hub) = self.hub(queue).filter(|h| h.tenant_id == tenant) else { return Ok(None) };
        let (seq, waiting_total, held) = hub.line_page(after, limit);
        let tickets = dress(&self.store, tenant, held).await?;
        Ok(Some(LinePage { seq, waiting_total, tickets }))
    }

    fn hub(&self, queue: Uuid) -> Option<Arc<Hub>> {
        self.hubs.get(&queue).and_then(|c| c.get().cloned())
    }

    /// Fills a hub's gap in the background; `feed` names who asked, for the metrics.
    fn fill_later(self: &Arc<Self>, hub: Arc<Hub>, feed: &'static str) {
        let store = self.store.clone();
        self.tasks.spawn("hub-fill", async move {
            match hub.fill(&store, feed).await {
                Ok(0) => {}
                Ok(_) => metrics::counter!("queuecast_gaps_filled_total").increment(1),
                Err(err) => {
                    tracing::warn!(cause = ?err, queue = %hub.queue_id, "filling a hub failed; the poll will retry")
                }
            }
        });
    }

    /// Feeds a notification that `feed` brought to the hubs it concerns.
    pub(crate) fn dispatch(self: &Arc<Self>, note: Notification, feed: &'static str) {
        match note {
            Notification::Events(events) => self.offer_all(events.into_iter().map(Arc::new), feed),
            Notification::Ranges(ranges) => {
                for range in ranges {
                    if self.left_to_local(feed, range.0, range.2) {
                        continue;
                    }
                    if let Some(hub) = self.hub(range.0).filter(|h| h.seq() < range.2) {
                        self.fill_later(hub, FILL);
                    }
                }
            }
            Notification::Heartbeat(_) => {}
            Notification::Revoked(r) => self.revoke(r.user),
        }
    }

    /// Whether what `feed` brought up to `seq` of `queue` is this node's own commit, its
    /// requesters not yet answered: the local feed brings it right after they are (see
    /// `store::writer::Committing`), whether NOTIFY carried its events or only their range.
    fn left_to_local(&self, feed: &str, queue: Uuid, seq: i64) -> bool {
        feed == POSTGRES && self.store.committing_here(queue, seq)
    }

    /// Offers events to their hubs, filling any gap they reveal.
    fn offer_all(self: &Arc<Self>, events: impl IntoIterator<Item = Arc<Event>>, feed: &'static str) {
        for event in events {
            let Some(hub) = self.hub(event.queue_id) else { continue };
            if self.left_to_local(feed, event.queue_id, event.seq) {
                continue;
            }
            let offer = hub.offer(event);
            record(&offer, feed);
            if offer == Offer::Gap {
                self.fill_later(hub, FILL);
            }
        }
    }

    /// Brings every live hub up to date from the database (after a feed may have lost events).
    pub(crate) fn resync_all(self: &Arc<Self>) {
        for hub in self.hubs() {
            self.fill_later(hub, FILL);
        }
    }
}

/// This node's own commits go straight to its hubs, without waiting for a feed to echo them.
async fn local(fanout: Arc<Fanout>) {
    let mut committed = fanout.store.committed();
    loop {
        match committed.recv().await {
            Ok(events) => fanout.offer_all(events.iter().cloned(), LOCAL),
            // Skipped events are gaps the other feeds and the poll fill.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
