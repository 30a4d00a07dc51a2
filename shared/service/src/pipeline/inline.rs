//! `mode: sync` (docs/api.md, Create an import): a small inline import runs every step within its create request.
//! The steps are the same functions the queues drive; their messages go to an in-memory queue
//! this loop drains, so a sync import counts and writes exactly as an async one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::ports::{Queue, WorkQueue};
use crate::services::Services;
use domain::error::{Error, Result};

use super::{prevalidate, process, transform};

/// The steps' work, held here; events and their webhooks go out at once, as from any import
/// (they are recorded as published when sent, so holding them could lose them).
struct InlineQueue {
    messages: Mutex<VecDeque<(Queue, String)>>,
    events: Arc<dyn WorkQueue>,
}

impl InlineQueue {
    fn pop(&self) -> Option<(Queue, String)> {
        self.messages.lock().ok()?.pop_front()
    }
}

#[async_trait]
impl WorkQueue for InlineQueue {
    async fn send(&self, queue: Queue, tenant_id: &str, bodies: Vec<String>) -> Result<()> {
        if matches!(queue, Queue::Events | Queue::Webhooks) {
            return self.events.send(queue, tenant_id, bodies).await;
        }
        // One import's work, so one tenant's: no groups to serve in turn.
        let mut messages = self.messages.lock().map_err(|_| Error::Internal("inline queue poisoned".into()))?;
        messages.extend(bodies.into_iter().map(|b| (queue, b)));
        Ok(())
    }

    async fn send_after(&self, queue: Queue, tenant_id: &str, body: String, delay_secs: u32) -> Result<()> {
        self.events.send_after(queue, tenant_id, body, delay_secs).await
    }
}

/// Runs the import to its end; the inputs are already stored as its upload.
pub async fn run(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    let queue = Arc::new(InlineQueue { messages: Mutex::default(), events: svc.queue.clone() });
    let inline = Services { queue: queue.clone(), ..svc.clone() };
    let stored = inline.imports.get(tenant_id, import_id).await?.ok_or(Error::NotFound)?;
    prevalidate::plan(&inline, stored).await?;
    while let Some((step, body)) = queue.pop() {
        match step {
            Queue::Transform => transform::run(&inline, &body).await?,
            Queue::Process => process::run(&inline, &body).await?,
            // `send` passed them on already.
            Queue::Events | Queue::Webhooks => {}
        }
    }
    Ok(())
}
