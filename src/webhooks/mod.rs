//! The webhook sender: drains the outbox the writer fills (`webhook_deliveries`), one worker per
//! node. Several nodes share the outbox safely: a claim is a lease taken with FOR UPDATE SKIP
//! LOCKED, so each delivery is in one sender's hands at a time, and a node that dies mid-send only
//! delays its claims until the lease runs out (delivery is at least once: receivers dedupe by
//! `Queuecast-Delivery`).
//!
//! Each request is a JSON POST signed with the endpoint's secret:
//! `Queuecast-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. A 2xx answer
//! delivers it; anything else (or no answer within the timeout) is retried with exponential
//! backoff and jitter, until `max_attempts`, then the delivery is marked failed.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

mod inside;

use crate::store::{AttemptOutcome, Claimed, Store};
use crate::tasks::Tasks;

/// The kinds an endpoint may subscribe to: the events of `PROTOCOL.md` and the notifications.
pub const KINDS: &[&str] = &[
    "ticket.joined",
    "ticket.called",
    "ticket.recalled",
    "ticket.started",
    "ticket.completed",
    "ticket.no_show",
    "ticket.expired",
    "ticket.requeued",
    "ticket.cancelled",
    "ticket.transferred_in",
    "ticket.transferred_out",
    "ticket.snoozed",
    "ticket.moved",
    "ticket.updated",
    "ticket.present",
    "ticket.away",
    "queue.updated",
    AHEAD,
];

/// The notification sent when a waiting ticket reaches a position its queue's `notify_ahead` names.
pub const AHEAD: &str = "ticket.ahead";

/// How the sender behaves.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Whether this node runs a sender (the outbox is filled regardless).
    pub enabled: bool,
    /// Whether endpoints may use plain http to hosts other than loopback.
    pub allow_http: bool,
    /// Whether endpoints may be inside the deployment's networks (loopback, private, link-local,
    /// unique-local, multicast addresses): for tests and development only.
    pub allow_private: bool,
    /// How often the outbox is polled when nothing wakes the sender.
    pub poll: Duration,
    /// How long a request may take.
    pub timeout: Duration,
    /// The wait before the first retry; each later one waits 3 times longer, up to `max_backoff`.
    pub backoff_base: Duration,
    pub max_backoff: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i32,
    /// Deliveries claimed at once; they are sent concurrently.
    pub batch: i32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            enabled: true,
            allow_http: false,
            allow_private: false,
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(10),
            max_backoff: Duration::from_secs(24 * 3600),
            max_attempts: 12,
            batch: 32,
        }
    }
}

impl WebhookSettings {
    /// A claim outlives the requests it covers, so no other node takes them meanwhile.
    fn lease(&self) -> Duration {
        crate::retry::lease(self.timeout)
    }

    /// The wait after failed attempt `attempt` (1 = the first): `crate::retry::wait_after`.
    pub fn backoff(&self, attempt: i32) -> Duration {
        crate::retry::wait_after(attempt, self.backoff_base, self.max_backoff)
    }
}

/// Checks an endpoint URL: https, or http to a loopback host (or anywhere when `allow_http`);
/// never an address inside (or a loopback name) unless `allow_private`. Names that resolve
/// inside are refused when sent.
pub fn check_url(url: &str, allow_http: bool, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url: {e}"))?;
    let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or("url: a host is needed")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url: no credentials in the URL; verify the signature instead".into());
    }
    if !allow_private {
        if let Some(why) = inside::refusal_of_host(host) {
            return Err(format!(
                "url: webhooks cannot reach inside: {why} (operators may allow it with WEBHOOKS_ALLOW_PRIVATE=1)"
            ));
        }
    }
    let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>();
    let loopback = host.eq_ignore_ascii_case("localhost") || ip.is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_http => Ok(()),
        "http" => {
            Err("url: endpoints must be https (plain http only to loopback, or with WEBHOOKS_ALLOW_HTTP=1)".into())
        }
        other => Err(format!("url: scheme `{other}` is not http(s)")),
    }
}

/// `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    // unwrap: HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix},v1={}", crate::secret::hex(&mac.finalize().into_bytes()))
}

/// Starts this node's sender as one of `tasks`; when the node stops it ends the requests it has
/// in flight (within the node's grace period), then claims nothing more.
pub fn start(store: Store, settings: WebhookSettings, tasks: &Tasks) -> anyhow::Result<()> {
    // rustls with ring, not aws-lc-rs. reqwest's `rustls-no-provider` panics when any client is
    // built before a provider is installed, so install it whether or not this node sends;
    // installing twice (several nodes in one process) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if !settings.enabled {
        return Ok(());
    }
    let mut client = reqwest::Client::builder();
    if !settings.allow_private {
        // The connection goes only to addresses the guard allowed; no proxy connects elsewhere.
        client = client.dns_resolver(std::sync::Arc::new(inside::Guarded)).no_proxy();
    }
    let client = client
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        // A redirect would resend the signed body somewhere the manager did not register.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Queuecast-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?;
    tasks.spawn_graceful("webhook-sender", |stop| run(store, settings, client, stop));
    Ok(())
}

