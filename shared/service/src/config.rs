//! Settings from the environment. A missing variable is an error that names it.

use domain::error::{Error, Result};
use domain::webhook::{RetryPolicy, SigningKey};

#[derive(Debug, Clone)]
pub struct Settings {
    pub imports_table: String,
    pub records_table: String,
    pub uploads_bucket: String,
    pub transform_queue_url: String,
    pub process_queue_url: String,
    /// Where lifecycle events are published (docs/api.md, Lifecycle events).
    pub events_queue_url: String,
    /// Webhook deliveries, drained by the deliver-webhooks function.
    pub webhooks_queue_url: String,
    /// Endpoint the uploader reaches S3 at, when it differs from ours (a local emulator behind
    /// another address). Presigned URLs sign the host, so they are minted for this one.
    pub s3_public_endpoint: Option<String>,
    pub upload_url_ttl_secs: u64,
    /// Rows per transform chunk: the unit of fan-out.
    pub chunk_rows: u64,
    /// A running import with no counted unit (chunk or batch) for this long times out
    /// (`max_idle`).
    pub max_idle_secs: u64,
    /// How long a run that revokes another's hold on a type waits before it writes
    /// (`pipeline::type_hold`): longer than a process delivery may run (its function's timeout).
    pub type_hold_grace_secs: u64,
    /// Write shards of each type's records and index (`RECORD_SHARDS`, 1 to 64, default 16):
    /// fixed once the records table holds records, as records are looked for where this puts them.
    pub record_shards: u32,
    /// Derives each tenant's webhook secrets (see `webhook`): `WEBHOOK_SIGNING_KEY`, or read
    /// once per cold start from the SSM SecureString `WEBHOOK_SIGNING_KEY_PARAMETER` names (only
    /// the functions that sign or serve secrets have either).
    pub webhook_signing_key: Option<SigningKey>,
    pub webhook_signing_key_parameter: Option<String>,
    pub webhook_retry: RetryPolicy,
    /// `http://` webhook URLs to a loopback host are accepted: for the local host, never in AWS.
    pub allow_insecure_webhooks: bool,
    /// How long one invocation of a step that can go on in another (prevalidation's scan) works
    /// before it does (`STEP_TIME_BUDGET_SECONDS`, seconds, fractions allowed); without it, until
    /// a minute before the Lambda's own deadline (`deadline`).
    pub step_time_budget: Option<std::time::Duration>,
}

