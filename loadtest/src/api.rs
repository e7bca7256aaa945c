//! The public REST API, as the load generator uses it.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// Refuses anything but this machine: the load generator never leaves loopback.
pub fn ensure_loopback(url: &str) -> anyhow::Result<()> {
    let host = reqwest::Url::parse(url)?.host_str().unwrap_or_default().to_owned();
    if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
        Ok(())
    } else {
        bail!("the load generator only targets loopback addresses, not {host}")
    }
}

/// A signed-in staff member of one node.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    /// `http://host:port` of the node.
    pub base: String,
    pub token: String,
}

/// What a successful staff action answered: the queue's event number it made.
pub struct Done {
    pub seq: i64,
    pub ticket: Value,
}

/// Why an action did not happen.
pub enum Failed {
    /// An expected refusal (409: the line is empty, the transition no longer applies).
    Refused(String),
    /// Anything else: counted as an error.
    Error(String),
}

/// What one join request answered.
#[derive(Debug, Clone, Default)]
pub struct JoinAnswer {
    /// The HTTP status; 0 when no answer came.
    pub status: u16,
    /// The ticket's id and token (empty unless 201).
    pub id: String,
    pub token: String,
    /// The server said it answered an earlier request with the same key (`Idempotent-Replayed`).
    pub replayed: bool,
    /// No answer within the request's timeout.
    pub timed_out: bool,
    /// How long the server asked the client to wait before trying again (`Retry-After`, in
    /// seconds), if it did.
    pub retry_after: Option<std::time::Duration>,
    /// What went wrong, unless 201.
    pub error: Option<String>,
}

impl JoinAnswer {
    fn unanswered(e: &reqwest::Error) -> JoinAnswer {
        JoinAnswer {
            status: 0,
            id: String::new(),
            token: String::new(),
            replayed: false,
            timed_out: e.is_timeout(),
            retry_after: None,
            error: Some(format!("join: no answer: {e}")),
        }
    }

    /// What an answer with `status` and JSON `body` says (the id and token of a 201).
    pub fn answered(status: u16, replayed: bool, retry_after: Option<std::time::Duration>, body: &Value) -> JoinAnswer {
        JoinAnswer {
            status,
            id: body["ticket"]["id"].as_str().unwrap_or_default().to_owned(),
            token: body["token"].as_str().unwrap_or_default().to_owned(),
            replayed,
            timed_out: false,
            retry_after,
            error: (status != 201).then(|| format!("join: {status} {body}")),
        }
    }

    /// A ticket was made (or replayed) and its id and token came back.
    pub fn ok(&self) -> bool {
        self.status == 201 && !self.id.is_empty() && !self.token.is_empty()
    }
}

/// Who the load generator signs in as (the demo tenant's admin unless told).
#[derive(clap::Args, Clone, Debug)]
pub struct Credentials {
    #[arg(long, default_value = "demo")]
    pub tenant: String,
    #[arg(long, default_value = "admin@demo.test")]
    pub email: String,
    #[arg(long, default_value = "demo-password")]
    pub password: String,
}

