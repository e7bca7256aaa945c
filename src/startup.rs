//! Wires the store and the HTTP server together.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_http::body::BoxBody;
use actix_http::{HttpServiceBuilder, KeepAlive, Request, Response};
use actix_server::GracefulShutdownSignal;
use actix_service::{map_config, IntoServiceFactory, Service, ServiceFactory};
use actix_web::dev::{AppConfig, Server};
use actix_web::middleware::from_fn;
use actix_web::{web, App};
use anyhow::Context;
use sqlx::{Connection, PgConnection};
use tokio::net::TcpStream;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::Instant;

use crate::config::Settings;
use crate::fanout::{Fanout, Feeds};
use crate::http::limit::Limiter;
use crate::http::{self, AppState};
use crate::store::{self, Store};
use crate::tasks::Tasks;
use crate::ws;
use tokio_util::sync::CancellationToken;

/// How often expired records are purged (and old personal data blanked, with retention on).
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);
/// How often a node looks for tables without statistics while it writes, and any are left: a
/// crowd joining a fresh database fills a table in well under a second.
const FIRST_STATISTICS_EVERY: Duration = Duration::from_millis(250);
/// How long it keeps looking that often after its last commit: PostgreSQL hears what a backend
/// changed up to 10 s after it went idle.
const FIRST_STATISTICS_AFTER_WRITES: Duration = Duration::from_secs(12);
/// How often it looks while it writes nothing (tables written outside the writer, or by
/// another node's writer, whose own node looks too). Most tables of a deployment never grow
/// enough to be looked at, and the look costs PostgreSQL ~2.5 ms: four a second, for ever, was
/// ~1% of a core on an idle node.
const FIRST_STATISTICS_QUIET: Duration = Duration::from_secs(10);
/// Tickets blanked per retention statement: small transactions that hold few row locks.
const RETENTION_BATCH: u32 = 1000;
/// Retention statements per housekeeping round at most, so a first run over years of tickets
/// spreads over several rounds.
const RETENTION_ROUNDS: usize = 200;

/// A running Queuecast node.
pub struct Application {
    port: u16,
    server: Server,
    stopper: Stopper,
}

