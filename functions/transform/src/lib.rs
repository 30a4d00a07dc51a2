//! SQS-driven transform step, with partial batch failures.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use service::Services;

pub async fn handler(svc: &Services, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let each = lambda_edge::sqs::each_message(svc, event.payload, |body| async move {
        service::pipeline::transform::run(svc, &body).await
    });
    Ok(service::deadline::within(event.context.deadline, each).await)
}
