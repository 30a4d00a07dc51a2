//! In-memory adapters of every port (`service::ports`), for unit tests of the pipeline steps that
//! run in milliseconds without the emulator, and for the bench. They keep the conditions the
//! AWS adapters write under (see `store`), and take injected failures (`faults`).

pub mod documents;
mod faults;
mod files;
mod imports;
mod queue;
mod records;
mod secrets;
mod sources;
mod store;

use std::sync::Arc;

use domain::import::{upload_key, Import};
use domain::record::StoredRecord;
use domain::Result;
use service::config::Settings;
use service::outbound::Webhooks;
use service::pipeline::{prevalidate, process, transform};
use service::ports::Queue;
use service::Services;
use time::OffsetDateTime;

pub use documents::MemoryDocuments;
pub use faults::Faults;
pub use files::MemoryFiles;
pub use queue::{MemoryQueue, Sent, MAX_MESSAGE_BYTES};
pub use secrets::MemorySecrets;
pub use sources::MemorySources;
pub use store::MemoryStore;

/// The tenant of [`Kit::upload`].
pub const TENANT: &str = "tenant-1";

/// The Lambdas' settings with every required name made up; `vars` add or override any.
pub fn settings(vars: &[(&str, &str)]) -> Result<Settings> {
    Settings::from_lookup(|name| {
        vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()).or_else(|| match name {
            "IMPORTS_TABLE" | "RECORDS_TABLE" | "UPLOADS_BUCKET" => Some("memory".into()),
            "TRANSFORM_QUEUE_URL" | "PROCESS_QUEUE_URL" | "EVENTS_QUEUE_URL" | "WEBHOOKS_QUEUE_URL" => {
                Some("memory".into())
            }
            // Deliveries here end when their step returns.
            "TYPE_HOLD_GRACE_SECONDS" => Some("1".into()),
            _ => None,
        })
    })
}

/// A contacts CSV of `rows` rows (`Person{i}@Example.com`, ...); the rows numbered in `invalid`
/// (1-based) get a bad email. Its notes hold a line break inside quotes.
pub fn contacts_csv(rows: usize, invalid: &[usize]) -> Vec<u8> {
    let mut out = String::from("Email Address,First Name,Last Name,Company,Notes\r\n");
    for i in 1..=rows {
        let email =
            if invalid.contains(&i) { format!("broken-{i}-at-example") } else { format!("Person{i}@Example.com") };
        out.push_str(&format!("{email},First{i},Last{i},\"Company {}, Inc.\",\"line one\nline two\"\r\n", i % 7));
    }
    out.into_bytes()
}

/// A contact stored before the test's import, as an earlier import left it (version 1):
/// `email` and the `fields` besides it (a JSON object).
pub fn contact(email: &str, fields: serde_json::Value, updated_at: OffsetDateTime) -> StoredRecord {
    let mut all = fields.as_object().cloned().unwrap_or_default();
    all.insert("email".into(), email.into());
    StoredRecord {
        identifier: email.to_lowercase(),
        fields: all,
        created_at: updated_at,
        updated_at,
        last_import_id: "imp_earlier".into(),
        version: 1,
        seen_by: None,
    }
}

/// Services over fresh in-memory adapters with default settings.
pub fn services() -> Services {
    Kit::new().svc
}

/// The adapters, and the services over them, with what a test needs to drive the steps.
pub struct Kit {
    pub store: Arc<MemoryStore>,
    pub files: MemoryFiles,
    pub queue: Arc<MemoryQueue>,
    pub secrets: Arc<MemorySecrets>,
    pub documents: Arc<MemoryDocuments>,
    pub sources: MemorySources,
    pub svc: Services,
}

impl Default for Kit {
    fn default() -> Self {
        Self::new()
    }
}

impl Kit {
    pub fn new() -> Self {
        Self::with_settings(&[])
    }

    /// With settings other than the defaults (`CHUNK_ROWS`, ...).
    pub fn with_settings(vars: &[(&str, &str)]) -> Self {
        let settings = settings(vars).expect("test settings are valid");
        let store = Arc::new(MemoryStore::new());
        let files = MemoryFiles::default();
        let queue = Arc::new(MemoryQueue::default());
        let secrets = Arc::new(MemorySecrets::default());
        let documents = Arc::new(MemoryDocuments::default());
        let sources = MemorySources::default();
        let svc = Services {
            imports: store.clone(),
            records: store.clone(),
            files: Arc::new(files.clone()),
            uploads: Arc::new(files.clone()),
            sources: Arc::new(sources.clone()),
            queue: queue.clone(),
            webhooks: Webhooks::new(&settings).expect("webhooks from test settings"),
            webhook_secrets: secrets.clone(),
            documents: documents.clone(),
            schemas: Default::default(),
            settings,
            finishes: Default::default(),
        };
        Kit { store, files, queue, secrets, documents, sources, svc }
    }

    /// Creates an import of [`TENANT`] as the API does from a create request's `body`, and puts
    /// `file` as its upload; returns it and its upload's key (what prevalidation is called with).
    pub async fn upload(&self, body: &str, file: &[u8]) -> Result<(Import, String)> {
        let import = service::api::create_import(&self.svc, TENANT, body.as_bytes(), None).await?;
        let key = upload_key(TENANT, &import.id);
        self.svc.files.put(&key, file.to_vec()).await?;
        Ok((import, key))
    }

    /// Runs a work message as its queue's function does.
    pub async fn deliver(&self, queue: Queue, body: &str) -> Result<()> {
        match queue {
            Queue::Transform => transform::run(&self.svc, body).await,
            Queue::Process => process::run(&self.svc, body).await,
            // Nothing in the pipeline consumes them.
            Queue::Events | Queue::Webhooks => Ok(()),
        }
    }

    /// Delivers the first waiting work message (transform or process); None when none waits. A
    /// message whose step fails is put back first in line, as SQS delivers it again.
    pub async fn deliver_next(&self) -> Option<Result<()>> {
        let message = self.queue.pop(&[Queue::Transform, Queue::Process])?;
        let result = self.deliver(message.queue, &message.body).await;
        if result.is_err() {
            self.queue.requeue(message);
        }
        Some(result)
    }

    /// Delivers work messages until none waits; how many ran. Stops at the first failure (its
    /// message waits again).
    pub async fn drain(&self) -> Result<usize> {
        let mut delivered = 0;
        while let Some(result) = self.deliver_next().await {
            result?;
            delivered += 1;
        }
        Ok(delivered)
    }

    /// Prevalidates an upload, then runs every message it leads to.
    pub async fn run_import(&self, key: &str) -> Result<usize> {
        prevalidate::run(&self.svc, key).await?;
        self.drain().await
    }

    /// The `type`s of the lifecycle events published for an import, in order.
    pub fn events(&self, import_id: &str) -> Vec<String> {
        let parsed = self.queue.sent(Queue::Events).into_iter().filter_map(|body| {
            let event: serde_json::Value = serde_json::from_str(&body).ok()?;
            (event["import_id"] == import_id).then(|| event["type"].as_str().unwrap_or_default().to_string())
        });
        parsed.collect()
    }

    /// The import as the API reads it.
    pub async fn import(&self, import_id: &str) -> Import {
        self.svc.imports.get(TENANT, import_id).await.expect("memory reads").expect("the import exists").import
    }
}
