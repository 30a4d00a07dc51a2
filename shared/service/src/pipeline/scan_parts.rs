//! A scan of a file too long for one invocation (`STEP_TIME_BUDGET_SECONDS`, or the Lambda's
//! own deadline): prevalidation stops at a chunk's start and goes on in another invocation,
//! through the transform queue, from that byte and row. Each part leaves its chunks and
//! preview in a state object and its identifiers' entries, sorted by hash, in another, indexed
//! by hash partition (`dedup::write_sorted`). Once the file has ended, the partitions are decided
//! in groups, one message each, each over every part's share of its partitions: no step holds
//! every identifier. The group that finds every group decided plans the run, as a one-part scan
//! does, and each part's chunks are then sent by a message of their own, with the rows that
//! lose in them.
//!
//! Objects, under `results/{tenant}/{import}/scan/{run}/`: `part-N.end` (where the first
//! delivery of part N to finish its scan ended it: every delivery ends it there), `part-N.json`
//! (the part's state),
//! `part-N.index` (where its first row is and where each partition's entries start),
//! `entries/part-N` (the entries; deleted once decided), `losers-G` (group G's losing rows,
//! ascending, 8 bytes each), `decided-G.json` (where each part's rows start in it), and
//! `sent-N`, marking that the messages after part N were sent (after the last, the sends of
//! the chunks), so a redelivery does not start a second chain of steps.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::ports::{Queue, StoredImport};
use crate::services::Services;
use domain::budget;
use domain::chunking::{self, Chunk, GoOn, Part, Resume, ScanError};
use domain::dedup::{self, Duplicates};
use domain::error::{Error, Result};
use domain::import::{FileInfo, Import, Plan, Status};
use domain::messages::{encode, ScanStage, ScanStep, Source, TransformJob};
use domain::preview::Preview;

use super::planning::{queue_plan, scan_failed, scan_rules, send_chunks};
use super::unpack::Files;

/// Rows one part scans at most: its entries (256 MB) fit the function's temporary storage.
pub const PART_ROWS: u64 = 16 << 20;
static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
/// Messages sent per call to the queue.
const SEND_GROUP: usize = 100;

/// When a part stops: where another delivery of it stopped (`claimed`), else at [`PART_ROWS`],
/// at the invocation's end, or once the time budget counted from its first row read (`rows` 0)
/// is spent. The files opened and the copy staged before are not counted: the budget is the
/// scan's. `from_rows`: the rows before the part.
pub(super) fn stop_at(
    svc: &Services,
    invocation_ends: Option<Instant>,
    from_rows: u64,
    claimed: Option<End>,
) -> impl FnMut(u64) -> bool {
    let settings = svc.settings.clone();
    let mut ends = invocation_ends;
    move |rows| match claimed {
        Some(End { next: Some(next) }) => from_rows + rows >= next.rows,
        Some(End { next: None }) => false,
        None if rows == 0 => {
            ends = crate::deadline::step_ends(&settings, invocation_ends);
            false
        }
        None => rows >= PART_ROWS || ends.is_some_and(|ends| Instant::now() >= ends),
    }
}

/// Where a part of a scan ends, as the first delivery of it to finish its scan found: every
/// other delivery of the part (a redelivery, or one alongside) stops at the same row, so what
/// the deliveries write and send agrees however their timing differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct End {
    next: Option<Resume>,
}

/// Where an earlier delivery of part `part` ended it, if one did.
pub(super) async fn claimed_end(svc: &Services, import: &Import, run: u32, part: u32) -> Result<Option<End>> {
    let key = Keys::of(import, run).end(part);
    if !exists(svc, &key).await? {
        return Ok(None);
    }
    get_json(svc, &key).await.map(Some)
}

