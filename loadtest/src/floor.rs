//! The floor: the least a WebSocket broadcast server can do on this machine, to measure Queuecast
//! against. Plain tokio and tungstenite, no HTTP API, no database: a client of `/q/{n}` is put in
//! line in queue `n`; a staff socket (`/staff`) sends `call {n}`, and every client of queue `n`
//! gets a frame shaped and sized like Queuecast's customer frame, with its own new position,
//! serialized per client as Queuecast does. The staff socket is answered `{"seq":S}`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

struct Queue {
    calls: broadcast::Sender<i64>,
    seq: AtomicI64,
    joined: AtomicU64,
}

#[derive(Default)]
struct Floor {
    queues: DashMap<u32, Arc<Queue>>,
}

impl Floor {
    fn queue(&self, n: u32) -> Arc<Queue> {
        self.queues
            .entry(n)
            .or_insert_with(|| {
                Arc::new(Queue { calls: broadcast::channel(1024).0, seq: AtomicI64::new(0), joined: AtomicU64::new(0) })
            })
            .clone()
    }
}

/// Serves until killed; prints `listening on ADDR` first.
pub async fn serve(listen: &str) -> anyhow::Result<()> {
    crate::api::ensure_loopback(&format!("http://{listen}"))?;
    let listener = TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    serve_on(listener).await
}

/// Serves on a bound listener until the task is dropped.
pub async fn serve_on(listener: TcpListener) -> anyhow::Result<()> {
    let floor = Arc::new(Floor::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let floor = floor.clone();
        tokio::spawn(async move {
            stream.set_nodelay(true).ok();
            let mut path = String::new();
            #[allow(clippy::result_large_err)] // tungstenite's handshake callback type
            let grab = |req: &Request, resp: Response| {
                path = req.uri().path().to_owned();
                Ok(resp)
            };
            let config = Some(crate::worker::small_buffers());
            let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(stream, grab, config).await else { return };
            if path == "/staff" {
                staff(ws, floor).await;
            } else if let Some(n) = path.strip_prefix("/q/").and_then(|n| n.parse().ok()) {
                customer(ws, floor.queue(n), n).await;
            }
        });
    }
}

async fn staff(mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, floor: Arc<Floor>) {
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let Some(n) = text.strip_prefix("call ").and_then(|n| n.trim().parse().ok()) else { continue };
        let queue = floor.queue(n);
        let seq = queue.seq.fetch_add(1, Ordering::SeqCst) + 1;
        queue.calls.send(seq).ok();
        if ws.send(Message::text(format!("{{\"seq\":{seq}}}"))).await.is_err() {
            return;
        }
    }
}

async fn customer(ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, queue: Arc<Queue>, n: u32) {
    let place = queue.joined.fetch_add(1, Ordering::SeqCst) as i64 + 1;
    let mut calls = queue.calls.subscribe();
    let called = queue.seq.load(Ordering::SeqCst);
    let (mut tx, mut rx) = ws.split();
    let id = format!("00000000-0000-4000-8000-{:012x}", (n as u64) << 32 | place as u64);
    let frame = |seq: i64| {
        let position = (place - seq).max(1);
        let eta = position * 180;
        format!(
            "{{\"type\":\"ticket\",\"ticket\":{{\"id\":\"{id}\",\"queue_id\":\"00000000-0000-4000-8000-{n:012x}\",\
             \"number\":\"A{place:03}\",\"status\":\"waiting\",\"position\":{position},\"eta_seconds\":{eta},\
             \"eta_p90_seconds\":{},\"counter\":null,\"joined_at\":\"2026-11-23T12:00:00Z\",\"called_at\":null,\
             \"seq\":{seq}}}}}",
            eta * 2
        )
    };
    if tx.send(Message::text(frame(called))).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            call = calls.recv() => match call {
                Ok(seq) => if tx.send(Message::text(frame(seq))).await.is_err() { return },
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            msg = rx.next() => match msg {
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}
