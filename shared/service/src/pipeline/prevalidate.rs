//! prevalidate: the upload arrived. Stream it once, check it can be read, map its header, count
//! and deduplicate its rows, plan the chunks and send one transform message per chunk; or stop
//! at `preview_ready` with sample records. Files whose bytes cannot be cut into CSV records
//! (UTF-16, JSON) are first re-encoded into a UTF-8 CSV copy that the plan is made over.

use std::io::{Read, Write};

use serde_json::Value;
use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;

use crate::ports::{ObjectWriter, Queue, StoredImport};
use crate::publishing;
use crate::services::Services;
use domain::bad_file::{BadFile, MAX_FILE_BYTES};
use domain::budget;
use domain::chunking::{self, Scan, ScanError, ScanRules};
use domain::dialect::{read_sample, reject_binary, Dialect, Encoding};
use domain::error::{Error, Result};
use domain::events::Kind;
use domain::import::Plan;
use domain::import::{new_staged_key, parse_upload_key, upload_key, Format, Import, Mode, Status};
use domain::messages::{encode, Source, TransformJob, TransformMessage};
use domain::options::{Action, CsvOptions};
use domain::record::{Fields, ResourceType, StoredRecord};
use domain::staging;
use domain::sync::Changes;
use domain::time_fmt;

use super::complete::{fail, send_finish_if_done, SOURCE_REPLACED};
use super::overwrite;
use super::type_hold;

/// Handles one created object, by its decoded key.
pub async fn run(svc: &Services, key: &str) -> Result<()> {
    let Some((tenant_id, import_id)) = parse_upload_key(key) else {
        tracing::warn!(key, "object is not an import upload; ignored");
        return Ok(());
    };
    let Some(stored) = svc.imports.get(tenant_id, import_id).await? else {
        tracing::warn!(tenant_id, import_id, "upload for an unknown import; ignored");
        return Ok(());
    };
    if stored.import.mode == Mode::Sync {
        tracing::info!(tenant_id, import_id, "a sync import is run by its request");
        return Ok(());
    }
    // A first run still queued is planned again: a delivery that died while sending left chunks
    // unsent, and a chunk sent twice counts once. Once a chunk is counted the run is processing.
    let planning = stored.import.status == Status::AwaitingUpload
        || (stored.import.status == Status::Queued && stored.progress.run == 0);
    if !planning {
        tracing::info!(tenant_id, import_id, status = stored.import.status.as_str(), "upload already handled");
        send_finish_if_done(svc, tenant_id, import_id).await?;
        return Ok(());
    }
    plan(svc, stored).await
}

/// Plans a new run of an import from the same upload (a preview started, a dry run run for real).
pub async fn replan(svc: &Services, tenant_id: &str, import_id: &str, run: u32) -> Result<()> {
    let Some(stored) = svc.imports.get(tenant_id, import_id).await? else {
        tracing::warn!(tenant_id, import_id, "plan of an unknown import; dropped");
        return Ok(());
    };
    if stored.progress.run != run || stored.import.status != Status::Queued {
        tracing::info!(tenant_id, import_id, run, "run already planned or superseded");
        send_finish_if_done(svc, tenant_id, import_id).await?;
        return Ok(());
    }
    // A dry-run overwrite run for real checks its guard again before anything is written.
    if let Some(rehearsal) = stored.progress.rehearsal.filter(|_| stored.import.action == Action::Overwrite) {
        if !overwrite::guard_holds(svc, &stored.import, rehearsal).await? {
            fail(svc, tenant_id, import_id, run, &[Status::Queued], overwrite::GUARD_REASON).await?;
            return Ok(());
        }
    }
    plan(svc, stored).await
}

