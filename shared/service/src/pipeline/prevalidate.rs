//! prevalidate: the upload arrived. Stream it once, check it can be read, map its header, count
//! and deduplicate its rows, plan the chunks and send one transform message per chunk; or stop
//! at `preview_ready` with sample records. Files whose bytes cannot be cut into CSV records
//! (compressed, workbooks, JSON, UTF-16) are first staged as a UTF-8 CSV copy that the plan is
//! made over (`unpack` reads what the upload is wrapped in). A scan longer than one invocation
//! goes on in others (`scan_parts`); what both share is in `planning`.

use std::io::Read;

use crate::ports::{RunSettings, StoredImport};
use crate::services::Services;
use domain::bad_file::{BadFile, MAX_FILE_BYTES, MAX_WORKBOOK_BYTES};
use domain::budget;
use domain::chunking::{self, Part, Scan, ScanError, ScanRules};
use domain::compression::{self, Fault};
use domain::dialect::{self, read_sample, reject_binary, Dialect, Encoding};
use domain::error::{Error, Result};
use domain::import::Plan;
use domain::import::{new_staged_key, parse_upload_key, upload_key, Compression, Format, Import, Mode, Status};
use domain::messages::Source;
use domain::options::{Action, CsvOptions};
use domain::staging;
use domain::template::TemplateUse;

use super::complete::{fail, send_finish_if_done};
use super::overwrite;
use super::planning::{queue_plan, scan_failed, scan_rules, send_chunks, source_changed};
use super::scan_parts;
use super::unpack::{self, Files, Wrapped};

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
    let stored = match stored.import.template {
        Some(TemplateUse::Auto(_)) => match settle_auto(svc, &stored).await? {
            Some(settled) => settled,
            None => return Ok(()),
        },
        _ => stored,
    };
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
    // Only a preview's samples are checked here; transform checks every row.
    let schema = match import.in_preview {
        true => crate::schemas::of_import(svc, &import).await?,
        false => None,
    };
    let work = (svc.clone(), import.clone());
    let ends = crate::deadline::invocation_ends();
    let claimed = scan_parts::claimed_end(svc, &import, run, 0).await?;
    let prepared = tokio::task::spawn_blocking(move || {
        let (svc, import) = work;
        let rules = scan_rules(&svc, &import, &requested_mappings, schema.as_deref());
        let mut stop = scan_parts::stop_at(&svc, ends, 0, claimed);
        let (source, part, etag) = prepare(&svc, &import, &rules, source_etag.as_deref(), &mut stop)?;
        match part.next {
            None => {
                // A delivery alongside that stopped early would plan the scan in parts.
                scan_parts::claim_end(&Files::new(&svc), &import, run, 0, None)?;
                Ok(Prepared::Whole(source, part.into_scan()?, etag))
            }
            Some(_) => {
                let first = scan_parts::Stopped::write(&Files::new(&svc), &import, run, source, etag, part, None)?;
                Ok(Prepared::Part(first))
            }
        }
    })
    .await
    .map_err(|e| Error::Internal(format!("scan task: {e}")))?;

    let (source, scan, upload_etag) = match prepared {
        Ok(Prepared::Whole(source, scan, etag)) => (source, scan, etag),
        Ok(Prepared::Part(first)) => return scan_parts::went_on(svc, &import, run, first).await,
        Err(e) => return scan_failed(svc, &import, run, e).await,
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
        suggested_template: None,
        queue: !import.in_preview,
    };
    budget::fit(&mut plan, scan.clipped_values);
    let Some(empty_type) = queue_plan(svc, &import, &mut plan).await? else { return Ok(()) };
    send_chunks(svc, &import, run, &source, empty_type, scan.chunks.iter()).await?;
    tracing::info!(tenant_id, import_id, rows = plan.file.rows, chunks = plan.chunks_total, "import queued");
    send_finish_if_done(svc, tenant_id, import_id).await?;
    Ok(())
}