/// Blocking: claims that part `part` ends where this delivery's scan ended it (`next`). Another
/// delivery that claimed another end first wins: this one's scan is retried, and stops there.
pub(super) fn claim_end(
    files: &Files,
    import: &Import,
    run: u32,
    part: u32,
    next: Option<Resume>,
) -> std::result::Result<(), ScanError> {
    let key = Keys::of(import, run).end(part);
    let ours = End { next };
    let bytes = serde_json::to_vec(&ours).map_err(|e| ScanError::Spill(e.into()))?;
    if files.put_new(&key, bytes)? {
        return Ok(());
    }
    let theirs: End = serde_json::from_slice(&files.read(&key)?).map_err(|e| ScanError::Spill(e.into()))?;
    if theirs == ours {
        return Ok(());
    }
    let message = format!("part {part} of the scan was ended at another row by another delivery; scanned again");
    Err(ScanError::Read(std::io::Error::other(message)))
}

/// What a part leaves for the steps after it.
#[derive(Serialize, Deserialize)]
pub(super) struct Stopped {
    part: u32,
    source: Source,
    upload_etag: Option<String>,
    /// The upload as the first part described it, its rows counted to this part's end.
    file: FileInfo,
    headers: Vec<String>,
    mappings: BTreeMap<String, Option<String>>,
    unmapped_headers: Vec<String>,
    preview: Option<Preview>,
    /// Where the next part starts; none after the last.
    next: Option<Resume>,
    bounds: Vec<Chunk>,
}

/// Where a part's rows and entries are, for the groups that decide them.
#[derive(Serialize, Deserialize)]
struct PartIndex {
    first_row: u64,
    /// Where each hash partition's entries start in `entries/part-N`, and where the last ends.
    offsets: Vec<u64>,
}

impl Stopped {
    /// Blocking: writes a part's entries and index, after the part `before` (none for the first).
    pub(super) fn write(
        files: &Files,
        import: &Import,
        run: u32,
        source: Source,
        upload_etag: Option<String>,
        part: Part,
        before: Option<Stopped>,
    ) -> std::result::Result<Self, ScanError> {
        let keys = Keys::of(import, run);
        let number = before.as_ref().map_or(0, |b| b.part + 1);
        let first_row = before.as_ref().and_then(|b| b.next).map_or(0, |next| next.rows) + 1;
        let Part { headers, columns, bounds, dedup, preview, file, next } = part;
        claim_end(files, import, run, number, next)?;
        let offsets = files.write(&keys.entries(number), |out| dedup.write_sorted(out).map_err(ScanError::Spill))?;
        let index = serde_json::to_vec(&PartIndex { first_row, offsets }).map_err(|e| ScanError::Spill(e.into()))?;
        files.write(&keys.index(number), |out| out.write_all(&index).map_err(ScanError::Spill))?;
        let file = match before {
            Some(before) => FileInfo { rows: file.rows, ..before.file },
            None => file,
        };
        Ok(Self {
            part: number,
            source,
            upload_etag,
            file,
            mappings: columns.resolved(&headers),
            unmapped_headers: columns.unmapped,
            headers,
            preview,
            next,
            bounds,
        })
    }
}

/// The objects of one run's scan.
struct Keys(String);

impl Keys {
    fn of(import: &Import, run: u32) -> Self {
        Self(format!("results/{}/{}/scan/{run}/", import.tenant_id, import.id))
    }
    fn state(&self, part: u32) -> String {
        format!("{}part-{part:06}.json", self.0)
    }
    fn end(&self, part: u32) -> String {
        format!("{}part-{part:06}.end", self.0)
    }
    fn index(&self, part: u32) -> String {
        format!("{}part-{part:06}.index", self.0)
    }
    fn entries(&self, part: u32) -> String {
        format!("{}entries/part-{part:06}", self.0)
    }
    /// Marks that what follows part `part` was sent (after the last part, the chunks' sends).
    fn sent(&self, part: u32) -> String {
        format!("{}sent-{part:06}", self.0)
    }
    fn losers(&self, group: u32) -> String {
        format!("{}losers-{group:04}", self.0)
    }
    fn decided(&self, group: u32) -> String {
        format!("{}decided-{group:04}.json", self.0)
    }
}

