//! The work queues.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use domain::error::{Error, Result};
use service::config::Settings;
use service::ports::{Queue, WorkQueue};

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    transform_url: String,
    process_url: String,
    events_url: String,
    webhooks_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, settings: &Settings) -> Self {
        Self {
            client,
            transform_url: settings.transform_queue_url.clone(),
            process_url: settings.process_queue_url.clone(),
            events_url: settings.events_queue_url.clone(),
            webhooks_url: settings.webhooks_queue_url.clone(),
        }
    }

    fn url(&self, queue: Queue) -> &str {
        match queue {
            Queue::Transform => &self.transform_url,
            Queue::Process => &self.process_url,
            Queue::Events => &self.events_url,
            Queue::Webhooks => &self.webhooks_url,
        }
    }
}

/// SendMessageBatch takes ten messages and 1 MiB in all.
const MAX_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 1_000_000;

fn sqs_err(e: impl std::error::Error) -> Error {
    Error::aws("sqs", aws_sdk_sqs::error::DisplayErrorContext(e))
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn send(&self, queue: Queue, tenant_id: &str, bodies: Vec<String>) -> Result<()> {
        let url = self.url(queue);
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut bytes = 0;
        for body in bodies {
            let fits = groups.last().is_some_and(|g| g.len() < MAX_ENTRIES && bytes + body.len() <= MAX_BATCH_BYTES);
            if !fits {
                groups.push(Vec::new());
                bytes = 0;
            }
            bytes += body.len();
            groups.last_mut().expect("a group was just pushed").push(body);
        }
        for group in groups {
            let entries = group
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        // Tenant ids are at most 64 of `[A-Za-z0-9._-]`, a valid group id as they are.
                        .message_group_id(tenant_id)
                        .build()
                        .map_err(|e| Error::Internal(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_err)?;
            // Entries can fail alone; resending the group is safe since every consumer is idempotent.
            if let Some(failed) = out.failed().first() {
                return Err(Error::aws("sqs", format!("message {} not sent: {}", failed.id(), failed.code())));
            }
        }
        Ok(())
    }

    async fn send_after(&self, queue: Queue, tenant_id: &str, body: String, delay_secs: u32) -> Result<()> {
        let delay = delay_secs.min(900) as i32;
        self.client
            .send_message()
            .queue_url(self.url(queue))
            .message_body(body)
            .message_group_id(tenant_id)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(sqs_err)?;
        Ok(())
    }
}
