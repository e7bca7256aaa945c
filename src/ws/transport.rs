//! The seam between a socket's session and the connection under it: what the session sends
//! (text, pings, a close with its code) and what it hears (`Incoming`). Two transports implement
//! it: tungstenite over the connection actix-http hands over (`upgrade.rs`, the default) and
//! actix-ws over actix-http's dispatcher (`WS_TRANSPORT=actix-ws`), so the session's rules
//! (deadlines, flood limit, heartbeat, close codes) are written once and hold for both.

use bytes::Bytes;
use bytestring::ByteString;
use futures_util::StreamExt;

use super::close;

/// Which transport serves live sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum WsTransport {
    /// actix-http hands the upgraded connection over whole (its `upgrade` hook) and the socket
    /// runs on it with tungstenite, in the connection's task: ~4 KiB a socket, one wake-up per
    /// frame.
    #[default]
    Tungstenite,
    /// actix-ws: the socket is a streaming response of actix-http's dispatcher, which keeps its
    /// two 8 KiB buffers and a second task per socket (BENCHMARKS.md).
    ActixWs,
}

/// The client is gone: nothing more can be sent.
#[derive(Debug)]
pub struct Gone;

/// What the client sent, as the session understands it.
#[derive(Debug)]
pub enum Incoming {
    Text(ByteString),
    Binary,
    Ping(Bytes),
    Pong,
    /// A frame or message over the size limit (`MAX_FRAME`).
    TooBig,
    /// The client closed, or the connection ended or broke.
    Ended,
}

/// A socket's connection, as the session uses it. Sends complete once the transport took the
/// frame (the session puts a deadline on each); `next` is cancel-safe, as `select!` needs.
#[allow(async_fn_in_trait)] // used within the crate, never as `dyn`
pub trait Transport {
    async fn text(&mut self, text: ByteString) -> Result<(), Gone>;
    async fn ping(&mut self) -> Result<(), Gone>;
    /// Answers the client's ping.
    async fn pong(&mut self, bytes: &[u8]) -> Result<(), Gone>;
    /// The next thing the client sent.
    async fn next(&mut self) -> Incoming;
    /// Says why the server ends the socket, and lets go of the connection.
    async fn close(self, code: u16, why: &str);
    /// Lets go of the connection of a client that left (or broke).
    async fn gone(self);
}

/// actix-ws: the session's sends go through a channel to actix-http's dispatcher task.
pub struct ActixWs {
    pub session: actix_ws::Session,
    pub stream: actix_ws::AggregatedMessageStream,
}

impl Transport for ActixWs {
    async fn text(&mut self, text: ByteString) -> Result<(), Gone> {
        self.session.text(text).await.map_err(|_closed| Gone)
    }

    async fn ping(&mut self) -> Result<(), Gone> {
        self.session.ping(b"").await.map_err(|_closed| Gone)
    }

    async fn pong(&mut self, bytes: &[u8]) -> Result<(), Gone> {
        self.session.pong(bytes).await.map_err(|_closed| Gone)
    }

    async fn next(&mut self) -> Incoming {
        use actix_ws::{AggregatedMessage, ProtocolError};
        match self.stream.next().await {
            Some(Ok(AggregatedMessage::Text(text))) => Incoming::Text(text),
            Some(Ok(AggregatedMessage::Binary(_))) => Incoming::Binary,
            Some(Ok(AggregatedMessage::Ping(bytes))) => Incoming::Ping(bytes),
            Some(Ok(AggregatedMessage::Pong(_))) => Incoming::Pong,
            Some(Err(ProtocolError::Overflow)) => Incoming::TooBig,
            // A message over the limit in several frames: actix-ws tells it only in words.
            Some(Err(ProtocolError::Io(e))) if e.to_string() == "Exceeded maximum continuation size" => {
                Incoming::TooBig
            }
            Some(Ok(AggregatedMessage::Close(_)) | Err(_)) | None => Incoming::Ended,
        }
    }

    async fn close(self, code: u16, why: &str) {
        let _ = self.session.close(Some(close::reason(code, why))).await;
    }

    /// Dropping the session ends the response, and so the connection.
    async fn gone(self) {}
}
