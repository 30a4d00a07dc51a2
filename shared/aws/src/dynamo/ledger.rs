//! The ledger: one entry per unit of work, which makes the unit count once.

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest};

use domain::error::Result;
use service::ports::{BatchWrite, Part};

use super::attributes::{av, n, s};
use super::errors::ser_err;
use super::layout::ledger_pk;
use super::store::{DynamoStore, Partition};

/// The ledger entry that makes a unit of work count once, with what it keeps of the work.
pub(super) fn ledger_put(
    table: &str,
    tenant_id: &str,
    import_id: &str,
    sk: String,
    ttl: i64,
    kept: &[(&str, &Option<String>)],
    created: &[String],
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
    if !created.is_empty() {
        put = put.item(CREATED, AttributeValue::L(created.iter().map(s).collect()));
    }
    let put = put.build().map_err(ser_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A batch applied in parts: how many of its rows are done, their tally (counted only with the
/// last part, so a batch takes one counter-shard write however it is written), and that its
/// last part is done.
pub(super) const DONE_ROWS: &str = "done_rows";
pub(super) const PART_TALLY: &str = "tally";
pub(super) const PARTS_DONE: &str = "parts_done";
/// The before-images of a batch applied in parts, one object per part that wrote any.
pub(super) const PART_IMAGES: &str = "part_images";
/// The records a unit created, each part's added on (no before-image: a revert deletes them).
pub(super) const CREATED: &str = "created";

/// The ledger entry of a batch applied in parts, moved from the part's start to its end: a
/// part applies once, and only after the parts before it. It keeps the outcome codes and the
/// tally of every row done so far.
pub(super) fn part_update(
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
    if !batch.created.is_empty() {
        sets.push("#created = list_append(if_not_exists(#created, :none), :created)");
        update = update
            .expression_attribute_names("#created", CREATED)
            .expression_attribute_values(":none", AttributeValue::L(vec![]))
            .expression_attribute_values(":created", AttributeValue::L(batch.created.iter().map(s).collect()));
    }
    update = if part.start == 0 {
        update.condition_expression("attribute_not_exists(pk)")
    } else {
        update.condition_expression("#rows = :start").expression_attribute_values(":start", n(part.start))
    };
    let update = update.update_expression(format!("SET {}", sets.join(", "))).build().map_err(ser_err)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl DynamoStore {
    /// Deletes every item of an import's ledger.
    pub(super) async fn delete_ledger(&self, tenant_id: &str, import_id: &str) -> Result<()> {
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
}
