//! overwrite (`action: overwrite`): merge, then remove every record of the type the file did not
//! name. The process step marks each record a row names (`seen_by`); once every batch is done,
//! the cleanup pages through the records the import has not seen and removes them, each group
//! in one transaction with its stats, so a redelivered page removes nothing twice. Before
//! anything is removed, `max_removed_ratio` guards against a truncated or wrong file: over it,
//! nothing is removed and the import fails with reason `overwrite_guard`. A dry run marks nothing:
//! its process step notes the records its rows name beside the import's ledger, and the cleanup
//! counts the records without a note, guard included, and removes none.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::ports::{Applied, BatchWrite, CleanupStep, Queue, StoredImport, Unit};
use crate::services::Services;
use domain::error::{Error, Result};
use domain::identifiers;
use domain::import::{Import, Phase, Status};
use domain::messages::{encode, ProcessJob, RemovalMessage};
use domain::record::{ResourceType, StoredRecord};
use domain::stats::Tally;
use domain::time_fmt;

use super::complete::{fail, send_finish_if_done};
use super::record_writes::{backoff, deletion, holders_of, MAX_ATTEMPTS};
use super::revert;

/// Records read per cleanup message.
const PAGE: usize = 200;
/// The first page's name in the ledger (the others are named by their cursor).
const FIRST_PAGE: &str = "first";
/// Records removed per transaction: each may release an alternate value (two items), and the
/// ledger entry and stats take two more of DynamoDB's 100.
const REMOVALS: usize = 32;

/// An overwrite's batches are all done: start its cleanup, once per run.
pub async fn begin(svc: &Services, tenant_id: &str, import_id: &str, run: u32, phase: Option<Phase>) -> Result<()> {
    if phase == Some(Phase::Cleanup) {
        return Ok(());
    }
    // The message goes first: a crash between the two sends it again, and two cleanups of one
    // import remove each record once (every removal is conditional).
    send(svc, tenant_id, import_id, run, None).await?;
    svc.imports.begin_cleanup(tenant_id, import_id, run).await?;
    Ok(())
}

async fn send(svc: &Services, tenant_id: &str, import_id: &str, run: u32, after: Option<String>) -> Result<()> {
    let msg = RemovalMessage { tenant_id: tenant_id.into(), import_id: import_id.into(), run, after };
    svc.queue.send(Queue::Process, tenant_id, vec![encode(&ProcessJob::RemovePage(msg))?]).await
}

/// One page of the cleanup.
pub async fn remove(svc: &Services, msg: RemovalMessage) -> Result<()> {
    let (tenant_id, import_id, run) = (msg.tenant_id.as_str(), msg.import_id.as_str(), msg.run);
    let Some(StoredImport { import, progress, .. }) = svc.imports.get(tenant_id, import_id).await? else {
        return Ok(());
    };
    let running = matches!(import.status, Status::Queued | Status::Processing);
    if !running || progress.run != run {
        tracing::info!(tenant_id, import_id, run, "cleanup page of a finished run dropped");
        return Ok(());
    }
    if progress.removal_done {
        // A redelivered last page: the completion it started may not have happened.
        send_finish_if_done(svc, tenant_id, import_id).await?;
        return Ok(());
    }
    let resource = import.resource_type;
    let started = import.started_at.unwrap_or(import.created_at);
    if !progress.guard_passed {
        // Decided once: a second start of the cleanup must not count what the first removed.
        let noted_in = import.dry_run.then_some(run);
        let (total, doomed) = svc.records.census(tenant_id, resource, import_id, started, noted_in).await?;
        // The share of the records that existed before the import (a dry run created none).
        let existing = if import.dry_run { total } else { total.saturating_sub(import.stats.created) };
        if removes_too_much(doomed, existing, import.max_removed_ratio) {
            tracing::warn!(tenant_id, import_id, doomed, existing, "overwrite refused by max_removed_ratio");
            fail(svc, tenant_id, import_id, run, &[Status::Queued, Status::Processing], GUARD_REASON).await?;
            return Ok(());
        }
        if import.dry_run {
            return count_for_dry_run(svc, &msg, resource, doomed).await;
        }
        svc.imports.cleanup_step(tenant_id, import_id, run, CleanupStep::GuardPassed).await?;
    }
    // Each page sends the next: a page delivered again once it sent its next (a function that
    // died before the queue heard it was done) would start a second chain of pages, and every
    // redelivery in each chain another. So a page notes when it is ended, and a delivery of an
    // ended page stops. Two deliveries of one page at once may both go on: rare, and harmless.
    let here = msg.after.as_deref().unwrap_or(FIRST_PAGE);
    if svc.imports.page_ended(tenant_id, import_id, run, here).await? {
        return Ok(());
    }
    let page = svc.records.unseen(tenant_id, resource, import_id, PAGE, msg.after.as_deref()).await?;
    let doomed: Vec<StoredRecord> = page.items.into_iter().filter(|r| removable(r, import_id, started)).collect();
    for group in doomed.chunks(REMOVALS) {
        if !remove_group(svc, &msg, resource, started, group.to_vec()).await? {
            return Ok(()); // the import stopped
        }
    }
    if svc.imports.page_ended(tenant_id, import_id, run, here).await? {
        return Ok(()); // another delivery ended it meanwhile
    }
    match page.next_cursor {
        Some(after) => send(svc, tenant_id, import_id, run, Some(after)).await?,
        None => {
            svc.imports.cleanup_step(tenant_id, import_id, run, CleanupStep::RemovalDone).await?;
            send_finish_if_done(svc, tenant_id, import_id).await?;
        }
    }
    svc.imports.end_page(tenant_id, import_id, run, here).await
}

