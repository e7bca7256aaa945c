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

/// How often expired records are purged.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

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
        store::migrate(&settings.database_url).await?;
        let store = Store::connect(&settings.database_url, settings.store.clone()).await?;
        tokio::spawn(housekeeping(store.clone()));
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
        let state = web::Data::new(AppState {
            store: store.clone(),
            fanout,
            shutdown: shutdown_rx,
            settings: Arc::new(settings),
        });
        let server = HttpServer::new(move || {
            App::new().app_data(state.clone()).configure(ws::configure).configure(http::configure)
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

    /// Serves until stopped. Does not watch signals: see [`Application::run_until_signalled`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
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
        tokio::spawn(async move {
            stop_signal().await;
            stopper.stop().await;
        });
        self.run_until_stopped().await
    }

    /// A handle that stops this node gracefully.
    pub fn stopper(&self) -> Stopper {
        Stopper { server: self.server.handle(), shutdown: self.shutdown.clone() }
    }
}

/// Stops a node: closes every socket with a "reconnect" code (so clients move to another node),
/// stops the webhook sender (it finishes the requests it has in flight), finishes the requests in
/// flight, then ends the server.
#[derive(Clone)]
pub struct Stopper {
    server: actix_web::dev::ServerHandle,
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Stopper {
    pub async fn stop(&self) {
        tracing::info!("stopping: closing sockets, finishing requests");
        let _ = self.shutdown.send(true);
        self.server.stop(true).await;
    }
}

/// Purges expired records now and then, for as long as the process runs.
async fn housekeeping(store: Store) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tick.tick().await;
        match store.purge_expired().await {
            Ok(purged) => tracing::debug!(purged, "purged expired records"),
            Err(err) => tracing::warn!(cause = ?err, "purging expired records failed"),
        }
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
