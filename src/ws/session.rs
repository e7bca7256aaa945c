//! The life of one socket, in three stages: its first frames; a single `select!` over the
//! client's frames, the hub's frames, the heartbeat tick, the credential lapsing and shutdown;
//! then its close. Nothing shared is held while awaiting a send, and every send has a deadline,
//! so one stalled client never slows the others.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytestring::ByteString;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::close;
use super::gate::Gate;
use super::message::ClientMessage;
use super::transport::{Gone, Incoming, Transport};
use crate::domain::ServerMessage;
use crate::fanout::{Frame, Membership};

/// What every socket of the server shares: how often it pings, how long a socket may stay
/// silent (15 s and 45 s by the protocol; settings, so tests can shorten them), and the signal
/// that the server is stopping.
#[derive(Debug, Clone)]
pub struct Limits {
    pub ping_every: Duration,
    pub silent_for: Duration,
    pub closing: CancellationToken,
}
/// A send that takes longer than this marks the client as too slow.
pub const SEND_DEADLINE: Duration = Duration::from_secs(5);
/// Incoming frames larger than this close the socket.
pub const MAX_FRAME: usize = 4 * 1024;
/// Client messages allowed per window before the socket is closed as a flood.
const FLOOD_LIMIT: u32 = 30;
const FLOOD_WINDOW: Duration = Duration::from_secs(10);

/// What to send, if anything, and a close code to end with after sending it, if any.
pub type Step = (Option<ByteString>, Option<u16>);

/// What an audience makes of the hub's frames.
pub trait Audience: Send + 'static {
    /// `customer`, `staff` or `display`, as metrics label sockets.
    const KIND: &'static str;
    /// What to send for this frame.
    fn on_frame(&mut self, frame: &Frame) -> impl Future<Output = Step> + Send;
    /// After falling behind the broadcast: a fresh start from the hub as it is now (which may
    /// read the database), or a close code (a client that must have every event resumes with
    /// `since=`).
    fn on_lag(&mut self) -> impl Future<Output = Step> + Send;
    /// The client said it is being looked at (`{"type":"here"}`): only customers' pages say so.
    fn on_here(&mut self) {}
    /// A close code to end with once the first frames are out (they were only a first step).
    fn after_first(&self) -> Option<u16> {
        None
    }
}

/// What woke a socket besides the hub.
enum Woke {
    Client(Incoming),
    Heartbeat,
    Ended(End),
}

/// Why the loop ended, and so how to close.
enum End {
    Close(u16, &'static str),
    Gone,
}

async fn send(socket: &mut impl Transport, text: ByteString) -> Result<(), End> {
    within_deadline(socket.text(text), End::Close(close::SLOW, "too slow to keep up; reconnect with since=")).await
}

/// Every write to the client has a deadline: a write to a client that stopped reading never
/// completes (the flush waits on it), and would hold the socket forever.
async fn within_deadline(write: impl Future<Output = Result<(), Gone>>, late: End) -> Result<(), End> {
    match tokio::time::timeout(SEND_DEADLINE, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Gone)) => Err(End::Gone),
        Err(_late) => Err(late),
    }
}

/// Where a socket starts: its subscription, what to send first, and whom it serves.
pub struct Start<A> {
    pub rx: broadcast::Receiver<Arc<Frame>>,
    pub first: Vec<ByteString>,
    pub audience: A,
}