/// An `auto` template is chosen by the file's headers, read from its first rows before the scan
/// that plans the run, which its mappings and row settings shape; the settings the create body
/// set itself stay. The file was read as detected (or as the body said) to find the headers, so
/// the template's settings of how to read it are not taken. The import as settled; none when it
/// is gone.
async fn settle_auto(svc: &Services, stored: &StoredImport) -> Result<Option<StoredImport>> {
    let (import, run) = (&stored.import, stored.progress.run);
    let (tenant_id, import_id) = (import.tenant_id.as_str(), import.id.as_str());
    let work = (svc.clone(), import.clone(), stored.requested_mappings.clone(), stored.source_etag.clone());
    let headers = tokio::task::spawn_blocking(move || {
        let (svc, import, requested, etag) = work;
        let rules = scan_rules(&svc, &import, &requested, None);
        // The first chunk's rows are enough: the headers come first.
        prepare(&svc, &import, &rules, etag.as_deref(), &mut |_| true).map(|(_, part, _)| part.headers)
    })
    .await
    .map_err(|e| Error::Internal(format!("header task: {e}")))?;
    let headers = match headers {
        Ok(headers) => headers,
        // A file that cannot be read, or was replaced, fails in the scan that follows, with its
        // reason. Anything else may pass: the message is delivered again.
        Err(ScanError::Bad(_)) => vec![],
        Err(ScanError::Read(e)) if source_changed(&e) => vec![],
        Err(e) => return Err(Error::Internal(format!("reading the headers: {e}"))),
    };
    let best = crate::templates::best_for(svc, tenant_id, import.resource_type, &headers).await?;
    let (settings, template) = match best {
        Some((_, doc)) => {
            let mut sent = serde_json::Map::new();
            crate::api::requests::under_template(&mut sent, &doc.body, Some(&headers), false);
            sent.retain(|key, _| !stored.own_settings.contains(key));
            let settings = match template_settings(svc, import, sent).await {
                Err(Error::Invalid(errors)) => {
                    let wrong: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
                    let reason = format!(
                        "template {} version {} does not fit the import: {}",
                        doc.id,
                        doc.version,
                        wrong.join("; ")
                    );
                    fail(svc, tenant_id, import_id, run, &[Status::AwaitingUpload, Status::Queued], &reason).await?;
                    return Ok(None);
                }
                other => other?,
            };
            (settings, Some(crate::templates::used(&doc)))
        }
        None => (RunSettings::default(), None),
    };
    if svc.imports.settle_template(tenant_id, import_id, run, &settings, template.clone()).await? {
        tracing::info!(tenant_id, import_id, ?template, "auto template settled");
    }
    // Settled now or by a delivery alongside: planned as it is stored.
    svc.imports.get(tenant_id, import_id).await
}

/// A template's settings for `import`, checked as its own would be (constants against its schema).
async fn template_settings(
    svc: &Services,
    import: &Import,
    sent: serde_json::Map<String, serde_json::Value>,
) -> Result<RunSettings> {
    let mut settings = crate::api::requests::run_settings(sent, import)?;
    crate::schemas::type_run_constants(svc, import, &mut settings).await?;
    Ok(settings)
}

