//! The imports table (imports and their ledger) and the records table.
//!
//! Keys: an import is `pk = tenant`, `sk = import id` (ids sort by time, so a query lists newest
//! first). Ledger entries, one per transformed chunk and per processed batch, live under
//! `pk = ledger#tenant#import`, so listings never see them; so do the import's counter shards
//! (`COUNTER_SHARDS`) and the marks of its published events (`EVENT_SK_PREFIX`). A record is
//! `pk = tenant#resource_type`, `sk = identifier`.
//!
//! Two global secondary indexes of the imports table hold import items only (their keys are
//! attributes no other item has), both keys only: [`STATUS_INDEX`], a tenant's imports of one
//! status newest first (`tenant_status` = `tenant#status`, `sk`), and [`SWEEP_INDEX`], every import by
//! when the sweeper next has something to do with it (`sweep_shard`, `sweep_at` in epoch
//! seconds; see `pipeline::sweep`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, TransactWriteItem,
    Update, WriteRequest,
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use domain::error::{Error, Result};
use domain::idempotency::KeyClaim;
use domain::import::Plan;
use domain::import::{Import, Phase, Progress, RunStart, Status};
use domain::item_size;
use domain::record::{ResourceType, StoredRecord};
use domain::revert_state::{RevertState, RevertStatus, MAX_LISTED_CONFLICTS, MAX_LISTED_CONFLICT_BYTES};
use domain::stats::{Stats, Tally};
use domain::time_fmt;
use service::config::Settings;
use service::ports::{
    Applied, BatchState, BatchWrite, ChunkCount, CleanupStep, Finished, ImportKey, ImportStore, IndexChange, Page,
    Part, RecordStore, RecordWrite, Restart, RevertWrite, StoredImport, Unit, Weight,
};

use super::keys;

pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    imports: String,
    records: String,
    /// Each import's TTL (`ttl_of`), which never changes: a unit of work reads its import only
    /// for it, so a warm function asks once per import, not once per message.
    ttls: std::sync::Mutex<HashMap<(String, String), i64>>,
}

/// Imports whose TTL a warm function remembers; past this the memo starts again.
const REMEMBERED_TTLS: usize = 4096;

/// The index of a tenant's imports by status: `tenant_status` (S), `sk` (S), keys only (so the
/// writes that count chunks into an import leave it alone).
pub const STATUS_INDEX: &str = "by_status";
/// The index of the sweeper's deadlines: `sweep_shard` (N), `sweep_at` (N), keys only.
pub const SWEEP_INDEX: &str = "by_sweep_at";

/// Partitions of [`SWEEP_INDEX`], each import in one by its id, so no partition takes every
/// deadline's writes; a round queries each.
const SWEEP_SHARDS: u32 = 8;

/// Due imports a round reads per query of [`SWEEP_INDEX`]: what it holds in memory at once.
const DUE_PAGE: i32 = 100;

fn sweep_shard(import_id: &str) -> u32 {
    import_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % SWEEP_SHARDS
}

fn tenant_status(tenant_id: &str, status: Status) -> String {
    format!("{tenant_id}#{}", status.as_str())
}

/// The `sweep_at` of a status change made `at`: the sweeper comes once the change's events are
/// its own to send, and moves it on to the import's next deadline.
fn sweep_after(at: OffsetDateTime) -> i64 {
    (at + domain::events::GRACE).unix_timestamp()
}

/// [`sweep_after`] a change made now.
fn sweep_soon() -> AttributeValue {
    n(sweep_after(time_fmt::now()))
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, settings: &Settings) -> Self {
        Self {
            client,
            imports: settings.imports_table.clone(),
            records: settings.records_table.clone(),
            ttls: Default::default(),
        }
    }
}

/// How long after its `expires_at` DynamoDB's TTL deletes an import item and its ledger. The
/// sweeper deletes a lapsed import with its files first; the TTL is the backstop, and this
/// grace, longer than the longest `max_idle` (a day), lets an import still running at its
/// expiry end or time out and be deleted by the sweeper before the TTL removes the item alone
/// (unless it keeps making progress for two more days).
const TTL_GRACE_SECS: i64 = 2 * 86_400;

/// The TTL attribute of an import item and its ledger entries.
fn ttl_of(import: &Import) -> i64 {
    import.expires_at.unix_timestamp() + TTL_GRACE_SECS
}

#[derive(Serialize, Deserialize)]
struct ImportItem {
    pk: String,
    sk: String,
    /// Epoch seconds at which DynamoDB's TTL deletes the item (`ttl_of`).
    ttl: i64,
    #[serde(flatten)]
    import: Import,
    progress: Progress,
    requested_mappings: BTreeMap<String, Option<String>>,
    #[serde(default)]
    source_etag: Option<String>,
    /// `events::key` → when it was published, for events marked before marks became ledger
    /// items of their own ([`EVENT_SK_PREFIX`]). A map from the create on: its presence says the
    /// import records its events; absent on items stored before events were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published: Option<BTreeMap<String, String>>,
    /// [`STATUS_INDEX`]'s key: kept with `status` by every write that changes it.
    #[serde(default)]
    tenant_status: String,
    /// [`SWEEP_INDEX`]'s keys.
    #[serde(default)]
    sweep_shard: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sweep_at: Option<i64>,
    /// Read from the run's counter shards, not stored on the item.
    #[serde(skip)]
    batch_counted_at: Option<i64>,
}

fn instant(epoch: Option<i64>) -> Option<OffsetDateTime> {
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
struct RecordItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    record: StoredRecord,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn ddb_err<E: std::error::Error + Send + Sync + 'static>(
    e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Error {
    if let Some(too_long) = keys::refused(&e) {
        return Error::Internal(too_long.to_string());
    }
    Error::aws("dynamodb", aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

fn ser_err(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("item encoding: {e}"))
}

fn import_key(tenant_id: &str, import_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".into(), s(tenant_id)), ("sk".into(), s(import_id))])
}

fn ledger_pk(tenant_id: &str, import_id: &str) -> String {
    format!("ledger#{tenant_id}#{import_id}")
}

/// A chunk's ledger key.
fn chunk_sk(run: u32, chunk: u64) -> String {
    format!("chunk#{run:04}#{chunk:010}")
}

/// What the ledger keys of a chunk's batches start with; a batch's is this and `{batch:06}`.
fn batch_sk_prefix(run: u32, chunk: u64) -> String {
    format!("{}{chunk:010}#", batches_sk_prefix(run))
}

/// What the ledger keys of a run's batches start with.
fn batches_sk_prefix(run: u32) -> String {
    format!("batch#{run:04}#")
}

/// Process transactions count a batch into one of this many counter items of the run, picked at
/// random, not into the import item: DynamoDB cancels transactions that overlap on an item, and
/// a run's batches are many at once, so one shared item would serialize them (and takes about
/// 1,000 writes/s at most). Reading an import adds them up in one query. A shard is made by the
/// first batch that counts into it, so a run opens none up front.
const COUNTER_SHARDS: u32 = 32;

/// What the ledger keys of a run's counter shards start with; a shard's is this and `{k:02}`.
fn counters_sk_prefix(run: u32) -> String {
    format!("count#{run:04}#")
}

/// One counter shard: what the batches counted into it add to the import's stats and progress,
/// as top-level numbers (`ADD` makes them, and the item, on first use). Batches count only
/// while it has no `closed`: a stopped import closes every shard of its run, made or not.
#[derive(Default, Deserialize)]
struct Counts {
    #[serde(flatten)]
    stats: Stats,
    #[serde(default)]
    batches_done: u64,
    /// When a unit last counted into it (epoch seconds).
    #[serde(default)]
    counted_at: Option<i64>,
}

/// The attribute of a shard that stops it counting.
const CLOSED: &str = "closed";

/// What the ledger keys of the events marked published start with; the rest is `events::key`.
const EVENT_SK_PREFIX: &str = "event#";

/// What the ledger keys of revert units start with; the rest is the key of the unit reverted.
const REVERT_SK_PREFIX: &str = "revert#";

/// One partition of a table, or the items of it whose sort key starts with `prefix`.
struct Partition<'a> {
    table: &'a str,
    pk: String,
    prefix: Option<&'a str>,
}

/// Sends of throttled work (unprocessed keys or items, a transaction cancelled for throttling)
/// before the call fails and its message is retried by the queue. Single-item calls are retried
/// by the SDK itself (standard mode: ThrottlingException and ProvisionedThroughputExceeded are
/// throttling errors to it); these three answer "partly done" or "cancelled", which it does not.
const THROTTLED_ATTEMPTS: u32 = 10;

/// The pause before sending throttled work again, the `attempt`th time: exponential, capped near
/// 1.3 s, with jitter so writers throttled together do not come back together.
fn throttle_pause(attempt: u32) -> std::time::Duration {
    let cap = 20u64 << attempt.min(6);
    std::time::Duration::from_millis(fastrand::u64(cap / 2..=cap))
}

fn still_throttled(what: &str) -> Error {
    Error::aws("dynamodb", format!("{what} still throttled after {THROTTLED_ATTEMPTS} attempts"))
}

/// A string attribute of an item.
fn text<'i>(item: &'i HashMap<String, AttributeValue>, name: &str) -> Option<&'i str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// What the ledger keys of a dry-run overwrite's notes start with; the rest is the identifier, so
/// they sort as the records do, unless it is too long to fit (`keys::sort_key`): such a note keeps
/// the identifier in [`NOTED`].
fn seen_sk_prefix(run: u32) -> String {
    format!("seen#{run:04}#")
}

