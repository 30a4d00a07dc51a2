//! The ports over local disk and memory, for the peak-RSS runs: each step runs in a process of
//! its own over the same directory, so what one step leaves (the import, objects, queued
//! messages) is on disk for the next. Only what the three steps call is served; the rest is an
//! error, never a panic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use domain::idempotency::KeyClaim;
use domain::import::Plan;
use domain::import::{Import, Phase, Progress, RunStart, SignedRequest, Status};
use domain::record::{ResourceType, StoredRecord};
use domain::revert_state::RevertState;
use domain::stats::{Stats, Tally};
use domain::webhook::SecretVersions;
use domain::{Error, Result};
use serde::{Deserialize, Serialize};
use service::config::Settings;
use service::outbound::Webhooks;
use service::ports::{
    Applied, BatchState, BatchWrite, ChunkCount, CleanupStep, Download, FileStore, Finished, ImportKey, ImportStore,
    ObjectWriter, Opened, Page, Queue, RecordStore, RecordWrite, Restart, RevertWrite, StoredImport, Unit,
    WebhookSecrets, Weight, WorkQueue,
};
use service::Services;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// What no step of the bench calls.
fn unserved(what: &str) -> Error {
    Error::Internal(format!("{what} is not served by the bench's stores"))
}

fn io(e: std::io::Error) -> Error {
    Error::Internal(format!("bench store: {e}"))
}

/// The services of a step over `dir`; `records` counts the records written.
pub fn services(dir: &Path, records: Arc<CountingRecords>) -> Result<Services> {
    // The Lambdas' defaults (CHUNK_ROWS and the rest) from the environment, names made up.
    let settings = Settings::from_lookup(|name| match name {
        "IMPORTS_TABLE" | "RECORDS_TABLE" | "UPLOADS_BUCKET" => Some("bench".into()),
        "TRANSFORM_QUEUE_URL" | "PROCESS_QUEUE_URL" | "EVENTS_QUEUE_URL" | "WEBHOOKS_QUEUE_URL" => Some("bench".into()),
        other => std::env::var(other).ok(),
    })?;
    Ok(Services {
        imports: Arc::new(OneImport::open(dir.join("import.json"))?),
        records,
        files: Arc::new(DiskFiles { root: dir.join("objects") }),
        queue: Arc::new(JsonLines { dir: dir.to_path_buf() }),
        webhooks: Webhooks::new(&settings)?,
        webhook_secrets: Arc::new(NoRotations),
        settings,
    })
}

/// Objects as files under `root`, by key.
pub struct DiskFiles {
    pub root: PathBuf,
}

impl DiskFiles {
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn link(&self, key: &str) -> String {
        format!("file://{}", self.path(key).display())
    }
}

/// Size and modification time stand in for an ETag.
fn etag(meta: &std::fs::Metadata) -> Option<String> {
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("{:x}-{:x}", meta.len(), modified.as_nanos()))
}

struct FileWriter {
    file: std::io::BufWriter<std::fs::File>,
    part: PathBuf,
    path: PathBuf,
}

#[async_trait]
impl ObjectWriter for FileWriter {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).map_err(io)
    }

    async fn finish(self: Box<Self>) -> Result<()> {
        let FileWriter { file, part, path } = *self;
        file.into_inner().map_err(|e| io(e.into_error()))?;
        std::fs::rename(part, path).map_err(io)
    }
}

#[async_trait]
impl FileStore for DiskFiles {
    async fn presign_upload(&self, key: &str, ttl_secs: u64) -> Result<SignedRequest> {
        let expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(ttl_secs as i64);
        Ok(SignedRequest { url: self.link(key), method: "PUT".into(), headers: BTreeMap::new(), expires_at })
    }

    async fn presign_download(&self, key: &str, _ttl_secs: u64, _download: &Download) -> Result<String> {
        Ok(self.link(key))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(path, bytes).map_err(io)
    }

