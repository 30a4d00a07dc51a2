//! `WebhookSecrets` in memory: each tenant's versions, rotated as the DynamoDB store rotates.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use domain::webhook::SecretVersions;
use domain::Result;
use service::ports::WebhookSecrets;
use time::OffsetDateTime;

use crate::faults::Faults;

#[derive(Default)]
pub struct MemorySecrets {
    versions: Mutex<BTreeMap<String, SecretVersions>>,
    pub faults: Faults,
}

#[async_trait]
impl WebhookSecrets for MemorySecrets {
    async fn versions(&self, tenant_id: &str) -> Result<SecretVersions> {
        self.faults.before("versions")?;
        let versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(versions.get(tenant_id).copied().unwrap_or_default())
    }

    async fn rotate(&self, tenant_id: &str, now: OffsetDateTime) -> Result<SecretVersions> {
        self.faults.before("rotate")?;
        let mut versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = versions.entry(tenant_id.to_string()).or_default();
        // Whole seconds, as the store keeps the rotation time.
        let at = OffsetDateTime::from_unix_timestamp(now.unix_timestamp()).unwrap_or(now);
        *entry = SecretVersions { current: entry.current + 1, previous: Some((entry.current, at)) };
        Ok(*entry)
    }
}