/// The attribute of a note whose key holds a digest of its identifier: the identifier.
const NOTED: &str = "noted_identifier";

/// What the ledger keys of an overwrite's removals start with.
fn removal_sk_prefix(run: u32) -> String {
    format!("removal#{run:04}#")
}

fn records_pk(tenant_id: &str, resource: ResourceType) -> String {
    format!("{tenant_id}#{}", resource.as_str())
}

/// The index of an alternate identifier lives beside the records: `sk` = value, `target` = the
/// record's identifier. Listings of records never see it (another partition). The values are
/// short fields or domains, at most 1,024 bytes: a sort key as they are.
fn index_pk(tenant_id: &str, resource: ResourceType, field: &str) -> String {
    format!("{tenant_id}#{}#by#{field}", resource.as_str())
}

fn encode_cursor(sk: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk)
}

fn decode_cursor(cursor: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|sk| !sk.is_empty() && sk.len() <= domain::validate::MAX_IDENTIFIER_BYTES)
        .ok_or_else(|| Error::invalid("cursor", "invalid", "not a cursor this API returned"))
}

/// An update that adds a tally to the import's stats, plus `extra` progress counters, once.
struct Increments {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn increments(tally: &Tally, progress: &[(&str, u64)]) -> Increments {
    let mut names = HashMap::from([("#ua".to_string(), "updated_at".to_string())]);
    let mut values = HashMap::from([(":now".to_string(), s(time_fmt::rfc3339(time_fmt::now())))]);
    let mut sets = vec!["#ua = :now".to_string()];
    for (i, (name, by)) in tally.increments().iter().enumerate().filter(|(_, (_, by))| *by > 0) {
        // DynamoDB rejects names an expression does not use: name `stats` only when it is.
        names.insert("#st".to_string(), "stats".to_string());
        names.insert(format!("#s{i}"), name.to_string());
        values.insert(format!(":s{i}"), n(by));
        sets.push(format!("#st.#s{i} = #st.#s{i} + :s{i}"));
    }
    for (i, (name, by)) in progress.iter().enumerate() {
        names.insert("#pr".to_string(), "progress".to_string());
        names.insert(format!("#p{i}"), name.to_string());
        values.insert(format!(":p{i}"), n(by));
        sets.push(format!("#pr.#p{i} = #pr.#p{i} + :p{i}"));
    }
    Increments { expression: format!("SET {}", sets.join(", ")), names, values }
}

/// The ledger entry that makes a unit of work count once, with what it keeps of the work.
fn ledger_put(
    table: &str,
    tenant_id: &str,
    import_id: &str,
    sk: String,
    ttl: i64,
    kept: &[(&str, &Option<String>)],
) -> Result<TransactWriteItem> {
    let mut put = Put::builder()
        .table_name(table)
        .item("pk", s(ledger_pk(tenant_id, import_id)))
        .item("sk", s(sk))
        .item("ttl", n(ttl))
        .condition_expression("attribute_not_exists(pk)");
    for (name, value) in kept {
        if let Some(v) = value {
            put = put.item(*name, s(v));
        }
    }
    let put = put.build().map_err(ser_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// What a record write weighs as this store writes it: the record item (its key only when
/// deleted) and its index entries.
pub fn weigh(tenant_id: &str, resource: ResourceType, write: &RecordWrite) -> Result<Weight> {
    let pk = records_pk(tenant_id, resource);
    let key = |pk: &str, sk: &str| "pk".len() + pk.len() + "sk".len() + sk.len();
    let record_bytes = if write.delete {
        key(&pk, &write.record.identifier)
    } else {
        item_size::of(&RecordItem {
            pk: pk.clone(),
            sk: write.record.identifier.clone(),
            record: write.record.clone(),
        })?
    };
    let mut weight = Weight { record_bytes, items: 1, bytes: record_bytes };
    for change in &write.index {
        let (IndexChange::Claim { field, value } | IndexChange::Release { field, value }) = change;
        weight.items += 1;
        weight.bytes +=
            key(&index_pk(tenant_id, resource, field), value) + "target".len() + write.record.identifier.len();
    }
    Ok(weight)
}

/// The ledger key of a unit of work.
fn unit_sk(run: u32, unit: &Unit) -> String {
    match unit {
        Unit::Batch { chunk, batch } => format!("{}{batch:06}", batch_sk_prefix(run, *chunk)),
        Unit::Removal { page } => format!("{}{page}", removal_sk_prefix(run)),
    }
}

/// A batch applied in parts: how many of its rows are done, their tally (counted only with the
/// last part, so a batch takes one counter-shard write however it is written), and that its
/// last part is done.
const DONE_ROWS: &str = "done_rows";
const PART_TALLY: &str = "tally";
const PARTS_DONE: &str = "parts_done";
/// The before-images of a batch applied in parts, one object per part that wrote any.
const PART_IMAGES: &str = "part_images";

/// The ledger entry of a batch applied in parts, moved from the part's start to its end: a
/// part applies once, and only after the parts before it. It keeps the outcome codes and the
/// tally of every row done so far.
fn part_update(
    table: &str,
    tenant_id: &str,
    import_id: &str,
    sk: String,
    ttl: i64,
    part: &Part,
    batch: &BatchWrite,
) -> Result<TransactWriteItem> {
    let mut sets = vec!["#ttl = if_not_exists(#ttl, :ttl)", "#rows = :end", "#out = :out", "#tally = :tally"];
    let mut update = Update::builder()
        .table_name(table)
        .key("pk", s(ledger_pk(tenant_id, import_id)))
        .key("sk", s(sk))
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_names("#rows", DONE_ROWS)
        .expression_attribute_names("#out", "outcomes")
        .expression_attribute_names("#tally", PART_TALLY)
        .expression_attribute_values(":ttl", n(ttl))
        .expression_attribute_values(":tally", av(&batch.tally)?)
        .expression_attribute_values(":end", n(part.end))
        .expression_attribute_values(":out", s(batch.outcomes.clone().unwrap_or_default()));
    if part.last {
        sets.push("#done = :true");
        update = update
            .expression_attribute_names("#done", PARTS_DONE)
            .expression_attribute_values(":true", AttributeValue::Bool(true));
    }
    if let Some(key) = &batch.before_images {
        sets.push("#imgs = list_append(if_not_exists(#imgs, :none), :img)");
        update = update
            .expression_attribute_names("#imgs", PART_IMAGES)
            .expression_attribute_values(":none", AttributeValue::L(vec![]))
            .expression_attribute_values(":img", AttributeValue::L(vec![s(key)]));
    }
    update = if part.start == 0 {
        update.condition_expression("attribute_not_exists(pk)")
    } else {
        update.condition_expression("#rows = :start").expression_attribute_values(":start", n(part.start))
    };
    let update = update.update_expression(format!("SET {}", sets.join(", "))).build().map_err(ser_err)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Counts a chunk only into a running import at the same run: work of a failed, interrupted,
/// deleted or restarted one is dropped. The run is `processing` from the first chunk counted on,
/// which `start` describes unless an earlier chunk did: starting takes no write of its own.
fn stats_update(
    table: &str,
    tenant_id: &str,
    import_id: &str,
    run: u32,
    mut inc: Increments,
    start: &RunStart,
) -> Result<TransactWriteItem> {
    // `started_at` is read from the start kept, before that is set: both come from one value.
    inc.expression.push_str(
        ", #sa = if_not_exists(#pr.#start.#at, :began), #pr.#start = if_not_exists(#pr.#start, :start), \
         #status = :processing, #ts = :ts, #phase = :phase",
    );
    inc.names.insert("#ts".into(), "tenant_status".into());
    inc.values.insert(":ts".into(), s(tenant_status(tenant_id, Status::Processing)));
    for (name, attribute) in [
        ("#status", "status"),
        ("#pr", "progress"),
        ("#run", "run"),
        ("#sa", "started_at"),
        ("#start", "start"),
        ("#at", "at"),
        ("#phase", "phase"),
    ] {
        inc.names.insert(name.into(), attribute.into());
    }
    inc.values.insert(":runno".into(), n(run));
    inc.values.insert(":began".into(), s(time_fmt::rfc3339(start.at)));
    inc.values.insert(":start".into(), av(start)?);
    inc.values.insert(":queued".into(), s(Status::Queued.as_str()));
    inc.values.insert(":processing".into(), s(Status::Processing.as_str()));
    inc.values.insert(":phase".into(), s(Phase::Processing.as_str()));
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(import_key(tenant_id, import_id)))
        .update_expression(inc.expression)
        .set_expression_attribute_names(Some(inc.names))
        .set_expression_attribute_values(Some(inc.values))
        .condition_expression("attribute_exists(pk) AND #status IN (:queued, :processing) AND #pr.#run = :runno")
        .build()
        .map_err(ser_err)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The key of one of a run's counter shards.
fn counter_key(tenant_id: &str, import_id: &str, run: u32, shard: u32) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), s(ledger_pk(tenant_id, import_id))),
        ("sk".to_string(), s(format!("{}{shard:02}", counters_sk_prefix(run)))),
    ])
}