    async fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let part = path.with_extension("part");
        let file = std::io::BufWriter::new(std::fs::File::create(&part).map_err(io)?);
        Ok(Box::new(FileWriter { file, part, path }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries {
                let path = entry.map_err(io)?.path();
                let key = path.strip_prefix(&self.root).map_err(|e| Error::Internal(e.to_string()))?;
                let key = key.to_string_lossy().into_owned();
                if path.is_dir() {
                    dirs.push(path);
                } else if key.starts_with(prefix) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn read(&self, key: &str) -> Result<Vec<u8>> {
        std::fs::read(self.path(key)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound,
            _ => io(e),
        })
    }

    async fn delete_prefix(&self, _prefix: &str) -> Result<()> {
        Err(unserved("delete_prefix"))
    }

    async fn open(&self, key: &str, range: Option<(u64, u64)>, if_match: Option<&str>) -> Result<Opened> {
        let mut file = tokio::fs::File::open(self.path(key)).await.map_err(io)?;
        let meta = file.metadata().await.map_err(io)?;
        let etag = etag(&meta);
        if if_match.is_some_and(|m| Some(m) != etag.as_deref()) {
            return Err(Error::SourceChanged);
        }
        let size = meta.len();
        let (start, end) = range.unwrap_or((0, size));
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
        // Streamed from disk: only the range, never the whole object in memory.
        Ok(Opened { stream: Box::new(file.take(end.saturating_sub(start))), size, etag })
    }
}

/// The one import of a run, kept in a JSON file so the next step's process finds it as this one
/// left it.
pub struct OneImport {
    path: PathBuf,
    state: Mutex<Option<Saved>>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Saved {
    import: Import,
    progress: Progress,
    requested_mappings: BTreeMap<String, Option<String>>,
    source_etag: Option<String>,
    /// The chunks counted: each counts once.
    chunks: BTreeSet<u64>,
}

impl OneImport {
    fn open(path: PathBuf) -> Result<Self> {
        let state = match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| Error::Internal(e.to_string()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(e)),
        };
        Ok(Self { path, state: Mutex::new(state) })
    }

    /// Changes the import if it is `import_id` and `change` says so, and saves it.
    fn change(&self, import_id: &str, change: impl FnOnce(&mut Saved) -> bool) -> Result<bool> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(saved) = state.as_mut().filter(|s| s.import.id == import_id) else { return Ok(false) };
        if !change(saved) {
            return Ok(false);
        }
        saved.import.updated_at = OffsetDateTime::now_utc();
        let bytes = serde_json::to_vec(saved).map_err(|e| Error::Internal(e.to_string()))?;
        std::fs::write(&self.path, bytes).map_err(io)?;
        Ok(true)
    }

    /// Moves the import from one of `from` (at `run`, if given) to `to`.
    fn transition(&self, import_id: &str, from: &[Status], run: Option<u32>, to: Status) -> Result<bool> {
        self.change(import_id, |s| {
            let moved = from.contains(&s.import.status) && run.is_none_or(|r| r == s.progress.run);
            if moved {
                s.import.status = to;
            }
            moved
        })
    }
}

/// Adds a tally to the stats by the names the stores use.
fn add(stats: &mut Stats, tally: &Tally) -> Result<()> {
    let mut value = serde_json::to_value(*stats).map_err(|e| Error::Internal(e.to_string()))?;
    for (name, by) in tally.increments() {
        if let Some(n) = value.get_mut(name) {
            *n = (n.as_u64().unwrap_or(0) + by).into();
        }
    }
    *stats = serde_json::from_value(value).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(())
}

#[async_trait]
impl ImportStore for OneImport {
    async fn create(&self, import: &Import) -> Result<bool> {
        let saved = Saved {
            import: import.clone(),
            progress: Progress::default(),
            requested_mappings: import.mappings.clone(),
            source_etag: None,
            chunks: BTreeSet::new(),
        };
        let bytes = serde_json::to_vec(&saved).map_err(|e| Error::Internal(e.to_string()))?;
        std::fs::write(&self.path, bytes).map_err(io)?;
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(saved);
        Ok(true)
    }

    async fn claim_key(&self, _: &str, _: &str, _: &str, _: &str) -> Result<KeyClaim> {
        Err(unserved("claim_key"))
    }

    async fn get(&self, _tenant_id: &str, import_id: &str) -> Result<Option<StoredImport>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(state.as_ref().filter(|s| s.import.id == import_id).map(|s| StoredImport {
            import: s.import.clone(),
            progress: s.progress,
            requested_mappings: s.requested_mappings.clone(),
            source_etag: s.source_etag.clone(),
            published: None,
            sweep_at: None,
            batch_counted_at: None,
        }))
    }

    async fn progress(&self, tenant_id: &str, import_id: &str) -> Result<Option<Progress>> {
        Ok(self.get(tenant_id, import_id).await?.map(|s| s.progress))
    }

    async fn list(&self, _: &str, _: Option<Status>, _: usize, _: Option<&str>) -> Result<Page<Import>> {
        Err(unserved("list"))
    }

