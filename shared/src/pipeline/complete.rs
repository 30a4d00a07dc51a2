//! Completion: whichever step closes the last open unit of work asks for the import to be
//! completed, with a message of its own ([`TransformJob::FinishRun`]). Every step asks after its own work,
//! so a crash before it is healed by the redelivery. Steps that end together may each ask;
//! the first message completes the import and the others find it completed, so each message
//! writes the import's state at most once.

use crate::error::Result;
use crate::error_files;
use crate::events::{self, Kind};
use crate::import::{Action, Status};
use crate::messages::{encode, ImportRef, TransformJob};
use crate::ports::{Finished, Queue, StoredImport};
use crate::results;
use crate::services::Services;

/// Why a run fails when its upload changed after it was planned: the plan (byte ranges, mappings,
/// a preview's samples, a dry run's counts) belongs to the first file.
pub const SOURCE_REPLACED: &str = "the upload was replaced after it was planned; upload the new file to a new import";

/// The other way a run ends: one of `from` → failed with a reason, published as an event once;
/// false when the import was in none of them (another step ended it first).
pub async fn fail(
    svc: &Services,
    tenant_id: &str,
    import_id: &str,
    run: u32,
    from: &[Status],
    reason: &str,
) -> Result<bool> {
    let failed = svc.imports.fail(tenant_id, import_id, run, from, reason).await?;
    if failed {
        events::publish(svc, tenant_id, import_id, Kind::Failed, Some(run)).await?;
    }
    Ok(failed)
}

/// Called by each step after its work: when every unit is counted, sends the finish message.
pub async fn send_finish_if_done(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    if svc.imports.progress(tenant_id, import_id).await?.is_some_and(|p| p.is_done()) {
        let msg = TransformJob::FinishRun(ImportRef { tenant_id: tenant_id.into(), import_id: import_id.into() });
        svc.queue.send(Queue::Transform, tenant_id, vec![encode(&msg)?]).await?;
    }
    Ok(())
}

/// The finish message: an overwrite's cleanup begins, or the files are assembled and the import
/// completed (once: a later message finds it completed).
pub async fn complete_if_done(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    let Some(StoredImport { import, progress, .. }) = svc.imports.get(tenant_id, import_id).await? else {
        return Ok(());
    };
    if !progress.is_done() || !matches!(import.status, Status::Queued | Status::Processing) {
        return Ok(());
    }
    if import.action == Action::Overwrite && !progress.removal_done {
        super::overwrite::begin(svc, tenant_id, import_id, progress.run, import.phase).await?;
        return Ok(());
    }
    let has_errors_file = import.stats.errors > 0;
    if has_errors_file {
        error_files::assemble(svc, tenant_id, import_id, progress.run, &import.file_headers).await?;
    }
    results::assemble(svc, tenant_id, import_id, progress.run).await?;
    let files = Finished { has_errors_file, has_results_file: true };
    if !svc.imports.complete(tenant_id, import_id, progress.run, files).await? {
        return Ok(());
    }
    events::publish(svc, tenant_id, import_id, Kind::Completed, Some(progress.run)).await?;
    let s = import.stats;
    tracing::info!(
        tenant_id,
        import_id,
        rows = s.rows,
        created = s.created,
        updated = s.updated,
        errors = s.errors,
        "import completed"
    );
    Ok(())
}
