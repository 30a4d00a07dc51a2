//! Who writes a type's records. A first import into an empty type takes the type alone and
//! writes its creates unconditioned (`BatchWrite::blind`: a third of a transaction's work on
//! the emulator, half its WRU on DynamoDB); every other run that writes records joins the type's
//! writers before it writes. Both are one conditional write of the type's item, so they never
//! race: a run joins while the type is held, or holds while nobody writes beside it.
//!
//! A run that joins while another holds the type revokes the hold and waits out the grace
//! (`TYPE_HOLD_GRACE_SECONDS`, longer than a process delivery may run) before it writes, so the
//! holder's unconditioned writes in flight end first; the holder's later batches read and write
//! conditioned, as any run's. A run gives up what it has when it ends; a writer whose import
//! ended without leaving is dropped by the next run that would hold the type.

use std::time::Duration;

use crate::services::Services;
use domain::error::{Error, Result};
use domain::import::{Import, Mode, Status};
use domain::merge::ImportRule;
use domain::messages::ProcessMessage;
use domain::options::Action;
use domain::record::ResourceType;
use domain::time_fmt;

/// Before a run writes anything: takes the type alone when it may, or joins its writers. True
/// when the run's records can be written unread, as creates: a merge or overwrite that may
/// create, on the default identifier, into a type that holds no record yet (one read for the run
/// instead of one per row; `ProcessMessage::empty_type`). Holding the type, they are written
/// unconditioned too; otherwise a record made meanwhile fails its create's condition and the
/// batch is decided again from what it reads.
pub async fn claim(svc: &Services, import: &Import, run: u32) -> Result<bool> {
    let (tenant_id, resource) = (import.tenant_id.as_str(), import.resource_type);
    let on_default = import.identifier_field == resource.default_identifier();
    let creates = import.action != Action::Delete && import.import_rule != ImportRule::UpdateOnly;
    if import.dry_run {
        // Writes no record.
        return Ok(false);
    }
    // A run planned again (its first plan's delivery died while sending) keeps the first plan's
    // answer, revoked since or not: its chunks must be cut into the same batches, and the
    // records written meanwhile are its own.
    let seen = svc.records.type_hold(tenant_id, resource).await?;
    if seen.holder.is_some_and(|(holder, held_run)| holder == import.id && held_run == run) {
        return Ok(true);
    }
    let unread = on_default && creates && is_empty(svc, tenant_id, resource).await?;
    // Emptiness is read again once held: a run that wrote before the hold has left since.
    if unread && hold(svc, tenant_id, resource, &import.id, run).await? && is_empty(svc, tenant_id, resource).await? {
        tracing::info!(tenant_id, import_id = import.id.as_str(), "the type is empty: held alone");
        return Ok(true);
    }
    let most = (import.mode == Mode::Sync).then_some(SYNC_WAIT_SECS);
    join(svc, tenant_id, resource, &import.id, most).await?;
    Ok(unread && is_empty(svc, tenant_id, resource).await?)
}

/// The longest a sync import waits out a grace: it runs within its request.
pub const SYNC_WAIT_SECS: i64 = 10;

/// The reason of a sync import that a hold on its type would keep waiting longer.
pub const HELD_REASON: &str = "type_held";

/// Joins the type's writers (a run or a revert about to write): a hold it finds is revoked,
/// and its grace waited out; `Conflict` when that is more than `most` seconds away.
pub async fn join(
    svc: &Services,
    tenant_id: &str,
    resource: ResourceType,
    import_id: &str,
    most: Option<i64>,
) -> Result<()> {
    let now = time_fmt::now().unix_timestamp();
    let mut hold = svc.records.join_type(tenant_id, resource, import_id).await?;
    let Some((holder, _)) = hold.holder.clone() else { return Ok(()) };
    if hold.revoked_at.is_none() {
        tracing::info!(tenant_id, import_id, holder, "the type was held alone: revoked");
        hold = svc.records.revoke_hold(tenant_id, resource, &holder, now).await?;
    }
    if holder == import_id {
        // Its own writes in flight are no one else's to fence.
        return Ok(());
    }
    let grace = svc.settings.type_hold_grace_secs as i64;
    let wait = hold.revoked_at.map_or(0, |at| at + grace - time_fmt::now().unix_timestamp());
    if most.is_some_and(|most| wait > most) {
        return Err(Error::Conflict(format!(
            "{HELD_REASON}: import {holder} wrote the first {} records alone; they can be written {wait} s from now",
            resource.as_str()
        )));
    }
    if wait > 0 {
        tracing::info!(tenant_id, import_id, wait, "waiting out the grace of a revoked hold");
        tokio::time::sleep(Duration::from_secs(wait as u64)).await;
    }
    Ok(())
}

/// A run or a revert ended: it leaves the type's writers, and revokes its hold if it has one.
pub async fn leave(svc: &Services, tenant_id: &str, resource: ResourceType, import_id: &str) -> Result<()> {
    let hold = svc.records.leave_type(tenant_id, resource, &[import_id.to_string()]).await?;
    let holds = hold.revoked_at.is_none() && hold.holder.is_some_and(|(holder, _)| holder == import_id);
    if holds {
        let now = time_fmt::now().unix_timestamp();
        svc.records.revoke_hold(tenant_id, resource, import_id, now).await?;
    }
    Ok(())
}

/// [`leave`] for an import known by its id alone (a run or revert ended by its failure).
pub async fn leave_import(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    match svc.imports.get(tenant_id, import_id).await? {
        Some(stored) => leave(svc, tenant_id, stored.import.resource_type, import_id).await,
        None => Ok(()),
    }
}

/// Whether a batch's run holds its type still: its creates are then written unconditioned.
pub async fn holds(svc: &Services, msg: &ProcessMessage) -> Result<bool> {
    if !msg.empty_type || msg.dry_run {
        return Ok(false);
    }
    let hold = svc.records.type_hold(&msg.tenant_id, msg.resource_type).await?;
    Ok(hold.revoked_at.is_none() && hold.holder == Some((msg.import_id.clone(), msg.run)))
}

async fn is_empty(svc: &Services, tenant_id: &str, resource: ResourceType) -> Result<bool> {
    Ok(svc.records.list(tenant_id, resource, 1, None).await?.items.is_empty())
}

/// Takes the type for the run; when writers are in the way, those whose imports ended are
/// dropped and it tries once more.
async fn hold(svc: &Services, tenant_id: &str, resource: ResourceType, import_id: &str, run: u32) -> Result<bool> {
    let over = time_fmt::now().unix_timestamp() - svc.settings.type_hold_grace_secs as i64;
    if svc.records.hold_type(tenant_id, resource, import_id, run, over).await? {
        return Ok(true);
    }
    let writers = svc.records.type_hold(tenant_id, resource).await?.writers;
    let mut ended = Vec::new();
    for writer in writers {
        let live = svc.imports.get(tenant_id, &writer).await?.is_some_and(|stored| {
            matches!(stored.import.status, Status::Queued | Status::Processing) || stored.import.is_reverting()
        });
        if !live {
            ended.push(writer);
        }
    }
    if ended.is_empty() {
        return Ok(false);
    }
    svc.records.leave_type(tenant_id, resource, &ended).await?;
    svc.records.hold_type(tenant_id, resource, import_id, run, over).await
}
