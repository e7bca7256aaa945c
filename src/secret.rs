//! Secrets: bearer tokens, ticket tokens, display keys and socket passes are 256 random bits,
//! handed out once and stored only as SHA-256 (they are too random to guess, so a fast hash is
//! enough). Passwords are stored as argon2id PHC strings.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;

/// A fresh random secret, URL-safe (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Lowercase hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is stored of a secret.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// SHA-256 of any bytes (request bodies for idempotency).
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// An argon2id PHC string for a password. Slow on purpose: call it off the async threads.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Whether `password` matches the PHC string `hash`. Slow on purpose.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A valid hash of no one's password: logins for unknown emails verify against it so they take
/// as long as real ones.
pub fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    // unwrap: hashing a constant with default parameters does not fail.
    HASH.get_or_init(|| hash_password("queuecast-no-such-user").unwrap())
}

/// Seals a ticket token for the idempotency record with a one-time pad derived from the
/// client's Idempotency-Key (which is stored only hashed): a replay with the same key can recover
/// the token, a reader of the database cannot.
pub fn seal_token(token: &str, idempotency_key: &str) -> Vec<u8> {
    let raw = URL_SAFE_NO_PAD.decode(token).unwrap_or_default();
    xor_pad(&raw, idempotency_key)
}

/// The token sealed by [`seal_token`] with the same key.
pub fn unseal_token(sealed: &[u8], idempotency_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(xor_pad(sealed, idempotency_key))
}

/// The key that seals a booking's token for the links of its reminders: the deployment's secret
/// (`server_keys.receipts`) and the appointment's id, so no two bookings share a pad.
pub fn booking_link_key(server_key: &[u8], appointment: uuid::Uuid) -> String {
    format!("booking-link:{}:{appointment}", hex(server_key))
}

fn xor_pad(bytes: &[u8], key: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"queuecast idempotency seal v1\0");
    h.update(key.as_bytes());
    let pad = h.finalize();
    bytes.iter().zip(pad.iter()).map(|(b, p)| b ^ p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_url_safe() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horse ", &h));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert!(!verify_password("queuecast-no-such-user ", dummy_password_hash()));
    }

    #[test]
    fn a_sealed_token_opens_only_with_its_key() {
        let token = new_token();
        let sealed = seal_token(&token, "key-1");
        assert_eq!(sealed.len(), TOKEN_BYTES);
        assert_eq!(unseal_token(&sealed, "key-1"), token);
        assert_ne!(unseal_token(&sealed, "key-2"), token);
        assert_ne!(sealed, URL_SAFE_NO_PAD.decode(&token).unwrap());
    }
}
