//! The imports table as the tenants' `Documents` (templates, schemas): the latest version of a
//! document is its head item, `pk = {kind}#{tenant}`, `sk = id` (so a query of the partition lists
//! them in id order), and every version an item of its own, `pk = {kind}#{tenant}#{id}`,
//! `sk = {version:010}`, both with the version, the body as JSON text and the times. No import
//! partition (`pk = tenant`, and tenant ids hold no `#`) is one of these, and neither item has an
//! index's key.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, Put, TransactWriteItem, WriteRequest};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use domain::error::{Error, Result};
use domain::item_size;
use service::ports::{Applied, DocumentKind, Documents, Page, Versioned};

use super::attributes::{n, s};
use super::errors::{conditional, ddb_err, ser_err};
use super::layout::{decode_cursor, encode_cursor};
use super::store::{DynamoStore, Partition};
use super::throttle::contention_pause;

/// Sends of a version met by another write of the same document before it gives up.
const CONTENDED_TRIES: u32 = 5;

fn head_pk(kind: DocumentKind, tenant_id: &str) -> String {
    let prefix = match kind {
        DocumentKind::Template => "template",
        DocumentKind::Schema => "schema",
    };
    format!("{prefix}#{tenant_id}")
}

fn versions_pk(kind: DocumentKind, tenant_id: &str, id: &str) -> String {
    format!("{}#{id}", head_pk(kind, tenant_id))
}

fn version_sk(version: u32) -> String {
    format!("{version:010}")
}

fn key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

/// A head or a version item.
#[derive(Serialize, Deserialize)]
struct DocumentItem {
    pk: String,
    sk: String,
    version: u32,
    /// JSON text: one attribute, encoded and decoded in one piece (as a record's fields).
    body: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl DocumentItem {
    fn into_versioned(self, id: String) -> Result<Versioned> {
        let body = serde_json::from_str(&self.body).map_err(ser_err)?;
        Ok(Versioned { id, version: self.version, body, created_at: self.created_at, updated_at: self.updated_at })
    }
}

/// The head and the version item of `doc`, refused (400, `body`) when either is over DynamoDB's
/// 400 KB an item: the emulator stores them, DynamoDB would refuse the write every time.
fn items(kind: DocumentKind, tenant_id: &str, doc: &Versioned) -> Result<[DocumentItem; 2]> {
    let body = serde_json::to_string(&doc.body).map_err(ser_err)?;
    let item = |pk: String, sk: String| DocumentItem {
        pk,
        sk,
        version: doc.version,
        body: body.clone(),
        created_at: doc.created_at,
        updated_at: doc.updated_at,
    };
    let items = [
        item(head_pk(kind, tenant_id), doc.id.clone()),
        item(versions_pk(kind, tenant_id, &doc.id), version_sk(doc.version)),
    ];
    for item in &items {
        let bytes = item_size::of(item)?;
        if bytes > item_size::MAX_ITEM_BYTES {
            return Err(Error::invalid(
                "body",
                "too_large",
                format!(
                    "stored, it is {bytes} bytes, over the {} bytes a document may take",
                    item_size::MAX_ITEM_BYTES
                ),
            ));
        }
    }
    Ok(items)
}

/// Refuses a version the DynamoDB store would refuse for its size, so the in-memory one does too.
pub fn check_document(kind: DocumentKind, tenant_id: &str, doc: &Versioned) -> Result<()> {
    items(kind, tenant_id, doc).map(drop)
}

/// The write of an item, its condition yet to add.
fn put(table: &str, item: &DocumentItem) -> Result<PutBuilder> {
    Ok(Put::builder().table_name(table).set_item(Some(serde_dynamo::to_item(item).map_err(ser_err)?)))
}

impl DynamoStore {
    async fn document_item(&self, pk: String, sk: String) -> Result<Option<DocumentItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.imports)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        out.item.map(|item| serde_dynamo::from_item(item).map_err(ser_err)).transpose()
    }
}

