//! transform: one chunk of the upload. Read just its byte range as a stream, map and validate
//! each row, and send the valid records on in batches sized for one process transaction.

use std::io::{Read, Write};

use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use crate::outputs;
use crate::ports::{ChunkCount, Queue, StoredImport};
use crate::publishing;
use crate::services::Services;
use domain::chunking::Chunk;
use domain::dialect::{Dialect, Encoding};
use domain::error::{Error, Result};
use domain::error_files::ErrorLines;
use domain::events::Kind;
use domain::identifiers;
use domain::import::Status;
use domain::mapping;
use domain::messages::{decode, encode, ProcessJob, ProcessMessage, TransformJob, TransformMessage};
use domain::options::Action;
use domain::results::RowLines;
use domain::stats::Tally;
use domain::time_fmt;
use domain::validate::{Cells, RowError, RowRules};

use super::complete::{fail, send_finish_if_done, SOURCE_REPLACED};
use super::finish::complete_if_done;

/// A process transaction holds the batch's ledger entry, the import's stats and its records:
/// DynamoDB takes 100 items in one transaction.
pub const BATCH_RECORDS: usize = 98;
/// With an alternate identifier's index to keep, a record may take three items (itself, the
/// value it claims, the value it releases).
pub const INDEXED_BATCH_RECORDS: usize = 32;
/// A run into an empty type writes its records unread, and unconditioned while it holds the
/// type (`type_hold`): outside a transaction, so a batch is cut by its bytes rather than a
/// transaction's items. Each batch costs a ledger transaction, two reads and its messages:
/// several times fewer of them. A batch that must be written conditioned after all is written
/// in parts.
pub const UNREAD_BATCH_RECORDS: usize = 1_000;
/// Keeps a process message well under SQS's 1 MiB.
pub const BATCH_BYTES: usize = 256 * 1024;
/// SendMessageBatch takes ten messages.
const SEND_GROUP: usize = 10;

