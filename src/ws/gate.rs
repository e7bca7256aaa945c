//! What a socket waits for besides the hub's frames, polled only when it woke.
//!
//! A socket's loop wakes for the hub's frames nearly every time; `select!` then polled every
//! other wait again too (the client's frames, the heartbeat, the credential lapsing, shutdown):
//! 18.9% of the node's CPU in a fan-out to 10,000 sockets (BENCHMARKS.md, issue 18). A gate polls
//! what it guards with a waker of its own, and polls it again only once that waker fired, or
//! when its last poll was ready (more may be buffered).
//!
//! That is only sound for a wait whose waker stays registered when its future is dropped unpolled
//! to completion: a stream's `poll_next` (the waker lives in the stream), a timer kept across
//! turns, a future kept across turns. A `broadcast::Recv` or a `Notify`'s `Notified` unregister
//! when dropped, so they stay outside a gate or are kept pinned across the loop's turns.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

struct Shared {
    /// The guarded wait woke (or has not been polled yet, or was ready last time).
    woke: AtomicBool,
    /// The socket's task, to wake when the guarded wait does.
    task: AtomicWaker,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woke.store(true, Ordering::Release);
        self.task.wake();
    }
}

pub(super) struct Gate {
    shared: Arc<Shared>,
    /// The gate's own waker, made once: what the guarded wait registers, the same every poll.
    waker: Waker,
    /// The task's waker as last registered: registered again only after a wake took it, or
    /// when it changed (a socket's task keeps one waker for its life; registering is an atomic
    /// exchange on memory the waking thread writes too).
    task: Option<Waker>,
}

impl Gate {
    pub fn new() -> Gate {
        let shared = Arc::new(Shared { woke: AtomicBool::new(true), task: AtomicWaker::new() });
        let waker = Waker::from(Arc::clone(&shared));
        Gate { shared, waker, task: None }
    }

    /// Waits for `wait`, polling it only when it woke since its last pending poll.
    pub async fn wait<F: Future>(&mut self, wait: F) -> F::Output {
        let mut wait = std::pin::pin!(wait);
        std::future::poll_fn(|cx| self.poll(cx, wait.as_mut())).await
    }

    fn poll<F: Future>(&mut self, cx: &mut Context<'_>, wait: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        // A wake takes the task's waker out of `shared.task` (and sets `woke` first): after one,
        // or with another task's waker, it is registered again. Registered after the flag is
        // read: a wake in between finds the old waker or none, and is seen by the poll below.
        let woke = self.shared.woke.swap(false, Ordering::AcqRel);
        if woke || !self.task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.shared.task.register(cx.waker());
            self.task = Some(cx.waker().clone());
        }
        if !woke {
            return Poll::Pending;
        }
        match wait.poll(&mut Context::from_waker(&self.waker)) {
            Poll::Ready(out) => {
                self.shared.woke.store(true, Ordering::Release);
                Poll::Ready(out)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration;
    use tokio::sync::mpsc;

    /// `wait`, counting its polls.
    async fn counted<F: Future>(polls: &Cell<u32>, wait: F) -> F::Output {
        let mut wait = std::pin::pin!(wait);
        std::future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            wait.as_mut().poll(cx)
        })
        .await
    }

    #[tokio::test]
    async fn a_gated_wait_is_polled_again_only_after_it_woke_or_was_ready() {
        // Arrange: a channel read through a gate, with two messages buffered.
        let mut gate = Gate::new();
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let polls = Cell::new(0);
        tx.send(1).unwrap();
        tx.send(2).unwrap();

        // Act and assert: both buffered messages come out (a ready poll keeps the gate open)…
        assert_eq!(gate.wait(counted(&polls, rx.recv())).await, Some(1));
        assert_eq!(gate.wait(counted(&polls, rx.recv())).await, Some(2));
        // …an empty channel is polled once, then not again while nothing arrives…
        let quiet = tokio::time::timeout(Duration::from_millis(20), gate.wait(counted(&polls, rx.recv()))).await;
        assert!(quiet.is_err());
        assert_eq!(polls.get(), 3);
        for _ in 0..3 {
            let quiet = tokio::time::timeout(Duration::from_millis(5), gate.wait(counted(&polls, rx.recv()))).await;
            assert!(quiet.is_err());
        }
        assert_eq!(polls.get(), 3, "polled while nothing woke it");
        // …and messages sent later wake the gate, the second too (the first's wake took the
        // task's waker): the channel kept the gate's waker, the gate the task's.
        let send = tokio::spawn(async move {
            for n in [3, 4] {
                tokio::time::sleep(Duration::from_millis(10)).await;
                tx.send(n).unwrap();
            }
        });
        for n in [3, 4] {
            // The deadline first: a task that was never woken must not be saved by its poll.
            let got = tokio::select! {
                biased;
                () = tokio::time::sleep(Duration::from_secs(2)) => None,
                got = gate.wait(counted(&polls, rx.recv())) => got,
            };
            assert_eq!(got, Some(n), "not woken for {n}");
        }
        send.await.unwrap();
    }
}