/// Adds a unit's tally and `progress` counters to a counter shard of the run that is not closed.
fn counter_update(
    table: &str,
    key: HashMap<String, AttributeValue>,
    ttl: i64,
    tally: &Tally,
    progress: &[(&'static str, u64)],
) -> Result<TransactWriteItem> {
    let mut names =
        HashMap::from([("#ttl".to_string(), "ttl".to_string()), ("#closed".to_string(), CLOSED.to_string())]);
    names.insert("#at".to_string(), "counted_at".to_string());
    let mut values =
        HashMap::from([(":ttl".to_string(), n(ttl)), (":at".to_string(), n(time_fmt::now().unix_timestamp()))]);
    let mut adds = Vec::new();
    let counted = tally.increments().into_iter().filter(|(_, by)| *by > 0).chain(progress.iter().copied());
    for (i, (name, by)) in counted.enumerate() {
        names.insert(format!("#c{i}"), name.to_string());
        values.insert(format!(":c{i}"), n(by));
        adds.push(format!("#c{i} :c{i}"));
    }
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(format!("SET #ttl = if_not_exists(#ttl, :ttl), #at = :at ADD {}", adds.join(", ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .condition_expression("attribute_not_exists(#closed)")
        .build()
        .map_err(ser_err)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Checks that a counter shard of the run is not closed, writing nothing: a part that does not
/// count is refused like one that does once the run stopped.
fn counter_open(table: &str, key: HashMap<String, AttributeValue>) -> Result<TransactWriteItem> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("attribute_not_exists(#closed)")
        .expression_attribute_names("#closed", CLOSED)
        .build()
        .map_err(ser_err)?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// How a transaction whose first item is a ledger entry ended; None when it was cancelled only
/// because an item was throttled, and may be sent again as it is.
fn transaction_outcome(
    result: Result<(), SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<Option<Applied>> {
    let err = match result {
        Ok(()) => return Ok(Some(Applied::Now)),
        Err(e) => e,
    };
    let cancelled = match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c,
        _ => return Err(ddb_err(err)),
    };
    let codes: Vec<&str> = cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect();
    // A failed condition says what happened whatever else was throttled alongside it.
    match codes.as_slice() {
        ["ConditionalCheckFailed", ..] => Ok(Some(Applied::Before)),
        [_, "ConditionalCheckFailed", ..] => Err(Error::NotFound),
        rest if rest.iter().any(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict") => {
            Ok(Some(Applied::Conflict))
        }
        rest if rest.iter().any(|c| *c == "ThrottlingError" || *c == "ProvisionedThroughputExceeded") => Ok(None),
        _ => Err(ddb_err(err)),
    }
}

/// Whether a conditional write took effect: false when its condition did not hold.
fn conditional<T, E>(
    result: std::result::Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(ddb_err(e)),
    }
}

/// A write of an item made of a request's own data: DynamoDB refusing it (an item over 400 KB,
/// an attribute it will not hold) refuses the request for good, a 400, not a retry-later.
fn refused_as_data<T, E>(
    result: std::result::Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> std::result::Result<std::result::Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>, Error>
where
    E: ProvideErrorMetadata,
{
    match result {
        Err(e) if e.code() == Some("ValidationException") => {
            let why = e.message().unwrap_or("the store refused it").to_string();
            Err(Error::invalid("body", "rejected_by_storage", format!("the import cannot be stored: {why}")))
        }
        other => Ok(other),
    }
}

impl DynamoStore {
    async fn import_ttl(&self, tenant_id: &str, import_id: &str) -> Result<i64> {
        let key = (tenant_id.to_string(), import_id.to_string());
        if let Some(ttl) = self.ttls.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(*ttl);
        }
        #[derive(Deserialize)]
        struct TtlItem {
            ttl: i64,
        }
        // The attribute alone: the counter shards are not needed.
        let item = self.import_item::<TtlItem>(tenant_id, import_id, Some("ttl")).await?;
        let ttl = item.ok_or(Error::NotFound)?.ttl;
        let mut ttls = self.ttls.lock().unwrap_or_else(|e| e.into_inner());
        if ttls.len() >= REMEMBERED_TTLS {
            ttls.clear();
        }
        ttls.insert(key, ttl);
        Ok(ttl)
    }

    /// Closes every counter shard of the import's run, made yet or not: batches still in flight
    /// count no more (an earlier run's were all counted before it ended). Asked again on every
    /// stop, so a stop whose closing failed closes them when retried.
    async fn close_counters(&self, tenant_id: &str, import_id: &str) -> Result<()> {
        // The item alone: the run and TTL are on it, and the shards' counts are not needed.
        let Some(stored) = self.import_item::<ImportItem>(tenant_id, import_id, None).await? else {
            return Ok(());
        };
        let ttl = ttl_of(&stored.import);
        let closes = (0..COUNTER_SHARDS).map(|k| {
            let close = self
                .client
                .update_item()
                .table_name(&self.imports)
                .set_key(Some(counter_key(tenant_id, import_id, stored.progress.run, k)))
                .update_expression("SET #closed = :true, #ttl = if_not_exists(#ttl, :ttl)")
                .expression_attribute_names("#closed", CLOSED)
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":ttl", n(ttl));
            async move { close.send().await.map_err(ddb_err) }
        });
        for closed in futures::future::join_all(closes).await {
            closed?;
        }
        Ok(())
    }

    /// Adds what the run's counter shards hold to the import item's own counts.
    async fn with_counters(&self, mut item: ImportItem) -> Result<ImportItem> {
        if item.import.status == Status::AwaitingUpload {
            return Ok(item);
        }
        let counts = self.shard_counts(&item.import.tenant_id, &item.import.id, item.progress.run, None).await?;
        item.import.stats.add(&counts.stats);
        item.progress.batches_done += counts.batches_done;
        item.batch_counted_at = counts.counted_at;
        Ok(item)
    }

    /// The import item (consistent read), or only its `attribute`.
    async fn import_item<T: serde::de::DeserializeOwned>(
        &self,
        tenant_id: &str,
        import_id: &str,
        attribute: Option<&str>,
    ) -> Result<Option<T>> {
        let mut get = self
            .client
            .get_item()
            .table_name(&self.imports)
            .set_key(Some(import_key(tenant_id, import_id)))
            .consistent_read(true);
        if let Some(attribute) = attribute {
            get = get.projection_expression("#a").expression_attribute_names("#a", attribute);
        }
        let out = get.send().await.map_err(ddb_err)?;
        out.item.map(|item| serde_dynamo::from_item(item).map_err(ser_err)).transpose()
    }

    /// The sum of the run's counter shards, read through `projection` (what is left out is zero).
    async fn shard_counts(
        &self,
        tenant_id: &str,
        import_id: &str,
        run: u32,
        projection: Option<&str>,
    ) -> Result<Counts> {
        let prefix = counters_sk_prefix(run);
        let counters = Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(&prefix) };
        let mut shards = Vec::new();
        self.each_item(counters, projection, |shard| shards.push(shard)).await?;
        let mut sum = Counts::default();
        for shard in shards {
            let counts: Counts = serde_dynamo::from_item(shard).map_err(ser_err)?;
            sum.stats.add(&counts.stats);
            sum.batches_done += counts.batches_done;
            sum.counted_at = sum.counted_at.max(counts.counted_at);
        }
        Ok(sum)
    }

    /// A conditional update of the import; false when the condition did not hold.
    async fn update_import(
        &self,
        tenant_id: &str,
        import_id: &str,
        expression: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.imports)
            .set_key(Some(import_key(tenant_id, import_id)))
            .update_expression(expression)
            .condition_expression(condition);
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        conditional(req.send().await)
    }
}

/// Where a round's reading of [`SWEEP_INDEX`] goes on: a shard, after the key last read
/// (`sweep_at`, `pk`, `sk`), if any.
#[derive(Default, Serialize, Deserialize)]
struct DueCursor {
    shard: u32,
    after: Option<(i64, String, String)>,
}

/// A status change of an import, applied only from the statuses in `from`.
struct Transition<'a> {
    from: &'a [Status],
    to: Status,
    phase: Option<Phase>,
    /// The timestamp attribute the change sets to now.
    stamp: Option<&'static str>,
    reason: Option<&'a str>,
    files: Finished,
    /// The run the import must still be at.
    run: Option<u32>,
}

impl DynamoStore {
    /// False when the import was in none of the `from` statuses.
    async fn transition(&self, tenant_id: &str, import_id: &str, t: Transition<'_>) -> Result<bool> {
        let mut sets = vec!["#status = :to", "#ts = :ts", "#sweep = :sweep", "#ua = :now"];
        let mut names =
            vec![("#status", "status"), ("#ts", "tenant_status"), ("#sweep", "sweep_at"), ("#ua", "updated_at")];
        let mut values = vec![
            (":to", s(t.to.as_str())),
            (":ts", s(tenant_status(tenant_id, t.to))),
            (":sweep", sweep_soon()),
            (":now", s(time_fmt::rfc3339(time_fmt::now()))),
        ];
        if let Some(phase) = t.phase {
            sets.push("#phase = :phase");
            names.push(("#phase", "phase"));
            values.push((":phase", s(phase.as_str())));
        }
        if let Some(stamp) = t.stamp {
            sets.push("#stamp = :now");
            names.push(("#stamp", stamp));
        }
        if let Some(reason) = t.reason {
            sets.push("#reason = :reason");
            names.push(("#reason", "reason"));
            values.push((":reason", s(reason)));
        }
        if t.files.has_errors_file {
            sets.push("#hef = :true");
            names.push(("#hef", "has_errors_file"));
        }
        if t.files.has_results_file {
            sets.push("#hrf = :true");
            names.push(("#hrf", "has_results_file"));
        }
        if t.files.has_errors_file || t.files.has_results_file {
            values.push((":true", AttributeValue::Bool(true)));
        }
        let from: Vec<String> = (0..t.from.len()).map(|i| format!(":from{i}")).collect();
        let from_values: Vec<(String, AttributeValue)> =
            t.from.iter().zip(&from).map(|(st, k)| (k.clone(), s(st.as_str()))).collect();
        let mut condition = format!("#status IN ({})", from.join(", "));
        let mut values: Vec<(&str, AttributeValue)> = values;
        if let Some(run) = t.run {
            condition.push_str(" AND #pr.#run = :runno");
            names.extend([("#pr", "progress"), ("#run", "run")]);
            values.push((":runno", n(run)));
        }
        values.extend(from_values.iter().map(|(k, v)| (k.as_str(), v.clone())));
        self.update_import(tenant_id, import_id, &format!("SET {}", sets.join(", ")), &condition, &names, values).await
    }
}

#[async_trait]
impl ImportStore for DynamoStore {
    async fn create(&self, import: &Import) -> Result<bool> {
        let item = ImportItem {
            pk: import.tenant_id.clone(),
            sk: import.id.clone(),
            ttl: ttl_of(import),
            import: import.clone(),
            progress: Progress::default(),
            requested_mappings: import.mappings.clone(),
            source_etag: None,
            published: Some(BTreeMap::new()),
            tenant_status: tenant_status(&import.tenant_id, import.status),
            sweep_shard: sweep_shard(&import.id),
            sweep_at: Some(sweep_after(import.created_at)),
            batch_counted_at: None,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.imports)
            .set_item(Some(serde_dynamo::to_item(&item).map_err(ser_err)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional(refused_as_data(result)?)
    }

    async fn claim_key(&self, tenant_id: &str, key: &str, fingerprint: &str, import_id: &str) -> Result<KeyClaim> {
        // Beside the tenant's imports, in a partition of its own so listings never see it.
        let pk = format!("idempotency#{tenant_id}");
        let ttl = time_fmt::now().unix_timestamp() + domain::idempotency::KEY_TTL_SECS;
        let result = self
            .client
            .put_item()
            .table_name(&self.imports)
            .item("pk", s(&pk))
            .item("sk", s(key))
            .item("import_id", s(import_id))
            .item("fingerprint", s(fingerprint))
            .item("ttl", n(ttl))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if conditional(result)? {
            return Ok(KeyClaim::Claimed);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.imports)
            .key("pk", s(&pk))
            .key("sk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        let item = out.item.unwrap_or_default();
        let held = |k: &str| text(&item, k).unwrap_or_default().to_string();
        Ok(KeyClaim::Held { import_id: held("import_id"), fingerprint: held("fingerprint") })
    }

    async fn get(&self, tenant_id: &str, import_id: &str) -> Result<Option<StoredImport>> {
        let Some(item) = self.import_item::<ImportItem>(tenant_id, import_id, None).await? else {
            return Ok(None);
        };
        Ok(Some(self.with_counters(item).await?.into()))
    }

    async fn progress(&self, tenant_id: &str, import_id: &str) -> Result<Option<Progress>> {
        #[derive(Deserialize)]
        struct ProgressItem {
            progress: Progress,
        }
        let Some(item) = self.import_item::<ProgressItem>(tenant_id, import_id, Some("progress")).await? else {
            return Ok(None);
        };
        let mut progress = item.progress;
        // Until every chunk is transformed the batches done decide nothing: the shards wait.
        if progress.planned && progress.chunks_transformed == progress.chunks_total {
            let counts = self.shard_counts(tenant_id, import_id, progress.run, Some("batches_done")).await?;
            progress.batches_done += counts.batches_done;
        }
        Ok(Some(progress))
    }

    async fn list(
        &self,
        tenant_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Import>> {
        // A status's imports from their own index: a page reads those it lists, whatever else
        // the tenant holds.
        let by_status = status.map(|st| tenant_status(tenant_id, st));
        let mut start = match cursor {
            Some(c) => {
                let mut key = import_key(tenant_id, &decode_cursor(c)?);
                if let Some(ts) = &by_status {
                    key.insert("tenant_status".into(), s(ts));
                }
                Some(key)
            }
            None => None,
        };
        let mut items = Vec::new();
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.imports)
                .scan_index_forward(false)
                .limit((limit - items.len()) as i32)
                .set_exclusive_start_key(start.take());
            req = match &by_status {
                Some(ts) => req
                    .index_name(STATUS_INDEX)
                    .key_condition_expression("#ts = :ts")
                    .expression_attribute_names("#ts", "tenant_status")
                    .expression_attribute_values(":ts", s(ts)),
                None => req.key_condition_expression("pk = :pk").expression_attribute_values(":pk", s(tenant_id)),
            };
            let out = req.send().await.map_err(ddb_err)?;
            let mut found = out.items.unwrap_or_default();
            if let Some(st) = status {
                // The index holds keys: the items themselves, as they are now, newest first, of
                // the status still.
                let ids: Vec<String> = found.iter().filter_map(|key| text(key, "sk")).map(str::to_string).collect();
                found = self.batch_get(&self.imports, tenant_id, &ids).await?;
                found.retain(|item| text(item, "status") == Some(st.as_str()));
                found.sort_by(|a, b| text(b, "sk").cmp(&text(a, "sk")));
            }
            let page = found.into_iter().map(|item| async move {
                let item: ImportItem = serde_dynamo::from_item(item).map_err(ser_err)?;
                Ok::<_, Error>(self.with_counters(item).await?.import)
            });
            for import in futures::future::join_all(page).await {
                items.push(import?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= limit {
                break;
            }
        }
        let next_cursor = match (&start, items.last()) {
            (Some(_), Some(last)) => Some(encode_cursor(&last.id)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn save_plan(&self, tenant_id: &str, import_id: &str, plan: &Plan) -> Result<bool> {
        // Queued, its chunks about to be sent: transforming.
        let queue = if plan.queue { ", #status = :queued, #ts = :ts, #sweep = :sweep" } else { "" };
        let phase = if plan.queue { Phase::Transforming } else { Phase::Prevalidation };
        let expression = format!(
            "SET #etag = :etag, #fh = :fh, #map = :map, #um = :um, #file = :file, #st.#rows = :rows, \
             #pr.#ct = :ct, #pr.#planned = :true, #huf = :true, #phase = :phase, #ua = :now, #sr = :sr, #dv = :dv, \
             #clip = :clip{queue} \
             REMOVE #links.#upload"
        );
        let mut names = vec![
            ("#sr", "sample_records"),
            ("#dv", "distinct_values"),
            ("#clip", "clipped"),
            ("#run", "run"),
            ("#etag", "source_etag"),
            ("#fh", "file_headers"),
            ("#map", "mappings"),
            ("#um", "unmapped_headers"),
            ("#file", "file"),
            ("#st", "stats"),
            ("#rows", "rows"),
            ("#pr", "progress"),
            ("#ct", "chunks_total"),
            ("#huf", "has_upload_file"),
            ("#phase", "phase"),
            ("#ua", "updated_at"),
            ("#links", "links"),
            ("#upload", "upload"),
            ("#status", "status"),
            ("#planned", "planned"),
        ];
        let mut values = vec![
            (":etag", av(&plan.source_etag)?),
            (":fh", av(&plan.file_headers)?),
            (":map", av(&plan.mappings)?),
            (":um", av(&plan.unmapped_headers)?),
            (":file", av(&plan.file)?),
            (":rows", n(plan.file.rows)),
            (":ct", n(plan.chunks_total)),
            (":true", AttributeValue::Bool(true)),
            (":phase", s(phase.as_str())),
            (":now", s(time_fmt::rfc3339(time_fmt::now()))),
            (":awaiting", s(Status::AwaitingUpload.as_str())),
            (":queued", s(Status::Queued.as_str())),
            (":run", n(plan.run)),
            (":sr", av(&plan.sample_records)?),
            (":dv", av(&plan.distinct_values)?),
            (":clip", av(&plan.clipped)?),
        ];
        if plan.queue {
            names.extend([("#ts", "tenant_status"), ("#sweep", "sweep_at")]);
            values.extend([(":ts", s(tenant_status(tenant_id, Status::Queued))), (":sweep", sweep_soon())]);
        }
        let condition = "#status IN (:awaiting, :queued) AND #pr.#run = :run";
        self.update_import(tenant_id, import_id, &expression, condition, &names, values).await
    }

    async fn preview_ready(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<bool> {
        let t = Transition {
            from: &[Status::AwaitingUpload, Status::Queued],
            to: Status::PreviewReady,
            phase: Some(Phase::Prevalidation),
            stamp: None,
            reason: None,
            files: Finished::default(),
            run: Some(run),
        };
        self.transition(tenant_id, import_id, t).await
    }

    async fn restart(&self, tenant_id: &str, import_id: &str, restart: &Restart) -> Result<bool> {
        let Some(mut item) = self.import_item::<ImportItem>(tenant_id, import_id, None).await? else {
            return Ok(false);
        };
        if item.import.status != restart.from || item.progress.run != restart.run {
            return Ok(false);
        }
        let import = &mut item.import;
        import.status = Status::Queued;
        import.phase = Some(Phase::Prevalidation);
        import.in_preview = false;
        import.dry_run = restart.dry_run;
        import.stats = Default::default();
        import.reason = None;
        import.has_errors_file = false;
        import.has_results_file = false;
        import.started_at = None;
        import.completed_at = None;
        import.updated_at = time_fmt::now();
        if let Some(mappings) = &restart.mappings {
            item.requested_mappings = mappings.clone();
            import.mappings = mappings.clone();
        }
        item.progress = Progress { run: restart.run + 1, rehearsal: restart.rehearsal(), ..Progress::default() };
        item.tenant_status = tenant_status(tenant_id, Status::Queued);
        item.sweep_shard = sweep_shard(import_id);
        item.sweep_at = Some(sweep_after(import.updated_at));
        let result = self
            .client
            .put_item()
            .table_name(&self.imports)
            .set_item(Some(serde_dynamo::to_item(&item).map_err(ser_err)?))
            .condition_expression("#status = :from AND #pr.#run = :run")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#pr", "progress")
            .expression_attribute_names("#run", "run")
            .expression_attribute_values(":from", s(restart.from.as_str()))
            .expression_attribute_values(":run", n(restart.run))
            .send()
            .await;
        conditional(refused_as_data(result)?)
    }

    async fn batch_outcomes(
        &self,
        tenant_id: &str,
        import_id: &str,
        run: u32,
        chunk: u64,
    ) -> Result<BTreeMap<u64, String>> {
        let prefix = batch_sk_prefix(run, chunk);
        let mut out = BTreeMap::new();
        let ledger = Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(&prefix) };
        self.each_item(ledger, Some("sk, outcomes"), |item| {
            let batch = text(&item, "sk").and_then(|sk| sk.strip_prefix(&prefix)).and_then(|b| b.parse().ok());
            if let (Some(batch), Some(outcomes)) = (batch, text(&item, "outcomes")) {
                out.insert(batch, outcomes.to_string());
            }
        })
        .await?;
        Ok(out)
    }

    async fn record_chunk(&self, tenant_id: &str, import_id: &str, run: u32, count: &ChunkCount<'_>) -> Result<bool> {
        let ttl = self.import_ttl(tenant_id, import_id).await?;
        let chunk = count.chunk;
        for attempt in 0..5u32 {
            let progress =
                [("chunks_transformed", 1), ("batches_planned", count.batches), ("rows_transformed", chunk.rows)];
            let inc = increments(count.tally, &progress);
            let start = RunStart { chunk: chunk.index, at: count.began };
            let items = vec![
                ledger_put(&self.imports, tenant_id, import_id, chunk_sk(run, chunk.index), ttl, &[])?,
                stats_update(&self.imports, tenant_id, import_id, run, inc, &start)?,
            ];
            match self.transact(items).await? {
                Applied::Now => return Ok(true),
                Applied::Before => return Ok(false),
                Applied::Conflict => tokio::time::sleep(throttle_pause(attempt)).await,
            }
        }
        Err(Error::Contention(format!("chunk {} of {import_id}", chunk.index)))
    }

    async fn complete(&self, tenant_id: &str, import_id: &str, run: u32, files: Finished) -> Result<bool> {
        let t = Transition {
            from: &[Status::Queued, Status::Processing],
            to: Status::Completed,
            phase: Some(Phase::Cleanup),
            stamp: Some("completed_at"),
            reason: None,
            files,
            run: Some(run),
        };
        self.transition(tenant_id, import_id, t).await
    }

    async fn due(&self, now: OffsetDateTime, cursor: Option<&str>) -> Result<Page<ImportKey>> {
        let DueCursor { shard, after } = match cursor {
            Some(c) => serde_json::from_str(c).map_err(ser_err)?,
            None => DueCursor::default(),
        };
        let start = after.map(|(at, pk, sk)| {
            let mut key = HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))]);
            key.insert("sweep_shard".into(), n(shard));
            key.insert("sweep_at".into(), n(at));
            key
        });
        let out = self
            .client
            .query()
            .table_name(&self.imports)
            .index_name(SWEEP_INDEX)
            .key_condition_expression("#shard = :shard AND #at <= :now")
            .expression_attribute_names("#shard", "sweep_shard")
            .expression_attribute_names("#at", "sweep_at")
            .expression_attribute_values(":shard", n(shard))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .limit(DUE_PAGE)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(ddb_err)?;
        let key = |item: &HashMap<String, AttributeValue>| {
            let at = item.get("sweep_at").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
            Some((at?, text(item, "pk")?.to_string(), text(item, "sk")?.to_string()))
        };
        let items = out.items().iter().filter_map(key).map(|(_, pk, sk)| (pk, sk)).collect();
        let next = match out.last_evaluated_key.as_ref().and_then(key) {
            Some(after) => Some(DueCursor { shard, after: Some(after) }),
            None => (shard + 1 < SWEEP_SHARDS).then(|| DueCursor { shard: shard + 1, after: None }),
        };
        let next_cursor = next.map(|c| serde_json::to_string(&c).map_err(ser_err)).transpose()?;
        Ok(Page { items, next_cursor })
    }

    async fn reschedule(
        &self,
        tenant_id: &str,
        import_id: &str,
        seen: OffsetDateTime,
        next: OffsetDateTime,
    ) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #at = :next",
            "#at = :seen",
            &[("#at", "sweep_at")],
            vec![(":next", n(next.unix_timestamp())), (":seen", n(seen.unix_timestamp()))],
        )
        .await
    }

    async fn finish(
        &self,
        tenant_id: &str,
        import_id: &str,
        from: &[Status],
        to: Status,
        reason: &str,
    ) -> Result<bool> {
        let t = Transition {
            from,
            to,
            phase: None,
            stamp: Some("completed_at"),
            reason: Some(reason),
            files: Finished::default(),
            run: None,
        };
        let stopped = self.transition(tenant_id, import_id, t).await?;
        self.close_counters(tenant_id, import_id).await?;
        Ok(stopped)
    }

    async fn delete(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        // The ledger first: while the import item exists, a failed delete can be asked again.
        self.delete_ledger(tenant_id, import_id).await?;
        let running = [Status::Queued, Status::Processing];
        let result = self
            .client
            .delete_item()
            .table_name(&self.imports)
            .set_key(Some(import_key(tenant_id, import_id)))
            .condition_expression("attribute_exists(pk) AND NOT (#status IN (:r0, :r1))")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":r0", s(running[0].as_str()))
            .expression_attribute_values(":r1", s(running[1].as_str()))
            .send()
            .await;
        let deleted = conditional(result)?;
        if deleted {
            // An event mark put while the ledger was swept; none can follow (`mark_published`).
            self.delete_ledger(tenant_id, import_id).await?;
        }
        Ok(deleted)
    }

    async fn begin_cleanup(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #phase = :cleanup, #ua = :now",
            "#status IN (:q, :p) AND #pr.#run = :run AND #phase <> :cleanup",
            &[("#phase", "phase"), ("#ua", "updated_at"), ("#status", "status"), ("#pr", "progress"), ("#run", "run")],
            vec![
                (":cleanup", s(Phase::Cleanup.as_str())),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
                (":q", s(Status::Queued.as_str())),
                (":p", s(Status::Processing.as_str())),
                (":run", n(run)),
            ],
        )
        .await
    }

    async fn note_seen(&self, tenant_id: &str, import_id: &str, run: u32, identifiers: &[String]) -> Result<()> {
        let ttl = self.import_ttl(tenant_id, import_id).await?;
        let requests = identifiers
            .iter()
            .map(|id| {
                let prefix = seen_sk_prefix(run);
                let mut put = PutRequest::builder()
                    .item("pk", s(ledger_pk(tenant_id, import_id)))
                    .item("sk", s(keys::sort_key(&prefix, id)))
                    .item("ttl", n(ttl));
                if !keys::fits(&prefix, id) {
                    put = put.item(NOTED, s(id));
                }
                let put = put.build().map_err(ser_err)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>>>()?;
        self.write_all(&self.imports, requests).await
    }

    async fn cleanup_step(&self, tenant_id: &str, import_id: &str, run: u32, step: CleanupStep) -> Result<bool> {
        let flag = match step {
            CleanupStep::GuardPassed => "guard_passed",
            CleanupStep::RemovalDone => "removal_done",
        };
        self.update_import(
            tenant_id,
            import_id,
            "SET #pr.#flag = :true, #ua = :now",
            "#status IN (:q, :p) AND #pr.#run = :run",
            &[("#pr", "progress"), ("#flag", flag), ("#ua", "updated_at"), ("#status", "status"), ("#run", "run")],
            vec![
                (":true", AttributeValue::Bool(true)),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
                (":q", s(Status::Queued.as_str())),
                (":p", s(Status::Processing.as_str())),
                (":run", n(run)),
            ],
        )
        .await
    }

    async fn begin_revert(&self, tenant_id: &str, import_id: &str, state: &RevertState) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv = :state, #ua = :now",
            "#status = :completed AND (attribute_not_exists(#rv) OR attribute_type(#rv, :null))",
            &[("#rv", "revert"), ("#ua", "updated_at"), ("#status", "status")],
            vec![
                (":state", av(state)?),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
                (":completed", s(Status::Completed.as_str())),
                (":null", s("NULL")),
            ],
        )
        .await
    }

    async fn kept_before_images(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<Vec<(String, String)>> {
        let mut units = Vec::new();
        for prefix in [batches_sk_prefix(run), removal_sk_prefix(run)] {
            let ledger = Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(&prefix) };
            self.each_item(ledger, Some("sk, before_images, part_images"), |item| {
                let Some(sk) = text(&item, "sk") else { return };
                if let Some(key) = text(&item, "before_images") {
                    units.push((sk.to_string(), key.to_string()));
                }
                // A batch applied in parts kept an object per part: each is a unit to revert.
                let parts = item.get(PART_IMAGES).and_then(|v| v.as_l().ok()).map(Vec::as_slice).unwrap_or_default();
                for (i, key) in parts.iter().filter_map(|v| v.as_s().ok()).enumerate() {
                    units.push((format!("{sk}~{i}"), key.clone()));
                }
            })
            .await?;
        }
        Ok(units)
    }

    async fn plan_revert(&self, tenant_id: &str, import_id: &str, units: u64) -> Result<()> {
        // Planned before: the same units, already counted.
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv.#total = :n",
            "#rv.#st = :reverting AND (attribute_not_exists(#rv.#total) OR attribute_type(#rv.#total, :null))",
            &[("#rv", "revert"), ("#total", "units_total"), ("#st", "status")],
            vec![(":n", n(units)), (":reverting", av(&RevertStatus::Reverting)?), (":null", s("NULL"))],
        )
        .await?;
        Ok(())
    }

    async fn finish_revert(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        let mut listed = Vec::new();
        let ledger =
            Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(REVERT_SK_PREFIX) };
        self.each_item(ledger, Some("conflicts"), |item| {
            listed.extend(text(&item, "conflicts").into_iter().flat_map(str::lines).map(str::to_string));
        })
        .await?;
        listed.sort();
        listed.truncate(MAX_LISTED_CONFLICTS);
        // The import item stays well within DynamoDB's 400 KB whatever the identifiers' length.
        let mut bytes = 0;
        listed.retain(|id| {
            bytes += id.len();
            bytes <= MAX_LISTED_CONFLICT_BYTES
        });
        let now = s(time_fmt::rfc3339(time_fmt::now()));
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv.#st = :reverted, #rv.#ca = :now, #rv.#ci = :listed, #ua = :now, #sweep = :sweep",
            "#rv.#st = :reverting AND #rv.#total = #rv.#done",
            &[
                ("#rv", "revert"),
                ("#st", "status"),
                ("#ca", "completed_at"),
                ("#ci", "conflict_identifiers"),
                ("#ua", "updated_at"),
                ("#total", "units_total"),
                ("#done", "units_done"),
                ("#sweep", "sweep_at"),
            ],
            vec![
                (":sweep", sweep_soon()),
                (":reverted", av(&RevertStatus::Reverted)?),
                (":reverting", av(&RevertStatus::Reverting)?),
                (":now", now),
                (":listed", av(&listed)?),
            ],
        )
        .await
    }

    async fn fail_revert(&self, tenant_id: &str, import_id: &str, reason: &str) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv.#st = :failed, #rv.#reason = :reason, #ua = :now",
            "#rv.#st = :reverting",
            &[("#rv", "revert"), ("#st", "status"), ("#reason", "reason"), ("#ua", "updated_at")],
            vec![
                (":failed", av(&RevertStatus::Failed)?),
                (":reverting", av(&RevertStatus::Reverting)?),
                (":reason", s(reason)),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
            ],
        )
        .await
    }

    async fn resume_revert(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv.#st = :reverting, #ua = :now REMOVE #rv.#reason",
            "#rv.#st = :failed",
            &[("#rv", "revert"), ("#st", "status"), ("#reason", "reason"), ("#ua", "updated_at")],
            vec![
                (":failed", av(&RevertStatus::Failed)?),
                (":reverting", av(&RevertStatus::Reverting)?),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
            ],
        )
        .await
    }

    async fn interrupt(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        let t = Transition {
            from: &[Status::AwaitingUpload, Status::PreviewReady, Status::Queued, Status::Processing],
            to: Status::Interrupted,
            phase: None,
            stamp: Some("interrupted_at"),
            reason: Some("interrupted"),
            files: Finished::default(),
            run: None,
        };
        let stopped = self.transition(tenant_id, import_id, t).await?;
        self.close_counters(tenant_id, import_id).await?;
        Ok(stopped)
    }

    async fn fail(&self, tenant_id: &str, import_id: &str, run: u32, from: &[Status], reason: &str) -> Result<bool> {
        let t = Transition {
            from,
            to: Status::Failed,
            phase: None,
            stamp: Some("completed_at"),
            reason: Some(reason),
            files: Finished::default(),
            run: Some(run),
        };
        let stopped = self.transition(tenant_id, import_id, t).await?;
        self.close_counters(tenant_id, import_id).await?;
        Ok(stopped)
    }

    async fn mark_published(&self, tenant_id: &str, import_id: &str, key: &str) -> Result<()> {
        // An item of the ledger, not a second write of the import item: a step writes the import
        // once for its message, and its change's event is marked beside it.
        let ttl = match self.import_ttl(tenant_id, import_id).await {
            Err(Error::NotFound) => return Ok(()),
            ttl => ttl?,
        };
        // Only beside an import that still exists: a mark put after a DELETE swept the ledger
        // would outlive the import.
        let exists = ConditionCheck::builder()
            .table_name(&self.imports)
            .set_key(Some(import_key(tenant_id, import_id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(ser_err)?;
        let mark = Put::builder()
            .table_name(&self.imports)
            .item("pk", s(ledger_pk(tenant_id, import_id)))
            .item("sk", s(format!("{EVENT_SK_PREFIX}{key}")))
            .item("at", s(time_fmt::rfc3339(time_fmt::now())))
            .item("ttl", n(ttl))
            .build()
            .map_err(ser_err)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(exists).build(),
            TransactWriteItem::builder().put(mark).build(),
        ];
        // Before: the import is gone, and its mark with it.
        self.transact(items).await.map(|_| ())
    }

    async fn published(&self, tenant_id: &str, import_id: &str) -> Result<BTreeSet<String>> {
        let mut marked = BTreeSet::new();
        let ledger =
            Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(EVENT_SK_PREFIX) };
        self.each_item(ledger, Some("sk"), |item| {
            marked.extend(text(&item, "sk").and_then(|sk| sk.strip_prefix(EVENT_SK_PREFIX)).map(str::to_string));
        })
        .await?;
        Ok(marked)
    }
}