impl Api {
    pub fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder().pool_max_idle_per_host(concurrency).timeout(Duration::from_secs(30)).build()?)
    }

    pub async fn login(http: reqwest::Client, base: &str, who: &Credentials) -> anyhow::Result<Api> {
        ensure_loopback(base)?;
        let base = base.trim_end_matches('/').to_owned();
        let login: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"tenant": who.tenant, "email": who.email, "password": who.password}))
            .send()
            .await?
            .error_for_status()
            .context("signing in")?
            .json()
            .await?;
        let token = login["token"].as_str().context("no token in the sign-in answer")?.to_owned();
        Ok(Api { http, base, token })
    }

    /// The same sign-in, against another node.
    pub fn on(&self, base: &str) -> anyhow::Result<Api> {
        ensure_loopback(base)?;
        Ok(Api { base: base.trim_end_matches('/').to_owned(), ..self.clone() })
    }

    pub fn ws_base(&self) -> String {
        self.base.replacen("http", "ws", 1)
    }

    async fn staff(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}/api/v1{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {body}");
        }
        Ok(body)
    }

    pub async fn create_queue(&self, slug: &str) -> anyhow::Result<String> {
        self.create_queue_with(slug, json!({})).await
    }

    /// A queue with `settings`.
    pub async fn create_queue_with(&self, slug: &str, settings: Value) -> anyhow::Result<String> {
        let body = json!({"slug": slug, "name": slug, "settings": settings});
        let q = self.staff(reqwest::Method::POST, "/queues", Some(body)).await?;
        Ok(q["id"].as_str().context("no queue id")?.to_owned())
    }

    pub async fn socket_pass(&self) -> anyhow::Result<String> {
        let p = self.staff(reqwest::Method::POST, "/socket-passes", None).await?;
        Ok(p["pass"].as_str().context("no pass")?.to_owned())
    }

    pub async fn display_key(&self, queue: &str) -> anyhow::Result<String> {
        let k = self.staff(reqwest::Method::POST, &format!("/queues/{queue}/display-keys"), Some(json!({}))).await?;
        Ok(k["key"].as_str().context("no key")?.to_owned())
    }

    /// How many wait in a queue's line (its public summary).
    pub async fn waiting(&self, queue: &str) -> anyhow::Result<i64> {
        let q = self.staff(reqwest::Method::GET, &format!("/queues/{queue}"), None).await?;
        q["waiting"].as_i64().context("no waiting count in the queue's summary")
    }

    pub async fn ticket(&self, id: &str) -> anyhow::Result<Value> {
        self.staff(reqwest::Method::GET, &format!("/tickets/{id}"), None).await
    }

    /// A customer joins (no staff token): the ticket's id and its token.
    pub async fn join(&self, queue: &str, name: &str) -> Result<(String, String, i64), Failed> {
        let req = self.http.post(format!("{}/api/v1/queues/{queue}/tickets", self.base)).json(&json!({"name": name}));
        let body = answer(req, "join").await?;
        let id = body["ticket"]["id"].as_str().unwrap_or_default().to_owned();
        let token = body["token"].as_str().unwrap_or_default().to_owned();
        Ok((id, token, body["ticket"]["seq"].as_i64().unwrap_or(0)))
    }

    /// A customer joins with an `Idempotency-Key`: what the server answered, never an `Err`
    /// (a request that got no answer has status 0 and says why in `error`).
    pub async fn join_keyed(&self, queue: &str, key: &str, body: &Value, timeout: Option<Duration>) -> JoinAnswer {
        let mut req = self
            .http
            .post(format!("{}/api/v1/queues/{queue}/tickets", self.base))
            .header("Idempotency-Key", key)
            .json(body);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => return JoinAnswer::unanswered(&e),
        };
        let status = resp.status().as_u16();
        let replayed = resp.headers().get("Idempotent-Replayed").is_some_and(|v| v == "true");
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
            .map(std::time::Duration::from_secs);
        let body: Value = match resp.json().await {
            Ok(body) => body,
            // The answer began but did not finish in time (or was not JSON).
            Err(e) if e.is_timeout() || status == 201 => return JoinAnswer::unanswered(&e),
            Err(_) => Value::Null,
        };
        JoinAnswer::answered(status, replayed, retry_after, &body)
    }

    /// A customer reads their ticket with its token: the ticket, and how long the server says
    /// it worked on it (`Server-Timing: app;dur=`, in milliseconds), if it says.
    pub async fn customer_ticket(&self, id: &str, token: &str) -> Result<(Value, Option<f64>), Failed> {
        let req = self.http.get(format!("{}/api/v1/tickets/{id}", self.base)).bearer_auth(token);
        let resp = req.send().await.map_err(|e| unanswered(&e))?;
        let server_ms = server_ms(&resp);
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Failed::Error(format!("ticket {id}: {status} {body}")));
        }
        Ok((body, server_ms))
    }

    /// A page of a queue's line (staff): `{seq, waiting_total, tickets}`; `None` on a 404 (a
    /// server without the endpoint).
    pub async fn line(&self, queue: &str, after_position: usize, limit: usize) -> Result<Option<Value>, Failed> {
        let resp = self
            .http
            .get(format!("{}/api/v1/queues/{queue}/line?after_position={after_position}&limit={limit}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| unanswered(&e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Failed::Error(format!("line: {status} {body}")));
        }
        Ok(Some(body))
    }

    pub async fn call_next(&self, queue: &str, counter: &str) -> Result<Done, Failed> {
        self.action(&format!("/queues/{queue}/call-next"), json!({"counter": counter})).await
    }

    pub async fn transition(&self, ticket: &str, name: &str) -> Result<Done, Failed> {
        self.action(&format!("/tickets/{ticket}/transitions"), json!({"name": name})).await
    }

    async fn action(&self, path: &str, body: Value) -> Result<Done, Failed> {
        let resp = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| unanswered(&e))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match status.as_u16() {
            200..=299 => Ok(Done { seq: body["seq"].as_i64().unwrap_or(0), ticket: body }),
            409 => Err(Failed::Refused(body["code"].as_str().unwrap_or("conflict").to_owned())),
            _ => Err(Failed::Error(format!("{path}: {status} {body}"))),
        }
    }
}

/// The server's own time for an answer, from `Server-Timing: app;dur=<ms>`.
fn server_ms(resp: &reqwest::Response) -> Option<f64> {
    let timing = resp.headers().get("server-timing")?.to_str().ok()?;
    timing.split(',').find_map(|m| m.trim().strip_prefix("app;dur=")?.parse().ok())
}

/// A request that got no answer, with its causes: reqwest's own words ("error sending request")
/// do not say whether the connection was refused, reset or closed before the answer.
fn unanswered(e: &reqwest::Error) -> Failed {
    let mut why = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        why.push_str(": ");
        why.push_str(&c.to_string());
        cause = c.source();
    }
    Failed::Error(why)
}

/// Sends a request and reads its JSON answer: an error names `what` with the status and body.
async fn answer(req: reqwest::RequestBuilder, what: &str) -> Result<Value, Failed> {
    let resp = req.send().await.map_err(|e| unanswered(&e))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(Failed::Error(format!("{what}: {status} {body}")));
    }
    Ok(body)
}