/// What one invocation's scan came to: the whole file, or its first part.
enum Prepared {
    Whole(Source, Scan, Option<String>),
    Part(scan_parts::Stopped),
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Blocking: reads the upload (the `pinned` object when it was planned before), writes a staged
/// copy when its bytes cannot be cut into CSV records as they are (compressed, a workbook, JSON,
/// UTF-16), and scans what the chunks will be read from; with the upload's ETag.
fn prepare(
    svc: &Services,
    import: &Import,
    rules: &ScanRules,
    pinned: Option<&str>,
    stop: &mut dyn FnMut(u64) -> bool,
) -> Result<(Source, Part, Option<String>), ScanError> {
    let files = Files::new(svc);
    let key = upload_key(&import.tenant_id, &import.id);
    let (mut raw, size, etag) = files.open(&key, pinned)?;
    if size > MAX_FILE_BYTES {
        return Err(BadFile::TooLarge(size).into());
    }
    let head = read_sample(&mut raw).map_err(ScanError::Read)?;
    let packing = &import.packing;
    let fault = Fault::default();
    let wrapped = unpack::wrapped(
        &files,
        &key,
        (size, etag.as_deref()),
        &head,
        packing.compression,
        packing.zip_entry.as_deref(),
    )
    .map_err(|e| blame(e, &files, &fault))?;
    let upload = Upload { files: &files, key: &key, size, etag: etag.as_deref(), wrapped: &wrapped, fault: &fault };
    let prepared = match wrapped {
        Wrapped::Workbook(kind) => stage_workbook(&upload, import, rules, kind, stop),
        Wrapped::Stream(Compression::None) => {
            stage_text(&upload, import, rules, Box::new(std::io::Cursor::new(head).chain(raw)), stop)
        }
        _ => {
            drop(raw);
            wrapped
                .open(&files, &key, etag.as_deref(), &fault)
                .and_then(|data| stage_text(&upload, import, rules, data, stop))
        }
    };
    let (source, mut scan) = prepared.map_err(|e| blame(e, &files, &fault))?;
    if wrapped.compression() != Compression::None {
        scan.file.compressed_size = Some(size);
    }
    scan.file.compression = wrapped.compression().as_str().into();
    Ok((source, scan, etag))
}

/// Whose a failure of reading the upload is. A decoder's or a parser's error reaches here wrapped
/// in theirs: what the file did wrong was kept aside (`fault`), and a read of the store that
/// failed under a parser (a zip's directory, a workbook) is retried, whatever the parser then
/// made of the file.
fn blame(e: ScanError, files: &Files, fault: &Fault) -> ScanError {
    match fault.take() {
        Some(bad) => bad.into(),
        None if files.seek_failed() && !matches!(e, ScanError::Read(_)) => {
            ScanError::Read(std::io::Error::other(format!("a read of the upload failed while it was parsed ({e})")))
        }
        None => e,
    }
}

/// The upload, and what it was found to be wrapped in.
struct Upload<'a> {
    files: &'a Files<'a>,
    key: &'a str,
    size: u64,
    etag: Option<&'a str>,
    wrapped: &'a Wrapped,
    fault: &'a Fault,
}

impl Upload<'_> {
    fn staged_key(&self, import: &Import) -> String {
        new_staged_key(&import.tenant_id, &import.id)
    }
}

fn stage_workbook(
    upload: &Upload,
    import: &Import,
    rules: &ScanRules,
    kind: &str,
    stop: &mut dyn FnMut(u64) -> bool,
) -> Result<(Source, Part), ScanError> {
    if !matches!(import.format, Format::Auto | Format::Xlsx) {
        let format = import.format.as_str();
        return Err(BadFile::Unsupported(format!(
            "the file is an {kind} workbook, not {format}: send format xlsx or auto"
        ))
        .into());
    }
    if upload.size > MAX_WORKBOOK_BYTES {
        return Err(BadFile::WorkbookTooLarge(upload.size).into());
    }
    let staged = upload.staged_key(import);
    let wanted = import.packing.xlsx.as_ref().and_then(|x| x.sheet.as_ref());
    let source = upload.files.seekable(upload.key, upload.size, upload.etag);
    let sheet = upload.files.write(&staged, |out| staging::workbook_to_csv(source, kind, wanted, out))?;
    let csv = CsvOptions {
        encoding: Some(Encoding::Utf8.as_str().into()),
        delimiter: Some(",".into()),
        ..import.csv.clone()
    };
    let (source, mut scan) = scan_staged(upload.files, staged, rules, &csv, stop)?;
    scan.file.size = upload.size;
    scan.file.format = kind.into();
    scan.file.sheet = Some(sheet.name);
    scan.file.sheets = sheet.names;
    scan.file.delimiter = String::new();
    scan.file.line_ending = String::new();
    Ok((source, scan))
}