/// The transform queue carries chunks, plans of runs started through the API and of reverts,
/// the message that completes a run, pulls of sources, and scans that go on.
pub async fn run(svc: &Services, body: &str) -> Result<()> {
    match decode::<TransformJob>(body)? {
        TransformJob::Chunk(msg) => transform(svc, msg).await,
        TransformJob::PlanRun(plan) => {
            super::prevalidate::replan(svc, &plan.tenant_id, &plan.import_id, plan.run).await
        }
        TransformJob::PlanRevert(import) => super::revert::plan(svc, import).await,
        TransformJob::FinishRun(import) => complete_if_done(svc, &import.tenant_id, &import.import_id).await,
        TransformJob::Pull(import) => super::pull::run(svc, &import.tenant_id, &import.import_id).await,
        TransformJob::Scan(step) => super::scan_parts::run(svc, step).await,
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
    let began = time_fmt::now();
    let columns = mapping::resolve(import.resource_type, &import.file_headers, &import.mappings)
        .map_err(|_| Error::Internal("stored mappings do not resolve".into()))?;
    let dialect = Dialect::for_reading(msg.source.encoding, msg.source.delimiter);
    let source = &msg.source;
    let opened = match svc.files.open(&source.key, Some((chunk.start, chunk.end)), source.etag.as_deref()).await {
        Err(Error::SourceChanged) => {
            // The byte ranges were planned for the first file; the new one needs an import of its own.
            fail(svc, tenant_id, import_id, run, &[Status::Queued, Status::Processing], SOURCE_REPLACED).await?;
            return Ok(());
        }
        other => other?,
    };
    // A delete reads only the identifier: no other field's definition applies.
    let schema = match import.action {
        Action::Delete => None,
        _ => crate::schemas::of_import(svc, &import).await?,
    };
    let bridge = SyncIoBridge::new(opened.stream);
    let chunk_copy = chunk.clone();
    let limits = ErrorLimits { ratio: import.max_error_ratio, count: import.max_errors };
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
        _ if msg.empty_type => UNREAD_BATCH_RECORDS,
        _ => BATCH_RECORDS,
    };
    let template = ProcessMessage {
        tenant_id: tenant_id.into(),
        import_id: import_id.into(),
        resource_type,
        match_on,
        action,
        run,
        import_rule,
        update,
        dry_run,
        changes: import.changes.clone(),
        chunk: chunk.index,
        batch: 0,
        records: vec![],
        keep: vec![],
        empty_type: msg.empty_type,
    };
    // Parsing is blocking work; message bodies flow out through a bounded channel, so memory
    // stays flat however large the chunk.
    let (tx, mut rx) = mpsc::channel::<String>(2);
    let parse = tokio::task::spawn_blocking(move || {
        let read = columns.for_action(import.action, &import.identifier_field);
        let work = ChunkRows {
            rules: RowRules {
                resource: import.resource_type,
                identifier_field: &import.identifier_field,
                headers: &import.file_headers,
                columns: &read,
                options: &import.options,
                schema: schema.as_deref(),
            },
            dialect,
            chunk: &chunk_copy,
            keeps,
            batch_records,
            message: &template,
        };
        transform_rows(bridge, &work, |body| tx.blocking_send(body).map_err(|_| Error::Internal("sender gone".into())))
    });

    let mut batches = 0u64;
    let mut pending = Vec::with_capacity(SEND_GROUP);
    while let Some(body) = rx.recv().await {
        pending.push(body);
        batches += 1;
        if pending.len() == SEND_GROUP {
            svc.queue.send(Queue::Process, tenant_id, std::mem::take(&mut pending)).await?;
        }
    }
    let (tally, error_lines, row_lines) = parse.await.map_err(|e| Error::Internal(format!("parse task: {e}")))??;
    // The parts are stored before the chunk counts, so a completed import has all its parts.
    if !error_lines.is_empty() {
        outputs::save_errors(svc, error_lines, tenant_id, import_id, run, &format!("{:010}", chunk.index)).await?;
    }
    outputs::save_rows(svc, row_lines, tenant_id, import_id, run, chunk.index).await?;
    if !pending.is_empty() {
        svc.queue.send(Queue::Process, tenant_id, pending).await?;
    }
    let count = ChunkCount { chunk, batches, tally: &tally, began };
    match svc.imports.record_chunk(tenant_id, import_id, run, &count).await {
        Ok(true) => {
            tracing::info!(
                tenant_id,
                import_id,
                chunk = chunk.index,
                batches,
                errors = tally.errors,
                "chunk transformed"
            );
            // The first chunk counted started the run in that write, and says so.
            if import.status == Status::Queued {
                let progress = svc.imports.progress(tenant_id, import_id).await?;
                if progress.and_then(|p| p.start).is_some_and(|s| s.chunk == chunk.index) {
                    publishing::publish(svc, tenant_id, import_id, Kind::Started, Some(run)).await?;
                }
            }
        }
        Ok(false) => {}
        Err(Error::NotFound) => {
            tracing::warn!(tenant_id, import_id, "chunk of a stopped or deleted import; dropped");
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    if limits.ratio.is_some() || limits.count.is_some() {
        stop_if_too_many_errors(svc, tenant_id, import_id, run, limits).await?;
    }
    send_finish_if_done(svc, tenant_id, import_id).await?;
    Ok(())
}

/// What transforming a chunk's rows takes.
pub struct ChunkRows<'a> {
    pub rules: RowRules<'a>,
    pub dialect: Dialect,
    pub chunk: &'a Chunk,
    /// An overwrite keeps the records its error rows name (`ProcessMessage::keep`).
    pub keeps: bool,
    /// Records and kept identifiers a message takes.
    pub batch_records: usize,
    /// What every message of the chunk says besides its batch number, records and keeps.
    pub message: &'a ProcessMessage,
}

/// The row work of a chunk, blocking: parses the chunk's bytes, maps, validates and normalizes
/// each row, and hands each process message's body to `send` as its batch fills. Returns the
/// chunk's counts, its errors file part and its results file part.
pub fn transform_rows(
    reader: impl Read,
    work: &ChunkRows,
    mut send: impl FnMut(String) -> Result<()>,
) -> Result<(Tally, ErrorLines, RowLines)> {
    let (rules, chunk) = (&work.rules, work.chunk);
    let plan = rules.plan();
    let mut tally = Tally::default();
    let mut error_lines = ErrorLines::default();
    let mut row_lines = RowLines::default();
    let id_column = rules.columns.column_of(rules.identifier_field);
    let mut batch = Batch::new(work.message)?;
    let mut batch_bytes = 0;
    let mut reader = work.dialect.reader_at(reader, chunk.start);
    let (mut raw, mut decoded) = (csv::ByteRecord::new(), csv::StringRecord::new());
    let (mut json, mut identifier) = (Vec::new(), String::new());
    let mut row = chunk.first_row;
    let end_row = chunk.first_row + chunk.rows;
    while row < end_row {
        match reader.read_byte_record(&mut raw) {
            Ok(true) => {}
            Ok(false) => return Err(Error::Internal(format!("chunk ended at row {row}, before row {end_row}"))),
            Err(e) => return Err(Error::Internal(format!("row {row} no longer reads: {e}"))),
        }
        let record = decode_row(&work.dialect, &raw, &mut decoded)
            .ok_or_else(|| Error::Internal(format!("row {row} no longer decodes")))?;
        let raw_id = id_column.and_then(|i| record.get(i)).unwrap_or_default().trim();
        if chunk.skip_rows.binary_search(&row).is_ok() {
            tally.duplicates += 1;
            tally.warnings += 1;
            tally.skipped += 1;
            row_lines.decided(row, raw_id, "skipped_duplicate", "");
        } else {
            // Every copy of a duplicate under `duplicates: error` is an error row.
            json.clear();
            let built = if chunk.duplicate_rows.binary_search(&row).is_ok() {
                tally.duplicates += 1;
                Err(vec![duplicate_error(row, rules)])
            } else {
                plan.encode(row, record, &mut json, &mut identifier)
            };
            let keep = built.as_ref().err().filter(|_| work.keeps).and_then(|_| rules.identifier_of(record));
            let size = if built.is_ok() { json.len() } else { keep.as_ref().map_or(0, String::len) };
            if size > 0
                && (batch.len() == work.batch_records || (batch_bytes + size > BATCH_BYTES && !batch.is_empty()))
            {
                send(batch.finish()?)?;
                batch_bytes = 0;
            }
            batch_bytes += size;
            match built {
                Ok(()) => {
                    row_lines.pending(row, raw_id, &identifier, batch.number, batch.records);
                    batch.push(&json);
                }
                Err(errors) => {
                    tally.errors += 1;
                    error_lines.add(rules.headers, record, &errors);
                    row_lines.decided(row, raw_id, "error", "");
                    batch.keep.extend(keep);
                }
            }
        }
        row += 1;
    }
    if !batch.is_empty() {
        send(batch.finish()?)?;
    }
    Ok((tally, error_lines, row_lines))
}

/// A row's values as text; None when one is not valid in the file's encoding. UTF-8 rows are
/// checked in place, not copied; others are decoded into `decoded`.
fn decode_row<'r>(
    dialect: &Dialect,
    raw: &'r csv::ByteRecord,
    decoded: &'r mut csv::StringRecord,
) -> Option<Cells<'r>> {
    if dialect.encoding == Encoding::Windows1252 {
        *decoded = dialect.decode(raw)?;
        return Some(Cells::from(&*decoded));
    }
    Cells::checked(raw)
}

