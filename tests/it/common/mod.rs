//! `spawn_app()`: a Queuecast server on a random port over a fresh database of its own, with a
//! tenant (`acme`), its admin signed in and an open queue. The database is a copy of a migrated
//! template (built once per migration set) and is dropped when the `TestApp` is.

#![allow(dead_code)]

pub mod browser;
pub mod clock;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use queuecast::config::Settings;
use queuecast::startup::{Application, Stopper};
use queuecast::store::{JoinRequest, NewTenant, Store, StoreSettings};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

pub const ADMIN_EMAIL: &str = "admin@acme.test";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    /// The URL of this test's own database (connects as the owner).
    pub db_url: String,
    db_name: String,
    server_url: String,
    /// The acme admin's bearer token.
    pub admin: String,
    /// An open queue of acme (`main`, prefix A).
    pub queue: Uuid,
    /// Every node of this test (the first and those of `node()`), halted before the database is
    /// dropped.
    nodes: Arc<Mutex<Vec<Stopper>>>,
}

/// A response: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
}

impl Reply {
    /// The problem `code`, for error replies.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected reply: {:?}", self.body);
        self.body
    }

    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "unexpected reply: {:?}", self.body);
        assert_eq!(self.code(), code, "unexpected problem: {:?}", self.body);
        assert_eq!(self.content_type, "application/problem+json");
    }
}

fn server_url() -> String {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL is not set: run the tests with scripts/test");
    // The server part of the URL: everything before the database name.
    let (server, _db) = url.rsplit_once('/').expect("DATABASE_URL names a database");
    server.to_owned()
}

/// The template database for the current migrations, created (once, under a lock) if missing.
async fn template(server: &str) -> String {
    let mut h = Sha256::new();
    for m in sqlx::migrate!("./migrations").iter() {
        h.update(&m.checksum);
    }
    let name = format!("queuecast_tpl_{}", &hex(&h.finalize())[..12]);
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await.expect("connecting to PostgreSQL");
    admin.execute("SELECT pg_advisory_lock(727274)").await.unwrap();
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
    if exists.is_none() {
        let building = format!("{name}_building");
        admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {building}"))).await.unwrap();
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {building}"))).await.unwrap();
        queuecast::store::migrate(&format!("{server}/{building}")).await.expect("migrating the template");
        admin.execute(sqlx::AssertSqlSafe(format!("ALTER DATABASE {building} RENAME TO {name}"))).await.unwrap();
    }
    admin.execute("SELECT pg_advisory_unlock(727274)").await.unwrap();
    admin.close().await.ok();
    name
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sockets' transport of test servers: the default, or `WS_TRANSPORT` (`actix-ws`), so the
/// whole suite runs over either.
pub fn ws_transport() -> queuecast::ws::WsTransport {
    use clap::ValueEnum;
    match std::env::var("WS_TRANSPORT") {
        Ok(name) => queuecast::ws::WsTransport::from_str(&name, true).expect("WS_TRANSPORT: tungstenite or actix-ws"),
        Err(_) => queuecast::ws::WsTransport::default(),
    }
}

/// A server over a fresh database, with the `acme` tenant and its admin signed in.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_at(&server_url(), tweak).await
}