/// Text data (CSV, JSON, JSONL), decompressed: scanned as it is when it is an uncompressed CSV
/// of an ASCII-compatible encoding, else staged first.
fn stage_text(
    upload: &Upload,
    import: &Import,
    rules: &ScanRules,
    data: Box<dyn Read + Send>,
    stop: &mut dyn FnMut(u64) -> bool,
) -> Result<(Source, Part), ScanError> {
    let (mut data, tally) = compression::tally(data);
    let sample = read_sample(&mut data).map_err(ScanError::Read)?;
    let format = match import.format {
        Format::Auto => dialect::text_format(&sample),
        Format::Xlsx => return Err(BadFile::Unsupported("format is xlsx but the file is not a workbook".into()).into()),
        format => format,
    };
    let detected = Dialect::detect(&sample, &import.csv);
    reject_binary(&sample, !detected.encoding.is_ascii_compatible())?;
    let whole = std::io::Cursor::new(sample.clone()).chain(data);
    let compressed = upload.wrapped.compression() != Compression::None;
    let staged = upload.staged_key(import);
    let files = upload.files;

    let (staged_csv, had_bom) = match format {
        Format::Csv if detected.encoding.is_ascii_compatible() && !compressed => {
            let mut scan = chunking::scan_part(whole, None, upload.size, rules, stop)?;
            let encoding = Encoding::parse(&scan.file.detected_encoding).unwrap_or(Encoding::Utf8);
            let delimiter = scan.file.delimiter.chars().next().unwrap_or(',');
            scan.file.format = format.as_str().into();
            let key = upload.key.to_string();
            return Ok((Source { key, etag: upload.etag.map(str::to_string), encoding, delimiter }, scan));
        }
        Format::Csv if detected.encoding.is_ascii_compatible() => {
            files.write(&staged, |out| std::io::copy(&mut { whole }, out).map_err(ScanError::Read))?;
            (import.csv.clone(), detected.had_bom)
        }
        Format::Csv => {
            files.write(&staged, |out| staging::transcode_utf16(whole, detected.encoding, out))?;
            let csv = CsvOptions { encoding: Some(Encoding::Utf8.as_str().into()), ..import.csv.clone() };
            (csv, detected.had_bom)
        }
        _ => {
            let lines = format == Format::Jsonl;
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
            let again = upload.wrapped.open(files, upload.key, upload.etag, upload.fault)?;
            files.write(&staged, |out| staging::json_to_csv(again, lines, &shape.headers, out))?;
            let csv = CsvOptions {
                encoding: Some(Encoding::Utf8.as_str().into()),
                delimiter: Some(",".into()),
                has_header: true,
            };
            (csv, had_bom)
        }
    };
    let (source, mut scan) = scan_staged(files, staged, rules, &staged_csv, stop)?;
    // The file object describes the upload's data, not the copy.
    scan.file.size = tally.bytes();
    scan.file.had_bom = had_bom;
    scan.file.format = format.as_str().into();
    if format == Format::Csv {
        scan.file.detected_encoding = detected.encoding.as_str().into();
    } else {
        scan.file.delimiter = String::new();
        scan.file.line_ending = String::new();
    }
    Ok((source, scan))
}

/// Scans the staged copy, which the chunks are then read from.
fn scan_staged(
    files: &Files,
    staged: String,
    rules: &ScanRules,
    csv: &CsvOptions,
    stop: &mut dyn FnMut(u64) -> bool,
) -> Result<(Source, Part), ScanError> {
    let (reader, staged_size, staged_etag) = files.open(&staged, None)?;
    let scan = chunking::scan_part(reader, None, staged_size, &ScanRules { csv, ..*rules }, stop)?;
    let delimiter = scan.file.delimiter.chars().next().unwrap_or(',');
    Ok((Source { key: staged, etag: staged_etag, encoding: Encoding::Utf8, delimiter }, scan))
}
