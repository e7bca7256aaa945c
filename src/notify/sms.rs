//! SMS providers: one interface, two real implementations.
//!
//! - [`HttpSms`]: the widely used Messages API shape (`POST
//!   {base}/2010-04-01/Accounts/{account}/Messages.json`, basic auth with the account and its
//!   token, a form of `To`, `From`, `Body`, `StatusCallback`; answered 201 with `{sid, status}`;
//!   status callbacks are forms of `MessageSid`, `MessageStatus`).
//! - [`Kannel`]: Kannel's smsbox `sendsms` (`GET /cgi-bin/sendsms?username&password&from&to&text`,
//!   answered 202 `0: Accepted for delivery`), with delivery reports through `dlr-url` (Kannel
//!   calls it with `type=%d`: 1 delivered, 2 undelivered, 4 queued, 8 accepted by the centre,
//!   16 rejected by the centre).
//!
//! Both are told where the receipt of each message goes (a signed URL of ours).

use std::time::Duration;

use super::SendError;
use crate::store::Receipt;

/// An SMS provider.
pub trait SmsProvider {
    /// Sends `text` to `to` (E.164), its receipt to `receipt_url`; the provider's id of the
    /// message when it gives one.
    fn send(
        &self,
        to: &str,
        text: &str,
        receipt_url: &str,
    ) -> impl std::future::Future<Output = Result<Option<String>, SendError>> + Send;
}

/// Which provider, and its settings (from the environment; see the README).
#[derive(Debug, Clone)]
pub enum SmsSettings {
    Http { base_url: String, account: String, token: String, from: String },
    Kannel { url: String, username: String, password: String, from: String },
}

/// The configured provider.
pub enum AnySms {
    Http(HttpSms),
    Kannel(Kannel),
}

impl AnySms {
    pub fn new(settings: &SmsSettings, timeout: Duration) -> anyhow::Result<AnySms> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Queuecast/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(match settings.clone() {
            SmsSettings::Http { base_url, account, token, from } => AnySms::Http(HttpSms {
                client,
                base_url: base_url.trim_end_matches('/').to_owned(),
                account,
                token,
                from,
            }),
            SmsSettings::Kannel { url, username, password, from } => {
                AnySms::Kannel(Kannel { client, url, username, password, from })
            }
        })
    }

    pub async fn send(&self, to: &str, text: &str, receipt_url: &str) -> Result<Option<String>, SendError> {
        match self {
            AnySms::Http(p) => p.send(to, text, receipt_url).await,
            AnySms::Kannel(p) => p.send(to, text, receipt_url).await,
        }
    }
}

/// The Messages API shape.
pub struct HttpSms {
    client: reqwest::Client,
    base_url: String,
    account: String,
    token: String,
    from: String,
}

impl SmsProvider for HttpSms {
    async fn send(&self, to: &str, text: &str, receipt_url: &str) -> Result<Option<String>, SendError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.account);
        let form = [("To", to), ("From", &self.from), ("Body", text), ("StatusCallback", receipt_url)];
        let resp = self
            .client
            .post(&url)
            .basic_auth(&self.account, Some(&self.token))
            .form(&form)
            .send()
            .await
            .map_err(|e| SendError::temporary(format!("SMS provider unreachable: {}", chain(&e))))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if status.is_success() {
            return Ok(body.get("sid").and_then(|s| s.as_str()).map(str::to_owned));
        }
        let why = format!(
            "SMS provider answered {status}: {}",
            body.get("message").and_then(|m| m.as_str()).unwrap_or("no message")
        );
        // A refused request (bad number, unknown sender) fails the same way again; too many
        // requests and the provider's own faults pass.
        match status.as_u16() {
            429 | 500..=599 => Err(SendError::temporary(why)),
            _ => Err(SendError::permanent(why)),
        }
    }
}

/// What a Messages API status callback's `MessageStatus` means.
pub fn http_receipt(status: &str) -> Receipt {
    match status {
        "delivered" | "read" => Receipt::Delivered,
        "failed" | "undelivered" | "canceled" => Receipt::Failed(format!("provider: {status}")),
        _ => Receipt::Progress,
    }
}

/// Kannel's smsbox.
pub struct Kannel {
    client: reqwest::Client,
    /// The `sendsms` URL, e.g. `http://127.0.0.1:23013/cgi-bin/sendsms`.
    url: String,
    username: String,
    password: String,
    from: String,
}

/// Every report: delivered, undelivered, queued, accepted and rejected by the centre.
const DLR_MASK: &str = "31";

impl SmsProvider for Kannel {
    async fn send(&self, to: &str, text: &str, receipt_url: &str) -> Result<Option<String>, SendError> {
        // Kannel fills `%d` with the report's type.
        let dlr_url = format!("{receipt_url}&type=%d");
        // GSM-7 text goes as is; anything else as UCS-2 (Kannel converts from UTF-8).
        let coding = if text.is_ascii() { "0" } else { "2" };
        let query = [
            ("username", self.username.as_str()),
            ("password", &self.password),
            ("from", &self.from),
            ("to", to),
            ("text", text),
            ("charset", "UTF-8"),
            ("coding", coding),
            ("dlr-mask", DLR_MASK),
            ("dlr-url", &dlr_url),
        ];
        let resp = self
            .client
            .get(&self.url)
            .query(&query)
            .send()
            .await
            .map_err(|e| SendError::temporary(format!("Kannel unreachable: {}", chain(&e))))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let body = body.trim();
        match status.as_u16() {
            // `0: Accepted for delivery`, or `3: Queued for later delivery`.
            200..=299 => Ok(None),
            // Refused parameters or credentials: the same request fails again.
            400..=499 if status.as_u16() != 429 => {
                Err(SendError::permanent(format!("Kannel answered {status}: {body}")))
            }
            _ => Err(SendError::temporary(format!("Kannel answered {status}: {body}"))),
        }
    }
}

/// What a Kannel delivery report's `type` means.
pub fn kannel_receipt(kind: u32) -> Receipt {
    match kind {
        1 => Receipt::Delivered,
        2 => Receipt::Failed("undelivered to the phone".into()),
        16 => Receipt::Failed("rejected by the SMS centre".into()),
        _ => Receipt::Progress,
    }
}

/// An error with its causes.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_read_from_both_providers() {
        assert_eq!(http_receipt("delivered"), Receipt::Delivered);
        assert!(matches!(http_receipt("undelivered"), Receipt::Failed(_)));
        assert_eq!(http_receipt("queued"), Receipt::Progress);
        assert_eq!(kannel_receipt(1), Receipt::Delivered);
        assert!(matches!(kannel_receipt(16), Receipt::Failed(_)));
        assert_eq!(kannel_receipt(8), Receipt::Progress);
    }
}
