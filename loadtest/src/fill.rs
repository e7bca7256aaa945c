//! Fills one queue's line quickly: customers join over HTTP with many requests in flight, and a
//! uniform random sample of their (ticket id, token) is kept to read tickets back later.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use rand::{Rng, SeedableRng};

use crate::api::{Api, Failed};

/// A fill that takes longer than this is a server in trouble: stop rather than wait for ever.
const MAX_FILL: Duration = Duration::from_secs(1800);

/// A uniform sample of at most `size` of the tickets joined (Algorithm R): each of the `seen`
/// tickets is in it with the same probability.
pub struct Reservoir {
    pub size: usize,
    pub seen: u64,
    /// (ticket id, token)
    pub tickets: Vec<(String, String)>,
    rng: rand::rngs::StdRng,
}

impl Reservoir {
    pub fn new(size: usize) -> Reservoir {
        Reservoir { size, seen: 0, tickets: Vec::with_capacity(size), rng: rand::rngs::StdRng::seed_from_u64(11) }
    }

    fn offer(&mut self, id: String, token: String) {
        self.seen += 1;
        if self.tickets.len() < self.size {
            self.tickets.push((id, token));
        } else if self.size > 0 {
            let slot = self.rng.random_range(0..self.seen);
            if (slot as usize) < self.size {
                self.tickets[slot as usize] = (id, token);
            }
        }
    }
}

/// How a fill went.
pub struct Filled {
    pub joined: usize,
    pub seconds: f64,
}

/// Joins `n` customers to `queue`, `concurrency` at a time, offering each ticket to `sample`.
/// Fails at the first join that fails (its error is the answer), or past `MAX_FILL`.
pub async fn fill(
    api: &Api,
    queue: &str,
    n: usize,
    concurrency: usize,
    sample: Arc<Mutex<Reservoir>>,
    progress: Option<&str>,
) -> anyhow::Result<Filled> {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let joined = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (api, queue, next, joined, stop, sample) =
            (api.clone(), queue.to_owned(), next.clone(), joined.clone(), stop.clone(), sample.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= n || stop.load(Relaxed) || started.elapsed() > MAX_FILL {
                    return Ok(());
                }
                match api.join(&queue, &format!("fill {i}")).await {
                    Ok((id, token, _)) => {
                        joined.fetch_add(1, Relaxed);
                        sample.lock().expect("no panic while held").offer(id, token);
                    }
                    Err(Failed::Error(e) | Failed::Refused(e)) => {
                        stop.store(true, Relaxed);
                        return Err(e);
                    }
                }
            }
        }));
    }
    // Progress every 10 s while the workers run (each stops by itself: count, error or time).
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    let mut first_error = None;
    for w in workers {
        let mut w = std::pin::pin!(w);
        loop {
            tokio::select! {
                done = &mut w => {
                    if let Err(e) = done? {
                        first_error.get_or_insert(e);
                    }
                    break;
                }
                _ = tick.tick() => if let Some(label) = progress {
                    let (j, s) = (joined.load(Relaxed), started.elapsed().as_secs_f64());
                    eprintln!("[{label}] {j} of {n} joined in {s:.0} s ({:.0}/s)", j as f64 / s);
                },
            }
        }
    }
    let joined = joined.load(Relaxed);
    if let Some(e) = first_error {
        bail!("filling the line: a join failed after {joined} joined: {e}");
    }
    if joined < n {
        bail!("filling the line: only {joined} of {n} joined in {} s", MAX_FILL.as_secs());
    }
    Ok(Filled { joined, seconds: started.elapsed().as_secs_f64() })
}
