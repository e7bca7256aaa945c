//! Web push (the `web-push` crate): each message encrypted for the subscription (RFC 8291,
//! `aes128gcm`) and signed with the deployment's VAPID key (RFC 8292), sent through reqwest.
//!
//! The VAPID key pair is made on first start and kept in the database (`server_keys`, `vapid`:
//! the private scalar), so every node signs with the same key and subscriptions made against
//! one node's public key are good on all.

use std::time::Duration;

use base64::Engine;
use web_push::{
    ContentEncoding, PartialVapidSignatureBuilder, SubscriptionInfo, Urgency, VapidSignatureBuilder,
    WebPushMessageBuilder,
};

use super::SendError;

/// The name of the key pair in `server_keys`.
pub const KEY_NAME: &str = "vapid";

/// How long a push service keeps a message for a phone that is away: a message about a wait of
/// minutes is no use an hour later.
const TTL_SECONDS: u32 = 3600;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new private key: a P-256 scalar (32 random bytes, drawn again in the rare case they are
/// not a valid scalar).
pub fn new_private_key() -> Vec<u8> {
    loop {
        let bytes: [u8; 32] = rand::random();
        if VapidSignatureBuilder::from_base64_no_sub(&b64(&bytes)).is_ok() {
            return bytes.to_vec();
        }
    }
}

/// The application server key of a private key: the uncompressed public point, base64url, as
/// `PushManager.subscribe` takes it.
pub fn public_key(private: &[u8]) -> anyhow::Result<String> {
    let partial = VapidSignatureBuilder::from_base64_no_sub(&b64(private))
        .map_err(|e| anyhow::anyhow!("the VAPID key is not usable: {e}"))?;
    Ok(b64(&partial.get_public_key()))
}

/// Sends web push messages, signed with one VAPID key.
pub struct Pusher {
    client: reqwest::Client,
    key: PartialVapidSignatureBuilder,
    /// The VAPID `sub`: how the push service may reach the sender (the public URL).
    subject: String,
}

impl Pusher {
    pub fn new(private: &[u8], subject: String, timeout: Duration) -> anyhow::Result<Pusher> {
        let key = VapidSignatureBuilder::from_base64_no_sub(&b64(private))
            .map_err(|e| anyhow::anyhow!("the VAPID key is not usable: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Pusher { client, key, subject })
    }

    /// Encrypts `payload` for the subscription (its JSON as the browser gave it) and sends it.
    pub async fn send(&self, subscription: &str, payload: &[u8]) -> Result<(), SendError> {
        let info: SubscriptionInfo =
            serde_json::from_str(subscription).map_err(|e| SendError::permanent(format!("push subscription: {e}")))?;
        let endpoint =
            reqwest::Url::parse(&info.endpoint).map_err(|e| SendError::permanent(format!("push endpoint: {e}")))?;
        // The audience is the endpoint's origin, port included (RFC 8292 §2).
        let origin = endpoint.origin().ascii_serialization();
        let mut signer = self.key.clone().add_sub_info(&info);
        signer.add_claim("sub", self.subject.as_str());
        signer.add_claim("aud", origin.as_str());
        let signature = signer.build().map_err(|e| SendError::permanent(format!("VAPID: {e}")))?;
        let mut builder = WebPushMessageBuilder::new(&info);
        builder.set_payload(ContentEncoding::Aes128Gcm, payload);
        builder.set_ttl(TTL_SECONDS);
        builder.set_urgency(Urgency::High);
        builder.set_vapid_signature(signature);
        let message = builder.build().map_err(|e| SendError::permanent(format!("push message: {e}")))?;
        let mut request = self.client.post(endpoint).header("TTL", message.ttl.to_string()).header("Urgency", "high");
        if let Some(p) = message.payload {
            request = request
                .header("Content-Encoding", p.content_encoding.to_str())
                .header("Content-Type", "application/octet-stream");
            for (name, value) in &p.crypto_headers {
                request = request.header(*name, value.as_str());
            }
            request = request.body(p.content);
        }
        let resp = request.send().await.map_err(|e| SendError::temporary(format!("push service unreachable: {e}")))?;
        let status = resp.status();
        match status.as_u16() {
            200..=299 => Ok(()),
            // The subscription is gone (unsubscribed, expired): trying again cannot help.
            404 | 410 => Err(SendError::permanent(format!("push subscription gone ({status})"))),
            429 | 500..=599 => Err(SendError::temporary(format!("push service answered {status}"))),
            _ => Err(SendError::permanent(format!("push service answered {status}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_has_an_uncompressed_public_point() {
        let private = new_private_key();
        let public = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(public_key(&private).unwrap()).unwrap();
        assert_eq!(public.len(), 65);
        assert_eq!(public[0], 4);
        assert_ne!(public_key(&new_private_key()).unwrap(), public_key(&private).unwrap());
    }
}
