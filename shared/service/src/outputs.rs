//! An import's files for the user, stored: each unit of work's part of the errors and results
//! files, and the files joined from the parts when the import completes.

use crate::services::Services;
use domain::error::{Error, Result};
use domain::error_columns::{neutralize, ERROR_COLUMNS};
use domain::error_files::{self, errors_csv_key, errors_json_key, ErrorLines};
use domain::results::{self, results_csv_key, RowLines, HEADER};

/// Stores a part of the errors files: a chunk's (`{chunk:010}`) or a process batch's from one of
/// its rows on (`{chunk:010}-{batch:06}-{row:03}`, row 0 for a whole batch); the same unit of
/// work always writes the same part.
pub async fn save_errors(
    svc: &Services,
    lines: ErrorLines,
    tenant_id: &str,
    import_id: &str,
    run: u32,
    part: &str,
) -> Result<()> {
    let base = format!("{}{part}", error_files::part_prefix(tenant_id, import_id, run));
    let (csv, json) = lines.into_parts();
    svc.files.put(&format!("{base}.csv"), csv).await?;
    svc.files.put(&format!("{base}.jsonl"), json).await
}

/// Stores a chunk's part of the results file; the same chunk always writes the same part.
pub async fn save_rows(
    svc: &Services,
    lines: RowLines,
    tenant_id: &str,
    import_id: &str,
    run: u32,
    chunk: u64,
) -> Result<()> {
    let key = format!("{}{chunk:010}.csv", results::part_prefix(tenant_id, import_id, run));
    svc.files.put(&key, lines.into_bytes()).await
}

/// Joins the parts into `errors.csv` and `errors.json`, one part in memory at a time.
pub async fn assemble_errors(
    svc: &Services,
    tenant_id: &str,
    import_id: &str,
    run: u32,
    headers: &[String],
) -> Result<()> {
    let parts = svc.files.list(&error_files::part_prefix(tenant_id, import_id, run)).await?;
    let mut csv_out = svc.files.create(&errors_csv_key(tenant_id, import_id)).await?;
    let mut header = csv::WriterBuilder::new().from_writer(Vec::new());
    let columns = headers.iter().map(|h| neutralize(h).into_owned()).chain(ERROR_COLUMNS.map(String::from));
    if header.write_record(columns).is_ok() {
        csv_out.write(&header.into_inner().unwrap_or_default()).await?;
    }
    for key in parts.iter().filter(|k| k.ends_with(".csv")) {
        csv_out.write(&svc.files.read(key).await?).await?;
    }
    csv_out.finish().await?;

    let mut json_out = svc.files.create(&errors_json_key(tenant_id, import_id)).await?;
    json_out.write(b"[").await?;
    let mut first = true;
    for key in parts.iter().filter(|k| k.ends_with(".jsonl")) {
        let part = svc.files.read(key).await?;
        for line in part.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            json_out.write(if first { b"\n" } else { b",\n" }).await?;
            json_out.write(line).await?;
            first = false;
        }
    }
    json_out.write(b"\n]\n").await?;
    json_out.finish().await
}

/// Joins the parts into `results.csv`, one chunk in memory at a time.
pub async fn assemble_results(svc: &Services, tenant_id: &str, import_id: &str, run: u32) -> Result<()> {
    let prefix = results::part_prefix(tenant_id, import_id, run);
    let parts = svc.files.list(&prefix).await?;
    let mut out = svc.files.create(&results_csv_key(tenant_id, import_id)).await?;
    out.write(HEADER.as_bytes()).await?;
    for key in &parts {
        let chunk: u64 = key
            .strip_prefix(&prefix)
            .and_then(|k| k.strip_suffix(".csv"))
            .and_then(|k| k.parse().ok())
            .ok_or_else(|| Error::Internal(format!("unexpected results part {key}")))?;
        let outcomes = svc.imports.batch_outcomes(tenant_id, import_id, run, chunk).await?;
        let part = svc.files.read(key).await?;
        out.write(&results::resolve(&part, |batch, position| {
            outcomes.get(&batch).and_then(|codes| codes.chars().nth(position)).and_then(results::word)
        })?)
        .await?;
    }
    out.finish().await
}