impl Application {
    /// Migrates the database, connects, and binds the listener (so `port()` is known before
    /// serving; port 0 picks a free one). Serve with [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // First, so the series recorded from here on are kept.
        http::metrics::install();
        store::migrate(&settings.database_url).await?;
        let tasks = Tasks::new();
        let store = Store::connect(&settings.database_url, settings.store.clone(), &tasks).await?;
        // Cancelled first when the node stops: every socket closes with a "reconnect" code.
        let closing = tasks.child_token();
        match Self::serve(settings, store.clone(), &tasks, closing.clone()).await {
            Ok((port, server, grace)) => {
                let stopper = Stopper { server: server.handle(), tasks, closing, store, grace };
                Ok(Application { port, server, stopper })
            }
            Err(err) => {
                // Nothing of a node that failed to start keeps running.
                tasks.stop(Duration::from_secs(5)).await;
                store.close().await;
                Err(err)
            }
        }
    }

    /// Starts the feeds, the background tasks and the HTTP server over `store`.
    async fn serve(
        settings: Settings,
        store: Store,
        tasks: &Tasks,
        closing: CancellationToken,
    ) -> anyhow::Result<(u16, Server, Duration)> {
        tasks.spawn("housekeeping", housekeeping(store.clone(), settings.retention_days));
        tasks.spawn("clock", crate::schedule::run(store.clone(), settings.clock_every));
        tasks.spawn("first-statistics", first_statistics(settings.database_url.clone(), store.committed()));
        let feeds = settings.feeds.clone().unwrap_or_else(|| Feeds::all(settings.redis_url.clone()));
        let fanout = Fanout::start(store.clone(), settings.database_url.clone(), feeds, tasks)?;
        let listener =
            bind(&settings.listen, settings.listen_backlog).with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let mut settings = settings;
        if settings.allowed_origins.is_empty() {
            settings.allowed_origins = match &settings.public_url {
                Some(url) => vec![origin_of(url)],
                None => vec![format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}")],
            };
        }
        crate::webhooks::start(store.clone(), settings.webhooks.clone(), tasks)?;
        let public = settings.public_url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
        crate::notify::start(store.clone(), settings.notify.clone(), public, tasks)?;
        // The webhook and message senders may take this long to end the requests in flight.
        let grace = settings.webhooks.timeout.max(settings.notify.timeout) + Duration::from_secs(1);
        let workers = settings.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let limits = web::Data::new(Limiter::new(settings.rate_limits));
        // Limits' keys in Redis carry the deployment's own prefix: the same for every node of
        // one database, another for any other deployment sharing the Redis.
        let prefix = store.server_key("limits", || rand::random::<[u8; 8]>().to_vec()).await?;
        limits.share(fanout.clone(), format!("queuecast:limits:{}", crate::secret::hex(&prefix)));
        let admission = web::Data::from(http::admission::Admission::new(
            settings.max_in_flight,
            settings.queue_target,
            settings.shed_delay,
        ));
        tasks.spawn("sweep-limits", sweep_limits(limits.clone().into_inner()));
        let caps = crate::ws::caps::Caps::start(fanout.clone(), tasks);
        tasks.spawn("presence", crate::ws::presence::answer_aways(store.clone(), caps.clone(), fanout.aways()));
        let (transport, max_connections) = (settings.ws_transport, settings.max_connections_per_worker);
        let state = web::Data::new(AppState { store, fanout, closing, settings: Arc::new(settings), caps });
        let app = {
            let state = state.clone();
            move || {
                App::new()
                    .wrap(from_fn(http::metrics::observe))
                    .app_data(state.clone())
                    .app_data(limits.clone())
                    .app_data(admission.clone())
                    .configure(ws::configure)
                    .configure(http::configure)
            }
        };
        // What answers the requests actix-http hands to the upgrade hook (every `Upgrade:
        // websocket`, on any path): the sockets' routes with the same middleware; no other.
        let sockets = move || {
            App::new()
                .wrap(from_fn(http::metrics::observe))
                .app_data(state.clone())
                .configure(ws::configure)
                .default_service(web::to(|| async { http::ApiError::NotFound }))
        };
        let addr = listener.local_addr()?;
        let builder = actix_server::Server::build()
            .workers(workers)
            .max_concurrent_connections(max_connections)
            .disable_signals();
        let signal = builder.graceful_shutdown_signal();
        // As actix-web's `HttpServer::listen` builds its service, with the upgrade hook added.
        let config = move || AppConfig::__priv_test_new(false, addr.to_string(), addr);
        let builder = match transport {
            ws::WsTransport::Tungstenite => builder.listen("queuecast", listener, move || {
                http_service(addr, signal.clone())
                    .upgrade(ws::upgrade::Hook::new(sockets().into_factory(), config()))
                    .finish(map_config(app(), move |_| config()))
                    .tcp()
            })?,
            ws::WsTransport::ActixWs => builder.listen("queuecast", listener, move || {
                http_service(addr, signal.clone()).finish(map_config(app(), move |_| config())).tcp()
            })?,
        };
        Ok((port, builder.run(), grace))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.stopper.store
    }

    /// Serves until stopped, then stops every background task (see [`Stopper::stop`]). Does not
    /// watch signals: see [`Application::run_until_signalled`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // However the server ended, the rest of the node stops too.
        self.stopper.stop().await;
        served
    }

    /// Serves until SIGINT or SIGTERM, then stops as [`Stopper::stop`] does.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let stopper = self.stopper();
        let signalled = tokio::spawn(async move {
            stop_signal().await;
            stopper.stop().await;
        });
        let served = self.run_until_stopped().await;
        signalled.abort();
        served
    }

    /// A handle that stops this node gracefully.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }
}

/// Stops a node: closes every socket with a "reconnect" code (so clients move to another node),
/// finishes the requests in flight, ends the server, waits for the writer to commit what it
/// still holds (changes whose requester went away are still committed, as while running), then
/// stops every background task (the webhook sender ends the requests it has in flight) and
/// closes the database pool. A stopped node makes no query and no connection.
#[derive(Clone)]
pub struct Stopper {
    server: actix_web::dev::ServerHandle,
    tasks: Tasks,
    /// The sockets' token, a child of the tasks' one.
    closing: CancellationToken,
    store: Store,
    /// How long the background tasks may take to end.
    grace: Duration,
}

impl Stopper {
    pub async fn stop(&self) {
        tracing::info!("stopping: closing sockets, finishing requests");
        self.closing.cancel();
        self.server.stop(true).await;
        self.store.flush().await;
        self.tasks.stop(self.grace).await;
        self.store.close().await;
        tracing::info!("stopped: every request answered, every change committed");
    }

