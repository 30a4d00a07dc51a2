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
    spread(import_id, SWEEP_SHARDS)
}

/// Which of `shards` partitions `key` goes to: FNV-1a, stable across builds and machines (the
/// keys written depend on it), so neighbouring keys of a sorted file land far apart.
pub(super) fn spread(key: &str, shards: u32) -> u32 {
    let hash = key.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash % shards.max(1)
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

/// What the ledger keys of an overwrite's ended cleanup pages start with; the rest is the page's
/// cursor (`keys::sort_key`).
pub(super) fn page_sk_prefix(run: u32) -> String {
    format!("page#{run:04}#")
}

/// The attribute of a note whose key holds a digest of its identifier: the identifier.
pub(super) const NOTED: &str = "noted_identifier";

/// What the ledger keys of an overwrite's removals start with.
pub fn removal_sk_prefix(run: u32) -> String {
    format!("removal#{run:04}#")
}

/// How a type's records and their index entries spread over write shards: partitions chosen by
/// a hash of the sort key, so a file sorted by identifier writes to all of them at once instead of
/// to one partition's share of the table's throughput. One shard is the type's own partition
/// (`{tenant}#{type}`, no suffix); more append `#{shard:02}`. The count is fixed once a table
/// holds records: another count looks for them elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shards(u32);

impl Shards {
    /// At most this many, so a page of a listing (a query per shard) stays a few requests.
    pub const MOST: u32 = 64;

    pub fn new(count: u32) -> Self {
        Self(count.clamp(1, Self::MOST))
    }

    pub(super) fn count(self) -> usize {
        self.0 as usize
    }

    /// The partition of sort key `sk` under `base`.
    pub(super) fn pk(self, base: &str, sk: &str) -> String {
        self.suffixed(base, spread(sk, self.0))
    }

    /// Every partition under `base`, in shard order.
    pub(super) fn all(self, base: &str) -> Vec<String> {
        (0..self.0).map(|shard| self.suffixed(base, shard)).collect()
    }

    /// The `shard`th partition under `base`, if there is one.
    pub(super) fn nth(self, base: &str, shard: usize) -> Option<String> {
        let shard = u32::try_from(shard).ok().filter(|s| *s < self.0)?;
        Some(self.suffixed(base, shard))
    }

    fn suffixed(self, base: &str, shard: u32) -> String {
        if self.0 == 1 {
            base.to_string()
        } else {
            format!("{base}#{shard:02}")
        }
    }
}

/// The partition of a type's records (before its shard suffix, [`Shards`]).
pub(super) fn records_pk(tenant_id: &str, resource: ResourceType) -> String {
    format!("{tenant_id}#{}", resource.as_str())
}

/// The longest suffix [`Shards`] adds to a partition key: what a write is weighed with.
pub(super) const SHARD_SUFFIX_BYTES: usize = "#00".len();

/// The partition of the item that says who writes a type's records (`TypeHolds`): beside the
/// records, not one of them.
pub fn hold_pk(tenant_id: &str, resource: ResourceType) -> String {
    format!("{}#hold", records_pk(tenant_id, resource))
}

pub(super) fn hold_key(tenant_id: &str, resource: ResourceType) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".into(), s(hold_pk(tenant_id, resource))), ("sk".into(), s("hold"))])
}

/// The index of an alternate identifier lives beside the records: `sk` = value, `target` = the
/// record's identifier, spread over the same shards by the value. Listings of records never see
/// it (other partitions). The values are short fields or domains, at most 1,024 bytes: a sort key
/// as they are.
pub(super) fn index_pk(tenant_id: &str, resource: ResourceType, field: &str) -> String {
    format!("{tenant_id}#{}#by#{field}", resource.as_str())
}

pub(super) fn encode_cursor(sk: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk)
}

pub(super) fn decode_cursor(cursor: &str) -> Result<String> {
    decoded(cursor)
        .filter(|sk| !sk.is_empty() && sk.len() <= domain::validate::MAX_IDENTIFIER_BYTES)
        .ok_or_else(not_a_cursor)
}

/// A cursor through shards one after another: the shard, and the last sort key read in it.
pub(super) fn encode_shard_cursor(shard: usize, after: Option<&str>) -> String {
    encode_cursor(&format!("{shard}/{}", after.unwrap_or_default()))
}

pub(super) fn decode_shard_cursor(cursor: &str) -> Result<(usize, Option<String>)> {
    let text = decoded(cursor).ok_or_else(not_a_cursor)?;
    let (shard, after) = text.split_once('/').ok_or_else(not_a_cursor)?;
    let shard = shard.parse().ok().filter(|s| *s < Shards::MOST as usize).ok_or_else(not_a_cursor)?;
    match after.len() {
        0 => Ok((shard, None)),
        n if n <= domain::validate::MAX_IDENTIFIER_BYTES => Ok((shard, Some(after.to_string()))),
        _ => Err(not_a_cursor()),
    }
}

fn decoded(cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()
}

fn not_a_cursor() -> Error {
    Error::invalid("cursor", "invalid", "not a cursor this API returned")
}

/// The ledger key of a unit of work.
pub fn unit_sk(run: u32, unit: &Unit) -> String {
    match unit {
        Unit::Batch { chunk, batch } => format!("{}{batch:06}", batch_sk_prefix(run, *chunk)),
        Unit::Removal { page } => format!("{}{page}", removal_sk_prefix(run)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sorted_run_of_identifiers_spreads_over_every_shard() {
        let shards = Shards::new(16);
        let mut per_shard = HashMap::<String, usize>::new();
        for n in 0..1_600 {
            *per_shard.entry(shards.pk("acme#contact", &format!("person{n:06}@example.com"))).or_default() += 1;
        }
        assert_eq!(per_shard.len(), 16, "{per_shard:?}");
        assert!(per_shard.values().all(|n| (60..=140).contains(n)), "{per_shard:?}");
        assert!(per_shard.keys().all(|pk| shards.all("acme#contact").contains(pk)));
        // The hash is part of the stored layout: it may never change.
        assert_eq!(shards.pk("acme#contact", "a@b.c"), format!("acme#contact#{:02}", spread("a@b.c", 16)));
        assert_eq!(spread("a@b.c", u32::MAX), 0xf548_79b5); // FNV-1a, as published
    }

    #[test]
    fn one_shard_is_the_type_partition_itself() {
        let one = Shards::new(1);
        assert_eq!(one.pk("acme#contact", "a@b.c"), "acme#contact");
        assert_eq!(one.all("acme#contact"), vec!["acme#contact".to_string()]);
        assert_eq!(Shards::new(0), one);
        assert_eq!(Shards::new(16).nth("acme#contact", 15).as_deref(), Some("acme#contact#15"));
        assert_eq!(Shards::new(16).nth("acme#contact", 16), None);
        assert_eq!(Shards::new(1_000).count(), Shards::MOST as usize);
    }

    #[test]
    fn shard_cursors_round_trip_and_refuse_others() {
        for (shard, after) in [(0, None), (3, Some("a@b.c")), (15, Some("x/y"))] {
            let cursor = encode_shard_cursor(shard, after);
            assert_eq!(decode_shard_cursor(&cursor).unwrap(), (shard, after.map(str::to_string)));
        }
        for bad in ["", "!!", &encode_cursor("no-slash"), &encode_cursor("99/a"), &encode_cursor("x/a")] {
            assert!(decode_shard_cursor(bad).is_err(), "{bad}");
        }
    }
}