/// One process message being filled: its body is written as records come, the envelope
/// encoded once per chunk.
struct Batch {
    /// The message's JSON up to its `batch` number.
    head: String,
    number: u64,
    body: Vec<u8>,
    records: usize,
    /// Identifiers of error rows an overwrite must not remove the records of.
    keep: Vec<String>,
}

/// How a [`ProcessMessage`] without records or keeps ends.
const EMPTY_TAIL: &str = r#""batch":0,"records":[]}"#;

impl Batch {
    fn new(message: &ProcessMessage) -> Result<Self> {
        let empty = ProcessMessage { batch: 0, records: vec![], keep: vec![], ..message.clone() };
        let head = encode(&ProcessJob::WriteBatch(empty))?
            .strip_suffix(EMPTY_TAIL)
            .map(str::to_string)
            .ok_or_else(|| Error::Internal("a process message no longer ends with its records".into()))?;
        let mut batch = Self { head, number: 0, body: Vec::new(), records: 0, keep: Vec::new() };
        batch.open();
        Ok(batch)
    }

    fn open(&mut self) {
        self.body.extend_from_slice(self.head.as_bytes());
        // Writing into a Vec cannot fail.
        let _ = write!(self.body, "\"batch\":{},\"records\":[", self.number);
    }

    /// Each takes a place in the process transaction.
    fn len(&self) -> usize {
        self.records + self.keep.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a record's JSON.
    fn push(&mut self, record: &[u8]) {
        if self.records > 0 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(record);
        self.records += 1;
    }

    /// The message's body, as `messages::encode` writes it; the next batch starts empty.
    fn finish(&mut self) -> Result<String> {
        let capacity = self.body.capacity();
        let mut body = std::mem::replace(&mut self.body, Vec::with_capacity(capacity));
        body.push(b']');
        if !self.keep.is_empty() {
            body.extend_from_slice(b",\"keep\":");
            serde_json::to_writer(&mut body, &self.keep).map_err(|e| Error::Internal(e.to_string()))?;
            self.keep.clear();
        }
        body.push(b'}');
        self.number += 1;
        self.records = 0;
        self.open();
        String::from_utf8(body).map_err(|e| Error::Internal(e.to_string()))
    }
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

/// `max_error_ratio` and `max_errors`: how many row errors an import takes.
#[derive(Debug, Clone, Copy)]
struct ErrorLimits {
    ratio: Option<f64>,
    count: Option<u64>,
}

impl ErrorLimits {
    /// Whether `errors` among `seen` rows are more than the import takes.
    fn passed(self, errors: u64, seen: u64) -> bool {
        self.count.is_some_and(|most| errors > most)
            || self.ratio.is_some_and(|ratio| seen > 0 && errors as f64 > ratio * seen as f64)
    }
}

/// The import fails once the errors among the rows gone through so far pass its limits: rows of
/// transformed chunks, whose outcomes are decided even while their records are still being
/// written. Later chunks and batches of a failed import are dropped.
async fn stop_if_too_many_errors(
    svc: &Services,
    tenant_id: &str,
    import_id: &str,
    run: u32,
    limits: ErrorLimits,
) -> Result<()> {
    let Some(StoredImport { import, progress, .. }) = svc.imports.get(tenant_id, import_id).await? else {
        return Ok(());
    };
    let (errors, seen) = (import.stats.errors, progress.rows_transformed);
    if limits.passed(errors, seen) {
        let from = [Status::AwaitingUpload, Status::Queued, Status::Processing];
        if fail(svc, tenant_id, import_id, run, &from, "too_many_errors").await? {
            tracing::info!(tenant_id, import_id, errors, rows = seen, ?limits, "too many errors");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use domain::messages::decode;
    use domain::record::ResourceType;
    use domain::validate::RowOptions;

    fn message() -> ProcessMessage {
        ProcessMessage {
            tenant_id: "t\"1".into(),
            import_id: "i1".into(),
            resource_type: ResourceType::Contact,
            match_on: None,
            action: Action::Overwrite,
            run: 2,
            import_rule: Default::default(),
            update: Default::default(),
            dry_run: true,
            changes: Default::default(),
            chunk: 3,
            batch: 0,
            records: vec![],
            keep: vec![],
            empty_type: false,
        }
    }

    #[test]
    fn error_limits_are_a_count_and_a_share_each_passed_by_more() {
        let count = ErrorLimits { ratio: None, count: Some(2) };
        assert!(!count.passed(2, 2) && count.passed(3, 100));
        let none = ErrorLimits { ratio: None, count: Some(0) };
        assert!(!none.passed(0, 5) && none.passed(1, 5));
        let share = ErrorLimits { ratio: Some(0.5), count: None };
        assert!(!share.passed(0, 0) && !share.passed(5, 10) && share.passed(6, 10));
        let both = ErrorLimits { ratio: Some(0.9), count: Some(3) };
        assert!(both.passed(4, 100), "either limit stops the import");
    }

    #[test]
    fn rows_become_the_messages_results_and_errors_of_their_rules() {
        let headers: Vec<String> = ["Email", "Status", "Notes"].map(String::from).to_vec();
        let columns = mapping::resolve(ResourceType::Contact, &headers, &BTreeMap::new()).unwrap();
        let options = RowOptions::default();
        let rules = RowRules {
            resource: ResourceType::Contact,
            identifier_field: "email",
            headers: &headers,
            columns: &columns,
            options: &options,
            schema: None,
        };
        let file =
            "A@x.co,Subscribed,\"one, \"\"two\"\"\"\nbad@x,nope,\nc@x.co,,\nc@x.co,pending,\nd@x.co,,x\n=e@x.co,,\n";
        let chunk = Chunk {
            index: 3,
            start: 0,
            end: file.len() as u64,
            first_row: 10,
            rows: 5,
            skip_rows: vec![12],
            duplicate_rows: vec![13],
        };
        let template = message();
        let work = ChunkRows {
            rules: rules.clone(),
            dialect: Dialect::for_reading(Encoding::Utf8, ','),
            chunk: &chunk,
            keeps: true,
            batch_records: 2,
            message: &template,
        };
        let mut bodies = Vec::new();
        let (tally, errors, lines) = transform_rows(file.as_bytes(), &work, |body| {
            bodies.push(body);
            Ok(())
        })
        .unwrap();
        assert_eq!((tally.errors, tally.duplicates, tally.skipped), (2, 2, 1));
        assert!(!errors.is_empty());
        // Each body is what encoding the message whole gives; the sixth row is past the chunk.
        let records = |rows: &[(u64, &str)]| -> Vec<_> {
            rows.iter()
                .map(|(row, line)| {
                    rules.build(*row, &csv::StringRecord::from(line.split('|').collect::<Vec<_>>())).unwrap()
                })
                .collect()
        };
        let expected = [
            ProcessMessage {
                batch: 0,
                records: records(&[(10, "A@x.co|Subscribed|one, \"two\"")]),
                keep: vec!["c@x.co".into()],
                ..message()
            },
            ProcessMessage { batch: 1, records: records(&[(14, "d@x.co||x")]), keep: vec![], ..message() },
        ];
        assert_eq!(bodies.len(), expected.len());
        for (body, want) in bodies.iter().zip(&expected) {
            let want = ProcessJob::WriteBatch(want.clone());
            assert_eq!(body, &encode(&want).unwrap());
            assert_eq!(decode::<ProcessJob>(body).unwrap(), want);
        }
        let lines = String::from_utf8(lines.into_bytes()).unwrap();
        assert_eq!(lines, "10,A@x.co,@0:0,a@x.co\n11,bad@x,error,\n12,c@x.co,skipped_duplicate,\n13,c@x.co,error,\n14,d@x.co,@1:0,d@x.co\n");
    }

    #[test]
    fn a_chunk_that_ends_early_or_stops_decoding_fails() {
        let headers = vec!["Email".to_string()];
        let columns = mapping::resolve(ResourceType::Contact, &headers, &BTreeMap::new()).unwrap();
        let options = RowOptions::default();
        let template = message();
        let chunk =
            Chunk { index: 0, start: 0, end: 0, first_row: 1, rows: 2, skip_rows: vec![], duplicate_rows: vec![] };
        let work = ChunkRows {
            rules: RowRules {
                resource: ResourceType::Contact,
                identifier_field: "email",
                headers: &headers,
                columns: &columns,
                options: &options,
                schema: None,
            },
            dialect: Dialect::for_reading(Encoding::Utf8, ','),
            chunk: &chunk,
            keeps: false,
            batch_records: BATCH_RECORDS,
            message: &template,
        };
        let ended = transform_rows(&b"a@b.co\n"[..], &work, |_| Ok(())).unwrap_err();
        assert!(ended.to_string().contains("before row 3"), "{ended}");
        let bad = transform_rows(&b"a@b.co\n\xff@b.co\n"[..], &work, |_| Ok(())).unwrap_err();
        assert!(bad.to_string().contains("row 2 no longer decodes"), "{bad}");
    }
}