    /// Stops at once, without draining: sockets and tasks are told to end, the server to stop,
    /// and the pool opens no connection from here on. For a node thrown away (a test's, when
    /// its database is dropped), not for a graceful stop.
    pub fn halt(&self) {
        self.closing.cancel();
        self.tasks.cancel();
        // Both act when called; their futures only wait for the end.
        drop(self.server.stop(false));
        drop(self.store.close());
    }
}

/// An HTTP/1 service set up as actix-web's `HttpServer` sets up its own: keep-alive 5 s, 5 s
/// for a request's head, 1 s for a client to hang up, and idle connections closed when the
/// server starts to stop.
fn http_service<S>(addr: SocketAddr, signal: GracefulShutdownSignal) -> HttpServiceBuilder<TcpStream, S>
where
    S: ServiceFactory<Request, Config = ()>,
    S::Error: Into<Response<BoxBody>> + 'static,
    S::InitError: std::fmt::Debug,
    <S::Service as Service<Request>>::Future: 'static,
{
    HttpServiceBuilder::default()
        .graceful_shutdown_signal(move || {
            let signal = signal.clone();
            async move { signal.notified().await }
        })
        .keep_alive(KeepAlive::default())
        .client_request_timeout(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        .local_addr(addr)
}

/// Forgets clients whose allowance is full again, every minute, for as long as the node lives.
async fn sweep_limits(limits: Arc<Limiter>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        limits.sweep();
    }
}

/// Purges expired records now and then, for as long as the process runs; with retention on,
/// also blanks the personal data of tickets that finished more than `retention_days` ago.
async fn housekeeping(store: Store, retention_days: Option<u32>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tick.tick().await;
        match store.purge_expired().await {
            Ok(purged) => tracing::debug!(purged, "purged expired records"),
            Err(err) => tracing::warn!(cause = ?err, "purging expired records failed"),
        }
        if let Some(days) = retention_days {
            apply_retention(&store, days).await;
        }
    }
}

