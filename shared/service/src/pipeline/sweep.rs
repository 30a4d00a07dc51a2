//! The sweeper's round. It reads only the imports it has something to do
//! with: every import carries `sweep_at`, never later than its next deadline, in an index that
//! holds nothing else (`ImportStore::due`), so a round costs what is due, however many imports
//! the table holds, and holds one page of keys at a time. A status change sets `sweep_at`
//! `events::GRACE` ahead; when it comes due the sweeper does what is due and moves it to the
//! import's next deadline:
//!
//! - awaiting its upload: the upload URL's lapse, then the import is `expired`, unless its upload
//!   is stored: it is being prevalidated (a scan may take many invocations), looked at again
//!   after `max_idle`;
//! - queued or processing: `max_idle` after its last counted unit (a chunk, or any change, is the
//!   item's `updated_at`; a batch counts into the run's counter shards, which leave the item
//!   alone), then `timed_out`. Batches may have counted since the deadline was set: the import
//!   is read with its shards, and the deadline moves on without a write per batch;
//! - previewed (a preview waits for its user) or final: its `expires_at` (`retention`),
//!   then it is deleted with its files, as `DELETE /v1/imports/{id}` does. A running one is
//!   refused as that route refuses it, and goes in the round that times it out or the first
//!   after it is final: deleting it under its own batches would drop their work;
//! - after a change, the lifecycle events its step failed to publish (`publishing::send_owed`).
//!
//! Each change is conditional on the status seen, so a round racing the pipeline changes nothing
//! the pipeline just finished. An import that fails is logged and stays due for the next round.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::type_hold;
use crate::config::Settings;
use crate::deletion;
use crate::ports::StoredImport;
use crate::publishing;
use crate::services::Services;
use domain::error::{Error, Result};
use domain::events::{self, Kind};
use domain::import::{upload_key, Status};

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

