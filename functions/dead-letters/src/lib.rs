//! SQS-driven dead letters of every queue (and prevalidate's failure destination), with partial
//! batch failures: each is kept in the bucket and ends the import it names.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use service::Services;

pub async fn handler(svc: &Services, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(lambda_edge::sqs::dead_letters(svc, event.payload).await)
}
