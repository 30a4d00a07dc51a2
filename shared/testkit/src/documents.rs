//! `Documents` in memory: every version of each tenant's documents, written under the conditions
//! the DynamoDB store writes under, and refused when it would refuse them for their size.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use domain::Result;
use service::ports::{DocumentKind, Documents, Page, Versioned};

use crate::faults::Faults;

/// A document's slot: its kind, tenant and id.
type Slot = (u8, String, String);

#[derive(Default)]
pub struct MemoryDocuments {
    /// Each document's versions, oldest first.
    versions: Mutex<BTreeMap<Slot, Vec<Versioned>>>,
    pub faults: Faults,
}

fn slot(kind: DocumentKind, tenant_id: &str, id: &str) -> Slot {
    (kind as u8, tenant_id.to_string(), id.to_string())
}

impl MemoryDocuments {
    fn versions(&self) -> MutexGuard<'_, BTreeMap<Slot, Vec<Versioned>>> {
        self.versions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Documents for MemoryDocuments {
    async fn put_version(&self, kind: DocumentKind, tenant_id: &str, doc: &Versioned) -> Result<bool> {
        self.faults.before("put_version")?;
        aws_adapters::check_document(kind, tenant_id, doc)?;
        let mut all = self.versions();
        let slot = slot(kind, tenant_id, &doc.id);
        if doc.version as usize != all.get(&slot).map_or(0, Vec::len) + 1 {
            return Ok(false);
        }
        all.entry(slot).or_default().push(doc.clone());
        Ok(true)
    }

    async fn get(
        &self,
        kind: DocumentKind,
        tenant_id: &str,
        id: &str,
        version: Option<u32>,
    ) -> Result<Option<Versioned>> {
        self.faults.before("get")?;
        let all = self.versions();
        let Some(versions) = all.get(&slot(kind, tenant_id, id)) else { return Ok(None) };
        let found = match version {
            None => versions.last(),
            Some(v) => v.checked_sub(1).and_then(|i| versions.get(i as usize)),
        };
        Ok(found.cloned())
    }

    async fn list(
        &self,
        kind: DocumentKind,
        tenant_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Versioned>> {
        self.faults.before("list")?;
        let all = self.versions();
        // The cursor is the last id listed.
        let mut latest = all
            .iter()
            .filter(|((k, t, id), _)| *k == kind as u8 && t == tenant_id && cursor.is_none_or(|c| id.as_str() > c))
            .filter_map(|(_, versions)| versions.last().cloned());
        let items: Vec<Versioned> = latest.by_ref().take(limit).collect();
        let more = latest.next().is_some();
        let next_cursor = items.last().filter(|_| more).map(|last| last.id.clone());
        Ok(Page { items, next_cursor })
    }

    async fn delete(&self, kind: DocumentKind, tenant_id: &str, id: &str) -> Result<bool> {
        self.faults.before("delete")?;
        Ok(self.versions().remove(&slot(kind, tenant_id, id)).is_some())
    }
}

/// What every `Documents` adapter does, checked the same way over each: the in-memory one in the
/// step tests, DynamoDB's over the wire in the integration tests.
pub mod contract {
    use domain::Error;
    use serde_json::{json, Value};
    use service::ports::{DocumentKind, Documents, Versioned};
    use time::macros::datetime;
    use time::Duration;

    const KIND: DocumentKind = DocumentKind::Template;

    fn version(id: &str, version: u32, body: Value) -> Versioned {
        let created_at = datetime!(2024-05-01 10:00 UTC);
        Versioned { id: id.into(), version, body, created_at, updated_at: created_at + Duration::days(version.into()) }
    }

    /// Version 1 only while the id is free, each later one only after the one before; every
    /// version readable until the document is deleted, with all its versions.
    pub async fn versions(docs: &dyn Documents) {
        let (v1, v2) = (version("tpl_a", 1, json!({"name": "first"})), version("tpl_a", 2, json!({"name": "second"})));
        assert!(docs.put_version(KIND, "t1", &v1).await.unwrap());
        assert!(!docs.put_version(KIND, "t1", &v1).await.unwrap(), "version 1 of an id taken");
        assert!(!docs.put_version(KIND, "t1", &version("tpl_a", 3, json!({}))).await.unwrap(), "a version skipped");
        assert!(!docs.put_version(KIND, "t1", &version("tpl_a", 0, json!({}))).await.unwrap(), "no version 0");
        assert!(docs.put_version(KIND, "t1", &v2).await.unwrap());
        assert!(!docs.put_version(KIND, "t1", &version("tpl_a", 2, json!({"name": "stale"}))).await.unwrap());

        assert_eq!(docs.get(KIND, "t1", "tpl_a", None).await.unwrap(), Some(v2));
        assert_eq!(docs.get(KIND, "t1", "tpl_a", Some(1)).await.unwrap(), Some(v1));
        assert_eq!(docs.get(KIND, "t1", "tpl_a", Some(3)).await.unwrap(), None);
        assert_eq!(docs.get(KIND, "t1", "tpl_b", None).await.unwrap(), None);
        assert_eq!(docs.get(DocumentKind::Schema, "t1", "tpl_a", None).await.unwrap(), None, "another kind");
        assert_eq!(docs.get(KIND, "t2", "tpl_a", None).await.unwrap(), None, "another tenant");

        assert!(!docs.delete(KIND, "t2", "tpl_a").await.unwrap(), "another tenant's");
        assert!(docs.delete(KIND, "t1", "tpl_a").await.unwrap());
        for asked in [None, Some(1), Some(2)] {
            assert_eq!(docs.get(KIND, "t1", "tpl_a", asked).await.unwrap(), None, "{asked:?}");
        }
        assert!(!docs.delete(KIND, "t1", "tpl_a").await.unwrap(), "gone");
        assert!(docs.put_version(KIND, "t1", &version("tpl_a", 1, json!({}))).await.unwrap(), "free again");
    }

    /// The latest version of each of one tenant's documents of one kind, in id order, page by page.
    pub async fn listing(docs: &dyn Documents) {
        for id in ["tpl_c", "tpl_a", "tpl_e", "tpl_b", "tpl_d"] {
            assert!(docs.put_version(KIND, "t1", &version(id, 1, json!({"n": 1}))).await.unwrap());
        }
        assert!(docs.put_version(KIND, "t1", &version("tpl_b", 2, json!({"n": 2}))).await.unwrap());
        assert!(docs.put_version(DocumentKind::Schema, "t1", &version("contact", 1, json!({}))).await.unwrap());

        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let page = docs.list(KIND, "t1", 2, cursor.as_deref()).await.unwrap();
            assert!(page.items.len() <= 2);
            seen.extend(page.items.into_iter().map(|d| (d.id, d.version)));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let expected = [("tpl_a", 1), ("tpl_b", 2), ("tpl_c", 1), ("tpl_d", 1), ("tpl_e", 1)];
        assert_eq!(seen, expected.map(|(id, v)| (id.to_string(), v)));
        let whole = docs.list(KIND, "t1", 5, None).await.unwrap();
        assert_eq!((whole.items.len(), whole.next_cursor), (5, None), "a full last page says it is the last");

        assert!(docs.list(KIND, "t2", 20, None).await.unwrap().items.is_empty(), "another tenant sees none");
        let schemas = docs.list(DocumentKind::Schema, "t1", 20, None).await.unwrap();
        assert_eq!(schemas.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["contact"]);
    }

    /// A version DynamoDB would refuse as an item over 400 KB is refused (400, `body`), and
    /// nothing is stored; one under it is stored (under the emulator's own limit too: 405,000
    /// bytes, where DynamoDB's is 409,600).
    pub async fn size_limit(docs: &dyn Documents) {
        let big = version("tpl_big", 1, json!({"notes": "x".repeat(400 * 1024)}));
        match docs.put_version(KIND, "t1", &big).await {
            Err(Error::Invalid(errors)) => assert_eq!(errors[0].field, "body"),
            other => panic!("over 400 KB: {other:?}"),
        }
        assert_eq!(docs.get(KIND, "t1", "tpl_big", None).await.unwrap(), None);
        let fits = version("tpl_big", 1, json!({"notes": "x".repeat(395_000)}));
        assert!(docs.put_version(KIND, "t1", &fits).await.unwrap());
        assert_eq!(docs.get(KIND, "t1", "tpl_big", Some(1)).await.unwrap(), Some(fits));
    }
}