/// Handles one step of a scan that goes on.
pub async fn run(svc: &Services, step: ScanStep) -> Result<()> {
    let (tenant_id, import_id, run) = (step.tenant_id.as_str(), step.import_id.as_str(), step.run);
    let Some(stored) = svc.imports.get(tenant_id, import_id).await? else {
        tracing::warn!(tenant_id, import_id, "scan of an unknown import; dropped");
        return Ok(());
    };
    let StoredImport { import, progress, requested_mappings, .. } = stored;
    if progress.run != run || import.status.is_final() {
        tracing::info!(tenant_id, import_id, run, status = import.status.as_str(), "scan of a finished run dropped");
        return Ok(());
    }
    let planning = matches!(import.status, Status::AwaitingUpload | Status::Queued);
    // A part's scan spills up to 256 MB to disk and a group's decision holds up to 78 MB: one
    // at a time in an instance, whatever else its batch of messages holds.
    let _one = match step.stage {
        ScanStage::Part { .. } | ScanStage::Decide { .. } => Some(ONE_AT_A_TIME.acquire().await),
        ScanStage::Send { .. } => None,
    };
    match step.stage {
        ScanStage::Part { part } if planning => scan(svc, &import, run, part, requested_mappings).await,
        ScanStage::Decide { group, groups, parts } if planning => decide(svc, &import, run, group, groups, parts).await,
        ScanStage::Send { part, groups, empty_type } => send(svc, &import, run, part, groups, empty_type).await,
        _ => {
            tracing::info!(tenant_id, import_id, run, "scan of a run already planned dropped");
            Ok(())
        }
    }
}

/// After a part was written: stores its state and sends what comes next, another part or the
/// decisions.
pub(super) async fn went_on(svc: &Services, import: &Import, run: u32, stopped: Stopped) -> Result<()> {
    let keys = Keys::of(import, run);
    put_json(svc, &keys.state(stopped.part), &stopped).await?;
    // A redelivery sends again only what no delivery is known to have sent: each would go on
    // as a chain of its own.
    let sent = keys.sent(stopped.part);
    if exists(svc, &sent).await? {
        return Ok(());
    }
    let parts = stopped.part + 1;
    let stages: Vec<ScanStage> = match stopped.next {
        Some(_) => vec![ScanStage::Part { part: parts }],
        None => {
            let groups = dedup::groups_for(stopped.file.rows) as u32;
            (0..groups).map(|group| ScanStage::Decide { group, groups, parts }).collect()
        }
    };
    tracing::info!(
        tenant_id = import.tenant_id,
        import_id = import.id,
        part = stopped.part,
        rows = stopped.file.rows,
        ended = stopped.next.is_none(),
        "scan part written"
    );
    send_stages(svc, import, run, stages).await?;
    svc.files.put(&sent, Vec::new()).await
}

async fn send_stages(svc: &Services, import: &Import, run: u32, stages: Vec<ScanStage>) -> Result<()> {
    for group in stages.chunks(SEND_GROUP) {
        let bodies = group
            .iter()
            .map(|stage| {
                let step =
                    ScanStep { tenant_id: import.tenant_id.clone(), import_id: import.id.clone(), run, stage: *stage };
                encode(&TransformJob::Scan(step))
            })
            .collect::<Result<Vec<_>>>()?;
        svc.queue.send(Queue::Transform, &import.tenant_id, bodies).await?;
    }
    Ok(())
}

