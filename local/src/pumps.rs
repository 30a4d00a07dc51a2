//! Stands in for Lambda's event source mappings: drains the queues and hands each batch to the
//! same handler function the Lambda binary runs, deleting only what the handler did not fail.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use shared::Services;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Prevalidate,
    Transform,
    Process,
    Webhooks,
}

/// A received message stays hidden while its handler runs, however slow the emulator is (a
/// Lambda's queue hides it for six times the function's timeout); one the handler failed comes
/// back after `RETRY_SECS`, the queue's own visibility timeout.
const HANDLING_SECS: i32 = 120;
pub const RETRY_SECS: i32 = 5;

/// Drains one queue forever; run as a task and abort it to stop.
pub async fn run(
    sqs: aws_sdk_sqs::Client,
    services: Arc<Services>,
    queue_url: String,
    target: Target,
    deliver_twice: bool,
) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(HANDLING_SECS)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut done: Vec<&Message> = Vec::new();
        match target {
            Target::Prevalidate => {
                for m in &messages {
                    if deliver(&services, m).await {
                        done.push(m);
                    }
                }
            }
            Target::Transform | Target::Process | Target::Webhooks => {
                let mut failed = invoke_sqs(&services, target, &messages).await;
                // A webhook is delivered at least once as it is: twice would start a second
                // chain of attempts.
                if deliver_twice && target != Target::Webhooks {
                    // At-least-once: the same batch again, as SQS may redeliver it.
                    failed.extend(invoke_sqs(&services, target, &messages).await);
                }
                done.extend(messages.iter().filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id())));
            }
        }
        let failed: Vec<&Message> =
            messages.iter().filter(|m| !done.iter().any(|d| d.message_id() == m.message_id())).collect();
        delete(&sqs, &queue_url, &done).await;
        retry_soon(&sqs, &queue_url, &failed).await;
    }
}

/// One S3 notification, as the S3 trigger would invoke prevalidate with it.
async fn deliver(services: &Services, message: &Message) -> bool {
    let Some(event) = s3_event(message.body().unwrap_or_default()) else {
        tracing::info!("not an S3 event (the emulator's s3:TestEvent); dropped");
        return true;
    };
    match prevalidate::handler(services, LambdaEvent::new(event, Context::default())).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "prevalidate failed; the event will be retried");
            false
        }
    }
}

/// The notification as Lambda's S3 trigger delivers it. The emulator leaves out fields AWS
/// always sends (`userIdentity`, `requestParameters`, `responseElements`): fill them in.
fn s3_event(body: &str) -> Option<S3Event> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    for record in value.get_mut("Records")?.as_array_mut()? {
        let record = record.as_object_mut()?;
        record.entry("userIdentity").or_insert_with(|| json!({ "principalId": "local" }));
        record.entry("requestParameters").or_insert_with(|| json!({ "sourceIPAddress": "127.0.0.1" }));
        record.entry("responseElements").or_insert_with(|| json!({}));
    }
    serde_json::from_value(value).ok()
}

/// Returns the ids of the messages the handler reported failed (all of them if it errored).
async fn invoke_sqs(services: &Services, target: Target, messages: &[Message]) -> Vec<String> {
    let records: Vec<_> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "md5OfBody": m.md5_of_body(),
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    let event: SqsEvent = match serde_json::from_value(json!({ "Records": records })) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "could not build an SQS event");
            return messages.iter().filter_map(|m| m.message_id().map(str::to_string)).collect();
        }
    };
    let lambda_event = LambdaEvent::new(event, Context::default());
    let result: Result<SqsBatchResponse, _> = match target {
        Target::Transform => transform::handler(services, lambda_event).await,
        Target::Webhooks => deliver_webhooks::handler(services, lambda_event).await,
        _ => process::handler(services, lambda_event).await,
    };
    match result {
        Ok(response) => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
        Err(e) => {
            tracing::error!(error = %e, "handler failed the whole batch");
            messages.iter().filter_map(|m| m.message_id().map(str::to_string)).collect()
        }
    }
}

async fn retry_soon(sqs: &aws_sdk_sqs::Client, queue_url: &str, failed: &[&Message]) {
    if failed.is_empty() {
        return;
    }
    let entries: Vec<_> = failed
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle()?)
                .visibility_timeout(RETRY_SECS)
                .build()
                .ok()
        })
        .collect();
    let sent = sqs.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send().await;
    if let Err(e) = sent {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "failed messages come back later");
    }
}

async fn delete(sqs: &aws_sdk_sqs::Client, queue_url: &str, done: &[&Message]) {
    if done.is_empty() {
        return;
    }
    let entries: Vec<_> = done
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(m.receipt_handle()?).build().ok()
        })
        .collect();
    if let Err(e) = sqs.delete_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "delete failed; messages will be redelivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_notifications_become_lambda_events() {
        let body = r#"{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-23T08:52:09.448Z", "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "configurationId": "x", "bucket": {"name": "b", "arn": "arn:aws:s3:::b"}, "object": {"key": "uploads%2Fx%2Fy+z%2B%2Fsource", "size": 1, "eTag": "0c"}}}]}"#;
        let event = s3_event(body).expect("parses");
        assert_eq!(event.records[0].s3.object.key.as_deref(), Some("uploads%2Fx%2Fy+z%2B%2Fsource"));
        assert!(s3_event(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).is_none());
    }
}
