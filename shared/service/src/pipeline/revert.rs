//! revert (docs/architecture.md): before a unit of work changes or removes records, it keeps
//! their before-images in S3 and names the object in its ledger entry; the records it creates
//! it names in the entry itself. `POST /v1/imports/{id}/revert` plans one revert unit per such
//! entry; each unit puts its records back as they were (records the import created are deleted)
//! in one transaction with its own ledger entry and counters, unless a later write changed a
//! record since: that one is left as it is and reported.

use crate::ports::{Applied, Kept, Queue, RecordWrite, RevertWrite, StoredImport};
use crate::publishing;
use crate::services::Services;
use domain::error::{Error, Result};
use domain::error_files;
use domain::events::Kind;
use domain::identifiers;
use domain::messages::{encode, ImportRef, ProcessJob, RevertUnitMessage, TransformJob};
use domain::record::StoredRecord;
use domain::revert_state::{BeforeImage, RevertStatus};

use super::record_writes::{backoff, deletion, holders_of, index_changes, MAX_ATTEMPTS};
use super::type_hold;

/// What a unit's writes, read at `before`, keep for a revert: the identifiers of the records they
/// create (a revert deletes them: the ledger entry holds them, no object needed), and the key of
/// an object with the before-images of the records they change or delete. Each attempt stores
/// its own object: only the one the applied ledger entry names counts. A write that changes no
/// field (an overwrite marking a record it saw) has nothing to put back.
pub async fn keep(
    svc: &Services,
    tenant_id: &str,
    import_id: &str,
    writes: &[RecordWrite],
    before: impl Fn(&str) -> Option<StoredRecord>,
) -> Result<Kept> {
    let mut kept = Kept::default();
    let mut images = Vec::new();
    for w in writes {
        let identifier = w.record.identifier.clone();
        match before(&identifier) {
            None if !w.delete => kept.created.push(identifier),
            Some(old) if !w.delete && old.fields == w.record.fields => {}
            old => images.push(BeforeImage {
                identifier,
                before: old,
                after: (!w.delete).then(|| w.record.fields.clone()),
            }),
        }
    }
    if images.is_empty() {
        return Ok(kept);
    }
    let body = serde_json::to_vec(&images).map_err(|e| Error::Internal(e.to_string()))?;
    let key = format!(
        "{}before/{}.json",
        error_files::prefix(tenant_id, import_id),
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    svc.files.put(&key, body).await?;
    kept.before_images = Some(key);
    Ok(kept)
}

/// Sends the revert's plan; the transform function runs it.
pub async fn request(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    let msg = TransformJob::PlanRevert(ImportRef { tenant_id: tenant_id.into(), import_id: import_id.into() });
    svc.queue.send(Queue::Transform, tenant_id, vec![encode(&msg)?]).await
}

/// One revert unit per unit of work that wrote records. Sent again when planned again; each
/// unit applies once.
pub async fn plan(svc: &Services, msg: ImportRef) -> Result<()> {
    let (tenant_id, import_id) = (msg.tenant_id.as_str(), msg.import_id.as_str());
    let Some(StoredImport { import, progress, .. }) = svc.imports.get(tenant_id, import_id).await? else {
        return Ok(());
    };
    if !import.is_reverting() {
        return Ok(());
    }
    type_hold::join(svc, tenant_id, import.resource_type, import_id, None).await?;
    let units = svc.imports.kept_before_images(tenant_id, import_id, progress.run).await?;
    svc.imports.plan_revert(tenant_id, import_id, units.len() as u64).await?;
    let bodies = units
        .into_iter()
        .map(|(unit, Kept { before_images, created })| {
            let (tenant_id, import_id) = (tenant_id.into(), import_id.into());
            encode(&ProcessJob::RevertUnit(RevertUnitMessage { tenant_id, import_id, unit, before_images, created }))
        })
        .collect::<Result<Vec<_>>>()?;
    svc.queue.send(Queue::Process, tenant_id, bodies).await?;
    finish_if_done(svc, tenant_id, import_id).await
}

/// Puts one unit's records back.
pub async fn unit(svc: &Services, msg: RevertUnitMessage) -> Result<()> {
    let (tenant_id, import_id) = (msg.tenant_id.as_str(), msg.import_id.as_str());
    let Some(StoredImport { import, .. }) = svc.imports.get(tenant_id, import_id).await? else {
        return Ok(());
    };
    if !import.is_reverting() {
        return Ok(());
    }
    let images: Vec<BeforeImage> = match &msg.before_images {
        Some(key) => serde_json::from_slice(&svc.files.read(key).await?)
            .map_err(|e| Error::Internal(format!("before-images {key}: {e}")))?,
        None => vec![],
    };
    let resource = import.resource_type;
    let alternate = identifiers::alternate(resource);
    for attempt in 0..MAX_ATTEMPTS {
        let ids: Vec<String> = images.iter().map(|i| i.identifier.clone()).chain(msg.created.iter().cloned()).collect();
        let current = svc.records.get_many(tenant_id, resource, &ids).await?;
        let fields = images.iter().filter_map(|i| i.before.as_ref()).chain(current.values()).map(|r| &r.fields);
        let holders = holders_of(svc, tenant_id, resource, fields).await?;
        let mut write = RevertWrite {
            tenant_id: tenant_id.into(),
            import_id: import_id.into(),
            resource_type: resource,
            unit: msg.unit.clone(),
            writes: vec![],
            deleted: 0,
            restored: 0,
            conflicts: vec![],
        };
        for image in &images {
            let now = current.get(&image.identifier);
            let untouched = match (&image.after, now) {
                (Some(after), Some(cur)) => cur.fields == *after,
                (None, None) => true,
                _ => false,
            };
            // The previous alternate value must still be free for the record to take it back.
            let value_free = |before: &StoredRecord| {
                let value = alternate.and_then(|f| identifiers::value_of(resource, f, &before.fields));
                value.and_then(|v| holders.get(&v)).is_none_or(|holder| *holder == image.identifier)
            };
            match (&image.before, now) {
                _ if !untouched => write.conflicts.push(image.identifier.clone()),
                (None, Some(cur)) => {
                    write.writes.push(deletion(resource, alternate, cur, &holders));
                    write.deleted += 1;
                }
                (Some(before), now) if value_free(before) => {
                    let restored = StoredRecord {
                        version: now.map_or(before.version, |c| c.version) + 1,
                        updated_at: domain::time_fmt::now(),
                        ..before.clone()
                    };
                    let index = index_changes(resource, alternate, now, &restored, &holders);
                    let expected_version = now.map(|c| c.version);
                    write.writes.push(RecordWrite { record: restored, expected_version, index, delete: false });
                    write.restored += 1;
                }
                _ => write.conflicts.push(image.identifier.clone()),
            }
        }
        for identifier in &msg.created {
            match current.get(identifier) {
                // Still as this import left it: a write of any other import names that import.
                Some(cur) if cur.last_import_id == import_id => {
                    write.writes.push(deletion(resource, alternate, cur, &holders));
                    write.deleted += 1;
                }
                _ => write.conflicts.push(identifier.clone()),
            }
        }
        match svc.records.apply_revert(&write).await {
            Ok(Applied::Now | Applied::Before) => return finish_if_done(svc, tenant_id, import_id).await,
            Ok(Applied::Conflict) => {
                tracing::info!(tenant_id, import_id, attempt, "records changed under a revert unit; reading again");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(Error::NotFound) => return Ok(()), // the import is gone
            Err(e) => return Err(e),
        }
    }
    Err(Error::Contention(format!("revert unit {} kept conflicting", msg.unit)))
}

/// Whichever unit closes the revert marks it reverted and publishes `reverted`, once.
async fn finish_if_done(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    let Some(StoredImport { import, .. }) = svc.imports.get(tenant_id, import_id).await? else { return Ok(()) };
    let Some(state) = import.revert else { return Ok(()) };
    if state.status != RevertStatus::Reverting || state.units_total != Some(state.units_done) {
        return Ok(());
    }
    if svc.imports.finish_revert(tenant_id, import_id).await? {
        tracing::info!(tenant_id, import_id, restored = state.restored, conflicts = state.conflicts, "import reverted");
        publishing::publish(svc, tenant_id, import_id, Kind::Reverted, None).await?;
        type_hold::leave(svc, tenant_id, import.resource_type, import_id).await?;
    }
    Ok(())
}
