//! The imports table (imports and their ledger) and the records table.
//!
//! Keys: an import is `pk = tenant`, `sk = import id` (ids sort by time, so a query lists newest
//! first). Ledger entries, one per transformed chunk and per processed batch, live under
//! `pk = ledger#tenant#import`, so listings never see them; so do the import's counter shards
//! (`COUNTER_SHARDS`) and the marks of its published events (`EVENT_SK_PREFIX`). A record is
//! `pk = tenant#resource_type` (with its write shard), `sk = identifier`; who writes a type is
//! one item beside its records (`holds`). A tenant's templates and schemas are versioned documents in
//! partitions of their own (`documents`).
//!
//! Two global secondary indexes of the imports table hold import items only (their keys are
//! attributes no other item has), both keys only: [`STATUS_INDEX`], a tenant's imports of one
//! status newest first (`tenant_status` = `tenant#status`, `sk`), and [`SWEEP_INDEX`], every import by
//! when the sweeper next has something to do with it (`sweep_shard`, `sweep_at` in epoch
//! seconds; see `pipeline::sweep`).

mod attributes;
mod counters;
mod documents;
mod errors;
mod holds;
mod imports;
mod items;
mod layout;
mod ledger;
mod pacing;
mod records;
mod rounds;
mod store;
mod throttle;
mod transitions;

pub use documents::check_document;
pub use layout::{batch_sk_prefix, batches_sk_prefix, hold_pk, removal_sk_prefix, unit_sk, STATUS_INDEX, SWEEP_INDEX};
pub use records::{check_fits, weigh};
pub use store::DynamoStore;
