//! The stores a step runs over, built once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::record::ResourceType;
use domain::schema::Schema;

use crate::config::Settings;
use crate::outbound::Webhooks;
use crate::ports::{
    Documents, FileStore, ImportStore, MultipartUploads, RecordStore, Sources, WebhookSecrets, WorkQueue,
};

#[derive(Clone)]
pub struct Services {
    pub imports: Arc<dyn ImportStore>,
    pub records: Arc<dyn RecordStore>,
    pub files: Arc<dyn FileStore>,
    pub uploads: Arc<dyn MultipartUploads>,
    pub sources: Arc<dyn Sources>,
    pub queue: Arc<dyn WorkQueue>,
    pub webhooks: Webhooks,
    pub webhook_secrets: Arc<dyn WebhookSecrets>,
    /// Templates and tenant schemas.
    pub documents: Arc<dyn Documents>,
    /// The tenant schemas this instance read.
    pub schemas: Arc<SchemaCache>,
    pub settings: Settings,
    /// The finish messages this instance sent (`pipeline::complete`).
    pub finishes: Arc<SentFinishes>,
}

/// The finish messages this instance has put on the queue, by import, run and phase (an
/// overwrite's merge and its cleanup each end once): a later step of the same instance that
/// sees the same run done sends none. Claimed before the send, so the messages of a batch that
/// learn it together send one (each finish assembles the files); a failed send gives its claim
/// back, and the redelivery of its message tries again.
#[derive(Default)]
pub struct SentFinishes(std::sync::Mutex<std::collections::HashSet<FinishKey>>);

/// An import's tenant and id, its run, and whether its removal is done.
pub type FinishKey = (String, String, u32, bool);

/// Finishes remembered; past this the memo starts again (a second message is harmless).
const REMEMBERED_FINISHES: usize = 4096;

impl SentFinishes {
    /// True when this caller is the one to send the finish of `key`.
    pub(crate) fn claim(&self, key: &FinishKey) -> bool {
        let mut sent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if sent.contains(key) {
            return false;
        }
        if sent.len() >= REMEMBERED_FINISHES {
            sent.clear();
        }
        sent.insert(key.clone())
    }

    /// The claim of a send that failed.
    pub(crate) fn give_back(&self, key: &FinishKey) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// A tenant's schema at a version.
pub(crate) type SchemaKey = (String, ResourceType, u32);

/// The schemas this instance read: a version never changes, so a warm function reads and
/// compiles each (up to 500 patterns) once, not once per chunk.
#[derive(Default)]
pub struct SchemaCache(Mutex<HashMap<SchemaKey, Arc<Schema>>>);

/// Schemas remembered; past this the memo starts again.
const REMEMBERED_SCHEMAS: usize = 64;

impl SchemaCache {
    pub(crate) fn get(&self, key: &SchemaKey) -> Option<Arc<Schema>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    pub(crate) fn keep(&self, key: SchemaKey, schema: Schema) -> Arc<Schema> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= REMEMBERED_SCHEMAS {
            kept.clear();
        }
        kept.entry(key).or_insert_with(|| Arc::new(schema)).clone()
    }
}
