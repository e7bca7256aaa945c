//! What each transport of live sockets must do alike, and what the default one (actix-http's
//! upgrade hook, then tungstenite on the bare connection) must do that actix-http did for it:
//! the frame limit, answers to handshakes that open nothing, the connection limit and the drain.
//! (The rest of the suite runs over either: `WS_TRANSPORT=actix-ws scripts/test`.)

use crate::common;

use std::time::Duration;

use common::{spawn_app_with, WsEvent};
use futures_util::SinkExt;
use queuecast::ws::WsTransport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const BOTH: [WsTransport; 2] = [WsTransport::Tungstenite, WsTransport::ActixWs];

/// Sends `request` on a connection of its own and reads the answer until the server hangs up:
/// the status, the headers (names lower-cased) and the body. Panics if the server keeps the
/// connection open past 5 s.
async fn raw(base: &str, request: &str) -> (u16, Vec<(String, String)>, String) {
    let mut tcp = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection after its answer")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A WebSocket handshake for `path`, as a browser sends it.
fn handshake(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transport_takes_frames_up_to_4_kib_and_closes_on_a_larger_one_with_4413() {
    for transport in BOTH {
        // Arrange
        let app = spawn_app_with(|s| s.ws_transport = transport).await;
        let (ticket, token) = app.joined(app.queue).await;
        let path = format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap());

        // Act + Assert: 4,096 bytes are read (and are no message of the protocol: 4400)…
        let mut ws = app.ws(&path).await;
        assert_eq!(ws.json().await["type"], "ticket", "{transport:?}");
        ws.send(" ".repeat(4096)).await;
        assert_eq!(ws.closed().await, 4400, "{transport:?}");

        // …4,097 are not, in one frame or in two.
        let mut ws = app.ws(&path).await;
        ws.json().await;
        ws.send(" ".repeat(4097)).await;
        assert_eq!(ws.closed().await, 4413, "{transport:?}");

        let mut ws = app.ws(&path).await;
        ws.json().await;
        let stream = ws.stream_mut();
        let first = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
            " ".repeat(3000),
            tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
            ),
            false,
        );
        let rest = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
            " ".repeat(3000),
            tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Continue,
            ),
            true,
        );
        stream.send(Message::Frame(first)).await.unwrap();
        stream.send(Message::Frame(rest)).await.unwrap();
        assert_eq!(ws.closed().await, 4413, "{transport:?}: a message in two frames");

        // A ping is still a ping on either.
        let mut ws = app.ws(&path).await;
        ws.json().await;
        ws.send(serde_json::json!({"type": "ping"}).to_string()).await;
        assert_eq!(ws.json().await, serde_json::json!({"type": "pong"}), "{transport:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_opens_no_socket_is_answered_and_its_connection_closed() {
    for transport in BOTH {
        // Arrange
        let app = spawn_app_with(|s| s.ws_transport = transport).await;

        // Act: a handshake where no socket is, and a plain GET where one is.
        let (nowhere, nowhere_headers, body) = raw(&app.base, &handshake("/ws/nowhere")).await;
        let plain =
            format!("GET /ws/queues/{}?pass=x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", app.queue);
        let (not_upgraded, _, _) = raw(&app.base, &plain).await;

        // Assert
        assert_eq!(nowhere, 404, "{transport:?}");
        assert_eq!(header(&nowhere_headers, "content-type"), Some("application/problem+json"), "{transport:?}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"], "not_found", "{transport:?}");
        assert_eq!(not_upgraded, 400, "{transport:?}");
    }

    // Over the upgrade hook, a handshake anywhere else is answered the same, and the connection
    // ends with the answer (what follows a handshake on it is not HTTP).
    let app = spawn_app_with(|s| s.ws_transport = WsTransport::Tungstenite).await;
    let (status, headers, _) = raw(&app.base, &handshake("/api/v1/queues")).await;
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "connection"), Some("close"));
    // And the staff socket's Origin check answers before upgrading, as it does without the hook.
    let pass = app.pass(&app.admin).await;
    let evil = handshake(&format!("/ws/queues/{}?pass={pass}", app.queue))
        .replace("Host: localhost\r\n", "Host: localhost\r\nOrigin: http://evil.example\r\n");
    let (status, headers, _) = raw(&app.base, &evil).await;
    assert_eq!(status, 403);
    assert_eq!(header(&headers, "connection"), Some("close"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transport_counts_a_socket_as_a_connection_and_drains_it_when_stopping() {
    for transport in BOTH {
        // Arrange: a node with one worker that holds one connection at a time.
        let app = spawn_app_with(|s| s.ws_transport = transport).await;
        let (base, stopper) = app
            .node(|s| {
                s.ws_transport = transport;
                s.workers = Some(1);
                s.max_connections_per_worker = 1;
            })
            .await;
        let node = app.on(&base);
        let (ticket, token) = app.joined(app.queue).await;
        let path = format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap());
        let fresh = || reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_millis(1500));

        // Act + Assert: while the socket is open the worker takes no other connection…
        let mut ws = node.ws(&path).await;
        assert_eq!(ws.json().await["type"], "ticket", "{transport:?}");
        let waiting = fresh().build().unwrap().get(format!("{base}/healthz")).send().await;
        assert!(waiting.is_err(), "{transport:?}: served while the socket held the only connection");

        // …and once it closes, it does.
        ws.stream_mut().close(None).await.unwrap();
        while !matches!(ws.next().await, WsEvent::Closed(_)) {}
        let mut served = None;
        for _ in 0..10 {
            if let Ok(res) = fresh().build().unwrap().get(format!("{base}/healthz")).send().await {
                served = Some(res.status().as_u16());
                break;
            }
        }
        assert_eq!(served, Some(200), "{transport:?}");

        // Stopping waits for the sockets: by the time it returns, each was told to reconnect.
        let mut ws = node.ws(&path).await;
        ws.json().await;
        tokio::time::timeout(Duration::from_secs(10), stopper.stop()).await.expect("the node stopped");
        let told = tokio::time::timeout(Duration::from_millis(200), ws.closed()).await;
        assert_eq!(told.ok(), Some(4000), "{transport:?}");
    }
}
