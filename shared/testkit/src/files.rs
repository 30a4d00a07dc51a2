//! `FileStore` in memory: objects by key, each put giving a new ETag, so a replaced upload is
//! told apart as S3 tells it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use domain::import::SignedRequest;
use domain::{Error, Result};
use service::ports::{Download, FileStore, ObjectWriter, Opened};
use time::OffsetDateTime;

use crate::faults::Faults;

#[derive(Clone)]
struct Object {
    bytes: Arc<Vec<u8>>,
    etag: String,
}

#[derive(Default)]
struct Objects {
    objects: Mutex<BTreeMap<String, Object>>,
    versions: AtomicU64,
    faults: Faults,
}

/// Cheap to clone: clones share the objects (an unfinished writer holds one).
#[derive(Clone, Default)]
pub struct MemoryFiles(Arc<Objects>);

/// What S3 answers for a missing key: an error its caller retries, not `NotFound`.
fn no_such_key(key: &str) -> Error {
    Error::aws("s3", format!("NoSuchKey: {key}"))
}

impl MemoryFiles {
    /// Failures to inject, by port method name (`open`, `put`, `write`, ...).
    pub fn faults(&self) -> &Faults {
        &self.0.faults
    }

    fn objects(&self) -> MutexGuard<'_, BTreeMap<String, Object>> {
        self.0.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn store(&self, key: &str, bytes: Vec<u8>) {
        let etag = format!("\"{}\"", self.0.versions.fetch_add(1, Ordering::Relaxed) + 1);
        self.objects().insert(key.to_string(), Object { bytes: Arc::new(bytes), etag });
    }

    /// An object's bytes, if it exists (what a test checks).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.objects().get(key).map(|o| o.bytes.to_vec())
    }

    /// An object as text, lossily.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<String> {
        self.objects().keys().cloned().collect()
    }
}

struct MemoryWriter {
    files: MemoryFiles,
    key: String,
    bytes: Vec<u8>,
}

#[async_trait]
impl ObjectWriter for MemoryWriter {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.files.faults().before("write")?;
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<()> {
        self.files.faults().before("finish")?;
        let MemoryWriter { files, key, bytes } = *self;
        files.store(&key, bytes);
        Ok(())
    }
}

#[async_trait]
impl FileStore for MemoryFiles {
    async fn presign_upload(&self, key: &str, ttl_secs: u64) -> Result<SignedRequest> {
        self.faults().before("presign_upload")?;
        let expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(ttl_secs as i64);
        Ok(SignedRequest {
            url: format!("memory://uploads/{key}"),
            method: "PUT".into(),
            headers: BTreeMap::new(),
            expires_at,
        })
    }

    async fn presign_download(&self, key: &str, _ttl_secs: u64, download: &Download) -> Result<String> {
        self.faults().before("presign_download")?;
        Ok(format!("memory://uploads/{key}?filename={}", download.filename))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.faults().before("put")?;
        self.store(key, bytes);
        self.faults().after("put")
    }

    async fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>> {
        self.faults().before("create")?;
        Ok(Box::new(MemoryWriter { files: self.clone(), key: key.to_string(), bytes: Vec::new() }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.faults().before("list")?;
        Ok(self.objects().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    async fn read(&self, key: &str) -> Result<Vec<u8>> {
        self.faults().before("read")?;
        self.get(key).ok_or_else(|| no_such_key(key))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        self.faults().before("delete_prefix")?;
        self.objects().retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }

    async fn open(&self, key: &str, range: Option<(u64, u64)>, if_match: Option<&str>) -> Result<Opened> {
        self.faults().before("open")?;
        let object = self.objects().get(key).cloned().ok_or_else(|| no_such_key(key))?;
        if if_match.is_some_and(|m| m != object.etag) {
            return Err(Error::SourceChanged);
        }
        let size = object.bytes.len() as u64;
        let (start, end) = range.unwrap_or((0, size));
        let (start, end) = (start.min(size) as usize, end.min(size) as usize);
        let slice = object.bytes[start..end.max(start)].to_vec();
        Ok(Opened { stream: Box::new(std::io::Cursor::new(slice)), size, etag: Some(object.etag) })
    }
}
