//! An import's counts: the import item's own, and the counter shards its batches count into.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};
use serde::Deserialize;

use domain::error::Result;
use domain::import::{Phase, RunStart, Status};
use domain::stats::{Stats, Tally};
use domain::time_fmt;

use super::attributes::{av, n, s};
use super::errors::{ddb_err, ser_err};
use super::items::{ttl_of, ImportItem};
use super::layout::{import_key, ledger_pk, tenant_status};
use super::store::{DynamoStore, Partition};

/// Process transactions count a batch into one of this many counter items of the run, picked at
/// random, not into the import item: DynamoDB cancels transactions that overlap on an item, and
/// a run's batches are many at once, so one shared item would serialize them (and takes about
/// 1,000 writes/s at most). Reading an import adds them up in one query. A shard is made by the
/// first batch that counts into it, so a run opens none up front.
pub(super) const COUNTER_SHARDS: u32 = 32;

/// What the ledger keys of a run's counter shards start with; a shard's is this and `{k:02}`.
pub(super) fn counters_sk_prefix(run: u32) -> String {
    format!("count#{run:04}#")
}

/// One counter shard: what the batches counted into it add to the import's stats and progress,
/// as top-level numbers (`ADD` makes them, and the item, on first use). Batches count only
/// while it has no `closed`: a stopped import closes every shard of its run, made or not.
#[derive(Default, Deserialize)]
pub(super) struct Counts {
    #[serde(flatten)]
    pub(super) stats: Stats,
    #[serde(default)]
    pub(super) batches_done: u64,
    /// When a unit last counted into it (epoch seconds).
    #[serde(default)]
    pub(super) counted_at: Option<i64>,
}

/// The attribute of a shard that stops it counting.
pub(super) const CLOSED: &str = "closed";

/// An update that adds a tally to the import's stats, plus `extra` progress counters, once.
pub(super) struct Increments {
    pub(super) expression: String,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

pub(super) fn increments(tally: &Tally, progress: &[(&str, u64)]) -> Increments {
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

/// Counts a chunk only into a running import at the same run: work of a failed, interrupted,
/// deleted or restarted one is dropped. The run is `processing` from the first chunk counted on,
/// which `start` describes unless an earlier chunk did: starting takes no write of its own.
pub(super) fn stats_update(
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
pub(super) fn counter_key(tenant_id: &str, import_id: &str, run: u32, shard: u32) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), s(ledger_pk(tenant_id, import_id))),
        ("sk".to_string(), s(format!("{}{shard:02}", counters_sk_prefix(run)))),
    ])
}

/// Adds a unit's tally and `progress` counters to a counter shard of the run that is not closed.
pub(super) fn counter_update(
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
pub(super) fn counter_open(table: &str, key: HashMap<String, AttributeValue>) -> Result<TransactWriteItem> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("attribute_not_exists(#closed)")
        .expression_attribute_names("#closed", CLOSED)
        .build()
        .map_err(ser_err)?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

impl DynamoStore {
    /// Closes every counter shard of the import's run, made yet or not: batches still in flight
    /// count no more (an earlier run's were all counted before it ended). Asked again on every
    /// stop, so a stop whose closing failed closes them when retried.
    pub(super) async fn close_counters(&self, tenant_id: &str, import_id: &str) -> Result<()> {
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
    pub(super) async fn with_counters(&self, mut item: ImportItem) -> Result<ImportItem> {
        if item.import.status == Status::AwaitingUpload {
            return Ok(item);
        }
        let counts = self.shard_counts(&item.import.tenant_id, &item.import.id, item.progress.run, None).await?;
        item.import.stats.add(&counts.stats);
        item.progress.batches_done += counts.batches_done;
        item.batch_counted_at = counts.counted_at;
        Ok(item)
    }
}

impl DynamoStore {
    /// The sum of the run's counter shards, read through `projection` (what is left out is zero).
    pub(super) async fn shard_counts(
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
}
