//! The one owner of a node's background tasks: the writer, the feeds, the poll, the heartbeat,
//! housekeeping, the webhook sender and the short timers of the hubs.
//!
//! Every task is spawned here with a name and tracked; stopping the node cancels one token and
//! waits for the tracker to empty. A stopped node is quiet: no query, no reconnect, no timer.
//! Most tasks are simply dropped at their next `.await` when the token is cancelled (a feed or a
//! poll has nothing to finish); the few that must finish what they hold (the writer commits what
//! it was given, the webhook sender ends the requests it has in flight) are handed the token and
//! stop themselves. (mini-redis gives each task a `Shutdown`; centrifuge each goroutine
//! `NotifyShutdown()`; this is the same idea with tokio-util's token and tracker.)

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// The background tasks of one node. Cheap to clone: clones share the token and the tracker.
#[derive(Clone, Default)]
pub struct Tasks {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Tasks {
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// Spawns `task`, named `name` in logs and metrics; it is dropped at its next `.await` once
    /// the node stops. A task spawned after that never runs.
    pub fn spawn(&self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let token = self.token.clone();
        self.spawn_tracked(name, async move {
            tokio::select! {
                // Checked first, so a task spawned after the stop does not take a single step.
                biased;
                _ = token.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Spawns a task that stops itself: it is given the token and must return soon after it is
    /// cancelled, having finished what it has in hand.
    pub fn spawn_graceful<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn_tracked(name, task(self.token.clone()));
    }

    fn spawn_tracked(&self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let running = metrics::gauge!("queuecast_tasks_running", "task" => name);
        running.increment(1);
        self.tracker.spawn(
            async move {
                task.await;
                running.decrement(1);
                tracing::debug!("task ended");
            }
            .instrument(tracing::debug_span!("task", name)),
        );
    }

    /// A token cancelled when the node stops, or earlier by whoever holds it (the sockets close
    /// before the background tasks stop).
    pub fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }

    /// Whether the node has been told to stop.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Tells every task to stop, without waiting.
    pub fn cancel(&self) {
        self.token.cancel();
        self.tracker.close();
    }

    /// Cancels every task and waits up to `grace` for them all to end; whether they did.
    pub async fn stop(&self, grace: Duration) -> bool {
        self.cancel();
        let ended = tokio::time::timeout(grace, self.tracker.wait()).await.is_ok();
        if !ended {
            tracing::warn!(left = self.tracker.len(), "background tasks still running after the grace period");
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_stopped_task_takes_no_further_step() {
        let tasks = Tasks::new();
        let ticks = Arc::new(AtomicUsize::new(0));
        let counted = ticks.clone();
        tasks.spawn("ticker", async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);

        assert!(tasks.stop(Duration::from_secs(1)).await);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_graceful_task_finishes_what_it_holds_and_a_late_spawn_never_runs() {
        let tasks = Tasks::new();
        let finished = Arc::new(AtomicUsize::new(0));
        let done = finished.clone();
        tasks.spawn_graceful("graceful", |stop| async move {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            done.fetch_add(1, Ordering::SeqCst);
        });
        assert!(tasks.stop(Duration::from_secs(1)).await);
        assert_eq!(finished.load(Ordering::SeqCst), 1);

        let late = finished.clone();
        tasks.spawn("late", async move {
            late.fetch_add(10, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_the_stop_is_reported_after_the_grace() {
        let tasks = Tasks::new();
        tasks.spawn_graceful("stubborn", |_stop| std::future::pending());
        assert!(!tasks.stop(Duration::from_secs(2)).await);
    }
}
