//! The store, its client and tables, and the reads and updates every part of it uses.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{BoxStream, StreamExt};
use serde::Deserialize;

use domain::error::{Error, Result};
use domain::import::Progress;
use service::config::Settings;

use super::attributes::s;
use super::attributes::text;
use super::errors::{conditional, ddb_err, ser_err};
use super::layout::{import_key, Shards};
use super::pacing::Pacing;
use super::rounds::Rounds;

pub struct DynamoStore {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) imports: String,
    pub(super) records: String,
    pub(super) shards: Shards,
    /// The backoff every throttled call of this store shares.
    pub(super) pacing: Pacing,
    /// Progress reads shared by the messages an instance handles at once (`Rounds`).
    pub(super) progress_reads: Rounds<(String, String), Option<Progress>>,
    /// Each import's TTL (`ttl_of`), which never changes: a unit of work reads its import only
    /// for it, so a warm function asks once per import, not once per message.
    pub(super) ttls: std::sync::Mutex<HashMap<(String, String), i64>>,
}

/// Imports whose TTL a warm function remembers; past this the memo starts again.
pub(super) const REMEMBERED_TTLS: usize = 4096;

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, settings: &Settings) -> Self {
        Self {
            client,
            imports: settings.imports_table.clone(),
            records: settings.records_table.clone(),
            shards: Shards::new(settings.record_shards),
            pacing: Pacing::default(),
            progress_reads: Rounds::default(),
            ttls: Default::default(),
        }
    }
}

/// One partition of a table, or the items of it whose sort key starts with `prefix`.
pub(super) struct Partition<'a> {
    pub(super) table: &'a str,
    pub(super) pk: String,
    pub(super) prefix: Option<&'a str>,
}

impl DynamoStore {
    pub(super) async fn import_ttl(&self, tenant_id: &str, import_id: &str) -> Result<i64> {
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
}

impl DynamoStore {
    /// The import item (consistent read), or only its `attribute`.
    pub(super) async fn import_item<T: serde::de::DeserializeOwned>(
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
}

impl DynamoStore {
    /// A conditional update of the import; false when the condition did not hold.
    pub(super) async fn update_import(
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

impl DynamoStore {
    /// A query of the partition's items, with the `projection` attributes, in key order
    /// (consistent reads).
    pub(super) fn partition_query(&self, partition: Partition<'_>, projection: Option<&str>) -> QueryFluentBuilder {
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
    pub(super) async fn each_item(
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
}

type Item = HashMap<String, AttributeValue>;

/// The items of several queries (one a shard) as one sequence in sort-key order, holding a page
/// of each.
pub(super) struct Merged<'a> {
    pages: Vec<BoxStream<'a, Result<Item>>>,
    heads: Vec<Option<Item>>,
}

impl<'a> Merged<'a> {
    pub(super) async fn start(queries: Vec<QueryFluentBuilder>) -> Result<Self> {
        let mut pages: Vec<BoxStream<'a, Result<Item>>> = queries
            .into_iter()
            .map(|query| {
                let items = query.into_paginator().items().send();
                futures::stream::unfold(items, |mut items| async move {
                    items.next().await.map(|item| (item.map_err(ddb_err), items))
                })
                .boxed()
            })
            .collect();
        let heads = futures::future::join_all(pages.iter_mut().map(|p| p.next())).await;
        let heads = heads.into_iter().map(Option::transpose).collect::<Result<_>>()?;
        Ok(Self { pages, heads })
    }

    /// The least item not yet taken.
    pub(super) async fn next(&mut self) -> Result<Option<Item>> {
        let least = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, head)| Some((i, text(head.as_ref()?, "sk")?)))
            .min_by(|a, b| a.1.cmp(b.1))
            .map(|(i, _)| i);
        let Some(i) = least else { return Ok(None) };
        let item = self.heads[i].take();
        self.heads[i] = self.pages[i].next().await.transpose()?;
        Ok(item)
    }

    /// Whether an item is left.
    pub(super) fn more(&self) -> bool {
        self.heads.iter().any(Option::is_some)
    }
}