/// Scans the upload, stores the plan and sends the chunks (or stops for the preview). Once an
/// upload is planned every later plan reads the same object (its ETag): a file put again after a
/// preview or a dry run fails the run with a reason instead of changing what it imports.
pub async fn plan(svc: &Services, stored: StoredImport) -> Result<()> {
    let StoredImport { import, progress, requested_mappings, source_etag, .. } = stored;
    let (tenant_id, import_id, run) = (import.tenant_id.clone(), import.id.clone(), progress.run);
    let (tenant_id, import_id) = (tenant_id.as_str(), import_id.as_str());
    // The create or the PATCH checked it; another import may have started since.
    if import.action == Action::Overwrite && !import.in_preview {
        if let Some(other) = overwrite::running_beside(svc, tenant_id, import_id, import.resource_type).await? {
            let reason = format!(
                "import {} of {} records was {} when this overwrite was to start: an overwrite does not run beside it",
                other.id,
                import.resource_type.as_str(),
                other.status.as_str()
            );
            fail(svc, tenant_id, import_id, run, &[Status::AwaitingUpload, Status::Queued], &reason).await?;
            return Ok(());
        }
    }
    let work = (svc.clone(), import.clone());
    let prepared = tokio::task::spawn_blocking(move || {
        let (svc, import) = work;
        let rules = ScanRules {
            resource: import.resource_type,
            identifier_field: &import.identifier_field,
            explicit: &requested_mappings,
            options: &import.options,
            duplicates: import.duplicates,
            chunk_rows: svc.settings.chunk_rows,
            csv: &import.csv,
            preview: import.in_preview,
            action: import.action,
        };
        prepare(&svc, &import, &rules, source_etag.as_deref())
    })
    .await
    .map_err(|e| Error::Internal(format!("scan task: {e}")))?;

    let (source, scan, upload_etag) = match prepared {
        Ok(prepared) => prepared,
        Err(ScanError::Read(e)) if source_changed(&e) => {
            tracing::info!(tenant_id, import_id, "the upload changed since it was planned");
            fail(svc, tenant_id, import_id, run, &[Status::AwaitingUpload, Status::Queued], SOURCE_REPLACED).await?;
            return Ok(());
        }
        Err(ScanError::Read(e)) => return Err(Error::aws("s3", e)),
        Err(e @ ScanError::Spill(_)) => return Err(Error::Internal(e.to_string())),
        Err(ScanError::Bad(bad)) => {
            tracing::info!(tenant_id, import_id, reason = %bad, "file cannot be imported");
            let from = [Status::AwaitingUpload, Status::Queued];
            fail(svc, tenant_id, import_id, run, &from, &budget::reason(&bad)).await?;
            return Ok(());
        }
    };
    let mut plan = Plan {
        run,
        source_etag: upload_etag,
        mappings: scan.columns.resolved(&scan.headers),
        file_headers: scan.headers,
        unmapped_headers: scan.columns.unmapped,
        file: scan.file,
        chunks_total: scan.chunks.total(),
        sample_records: scan.samples,
        distinct_values: scan.distinct_values,
        clipped: None,
        queue: !import.in_preview,
    };
    budget::fit(&mut plan, scan.clipped_values);
    if !svc.imports.save_plan(tenant_id, import_id, &plan).await? {
        return Ok(());
    }
    if import.in_preview {
        if svc.imports.preview_ready(tenant_id, import_id, run).await? {
            publishing::publish(svc, tenant_id, import_id, Kind::PreviewReady, Some(run)).await?;
        }
        tracing::info!(tenant_id, import_id, rows = plan.file.rows, "preview ready");
        return Ok(());
    }
    if !import.dry_run {
        create_groups(svc, tenant_id, import_id, &import.changes).await?;
    }
    let empty_type = type_hold::claim(svc, &import, run).await?;
    // Messages are built and sent a group at a time: a big file's plan never sits in memory
    // as bodies.
    let mut bodies = Vec::with_capacity(SEND_GROUP);
    for chunk in scan.chunks.iter() {
        let message = TransformMessage {
            tenant_id: tenant_id.into(),
            import_id: import_id.into(),
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
    tracing::info!(tenant_id, import_id, rows = plan.file.rows, chunks = plan.chunks_total, "import queued");
    send_finish_if_done(svc, tenant_id, import_id).await?;
    Ok(())
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// Transform messages sent per call to the queue (which sends them in batches of its own).
const SEND_GROUP: usize = 100;

/// Blocking: reads the upload (the `pinned` object when it was planned before) and writes a
/// staged copy when needed, and scans what the chunks will be read from; with the upload's ETag.
fn prepare(
    svc: &Services,
    import: &Import,
    rules: &ScanRules,
    pinned: Option<&str>,
) -> Result<(Source, Scan, Option<String>), ScanError> {
    let files = Files { svc, handle: Handle::current() };
    let key = upload_key(&import.tenant_id, &import.id);
    let (mut reader, size, etag) = files.open(&key, pinned)?;
    if size > MAX_FILE_BYTES {
        return Err(BadFile::TooLarge(size).into());
    }
    let sample = read_sample(&mut reader).map_err(ScanError::Read)?;
    let detected = Dialect::detect(&sample, &import.csv);
    reject_binary(&sample, !detected.encoding.is_ascii_compatible())?;
    let whole = std::io::Cursor::new(sample.clone()).chain(reader);
    let staged = new_staged_key(&import.tenant_id, &import.id);

    let (staged_csv, had_bom) = match import.format {
        Format::Csv if detected.encoding.is_ascii_compatible() => {
            let scan = chunking::scan(whole, size, rules)?;
            let encoding = Encoding::parse(&scan.file.detected_encoding).unwrap_or(Encoding::Utf8);
            let delimiter = scan.file.delimiter.chars().next().unwrap_or(',');
            return Ok((Source { key, etag: etag.clone(), encoding, delimiter }, scan, etag));
        }
        Format::Csv => {
            files.write(&staged, |out| staging::transcode_utf16(whole, detected.encoding, out))?;
            let csv = CsvOptions { encoding: Some(Encoding::Utf8.as_str().into()), ..import.csv.clone() };
            (csv, detected.had_bom)
        }
        Format::Json | Format::Jsonl => {
            let lines = import.format == Format::Jsonl;
            let had_bom = sample.starts_with(UTF8_BOM);
            let empty = || ScanError::from(BadFile::Unsupported("the file is empty: it holds no records".into()));
            // A JSON parser calls a blank file invalid; to the user it is empty, as a blank JSONL is.
            if sample.strip_prefix(UTF8_BOM).unwrap_or(&sample).trim_ascii().is_empty() {
                return Err(empty());
            }
            let shape = staging::json_headers(whole, lines)?;
            if shape.rows == 0 {
                return Err(empty());
            }
            // The second pass must read the same object as the first.
            let (again, _, _) = files.open(&key, etag.as_deref())?;
            files.write(&staged, |out| staging::json_to_csv(again, lines, &shape.headers, out))?;
            let csv = CsvOptions {
                encoding: Some(Encoding::Utf8.as_str().into()),
                delimiter: Some(",".into()),
                has_header: true,
            };
            (csv, had_bom)
        }
    };
    let (reader, staged_size, staged_etag) = files.open(&staged, None)?;
    let mut scan = chunking::scan(reader, staged_size, &ScanRules { csv: &staged_csv, ..*rules })?;
    let delimiter = scan.file.delimiter.chars().next().unwrap_or(',');
    // The file object describes the upload, not the copy.
    scan.file.size = size;
    scan.file.had_bom = had_bom;
    if import.format == Format::Csv {
        scan.file.detected_encoding = detected.encoding.as_str().into();
    } else {
        scan.file.delimiter = String::new();
        scan.file.line_ending = String::new();
    }
    Ok((Source { key: staged, etag: staged_etag, encoding: Encoding::Utf8, delimiter }, scan, etag))
}

/// The file store, from blocking code.
struct Files<'a> {
    svc: &'a Services,
    handle: Handle,
}

type Reader = SyncIoBridge<crate::ports::ByteStream>;

impl Files<'_> {
    fn open(&self, key: &str, if_match: Option<&str>) -> Result<(Reader, u64, Option<String>), ScanError> {
        let opened = self.handle.block_on(self.svc.files.open(key, None, if_match)).map_err(read_error)?;
        Ok((SyncIoBridge::new_with_handle(opened.stream, self.handle.clone()), opened.size, opened.etag))
    }

    /// Writes an object from a function that writes to `std::io::Write`.
    fn write<T>(&self, key: &str, fill: impl FnOnce(&mut dyn Write) -> Result<T, ScanError>) -> Result<T, ScanError> {
        let writer = self.handle.block_on(self.svc.files.create(key)).map_err(read_error)?;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, BlockingWriter { handle: &self.handle, writer });
        let value = fill(&mut out)?;
        let inner = out.into_inner().map_err(|e| ScanError::Read(e.into_error()))?;
        self.handle.block_on(inner.writer.finish()).map_err(read_error)?;
        Ok(value)
    }
}

struct BlockingWriter<'a> {
    handle: &'a Handle,
    writer: Box<dyn ObjectWriter>,
}

impl Write for BlockingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.handle.block_on(self.writer.write(buf)).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A store failure while scanning is retried, like a failed read; one that says the upload
/// changed is told apart (`source_changed`), since no retry reads the planned object again.
fn read_error(e: Error) -> ScanError {
    ScanError::Read(std::io::Error::other(e))
}

fn source_changed(e: &std::io::Error) -> bool {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()).is_some_and(|e| matches!(e, Error::SourceChanged))
}

/// Creates the group records the import adds contacts to and that do not exist yet. Run once per
/// run before any batch is sent; creating is conditional, so a redelivery or a concurrent
/// import creating the same group changes nothing.
pub async fn create_groups(svc: &Services, tenant_id: &str, import_id: &str, changes: &Changes) -> Result<()> {
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
