//! The stored shapes of an import and a record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use domain::import::{Import, Progress};
use domain::record::StoredRecord;
use service::ports::StoredImport;

/// How long after its `expires_at` DynamoDB's TTL deletes an import item and its ledger. The
/// sweeper deletes a lapsed import with its files first; the TTL is the backstop, and this
/// grace, longer than the longest `max_idle` (a day), lets an import still running at its
/// expiry end or time out and be deleted by the sweeper before the TTL removes the item alone
/// (unless it keeps making progress for two more days).
pub(super) const TTL_GRACE_SECS: i64 = 2 * 86_400;

/// The TTL attribute of an import item and its ledger entries.
pub(super) fn ttl_of(import: &Import) -> i64 {
    import.expires_at.unix_timestamp() + TTL_GRACE_SECS
}

#[derive(Serialize, Deserialize)]
pub(super) struct ImportItem {
    pub(super) pk: String,
    pub(super) sk: String,
    /// Epoch seconds at which DynamoDB's TTL deletes the item (`ttl_of`).
    pub(super) ttl: i64,
    #[serde(flatten)]
    pub(super) import: Import,
    pub(super) progress: Progress,
    pub(super) requested_mappings: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub(super) source_etag: Option<String>,
    /// `events::key` → when it was published, for events marked before marks became ledger
    /// items of their own ([`EVENT_SK_PREFIX`](super::layout::EVENT_SK_PREFIX)). A map from the create on: its presence says the
    /// import records its events; absent on items stored before events were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) published: Option<BTreeMap<String, String>>,
    /// [`STATUS_INDEX`](super::STATUS_INDEX)'s key: kept with `status` by every write that changes it.
    #[serde(default)]
    pub(super) tenant_status: String,
    /// [`SWEEP_INDEX`](super::SWEEP_INDEX)'s keys.
    #[serde(default)]
    pub(super) sweep_shard: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sweep_at: Option<i64>,
    /// Read from the run's counter shards, not stored on the item.
    #[serde(skip)]
    pub(super) batch_counted_at: Option<i64>,
}

pub(super) fn instant(epoch: Option<i64>) -> Option<OffsetDateTime> {
    epoch.and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
}

impl From<ImportItem> for StoredImport {
    fn from(item: ImportItem) -> Self {
        StoredImport {
            import: item.import,
            progress: item.progress,
            requested_mappings: item.requested_mappings,
            source_etag: item.source_etag,
            published: item.published.map(|marks| marks.into_keys().collect()),
            sweep_at: instant(item.sweep_at),
            batch_counted_at: instant(item.batch_counted_at),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct RecordItem {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(flatten)]
    pub(super) record: StoredRecord,
}
