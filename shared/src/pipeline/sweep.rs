//! The sweeper's round (SPEC §5 statuses, §9). It reads only the imports it has something to do
//! with: every import carries `sweep_at`, never later than its next deadline, in an index that
//! holds nothing else (`ImportStore::due`), so a round costs what is due, however many imports
//! the table holds, and holds one page of keys at a time. A status change sets `sweep_at`
//! `events::GRACE` ahead; when it comes due the sweeper does what is due and moves it to the
//! import's next deadline:
//!
//! - awaiting its upload: the upload URL's lapse, then the import is `expired`;
//! - queued or processing: `max_idle` after its last counted unit (a chunk, or any change, is the
//!   item's `updated_at`; a batch counts into the run's counter shards, which leave the item
//!   alone), then `timed_out`. Batches may have counted since the deadline was set: the import
//!   is read with its shards, and the deadline moves on without a write per batch;
//! - previewed (a preview waits for its user) or final: its `expires_at` (SPEC §5 `retention`),
//!   then it is deleted with its files, as `DELETE /v1/imports/{id}` does. A running one is
//!   refused as that route refuses it, and goes in the round that times it out or the first
//!   after it is final: deleting it under its own batches would drop their work;
//! - after a change, the lifecycle events its step failed to publish (`events::send_owed`).
//!
//! Each change is conditional on the status seen, so a round racing the pipeline changes nothing
//! the pipeline just finished. An import that fails is logged and stays due for the next round.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::api;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::events::{self, Kind};
use crate::import::Status;
use crate::ports::StoredImport;
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
    let Some(stored) = svc.imports.get(tenant_id, import_id).await? else { return Ok(()) };
    // The index follows its table a moment late: this one moved on meanwhile.
    let Some(seen) = stored.sweep_at.filter(|at| *at <= now) else { return Ok(()) };
    let import = &stored.import;
    let changed = match lapse(&stored, limits, now) {
        Some((to, reason, kind)) => {
            if !svc.imports.finish(tenant_id, import_id, &[import.status], to, reason).await? {
                // Moved on meanwhile: that change set its own `sweep_at`.
                return Ok(());
            }
            tracing::info!(tenant_id, import_id, status = to.as_str(), "swept");
            events::publish(svc, tenant_id, import_id, kind, None).await?;
            match to {
                Status::Expired => swept.expired += 1,
                _ => swept.timed_out += 1,
            }
            true
        }
        None => {
            swept.events_sent += events::send_owed(svc, &stored, now).await?;
            false
        }
    };
    if import.expires_at <= now {
        match api::delete_import(svc, tenant_id, import_id).await {
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
    let next = next_deadline(&stored, limits, now);
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

/// The final status a late import is swept to, with its reason, if it is late.
fn lapse(stored: &StoredImport, limits: &Limits, now: OffsetDateTime) -> Option<(Status, &'static str, Kind)> {
    let import = &stored.import;
    match import.status {
        Status::AwaitingUpload if import.created_at + limits.upload_ttl <= now => {
            Some((Status::Expired, "the upload never arrived before its URL lapsed", Kind::Expired))
        }
        Status::Queued | Status::Processing if last_progress(stored) + limits.max_idle <= now => {
            Some((Status::TimedOut, "no progress for max_idle", Kind::TimedOut))
        }
        _ => None,
    }
}

/// When the sweeper next has something to do with the import as read (and not late now).
fn next_deadline(stored: &StoredImport, limits: &Limits, now: OffsetDateTime) -> OffsetDateTime {
    let import = &stored.import;
    let deadline = match import.status {
        Status::AwaitingUpload => import.created_at + limits.upload_ttl,
        Status::Queued | Status::Processing => last_progress(stored) + limits.max_idle,
        _ => import.expires_at,
    };
    // Events its last change owes, left to its step for now.
    let left = import.updated_at + events::GRACE;
    if left > now && !events::owed(stored).is_empty() {
        return deadline.min(left);
    }
    deadline
}