    async fn save_plan(&self, _tenant_id: &str, import_id: &str, plan: &Plan) -> Result<bool> {
        self.change(import_id, |s| {
            let waiting = matches!(s.import.status, Status::AwaitingUpload | Status::Queued);
            if !waiting || s.progress.run != plan.run {
                return false;
            }
            let import = &mut s.import;
            import.file_headers = plan.file_headers.clone();
            import.mappings = plan.mappings.clone();
            import.unmapped_headers = plan.unmapped_headers.clone();
            import.file = Some(plan.file.clone());
            import.stats.rows = plan.file.rows;
            import.sample_records = plan.sample_records.clone();
            import.distinct_values = plan.distinct_values.clone();
            import.clipped = plan.clipped.clone();
            import.has_upload_file = true;
            import.phase = Some(Phase::Prevalidation);
            import.links.upload = None;
            if plan.queue {
                import.status = Status::Queued;
                import.phase = Some(Phase::Transforming);
            }
            s.progress.chunks_total = plan.chunks_total;
            s.progress.planned = true;
            s.source_etag = plan.source_etag.clone();
            true
        })
    }

    async fn preview_ready(&self, _tenant_id: &str, import_id: &str, run: u32) -> Result<bool> {
        self.transition(import_id, &[Status::AwaitingUpload, Status::Queued], Some(run), Status::PreviewReady)
    }

    async fn restart(&self, _: &str, _: &str, _: &Restart) -> Result<bool> {
        Err(unserved("restart"))
    }

    async fn batch_outcomes(&self, _: &str, _: &str, _: u32, _: u64) -> Result<BTreeMap<u64, String>> {
        Err(unserved("batch_outcomes"))
    }

    async fn record_chunk(&self, _tenant_id: &str, import_id: &str, run: u32, count: &ChunkCount<'_>) -> Result<bool> {
        let mut added = Ok(());
        let counted = self.change(import_id, |s| {
            let running = matches!(s.import.status, Status::Queued | Status::Processing);
            if !running || s.progress.run != run || !s.chunks.insert(count.chunk.index) {
                return false;
            }
            s.progress.chunks_transformed += 1;
            s.progress.batches_planned += count.batches;
            s.progress.rows_transformed += count.chunk.rows;
            let start = *s.progress.start.get_or_insert(RunStart { chunk: count.chunk.index, at: count.began });
            s.import.started_at = Some(start.at);
            s.import.status = Status::Processing;
            s.import.phase = Some(Phase::Processing);
            added = add(&mut s.import.stats, count.tally);
            true
        })?;
        added.map(|()| counted)
    }

    async fn complete(&self, _tenant_id: &str, import_id: &str, run: u32, _files: Finished) -> Result<bool> {
        self.transition(import_id, &[Status::Queued, Status::Processing], Some(run), Status::Completed)
    }

    async fn begin_cleanup(&self, _: &str, _: &str, _: u32) -> Result<bool> {
        Err(unserved("begin_cleanup"))
    }

    async fn note_seen(&self, _: &str, _: &str, _: u32, _: &[String]) -> Result<()> {
        Err(unserved("note_seen"))
    }

    async fn cleanup_step(&self, _: &str, _: &str, _: u32, _: CleanupStep) -> Result<bool> {
        Err(unserved("cleanup_step"))
    }

    async fn begin_revert(&self, _: &str, _: &str, _: &RevertState) -> Result<bool> {
        Err(unserved("begin_revert"))
    }

    async fn kept_before_images(&self, _: &str, _: &str, _: u32) -> Result<Vec<(String, String)>> {
        Err(unserved("kept_before_images"))
    }

    async fn plan_revert(&self, _: &str, _: &str, _: u64) -> Result<()> {
        Err(unserved("plan_revert"))
    }

    async fn fail_revert(&self, _: &str, _: &str, _: &str) -> Result<bool> {
        Err(unserved("fail_revert"))
    }

    async fn resume_revert(&self, _: &str, _: &str) -> Result<bool> {
        Err(unserved("resume_revert"))
    }

    async fn finish_revert(&self, _: &str, _: &str) -> Result<bool> {
        Err(unserved("finish_revert"))
    }

    async fn interrupt(&self, _: &str, _: &str) -> Result<bool> {
        Err(unserved("interrupt"))
    }

    async fn due(&self, _: OffsetDateTime, _: Option<&str>) -> Result<Page<ImportKey>> {
        Err(unserved("due"))
    }

    async fn reschedule(&self, _: &str, _: &str, _: OffsetDateTime, _: OffsetDateTime) -> Result<bool> {
        Err(unserved("reschedule"))
    }

    /// The bench keeps no record of events.
    async fn mark_published(&self, _: &str, _: &str, _: &str) -> Result<()> {
        Ok(())
    }

    async fn published(&self, _: &str, _: &str) -> Result<BTreeSet<String>> {
        Ok(BTreeSet::new())
    }

