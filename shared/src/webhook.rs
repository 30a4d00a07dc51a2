//! Signed webhooks (SPEC §5 `webhook_url`, §9): every lifecycle event of an import created with
//! a `webhook_url` is POSTed there, besides going to the import-events queue.
//!
//! The request: `POST <webhook_url>`, `Content-Type: application/json`, the event as the body
//! (the very bytes of the queue message), `X-Event-Id: <the event's id>` (the same on every retry
//! of one event: receivers dedup on it) and `X-Signature: sha256=<hex>`, the lower-case hex
//! HMAC-SHA256 of exactly the body bytes, keyed with the tenant's webhook secret.
//!
//! The tenant's secret is derived, never stored: `hex(HMAC-SHA256(WEBHOOK_SIGNING_KEY, tenant_id))`,
//! 64 lower-case hex characters; a receiver keys its HMAC with those characters as they are
//! (their bytes, not the bytes they encode). An operator computes it to hand a tenant its secret;
//! changing `WEBHOOK_SIGNING_KEY` changes every tenant's.
//!
//! Delivery: up to [`ATTEMPTS`] attempts of at most 5 s each, backing off about 0.5 s, 1 s, 2 s
//! (±25 % jitter). A 2xx answer is delivered; 408, 429, a 5xx or no answer at all is tried again;
//! any other answer (another 4xx, a redirect, which is never followed) ends the delivery. An event
//! that is not delivered is logged and dropped: the step that published it goes on, and the
//! import-events queue still holds it.
//!
//! URLs: `https` with a host, at most [`MAX_URL_BYTES`]; `http` only to a loopback host
//! (127.0.0.0/8, ::1, localhost) when `ALLOW_INSECURE_WEBHOOKS` is on, as the local host sets it.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::{Host, Url};

use crate::config::Settings;
use crate::error::{Error, Result};

pub const MAX_URL_BYTES: usize = 2048;
pub const ATTEMPTS: u32 = 4;
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The wait before the first retry; each later one doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The key every tenant's webhook secret is derived from (`WEBHOOK_SIGNING_KEY`); never printed.
#[derive(Clone)]
pub struct SigningKey(String);

