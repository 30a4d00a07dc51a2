//! The stores a step runs over, built once per process.

use std::sync::Arc;

use crate::config::Settings;
use crate::outbound::Webhooks;
use crate::pipeline::complete::SentFinishes;
use crate::ports::{FileStore, ImportStore, RecordStore, WebhookSecrets, WorkQueue};

#[derive(Clone)]
pub struct Services {
    pub imports: Arc<dyn ImportStore>,
    pub records: Arc<dyn RecordStore>,
    pub files: Arc<dyn FileStore>,
    pub queue: Arc<dyn WorkQueue>,
    pub webhooks: Webhooks,
    pub webhook_secrets: Arc<dyn WebhookSecrets>,
    pub settings: Settings,
    /// The finish messages this instance sent (`pipeline::complete`).
    pub finishes: Arc<SentFinishes>,
}