    async fn finish(&self, _: &str, _: &str, _: &[Status], _: Status, _: &str) -> Result<bool> {
        Err(unserved("finish"))
    }

    async fn delete(&self, _: &str, _: &str) -> Result<bool> {
        Err(unserved("delete"))
    }

    async fn fail(&self, _tenant_id: &str, import_id: &str, run: u32, from: &[Status], reason: &str) -> Result<bool> {
        tracing::warn!(import_id, reason, "the bench's import failed");
        self.transition(import_id, from, Some(run), Status::Failed)
    }
}

/// No record exists; written ones are counted, not kept, so memory is the step's own.
#[derive(Default)]
pub struct CountingRecords {
    pub written: AtomicU64,
}

#[async_trait]
impl RecordStore for CountingRecords {
    async fn get(&self, _: &str, _: ResourceType, _: &str) -> Result<Option<StoredRecord>> {
        Ok(None)
    }

    async fn get_many(&self, _: &str, _: ResourceType, _: &[String]) -> Result<HashMap<String, StoredRecord>> {
        Ok(HashMap::new())
    }

    async fn list(&self, _: &str, _: ResourceType, _: usize, _: Option<&str>) -> Result<Page<StoredRecord>> {
        Err(unserved("records list"))
    }

    async fn apply_batch(&self, batch: &BatchWrite) -> Result<Applied> {
        self.written.fetch_add(batch.writes.len() as u64, Ordering::Relaxed);
        Ok(Applied::Now)
    }

    async fn batch_state(&self, _: &str, _: &str, _: u32, _: &Unit) -> Result<Option<BatchState>> {
        Err(unserved("batch_state"))
    }

    fn weigh(&self, tenant_id: &str, resource: ResourceType, write: &RecordWrite) -> Result<Weight> {
        aws_adapters::weigh(tenant_id, resource, write)
    }

    async fn apply_revert(&self, _: &RevertWrite) -> Result<Applied> {
        Err(unserved("apply_revert"))
    }

    async fn create_missing(&self, _: &str, _: ResourceType, _: &[StoredRecord]) -> Result<u64> {
        Err(unserved("create_missing"))
    }

    async fn census(&self, _: &str, _: ResourceType, _: &str, _: OffsetDateTime, _: Option<u32>) -> Result<(u64, u64)> {
        Err(unserved("census"))
    }

    async fn unseen(&self, _: &str, _: ResourceType, _: &str, _: usize, _: Option<&str>) -> Result<Page<StoredRecord>> {
        Err(unserved("unseen"))
    }

    async fn lookup(&self, _: &str, _: ResourceType, _: &str, _: &[String]) -> Result<HashMap<String, String>> {
        Ok(HashMap::new())
    }
}

/// Each queue a JSON-lines file in `dir`: the next step's process reads it line by line.
pub struct JsonLines {
    dir: PathBuf,
}

impl JsonLines {
    pub fn path(dir: &Path, queue: Queue) -> PathBuf {
        dir.join(match queue {
            Queue::Transform => "transform.jsonl",
            Queue::Process => "process.jsonl",
            Queue::Events => "events.jsonl",
            Queue::Webhooks => "webhooks.jsonl",
        })
    }
}

#[async_trait]
impl WorkQueue for JsonLines {
    async fn send(&self, queue: Queue, _tenant_id: &str, bodies: Vec<String>) -> Result<()> {
        // A benchmark runs one tenant's import: there is no one to be fair to.
        let file = std::fs::OpenOptions::new().create(true).append(true).open(Self::path(&self.dir, queue));
        let mut out = std::io::BufWriter::new(file.map_err(io)?);
        for body in bodies {
            // A message body is one JSON value: a line break inside it would split it.
            if body.contains('\n') {
                return Err(Error::Internal("a message body holds a line break".into()));
            }
            writeln!(out, "{body}").map_err(io)?;
        }
        out.flush().map_err(io)
    }

    /// Nothing here delivers webhooks: a delay changes nothing.
    async fn send_after(&self, queue: Queue, tenant_id: &str, body: String, _delay_secs: u32) -> Result<()> {
        self.send(queue, tenant_id, vec![body]).await
    }
}

/// The bench serves no webhook secret routes: every tenant at its first version.
struct NoRotations;

#[async_trait]
impl WebhookSecrets for NoRotations {
    async fn versions(&self, _tenant_id: &str) -> Result<SecretVersions> {
        Ok(SecretVersions::default())
    }

    async fn rotate(&self, _tenant_id: &str, _now: OffsetDateTime) -> Result<SecretVersions> {
        Err(Error::Internal("the bench rotates no webhook secrets".into()))
    }
}