/// Scans part `part`, from where the one before stopped. A part already written (a redelivery)
/// only sends what comes after it again.
async fn scan(
    svc: &Services,
    import: &Import,
    run: u32,
    part: u32,
    requested_mappings: BTreeMap<String, Option<String>>,
) -> Result<()> {
    let keys = Keys::of(import, run);
    if exists(svc, &keys.state(part)).await? {
        let stopped: Stopped = get_json(svc, &keys.state(part)).await?;
        return went_on(svc, import, run, stopped).await;
    }
    let before: Stopped = get_json(svc, &keys.state(part - 1)).await?;
    let Some(from) = before.next else { return Ok(()) };
    let claimed = claimed_end(svc, import, run, part).await?;
    let ends = crate::deadline::invocation_ends();
    let work = (svc.clone(), import.clone());
    let scanned = tokio::task::spawn_blocking(move || {
        let (svc, import) = work;
        let files = Files::new(&svc);
        let rules = scan_rules(&svc, &import, &requested_mappings, None);
        let source = before.source.clone();
        // As the first part read it: a staged copy of JSON has a header whatever `csv` says.
        let json = matches!(before.file.format.as_str(), "json" | "jsonl");
        let csv = domain::options::CsvOptions {
            encoding: Some(source.encoding.as_str().into()),
            delimiter: Some(source.delimiter.to_string()),
            has_header: import.csv.has_header || json,
        };
        let rules = chunking::ScanRules { csv: &csv, ..rules };
        let etag = source.etag.as_deref();
        let (head, size, _) = files.open(&source.key, etag)?;
        let (rest, _, _) = files.open_range(&source.key, Some((from.offset, size)), etag)?;
        let mut before = before;
        let go_on = GoOn { from, preview: before.preview.take(), rest: Box::new(rest) };
        let mut stop = stop_at(&svc, ends, from.rows, claimed);
        let scanned = chunking::scan_part(head, Some(go_on), size, &rules, &mut stop)?;
        let upload_etag = before.upload_etag.clone();
        Stopped::write(&files, &import, run, source, upload_etag, scanned, Some(before))
    })
    .await
    .map_err(|e| Error::Internal(format!("scan task: {e}")))?;
    match scanned {
        Ok(stopped) => went_on(svc, import, run, stopped).await,
        Err(e) => scan_failed(svc, import, run, e).await,
    }
}

/// Decides group `group` of `groups` over every part's entries: writes the rows that lose,
/// ascending, and where each part's rows start among them. The group that finds every group
/// decided plans the run.
async fn decide(svc: &Services, import: &Import, run: u32, group: u32, groups: u32, parts: u32) -> Result<()> {
    let keys = Keys::of(import, run);
    if !exists(svc, &keys.decided(group)).await? {
        let partitions = dedup::group_partitions(group as usize, groups as usize);
        let mut entries = Vec::new();
        let mut first_rows = Vec::with_capacity(parts as usize);
        for part in 0..parts {
            let index: PartIndex = get_json(svc, &keys.index(part)).await?;
            first_rows.push(index.first_row);
            let (start, end) = (index.offsets[partitions.start], index.offsets[partitions.end]);
            if end > start {
                let bytes = read_range(svc, &keys.entries(part), start, end).await?;
                dedup::read_written(&bytes, &mut entries);
            }
        }
        let losers = dedup::decide(entries, import.duplicates);
        // Where each part's rows start among the losers, and where the last part's end.
        let mut starts: Vec<u64> =
            first_rows.iter().map(|first| losers.partition_point(|row| row < first) as u64 * 8).collect();
        starts.push(losers.len() as u64 * 8);
        let bytes: Vec<u8> = losers.iter().flat_map(|row| row.to_le_bytes()).collect();
        svc.files.put(&keys.losers(group), bytes).await?;
        put_json(svc, &keys.decided(group), &starts).await?;
    }
    let decided = svc.files.list(&format!("{}decided-", keys.0)).await?;
    if decided.len() < groups as usize {
        return Ok(());
    }
    queue(svc, import, run, groups, parts).await
}