impl SigningKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The tenant's webhook secret: `hex(HMAC-SHA256(key, tenant_id))`.
    pub fn tenant_secret(&self, tenant_id: &str) -> String {
        hmac_hex(self.0.as_bytes(), tenant_id.as_bytes())
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Signature` value of a body under a tenant's secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret.as_bytes(), body))
}

/// Why a `webhook_url` is refused, for the create request's 400; `Ok` when it is one we call.
pub fn check_url(text: &str, allow_insecure: bool) -> Result<(), String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("at most {MAX_URL_BYTES} bytes"));
    }
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    let loopback = match url.host() {
        None => return Err("must be an https:// URL with a host".into()),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure && loopback => Ok(()),
        "http" if allow_insecure => Err("http:// is accepted for a loopback host only; use https://".into()),
        _ => Err("must be an https:// URL".into()),
    }
}

/// One event to POST.
pub struct Delivery<'a> {
    pub url: &'a str,
    pub tenant_id: &'a str,
    pub import_id: &'a str,
    pub event_id: &'a str,
    pub body: &'a str,
}

/// What one attempt's outcome means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Delivered,
    Retry,
    GiveUp,
}

fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::GiveUp,
    }
}

/// The wait before retry `n` (0 = the first): the doubling step, ±25 % so that many deliveries
/// failing at once do not come back at once.
fn backoff(n: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1 << n.min(16)).mul_f64(0.75 + fastrand::f64() / 2.0)
}

/// Posts signed events; built once per process.
#[derive(Clone)]
pub struct Webhooks {
    http: reqwest::Client,
    key: SigningKey,
}

impl Webhooks {
    pub fn new(settings: &Settings) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(format!("webhook HTTP client: {e}")))?;
        Ok(Self { http, key: settings.webhook_signing_key.clone() })
    }

    /// Delivers the event, retrying as the module says; logs the outcome, never fails. The logs
    /// name the tenant, import and event, never the URL (it may carry a token), body or secret.
    pub async fn deliver(&self, d: &Delivery<'_>) {
        let (tenant_id, import_id, event_id) = (d.tenant_id, d.import_id, d.event_id);
        let signature = signature(&self.key.tenant_secret(tenant_id), d.body.as_bytes());
        for attempt in 1..=ATTEMPTS {
            let sent = self
                .http
                .post(d.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Event-Id", event_id)
                .header("X-Signature", &signature)
                .body(d.body.to_string())
                .send()
                .await;
            let verdict = match &sent {
                Ok(resp) => verdict(resp.status().as_u16()),
                Err(e) if e.is_builder() => Verdict::GiveUp,
                Err(_) => Verdict::Retry,
            };
            let status = sent.as_ref().ok().map(|r| r.status().as_u16());
            let error = sent.err().map(|e| e.without_url().to_string());
            match verdict {
                Verdict::Delivered => {
                    tracing::info!(tenant_id, import_id, event_id, attempt, "webhook delivered");
                    return;
                }
                Verdict::Retry if attempt < ATTEMPTS => {
                    tracing::warn!(tenant_id, import_id, event_id, attempt, status, error, "webhook failed; retrying");
                    tokio::time::sleep(backoff(attempt - 1)).await;
                }
                _ => {
                    tracing::error!(tenant_id, import_id, event_id, attempt, status, error, "webhook not delivered");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tenant_secrets_are_derived_per_tenant() {
        let key = SigningKey::new("Jefe");
        assert_eq!(
            key.tenant_secret("what do ya want for nothing?"),
            hmac_hex(b"Jefe", b"what do ya want for nothing?")
        );
        assert_eq!(key.tenant_secret("acme").len(), 64);
        assert_ne!(key.tenant_secret("acme"), key.tenant_secret("globex"));
        assert_ne!(key.tenant_secret("acme"), SigningKey::new("other").tenant_secret("acme"));
        assert!(!format!("{key:?}").contains("Jefe"));
    }

    #[test]
    fn urls_are_https_or_insecure_loopback() {
        for (url, insecure, ok) in [
            ("https://hooks.example.com/x?token=1", false, true),
            ("https://127.0.0.1:8443/x", false, true),
            ("HTTPS://Example.COM", false, true),
            ("http://127.0.0.1:9/hook", true, true),
            ("http://127.8.9.10/hook", true, true),
            ("http://[::1]:9/hook", true, true),
            ("http://LOCALHOST/hook", true, true),
            ("http://127.0.0.1:9/hook", false, false),
            ("http://localhost/hook", false, false),
            ("http://example.com/x", true, false),
            ("http://10.0.0.1/x", true, false),
            ("http://localhost.example.com/x", true, false),
            ("http://[::ffff:127.0.0.1]/x", true, false),
            ("ftp://example.com/x", true, false),
            ("mailto:ops@example.com", true, false),
            ("file:///etc/passwd", true, false),
            ("https://", false, false),
            ("not a url", true, false),
            ("", false, false),
            ("/relative/path", false, false),
        ] {
            assert_eq!(
                check_url(url, insecure).is_ok(),
                ok,
                "{url} insecure={insecure}: {:?}",
                check_url(url, insecure)
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(check_url(&long, false).unwrap_err().contains("2048"));
        assert!(check_url("http://example.com/x", true).unwrap_err().contains("loopback"));
    }

    #[test]
    fn only_transient_answers_are_retried() {
        for (status, expected) in [
            (200, Verdict::Delivered),
            (204, Verdict::Delivered),
            (408, Verdict::Retry),
            (429, Verdict::Retry),
            (500, Verdict::Retry),
            (503, Verdict::Retry),
            (301, Verdict::GiveUp),
            (400, Verdict::GiveUp),
            (401, Verdict::GiveUp),
            (404, Verdict::GiveUp),
            (410, Verdict::GiveUp),
        ] {
            assert_eq!(verdict(status), expected, "{status}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        for (n, base_ms) in [(0, 500.0), (1, 1_000.0), (2, 2_000.0)] {
            for _ in 0..100 {
                let ms = backoff(n).as_secs_f64() * 1_000.0;
                assert!((base_ms * 0.75..=base_ms * 1.25).contains(&ms), "retry {n}: {ms} ms");
            }
        }
    }
}