impl Settings {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |name: &'static str| get(name).filter(|v| !v.is_empty()).ok_or(Error::MissingEnv(name));
        let number = |name: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| -> Result<u64> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().ok().filter(|n| range.contains(n)).ok_or_else(|| Error::BadEnv {
                    name,
                    message: format!("expected a whole number in {}..={}", range.start(), range.end()),
                }),
            }
        };
        Ok(Self {
            imports_table: required("IMPORTS_TABLE")?,
            records_table: required("RECORDS_TABLE")?,
            uploads_bucket: required("UPLOADS_BUCKET")?,
            transform_queue_url: required("TRANSFORM_QUEUE_URL")?,
            process_queue_url: required("PROCESS_QUEUE_URL")?,
            events_queue_url: required("EVENTS_QUEUE_URL")?,
            webhooks_queue_url: required("WEBHOOKS_QUEUE_URL")?,
            s3_public_endpoint: get("S3_PUBLIC_ENDPOINT").filter(|v| !v.is_empty()),
            upload_url_ttl_secs: number("UPLOAD_URL_TTL_SECONDS", 900, 60..=900)?,
            chunk_rows: number("CHUNK_ROWS", 2_000, 1..=100_000)?,
            max_idle_secs: number("MAX_IDLE_SECONDS", 1_800, 60..=86_400)?,
            type_hold_grace_secs: number("TYPE_HOLD_GRACE_SECONDS", 150, 0..=900)?,
            record_shards: number("RECORD_SHARDS", 16, 1..=64)? as u32,
            webhook_signing_key: get("WEBHOOK_SIGNING_KEY").filter(|v| !v.is_empty()).map(SigningKey::new),
            webhook_signing_key_parameter: get("WEBHOOK_SIGNING_KEY_PARAMETER").filter(|v| !v.is_empty()),
            webhook_retry: RetryPolicy {
                first_secs: number("WEBHOOK_RETRY_FIRST_SECONDS", 5, 1..=3_600)?,
                max_secs: number("WEBHOOK_RETRY_MAX_SECONDS", 3_600, 1..=43_200)?,
                give_up_after_secs: number("WEBHOOK_RETRY_FOR_SECONDS", 86_400, 1..=172_800)?,
                // Half the delivery function's 60 s: a batch's attempts run at once and must end in it.
                timeout_secs: number("WEBHOOK_TIMEOUT_SECONDS", 10, 1..=30)?,
            },
            step_time_budget: match get("STEP_TIME_BUDGET_SECONDS").filter(|v| !v.is_empty()) {
                None => None,
                Some(v) => Some(
                    v.parse::<f64>()
                        .ok()
                        .filter(|s| *s > 0.0 && *s <= 900.0)
                        .map(std::time::Duration::from_secs_f64)
                        .ok_or(Error::BadEnv {
                        name: "STEP_TIME_BUDGET_SECONDS",
                        message: "expected seconds over 0 and at most 900, such as 2 or 0.5".into(),
                    })?,
                ),
            },
            allow_insecure_webhooks: match get("ALLOW_INSECURE_WEBHOOKS").as_deref() {
                None | Some("" | "0" | "false") => false,
                Some("1" | "true") => true,
                Some(_) => {
                    let message = "expected 1 or true (on), 0 or false (off)".into();
                    return Err(Error::BadEnv { name: "ALLOW_INSECURE_WEBHOOKS", message });
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const FULL: &[(&str, &str)] = &[
        ("IMPORTS_TABLE", "imports"),
        ("RECORDS_TABLE", "records"),
        ("UPLOADS_BUCKET", "uploads"),
        ("TRANSFORM_QUEUE_URL", "http://q/transform"),
        ("PROCESS_QUEUE_URL", "http://q/process"),
        ("EVENTS_QUEUE_URL", "http://q/events"),
        ("WEBHOOKS_QUEUE_URL", "http://q/webhooks"),
    ];

    #[test]
    fn missing_variable_is_named() {
        let vars = env(&FULL[1..]);
        let err = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert_eq!(err.to_string(), "environment variable IMPORTS_TABLE is not set");
    }

    #[test]
    fn defaults_and_bad_numbers() {
        let mut vars = env(FULL);
        let s = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert_eq!((s.upload_url_ttl_secs, s.chunk_rows, s.max_idle_secs), (900, 2_000, 1_800));
        vars.insert("UPLOAD_URL_TTL_SECONDS".into(), "3600".into());
        let err = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("UPLOAD_URL_TTL_SECONDS"), "{err}");
    }

    #[test]
    fn step_time_budget_is_seconds_over_zero() {
        let mut vars = env(FULL);
        assert_eq!(Settings::from_lookup(|k| vars.get(k).cloned()).unwrap().step_time_budget, None);
        vars.insert("STEP_TIME_BUDGET_SECONDS".into(), "0.5".into());
        let budget = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap().step_time_budget;
        assert_eq!(budget, Some(std::time::Duration::from_millis(500)));
        for bad in ["0", "-1", "soon", "901"] {
            vars.insert("STEP_TIME_BUDGET_SECONDS".into(), bad.into());
            let err = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
            assert!(err.to_string().contains("STEP_TIME_BUDGET_SECONDS"), "{err}");
        }
    }

    #[test]
    fn insecure_webhooks_are_off_unless_switched_on() {
        let mut vars = env(FULL);
        assert!(!Settings::from_lookup(|k| vars.get(k).cloned()).unwrap().allow_insecure_webhooks);
        vars.insert("ALLOW_INSECURE_WEBHOOKS".into(), "1".into());
        assert!(Settings::from_lookup(|k| vars.get(k).cloned()).unwrap().allow_insecure_webhooks);
        vars.insert("ALLOW_INSECURE_WEBHOOKS".into(), "yes please".into());
        let err = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("ALLOW_INSECURE_WEBHOOKS"), "{err}");
    }

    #[test]
    fn the_signing_key_is_optional_and_the_retry_policy_bounded() {
        let mut vars = env(FULL);
        let s = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert!(s.webhook_signing_key.is_none() && s.webhook_signing_key_parameter.is_none());
        assert_eq!((s.webhook_retry.give_up_after_secs, s.webhook_retry.timeout_secs), (86_400, 10));
        vars.insert("WEBHOOK_SIGNING_KEY_PARAMETER".into(), "/imports/webhook-key".into());
        vars.insert("WEBHOOK_RETRY_FIRST_SECONDS".into(), "1".into());
        let s = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert_eq!(s.webhook_signing_key_parameter.as_deref(), Some("/imports/webhook-key"));
        assert_eq!(s.webhook_retry.first_secs, 1);
        vars.insert("WEBHOOK_TIMEOUT_SECONDS".into(), "600".into());
        let err = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("WEBHOOK_TIMEOUT_SECONDS"), "{err}");
    }
}
