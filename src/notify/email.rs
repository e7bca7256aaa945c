//! E-mail over SMTP (lettre): a plain text part and an HTML part, in the customer's language.
//!
//! `SMTP_URL` is `smtp://[user:password@]host[:port]` (port 25 unless told). This build speaks
//! SMTP without TLS: point it at a relay on the same host or network (Postfix, a provider's
//! local agent), which carries the mail on.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::domain::notify::Rendered;

/// Sends e-mails through one SMTP server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `smtp_url`, sending as `from`.
    pub fn new(smtp_url: &str, from: &str, timeout: Duration) -> anyhow::Result<Mailer> {
        let url = reqwest::Url::parse(smtp_url).map_err(|e| anyhow::anyhow!("SMTP_URL: {e}"))?;
        if url.scheme() != "smtp" {
            anyhow::bail!("SMTP_URL: only smtp:// is supported (a relay without TLS), not {}://", url.scheme());
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| anyhow::anyhow!("SMTP_URL: no host"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(25))
            .timeout(Some(timeout));
        if !url.username().is_empty() {
            let user = percent_decode(url.username());
            let password = percent_decode(url.password().unwrap_or(""));
            builder = builder.credentials(Credentials::new(user, password));
        }
        let from: Mailbox = from.parse().map_err(|e| anyhow::anyhow!("MAIL_FROM: {e}"))?;
        Ok(Mailer { transport: builder.build(), from })
    }

    /// Sends one message to `to`.
    pub async fn send(&self, to: &str, words: &Rendered) -> Result<(), SendError> {
        let to: Mailbox = to.parse().map_err(|e| SendError::permanent(format!("address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(words.subject.clone())
            .multipart(MultiPart::alternative_plain_html(words.text.clone(), words.html.clone()))
            .map_err(|e| SendError::permanent(format!("building the e-mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::temporary(format!("SMTP: {e}"))),
        }
    }
}

/// `%XX` escapes of a URL's user or password, decoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_plain_smtp_with_optional_credentials() {
        let t = Duration::from_secs(1);
        assert!(Mailer::new("smtp://127.0.0.1:2525", "Queue <q@example.org>", t).is_ok());
        assert!(Mailer::new("smtp://user:p%40ss@relay.example:587", "q@example.org", t).is_ok());
        assert!(Mailer::new("smtps://relay.example", "q@example.org", t).is_err());
        assert!(Mailer::new("smtp://127.0.0.1", "not an address", t).is_err());
        assert_eq!(percent_decode("p%40ss"), "p@ss");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
