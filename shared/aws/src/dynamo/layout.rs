//! The key layout of both tables, and the keys of the two indexes of the imports table.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use time::OffsetDateTime;

use domain::error::{Error, Result};
use domain::import::Status;
use domain::record::ResourceType;
use domain::time_fmt;
use service::ports::Unit;

use super::attributes::{n, s};

/// The index of a tenant's imports by status: `tenant_status` (S), `sk` (S), keys only (so the
/// writes that count chunks into an import leave it alone).
pub const STATUS_INDEX: &str = "by_status";
/// The index of the sweeper's deadlines: `sweep_shard` (N), `sweep_at` (N), keys only.
pub const SWEEP_INDEX: &str = "by_sweep_at";

/// Partitions of [`SWEEP_INDEX`], each import in one by its id, so no partition takes every
/// deadline's writes; a round queries each.
pub(super) const SWEEP_SHARDS: u32 = 8;

pub(super) fn sweep_shard(import_id: &str) -> u32 {
    import_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % SWEEP_SHARDS
}

pub(super) fn tenant_status(tenant_id: &str, status: Status) -> String {
    format!("{tenant_id}#{}", status.as_str())
}

/// The `sweep_at` of a status change made `at`: the sweeper comes once the change's events are
/// its own to send, and moves it on to the import's next deadline.
pub(super) fn sweep_after(at: OffsetDateTime) -> i64 {
    (at + domain::events::GRACE).unix_timestamp()
}

/// [`sweep_after`] a change made now.
pub(super) fn sweep_soon() -> AttributeValue {
    n(sweep_after(time_fmt::now()))
}

pub(super) fn import_key(tenant_id: &str, import_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".into(), s(tenant_id)), ("sk".into(), s(import_id))])
}

pub(super) fn ledger_pk(tenant_id: &str, import_id: &str) -> String {
    format!("ledger#{tenant_id}#{import_id}")
}

/// A chunk's ledger key.
pub(super) fn chunk_sk(run: u32, chunk: u64) -> String {
    format!("chunk#{run:04}#{chunk:010}")
}

/// What the ledger keys of a chunk's batches start with; a batch's is this and `{batch:06}`.
pub fn batch_sk_prefix(run: u32, chunk: u64) -> String {
    format!("{}{chunk:010}#", batches_sk_prefix(run))
}

/// What the ledger keys of a run's batches start with.
pub fn batches_sk_prefix(run: u32) -> String {
    format!("batch#{run:04}#")
}

/// What the ledger keys of the events marked published start with; the rest is `events::key`.
pub(super) const EVENT_SK_PREFIX: &str = "event#";

/// What the ledger keys of revert units start with; the rest is the key of the unit reverted.
pub(super) const REVERT_SK_PREFIX: &str = "revert#";

/// What the ledger keys of a dry-run overwrite's notes start with; the rest is the identifier, so
/// they sort as the records do, unless it is too long to fit (`keys::sort_key`): such a note keeps
/// the identifier in [`NOTED`].
pub(super) fn seen_sk_prefix(run: u32) -> String {
    format!("seen#{run:04}#")
}

/// The attribute of a note whose key holds a digest of its identifier: the identifier.
pub(super) const NOTED: &str = "noted_identifier";

/// What the ledger keys of an overwrite's removals start with.
pub fn removal_sk_prefix(run: u32) -> String {
    format!("removal#{run:04}#")
}

pub(super) fn records_pk(tenant_id: &str, resource: ResourceType) -> String {
    format!("{tenant_id}#{}", resource.as_str())
}

/// The index of an alternate identifier lives beside the records: `sk` = value, `target` = the
/// record's identifier. Listings of records never see it (another partition). The values are
/// short fields or domains, at most 1,024 bytes: a sort key as they are.
pub(super) fn index_pk(tenant_id: &str, resource: ResourceType, field: &str) -> String {
    format!("{tenant_id}#{}#by#{field}", resource.as_str())
}

pub(super) fn encode_cursor(sk: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk)
}

pub(super) fn decode_cursor(cursor: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|sk| !sk.is_empty() && sk.len() <= domain::validate::MAX_IDENTIFIER_BYTES)
        .ok_or_else(|| Error::invalid("cursor", "invalid", "not a cursor this API returned"))
}

/// The ledger key of a unit of work.
pub fn unit_sk(run: u32, unit: &Unit) -> String {
    match unit {
        Unit::Batch { chunk, batch } => format!("{}{batch:06}", batch_sk_prefix(run, *chunk)),
        Unit::Removal { page } => format!("{}{page}", removal_sk_prefix(run)),
    }
}