/// An overwrite does not run beside another import of its type (it would remove
/// records that import is about to name): the queued or processing import of the tenant's type
/// other than `import_id`, if any. Checked at create, at the PATCH that starts a run, and when
/// the run is planned.
pub async fn running_beside(
    svc: &Services,
    tenant_id: &str,
    import_id: &str,
    resource: ResourceType,
) -> Result<Option<Import>> {
    for status in [Status::Queued, Status::Processing] {
        let mut cursor = None;
        loop {
            let page = svc.imports.list(tenant_id, Some(status), 100, cursor.as_deref()).await?;
            if let Some(other) = page.items.into_iter().find(|i| i.resource_type == resource && i.id != import_id) {
                return Ok(Some(other));
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(None)
}

/// The reason of an overwrite `max_removed_ratio` refused.
pub const GUARD_REASON: &str = "overwrite_guard";

fn removes_too_much(doomed: u64, existing: u64, max_removed_ratio: f64) -> bool {
    doomed as f64 > max_removed_ratio * existing as f64
}

/// The guard of a dry-run overwrite run for real, checked before its run writes anything: the
/// records there are now against those the dry run's rows named (its notes, `rehearsal` its
/// run). Records may have come or gone since the dry run passed; the cleanup checks once more.
pub async fn guard_holds(svc: &Services, import: &Import, rehearsal: u32) -> Result<bool> {
    let (tenant_id, import_id) = (import.tenant_id.as_str(), import.id.as_str());
    let now = time_fmt::now();
    let (total, doomed) = svc.records.census(tenant_id, import.resource_type, import_id, now, Some(rehearsal)).await?;
    let refused = removes_too_much(doomed, total, import.max_removed_ratio);
    if refused {
        tracing::warn!(tenant_id, import_id, doomed, total, "overwrite refused by max_removed_ratio before its run");
    }
    Ok(!refused)
}

/// A record the overwrite removes: its file did not name it, and no import wrote it since the
/// overwrite started (that is another import's newer data).
fn removable(record: &StoredRecord, import_id: &str, started: OffsetDateTime) -> bool {
    record.seen_by.as_deref() != Some(import_id) && record.updated_at < started
}

/// A dry run says how many records it would remove and removes none. The count goes in with a
/// ledger entry of a fixed key, so a redelivery does not count it again.
async fn count_for_dry_run(svc: &Services, msg: &RemovalMessage, resource: ResourceType, doomed: u64) -> Result<()> {
    let (tenant_id, import_id, run) = (msg.tenant_id.as_str(), msg.import_id.as_str(), msg.run);
    let batch = BatchWrite {
        tenant_id: tenant_id.into(),
        import_id: import_id.into(),
        resource_type: resource,
        run,
        unit: Unit::Removal { page: "dry-run".into() },
        tally: Tally { removed: doomed, ..Tally::default() },
        writes: vec![],
        outcomes: None,
        before_images: None,
        created: vec![],
        part: None,
        blind: false,
    };
    match svc.records.apply_batch(&batch).await {
        Err(Error::NotFound) => return Ok(()), // the import stopped
        other => other?,
    };
    svc.imports.cleanup_step(tenant_id, import_id, run, CleanupStep::RemovalDone).await?;
    send_finish_if_done(svc, tenant_id, import_id).await?;
    Ok(())
}

/// Removes a group of records in one transaction with its stats; false when the import stopped.
/// A record changed meanwhile is read again: one that another writer took over stays.
async fn remove_group(
    svc: &Services,
    msg: &RemovalMessage,
    resource: ResourceType,
    started: OffsetDateTime,
    mut group: Vec<StoredRecord>,
) -> Result<bool> {
    let (tenant_id, import_id) = (msg.tenant_id.as_str(), msg.import_id.as_str());
    let alternate = identifiers::alternate(resource);
    for attempt in 0..MAX_ATTEMPTS {
        if group.is_empty() {
            return Ok(true);
        }
        let holders = holders_of(svc, tenant_id, resource, group.iter().map(|r| &r.fields)).await?;
        let writes: Vec<_> = group.iter().map(|old| deletion(resource, alternate, old, &holders)).collect();
        let by_id: HashMap<&str, &StoredRecord> = group.iter().map(|r| (r.identifier.as_str(), r)).collect();
        let kept = revert::keep(svc, tenant_id, import_id, &writes, |id| by_id.get(id).map(|r| (*r).clone())).await?;
        let batch = BatchWrite {
            tenant_id: tenant_id.into(),
            import_id: import_id.into(),
            resource_type: resource,
            run: msg.run,
            unit: Unit::Removal { page: ulid::Ulid::generate().to_string().to_lowercase() },
            tally: Tally { removed: writes.len() as u64, ..Tally::default() },
            writes,
            outcomes: None,
            before_images: kept.before_images,
            created: kept.created,
            part: None,
            blind: false,
        };
        match svc.records.apply_batch(&batch).await {
            Ok(Applied::Now | Applied::Before) => return Ok(true),
            Ok(Applied::Conflict) => {
                tracing::info!(tenant_id, import_id, attempt, "records changed under a cleanup group; reading again");
                tokio::time::sleep(backoff(attempt)).await;
                let ids: Vec<String> = group.iter().map(|r| r.identifier.clone()).collect();
                let now = svc.records.get_many(tenant_id, resource, &ids).await?;
                group = now.into_values().filter(|r| removable(r, import_id, started)).collect();
            }
            Err(Error::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Err(Error::Contention("records kept changing under a cleanup group".into()))
}