/// A server over a fresh database of the PostgreSQL server at `server` (a URL without database
/// name, e.g. a private cluster a test restarts).
pub async fn spawn_app_at(server: &str, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    // TEST_LOG=1 shows the server's logs (e.g. `TEST_LOG=1 cargo nextest run --no-capture NAME`).
    if std::env::var_os("TEST_LOG").is_some() {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let server = server.to_owned();
    let template = template(&server).await;
    let db_name = format!("qc_test_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name} TEMPLATE {template}")))
        .await
        .expect("creating the test database");
    admin.close().await.ok();
    let db_url = format!("{server}/{db_name}");

    let mut settings = Settings::new("127.0.0.1:0", db_url.clone());
    settings.redis_url = std::env::var("REDIS_URL").ok();
    settings.workers = Some(2);
    settings.store = StoreSettings { pool_size: 8, ..StoreSettings::default() };
    // Tests' webhook receivers listen on loopback (WEBHOOKS_ALLOW_PRIVATE=1).
    settings.webhooks.allow_private = true;
    settings.ws_transport = ws_transport();
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("building the app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.store().clone();
    let nodes = Arc::new(Mutex::new(vec![app.stopper()]));
    tokio::spawn(app.run_until_stopped());

    store
        .create_tenant(NewTenant {
            slug: "acme".into(),
            name: "Acme".into(),
            admin_email: ADMIN_EMAIL.into(),
            admin_password: PASSWORD.into(),
        })
        .await
        .expect("creating the tenant");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut app = TestApp {
        base,
        http,
        store,
        db_url,
        db_name,
        server_url: server,
        admin: String::new(),
        queue: Uuid::nil(),
        nodes,
    };
    app.admin = app.login("acme", ADMIN_EMAIL, PASSWORD).await;
    app.queue = app.create_queue(&app.admin.clone(), "main", json!({"prefix": "A"})).await;
    app
}

impl TestApp {
    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        into_reply(req.send().await.expect("sending a request")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    /// Signs in; panics on failure.
    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> String {
        let body = self
            .post("/api/v1/auth/login", None, json!({"tenant": tenant, "email": email, "password": password}))
            .await
            .expect(200);
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a queue with `extra` fields (prefix, capacity, ticket_type…); returns its id.
    pub async fn create_queue(&self, token: &str, slug: &str, extra: Value) -> Uuid {
        let mut body = json!({"slug": slug, "name": format!("Queue {slug}")});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let q = self.post("/api/v1/queues", Some(token), body).await.expect(201);
        q["id"].as_str().unwrap().parse().unwrap()
    }

    /// A new tenant with an admin and one queue: (admin token, queue id).
    pub async fn new_tenant(&self, slug: &str) -> (String, Uuid) {
        let email = format!("admin@{slug}.test");
        self.store
            .create_tenant(NewTenant {
                slug: slug.into(),
                name: slug.into(),
                admin_email: email.clone(),
                admin_password: PASSWORD.into(),
            })
            .await
            .unwrap();
        let token = self.login(slug, &email, PASSWORD).await;
        let queue = self.create_queue(&token, "main", json!({})).await;
        (token, queue)
    }

    /// Joins a queue: the reply with `ticket` and `token`.
    pub async fn join(&self, queue: Uuid, body: Value) -> Reply {
        self.post(&format!("/api/v1/queues/{queue}/tickets"), None, body).await
    }

    /// Joins; returns (ticket, token).
    pub async fn joined(&self, queue: Uuid) -> (Value, String) {
        let body = self.join(queue, json!({})).await.expect(201);
        (body["ticket"].clone(), body["token"].as_str().unwrap().to_owned())
    }

    pub async fn call_next(&self, token: &str, queue: Uuid, counter: &str) -> Reply {
        self.post(&format!("/api/v1/queues/{queue}/call-next"), Some(token), json!({"counter": counter})).await
    }

    pub async fn transition(&self, token: &str, ticket: &str, name: &str) -> Reply {
        self.post(&format!("/api/v1/tickets/{ticket}/transitions"), Some(token), json!({"name": name})).await
    }

    /// Waits (5 s at most) until the ticket's customer counts as present: a customer socket just
    /// opened writes its `ticket.present` event a moment later, and tests that count events wait
    /// for it.
    pub async fn until_present(&self, ticket: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let read = self.get(&format!("/api/v1/tickets/{ticket}"), Some(&self.admin)).await.expect(200);
            if read["present"] == true {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{ticket} was not present within 5 s: {read}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every event of a queue, paging through.
    pub async fn all_events(&self, token: &str, queue: Uuid) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |e: &Value| e["seq"].as_i64().unwrap());
            let page = self
                .get(&format!("/api/v1/queues/{queue}/events?after={after}&limit=1000"), Some(token))
                .await
                .expect(200);
            let page = page.as_array().unwrap().clone();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// Puts `n` people in this app's queue through the store (as fast as the writer batches
    /// them).
    pub async fn fill(&self, n: usize) {
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let joins = chunk.iter().map(|i| {
                let request = JoinRequest {
                    name: Some(format!("Person {i}")),
                    party_size: Some(1 + *i as i32 % 4),
                    fields: json!({"row": i}),
                    ..Default::default()
                };
                self.store.join(self.queue, request, None)
            });
            for joined in futures_util::future::join_all(joins).await {
                joined.unwrap();
            }
        }
    }

    /// A connection to this test's database as the service's role, with no tenant set.
    pub async fn app_role_connection(&self) -> PgConnection {
        let mut conn = PgConnection::connect(&self.db_url).await.unwrap();
        conn.execute("SET ROLE queuecast_app").await.unwrap();
        conn
    }
}

pub async fn into_reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let bytes = resp.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, body, content_type }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if self.db_name.is_empty() {
            return;
        }
        // A stopped node makes no connection: no need to refuse them before dropping.
        for node in self.nodes.lock().unwrap().iter() {
            node.halt();
        }
        let (server, name) = (self.server_url.clone(), self.db_name.clone());
        // Drop runs inside the test's runtime; drop the database from a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&format!("{server}/postgres")).await {
                    let _ =
                        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
                }
            });
        })
        .join();
    }
}

