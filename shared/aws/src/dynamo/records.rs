//! The records table as the `RecordStore`: records, their alternate identifiers, and the
//! transactions that write them with their ledger entry and counts.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{Delete, Put, PutRequest, TransactWriteItem, Update, WriteRequest};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::keys;
use domain::error::{Error, Result};
use domain::item_size;
use domain::record::{ResourceType, StoredRecord};
use domain::revert_state::{RevertStatus, MAX_LISTED_CONFLICTS};
use domain::time_fmt;
use service::ports::{
    Applied, BatchState, BatchWrite, IndexChange, Page, RecordStore, RecordWrite, RevertWrite, Unit, Weight,
};

use super::attributes::{av, n, s, text};
use super::counters::{counter_key, counter_open, counter_update, COUNTER_SHARDS};
use super::errors::{conditional, ddb_err, ser_err};
use super::items::RecordItem;
use super::layout::{
    decode_cursor, decode_shard_cursor, encode_cursor, encode_shard_cursor, import_key, index_pk, ledger_pk,
    records_pk, seen_sk_prefix, unit_sk, NOTED, REVERT_SK_PREFIX, SHARD_SUFFIX_BYTES,
};
use super::ledger::{ledger_put, part_update, DONE_ROWS, PARTS_DONE, PART_TALLY};
use super::store::{DynamoStore, Merged, Partition};

/// How many times a blind batch's ledger transaction is sent while it conflicts.
const BLIND_LEDGER_TRIES: usize = 5;

/// What a record write weighs as this store writes it: the record item (its key only when
/// deleted) and its index entries, their partition keys at their widest shard suffix.
pub fn weigh(tenant_id: &str, resource: ResourceType, write: &RecordWrite) -> Result<Weight> {
    let pk = records_pk(tenant_id, resource);
    let key = |pk: &str, sk: &str| "pk".len() + pk.len() + SHARD_SUFFIX_BYTES + "sk".len() + sk.len();
    let record_bytes = if write.delete {
        key(&pk, &write.record.identifier)
    } else {
        let item = RecordItem::new(pk.clone(), &write.record);
        item_size::of(&item)? + SHARD_SUFFIX_BYTES
    };
    // A record it creates is named in the ledger entry too (`revert::keep`).
    let named = if !write.delete && write.expected_version.is_none() { write.record.identifier.len() + 3 } else { 0 };
    let mut weight = Weight { record_bytes, items: 1, bytes: record_bytes + named };
    for change in &write.index {
        let (IndexChange::Claim { field, value } | IndexChange::Release { field, value }) = change;
        weight.items += 1;
        weight.bytes +=
            key(&index_pk(tenant_id, resource, field), value) + "target".len() + write.record.identifier.len();
    }
    Ok(weight)
}

/// Refuses, before sending, writes DynamoDB would refuse (the emulator does not): a record
/// over the item limit, or, when they go in one `transaction`, more than a transaction holds
/// beside its ledger entry and counts.
pub fn check_fits(tenant_id: &str, resource: ResourceType, writes: &[RecordWrite], transaction: bool) -> Result<()> {
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
    if transaction && (items > item_size::MAX_TRANSACTION_ITEMS || bytes > item_size::MAX_TRANSACTION_BYTES) {
        return Err(Error::Internal(format!(
            "a transaction of {items} items and {bytes} bytes is over DynamoDB's {} items and {} bytes",
            item_size::MAX_TRANSACTION_ITEMS,
            item_size::MAX_TRANSACTION_BYTES
        )));
    }
    Ok(())
}

impl DynamoStore {
    /// The partition of a record.
    fn record_pk(&self, tenant_id: &str, resource: ResourceType, identifier: &str) -> String {
        self.shards.pk(&records_pk(tenant_id, resource), identifier)
    }

    /// The partition of an index entry.
    fn entry_pk(&self, tenant_id: &str, resource: ResourceType, field: &str, value: &str) -> String {
        self.shards.pk(&index_pk(tenant_id, resource, field), value)
    }

