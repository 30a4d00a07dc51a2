//! Deleting an import with its files: the API's `DELETE`, and the sweeper once an import
//! expires.

use crate::services::Services;
use domain::error::{Error, Result};
use domain::error_files;
use domain::import::{self, Status};

/// `DELETE /v1/imports/{id}`: an import that is not running, with its files.
pub async fn delete_import(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    if !import::is_import_id(import_id) {
        return Err(Error::NotFound);
    }
    let stored = svc.imports.get(tenant_id, import_id).await?.ok_or(Error::NotFound)?;
    let status = stored.import.status;
    if matches!(status, Status::Queued | Status::Processing) {
        let message = format!("the import is {}: interrupt it first", status.as_str());
        return Err(Error::Conflict(message));
    }
    if stored.import.is_reverting() {
        return Err(Error::Conflict("the import is being reverted: delete it once it is reverted".into()));
    }
    // Files first: while the item exists, a delete that failed half-way can be asked again.
    if stored.import.upload.is_some_and(|u| u.is_multipart()) {
        svc.uploads.abort(&import::upload_key(tenant_id, import_id)).await?;
    }
    svc.files.delete_prefix(&import::upload_prefix(tenant_id, import_id)).await?;
    svc.files.delete_prefix(&error_files::prefix(tenant_id, import_id)).await?;
    if !svc.imports.delete(tenant_id, import_id).await? {
        return Err(Error::Conflict("the import started meanwhile: interrupt it first".into()));
    }
    tracing::info!(tenant_id, import_id, "import deleted");
    Ok(())
}
