//! The message sender: drains the outbox the writer fills (`notifications`), one worker per node,
//! through the channels this node has configured (SMS through a provider, e-mail over SMTP).
//!
//! Several nodes share the outbox as they share the webhook outbox: a claim is a lease taken with
//! FOR UPDATE SKIP LOCKED, so each message is in one sender's hands at a time, and a node that
//! dies mid-send only delays its claims until the lease runs out.
//!
//! Each claimed message is, in order:
//! - dropped as **stale** when its ticket has moved on since it was written (a "3 ahead" not yet
//!   sent when the ticket is called, a "called" when it is already being served): recorded as
//!   failed with `stale: …`, never sent late;
//! - failed with `channel not configured` when this node has no such channel (a node without one
//!   says so, rather than dropping it silently), or `opted out` for a phone that sent STOP;
//! - rendered in the customer's language from the queue's templates (an SMS shortened to one
//!   segment) and sent; a temporary failure is retried with backoff, a permanent one (or the
//!   last attempt) gives up with its reason.

pub mod email;
pub mod push;
pub mod sms;

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::notify::{one_segment, render, Channel, Lang, MessageKind, QueueNotify, Vars};
use crate::store::{ClaimedMessage, MessageOutcome, Store};
use crate::tasks::Tasks;
use email::Mailer;
use sms::{AnySms, SmsSettings};

/// How the sender behaves and which channels it has.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Whether this node runs a sender (the outbox is filled regardless).
    pub enabled: bool,
    /// The SMS provider, if any.
    pub sms: Option<SmsSettings>,
    /// `smtp://[user:password@]host[:port]`, if e-mail is sent.
    pub smtp_url: Option<String>,
    /// The From of e-mails (`Queuecast <queue@example.org>`).
    pub mail_from: Option<String>,
    /// How often the outbox is polled when nothing wakes the sender.
    pub poll: Duration,
    /// How long one send may take.
    pub timeout: Duration,
    /// The wait before the first retry; each later one waits 3 times longer, up to `max_backoff`.
    pub backoff_base: Duration,
    pub max_backoff: Duration,
    /// Attempts before a message is given up.
    pub max_attempts: i32,
    /// Messages claimed at once; they are sent concurrently.
    pub batch: i32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            enabled: true,
            sms: None,
            smtp_url: None,
            mail_from: None,
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(5),
            // A message is about a wait of minutes: an hour late it is no use.
            max_backoff: Duration::from_secs(600),
            max_attempts: 5,
            batch: 32,
        }
    }
}

impl NotifySettings {
    fn lease(&self) -> Duration {
        crate::retry::lease(self.timeout)
    }

    /// The wait after failed attempt `attempt` (1 = the first): `crate::retry::wait_after`.
    pub fn backoff(&self, attempt: i32) -> Duration {
        crate::retry::wait_after(attempt, self.backoff_base, self.max_backoff)
    }
}

/// Why a send did not go through.
#[derive(Debug, Clone)]
pub struct SendError {
    /// True when trying again cannot help (a number the provider refuses, a bad address).
    pub permanent: bool,
    pub reason: String,
}

impl SendError {
    pub fn temporary(reason: impl Into<String>) -> SendError {
        SendError { permanent: false, reason: clip(reason.into()) }
    }

    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError { permanent: true, reason: clip(reason.into()) }
    }
}

