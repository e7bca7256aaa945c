//! Live sockets off actix-http's dispatcher (the default transport).
//!
//! actix-http hands every request with `Upgrade: websocket` (on any path) to the server's upgrade
//! hook with its connection, and drops its own per-connection state: two 8 KiB buffers that
//! would otherwise live as long as the socket. The hook (`Hook`) asks a small actix-web App with
//! the `/ws` routes and the same middleware as the main one to answer the request, so routing,
//! the Origin check, the access log and metrics are unchanged; a handler that accepts the
//! handshake puts the socket's session in the 101 answer (`respond`). The hook writes the answer
//! itself and runs the session right there, in the connection's own task, over tungstenite on the
//! bare connection (`Tungstenite`): actix-server keeps counting it as a connection, so its limit
//! and the graceful drain hold for sockets as for requests. Any other answer (403, 404, 400) is
//! written with `Connection: close`.

use std::convert::Infallible;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use actix_codec::Framed;
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::{ConnectionType, Request, Response, StatusCode};
use actix_service::{Service, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceResponse};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::future::LocalBoxFuture;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::session::MAX_FRAME;
use super::transport::{Gone, Incoming, Transport};

/// tungstenite's read buffer, allocated up front (128 KiB unless told): clients send a ping or a
/// "here" now and then (tens of bytes), and a frame larger than this (up to `MAX_FRAME`) grows
/// it while it is read.
const READ_BUFFER: usize = 256;
/// Most bytes a socket's write buffer may hold. Each send waits for its frame to reach the
/// kernel (within the session's deadline), so this only has to fit the largest frame: a staff
/// snapshot (under 100 KB) or a replayed event.
const MAX_WRITE_BUFFER: usize = 1 << 20;
/// How long a closing socket waits for the client to hang up once the close frame is out, and
/// how much it reads meanwhile: closing a connection with unread bytes makes the kernel reset it,
/// and a reset can destroy the close frame (its code) before the client reads it.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// The longest an answer that is not an upgrade may take to write.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// The socket a handler accepted, waiting in its 101 answer for the hook to run it.
struct Pending(Box<dyn FnOnce(Tungstenite) -> LocalBoxFuture<'static, ()>>);

/// The 101 answer to a WebSocket handshake, carrying `open`: what the hook runs on the
/// connection once the answer is written.
pub fn respond<F>(
    req: &HttpRequest,
    open: impl FnOnce(Tungstenite) -> F + 'static,
) -> Result<HttpResponse, actix_http::ws::HandshakeError>
where
    F: Future<Output = ()> + 'static,
{
    let answer = actix_http::ws::handshake(req.head())?.finish();
    let mut answer = HttpResponse::from(answer).map_into_boxed_body();
    answer.extensions_mut().insert(Pending(Box::new(move |io| Box::pin(open(io)))));
    Ok(answer)
}

/// The upgrade hook's factory: one `Upgrades` per worker, over that worker's own instance of
/// `app` (the `/ws` routes and their middleware).
pub struct Hook<S> {
    app: S,
    config: AppConfig,
}

impl<S> Hook<S> {
    pub fn new(app: S, config: AppConfig) -> Self {
        Hook { app, config }
    }
}

impl<S, B> ServiceFactory<(Request, Framed<TcpStream, Codec>)> for Hook<S>
where
    S: ServiceFactory<Request, Config = AppConfig, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Service: 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ();
    type Error = Infallible;
    type Config = ();
    type Service = Upgrades<S::Service>;
    type InitError = S::InitError;
    type Future = LocalBoxFuture<'static, Result<Self::Service, Self::InitError>>;

    fn new_service(&self, _: ()) -> Self::Future {
        let app = self.app.new_service(self.config.clone());
        Box::pin(async move { Ok(Upgrades { app: Rc::new(app.await?) }) })
    }
}

/// The upgrade hook of one worker. It never fails: an `Err` here would only be logged by
/// actix-http, with nothing written to the client, so every outcome is answered in `serve`.
pub struct Upgrades<S> {
    app: Rc<S>,
}

impl<S, B> Service<(Request, Framed<TcpStream, Codec>)> for Upgrades<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ();
    type Error = Infallible;
    type Future = LocalBoxFuture<'static, Result<(), Infallible>>;

    actix_service::always_ready!();

    /// The handshake is a boxed step of its own, freed once the socket is open: a future keeps
    /// its arguments and captures for as long as it runs, and the request, the codec and the
    /// App's answer took ~1.6 KB that every socket kept for its life.
    fn call(&self, (req, framed): (Request, Framed<TcpStream, Codec>)) -> Self::Future {
        let handshake = Box::pin(handshake(self.app.clone(), req, framed));
        Box::pin(async move {
            if let Some(session) = handshake.await {
                session.await;
            }
            Ok(())
        })
    }
}