/// Gathers each table's first statistics as soon as it has grown ([`store::analyse_new_tables`]),
/// on a connection of its own as the owner, until every table has some: looking every
/// [`FIRST_STATISTICS_EVERY`] while this node's writer commits (tables grow by writes), and every
/// [`FIRST_STATISTICS_QUIET`] while it does not.
async fn first_statistics(database_url: String, committed: broadcast::Receiver<store::writer::Committed>) {
    let mut owner = None;
    let mut looks = Looks::new(committed);
    loop {
        looks.due().await;
        if owner.is_none() {
            owner = PgConnection::connect(&database_url)
                .await
                .inspect_err(|err| tracing::debug!(cause = ?err, "connecting to analyse new tables failed"))
                .ok();
        }
        let Some(conn) = owner.as_mut() else { continue };
        match store::analyse_new_tables(conn).await {
            Ok((analysed, waiting)) => {
                if !analysed.is_empty() {
                    tracing::info!(tables = ?analysed, "gathered the first statistics");
                }
                if waiting == 0 {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(cause = ?err, "gathering the first statistics failed");
                owner = None;
            }
        }
    }
    if let Some(conn) = owner {
        conn.close().await.ok();
    }
}

/// When [`first_statistics`] looks: every [`FIRST_STATISTICS_EVERY`] from the node's start and
/// its writer's every commit until [`FIRST_STATISTICS_AFTER_WRITES`] later (a node may start on a
/// database others are filling), every [`FIRST_STATISTICS_QUIET`] otherwise.
struct Looks {
    committed: broadcast::Receiver<store::writer::Committed>,
    writing_until: Instant,
}

impl Looks {
    fn new(committed: broadcast::Receiver<store::writer::Committed>) -> Looks {
        Looks { committed, writing_until: Instant::now() + FIRST_STATISTICS_AFTER_WRITES }
    }

    /// Waits until the next look is due.
    async fn due(&mut self) {
        if Instant::now() >= self.writing_until {
            match tokio::time::timeout(FIRST_STATISTICS_QUIET, self.committed.recv()).await {
                Ok(Ok(_) | Err(RecvError::Lagged(_))) => self.wrote(),
                // The writer is gone (the node is stopping): only the looks now and then.
                Ok(Err(RecvError::Closed)) => tokio::time::sleep(FIRST_STATISTICS_QUIET).await,
                Err(_quiet) => return,
            }
        }
        tokio::time::sleep(FIRST_STATISTICS_EVERY).await;
        // What the writer said meanwhile, taken (falling behind counts as having committed).
        loop {
            match self.committed.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => self.wrote(),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    fn wrote(&mut self) {
        self.writing_until = Instant::now() + FIRST_STATISTICS_AFTER_WRITES;
    }
}

/// Blanks old personal data in batches until none is left (or this round's share is done).
async fn apply_retention(store: &Store, days: u32) {
    let mut changed = 0;
    for what in crate::store::Retained::ALL {
        for _ in 0..RETENTION_ROUNDS {
            match store.blank_old(what, days, RETENTION_BATCH).await {
                Ok(0) => break,
                Ok(n) => changed += n,
                Err(err) => {
                    tracing::warn!(cause = ?err, ?what, "blanking old personal data failed");
                    break;
                }
            }
        }
    }
    if changed > 0 {
        tracing::info!(changed, days, "blanked old personal data");
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Listens on `addr` with room for `backlog` connections not yet accepted. `TcpListener::bind`
/// asks for 128, and actix-server's own backlog applies only to addresses it binds itself: a
/// crowd of sockets reconnecting at once overflowed it, and each dropped connection waited for
/// its client's kernel to try again a second or more later.
fn bind(addr: &str, backlog: i32) -> anyhow::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = addr.to_socket_addrs()?.next().context("the address resolves to nothing")?;
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    // As the standard library's bind does: a restarted node takes its port back at once.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// A connection is complete once the kernel queues it for accepting: with the standard
    /// library's backlog of 128, the 130th of a crowd that is not accepted yet hangs.
    #[test]
    fn the_listener_queues_a_crowd_larger_than_the_standard_backlog() {
        let listener = super::bind("127.0.0.1:0", 1024).unwrap();
        let addr = listener.local_addr().unwrap();
        let crowd: Vec<_> = (0..400)
            .map(|i| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {i} was not queued: {e}"))
            })
            .collect();
        assert_eq!(crowd.len(), 400);
    }

    /// The looks' times, in seconds from the start (the clock paused: time moves only as the
    /// looks wait), up to `until`; `commit_at` are when the writer commits.
    async fn looks(commit_at: &[f64], until: f64) -> Vec<f64> {
        let (tx, rx) = tokio::sync::broadcast::channel(16);
        let start = tokio::time::Instant::now();
        let commits: Vec<Duration> = commit_at.iter().map(|s| Duration::from_secs_f64(*s)).collect();
        tokio::spawn(async move {
            for at in commits {
                tokio::time::sleep_until(start + at).await;
                let _ = tx.send(std::sync::Arc::from(Vec::new()));
            }
            std::future::pending::<()>().await;
        });
        let mut looks = super::Looks::new(rx);
        let mut seen = Vec::new();
        loop {
            looks.due().await;
            let at = (start.elapsed().as_secs_f64() * 100.0).round() / 100.0;
            if at > until {
                return seen;
            }
            seen.push(at);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_node_looks_for_new_tables_every_ten_seconds_after_its_first_twelve() {
        let seen = looks(&[], 45.0).await;
        assert_eq!(seen.iter().filter(|t| **t <= 12.0).count(), 48, "every 250 ms at first: {seen:?}");
        assert_eq!(seen.iter().filter(|t| **t > 12.0).copied().collect::<Vec<_>>(), [22.0, 32.0, 42.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_commit_makes_a_quiet_node_look_within_a_quarter_second_and_for_twelve_seconds_after() {
        let seen = looks(&[15.1, 20.0], 45.0).await;
        let after: Vec<f64> = seen.iter().filter(|t| **t > 12.0).copied().collect();
        // 15.1 woke the node (its look at 15.35), then every 250 ms until 12 s after the last
        // commit (20.0 + 12 = 32.0), then quiet again.
        assert_eq!(after.first(), Some(&15.35));
        assert!(after.windows(2).take_while(|w| w[1] <= 32.1).all(|w| (w[1] - w[0] - 0.25).abs() < 0.01), "{after:?}");
        let quiet: Vec<f64> = after.iter().filter(|t| **t > 32.1).copied().collect();
        assert_eq!(quiet, [42.1], "{after:?}");
    }
}