/// A WebSocket client for the live sockets.
pub struct Ws {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

/// How a socket ended, or what it sent.
#[derive(Debug)]
pub enum WsEvent {
    Json(Value),
    Closed(u16),
}

impl Ws {
    /// The next text message (pings and pongs skipped), or how the socket closed (`Closed(0)`:
    /// nothing came for 15 s).
    pub async fn next(&mut self) -> WsEvent {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        // One deadline for the message, not per frame: the server's pings must not extend it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let Ok(msg) = tokio::time::timeout_at(deadline, self.stream.next()).await else {
                return WsEvent::Closed(0); // 0: nothing came within 15 s
            };
            match msg {
                Some(Ok(Message::Text(t))) => return WsEvent::Json(serde_json::from_str(&t).unwrap()),
                Some(Ok(Message::Close(frame))) => return WsEvent::Closed(frame.map_or(1005, |f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return WsEvent::Closed(1006),
            }
        }
    }

    /// The next text message if one comes within `within` (pings and pongs skipped).
    pub async fn json_within(&mut self, within: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await.ok()?? {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// The next message, which must be JSON.
    pub async fn json(&mut self) -> Value {
        match self.next().await {
            WsEvent::Json(v) => v,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Waits for the socket to close; its code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            if let WsEvent::Closed(code) = self.next().await {
                return code;
            }
        }
    }

    /// The underlying stream, to send what `send` does not (binary frames).
    pub fn stream_mut(
        &mut self,
    ) -> &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
        &mut self.stream
    }

    pub async fn send(&mut self, text: String) {
        use futures_util::SinkExt;
        self.stream.send(tokio_tungstenite::tungstenite::Message::text(text)).await.unwrap();
    }
}

impl TestApp {
    /// Opens a socket at `path` (with query), optionally with an Origin header.
    pub async fn try_ws(&self, path: &str, origin: Option<&str>) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{path}", self.base.replacen("http://", "ws://", 1));
        let mut req = url.into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let (stream, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Ws { stream })
    }

    pub async fn ws(&self, path: &str) -> Ws {
        self.try_ws(path, None).await.expect("opening a socket")
    }

    /// A fresh socket pass for `token`.
    pub async fn pass(&self, token: &str) -> String {
        let body = self.post("/api/v1/socket-passes", Some(token), json!({})).await.expect(200);
        body["pass"].as_str().unwrap().to_owned()
    }