fn clip(mut s: String) -> String {
    if s.len() > 500 {
        let mut end = 500;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Where providers send receipts, and how they are signed: the deployment's `receipts` key
/// signs `<channel>:<message id>`, so only a URL this server made is taken.
#[derive(Clone)]
pub struct Receipts {
    pub public_url: String,
    key: Vec<u8>,
}

impl Receipts {
    pub fn new(public_url: &str, key: Vec<u8>) -> Receipts {
        Receipts { public_url: public_url.trim_end_matches('/').to_owned(), key }
    }

    /// A booking's page, with its token when the reminder carries it sealed (hex).
    pub fn booking_link(&self, appointment: Uuid, sealed: Option<&str>) -> String {
        let page = format!("{}/a/{appointment}", self.public_url);
        let sealed = sealed.and_then(|h| {
            (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect::<Option<Vec<u8>>>()
        });
        match sealed {
            Some(sealed) => {
                let token =
                    crate::secret::unseal_token(&sealed, &crate::secret::booking_link_key(&self.key, appointment));
                format!("{page}?token={token}")
            }
            None => page,
        }
    }

    /// The signature of a receipt for message `id` on `channel`.
    pub fn sign(&self, channel: Channel, id: Uuid) -> String {
        sign(&self.key, channel, id)
    }

    /// The URL a provider calls back for message `id` (query `id` and `sig`).
    pub fn url(&self, channel: Channel, id: Uuid) -> String {
        format!(
            "{}/api/v1/notifications/status/{}?id={id}&sig={}",
            self.public_url,
            channel.as_str(),
            self.sign(channel, id)
        )
    }
}

/// `hex(HMAC-SHA256(key, "<channel>:<id>"))`, cut to 32 characters.
pub fn sign(key: &[u8], channel: Channel, id: Uuid) -> String {
    // unwrap: HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(channel.as_str().as_bytes());
    mac.update(b":");
    mac.update(id.to_string().as_bytes());
    crate::secret::hex(&mac.finalize().into_bytes()[..16])
}

/// Checks a receipt's signature in constant time.
pub fn verify(key: &[u8], channel: Channel, id: Uuid, sig: &str) -> bool {
    let expected = sign(key, channel, id);
    expected.len() == sig.len() && expected.bytes().zip(sig.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// What this node sends through.
struct Channels {
    sms: Option<AnySms>,
    email: Option<Mailer>,
    /// Always there once the deployment's VAPID key is read.
    push: push::Pusher,
    receipts: Receipts,
}

/// Starts this node's sender as one of `tasks`. `public_url` is where customers and providers
/// reach this deployment (ticket links, receipts).
pub fn start(store: Store, settings: NotifySettings, public_url: String, tasks: &Tasks) -> anyhow::Result<()> {
    if !settings.enabled {
        return Ok(());
    }
    let sms = settings.sms.as_ref().map(|s| AnySms::new(s, settings.timeout)).transpose()?;
    let email = match (&settings.smtp_url, &settings.mail_from) {
        (Some(url), Some(from)) => Some(Mailer::new(url, from, settings.timeout)?),
        (Some(_), None) => anyhow::bail!("SMTP_URL is set but MAIL_FROM is not: e-mails need a sender address"),
        _ => None,
    };
    tasks.spawn_graceful("notify-sender", move |stop| async move {
        // The deployment's keys, made by whichever node starts first.
        let keys = || async {
            let receipts = store.server_key("receipts", || rand::random::<[u8; 32]>().to_vec()).await?;
            let vapid = store.server_key(push::KEY_NAME, push::new_private_key).await?;
            anyhow::Ok((receipts, push::Pusher::new(&vapid, public_url.clone(), settings.timeout)?))
        };
        let (receipts, push) = loop {
            match keys().await {
                Ok(keys) => break keys,
                Err(err) => {
                    tracing::warn!(cause = ?err, "reading the deployment's keys failed");
                    tokio::select! {
                        _ = tokio::time::sleep(settings.poll) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        };
        let channels = Channels { sms, email, push, receipts: Receipts::new(&public_url, receipts) };
        run(store, settings, channels, stop).await
    });
    Ok(())
}

/// While the writer is busy, the sender claims `CROWD_ROUNDS` batches at once and waits
/// `CROWD_ROUNDS` × 25 ms between claims: over a thousand messages a second still (32 × 4 every
/// 100 ms), in a quarter of the claims and records, each a statement and a commit taken from the
/// writes. The claimed messages are still sent `batch` at a time.
const CROWD_ROUNDS: i32 = 4;
const YIELD: Duration = Duration::from_millis(25 * CROWD_ROUNDS as u64);

async fn run(store: Store, settings: NotifySettings, channels: Channels, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let rounds = if store.writing_a_crowd() { CROWD_ROUNDS } else { 1 };
        let (limit, lease) = (settings.batch * rounds, settings.lease() * rounds as u32);
        let claimed = match store.claim_messages(limit, lease).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(cause = ?err, "claiming messages failed");
                Vec::new()
            }
        };
        let full = claimed.len() as i32 == limit;
        let idle = claimed.is_empty();
        let done: Vec<_> = futures_util::stream::iter(claimed.into_iter().map(|m| handle(&settings, &channels, m)))
            .buffer_unordered(settings.batch.max(1) as usize)
            .collect()
            .await;
        record(&store, done).await;
        if full || !idle {
            // The write path first: while this node writes a crowd's changes, messages wait a
            // moment between claims rather than take the database's time from the writes.
            if store.writing_a_crowd() {
                tokio::select! {
                    _ = tokio::time::sleep(YIELD) => {}
                    _ = stop.cancelled() => {}
                }
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.poll) => {}
            // This node's commits that wrote messages wake the sender early; other nodes' are
            // found by the poll.
            () = store.outboxes().messages.notified() => {
                // Under load such commits come in hundreds a second: claim at most every 50 ms.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ = stop.cancelled() => {}
        }
    }
    tracing::debug!("notify sender stopped");
}

/// The outcomes of a claim, recorded together, a statement per tenant.
async fn record(store: &Store, mut done: Vec<(Uuid, Uuid, MessageOutcome)>) {
    done.sort_by_key(|d| d.0);
    for tenant in done.chunk_by(|a, b| a.0 == b.0) {
        let outcomes: Vec<(Uuid, MessageOutcome)> = tenant.iter().map(|(_, id, o)| (*id, o.clone())).collect();
        if let Err(err) = store.record_messages(tenant[0].0, &outcomes).await {
            // The leases run out and the messages are tried again: at least once, not exactly once.
            tracing::warn!(cause = ?err, n = outcomes.len(), "recording messages' attempts failed");
        }
    }
}

/// One claimed message: dropped, given up or sent; its tenant, id and outcome, to record.
async fn handle(settings: &NotifySettings, channels: &Channels, m: ClaimedMessage) -> (Uuid, Uuid, MessageOutcome) {
    let outcome = match attempt(channels, &m).await {
        Ok(provider_id) => MessageOutcome::Sent { provider_id },
        Err(err) => {
            let attempt = m.attempts + 1;
            if err.permanent || attempt >= settings.max_attempts {
                MessageOutcome::Failed { error: err.reason }
            } else {
                let wait = chrono::Duration::from_std(settings.backoff(attempt)).unwrap_or(chrono::Duration::hours(1));
                MessageOutcome::Retry { error: err.reason, at: Utc::now() + wait }
            }
        }
    };
    metrics::counter!("queuecast_notifications_total", "channel" => channel_label(&m.channel), "status" => outcome.status())
        .increment(1);
    (m.tenant_id, m.id, outcome)
}

/// A channel as a label from a fixed set (the column is checked, but metrics never take outside
/// strings).
fn channel_label(channel: &str) -> &'static str {
    Channel::parse(channel).map_or("other", Channel::as_str)
}

/// Checks, renders and sends one message; the provider's id on success.
async fn attempt(channels: &Channels, m: &ClaimedMessage) -> Result<Option<String>, SendError> {
    if m.ticket_state.as_deref() != Some(m.state.as_str()) {
        let now = m.ticket_state.as_deref().unwrap_or("gone");
        let what = if m.ticket_id.is_some() { "ticket" } else { "appointment" };
        return Err(SendError::permanent(format!("stale: the {what} is {now} now (was {})", m.state)));
    }
    let Some(channel) = Channel::parse(&m.channel) else {
        return Err(SendError::permanent(format!("unknown channel `{}`", m.channel)));
    };
    let Some(recipient) = m.recipient.as_deref() else {
        return Err(SendError::permanent("the recipient was blanked (retention)"));
    };
    if m.opted_out {
        return Err(SendError::permanent("opted out: the number sent STOP"));
    }
    let kind = MessageKind::parse(&m.kind).ok_or_else(|| SendError::permanent(format!("unknown kind `{}`", m.kind)))?;
    let lang = Lang::parse(&m.lang).unwrap_or(Lang::En);
    // Saved settings were checked; settings that no longer parse fall back to the defaults.
    let rules = QueueNotify::parse(m.settings.as_ref()).unwrap_or_default();
    let var = |k: &str| m.vars.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let vars = Vars {
        number: var("number").unwrap_or_default(),
        counter: var("counter"),
        ahead: m.vars.get("ahead").and_then(|v| v.as_i64()).map(|n| n as i32),
        queue: m.queue_name.clone().unwrap_or_default(),
        // A reminder links to its booking's page, with the booking's token (unsealed here).
        ticket_url: match (m.ticket_id, m.appointment_id) {
            (Some(ticket), _) => format!("{}/t/{ticket}", channels.receipts.public_url),
            (None, appointment) => {
                channels.receipts.booking_link(appointment.unwrap_or_default(), var("link").as_deref())
            }
        },
        when: var("when"),
    };
    let words = render(&rules, lang, kind, &vars);
    match channel {
        Channel::Sms => {
            let sms = channels.sms.as_ref().ok_or_else(|| SendError::permanent("channel not configured"))?;
            let receipt = channels.receipts.url(Channel::Sms, m.id);
            sms.send(recipient, &one_segment(&words.text), &receipt).await
        }
        Channel::Email => {
            let mailer = channels.email.as_ref().ok_or_else(|| SendError::permanent("channel not configured"))?;
            mailer.send(recipient, &words).await.map(|()| None)
        }
        Channel::Push => {
            // What the service worker shows: the subject as the title, the words, the ticket.
            let payload = serde_json::json!({
                "title": words.subject, "body": words.text, "url": vars.ticket_url, "tag": m.ticket_id.or(m.appointment_id), "kind": m.kind,
            });
            // unwrap: serializing a JSON value cannot fail.
            channels.push.send(recipient, &serde_json::to_vec(&payload).unwrap()).await.map(|()| None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_signed_per_channel_and_message() {
        let id = uuid::Uuid::new_v4();
        let sig = sign(b"key", Channel::Sms, id);
        assert_eq!(sig.len(), 32);
        assert!(verify(b"key", Channel::Sms, id, &sig));
        assert!(!verify(b"other", Channel::Sms, id, &sig));
        assert!(!verify(b"key", Channel::Email, id, &sig));
        assert!(!verify(b"key", Channel::Sms, uuid::Uuid::new_v4(), &sig));
        assert!(!verify(b"key", Channel::Sms, id, &sig[..31]));
        let r = Receipts::new("http://q.example/", b"key".to_vec());
        assert_eq!(
            r.url(Channel::Sms, id),
            format!("http://q.example/api/v1/notifications/status/sms?id={id}&sig={sig}")
        );
    }

    #[test]
    fn backoff_grows_threefold_with_a_cap() {
        let s = NotifySettings::default();
        assert!((4.0..=6.0).contains(&s.backoff(1).as_secs_f64()));
        assert!((36.0..=54.0).contains(&s.backoff(3).as_secs_f64()));
        assert!(s.backoff(20).as_secs_f64() <= 600.0 * 1.2);
    }
}
