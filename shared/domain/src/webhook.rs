//! Webhooks: every lifecycle event of an import created with a `webhook_url` is
//! POSTed there by the `deliver-webhooks` function, never by the step that published it.
//! Publishing queues a [`DeliveryMessage`] on the webhooks queue; the function makes one attempt
//! per message and, when it fails, queues the message again for the next one.
//!
//! The request follows Standard Webhooks: `POST <webhook_url>`, `Content-Type:
//! application/json`, the event as the body (the very bytes of the import-events message), and
//! `webhook-id` (the event's id, the same on every attempt: receivers dedup on it),
//! `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`: `v1,` + base64 of
//! HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the bytes the tenant's `whsec_` secret
//! encodes in base64. While a rotation's old secret still signs, one signature per secret,
//! space-separated.
//!
//! Secrets are derived, never stored: version `v` of a tenant's secret is
//! `whsec_` + base64(HMAC-SHA256(signing key, "{tenant}\0{v}")). The imports table keeps only
//! the tenant's current version and the one before it ([`SecretVersions`]).
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

/// How long the secret before a rotation keeps signing.
pub const ROTATION_OVERLAP: time::Duration = time::Duration::hours(24);
const SECRET_PREFIX: &str = "whsec_";

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The key every tenant's webhook secrets are derived from (`WEBHOOK_SIGNING_KEY`, or the SSM
/// parameter `WEBHOOK_SIGNING_KEY_PARAMETER` names); never printed.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self(key.into())
    }

    /// Version `version` of the tenant's secret.
    pub fn secret(&self, tenant_id: &str, version: u64) -> Secret {
        Secret(hmac(&self.0, format!("{tenant_id}\0{version}").as_bytes()))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// One tenant secret: its bytes are the HMAC key.
pub struct Secret([u8; 32]);

impl Secret {
    /// As the tenant gets it: `whsec_` + base64.
    pub fn text(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(self.0))
    }

    /// The Standard Webhooks signature of one delivery: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        format!("v1,{}", BASE64.encode(hmac(&self.0, format!("{id}.{timestamp}.{body}").as_bytes())))
    }
}

/// The versions of a tenant's secret: `current` signs; `previous` too until `rotated_at` +
/// [`ROTATION_OVERLAP`]. A tenant that never rotated is at version 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecretVersions {
    pub current: u64,
    pub previous: Option<(u64, OffsetDateTime)>,
}

impl SecretVersions {
    /// The versions that sign at `now`, the current one first.
    pub fn signing(&self, now: OffsetDateTime) -> Vec<u64> {
        let mut versions = vec![self.current];
        versions.extend(self.previous.filter(|(_, at)| *at + ROTATION_OVERLAP > now).map(|(v, _)| v));
        versions
    }
}

/// How long and how often a delivery is tried (`WEBHOOK_RETRY_*`, `WEBHOOK_TIMEOUT_SECONDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait before the second attempt; each later one doubles it, up to `max_secs`.
    pub first_secs: u64,
    pub max_secs: u64,
    /// Waits in all (before jitter) beyond which the delivery is given up.
    pub give_up_after_secs: u64,
    /// One attempt's limit.
    pub timeout_secs: u64,
}

impl RetryPolicy {
    /// The wait, before jitter, after `attempts` failed attempts.
    pub fn backoff(&self, attempts: u32) -> u64 {
        self.first_secs.saturating_mul(1 << attempts.saturating_sub(1).min(32)).min(self.max_secs)
    }
}

/// An event on its way to a receiver: the webhooks queue's message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub tenant_id: String,
    pub import_id: String,
    pub event_id: String,
    pub url: String,
    /// The event, as on the import-events queue.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// The backoff waited so far, before jitter.
    pub waited_secs: u64,
    /// Unix seconds before which no attempt is made (a wait longer than SQS delays).
    pub not_before: i64,
}

impl DeliveryMessage {
    pub fn new(tenant_id: &str, import_id: &str, event_id: &str, url: &str, body: &str) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            import_id: import_id.into(),
            event_id: event_id.into(),
            url: url.into(),
            body: body.into(),
            attempts: 0,
            waited_secs: 0,
            not_before: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(key.len(), 24, "the example's key is 24 bytes; ours are 32");
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        let mac = hmac(&key, format!("{id}.1614265330.{body}").as_bytes());
        assert_eq!(BASE64.encode(mac), "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // Ours sign the same way with their own 32 bytes.
        let derived = SigningKey::new("k").secret("acme", 0);
        let sig = derived.sign(id, 1614265330, body);
        let expected = BASE64.encode(hmac(&derived.0, format!("{id}.1614265330.{body}").as_bytes()));
        assert_eq!(sig, format!("v1,{expected}"));
    }

    #[test]
    fn secrets_are_derived_per_tenant_and_version() {
        let key = SigningKey::new("key");
        let text = key.secret("acme", 0).text();
        assert!(text.starts_with("whsec_"), "{text}");
        assert_eq!(BASE64.decode(&text["whsec_".len()..]).unwrap().len(), 32);
        assert_eq!(text, key.secret("acme", 0).text());
        assert_ne!(text, key.secret("acme", 1).text());
        assert_ne!(text, key.secret("globex", 0).text());
        assert_ne!(text, SigningKey::new("other").secret("acme", 0).text());
        assert!(!format!("{key:?}").contains("key)"));
    }

    #[test]
    fn the_old_secret_signs_for_a_day_after_a_rotation() {
        let at = crate::time_fmt::now();
        let v = SecretVersions { current: 3, previous: Some((2, at)) };
        assert_eq!(v.signing(at), [3, 2]);
        assert_eq!(v.signing(at + time::Duration::hours(23)), [3, 2]);
        assert_eq!(v.signing(at + ROTATION_OVERLAP), [3]);
        assert_eq!(SecretVersions::default().signing(at), [0]);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let p = RetryPolicy { first_secs: 5, max_secs: 3600, give_up_after_secs: 86_400, timeout_secs: 10 };
        let waits: Vec<u64> = (1..=12).map(|n| p.backoff(n)).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
        assert_eq!(p.backoff(200), 3600);
        // A day of retries: the attempts the default policy makes before it gives up.
        let (mut waited, mut attempts) = (0, 1);
        while waited + p.backoff(attempts) <= p.give_up_after_secs {
            waited += p.backoff(attempts);
            attempts += 1;
        }
        assert!((20..40).contains(&attempts), "{attempts}");
        assert!(waited > 82_800, "{waited}");
    }
}