impl DynamoStore {
    /// Deletes every item of an import's ledger.
    async fn delete_ledger(&self, tenant_id: &str, import_id: &str) -> Result<()> {
        let mut keys = Vec::new();
        let ledger = Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: None };
        self.each_item(ledger, Some("pk, sk"), |key| keys.push(key)).await?;
        let requests = keys
            .into_iter()
            .map(|key| {
                let delete = DeleteRequest::builder().set_key(Some(key)).build().map_err(ser_err)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>>>()?;
        self.write_all(&self.imports, requests).await
    }

    /// Writes every request, 25 a call (BatchWriteItem's most); throttled ones come back
    /// unprocessed and are sent again, with backoff.
    async fn write_all(&self, table: &str, requests: Vec<WriteRequest>) -> Result<()> {
        for part in requests.chunks(25) {
            let mut requests = part.to_vec();
            let mut attempt = 0u32;
            while !requests.is_empty() {
                attempt += 1;
                if attempt > THROTTLED_ATTEMPTS {
                    return Err(still_throttled("a batch write"));
                }
                let out =
                    self.client.batch_write_item().request_items(table, requests).send().await.map_err(ddb_err)?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
                if !requests.is_empty() {
                    tokio::time::sleep(throttle_pause(attempt)).await;
                }
            }
        }
        Ok(())
    }

    /// A query of the partition's items, with the `projection` attributes, in key order
    /// (consistent reads).
    fn partition_query(&self, partition: Partition<'_>, projection: Option<&str>) -> QueryFluentBuilder {
        let query = self
            .client
            .query()
            .table_name(partition.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(partition.pk))
            .set_projection_expression(projection.map(str::to_string))
            .consistent_read(true);
        match partition.prefix {
            Some(prefix) => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            None => query,
        }
    }

    /// Hands every item of the partition, with the `projection` attributes (or all), to `each`,
    /// page by page in key order (consistent reads): memory stays that of one page.
    async fn each_item(
        &self,
        partition: Partition<'_>,
        projection: Option<&str>,
        mut each: impl FnMut(HashMap<String, AttributeValue>),
    ) -> Result<()> {
        let mut pages = self.partition_query(partition, projection).into_paginator().items().send();
        while let Some(item) = pages.next().await {
            each(item.map_err(ddb_err)?);
        }
        Ok(())
    }

    /// A page of a type's records in key order after `cursor`; with `unseen_by`, only those that
    /// import has not marked. The filter applies after the limit: a page may hold fewer records,
    /// even none, and still have a next one.
    async fn records_page(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        unseen_by: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>> {
        let pk = records_pk(tenant_id, resource);
        let start = match cursor {
            Some(c) => Some(HashMap::from([("pk".to_string(), s(&pk)), ("sk".to_string(), s(decode_cursor(c)?))])),
            None => None,
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.records)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .limit(limit as i32)
            .set_exclusive_start_key(start);
        if let Some(import_id) = unseen_by {
            query = query
                .filter_expression("attribute_not_exists(seen_by) OR seen_by <> :me")
                .expression_attribute_values(":me", s(import_id))
                .consistent_read(true);
        }
        let out = query.send().await.map_err(ddb_err)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item::<_, RecordItem>(item).map(|r| r.record).map_err(ser_err))
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = out
            .last_evaluated_key
            .and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned())
            .map(|sk| encode_cursor(&sk));
        Ok(Page { items, next_cursor })
    }

