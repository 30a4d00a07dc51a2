//! What the steps that write records share (process, an overwrite's cleanup, a revert): retries
//! while another writer keeps changing the same records, and the alternate-identifier index
//! every write keeps unique.

use std::collections::HashMap;
use std::time::Duration;

use crate::ports::{IndexChange, RecordWrite};
use crate::services::Services;
use domain::error::Result;
use domain::identifiers;
use domain::record::{Fields, ResourceType, StoredRecord};

/// Attempts when another writer keeps changing the same records; then the queue retries.
pub(super) const MAX_ATTEMPTS: u32 = 6;

/// The pause before attempt `attempt + 1`.
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(20 << attempt)
}

/// Which records hold the alternate identifier values these fields have: value → identifier.
pub(super) async fn holders_of<'a>(
    svc: &Services,
    tenant_id: &str,
    resource: ResourceType,
    fields: impl IntoIterator<Item = &'a Fields>,
) -> Result<HashMap<String, String>> {
    let Some(field) = identifiers::alternate(resource) else { return Ok(HashMap::new()) };
    // `lookup` asks for each value once.
    let values: Vec<String> = fields.into_iter().filter_map(|f| identifiers::value_of(resource, field, f)).collect();
    svc.records.lookup(tenant_id, resource, field, &values).await
}

/// The write that deletes a record at the version it was read at, releasing its alternate value.
pub(super) fn deletion(
    resource: ResourceType,
    alternate: Option<&str>,
    old: &StoredRecord,
    holders: &HashMap<String, String>,
) -> RecordWrite {
    let gone = StoredRecord { fields: Default::default(), ..old.clone() };
    let index = index_changes(resource, alternate, Some(old), &gone, holders);
    RecordWrite { record: gone, expected_version: Some(old.version), index, delete: true }
}

/// The index entries a record's write claims and releases.
pub(super) fn index_changes(
    resource: ResourceType,
    alternate: Option<&str>,
    old: Option<&StoredRecord>,
    new: &StoredRecord,
    holders: &HashMap<String, String>,
) -> Vec<IndexChange> {
    let Some(field) = alternate else { return vec![] };
    let before = old.and_then(|o| identifiers::value_of(resource, field, &o.fields));
    let after = identifiers::value_of(resource, field, &new.fields);
    let mut changes = Vec::new();
    if before != after {
        if let Some(value) = before.filter(|v| holders.get(v) == Some(&new.identifier)) {
            changes.push(IndexChange::Release { field: field.into(), value });
        }
    }
    if let Some(value) = after.filter(|v| holders.get(v) != Some(&new.identifier)) {
        changes.push(IndexChange::Claim { field: field.into(), value });
    }
    changes
}
