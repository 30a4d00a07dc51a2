//! The finish message, sent once every unit of work is counted (`complete`): an overwrite's
//! cleanup begins, or the import's files are assembled and it completes.

use crate::outputs;
use crate::ports::{Finished, StoredImport};
use crate::publishing;
use crate::services::Services;
use domain::error::Result;
use domain::events::Kind;
use domain::import::Status;
use domain::options::Action;

use super::overwrite;
use super::type_hold;

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
        overwrite::begin(svc, tenant_id, import_id, progress.run, import.phase).await?;
        return Ok(());
    }
    let has_errors_file = import.stats.errors > 0;
    if has_errors_file {
        outputs::assemble_errors(svc, tenant_id, import_id, progress.run, &import.file_headers).await?;
    }
    outputs::assemble_results(svc, tenant_id, import_id, progress.run).await?;
    let files = Finished { has_errors_file, has_results_file: true };
    if !svc.imports.complete(tenant_id, import_id, progress.run, files).await? {
        return Ok(());
    }
    publishing::publish(svc, tenant_id, import_id, Kind::Completed, Some(progress.run)).await?;
    type_hold::leave(svc, tenant_id, import.resource_type, import_id).await?;
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
