//! transform: one chunk of the upload. Read just its byte range as a stream, map and validate
//! each row, and send the valid records on in batches sized for one process transaction.

use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use crate::dialect::Dialect;
use crate::error::{Error, Result};
use crate::error_files::ErrorLines;
use crate::events::{self, Kind};
use crate::identifiers;
use crate::import::{Action, Status};
use crate::mapping;
use crate::messages::{decode, encode, ProcessMessage, TransformMessage, TransformWork};
use crate::ports::{Queue, StoredImport};
use crate::results::RowLines;
use crate::services::Services;
use crate::stats::Tally;
use crate::validate::{Candidate, RowError, RowRules};

use super::complete::{complete_if_done, fail};

/// A process transaction holds the batch's ledger entry, the import's stats and its records:
/// DynamoDB takes 100 items in one transaction.
pub const BATCH_RECORDS: usize = 98;
/// With an alternate identifier's index to keep, a record may take three items (itself, the
/// value it claims, the value it releases).
pub const INDEXED_BATCH_RECORDS: usize = 32;
/// Keeps a process message well under SQS's 1 MiB.
pub const BATCH_BYTES: usize = 256 * 1024;
/// SendMessageBatch takes ten messages.
const SEND_GROUP: usize = 10;

/// What one process message will carry.
#[derive(Default)]
struct Batch {
    records: Vec<Candidate>,
    /// Identifiers of error rows an overwrite must not remove the records of.
    keep: Vec<String>,
}

