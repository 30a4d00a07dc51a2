//! pull: an import whose file is a `source` (a URL, or an object of the tenant's bucket). The
//! service streams it into the import's upload, and the upload's event goes on as after a PUT:
//! prevalidation does not know where the file came from.

use tokio::io::AsyncReadExt;

use super::complete::fail;
use crate::services::Services;
use domain::bad_file::{BadFile, MAX_FILE_BYTES};
use domain::error::{Error, Result};
use domain::import::{upload_key, PullSource, Status};

/// Bytes read from the source between writes.
const BLOCK: usize = 1024 * 1024;

pub async fn run(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    let Some(stored) = svc.imports.get(tenant_id, import_id).await? else {
        tracing::warn!(tenant_id, import_id, "pull of an unknown import; dropped");
        return Ok(());
    };
    let Some(source) = stored.import.source.as_ref().filter(|_| stored.import.status == Status::AwaitingUpload) else {
        tracing::info!(tenant_id, import_id, "nothing to pull (pulled already, or final)");
        return Ok(());
    };
    let key = upload_key(tenant_id, import_id);
    // An earlier delivery pulled it; its object's event is on its way.
    if !svc.files.list(&key).await?.is_empty() {
        return Ok(());
    }
    let refused = |why: String| async move {
        tracing::info!(tenant_id, import_id, reason = %why, "source refused");
        fail(svc, tenant_id, import_id, 0, &[Status::AwaitingUpload], &why).await.map(|_| ())
    };
    // The service reads its own bucket as itself, and every tenant's uploads are there: no
    // import may name it as its source.
    if matches!(source, PullSource::S3(s3) if s3.bucket == svc.settings.uploads_bucket) {
        return refused("source.s3: the service's own bucket is not a source".into()).await;
    }
    let opened = match svc.sources.open(source).await? {
        Ok(opened) => opened,
        Err(why) => return refused(why).await,
    };
    if opened.size > MAX_FILE_BYTES {
        return refused(BadFile::TooLarge(opened.size).to_string()).await;
    }
    let mut stream = opened.stream;
    let mut writer = svc.files.create(&key).await?;
    let mut block = vec![0; BLOCK];
    let mut pulled = 0u64;
    loop {
        let n = stream.read(&mut block).await.map_err(|e| Error::aws("source", e))?;
        if n == 0 {
            break;
        }
        pulled += n as u64;
        // A source that sent no length is held to the limit as it streams.
        if pulled > MAX_FILE_BYTES {
            return refused(BadFile::TooLarge(pulled).to_string()).await;
        }
        writer.write(&block[..n]).await?;
    }
    writer.finish().await?;
    tracing::info!(tenant_id, import_id, bytes = pulled, "source pulled");
    Ok(())
}
