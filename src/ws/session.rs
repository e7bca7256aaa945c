//! The life of one socket: a single `select!` over the client's frames, the hub's frames, the
//! heartbeat tick and shutdown. Nothing shared is held while awaiting a send, and every send has
//! a deadline, so one stalled client never slows the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session};
use bytestring::ByteString;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::close;
use super::message::ClientMessage;
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
const SEND_DEADLINE: Duration = Duration::from_secs(5);
/// Incoming frames larger than this close the socket.
pub const MAX_FRAME: usize = 4 * 1024;
/// Client messages allowed per window before the socket is closed as a flood.
const FLOOD_LIMIT: u32 = 30;
const FLOOD_WINDOW: Duration = Duration::from_secs(10);

/// What an audience makes of the hub's frames.
pub trait Audience: Send + 'static {
    /// `customer`, `staff` or `display`, as metrics label sockets.
    const KIND: &'static str;
    /// The text to send for this frame, if any; or a close code to end with after sending it.
    fn on_frame(&mut self, frame: &Frame) -> (Option<ByteString>, Option<u16>);
    /// A fresh start after falling behind the broadcast.
    fn on_lag(&mut self) -> Option<ByteString>;
}

/// Why the loop ended, and so how to close.
enum End {
    Close(u16, &'static str),
    Gone,
}

async fn send(session: &mut Session, text: ByteString) -> Result<(), End> {
    within_deadline(session.text(text), End::Close(close::SLOW, "too slow to keep up; reconnect with since=")).await
}

/// Every write to the client has a deadline: a write to a client that stopped reading never
/// completes (the session's flush waits on it), and would hold the socket forever.
async fn within_deadline(
    write: impl std::future::Future<Output = Result<(), actix_ws::Closed>>,
    late: End,
) -> Result<(), End> {
    match tokio::time::timeout(SEND_DEADLINE, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_closed)) => Err(End::Gone),
        Err(_late) => Err(late),
    }
}

/// Where a socket starts: its place in the hub, its subscription, and what to send first.
pub struct Start {
    pub membership: Membership,
    pub rx: broadcast::Receiver<Arc<Frame>>,
    pub first: Vec<ByteString>,
}

/// Runs a socket until it ends. `first` is sent before anything else; when `revoked` completes
/// (the credential that opened the socket expired or was withdrawn), the socket closes with
/// 4401 and its reason.
pub async fn run<A: Audience>(
    mut session: Session,
    mut stream: AggregatedMessageStream,
    start: Start,
    mut audience: A,
    limits: Limits,
    revoked: impl std::future::Future<Output = &'static str> + Send,
) {
    let Limits { ping_every, silent_for, closing } = limits;
    let Start { membership, mut rx, first } = start;
    let open = metrics::gauge!("queuecast_sockets_open", "kind" => A::KIND);
    open.increment(1);
    let end = async {
        tokio::pin!(revoked);
        for text in first {
            send(&mut session, text).await?;
        }
        let mut heard = Instant::now();
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let (mut window, mut messages) = (Instant::now(), 0u32);
        loop {
            tokio::select! {
                msg = stream.next() => {
                    heard = Instant::now();
                    match msg {
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            within_deadline(session.pong(&bytes), End::Close(close::SLOW, "not reading")).await?;
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            if window.elapsed() > FLOOD_WINDOW {
                                (window, messages) = (Instant::now(), 0);
                            }
                            messages += 1;
                            if messages > FLOOD_LIMIT {
                                return Err(End::Close(close::FLOOD, "too many messages"));
                            }
                            match ClientMessage::parse(&text) {
                                ClientMessage::Ping => {
                                    send(&mut session, ByteString::from(ServerMessage::Pong.to_text())).await?;
                                }
                                ClientMessage::Unknown => {
                                    return Err(End::Close(close::UNKNOWN_MESSAGE, "unknown message"));
                                }
                            }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            return Err(End::Close(close::UNKNOWN_MESSAGE, "binary messages are not part of the protocol"));
                        }
                        Some(Ok(AggregatedMessage::Close(_))) | None => return Err(End::Gone),
                        Some(Err(actix_ws::ProtocolError::Overflow)) => {
                            return Err(End::Close(close::TOO_BIG, "frame too large"));
                        }
                        Some(Err(_)) => return Err(End::Gone),
                    }
                }
                frame = rx.recv() => match frame {
                    Ok(frame) => {
                        let (text, then_close) = audience.on_frame(&frame);
                        if let Some(text) = text {
                            send(&mut session, text).await?;
                        }
                        if let Some(code) = then_close {
                            return Err(End::Close(code, "reconnect"));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        metrics::counter!("queuecast_sockets_lagged_total", "kind" => A::KIND).increment(1);
                        if let Some(text) = audience.on_lag() {
                            send(&mut session, text).await?;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(End::Close(close::SHUTTING_DOWN, "reconnect"));
                    }
                },
                _ = ping.tick() => {
                    if heard.elapsed() > silent_for {
                        return Err(End::Close(close::IDLE, "silent for too long"));
                    }
                    within_deadline(session.ping(b""), End::Close(close::IDLE, "not answering")).await?;
                }
                why = &mut revoked => return Err(End::Close(close::UNAUTHORIZED, why)),
                _ = closing.cancelled() => {
                    return Err(End::Close(close::SHUTTING_DOWN, "the server is restarting; reconnect"));
                }
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), End>(())
    }
    .await;
    drop(membership);
    open.decrement(1);
    if let Err(End::Close(code, why)) = end {
        metrics::counter!("queuecast_sockets_closed_total", "kind" => A::KIND, "reason" => close::name(code))
            .increment(1);
        let _ = tokio::time::timeout(SEND_DEADLINE, session.close(Some(close::reason(code, why)))).await;
    }
}
