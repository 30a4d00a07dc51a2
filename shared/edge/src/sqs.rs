//! SQS batches with partial failures: each message is decoded and handled alone, all of a
//! batch's messages at once (their writes are in flight together), and only the failed ones go
//! back to the queue.

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;

use domain::error::{Error, Result};
use service::pipeline::dead_letters::{self, DeadLetter};
use service::services::Services;

tokio::task_local! {
    /// The id of the message being handled, for what the calls made for it want to say of it
    /// (the local host tags its AWS calls with it, to count each message's writes).
    pub static MESSAGE_ID: String;
}

/// A work queue's batch. A message that fails records the kind of its error for the
/// dead-letter consumer to name, should this delivery be its last (nothing is written for one
/// that succeeds).
pub async fn each_message<F, Fut>(svc: &Services, event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let handle = &handle;
    each_record(event, |message| async move {
        let result = match message.body {
            Some(body) => handle(body).await,
            None => Err(Error::BadMessage("message without a body".into())),
        };
        if let (Err(err), Some(id)) = (&result, message.message_id.as_deref()) {
            if let Err(e) = dead_letters::record_error(svc.files.as_ref(), id, err).await {
                tracing::warn!(message_id = id, error = %e, "the kind of a failure could not be recorded");
            }
        }
        result
    })
    .await
}

/// A dead-letter queue's batch: each letter is kept and judged (`pipeline::dead_letters`), named
/// by the queue its ARN names.
pub async fn dead_letters(svc: &Services, event: SqsEvent) -> SqsBatchResponse {
    each_record(event, |message| async move {
        let arn = message.event_source_arn.as_deref().unwrap_or_default();
        let letter = DeadLetter {
            queue: arn.rsplit(':').next().unwrap_or_default(),
            message_id: message.message_id.as_deref().unwrap_or_default(),
            body: message.body.as_deref().unwrap_or_default(),
        };
        dead_letters::handle(svc, letter).await
    })
    .await
}

/// Each message of the batch, whole, handled at once; the ids of those that failed go back.
async fn each_record<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let handle = &handle;
    let failed = join_all(event.records.into_iter().map(|message| async move {
        let id = message.message_id.clone().unwrap_or_default();
        let err = MESSAGE_ID.scope(id.clone(), handle(message)).await.err()?;
        tracing::error!(message_id = id.as_str(), error = %err, "message failed; it goes back to the queue");
        Some(id)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for id in failed.into_iter().flatten() {
        response.add_failure(id);
    }
    response
}
