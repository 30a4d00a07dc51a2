//! prevalidate: the upload arrived. Stream it once, check it can be read, map its header, count
//! and deduplicate its rows, plan the chunks and send one transform message per chunk.

use tokio_util::io::SyncIoBridge;

use crate::chunking::{self, ScanError, ScanRules};
use crate::error::{Error, Result};
use crate::import::{parse_upload_key, Status};
use crate::messages::{encode, TransformMessage};
use crate::ports::{Plan, Queue, StoredImport};
use crate::services::Services;

use super::complete::complete_if_done;

/// Handles one created object, by its decoded key.
pub async fn run(svc: &Services, key: &str) -> Result<()> {
    let Some((tenant_id, import_id)) = parse_upload_key(key) else {
        tracing::warn!(key, "object is not an import upload; ignored");
        return Ok(());
    };
    let Some(StoredImport { import, progress, requested_mappings, .. }) = svc.imports.get(tenant_id, import_id).await?
    else {
        tracing::warn!(tenant_id, import_id, "upload for an unknown import; ignored");
        return Ok(());
    };
    if import.status != Status::AwaitingUpload || progress.dispatched {
        tracing::info!(tenant_id, import_id, status = import.status.as_str(), "upload already handled");
        // A delivery that dispatched may have died before completing an import with no work.
        complete_if_done(svc, tenant_id, import_id).await?;
        return Ok(());
    }

    let opened = svc.files.open(key, None, None).await?;
    let (size, etag) = (opened.size, opened.etag);
    let bridge = SyncIoBridge::new(opened.stream);
    let identifier_field = import.identifier_field.clone();
    let resource = import.resource_type;
    let (options, duplicates) = (import.options.clone(), import.duplicates);
    let chunk_rows = svc.settings.chunk_rows;
    let scan = tokio::task::spawn_blocking(move || {
        let rules = ScanRules {
            resource,
            identifier_field: &identifier_field,
            explicit: &requested_mappings,
            options: &options,
            duplicates,
            chunk_rows,
        };
        chunking::scan(bridge, size, &rules)
    })
    .await
    .map_err(|e| Error::Internal(format!("scan task: {e}")))?;

    let scan = match scan {
        Ok(scan) => scan,
        Err(ScanError::Read(e)) => return Err(Error::aws("s3", e)),
        Err(ScanError::Bad(bad)) => {
            tracing::info!(tenant_id, import_id, reason = %bad, "file cannot be imported");
            svc.imports.fail(tenant_id, import_id, &[Status::AwaitingUpload], &bad.to_string()).await?;
            return Ok(());
        }
    };
    let plan = Plan {
        source_etag: etag.clone(),
        mappings: scan.columns.resolved(&scan.headers),
        file_headers: scan.headers,
        unmapped_headers: scan.columns.unmapped,
        file: scan.file,
        chunks_total: scan.chunks.len() as u64,
    };
    if !svc.imports.save_plan(tenant_id, import_id, &plan).await? {
        return Ok(());
    }
    let bodies = scan
        .chunks
        .into_iter()
        .map(|chunk| {
            encode(&TransformMessage {
                tenant_id: tenant_id.into(),
                import_id: import_id.into(),
                etag: etag.clone(),
                chunk,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    svc.queue.send(Queue::Transform, bodies).await?;
    svc.imports.mark_dispatched(tenant_id, import_id).await?;
    tracing::info!(tenant_id, import_id, rows = plan.file.rows, chunks = plan.chunks_total, "import queued");
    complete_if_done(svc, tenant_id, import_id).await?;
    Ok(())
}