pub async fn run(svc: &Services, now: OffsetDateTime) -> Result<Swept> {
    let limits = Limits::of(&svc.settings);
    let mut swept = Swept::default();
    let mut cursor = None;
    loop {
        let page = svc.imports.due(now, cursor.as_deref()).await?;
        for (tenant_id, import_id) in &page.items {
            // One import's failure leaves the others (and the rest of the round) to go on.
            if let Err(e) = sweep(svc, &limits, tenant_id, import_id, now, &mut swept).await {
                tracing::error!(tenant_id, import_id, error = %e, "not swept; next round");
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(swept),
        }
    }
}

/// The settings a round decides by.
struct Limits {
    upload_ttl: Duration,
    max_idle: Duration,
}

impl Limits {
    fn of(settings: &Settings) -> Self {
        Self {
            upload_ttl: Duration::seconds(settings.upload_url_ttl_secs as i64),
            max_idle: Duration::seconds(settings.max_idle_secs as i64),
        }
    }
}

async fn sweep(
    svc: &Services,
    limits: &Limits,
    tenant_id: &str,
    import_id: &str,
    now: OffsetDateTime,
    swept: &mut Swept,
) -> Result<()> {
    let Some(mut stored) = svc.imports.get(tenant_id, import_id).await? else { return Ok(()) };
    if let Some(published) = stored.published.as_mut() {
        published.extend(svc.imports.published(tenant_id, import_id).await?);
    }
    // The index follows its table a moment late: this one moved on meanwhile.
    let Some(seen) = stored.sweep_at.filter(|at| *at <= now) else { return Ok(()) };
    let import = &stored.import;
    let arrived = import.status == Status::AwaitingUpload
        && import.upload_deadline(limits.upload_ttl) <= now
        && upload_stored(svc, tenant_id, import_id).await?;
    let changed = match lapse(&stored, limits, now, arrived) {
        Some((to, reason, kind)) => {
            if !svc.imports.finish(tenant_id, import_id, &[import.status], to, reason).await? {
                // Moved on meanwhile: that change set its own `sweep_at`.
                return Ok(());
            }
            tracing::info!(tenant_id, import_id, status = to.as_str(), "swept");
            publishing::publish(svc, tenant_id, import_id, kind, None).await?;
            type_hold::leave(svc, tenant_id, import.resource_type, import_id).await?;
            if to == Status::Expired && import.upload.is_some_and(|u| u.is_multipart()) {
                // The parts of an upload never completed are stored (and billed) until aborted.
                svc.uploads.abort(&upload_key(tenant_id, import_id)).await?;
            }
            match to {
                Status::Expired => swept.expired += 1,
                _ => swept.timed_out += 1,
            }
            true
        }
        None => {
            swept.events_sent += publishing::send_owed(svc, &stored, now).await?;
            false
        }
    };
    if import.expires_at <= now {
        match deletion::delete_import(svc, tenant_id, import_id).await {
            Ok(()) => {
                swept.deleted += 1;
                return Ok(());
            }
            // Running (it goes once final), or deleted meanwhile.
            Err(Error::Conflict(_) | Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    if changed {
        return Ok(());
    }
    // Not later than now: something due did not happen; it stays due for the next round.
    let next = next_deadline(&stored, limits, now, arrived);
    if next > now {
        svc.imports.reschedule(tenant_id, import_id, seen, next).await?;
    }
    Ok(())
}

/// When the run last counted a unit of work (or the import last changed otherwise).
fn last_progress(stored: &StoredImport) -> OffsetDateTime {
    let changed = stored.import.updated_at;
    stored.batch_counted_at.map_or(changed, |batch| batch.max(changed))
}

/// Whether an import's upload is stored: it arrived, and its prevalidation (however many
/// invocations its scan takes) moves the import on or fails it.
async fn upload_stored(svc: &Services, tenant_id: &str, import_id: &str) -> Result<bool> {
    let key = upload_key(tenant_id, import_id);
    Ok(svc.files.list(&key).await?.contains(&key))
}

/// The final status a late import is swept to, with its reason, if it is late. `arrived`: its
/// upload is stored, past the upload's deadline.
fn lapse(
    stored: &StoredImport,
    limits: &Limits,
    now: OffsetDateTime,
    arrived: bool,
) -> Option<(Status, &'static str, Kind)> {
    let import = &stored.import;
    match import.status {
        Status::AwaitingUpload if !arrived && import.upload_deadline(limits.upload_ttl) <= now => {
            Some((Status::Expired, "the upload never arrived before its URL lapsed", Kind::Expired))
        }
        Status::Queued | Status::Processing if last_progress(stored) + limits.max_idle <= now => {
            Some((Status::TimedOut, "no progress for max_idle", Kind::TimedOut))
        }
        _ => None,
    }
}

/// When the sweeper next has something to do with the import as read (and not late now).
fn next_deadline(stored: &StoredImport, limits: &Limits, now: OffsetDateTime, arrived: bool) -> OffsetDateTime {
    let import = &stored.import;
    let deadline = match import.status {
        // Looked at again after `max_idle`: a scan in parts is long, and retention bounds it.
        Status::AwaitingUpload if arrived => now + limits.max_idle,
        Status::AwaitingUpload => import.upload_deadline(limits.upload_ttl),
        Status::Queued | Status::Processing => last_progress(stored) + limits.max_idle,
        _ => import.expires_at,
    };
    // Events its last change owes, left to its step for now.
    let left = import.updated_at + events::GRACE;
    if left > now && !publishing::owed(stored).is_empty() {
        return deadline.min(left);
    }
    deadline
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const T0: &str = "2026-01-01T00:00:00Z";

    fn at(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::parse(T0, &time::format_description::well_known::Rfc3339).unwrap() + Duration::minutes(minutes)
    }

    /// An import created at T0, expiring a day later, last changed `changed` minutes after T0,
    /// with every event it owes published.
    fn import(status: Status, changed: i64) -> StoredImport {
        let import = serde_json::json!({
            "id": "imp_1", "tenant_id": "acme", "resource_type": "contact", "action": "merge",
            "format": "csv", "mode": "async", "identifier_field": "email", "mappings": {},
            "reference": null, "reference_origin": null, "metadata": {}, "retention": "P1D",
            "status": status.as_str(), "phase": null, "reason": null, "stats": {},
            "file_headers": [], "unmapped_headers": [], "has_upload_file": false,
            "has_errors_file": false, "file": null, "links": {}, "created_at": T0,
            "updated_at": domain::time_fmt::rfc3339(at(changed)), "started_at": null,
            "completed_at": null, "interrupted_at": null,
            "expires_at": domain::time_fmt::rfc3339(at(24 * 60)),
        });
        let import: domain::import::Import = serde_json::from_value(import).unwrap();
        let published = ["created_0", "completed_0", "expired_0", "timed_out_0", "preview_ready_0", "failed_0"];
        StoredImport {
            import,
            progress: Default::default(),
            requested_mappings: Default::default(),
            own_settings: vec![],
            source_etag: None,
            published: Some(published.into_iter().map(String::from).collect::<BTreeSet<_>>()),
            sweep_at: Some(at(changed) + events::GRACE),
            batch_counted_at: None,
        }
    }

    const LIMITS: Limits = Limits { upload_ttl: Duration::minutes(15), max_idle: Duration::minutes(30) };

    #[test]
    fn a_running_import_times_out_only_after_max_idle_without_a_counted_unit() {
        let mut running = import(Status::Processing, 0);
        assert!(lapse(&running, &LIMITS, at(29), false).is_none());
        assert_eq!(next_deadline(&running, &LIMITS, at(29), false), at(30));
        let (to, reason, _) = lapse(&running, &LIMITS, at(30), false).unwrap();
        assert_eq!((to, reason), (Status::TimedOut, "no progress for max_idle"));
        // A batch counted since (into the shards) keeps it going, however old the run.
        running.batch_counted_at = Some(at(25));
        assert!(lapse(&running, &LIMITS, at(50), false).is_none());
        assert_eq!(next_deadline(&running, &LIMITS, at(50), false), at(55));
    }

    #[test]
    fn each_status_has_its_next_deadline() {
        let waiting = import(Status::AwaitingUpload, 0);
        assert_eq!(next_deadline(&waiting, &LIMITS, at(3), false), at(15));
        assert_eq!(lapse(&waiting, &LIMITS, at(15), false).map(|l| l.0), Some(Status::Expired));
        // Its upload arrived, and its scan goes on past the upload's deadline: not expired.
        assert!(lapse(&waiting, &LIMITS, at(15), true).is_none());
        assert_eq!(next_deadline(&waiting, &LIMITS, at(15), true), at(45));
        for status in [Status::PreviewReady, Status::Completed, Status::Failed, Status::Expired] {
            let settled = import(status, 0);
            assert!(lapse(&settled, &LIMITS, at(60), false).is_none(), "{status:?}");
            assert_eq!(next_deadline(&settled, &LIMITS, at(3), false), at(24 * 60), "{status:?}: its retention");
        }
    }

    #[test]
    fn events_a_change_owes_come_due_after_the_grace() {
        let mut completed = import(Status::Completed, 10);
        completed.published.as_mut().unwrap().remove("completed_0");
        assert_eq!(next_deadline(&completed, &LIMITS, at(11), false), at(12), "its step may still publish");
        completed.published.as_mut().unwrap().insert("completed_0".into());
        assert_eq!(next_deadline(&completed, &LIMITS, at(11), false), at(24 * 60), "nothing owed");
    }
}
