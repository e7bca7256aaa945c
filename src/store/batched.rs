//! Small reads asked together. A crowd asks the same small question of the database thousands of
//! times a second (does this token open this ticket, was this join's key committed), and a round
//! trip and a transaction each were most of what the crowd cost. Questions wait here while one
//! batch is read, and the next batch reads all of them at once. A question that arrives alone is
//! read at once.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Result, StoreError};
use crate::tasks::Tasks;

/// Most questions read in one batch.
const MAX_BATCH: usize = 500;
/// Questions waiting at most; past it a question is answered "overloaded" at once, so a flood
/// cannot queue without bound.
const QUEUE: usize = 20_000;
/// While questions arrive together (the last batch had company), how long a batch waits for more
/// before it is read: at a few thousand a second this makes batches of about a hundred, for a few
/// milliseconds more each. A question that arrives alone is read at once.
const GATHER: Duration = Duration::from_millis(10);

/// One question, and where to answer it.
struct Asked<Q, A> {
    question: Q,
    answer: oneshot::Sender<Result<A>>,
}

/// The sender of questions to one batching task.
pub(super) struct Batched<Q, A> {
    tx: mpsc::Sender<Asked<Q, A>>,
}

impl<Q, A> Clone for Batched<Q, A> {
    fn clone(&self) -> Self {
        Batched { tx: self.tx.clone() }
    }
}

impl<Q: Send + 'static, A: Send + 'static> Batched<Q, A> {
    /// Starts the task `name`, which answers batches of questions with `read`: the answers in
    /// the questions' order, one each.
    pub(super) fn start<R, F>(name: &'static str, tasks: &Tasks, read: R) -> Self
    where
        R: FnMut(Vec<Q>) -> F + Send + 'static,
        F: Future<Output = Result<Vec<A>>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        tasks.spawn(name, run(name, rx, read));
        Batched { tx }
    }

    /// The answer to `question`, read with those asked about the same time.
    pub(super) async fn ask(&self, question: Q) -> Result<A> {
        let (answer, answered) = oneshot::channel();
        self.tx.try_send(Asked { question, answer }).map_err(|_| StoreError::Overloaded)?;
        answered.await.map_err(|_| StoreError::Unavailable)?
    }
}

/// Reads questions in batches for as long as the node runs.
async fn run<Q, A, R, F>(name: &'static str, mut rx: mpsc::Receiver<Asked<Q, A>>, mut read: R)
where
    R: FnMut(Vec<Q>) -> F,
    F: Future<Output = Result<Vec<A>>>,
{
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut crowded = false;
    loop {
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        if crowded && batch.len() < MAX_BATCH {
            let until = tokio::time::Instant::now() + GATHER;
            while batch.len() < MAX_BATCH {
                let room = MAX_BATCH - batch.len();
                match tokio::time::timeout_at(until, rx.recv_many(&mut batch, room)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        crowded = batch.len() > 1;
        let (questions, answers): (Vec<Q>, Vec<_>) = batch.drain(..).map(|a| (a.question, a.answer)).unzip();
        let asked = answers.len();
        let found = match read(questions).await {
            Ok(found) if found.len() == asked => Some(found),
            Ok(found) => {
                tracing::error!(task = name, asked, answered = found.len(), "a batch was not answered one by one");
                None
            }
            Err(err) => {
                tracing::warn!(task = name, cause = ?err, asked, "a batched read failed");
                None
            }
        };
        match found {
            Some(found) => {
                for (answer, found) in answers.into_iter().zip(found) {
                    let _ = answer.send(Ok(found));
                }
            }
            None => {
                for answer in answers {
                    let _ = answer.send(Err(StoreError::Unavailable));
                }
            }
        }
    }
}
