//! The PostgreSQL feed: LISTEN on `queuecast` over a dedicated connection.
//!
//! `PgListener::recv` reconnects by itself and silently loses what was sent meanwhile, so we use
//! `try_recv` and treat `Ok(None)`, any error, and a silence longer than a few heartbeats as
//! "maybe lost": rebuild the listener with backoff and jitter, then bring every hub up to date.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sqlx::postgres::PgListener;

use super::Fanout;
use crate::domain::Notification;

/// Every node announces itself this often.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A listener that hears nothing (not even a heartbeat) this long is presumed dead.
const SILENCE: Duration = Duration::from_secs(7);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(super) async fn heartbeat(fanout: Arc<Fanout>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        if let Err(err) = fanout.store.heartbeat(fanout.node).await {
            tracing::debug!(cause = ?err, "heartbeat failed");
        }
    }
}

pub(super) async fn listen(fanout: Arc<Fanout>, database_url: String) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut listened = false;
        if let Err(err) = session(&fanout, &database_url, &mut listened).await {
            tracing::warn!(cause = ?err, "the PostgreSQL feed is down; rebuilding");
        }
        // A listener that worked for a while was lost, not refused: retry soon.
        if listened {
            backoff = BACKOFF_MIN;
        }
        let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
        tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One listener's life: connect, listen, resync, then dispatch until anything looks wrong.
async fn session(fanout: &Arc<Fanout>, database_url: &str, listened: &mut bool) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen("queuecast").await?;
    *listened = true;
    // Anything committed while we were not listening is read from the log.
    fanout.resync_all();
    tracing::info!("the PostgreSQL feed is listening");
    loop {
        match tokio::time::timeout(SILENCE, listener.try_recv()).await {
            Ok(Ok(Some(n))) => match serde_json::from_str::<Notification>(n.payload()) {
                Ok(note) => fanout.dispatch(note, super::POSTGRES),
                Err(err) => tracing::warn!(cause = ?err, "an unreadable notification"),
            },
            Ok(Ok(None)) => anyhow::bail!("the listener's connection was lost"),
            Ok(Err(err)) => return Err(err.into()),
            Err(_) => anyhow::bail!("no notification, not even a heartbeat, for {SILENCE:?}"),
        }
    }
}
