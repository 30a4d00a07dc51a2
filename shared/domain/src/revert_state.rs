//! What an import shows of its revert, and what a revert puts back: the before-images a unit of
//! work keeps of the records it writes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::record::{Fields, StoredRecord};

/// Identifiers of conflicting records the import lists; the count is exact beyond it.
pub const MAX_LISTED_CONFLICTS: usize = 100;
pub const MAX_LISTED_CONFLICT_BYTES: usize = 16 * 1024;

/// A record as it was before a write, and the fields the write left it with (none: deleted).
/// A revert compares fields, not versions: a record deleted and created again starts at
/// version 1 again, and an overwrite's mark moves the version without changing the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeforeImage {
    pub identifier: String,
    pub before: Option<StoredRecord>,
    pub after: Option<Fields>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevertStatus {
    Reverting,
    Reverted,
    /// A unit or the plan failed on every delivery; asking again resumes it.
    Failed,
}

/// What an import shows of its revert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevertState {
    pub status: RevertStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// Records the import created, deleted again.
    pub deleted: u64,
    /// Records the import updated, deleted or removed, with their previous values back.
    pub restored: u64,
    /// Records a later write changed: left as they are.
    pub conflicts: u64,
    /// The first of them.
    #[serde(default)]
    pub conflict_identifiers: Vec<String>,
    /// Units of work to revert, once planned, and how many are.
    #[serde(default)]
    pub units_total: Option<u64>,
    pub units_done: u64,
    /// Why it failed, when it did: `internal_error: revert failed (<kind of error>)`.
    #[serde(default)]
    pub reason: Option<String>,
}

impl RevertState {
    pub fn requested(now: OffsetDateTime) -> Self {
        Self {
            status: RevertStatus::Reverting,
            requested_at: now,
            completed_at: None,
            deleted: 0,
            restored: 0,
            conflicts: 0,
            conflict_identifiers: vec![],
            units_total: None,
            units_done: 0,
            reason: None,
        }
    }
}