impl Batch {
    /// Each takes a place in the process transaction.
    fn len(&self) -> usize {
        self.records.len() + self.keep.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The transform queue carries chunks, and plans of runs started through the API.
pub async fn run(svc: &Services, body: &str) -> Result<()> {
    match decode::<TransformWork>(body)? {
        TransformWork::Chunk(msg) => transform(svc, msg).await,
        TransformWork::Plan(plan) => super::prevalidate::replan(svc, &plan.tenant_id, &plan.import_id, plan.run).await,
        TransformWork::Revert(plan) => super::revert::plan(svc, plan).await,
    }
}

async fn transform(svc: &Services, msg: TransformMessage) -> Result<()> {
    let (tenant_id, import_id, chunk, run) = (msg.tenant_id.as_str(), msg.import_id.as_str(), &msg.chunk, msg.run);
    let Some(StoredImport { import, progress, .. }) = svc.imports.get(tenant_id, import_id).await? else {
        tracing::warn!(tenant_id, import_id, "chunk of an unknown import; dropped");
        return Ok(());
    };
    if import.status.is_final() || progress.run != run {
        tracing::info!(tenant_id, import_id, status = import.status.as_str(), run, "chunk of a finished run dropped");
        return Ok(());
    }
    if svc.imports.start(tenant_id, import_id).await? {
        events::publish(svc, tenant_id, import_id, Kind::Started).await?;
    }

    let columns = mapping::resolve(import.resource_type, &import.file_headers, &import.mappings)
        .map_err(|_| Error::Internal("stored mappings do not resolve".into()))?;
    let dialect = Dialect::for_reading(msg.source.encoding, msg.source.delimiter);
    let source = &msg.source;
    let opened = match svc.files.open(&source.key, Some((chunk.start, chunk.end)), source.etag.as_deref()).await {
        Err(Error::SourceChanged) => {
            // The byte ranges were planned for the first file; the new one needs an import of its own.
            let reason = "the upload was replaced while it was being imported; upload it to a new import";
            fail(svc, tenant_id, import_id, run, &[Status::Queued, Status::Processing], reason).await?;
            return Ok(());
        }
        other => other?,
    };
    let bridge = SyncIoBridge::new(opened.stream);
    let (tx, mut rx) = mpsc::channel::<Batch>(2);
    let chunk_copy = chunk.clone();
    let import_max_error_ratio = import.max_error_ratio;
    let (resource_type, dry_run) = (import.resource_type, import.dry_run);
    let (import_rule, update, action) = (import.import_rule, import.update.clone(), import.action);
    let match_on =
        (import.identifier_field != resource_type.default_identifier()).then(|| import.identifier_field.clone());
    // An overwrite keeps the records its error rows name (`Batch::keep`).
    let keeps = action == Action::Overwrite && match_on.is_none();
    // A delete releases whatever alternate value a record holds, named by the file or not.
    let batch_records = match identifiers::alternate(resource_type) {
        Some(f)
            if action == Action::Delete
                || columns.column_of(f).is_some()
                || import.options.constants.contains_key(f) =>
        {
            INDEXED_BATCH_RECORDS
        }
        _ => BATCH_RECORDS,
    };
    // Parsing is blocking work; batches flow out through a bounded channel, so memory stays
    // flat however large the chunk.
    let parse = tokio::task::spawn_blocking(move || -> Result<(Tally, ErrorLines, RowLines)> {
        let read = columns.for_action(import.action, &import.identifier_field);
        let rules = RowRules {
            resource: import.resource_type,
            identifier_field: &import.identifier_field,
            headers: &import.file_headers,
            columns: &read,
            options: &import.options,
        };
        let mut tally = Tally::default();
        let mut error_lines = ErrorLines::default();
        let mut row_lines = RowLines::default();
        let id_column = columns.column_of(&import.identifier_field);
        let mut batches_sent = 0u64;
        let mut batch = Batch::default();
        let mut batch_bytes = 0;
        let mut reader = dialect.reader(bridge, false);
        let mut raw = csv::ByteRecord::new();
        let mut row = chunk_copy.first_row;
        let end_row = chunk_copy.first_row + chunk_copy.rows;
        while row < end_row {
            match reader.read_byte_record(&mut raw) {
                Ok(true) => {}
                Ok(false) => return Err(Error::Internal(format!("chunk ended at row {row}, before row {end_row}"))),
                Err(e) => return Err(Error::Internal(format!("row {row} no longer reads: {e}"))),
            }
            let record = dialect.decode(&raw).ok_or_else(|| Error::Internal(format!("row {row} no longer decodes")))?;
            let raw_id = id_column.and_then(|i| record.get(i)).unwrap_or_default().trim();
            if chunk_copy.skip_rows.binary_search(&row).is_ok() {
                tally.duplicates += 1;
                tally.warnings += 1;
                tally.skipped += 1;
                row_lines.decided(row, raw_id, "skipped_duplicate", "");
            } else {
                // Every copy of a duplicate under `duplicates: error` is an error row.
                let built = if chunk_copy.duplicate_rows.binary_search(&row).is_ok() {
                    tally.duplicates += 1;
                    Err(vec![duplicate_error(row, &rules)])
                } else {
                    rules.build(row, &record)
                };
                let keep = built.as_ref().err().filter(|_| keeps).and_then(|_| rules.identifier_of(&record));
                let size = built.as_ref().map_or_else(|_| keep.as_ref().map_or(0, String::len), Candidate::encoded_len);
                if size > 0 && (batch.len() == batch_records || (batch_bytes + size > BATCH_BYTES && !batch.is_empty()))
                {
                    tx.blocking_send(std::mem::take(&mut batch)).map_err(|_| Error::Internal("sender gone".into()))?;
                    batches_sent += 1;
                    batch_bytes = 0;
                }
                batch_bytes += size;
                match built {
                    Ok(candidate) => {
                        row_lines.pending(row, raw_id, &candidate.identifier, batches_sent, batch.records.len());
                        batch.records.push(candidate);
                    }
                    Err(errors) => {
                        tally.errors += 1;
                        error_lines.add(&import.file_headers, &record, &errors);
                        row_lines.decided(row, raw_id, "error", "");
                        batch.keep.extend(keep);
                    }
                }
            }
            row += 1;
        }
        if !batch.is_empty() {
            tx.blocking_send(batch).map_err(|_| Error::Internal("sender gone".into()))?;
        }
        Ok((tally, error_lines, row_lines))
    });

    let mut batches = 0u64;
    let mut pending = Vec::with_capacity(SEND_GROUP);
    while let Some(Batch { records, keep }) = rx.recv().await {
        pending.push(encode(&ProcessMessage {
            tenant_id: tenant_id.into(),
            import_id: import_id.into(),
            resource_type,
            match_on: match_on.clone(),
            action,
            run,
            import_rule,
            update: update.clone(),
            dry_run,
            changes: import.changes.clone(),
            chunk: chunk.index,
            batch: batches,
            records,
            keep,
        })?);
        batches += 1;
        if pending.len() == SEND_GROUP {
            svc.queue.send(Queue::Process, std::mem::take(&mut pending)).await?;
        }
    }
    let (tally, error_lines, row_lines) = parse.await.map_err(|e| Error::Internal(format!("parse task: {e}")))??;
    // The parts are stored before the chunk counts, so a completed import has all its parts.
    if !error_lines.is_empty() {
        error_lines.save(svc, tenant_id, import_id, run, &format!("{:010}", chunk.index)).await?;
    }
    row_lines.save(svc, tenant_id, import_id, run, chunk.index).await?;
    if !pending.is_empty() {
        svc.queue.send(Queue::Process, pending).await?;
    }
    match svc.imports.record_chunk(tenant_id, import_id, run, chunk, batches, &tally).await {
        Ok(true) => tracing::info!(
            tenant_id,
            import_id,
            chunk = chunk.index,
            batches,
            errors = tally.errors,
            "chunk transformed"
        ),
        Ok(false) => {}
        Err(Error::NotFound) => {
            tracing::warn!(tenant_id, import_id, "chunk of a stopped or deleted import; dropped");
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    if let Some(ratio) = import_max_error_ratio {
        stop_if_too_many_errors(svc, tenant_id, import_id, run, ratio).await?;
    }
    complete_if_done(svc, tenant_id, import_id).await?;
    Ok(())
}

/// Every copy of an identifier is an error under `duplicates: error`.
fn duplicate_error(row: u64, rules: &RowRules) -> RowError {
    let column = rules.columns.column_of(rules.identifier_field).map(|i| rules.headers[i].clone());
    RowError {
        row,
        column,
        field: Some(rules.identifier_field.to_string()),
        code: "duplicate_identifier".into(),
        message: "another row of the file has the same identifier".into(),
    }
}

/// SPEC §5 `max_error_ratio`: the import fails once the errors among the rows gone through so
/// far pass the ratio: rows of transformed chunks, whose outcomes are decided even while their
/// records are still being written. Later chunks and batches of a failed import are dropped.
async fn stop_if_too_many_errors(svc: &Services, tenant_id: &str, import_id: &str, run: u32, ratio: f64) -> Result<()> {
    let Some(StoredImport { import, progress, .. }) = svc.imports.get(tenant_id, import_id).await? else {
        return Ok(());
    };
    let (errors, seen) = (import.stats.errors, progress.rows_transformed);
    if seen > 0 && errors as f64 > ratio * seen as f64 {
        let from = [Status::AwaitingUpload, Status::Queued, Status::Processing];
        if fail(svc, tenant_id, import_id, run, &from, "too_many_errors").await? {
            tracing::info!(tenant_id, import_id, errors, rows = seen, ratio, "too many errors");
        }
    }
    Ok(())
}
