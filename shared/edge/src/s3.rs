//! S3 ObjectCreated events.

use aws_lambda_events::s3::S3Event;

use domain::error::Result;
use domain::import::decode_key;
use service::pipeline::prevalidate;
use service::services::Services;

/// Runs prevalidation for every created object of the event; the first error fails the
/// invocation so Lambda retries it (prevalidation is idempotent).
pub async fn handle(svc: &Services, event: S3Event) -> Result<()> {
    for record in event.records {
        let bucket = record.s3.bucket.name.as_deref().unwrap_or_default();
        if bucket != svc.settings.uploads_bucket {
            tracing::warn!(bucket, "event from another bucket; ignored");
            continue;
        }
        if let Some(key) = record.s3.object.key.as_deref() {
            prevalidate::run(svc, &decode_key(key)).await?;
        }
    }
    Ok(())
}
