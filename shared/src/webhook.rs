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
//!
//! Attempts: at most `timeout_secs` each, through [`Outbound`] (the address rules). A 2xx answer
//! is delivered; an address the rules refuse is given up at once; anything else (any other
//! answer, a redirect, which is never followed, or no answer) is tried again after the
//! [`RetryPolicy`]'s backoff, doubling from `first_secs` up to `max_secs`, ±25 % jitter, until
//! the backoff would pass `give_up_after_secs` (a day): then the event is logged and dropped.
//! The import-events queue still holds it.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::messages::{decode, encode};
use crate::outbound::{self, Outbound};
use crate::ports::Queue;
use crate::services::Services;
use crate::time_fmt;

/// How long the secret before a rotation keeps signing.
pub const ROTATION_OVERLAP: time::Duration = time::Duration::hours(24);
/// SQS delays a message by at most 15 minutes; a longer wait takes several.
const MAX_DELAY_SECS: i64 = 900;
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
    fn backoff(&self, attempts: u32) -> u64 {
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

/// The HTTP client deliveries are made with; built once per process.
#[derive(Clone)]
pub struct Webhooks {
    outbound: Outbound,
}

impl Webhooks {
    pub fn new(settings: &Settings) -> Result<Self> {
        let timeout = Duration::from_secs(settings.webhook_retry.timeout_secs);
        Ok(Self { outbound: Outbound::new(timeout, settings.allow_insecure_webhooks)? })
    }
}

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    /// The rules refuse the address: no later attempt would go anywhere else.
    Refused,
    Failed,
}

fn outcome(status: u16) -> Outcome {
    if (200..300).contains(&status) {
        Outcome::Delivered
    } else {
        Outcome::Failed
    }
}

fn signing_key(svc: &Services) -> Result<&SigningKey> {
    svc.settings.webhook_signing_key.as_ref().ok_or_else(|| Error::Internal("no webhook signing key is set".into()))
}

/// The `webhook-signature` value: one signature per secret that signs at `now`.
pub async fn signatures(svc: &Services, tenant_id: &str, id: &str, timestamp: i64, body: &str) -> Result<String> {
    let key = signing_key(svc)?;
    let now = OffsetDateTime::from_unix_timestamp(timestamp).map_err(|e| Error::Internal(e.to_string()))?;
    let versions = svc.webhook_secrets.versions(tenant_id).await?;
    let signed: Vec<String> =
        versions.signing(now).into_iter().map(|v| key.secret(tenant_id, v).sign(id, timestamp, body)).collect();
    Ok(signed.join(" "))
}

/// The tenant's current secret (`GET /v1/webhooks/secret`).
pub async fn current_secret(svc: &Services, tenant_id: &str) -> Result<String> {
    let key = signing_key(svc)?;
    let versions = svc.webhook_secrets.versions(tenant_id).await?;
    Ok(key.secret(tenant_id, versions.current).text())
}

/// A new secret for the tenant; the one before keeps signing for [`ROTATION_OVERLAP`].
pub async fn rotate_secret(svc: &Services, tenant_id: &str) -> Result<String> {
    let key = signing_key(svc)?;
    let versions = svc.webhook_secrets.rotate(tenant_id, time_fmt::now()).await?;
    tracing::info!(tenant_id, version = versions.current, "webhook secret rotated");
    Ok(key.secret(tenant_id, versions.current).text())
}

/// Handles one message of the webhooks queue: an attempt when it is due, then the next one
/// queued or the delivery ended. Logs name the tenant, import and event, never the URL (it may
/// carry a token), the body or a secret. An error (the secrets unreadable, the queue refusing)
/// leaves the message to SQS's redelivery.
pub async fn deliver(svc: &Services, message: &str) -> Result<()> {
    let mut m: DeliveryMessage = decode(message)?;
    let now = time_fmt::now().unix_timestamp();
    if m.not_before > now {
        let delay = (m.not_before - now).min(MAX_DELAY_SECS);
        return svc.queue.send_after(Queue::Webhooks, &m.tenant_id, message.to_string(), delay as u32).await;
    }
    let (tenant_id, import_id, event_id) = (m.tenant_id.as_str(), m.import_id.as_str(), m.event_id.as_str());
    let signature = signatures(svc, tenant_id, event_id, now, &m.body).await?;
    m.attempts += 1;
    let attempt = m.attempts;
    let request = svc.webhooks.outbound.post(&m.url).map(|r| {
        r.header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", event_id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(m.body.clone())
    });
    let (outcome, status, error) = match request {
        Err(why) => (Outcome::Refused, None, Some(why)),
        Ok(request) => match request.send().await {
            Ok(resp) => (outcome(resp.status().as_u16()), Some(resp.status().as_u16()), None),
            Err(e) if outbound::is_refused(&e) => (Outcome::Refused, None, Some(e.without_url().to_string())),
            Err(e) => (Outcome::Failed, None, Some(e.without_url().to_string())),
        },
    };
    match outcome {
        Outcome::Delivered => {
            tracing::info!(tenant_id, import_id, event_id, attempt, "webhook delivered");
            return Ok(());
        }
        Outcome::Refused => {
            tracing::error!(tenant_id, import_id, event_id, attempt, error, "webhook address refused; not delivered");
            return Ok(());
        }
        Outcome::Failed => {}
    }
    let policy = svc.settings.webhook_retry;
    let backoff = policy.backoff(attempt);
    if m.waited_secs + backoff > policy.give_up_after_secs {
        let waited_secs = m.waited_secs;
        tracing::error!(tenant_id, import_id, event_id, attempt, waited_secs, status, error, "webhook given up");
        return Ok(());
    }
    tracing::warn!(tenant_id, import_id, event_id, attempt, status, error, "webhook failed; retrying");
    // ±25 %, so that many deliveries failing at once do not come back at once.
    let wait = ((backoff as f64) * (0.75 + fastrand::f64() / 2.0)).round() as i64;
    m.waited_secs += backoff;
    m.not_before = now + wait;
    let body = encode(&m)?;
    svc.queue.send_after(Queue::Webhooks, &m.tenant_id, body, wait.min(MAX_DELAY_SECS) as u32).await
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
        let at = time_fmt::now();
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

    #[test]
    fn only_2xx_is_delivered() {
        for (status, expected) in [(200, Outcome::Delivered), (204, Outcome::Delivered), (301, Outcome::Failed)] {
            assert_eq!(outcome(status), expected, "{status}");
        }
        for status in [400, 404, 408, 410, 429, 500, 503] {
            assert_eq!(outcome(status), Outcome::Failed, "{status}");
        }
    }
}