    /// A staff socket on `queue`, resuming after `since` if given.
    pub async fn staff_socket(&self, queue: Uuid, since: Option<i64>) -> Ws {
        let pass = self.pass(&self.admin.clone()).await;
        let since = since.map(|s| format!("&since={s}")).unwrap_or_default();
        self.ws(&format!("/ws/queues/{queue}?pass={pass}{since}")).await
    }
}

impl TestApp {
    /// Another node serving the same database: its base URL. It stops when the test ends.
    pub async fn second_node(&self) -> String {
        self.second_node_with(|_| {}).await
    }

    pub async fn second_node_with(&self, tweak: impl FnOnce(&mut Settings)) -> String {
        self.node(tweak).await.0
    }

    /// Another node over the same database: its base URL and a handle that stops it.
    pub async fn node(&self, tweak: impl FnOnce(&mut Settings)) -> (String, queuecast::startup::Stopper) {
        let mut settings = Settings::new("127.0.0.1:0", self.db_url.clone());
        settings.redis_url = std::env::var("REDIS_URL").ok();
        settings.workers = Some(2);
        settings.store = StoreSettings { pool_size: 4, ..StoreSettings::default() };
        settings.webhooks.allow_private = true;
        settings.ws_transport = ws_transport();
        tweak(&mut settings);
        let node = Application::build(settings).await.expect("building a second node");
        let base = format!("http://127.0.0.1:{}", node.port());
        let stopper = node.stopper();
        self.nodes.lock().unwrap().push(stopper.clone());
        tokio::spawn(node.run_until_stopped());
        (base, stopper)
    }

    /// A socket whose client never reads: a tiny receive buffer, and nobody draining it.
    pub async fn stalled_ws(&self, path: &str) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
        let addr: std::net::SocketAddr = self.base.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(2048).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let url = format!("ws://{addr}{path}");
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        ws
    }

    /// This app's client pointed at another node.
    pub fn on(&self, base: &str) -> TestApp {
        TestApp {
            base: base.to_owned(),
            http: self.http.clone(),
            store: self.store.clone(),
            db_url: self.db_url.clone(),
            // Dropping this view must not drop the database.
            db_name: String::new(),
            server_url: self.server_url.clone(),
            admin: self.admin.clone(),
            queue: self.queue,
            nodes: self.nodes.clone(),
        }
    }
}

/// A TCP proxy between a node and a service, that a test can cut (connections dropped and
/// refused), black-hole (connections kept, bytes held back: no error, no answer) and restore.
pub struct Proxy {
    pub port: u16,
    /// Connections accepted so far, and those open now.
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<port> to `target`.
    pub async fn start(target: std::net::SocketAddr) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let accepted: std::sync::Arc<std::sync::atomic::AtomicUsize> = Default::default();
        let open: std::sync::Arc<std::sync::atomic::AtomicUsize> = Default::default();
        let (c, h, l, a, o) = (cut.clone(), held.clone(), links.clone(), accepted.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused while cut
                }
                let (held, open) = (h.clone(), o.clone());
                open.fetch_add(1, Ordering::SeqCst);
                let link = tokio::spawn(async move {
                    if let Ok(outbound) = tokio::net::TcpStream::connect(target).await {
                        let (from_client, to_client) = inbound.into_split();
                        let (from_server, to_server) = outbound.into_split();
                        tokio::join!(pump(from_client, to_server, held.clone()), pump(from_server, to_client, held));
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
                l.lock().unwrap().push(link.abort_handle());
            }
        });
        Proxy { port, accepted, open, cut, held, links }
    }

    /// Connections accepted since the proxy started.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections open through the proxy now.
    pub fn open(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps every connection open but passes no byte either way until `restore`.
    pub fn blackhole(&self) {
        self.held.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
        self.held.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copies one direction, holding bytes back while `held`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    held: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while held.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// The Redis the tests run against (scripts/test brings one up).
pub fn redis_addr() -> std::net::SocketAddr {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL is not set: run the tests with scripts/test");
    let host_port = url.trim_start_matches("redis://").split(['/', '?']).next().unwrap().to_owned();
    std::net::ToSocketAddrs::to_socket_addrs(&host_port).unwrap().next().unwrap()
}

/// A child process that does not outlive its test, whatever happens.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
