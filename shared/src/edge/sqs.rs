//! SQS batches with partial failures: each message is decoded and handled alone, and only the
//! failed ones go back to the queue.

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use crate::error::Result;

pub async fn each_message<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let Some(body) = message.body else {
            tracing::error!(message_id = id.as_str(), "message without a body");
            response.add_failure(id);
            continue;
        };
        if let Err(err) = handle(body).await {
            tracing::error!(message_id = id.as_str(), error = %err, "message failed; it goes back to the queue");
            response.add_failure(id);
        }
    }
    response
}