/// What completes when the socket's credential lapses (4401) or a newer socket takes its place
/// (4409), with the code and reason to close with.
pub type Revoked = std::pin::Pin<Box<dyn Future<Output = (u16, &'static str)> + Send>>;

/// Runs a socket until it ends. `membership` keeps the socket's hub alive meanwhile; `first` is
/// sent before anything else; when `revoked` completes, the socket closes with its code and
/// reason.
///
/// What a socket keeps for its life is one `Live` on the heap and the loop's future, which only
/// borrows it: an async fn keeps its arguments for as long as it runs, and every value moved
/// from one async fn into the next took its room again (the socket's state was in the session's
/// future two or three times over).
pub fn run<A: Audience, T: Transport>(
    socket: T,
    membership: Membership,
    start: Start<A>,
    limits: Limits,
    revoked: Revoked,
) -> impl Future<Output = ()> {
    let Start { rx, first, audience } = start;
    let now = Instant::now();
    let live =
        Box::new(Live { socket, audience, limits, rx, revoked, membership, heard: now, window: now, messages: 0 });
    live.run(first)
}

/// Sends what a socket starts with: a snapshot, the missed events, a board or a ticket.
async fn send_first(socket: &mut impl Transport, first: Vec<ByteString>) -> Result<(), End> {
    for text in first {
        send(socket, text).await?;
    }
    Ok(())
}

/// An open socket: what it serves, and what each thing it waits for needs.
struct Live<T, A> {
    socket: T,
    audience: A,
    limits: Limits,
    rx: broadcast::Receiver<Arc<Frame>>,
    revoked: Revoked,
    /// Keeps the socket's hub alive; dropped before the close is said.
    membership: Membership,
    /// When the client was last heard from, by any frame: the heartbeat closes a silent socket.
    heard: Instant,
    /// When the current flood window began, and the client's messages in it so far.
    window: Instant,
    messages: u32,
}

impl<T: Transport, A: Audience> Live<T, A> {
    /// The first frames, the loop, then the close. The loop's clocks (silence, flood window,
    /// ping) start once the first frames are out: a long replay to a slow client is not the
    /// client's silence. The first frames and the close are boxed: each runs once.
    async fn run(mut self: Box<Self>, first: Vec<ByteString>) {
        let open = metrics::gauge!("queuecast_sockets_open", "kind" => A::KIND);
        open.increment(1);
        let end = match Box::pin(send_first(&mut self.socket, first)).await {
            Ok(()) => match self.audience.after_first() {
                Some(close::SLOW) => End::Close(close::SLOW, "more to replay; reconnect with since="),
                Some(code) => End::Close(code, "reconnect"),
                None => {
                    (self.heard, self.window) = (Instant::now(), Instant::now());
                    self.serve().await
                }
            },
            Err(end) => end,
        };
        open.decrement(1);
        Box::pin(self.goodbye(end)).await;
    }

    /// Leaves the hub, then says why the server ends the socket, within a deadline; a client
    /// that left is told nothing.
    async fn goodbye(self: Box<Self>, end: End) {
        let Live { socket, membership, .. } = *self;
        drop(membership);
        match end {
            End::Close(code, why) => {
                metrics::counter!("queuecast_sockets_closed_total", "kind" => A::KIND, "reason" => close::name(code))
                    .increment(1);
                let _ = tokio::time::timeout(SEND_DEADLINE, socket.close(code, why)).await;
            }
            End::Gone => {
                let _ = tokio::time::timeout(SEND_DEADLINE, socket.gone()).await;
            }
        }
    }

    /// Waits on everything a socket waits for, one at a time in this one task, until one of
    /// them ends the socket. The hub's frames are what wakes a socket nearly every time: they
    /// are polled first, and the rest (the client, the heartbeat, the credential lapsing,
    /// shutdown) sit behind a gate that polls them only once one of them woke. What rarely
    /// happens is boxed, and so is a delivery's send, so that this future, which lasts as long as
    /// the socket, is only as large as its waits.
    async fn serve(&mut self) -> End {
        let every = self.limits.ping_every;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        // Kept across the loop's turns: a gate's waits must keep their wakers when not polled.
        let mut revoked = std::mem::replace(&mut self.revoked, Box::pin(std::future::pending()));
        let mut closing = std::pin::pin!(self.limits.closing.clone().cancelled_owned());
        let mut gate = Gate::new();
        loop {
            let socket = &mut self.socket;
            let step = tokio::select! {
                biased;
                frame = self.rx.recv() => self.on_hub(frame).await,
                woke = gate.wait(async {
                    tokio::select! {
                        biased;
                        msg = socket.next() => Woke::Client(msg),
                        _ = ping.tick() => Woke::Heartbeat,
                        (code, why) = &mut revoked => Woke::Ended(End::Close(code, why)),
                        () = &mut closing => {
                            Woke::Ended(End::Close(close::SHUTTING_DOWN, "the server is restarting; reconnect"))
                        }
                    }
                }) => match woke {
                    Woke::Client(msg) => Box::pin(self.on_client(msg)).await,
                    Woke::Heartbeat => Box::pin(self.heartbeat()).await,
                    Woke::Ended(end) => Err(end),
                },
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// A frame from the client, or the end of its stream.
    async fn on_client(&mut self, msg: Incoming) -> Result<(), End> {
        self.heard = Instant::now();
        match msg {
            Incoming::Ping(bytes) => {
                within_deadline(self.socket.pong(&bytes), End::Close(close::SLOW, "not reading")).await
            }
            Incoming::Pong => Ok(()),
            Incoming::Text(text) => self.on_text(&text).await,
            Incoming::Binary => Err(End::Close(close::UNKNOWN_MESSAGE, "binary messages are not part of the protocol")),
            Incoming::Ended => Err(End::Gone),
            Incoming::TooBig => Err(End::Close(close::TOO_BIG, "frame too large")),
        }
    }

    /// A message of the protocol: counted against the flood limit first, then answered.
    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        if self.window.elapsed() > FLOOD_WINDOW {
            (self.window, self.messages) = (Instant::now(), 0);
        }
        self.messages += 1;
        if self.messages > FLOOD_LIMIT {
            return Err(End::Close(close::FLOOD, "too many messages"));
        }
        match ClientMessage::parse(text) {
            ClientMessage::Ping => send(&mut self.socket, ByteString::from(ServerMessage::Pong.to_text())).await,
            ClientMessage::Here => {
                self.audience.on_here();
                Ok(())
            }
            ClientMessage::Unknown => Err(End::Close(close::UNKNOWN_MESSAGE, "unknown message")),
        }
    }

    /// A frame from the hub, or word that this socket fell behind it (or that it is gone).
    async fn on_hub(&mut self, frame: Result<Arc<Frame>, RecvError>) -> Result<(), End> {
        match frame {
            Ok(frame) => {
                let next = self.audience.on_frame(&frame).await;
                self.deliver(next).await
            }
            // Lagging need not be the end: the audience starts afresh from the hub as it is now.
            Err(RecvError::Lagged(_)) => {
                metrics::counter!("queuecast_sockets_lagged_total", "kind" => A::KIND).increment(1);
                let next = self.audience.on_lag().await;
                self.deliver(next).await
            }
            Err(RecvError::Closed) => Err(End::Close(close::SHUTTING_DOWN, "reconnect")),
        }
    }

    /// Sends what the audience made of a frame, then closes if it asked to. The send is boxed:
    /// with its deadline's timer it is the largest thing the loop awaits (440 bytes over
    /// tungstenite), and unboxed every socket's future kept room for it all its life. The
    /// allocation per delivery did not show in CPU per delivery (BENCHMARKS.md, "Idle sockets
    /// under 7 KiB").
    async fn deliver(&mut self, (text, then_close): Step) -> Result<(), End> {
        if let Some(text) = text {
            Box::pin(send(&mut self.socket, text)).await?;
        }
        match then_close {
            Some(close::SLOW) => Err(End::Close(close::SLOW, "too slow to keep up; reconnect with since=")),
            Some(code) => Err(End::Close(code, "reconnect")),
            None => Ok(()),
        }
    }

    /// The heartbeat: closes a socket silent for too long, and pings the others.
    async fn heartbeat(&mut self) -> Result<(), End> {
        if self.heard.elapsed() > self.limits.silent_for {
            return Err(End::Close(close::IDLE, "silent for too long"));
        }
        within_deadline(self.socket.ping(), End::Close(close::IDLE, "not answering")).await
    }
}
