//! The sweeper's round (SPEC §5 statuses): an import still awaiting its upload after the upload
//! URL lapsed is `expired`; one queued or processing longer than `max_duration` after its run
//! started (or, still queued, since it was queued) is `timed_out`. A preview waits for its user,
//! and the clock of a previewed import starts when the user starts it. Each change is conditional on the
//! status seen, so a round racing the pipeline changes nothing the pipeline just finished.
//!
//! Then the lifecycle events a step failed to publish after its change are sent (`events::owed`),
//! for imports that changed in the last day and not in the last two minutes (a step publishes
//! right after its change; its webhooks are only queued).
//!
//! Then every import past its `expires_at` (SPEC §5 `retention`) is deleted with its files, as
//! `DELETE /v1/imports/{id}` does. A running one is refused as that route refuses it, and goes
//! in the first round after it is final (completed, or timed out above): deleting it under its
//! own batches would drop their work, and timing it out early would report a wrong reason.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::api;
use crate::error::{Error, Result};
use crate::events::{self, Kind};
use crate::import::Status;
use crate::services::Services;

/// What one round did.
#[derive(Debug, Default, Serialize)]
pub struct Swept {
    pub expired: u64,
    pub timed_out: u64,
    /// Imports past their retention, deleted with their files.
    pub deleted: u64,
    /// Lifecycle events sent late: their step changed the import but did not publish them.
    pub events_sent: u64,
}

const EVENTS_LOOKBACK: Duration = Duration::days(1);
const EVENTS_GRACE: Duration = Duration::minutes(2);

pub async fn run(svc: &Services, now: OffsetDateTime) -> Result<Swept> {
    let upload_ttl = Duration::seconds(svc.settings.upload_url_ttl_secs as i64);
    let max_duration = Duration::seconds(svc.settings.max_duration_secs as i64);
    let mut swept = Swept::default();
    let since = now - EVENTS_LOOKBACK;
    let scanned = svc.imports.sweepable(since, now).await?;
    for import in scanned.iter().map(|s| &s.import) {
        let (tenant_id, import_id) = (import.tenant_id.as_str(), import.id.as_str());
        let (from, to, reason, kind) = match import.status {
            Status::AwaitingUpload if import.created_at + upload_ttl < now => (
                Status::AwaitingUpload,
                Status::Expired,
                "the upload never arrived before its URL lapsed",
                Kind::Expired,
            ),
            Status::Queued | Status::Processing
                if import.started_at.unwrap_or(import.updated_at) + max_duration < now =>
            {
                (import.status, Status::TimedOut, "not final within max_duration", Kind::TimedOut)
            }
            // Final, or not late yet.
            _ => continue,
        };
        if svc.imports.finish(tenant_id, import_id, &[from], to, reason).await? {
            tracing::info!(tenant_id, import_id, status = to.as_str(), "swept");
            events::publish(svc, tenant_id, import_id, kind, None).await?;
            match to {
                Status::Expired => swept.expired += 1,
                _ => swept.timed_out += 1,
            }
        }
    }
    let changed = scanned.iter().filter(|s| s.import.updated_at >= since);
    swept.events_sent = events::send_owed(svc, changed, now, EVENTS_GRACE).await?;
    // As read by the scan: one timed out above is final now, and `delete_import` reads it again.
    for import in scanned.iter().map(|s| &s.import).filter(|i| i.expires_at < now) {
        match api::delete_import(svc, &import.tenant_id, &import.id).await {
            Ok(()) => swept.deleted += 1,
            // Running, or deleted meanwhile: a later round sees it again, or it is gone.
            Err(Error::Conflict(_) | Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(swept)
}
