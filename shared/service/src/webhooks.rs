//! Webhook deliveries and the tenant's secrets, over the services: the `deliver-webhooks`
//! function's attempts, and the secrets the API serves and rotates (`webhook` derives and signs).
//!
//! Attempts: at most `timeout_secs` each, through [`Outbound`] (the address rules). A 2xx answer
//! is delivered; an address the rules refuse is given up at once; anything else (any other
//! answer, a redirect, which is never followed, or no answer) is tried again after the
//! `webhook::RetryPolicy`'s backoff, doubling from `first_secs` up to `max_secs`, ±25 % jitter, until
//! the backoff would pass `give_up_after_secs` (a day): then the event is logged and dropped.
//! The import-events queue still holds it.

use time::OffsetDateTime;

use crate::outbound;
use crate::ports::Queue;
use crate::services::Services;
use domain::error::{Error, Result};
use domain::messages::{decode, encode};
use domain::time_fmt;
use domain::webhook::{DeliveryMessage, SigningKey};

/// SQS delays a message by at most 15 minutes; a longer wait takes several.
const MAX_DELAY_SECS: i64 = 900;

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

/// A new secret for the tenant; the one before keeps signing for `webhook::ROTATION_OVERLAP`.
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
    fn only_2xx_is_delivered() {
        for (status, expected) in [(200, Outcome::Delivered), (204, Outcome::Delivered), (301, Outcome::Failed)] {
            assert_eq!(outcome(status), expected, "{status}");
        }
        for status in [400, 404, 408, 410, 429, 500, 503] {
            assert_eq!(outcome(status), Outcome::Failed, "{status}");
        }
    }
}
