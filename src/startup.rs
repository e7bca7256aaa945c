//! Wires the store and the HTTP server together.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::store::{self, Store};

/// How often expired records are purged.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// A running Queuecast node.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
}

impl Application {
    /// Migrates the database, connects, and binds the listener (so `port()` is known before
    /// serving; port 0 picks a free one). Serve with [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        store::migrate(&settings.database_url).await?;
        let store = Store::connect(&settings.database_url, settings.store.clone()).await?;
        tokio::spawn(housekeeping(store.clone()));
        let redis = match &settings.redis_url {
            Some(url) => Some(redis::Client::open(url.as_str()).context("parsing REDIS_URL")?),
            None => None,
        };
        let listener = TcpListener::bind(&settings.listen).with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let workers = settings.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let state = web::Data::new(AppState { store: store.clone(), redis, settings: Arc::new(settings) });
        let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(http::configure))
            .workers(workers)
            .backlog(4096)
            .listen(listener)?
            .run();
        Ok(Application { port, server, store })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until the process is asked to stop (SIGINT/SIGTERM), then drains requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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