    /// A query of one shard of a type's records, after `after` when given.
    fn shard_query(&self, pk: String, after: Option<&str>, projection: Option<&str>) -> QueryFluentBuilder {
        let query = self.partition_query(Partition { table: &self.records, pk, prefix: None }, projection);
        match after {
            Some(after) => query
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":after", s(after)),
            None => query,
        }
    }

    /// Queries of every shard of a type's records, after `after` when given.
    fn shard_queries(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        after: Option<&str>,
        projection: Option<&str>,
    ) -> Vec<QueryFluentBuilder> {
        let shards = self.shards.all(&records_pk(tenant_id, resource)).into_iter();
        shards.map(|pk| self.shard_query(pk, after, projection)).collect()
    }

    /// The transaction items of record writes, each conditioned on the version it was read at,
    /// with their index changes.
    pub(super) fn record_items(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        writes: &[RecordWrite],
    ) -> Result<Vec<TransactWriteItem>> {
        let mut items = Vec::new();
        for write in writes {
            let pk = self.record_pk(tenant_id, resource, &write.record.identifier);
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
                let item = RecordItem::new(pk, &write.record);
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
}

impl DynamoStore {
    /// The unconditioned puts of a run that holds its type alone (`BatchWrite::blind`).
    fn blind_puts(&self, tenant_id: &str, resource: ResourceType, writes: &[RecordWrite]) -> Result<Vec<WriteRequest>> {
        writes
            .iter()
            .map(|write| {
                if write.delete || !write.index.is_empty() {
                    return Err(Error::Internal(format!("`{}` is not a write to make blind", write.record.identifier)));
                }
                let pk = self.record_pk(tenant_id, resource, &write.record.identifier);
                let item = RecordItem::new(pk, &write.record);
                let put = PutRequest::builder().set_item(Some(serde_dynamo::to_item(&item).map_err(ser_err)?));
                Ok(WriteRequest::builder().put_request(put.build().map_err(ser_err)?).build())
            })
            .collect()
    }

    /// A claim or release of an index entry, conditioned so a concurrent writer conflicts.
    pub(super) fn index_item(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        record: &StoredRecord,
        change: &IndexChange,
    ) -> Result<TransactWriteItem> {
        let (IndexChange::Claim { field, value } | IndexChange::Release { field, value }) = change;
        let pk = self.entry_pk(tenant_id, resource, field, value);
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

#[async_trait]
impl RecordStore for DynamoStore {
    async fn get(&self, tenant_id: &str, resource: ResourceType, identifier: &str) -> Result<Option<StoredRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.records)
            .key("pk", s(self.record_pk(tenant_id, resource, identifier)))
            .key("sk", s(identifier))
            .send()
            .await
            .map_err(ddb_err)?;
        out.item
            .map(|item| serde_dynamo::from_item::<_, RecordItem>(item).map(RecordItem::into_record).map_err(ser_err))
            .transpose()
    }

    async fn get_many(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        identifiers: &[String],
    ) -> Result<HashMap<String, StoredRecord>> {
        let mut found = HashMap::new();
        let keys = identifiers.iter().map(|id| (self.record_pk(tenant_id, resource, id), id.clone()));
        for item in self.batch_get(&self.records, keys.collect::<Vec<_>>()).await? {
            let record = serde_dynamo::from_item::<_, RecordItem>(item).map_err(ser_err)?.into_record();
            found.insert(record.identifier.clone(), record);
        }
        Ok(found)
    }

    /// A page of a type's records in identifier order after `cursor`: the shards' pages merged.
    async fn list(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>> {
        let after = cursor.map(decode_cursor).transpose()?;
        let queries = self.shard_queries(tenant_id, resource, after.as_deref(), None);
        let mut merged = Merged::start(queries.into_iter().map(|q| q.limit(limit as i32)).collect()).await?;
        let mut items = Vec::new();
        while items.len() < limit {
            let Some(item) = merged.next().await? else { break };
            items.push(serde_dynamo::from_item::<_, RecordItem>(item).map_err(ser_err)?.into_record());
        }
        let next_cursor = items.last().filter(|_| merged.more()).map(|last| encode_cursor(&last.identifier));
        Ok(Page { items, next_cursor })
    }

    async fn apply_batch(&self, batch: &BatchWrite) -> Result<Applied> {
        let (tenant_id, import_id) = (batch.tenant_id.as_str(), batch.import_id.as_str());
        check_fits(tenant_id, batch.resource_type, &batch.writes, !batch.blind)?;
        let ttl = self.import_ttl(tenant_id, import_id).await?;
        let sk = unit_sk(batch.run, &batch.unit);
        // A batch counts once, whole or with its last part (whose tally is the whole batch's).
        let counts = batch.part.is_none_or(|p| p.last);
        let progress: &[(&'static str, u64)] =
            if counts && matches!(batch.unit, Unit::Batch { .. }) { &[("batches_done", 1)] } else { &[] };
        let ledger = match &batch.part {
            None => {
                let kept = [("outcomes", &batch.outcomes), ("before_images", &batch.before_images)];
                ledger_put(&self.imports, tenant_id, import_id, sk, ttl, &kept, &batch.created)?
            }
            Some(part) => part_update(&self.imports, tenant_id, import_id, sk, ttl, part, batch)?,
        };
        // A conflict is tried again on another shard.
        let counter = || {
            let shard = counter_key(tenant_id, import_id, batch.run, fastrand::u32(..COUNTER_SHARDS));
            match counts {
                true => counter_update(&self.imports, shard, ttl, &batch.tally, progress),
                false => counter_open(&self.imports, shard),
            }
        };
        if !batch.blind {
            let mut items = vec![ledger, counter()?];
            items.extend(self.record_items(tenant_id, batch.resource_type, &batch.writes)?);
            return self.transact(items).await;
        }
        // Written before the ledger entry that counts them: a delivery that stops between the two
        // is redelivered and writes the same creates again, one after it none.
        if self.batch_state(tenant_id, import_id, batch.run, &batch.unit).await?.is_some() {
            return Ok(Applied::Before);
        }
        self.write_all(&self.records, self.blind_puts(tenant_id, batch.resource_type, &batch.writes)?).await?;
        // The creates are in: a conflict now is another transaction on the ledger entry or the
        // counter shard, not a record changed. Deciding the batch again would read its own
        // creates back as unchanged, so the entry is tried again here, on another shard.
        for _ in 0..BLIND_LEDGER_TRIES {
            match self.transact(vec![ledger.clone(), counter()?]).await? {
                Applied::Conflict => tokio::time::sleep(Duration::from_millis(fastrand::u64(10..100))).await,
                applied => return Ok(applied),
            }
        }
        // Its delivery fails: the redelivery writes the same creates and tries the entry again.
        let entry = unit_sk(batch.run, &batch.unit);
        Err(Error::Contention(format!("the ledger entry {entry} kept conflicting after its records were written")))
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
        check_fits(tenant_id, revert.resource_type, &revert.writes, true)?;
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
            ledger_put(&self.imports, tenant_id, import_id, sk, ttl, &[("conflicts", &conflicts)], &[])?,
            TransactWriteItem::builder().update(update).build(),
        ];
        items.extend(self.record_items(tenant_id, revert.resource_type, &revert.writes)?);
        self.transact(items).await
    }

    async fn create_missing(&self, tenant_id: &str, resource: ResourceType, records: &[StoredRecord]) -> Result<u64> {
        let mut created = 0;
        for record in records {
            let pk = self.record_pk(tenant_id, resource, &record.identifier);
            let item = RecordItem::new(pk, record);
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
        let queries = self.shard_queries(tenant_id, resource, None, Some("sk, seen_by, updated_at"));
        let mut records = Merged::start(queries).await?;
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
        while let Some(item) = records.next().await? {
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

    /// A page of the records `import_id` has not marked, shard after shard (a page goes on into
    /// the next shard while it has room, so small types take one page): the filter applies after
    /// the limit, so a page may hold fewer records, even none, and still have a next one.
    async fn unseen(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        import_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<StoredRecord>> {
        let (mut shard, mut after) = match cursor {
            Some(cursor) => decode_shard_cursor(cursor)?,
            None => (0, None),
        };
        let mut items = Vec::new();
        loop {
            let Some(pk) = self.shards.nth(&records_pk(tenant_id, resource), shard) else {
                return Err(Error::invalid("cursor", "invalid", "not a cursor this API returned"));
            };
            let out = self
                .shard_query(pk, after.as_deref(), None)
                .limit((limit - items.len()) as i32)
                .filter_expression("attribute_not_exists(seen_by) OR seen_by <> :me")
                .expression_attribute_values(":me", s(import_id))
                .send()
                .await
                .map_err(ddb_err)?;
            for item in out.items.unwrap_or_default() {
                items.push(serde_dynamo::from_item::<_, RecordItem>(item).map_err(ser_err)?.into_record());
            }
            let last = out.last_evaluated_key.and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned());
            let next_cursor = match last {
                // The shard goes on: so does the next page.
                Some(sk) => Some(encode_shard_cursor(shard, Some(&sk))),
                None if shard + 1 == self.shards.count() => None,
                None if items.len() >= limit => Some(encode_shard_cursor(shard + 1, None)),
                None => {
                    (shard, after) = (shard + 1, None);
                    continue;
                }
            };
            return Ok(Page { items, next_cursor });
        }
    }

    async fn lookup(
        &self,
        tenant_id: &str,
        resource: ResourceType,
        field: &str,
        values: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut found = HashMap::new();
        let keys = values.iter().map(|v| (self.entry_pk(tenant_id, resource, field, v), v.clone()));
        for item in self.batch_get(&self.records, keys.collect::<Vec<_>>()).await? {
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
    pub(super) async fn unnoted(
        &self,
        tenant_id: &str,
        import_id: &str,
        prefix: &str,
        identifiers: &[String],
    ) -> Result<u64> {
        let sks: Vec<String> = identifiers.iter().map(|id| keys::sort_key(prefix, id)).collect();
        let pk = ledger_pk(tenant_id, import_id);
        let notes = self.batch_get(&self.imports, sks.into_iter().map(|sk| (pk.clone(), sk))).await?;
        let noted = notes.iter().filter_map(|note| text(note, NOTED)).filter(|id| identifiers.iter().any(|i| i == id));
        Ok(identifiers.len() as u64 - noted.count() as u64)
    }
}