/// Every group is decided: stores the plan, as a one-part scan does, and sends one message per
/// part to send its chunks.
async fn queue(svc: &Services, import: &Import, run: u32, groups: u32, parts: u32) -> Result<()> {
    let keys = Keys::of(import, run);
    let queued = keys.sent(parts);
    if exists(svc, &queued).await? {
        return Ok(());
    }
    let last: Stopped = get_json(svc, &keys.state(parts - 1)).await?;
    let chunks_total = last.bounds.last().map_or(0, |c| c.index + 1);
    let (sample_records, distinct_values, clipped_values) =
        last.preview.map(|p| p.finish(&last.headers)).unwrap_or_default();
    let mut plan = Plan {
        run,
        source_etag: last.upload_etag,
        file_headers: last.headers,
        mappings: last.mappings,
        unmapped_headers: last.unmapped_headers,
        file: last.file,
        chunks_total,
        sample_records,
        distinct_values,
        clipped: None,
        suggested_template: None,
        queue: !import.in_preview,
    };
    budget::fit(&mut plan, clipped_values);
    let queued_run = queue_plan(svc, import, &mut plan).await?;
    // Every group is decided: the entries are not read again.
    svc.files.delete_prefix(&format!("{}entries/", keys.0)).await?;
    let Some(empty_type) = queued_run else { return Ok(()) };
    let stages = (0..parts).map(|part| ScanStage::Send { part, groups, empty_type }).collect();
    send_stages(svc, import, run, stages).await?;
    svc.files.put(&queued, Vec::new()).await?;
    tracing::info!(
        tenant_id = import.tenant_id,
        import_id = import.id,
        rows = plan.file.rows,
        chunks = chunks_total,
        parts,
        "import queued"
    );
    Ok(())
}

/// Sends part `part`'s chunks, each with its rows that lose.
async fn send(svc: &Services, import: &Import, run: u32, part: u32, groups: u32, empty_type: bool) -> Result<()> {
    let keys = Keys::of(import, run);
    let stopped: Stopped = get_json(svc, &keys.state(part)).await?;
    let mut losers = Vec::new();
    for group in 0..groups {
        let starts: Vec<u64> = get_json(svc, &keys.decided(group)).await?;
        let (start, end) = (starts[part as usize], starts[part as usize + 1]);
        if end > start {
            let bytes = read_range(svc, &keys.losers(group), start, end).await?;
            losers.extend(bytes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())));
        }
    }
    losers.sort_unstable();
    let errors = import.duplicates == Duplicates::Error;
    let chunks = stopped.bounds.into_iter().map(|chunk| {
        let (from, to) = (
            losers.partition_point(|r| *r < chunk.first_row),
            losers.partition_point(|r| *r < chunk.first_row + chunk.rows),
        );
        let these = losers[from..to].to_vec();
        chunk.with_copies(these, errors)
    });
    send_chunks(svc, import, run, &stopped.source, empty_type, chunks).await
}

async fn exists(svc: &Services, key: &str) -> Result<bool> {
    Ok(svc.files.list(key).await?.iter().any(|k| k == key))
}

async fn put_json(svc: &Services, key: &str, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Internal(format!("scan state: {e}")))?;
    svc.files.put(key, bytes).await
}

async fn get_json<T: DeserializeOwned>(svc: &Services, key: &str) -> Result<T> {
    let bytes = svc.files.read(key).await?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Internal(format!("scan state {key}: {e}")))
}

async fn read_range(svc: &Services, key: &str, start: u64, end: u64) -> Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut opened = svc.files.open(key, Some((start, end)), None).await?;
    let mut bytes = Vec::with_capacity((end - start) as usize);
    opened.stream.read_to_end(&mut bytes).await.map_err(|e| Error::aws("s3", e))?;
    if bytes.len() as u64 != end - start {
        return Err(Error::aws("s3", format!("{key}: read {} bytes of {}", bytes.len(), end - start)));
    }
    Ok(bytes)
}