    /// Refuses, before sending, writes DynamoDB would refuse (the emulator does not): a record
    /// over the item limit, or more than a transaction holds beside its ledger entry and counts.
    fn check_fits(tenant_id: &str, resource: ResourceType, writes: &[RecordWrite]) -> Result<()> {
        let (mut items, mut bytes) = (item_size::LEDGER_ITEMS, item_size::LEDGER_BYTES);
        for write in writes {
            let weight = weigh(tenant_id, resource, write)?;
            if weight.record_bytes > item_size::MAX_ITEM_BYTES {
                return Err(Error::Internal(format!(
                    "record `{}` is {} bytes, over DynamoDB's {} bytes an item",
                    write.record.identifier,
                    weight.record_bytes,
                    item_size::MAX_ITEM_BYTES
                )));
            }
            items += weight.items;
            bytes += weight.bytes;
        }
        if items > item_size::MAX_TRANSACTION_ITEMS || bytes > item_size::MAX_TRANSACTION_BYTES {
            return Err(Error::Internal(format!(
                "a transaction of {items} items and {bytes} bytes is over DynamoDB's {} items and {} bytes",
                item_size::MAX_TRANSACTION_ITEMS,
                item_size::MAX_TRANSACTION_BYTES
            )));
        }
        Ok(())
    }

