//! Wires the store and the HTTP server together.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::config::Settings;
use crate::fanout::{Fanout, Feeds};
use crate::http::{self, AppState};
use crate::store::{self, Store};
use crate::ws;

/// How often expired records are purged (and old personal data blanked, with retention on).
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
/// Tickets blanked per retention statement: small transactions that hold few row locks.
const RETENTION_BATCH: u32 = 1000;
/// Retention statements per housekeeping round at most, so a first run over years of tickets
/// spreads over several rounds.
const RETENTION_ROUNDS: usize = 200;

/// A running Queuecast node.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// The webhook sender, awaited (briefly) after the server stops so no request is cut off.
    sender: Option<tokio::task::JoinHandle<()>>,
    /// How long the sender may take to finish what it has in flight.
    sender_grace: std::time::Duration,
}

impl Application {
    /// Migrates the database, connects, and binds the listener (so `port()` is known before
    /// serving; port 0 picks a free one). Serve with [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // First, so the series recorded from here on are kept.
        http::metrics::install();
        store::migrate(&settings.database_url).await?;
        let store = Store::connect(&settings.database_url, settings.store.clone()).await?;
        tokio::spawn(housekeeping(store.clone(), settings.retention_days));
        let feeds = settings.feeds.clone().unwrap_or_else(|| Feeds::all(settings.redis_url.clone()));
        let fanout = Fanout::start(store.clone(), settings.database_url.clone(), feeds);
        let listener = TcpListener::bind(&settings.listen).with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let mut settings = settings;
        if settings.allowed_origins.is_empty() {
            settings.allowed_origins = match &settings.public_url {
                Some(url) => vec![origin_of(url)],
                None => vec![format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}")],
            };
        }
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let sender = crate::webhooks::start(store.clone(), settings.webhooks.clone(), shutdown_rx.clone())?;
        let sender_grace = settings.webhooks.timeout + std::time::Duration::from_secs(1);
        let workers = settings.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let limits = Arc::new(crate::http::limit::Limiter::new(settings.rate_limits));
        tokio::spawn(sweep_limits(Arc::downgrade(&limits)));
        let state = web::Data::new(AppState {
            store: store.clone(),
            fanout,
            shutdown: shutdown_rx,
            settings: Arc::new(settings),
            limits,
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::metrics::observe))
                .app_data(state.clone())
                .configure(ws::configure)
                .configure(http::configure)
        })
        .workers(workers)
        .backlog(4096)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Application { port, server, store, shutdown: Arc::new(shutdown), sender, sender_grace })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until stopped, then waits for the writer to commit what it holds. Does not watch
    /// signals: see [`Application::run_until_signalled`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.store.flush().await;
        // However the server ended, the sender stops too, after the requests it has in flight.
        let _ = self.shutdown.send(true);
        if let Some(sender) = self.sender {
            let _ = tokio::time::timeout(self.sender_grace, sender).await;
        }
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
        Stopper { server: self.server.handle(), shutdown: self.shutdown.clone(), store: self.store.clone() }
    }
}

/// Stops a node: closes every socket with a "reconnect" code (so clients move to another node),
/// stops the webhook sender (it finishes the requests it has in flight), finishes the requests in
/// flight, ends the server, then waits for the writer to commit what it still holds (changes
/// whose requester went away are still committed, as while running).
#[derive(Clone)]
pub struct Stopper {
    server: actix_web::dev::ServerHandle,
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    store: Store,
}

impl Stopper {
    pub async fn stop(&self) {
        tracing::info!("stopping: closing sockets, finishing requests");
        let _ = self.shutdown.send(true);
        self.server.stop(true).await;
        self.store.flush().await;
        tracing::info!("stopped: every request answered, every change committed");
    }
}

/// Forgets clients whose allowance is full again, every minute, for as long as the node lives.
async fn sweep_limits(limits: std::sync::Weak<crate::http::limit::Limiter>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        let Some(limits) = limits.upgrade() else { return };
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

/// Blanks old personal data in batches until none is left (or this round's share is done).
async fn apply_retention(store: &Store, days: u32) {
    let mut changed = 0;
    for _ in 0..RETENTION_ROUNDS {
        match store.anonymise_finished(days, RETENTION_BATCH).await {
            Ok(0) => break,
            Ok(n) => changed += n,
            Err(err) => {
                tracing::warn!(cause = ?err, "blanking old personal data failed");
                break;
            }
        }
    }
    if changed > 0 {
        tracing::info!(changed, days, "blanked personal data of finished tickets");
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
