//! The ports over local disk, for the peak-RSS runs: each step runs in a process of its own over
//! the same directory, so what one step leaves (objects, queued messages) is on disk for the
//! next. The import and its ledger are the testkit's in-memory store, saved to the directory
//! after each step and read back by the next; records are counted, not kept
//! (`MemoryStore::forgetful`), so memory is the step's own.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use domain::import::SignedRequest;
use domain::{Error, Result};
use service::outbound::Webhooks;
use service::ports::{Download, FileStore, ObjectWriter, Opened, Queue, WorkQueue};
use service::Services;
use testkit::{MemoryDocuments, MemorySecrets, MemoryStore};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

fn io(e: std::io::Error) -> Error {
    Error::Internal(format!("bench store: {e}"))
}

/// Where a step leaves the import and its ledger for the next.
fn saved_store(dir: &Path) -> PathBuf {
    dir.join("store.json")
}

/// The services of a step over `dir`, with the store the previous step left there.
pub fn services(dir: &Path) -> Result<(Services, Arc<MemoryStore>)> {
    // The Lambdas' defaults (CHUNK_ROWS and the rest) from the environment, names made up.
    let env: Vec<(String, String)> = std::env::vars().collect();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let settings = testkit::settings(&vars)?;
    let store = Arc::new(MemoryStore::forgetful());
    match std::fs::read(saved_store(dir)) {
        Ok(saved) => store.restore(&saved)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let svc = Services {
        imports: store.clone(),
        records: store.clone(),
        files: Arc::new(DiskFiles { root: dir.join("objects") }),
        // The bench uploads in one PUT: no multipart upload is ever opened.
        uploads: Arc::new(testkit::MemoryFiles::default()),
        sources: Arc::new(testkit::MemorySources::default()),
        queue: Arc::new(JsonLines { dir: dir.to_path_buf() }),
        webhooks: Webhooks::new(&settings)?,
        webhook_secrets: Arc::new(MemorySecrets::default()),
        documents: Arc::new(MemoryDocuments::default()),
        schemas: Default::default(),
        settings,
        finishes: Default::default(),
    };
    Ok((svc, store))
}

/// Saves the store for the next step's process.
pub fn save(dir: &Path, store: &MemoryStore) -> Result<()> {
    std::fs::write(saved_store(dir), store.snapshot()?).map_err(io)
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

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool> {
        if self.path(key).exists() {
            return Ok(false);
        }
        self.put(key, bytes).await.map(|()| true)
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

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        for key in self.list(prefix).await? {
            std::fs::remove_file(self.path(&key)).map_err(io)?;
        }
        Ok(())
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
