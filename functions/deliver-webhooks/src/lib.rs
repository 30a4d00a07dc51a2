//! SQS-driven webhook deliveries, with partial batch failures: one attempt per
//! message, the next one queued by `service::webhooks::deliver`.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use service::Services;

pub async fn handler(svc: &Services, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(lambda_edge::sqs::each_message(svc, event.payload, |body| async move {
        service::webhooks::deliver(svc, &body).await
    })
    .await)
}
