//! S3 ObjectCreated on the uploads bucket: prevalidates the upload.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{Error, LambdaEvent};
use service::Services;

pub async fn handler(svc: &Services, event: LambdaEvent<S3Event>) -> Result<(), Error> {
    let ends = event.context.deadline;
    Ok(service::deadline::within(ends, lambda_edge::s3::handle(svc, event.payload)).await?)
}
