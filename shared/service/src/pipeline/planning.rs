//! What every scan of an upload shares, in one invocation (`prevalidate`) or in parts
//! (`scan_parts`): its rules, what a failure of it does, and what its plan readies.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ports::Queue;
use crate::publishing;
use crate::services::Services;
use domain::budget;
use domain::chunking::{Chunk, ScanError, ScanRules};
use domain::error::{Error, Result};
use domain::events::Kind;
use domain::import::{Import, Plan, Status};
use domain::messages::{encode, Source, TransformJob, TransformMessage};
use domain::record::{Fields, ResourceType, StoredRecord};
use domain::sync::Changes;
use domain::time_fmt;

use super::complete::{fail, SOURCE_REPLACED};
use super::type_hold;

/// What the scan needs of the import.
pub(super) fn scan_rules<'a>(
    svc: &Services,
    import: &'a Import,
    requested_mappings: &'a BTreeMap<String, Option<String>>,
    schema: Option<&'a domain::schema::Schema>,
) -> ScanRules<'a> {
    ScanRules {
        resource: import.resource_type,
        identifier_field: &import.identifier_field,
        explicit: requested_mappings,
        options: &import.options,
        duplicates: import.duplicates,
        chunk_rows: svc.settings.chunk_rows,
        csv: &import.csv,
        preview: import.in_preview,
        schema,
        action: import.action,
    }
}

/// A scan that could not finish: the file's fault fails the run, the rest is retried.
pub(super) async fn scan_failed(svc: &Services, import: &Import, run: u32, e: ScanError) -> Result<()> {
    let (tenant_id, import_id) = (import.tenant_id.as_str(), import.id.as_str());
    let from = [Status::AwaitingUpload, Status::Queued];
    match e {
        ScanError::Read(e) if source_changed(&e) => {
            tracing::info!(tenant_id, import_id, "the upload changed since it was planned");
            fail(svc, tenant_id, import_id, run, &from, SOURCE_REPLACED).await.map(drop)
        }
        ScanError::Read(e) => Err(Error::aws("s3", e)),
        e @ ScanError::Spill(_) => Err(Error::Internal(e.to_string())),
        ScanError::Bad(bad) => {
            tracing::info!(tenant_id, import_id, reason = %bad, "file cannot be imported");
            fail(svc, tenant_id, import_id, run, &from, &budget::reason(&bad)).await.map(drop)
        }
    }
}

/// Sends a run's chunks to transform, read from `source`, a group at a time: a big file's plan
/// never sits in memory as bodies.
pub(super) async fn send_chunks(
    svc: &Services,
    import: &Import,
    run: u32,
    source: &Source,
    empty_type: bool,
    chunks: impl IntoIterator<Item = Chunk>,
) -> Result<()> {
    let tenant_id = import.tenant_id.as_str();
    let mut bodies = Vec::with_capacity(SEND_GROUP);
    for chunk in chunks {
        let message = TransformMessage {
            tenant_id: tenant_id.into(),
            import_id: import.id.clone(),
            run,
            source: source.clone(),
            chunk,
            empty_type,
        };
        bodies.push(encode(&TransformJob::Chunk(message))?);
        if bodies.len() == SEND_GROUP {
            svc.queue.send(Queue::Transform, tenant_id, std::mem::take(&mut bodies)).await?;
        }
    }
    if !bodies.is_empty() {
        svc.queue.send(Queue::Transform, tenant_id, bodies).await?;
    }
    Ok(())
}

/// Transform messages sent per call to the queue (which sends them in batches of its own).
const SEND_GROUP: usize = 100;

/// Stores a run's plan and, unless it stops at the preview, readies the run: its groups
/// created and its type held when empty. Whether the type is empty, when the chunks are to be
/// sent.
pub(super) async fn queue_plan(svc: &Services, import: &Import, plan: &mut Plan) -> Result<Option<bool>> {
    let (tenant_id, import_id, run) = (import.tenant_id.as_str(), import.id.as_str(), plan.run);
    if import.in_preview {
        let best = crate::templates::best_for(svc, tenant_id, import.resource_type, &plan.file_headers).await?;
        plan.suggested_template = best.map(|(suggested, _)| suggested);
    }
    if !svc.imports.save_plan(tenant_id, import_id, plan).await? {
        return Ok(None);
    }
    if import.in_preview {
        if svc.imports.preview_ready(tenant_id, import_id, run).await? {
            publishing::publish(svc, tenant_id, import_id, Kind::PreviewReady, Some(run)).await?;
        }
        tracing::info!(tenant_id, import_id, rows = plan.file.rows, "preview ready");
        return Ok(None);
    }
    if !import.dry_run {
        create_groups(svc, tenant_id, import_id, &import.changes).await?;
    }
    Ok(Some(type_hold::claim(svc, import, run).await?))
}

pub(super) fn source_changed(e: &std::io::Error) -> bool {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()).is_some_and(|e| matches!(e, Error::SourceChanged))
}

/// Creates the group records the import adds contacts to and that do not exist yet. Run once per
/// run before any batch is sent; creating is conditional, so a redelivery or a concurrent
/// import creating the same group changes nothing.
async fn create_groups(svc: &Services, tenant_id: &str, import_id: &str, changes: &Changes) -> Result<()> {
    let now = time_fmt::now();
    let groups: Vec<StoredRecord> = changes
        .added_groups()
        .map(|name| StoredRecord {
            identifier: name.to_string(),
            fields: Fields::from_iter([("name".to_string(), Value::String(name.to_string()))]),
            created_at: now,
            updated_at: now,
            last_import_id: import_id.to_string(),
            version: 1,
            seen_by: None,
        })
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let created = svc.records.create_missing(tenant_id, ResourceType::Group, &groups).await?;
    tracing::info!(tenant_id, import_id, created, "groups of sync actions exist");
    Ok(())
}