/// Has the App answer the request: the session of the socket it accepted, on its connection,
/// ready to run; or its other answer written, and None.
async fn handshake<S, B>(
    app: Rc<S>,
    req: Request,
    mut framed: Framed<TcpStream, Codec>,
) -> Option<LocalBoxFuture<'static, ()>>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let answer = match app.call(req).await {
        Ok(res) => Response::from(res).map_into_boxed_body(),
        Err(err) => Response::from(err),
    };
    let (mut head, body) = answer.into_parts();
    let pending = head.extensions_mut().remove::<Pending>();
    let Some(Pending(open)) = pending.filter(|_| head.status() == StatusCode::SWITCHING_PROTOCOLS) else {
        let _ = tokio::time::timeout(ANSWER_DEADLINE, answer_and_close(framed, head, body)).await;
        return None;
    };
    let written = tokio::time::timeout(ANSWER_DEADLINE, framed.send(Message::Item((head, BodySize::None)))).await;
    if !matches!(written, Ok(Ok(()))) {
        return None;
    }
    // Only the connection and the bytes read past the handshake (rarely any) leave this block:
    // the codec and its two 8 KiB buffers are dropped at its end.
    let (io, read) = {
        let parts = framed.into_parts();
        (parts.io, parts.read_buf.to_vec())
    };
    let ws = WebSocketStream::from_partially_read(io, read, Role::Server, Some(config())).await;
    Some(open(Tungstenite { ws }))
}

/// How tungstenite frames a socket: a small read buffer, frames written as they are sent, and
/// the protocol's size limit on what clients send.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
}

/// Writes an answer that is not an upgrade, then closes the connection (the request's
/// `Upgrade` header makes whatever follows it on the connection unreadable as HTTP).
async fn answer_and_close(mut framed: Framed<TcpStream, Codec>, mut head: Response<()>, body: BoxBody) {
    head.head_mut().set_connection_type(ConnectionType::Close);
    // Problem documents are small; a body that cannot be read whole is left out.
    let body = actix_http::body::to_bytes_limited(body, 64 * 1024).await.ok().and_then(Result::ok).unwrap_or_default();
    let size = BodySize::Sized(body.len() as u64);
    if framed.send(Message::Item((head, size))).await.is_ok() && !body.is_empty() {
        let _ = framed.send(Message::Chunk(Some(body))).await;
    }
    let _ = framed.close().await;
}

/// A socket on the bare connection, framed by tungstenite: a send is written to the kernel by
/// the session's own task, with no channel or second task in between.
pub struct Tungstenite {
    ws: WebSocketStream<TcpStream>,
}

impl Transport for Tungstenite {
    async fn text(&mut self, text: ByteString) -> Result<(), Gone> {
        // A ByteString is UTF-8 already; the check is a pass over a few hundred bytes.
        let text = Utf8Bytes::try_from(text.into_bytes()).map_err(|_| Gone)?;
        self.ws.send(tungstenite::Message::Text(text)).await.map_err(|_| Gone)
    }

    async fn ping(&mut self) -> Result<(), Gone> {
        self.ws.send(tungstenite::Message::Ping(Bytes::new())).await.map_err(|_| Gone)
    }

    /// tungstenite queued the answer when it read the ping: this writes it out.
    async fn pong(&mut self, _: &[u8]) -> Result<(), Gone> {
        self.ws.flush().await.map_err(|_| Gone)
    }

    async fn next(&mut self) -> Incoming {
        use tungstenite::error::{CapacityError, Error};
        match self.ws.next().await {
            Some(Ok(tungstenite::Message::Text(text))) => match ByteString::try_from(Bytes::from(text)) {
                Ok(text) => Incoming::Text(text),
                Err(_) => Incoming::Ended, // tungstenite checked it is UTF-8: cannot happen
            },
            Some(Ok(tungstenite::Message::Binary(_))) => Incoming::Binary,
            Some(Ok(tungstenite::Message::Ping(bytes))) => Incoming::Ping(bytes),
            // A raw frame is never read, only written.
            Some(Ok(tungstenite::Message::Pong(_) | tungstenite::Message::Frame(_))) => Incoming::Pong,
            Some(Err(Error::Capacity(CapacityError::MessageTooLong { .. }))) => Incoming::TooBig,
            Some(Ok(tungstenite::Message::Close(_)) | Err(_)) | None => Incoming::Ended,
        }
    }

    async fn close(mut self, code: u16, why: &str) {
        let frame = CloseFrame { code: CloseCode::from(code), reason: why.into() };
        if self.ws.close(Some(frame)).await.is_ok() {
            linger(self.ws.get_mut()).await;
        }
    }

    /// Writes the answer to the client's close frame, if it sent one, before hanging up.
    async fn gone(mut self) {
        let _ = self.ws.flush().await;
    }
}

/// Half-closes the connection and reads (and drops) what the client still sends until it hangs
/// up too, for a bounded time and amount.
async fn linger(io: &mut TcpStream) {
    let _ = io.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 1024];
        let mut read = 0;
        while read < LINGER_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
