//! SQS batches with partial failures: each message is decoded and handled alone, all of a
//! batch's messages at once (their writes are in flight together), and only the failed ones go
//! back to the queue.

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::join_all;

use crate::error::Result;

tokio::task_local! {
    /// The id of the message being handled, for what the calls made for it want to say of it
    /// (the local host tags its AWS calls with it, to count each message's writes).
    pub static MESSAGE_ID: String;
}

pub async fn each_message<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let handle = &handle;
    let failed = join_all(event.records.into_iter().map(|message| async move {
        let id = message.message_id.unwrap_or_default();
        let Some(body) = message.body else {
            tracing::error!(message_id = id.as_str(), "message without a body");
            return Some(id);
        };
        let err = MESSAGE_ID.scope(id.clone(), handle(body)).await.err()?;
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
