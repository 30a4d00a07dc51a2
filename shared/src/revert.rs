//! `revert` (SPEC §9): before a unit of work writes records, it keeps their before-images in S3
//! and names the object in its ledger entry; a revert puts each record back as it was, unless a
//! later write changed it since (those are reported, not clobbered).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::error_files;
use crate::ports::RecordWrite;
use crate::record::StoredRecord;
use crate::services::Services;

/// A record as it was before a write, and the version the write left it at (none: deleted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeforeImage {
    pub identifier: String,
    pub before: Option<StoredRecord>,
    pub after_version: Option<u64>,
}

/// Stores the before-images of a unit's writes, read at `before`, and returns the key. Each
/// attempt stores its own object: only the one the applied ledger entry names counts.
pub async fn keep(
    svc: &Services,
    tenant_id: &str,
    import_id: &str,
    writes: &[RecordWrite],
    before: impl Fn(&str) -> Option<StoredRecord>,
) -> Result<Option<String>> {
    if writes.is_empty() {
        return Ok(None);
    }
    let images: Vec<BeforeImage> = writes
        .iter()
        .map(|w| BeforeImage {
            identifier: w.record.identifier.clone(),
            before: before(&w.record.identifier),
            after_version: (!w.delete).then_some(w.record.version),
        })
        .collect();
    let body = serde_json::to_vec(&images).map_err(|e| Error::Internal(e.to_string()))?;
    let key = format!(
        "{}before/{}.json",
        error_files::prefix(tenant_id, import_id),
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    svc.files.put(&key, body).await?;
    Ok(Some(key))
}