    /// The transaction items of record writes, each conditioned on the version it was read at,
    /// with their index changes.
    fn record_items(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        writes: &[RecordWrite],
    ) -> Result<Vec<TransactWriteItem>> {
        let pk = records_pk(tenant_id, resource);
        let mut items = Vec::new();
        for write in writes {
            if write.delete {
                let delete = Delete::builder()
                    .table_name(&self.records)
                    .key("pk", s(&pk))
                    .key("sk", s(&write.record.identifier))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(write.expected_version.unwrap_or_default()))
                    .build()
                    .map_err(ser_err)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            } else {
                let item =
                    RecordItem { pk: pk.clone(), sk: write.record.identifier.clone(), record: write.record.clone() };
                let put = Put::builder()
                    .table_name(&self.records)
                    .set_item(Some(serde_dynamo::to_item(&item).map_err(ser_err)?));
                let put = match write.expected_version {
                    None => put.condition_expression("attribute_not_exists(pk)"),
                    Some(v) => put.condition_expression("version = :v").expression_attribute_values(":v", n(v)),
                };
                items.push(TransactWriteItem::builder().put(put.build().map_err(ser_err)?).build());
            }
            for change in &write.index {
                items.push(self.index_item(tenant_id, resource, &write.record, change)?);
            }
        }
        Ok(items)
    }

    /// A transaction whose first item is a ledger entry and second the update of the counts (the
    /// import item's or a counter shard's); sent
    /// again, with backoff, while it is cancelled for throttling.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Applied> {
        for attempt in 1..=THROTTLED_ATTEMPTS {
            let sent = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            match transaction_outcome(sent.map(|_| ()))? {
                Some(applied) => return Ok(applied),
                None => tokio::time::sleep(throttle_pause(attempt)).await,
            }
        }
        Err(still_throttled("a transaction"))
    }

    /// A claim or release of an index entry, conditioned so a concurrent writer conflicts.
    fn index_item(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        record: &StoredRecord,
        change: &IndexChange,
    ) -> Result<TransactWriteItem> {
        let (IndexChange::Claim { field, value } | IndexChange::Release { field, value }) = change;
        let pk = index_pk(tenant_id, resource, field);
        Ok(match change {
            IndexChange::Claim { .. } => {
                let put = Put::builder()
                    .table_name(&self.records)
                    .item("pk", s(pk))
                    .item("sk", s(value))
                    .item("target", s(&record.identifier))
                    .condition_expression("attribute_not_exists(pk) OR target = :me")
                    .expression_attribute_values(":me", s(&record.identifier))
                    .build()
                    .map_err(ser_err)?;
                TransactWriteItem::builder().put(put).build()
            }
            IndexChange::Release { .. } => {
                let delete = Delete::builder()
                    .table_name(&self.records)
                    .key("pk", s(pk))
                    .key("sk", s(value))
                    .condition_expression("target = :me")
                    .expression_attribute_values(":me", s(&record.identifier))
                    .build()
                    .map_err(ser_err)?;
                TransactWriteItem::builder().delete(delete).build()
            }
        })
    }
}

