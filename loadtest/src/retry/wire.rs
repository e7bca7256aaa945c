//! A keyed join over one kept-alive HTTP/1.1 connection, written and read by hand: the storm's
//! customers send thousands of joins a second from the cores the node runs on, and a general
//! client (reqwest over hyper, its pool behind a lock, a task per request) cost the generator
//! more than half a core at 2× capacity. A connection answers one join at a time; a timeout or
//! any fault drops it (a phone that gives up on a request abandons its connection), and the next
//! join opens a new one.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::JoinAnswer;

/// Where answers are read into; an answer larger than this is refused as an error.
const MAX_ANSWER: usize = 64 * 1024;

/// One customer's connection to the node (or none yet).
pub(crate) struct Wire {
    addr: SocketAddr,
    /// `Host` header value.
    host: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Wire {
    /// `base`: `http://127.0.0.1:port` (loopback, checked by the caller's `Api`).
    pub(crate) fn new(base: &str) -> anyhow::Result<Wire> {
        let url = reqwest::Url::parse(base)?;
        let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let addr: SocketAddr = format!("{host}:{port}").parse()?;
        Ok(Wire { addr, host: format!("{host}:{port}"), stream: None, buf: Vec::with_capacity(1024) })
    }

    /// Joins `queue` with `key` (the body `{"name": key}`), giving up after `timeout`.
    pub(crate) async fn join(&mut self, queue: &str, key: &str, timeout: Duration) -> JoinAnswer {
        match tokio::time::timeout(timeout, self.exchange(queue, key)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                self.stream = None;
                JoinAnswer { error: Some(format!("join: no answer: {e}")), ..JoinAnswer::default() }
            }
            Err(_) => {
                self.stream = None;
                JoinAnswer { timed_out: true, error: Some("join: timed out".into()), ..JoinAnswer::default() }
            }
        }
    }

    async fn exchange(&mut self, queue: &str, key: &str) -> anyhow::Result<JoinAnswer> {
        let body = serde_json::json!({ "name": key }).to_string();
        let request = format!(
            "POST /api/v1/queues/{queue}/tickets HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Idempotency-Key: {key}\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                self.stream.insert(stream)
            }
        };
        stream.write_all(request.as_bytes()).await?;
        let (head, body) = read_answer(stream, &mut self.buf).await?;
        if head.close {
            self.stream = None;
        }
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        Ok(JoinAnswer::answered(head.status, head.replayed, head.retry_after, &body))
    }
}

/// What an answer's head says.
struct Head {
    status: u16,
    /// The server closes the connection after it.
    close: bool,
    /// It answers an earlier request with the same key (`Idempotent-Replayed`).
    replayed: bool,
    retry_after: Option<Duration>,
}

/// Reads one answer with a `Content-Length` body: its head and its body.
async fn read_answer<'b>(stream: &mut TcpStream, buf: &'b mut Vec<u8>) -> anyhow::Result<(Head, &'b [u8])> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        anyhow::ensure!(buf.len() < MAX_ANSWER, "an answer's head over {MAX_ANSWER} bytes");
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the connection closed before an answer");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line"))?;
    let mut head = Head { status, close: false, replayed: false, retry_after: None };
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "connection" => head.close = value.eq_ignore_ascii_case("close"),
            "idempotent-replayed" => head.replayed = value == "true",
            "retry-after" => head.retry_after = value.parse().ok().map(Duration::from_secs),
            "transfer-encoding" => anyhow::bail!("a chunked answer"),
            _ => {}
        }
    }
    let length = length.ok_or_else(|| anyhow::anyhow!("an answer without Content-Length"))?;
    anyhow::ensure!(length <= MAX_ANSWER, "an answer over {MAX_ANSWER} bytes");
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the connection closed inside an answer");
        buf.extend_from_slice(&chunk[..n]);
    }
    anyhow::ensure!(buf.len() == head_end + length, "more bytes than one answer");
    Ok((head, &buf[head_end..head_end + length]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
