//! The stored shapes of an import and a record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use domain::import::{Import, Progress};
use domain::record::{Fields, StoredRecord};
use service::ports::StoredImport;

/// How long after its `expires_at` DynamoDB's TTL deletes an import item and its ledger. The
/// sweeper deletes a lapsed import with its files first; the TTL is the backstop, and this
/// grace, longer than the longest `max_idle` (a day), lets an import still running at its
/// expiry end or time out and be deleted by the sweeper before the TTL removes the item alone
/// (unless it keeps making progress for two more days).
pub(super) const TTL_GRACE_SECS: i64 = 2 * 86_400;

/// The TTL attribute of an import item and its ledger entries.
pub(super) fn ttl_of(import: &Import) -> i64 {
    import.expires_at.unix_timestamp() + TTL_GRACE_SECS
}

#[derive(Serialize, Deserialize)]
pub(super) struct ImportItem {
    pub(super) pk: String,
    pub(super) sk: String,
    /// Epoch seconds at which DynamoDB's TTL deletes the item (`ttl_of`).
    pub(super) ttl: i64,
    #[serde(flatten)]
    pub(super) import: Import,
    pub(super) progress: Progress,
    pub(super) requested_mappings: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) own_settings: Vec<String>,
    #[serde(default)]
    pub(super) source_etag: Option<String>,
    /// `events::key` → when it was published, for events marked before marks became ledger
    /// items of their own ([`EVENT_SK_PREFIX`](super::layout::EVENT_SK_PREFIX)). A map from the create on: its presence says the
    /// import records its events; absent on items stored before events were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) published: Option<BTreeMap<String, String>>,
    /// [`STATUS_INDEX`](super::STATUS_INDEX)'s key: kept with `status` by every write that changes it.
    #[serde(default)]
    pub(super) tenant_status: String,
    /// [`SWEEP_INDEX`](super::SWEEP_INDEX)'s keys.
    #[serde(default)]
    pub(super) sweep_shard: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sweep_at: Option<i64>,
    /// Read from the run's counter shards, not stored on the item.
    #[serde(skip)]
    pub(super) batch_counted_at: Option<i64>,
}

pub(super) fn instant(epoch: Option<i64>) -> Option<OffsetDateTime> {
    epoch.and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
}

impl From<ImportItem> for StoredImport {
    fn from(item: ImportItem) -> Self {
        StoredImport {
            import: item.import,
            progress: item.progress,
            requested_mappings: item.requested_mappings,
            own_settings: item.own_settings,
            source_etag: item.source_etag,
            published: item.published.map(|marks| marks.into_keys().collect()),
            sweep_at: instant(item.sweep_at),
            batch_counted_at: instant(item.batch_counted_at),
        }
    }
}

/// A record as stored. Its fields are one JSON document, not an attribute each: DynamoDB bills
/// an item's bytes either way, and a document is encoded and decoded in one piece, where a map
/// is an attribute value per field on each side (a record write cost the emulator twice as
/// much as a map). An item stored with its fields as a map is read too.
#[derive(Serialize, Deserialize)]
pub(super) struct RecordItem {
    pub(super) pk: String,
    pub(super) sk: String,
    identifier: String,
    #[serde(with = "document")]
    fields: Fields,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    last_import_id: String,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen_by: Option<String>,
}

impl RecordItem {
    pub(super) fn new(pk: String, record: &StoredRecord) -> Self {
        let record = record.clone();
        Self {
            pk,
            sk: record.identifier.clone(),
            identifier: record.identifier,
            fields: record.fields,
            created_at: record.created_at,
            updated_at: record.updated_at,
            last_import_id: record.last_import_id,
            version: record.version,
            seen_by: record.seen_by,
        }
    }

    pub(super) fn into_record(self) -> StoredRecord {
        StoredRecord {
            identifier: self.identifier,
            fields: self.fields,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_import_id: self.last_import_id,
            version: self.version,
            seen_by: self.seen_by,
        }
    }
}

/// A record's fields as a JSON document in a string attribute, or, read, a map as well.
mod document {
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use domain::record::Fields;

    pub fn serialize<S: Serializer>(fields: &Fields, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&serde_json::to_string(fields).map_err(S::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Document(String),
            Map(Fields),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Document(text) => serde_json::from_str(&text).map_err(D::Error::custom),
            Stored::Map(fields) => Ok(fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;
    use serde_json::json;

    use super::*;

    fn record() -> StoredRecord {
        let fields = json!({"email": "a@example.com", "tags": ["x", "y"], "custom": {"tier": "gold"}, "n": 1.5});
        StoredRecord {
            identifier: "a@example.com".into(),
            fields: fields.as_object().cloned().unwrap_or_default(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            last_import_id: "imp_1".into(),
            version: 3,
            seen_by: None,
        }
    }

    #[test]
    fn a_record_s_fields_are_stored_as_one_document_and_read_back() {
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(RecordItem::new("t#contact#00".into(), &record())).unwrap();
        let document = item["fields"].as_s().expect("a string attribute");
        assert_eq!(serde_json::from_str::<serde_json::Value>(document).unwrap()["custom"]["tier"], "gold");
        assert_eq!(item["sk"].as_s().unwrap(), "a@example.com");
        assert_eq!(serde_dynamo::from_item::<_, RecordItem>(item).unwrap().into_record(), record());
    }

    #[test]
    fn a_record_stored_with_its_fields_as_a_map_is_read() {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(RecordItem::new("t#contact#00".into(), &record())).unwrap();
        item.insert("fields".into(), serde_dynamo::to_attribute_value(&record().fields).unwrap());
        assert!(item["fields"].is_m());
        assert_eq!(serde_dynamo::from_item::<_, RecordItem>(item).unwrap().into_record(), record());
    }
}