#[async_trait]
impl Documents for DynamoStore {
    async fn put_version(&self, kind: DocumentKind, tenant_id: &str, doc: &Versioned) -> Result<bool> {
        let Some(previous) = doc.version.checked_sub(1) else { return Ok(false) };
        let [head, version] = items(kind, tenant_id, doc)?;
        let head = match previous {
            0 => put(&self.imports, &head)?.condition_expression("attribute_not_exists(pk)"),
            p => put(&self.imports, &head)?
                .condition_expression("#v = :previous")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":previous", n(p)),
        };
        let version = put(&self.imports, &version)?.condition_expression("attribute_not_exists(pk)");
        let writes = vec![
            TransactWriteItem::builder().put(head.build().map_err(ser_err)?).build(),
            TransactWriteItem::builder().put(version.build().map_err(ser_err)?).build(),
        ];
        for attempt in 0..CONTENDED_TRIES {
            // Either condition failing (`Before` for the head's, `NotFound` for the version
            // item's) means another version is the latest.
            match self.transact(writes.clone()).await {
                Ok(Applied::Now) => return Ok(true),
                Ok(Applied::Before) | Err(Error::NotFound) => return Ok(false),
                Ok(Applied::Conflict) => tokio::time::sleep(contention_pause(attempt)).await,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Contention(format!("version {} of {}", doc.version, doc.id)))
    }

    async fn get(
        &self,
        kind: DocumentKind,
        tenant_id: &str,
        id: &str,
        version: Option<u32>,
    ) -> Result<Option<Versioned>> {
        let item = match version {
            None => self.document_item(head_pk(kind, tenant_id), id.to_string()).await?,
            Some(v) => self.document_item(versions_pk(kind, tenant_id, id), version_sk(v)).await?,
        };
        item.map(|item| item.into_versioned(id.to_string())).transpose()
    }

    async fn list(
        &self,
        kind: DocumentKind,
        tenant_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Versioned>> {
        let pk = head_pk(kind, tenant_id);
        let mut start = cursor.map(|c| Ok::<_, Error>(key(pk.clone(), decode_cursor(c)?))).transpose()?;
        // One more than asked for, so the page knows whether another follows.
        let mut items = Vec::new();
        loop {
            let partition = Partition { table: &self.imports, pk: pk.clone(), prefix: None };
            let wanted = i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX);
            let out = self
                .partition_query(partition, None)
                .limit(wanted)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(ddb_err)?;
            for item in out.items.unwrap_or_default() {
                let head: DocumentItem = serde_dynamo::from_item(item).map_err(ser_err)?;
                let id = head.sk.clone();
                items.push(head.into_versioned(id)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() > limit {
                break;
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = items.last().filter(|_| more).map(|last| encode_cursor(&last.id));
        Ok(Page { items, next_cursor })
    }

    async fn delete(&self, kind: DocumentKind, tenant_id: &str, id: &str) -> Result<bool> {
        // The head goes last, and only as it was when its versions were deleted: a version stored
        // meanwhile is deleted by the next round, never left behind its head.
        let mut round = 0;
        loop {
            let Some(head) = self.document_item(head_pk(kind, tenant_id), id.to_string()).await? else {
                return Ok(round > 0);
            };
            let mut deletes = Vec::new();
            let versions = Partition { table: &self.imports, pk: versions_pk(kind, tenant_id, id), prefix: None };
            self.each_item(versions, Some("pk, sk"), |item| {
                let delete = DeleteRequest::builder().set_key(Some(item)).build().map_err(ser_err);
                deletes.push(delete.map(|d| WriteRequest::builder().delete_request(d).build()));
            })
            .await?;
            self.write_all(&self.imports, deletes.into_iter().collect::<Result<_>>()?).await?;
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.imports)
                .set_key(Some(key(head_pk(kind, tenant_id), id.to_string())))
                .condition_expression("#v = :seen")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":seen", n(head.version))
                .send()
                .await;
            if conditional(deleted)? {
                return Ok(true);
            }
            round += 1;
        }
    }
}