async fn run(store: Store, settings: WebhookSettings, client: reqwest::Client, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let claimed = match store.claim_deliveries(settings.batch, settings.lease()).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(cause = ?err, "claiming webhook deliveries failed");
                Vec::new()
            }
        };
        if claimed.len() as i32 == settings.batch {
            // More may be due: send these, then claim again without waiting.
            send_all(&store, &settings, &client, claimed).await;
            continue;
        }
        let idle = claimed.is_empty();
        send_all(&store, &settings, &client, claimed).await;
        if !idle {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.poll) => {}
            // This node's commits that wrote deliveries wake the sender early; other nodes' are
            // found by the poll.
            () = store.outboxes().deliveries.notified() => {
                // Under load such commits come in hundreds a second: claim at most every 50 ms.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ = stop.cancelled() => {}
        }
    }
    tracing::debug!("webhook sender stopped");
}

async fn send_all(store: &Store, settings: &WebhookSettings, client: &reqwest::Client, claimed: Vec<Claimed>) {
    futures_util::future::join_all(claimed.into_iter().map(|d| async move {
        let outcome = send(client, settings, &d).await;
        if let Err(err) = store.record_attempt(d.tenant_id, d.id, &outcome).await {
            // The lease runs out and the delivery is tried again: at least once, not exactly once.
            tracing::warn!(cause = ?err, delivery = %d.id, "recording a webhook attempt failed");
        }
    }))
    .await;
}

/// One attempt: what happened, and when to try again.
async fn send(client: &reqwest::Client, settings: &WebhookSettings, d: &Claimed) -> AttemptOutcome {
    let body = serde_json::json!({
        "id": d.id,
        "type": d.kind,
        "queue_id": d.queue_id,
        "seq": d.seq,
        "attempt": d.attempts + 1,
        "event": d.event,
    });
    // unwrap: serializing a JSON value cannot fail.
    let body = serde_json::to_vec(&body).unwrap();
    let sig = signature(&d.secret, Utc::now().timestamp(), &body);
    if !settings.allow_private {
        // An address in the URL is connected to as written: checked here (names by the resolver).
        let host = reqwest::Url::parse(&d.url).ok().and_then(|u| u.host_str().map(str::to_owned));
        if let Some(why) = host.as_deref().and_then(inside::refusal_of_address) {
            let error = format!("webhooks cannot reach inside: {why}");
            tracing::debug!(delivery = %d.id, error, "webhook refused");
            // It will not change by waiting: failed at once.
            return AttemptOutcome { status: None, error: Some(error), delivered: false, retry_at: None };
        }
    }
    let result = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("Queuecast-Signature", sig)
        .header("Queuecast-Delivery", d.id.to_string())
        .body(body)
        .send()
        .await;
    let (status, error) = match result {
        Ok(resp) if resp.status().is_success() => {
            let status = Some(i32::from(resp.status().as_u16()));
            return AttemptOutcome { status, error: None, delivered: true, retry_at: None };
        }
        Ok(resp) => (Some(i32::from(resp.status().as_u16())), format!("answered {}", resp.status())),
        Err(err) => (None, cause_chain(&err)),
    };
    let attempt = d.attempts + 1;
    let retry_at = (attempt < settings.max_attempts).then(|| {
        Utc::now() + chrono::Duration::from_std(settings.backoff(attempt)).unwrap_or(chrono::Duration::hours(24))
    });
    tracing::debug!(delivery = %d.id, attempt, ?status, error, "webhook attempt failed");
    AttemptOutcome { status, error: Some(error), delivered: false, retry_at }
}

/// An error with its causes (reqwest's own message is only "error sending request").
fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_unless_loopback_or_allowed() {
        assert!(check_url("https://hooks.example.com/q", false, false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", false, true).is_ok());
        assert!(check_url("http://localhost/hook", false, true).is_ok());
        assert!(check_url("http://[::1]:80/", false, true).is_ok());
        assert!(check_url("http://hooks.example.com/q", false, false).is_err());
        assert!(check_url("http://hooks.example.com/q", true, false).is_ok());
        assert!(check_url("ftp://hooks.example.com/q", true, false).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", false, false).is_err());
        assert!(check_url("not a url", false, false).is_err());
    }

    #[test]
    fn endpoints_inside_are_refused_unless_allowed() {
        for url in [
            "https://10.0.0.5/hook",
            "https://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:6379/",
            "http://localhost:5432/",
            "https://[::1]/",
            "https://[fd00::5]/",
            "https://[::ffff:192.168.0.1]/",
            "https://224.0.0.1/",
        ] {
            let err = check_url(url, true, false).expect_err(url);
            assert!(err.contains("cannot reach inside"), "{url}: {err}");
            assert!(check_url(url, true, true).is_ok(), "{url} with WEBHOOKS_ALLOW_PRIVATE");
        }
    }

    #[test]
    fn the_signature_is_an_hmac_of_time_and_body() {
        // Reference: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
        assert_ne!(sig, signature("whsec_other", 1_700_000_000, br#"{"a":1}"#));
    }

    #[test]
    fn backoff_grows_threefold_with_jitter_and_a_cap() {
        let s = WebhookSettings::default();
        let first = s.backoff(1).as_secs_f64();
        assert!((8.0..=12.0).contains(&first), "{first}");
        let third = s.backoff(3).as_secs_f64();
        assert!((72.0..=108.0).contains(&third), "{third}");
        assert!(s.backoff(30).as_secs_f64() <= 24.0 * 3600.0 * 1.2);
    }
}