fn av<T: Serialize>(value: &T) -> Result<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(ser_err)
}

#[async_trait]
impl RecordStore for DynamoStore {
    async fn get(&self, tenant_id: &str, resource: ResourceType, identifier: &str) -> Result<Option<StoredRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.records)
            .key("pk", s(records_pk(tenant_id, resource)))
            .key("sk", s(identifier))
            .send()
            .await
            .map_err(ddb_err)?;
        out.item
            .map(|item| serde_dynamo::from_item::<_, RecordItem>(item).map(|r| r.record).map_err(ser_err))
            .transpose()
    }

    async fn get_many(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        identifiers: &[String],
    ) -> Result<HashMap<String, StoredRecord>> {
        let mut found = HashMap::new();
        for item in self.batch_get(&self.records, &records_pk(tenant_id, resource), identifiers).await? {
            let item: RecordItem = serde_dynamo::from_item(item).map_err(ser_err)?;
            found.insert(item.record.identifier.clone(), item.record);
        }
        Ok(found)
    }

    async fn list(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>> {
        self.records_page(tenant_id, resource, None, limit, cursor).await
    }

    async fn apply_batch(&self, batch: &BatchWrite) -> Result<Applied> {
        let (tenant_id, import_id) = (batch.tenant_id.as_str(), batch.import_id.as_str());
        Self::check_fits(tenant_id, batch.resource_type, &batch.writes)?;
        let ttl = self.import_ttl(tenant_id, import_id).await?;
        let sk = unit_sk(batch.run, &batch.unit);
        // A batch counts once, whole or with its last part (whose tally is the whole batch's).
        let counts = batch.part.is_none_or(|p| p.last);
        let progress: &[(&'static str, u64)] =
            if counts && matches!(batch.unit, Unit::Batch { .. }) { &[("batches_done", 1)] } else { &[] };
        let ledger = match &batch.part {
            None => {
                let kept = [("outcomes", &batch.outcomes), ("before_images", &batch.before_images)];
                ledger_put(&self.imports, tenant_id, import_id, sk, ttl, &kept)?
            }
            Some(part) => part_update(&self.imports, tenant_id, import_id, sk, ttl, part, batch)?,
        };
        // A conflict is tried again on another shard.
        let shard = counter_key(tenant_id, import_id, batch.run, fastrand::u32(..COUNTER_SHARDS));
        let counter = if counts {
            counter_update(&self.imports, shard, ttl, &batch.tally, progress)?
        } else {
            counter_open(&self.imports, shard)?
        };
        let mut items = vec![ledger, counter];
        items.extend(self.record_items(tenant_id, batch.resource_type, &batch.writes)?);
        self.transact(items).await
    }

    async fn batch_state(&self, tenant_id: &str, import_id: &str, run: u32, unit: &Unit) -> Result<Option<BatchState>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.imports)
            .key("pk", s(ledger_pk(tenant_id, import_id)))
            .key("sk", s(unit_sk(run, unit)))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        let Some(item) = out.item else { return Ok(None) };
        let rows = item.get(DONE_ROWS).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
        Ok(Some(match rows {
            Some(rows) if !item.contains_key(PARTS_DONE) => {
                let tally = item.get(PART_TALLY).cloned().map(serde_dynamo::from_attribute_value).transpose();
                BatchState::Partial {
                    rows,
                    outcomes: text(&item, "outcomes").unwrap_or_default().to_string(),
                    tally: tally.map_err(ser_err)?.unwrap_or_default(),
                }
            }
            _ => BatchState::Done,
        }))
    }

    fn weigh(&self, tenant_id: &str, resource: ResourceType, write: &RecordWrite) -> Result<Weight> {
        weigh(tenant_id, resource, write)
    }

    async fn apply_revert(&self, revert: &RevertWrite) -> Result<Applied> {
        let (tenant_id, import_id) = (revert.tenant_id.as_str(), revert.import_id.as_str());
        let ttl = self.import_ttl(tenant_id, import_id).await?;
        let listed = revert.conflicts.iter().take(MAX_LISTED_CONFLICTS).cloned().collect::<Vec<_>>();
        let conflicts = (!listed.is_empty()).then(|| listed.join("\n"));
        Self::check_fits(tenant_id, revert.resource_type, &revert.writes)?;
        let sk = format!("{REVERT_SK_PREFIX}{}", revert.unit);
        let update = Update::builder()
            .table_name(&self.imports)
            .set_key(Some(import_key(tenant_id, import_id)))
            .update_expression(
                "SET #rv.#d = #rv.#d + :d, #rv.#r = #rv.#r + :r, #rv.#c = #rv.#c + :c, #rv.#u = #rv.#u + :one, #ua = :now",
            )
            .condition_expression("#rv.#st = :reverting")
            .expression_attribute_names("#rv", "revert")
            .expression_attribute_names("#d", "deleted")
            .expression_attribute_names("#r", "restored")
            .expression_attribute_names("#c", "conflicts")
            .expression_attribute_names("#u", "units_done")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#ua", "updated_at")
            .expression_attribute_values(":d", n(revert.deleted))
            .expression_attribute_values(":r", n(revert.restored))
            .expression_attribute_values(":c", n(revert.conflicts.len()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":reverting", av(&RevertStatus::Reverting)?)
            .expression_attribute_values(":now", s(time_fmt::rfc3339(time_fmt::now())))
            .build()
            .map_err(ser_err)?;
        let mut items = vec![
            ledger_put(&self.imports, tenant_id, import_id, sk, ttl, &[("conflicts", &conflicts)])?,
            TransactWriteItem::builder().update(update).build(),
        ];
        items.extend(self.record_items(tenant_id, revert.resource_type, &revert.writes)?);
        self.transact(items).await
    }

    async fn create_missing(&self, tenant_id: &str, resource: ResourceType, records: &[StoredRecord]) -> Result<u64> {
        let pk = records_pk(tenant_id, resource);
        let mut created = 0;
        for record in records {
            let item = RecordItem { pk: pk.clone(), sk: record.identifier.clone(), record: record.clone() };
            let put = self
                .client
                .put_item()
                .table_name(&self.records)
                .set_item(Some(serde_dynamo::to_item(&item).map_err(ser_err)?))
                .condition_expression("attribute_not_exists(pk)");
            created += u64::from(conditional(put.send().await)?);
        }
        Ok(created)
    }

    async fn census(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        before: OffsetDateTime,
        noted_in: Option<u32>,
    ) -> Result<(u64, u64)> {
        let records = Partition { table: &self.records, pk: records_pk(tenant_id, resource), prefix: None };
        let mut records =
            self.partition_query(records, Some("sk, seen_by, updated_at")).into_paginator().items().send();
        // A dry run's notes sort as the records do: one pass over both, side by side. Notes keyed
        // by a digest (identifiers too long for the prefix) sort elsewhere: the side-by-side pass
        // skips them, and the old records they may note are looked up by key, 100 at a time.
        let prefix = noted_in.map(seen_sk_prefix);
        let mut notes = prefix.as_deref().map(|p| {
            let notes = Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(p) };
            self.partition_query(notes, Some(&format!("sk, {NOTED}"))).into_paginator().items().send()
        });
        let mut note: Option<String> = None;
        let mut long_and_old: Vec<String> = Vec::new();
        let (mut total, mut doomed) = (0, 0);
        while let Some(item) = records.next().await {
            let item = item.map_err(ddb_err)?;
            let sk = text(&item, "sk").unwrap_or_default();
            let parsed = text(&item, "updated_at").and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            let old = parsed.is_some_and(|t| t < before);
            total += 1;
            let noted = match (&mut notes, prefix.as_deref()) {
                (Some(_), Some(prefix)) if !keys::fits(prefix, sk) => {
                    if old {
                        long_and_old.push(sk.to_string());
                    }
                    if long_and_old.len() == 100 {
                        doomed +=
                            self.unnoted(tenant_id, import_id, prefix, &std::mem::take(&mut long_and_old)).await?;
                    }
                    continue;
                }
                (Some(pages), Some(prefix)) => {
                    while note.as_deref().is_none_or(|n| n < sk) {
                        match pages.next().await {
                            Some(next) => {
                                let next = next.map_err(ddb_err)?;
                                if next.contains_key(NOTED) {
                                    continue;
                                }
                                note = text(&next, "sk").and_then(|k| k.strip_prefix(prefix)).map(str::to_string);
                            }
                            None => break,
                        }
                    }
                    note.as_deref() == Some(sk)
                }
                _ => text(&item, "seen_by") == Some(import_id),
            };
            doomed += u64::from(old && !noted);
        }
        if let Some(prefix) = prefix.as_deref() {
            doomed += self.unnoted(tenant_id, import_id, prefix, &long_and_old).await?;
        }
        Ok((total, doomed))
    }

    async fn unseen(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>> {
        self.records_page(tenant_id, resource, Some(import_id), limit, cursor).await
    }

    async fn lookup(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        field: &str,
        values: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut found = HashMap::new();
        for item in self.batch_get(&self.records, &index_pk(tenant_id, resource, field), values).await? {
            if let (Some(value), Some(target)) = (text(&item, "sk"), text(&item, "target")) {
                found.insert(value.to_string(), target.to_string());
            }
        }
        Ok(found)
    }
}

impl DynamoStore {
    /// How many of these identifiers, each too long to be noted under its own key, a dry run's
    /// notes (`prefix`) do not name.
    async fn unnoted(&self, tenant_id: &str, import_id: &str, prefix: &str, identifiers: &[String]) -> Result<u64> {
        let sks: Vec<String> = identifiers.iter().map(|id| keys::sort_key(prefix, id)).collect();
        let notes = self.batch_get(&self.imports, &ledger_pk(tenant_id, import_id), &sks).await?;
        let noted = notes.iter().filter_map(|note| text(note, NOTED)).filter(|id| identifiers.iter().any(|i| i == id));
        Ok(identifiers.len() as u64 - noted.count() as u64)
    }

    /// The items of one partition with these sort keys: consistent reads, 100 keys a request
    /// (each once: DynamoDB refuses a request naming a key twice), throttled keys asked again
    /// with backoff.
    async fn batch_get(&self, table: &str, pk: &str, sks: &[String]) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut unique: Vec<&String> = sks.iter().collect();
        unique.sort();
        unique.dedup();
        let mut items = Vec::new();
        for part in unique.chunks(100) {
            let keys = part.iter().map(|sk| HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(*sk))]));
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys.collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(ser_err)?,
            );
            let mut attempt = 0u32;
            while let Some(keys) = request.take() {
                attempt += 1;
                if attempt > THROTTLED_ATTEMPTS {
                    return Err(still_throttled("a batch read"));
                }
                let out = self.client.batch_get_item().request_items(table, keys).send().await.map_err(ddb_err)?;
                items.extend(out.responses.unwrap_or_default().remove(table).unwrap_or_default());
                // Throttled keys come back unprocessed: ask again, with backoff.
                request = out.unprocessed_keys.and_then(|mut u| u.remove(table)).filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    tokio::time::sleep(throttle_pause(attempt)).await;
                }
            }
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_sdk_dynamodb::types::CancellationReason;

    use super::*;

    fn cancelled(codes: &[&str]) -> Result<Option<Applied>> {
        let mut e = TransactionCanceledException::builder();
        for code in codes {
            e = e.cancellation_reasons(CancellationReason::builder().code(*code).build());
        }
        let response =
            aws_sdk_dynamodb::config::http::HttpResponse::new(400u16.try_into().expect("a status"), "".into());
        let err = TransactWriteItemsError::TransactionCanceledException(e.build());
        transaction_outcome(Err(SdkError::service_error(err, response)))
    }

    #[test]
    fn a_transaction_cancelled_for_throttling_is_sent_again_unless_a_condition_failed() {
        assert!(matches!(cancelled(&["None", "None", "ThrottlingError"]), Ok(None)));
        assert!(matches!(cancelled(&["ConditionalCheckFailed", "ThrottlingError"]), Ok(Some(Applied::Before))));
        assert!(matches!(
            cancelled(&["None", "ThrottlingError", "ConditionalCheckFailed"]),
            Ok(Some(Applied::Conflict))
        ));
        assert!(matches!(cancelled(&["None", "ConditionalCheckFailed"]), Err(Error::NotFound)));
        assert!(matches!(cancelled(&["None", "ValidationError"]), Err(Error::Aws { .. })));
    }
}
