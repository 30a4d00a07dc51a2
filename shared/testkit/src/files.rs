//! `FileStore` in memory: objects by key, each put giving a new ETag, so a replaced upload is
//! told apart as S3 tells it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use domain::import::SignedRequest;
use domain::{Error, Result};
use service::ports::{Download, FileStore, MultipartUploads, ObjectWriter, Opened, UploadedPart};
use time::OffsetDateTime;

use crate::faults::Faults;

#[derive(Clone)]
struct Object {
    bytes: Arc<Vec<u8>>,
    etag: String,
}

/// Open multipart uploads by key: the id and the parts by number.
type Uploads = BTreeMap<String, Vec<(String, BTreeMap<u32, Vec<u8>>)>>;

#[derive(Default)]
struct Objects {
    objects: Mutex<BTreeMap<String, Object>>,
    uploads: Mutex<Uploads>,
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

    fn uploads(&self) -> MutexGuard<'_, Uploads> {
        self.0.uploads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// PUTs a part, as a client does to a signed part URL.
    pub fn put_part(&self, key: &str, upload_id: &str, part: u32, bytes: Vec<u8>) -> Result<()> {
        let mut uploads = self.uploads();
        let upload = uploads.get_mut(key).and_then(|open| open.iter_mut().find(|(id, _)| id == upload_id));
        let (_, parts) = upload.ok_or_else(|| Error::aws("s3", format!("NoSuchUpload: {upload_id}")))?;
        parts.insert(part, bytes);
        Ok(())
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

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool> {
        self.faults().before("put")?;
        if self.objects().contains_key(key) {
            return Ok(false);
        }
        self.store(key, bytes);
        self.faults().after("put")?;
        Ok(true)
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

#[async_trait]
impl MultipartUploads for MemoryFiles {
    async fn start(&self, key: &str) -> Result<()> {
        self.faults().before("start")?;
        let id = format!("upload-{}", self.0.versions.fetch_add(1, Ordering::Relaxed) + 1);
        self.uploads().entry(key.to_string()).or_default().push((id, BTreeMap::new()));
        Ok(())
    }

    async fn open_upload(&self, key: &str) -> Result<Option<String>> {
        Ok(self.uploads().get(key).and_then(|open| open.first()).map(|(id, _)| id.clone()))
    }

    async fn presign_part(&self, key: &str, upload_id: &str, part: u32, _ttl_secs: u64) -> Result<String> {
        Ok(format!("memory://uploads/{key}?partNumber={part}&uploadId={upload_id}"))
    }

    async fn parts(&self, key: &str, upload_id: &str) -> Result<Vec<UploadedPart>> {
        let uploads = self.uploads();
        let parts = uploads.get(key).and_then(|open| open.iter().find(|(id, _)| id == upload_id)).map(|(_, p)| p);
        let parts = parts.ok_or_else(|| Error::aws("s3", format!("NoSuchUpload: {upload_id}")))?;
        let part = |(n, b): (&u32, &Vec<u8>)| UploadedPart {
            number: *n,
            etag: format!("\"{n}-{}\"", b.len()),
            size: b.len() as u64,
        };
        Ok(parts.iter().map(part).collect())
    }

    async fn complete(&self, key: &str, upload_id: &str, parts: &[UploadedPart]) -> Result<()> {
        self.faults().before("complete")?;
        let held = {
            let mut uploads = self.uploads();
            let open = uploads.get_mut(key).ok_or_else(|| Error::aws("s3", format!("NoSuchUpload: {upload_id}")))?;
            let at = open.iter().position(|(id, _)| id == upload_id);
            open.remove(at.ok_or_else(|| Error::aws("s3", format!("NoSuchUpload: {upload_id}")))?).1
        };
        let bytes = parts.iter().filter_map(|p| held.get(&p.number)).flatten().copied().collect();
        self.store(key, bytes);
        Ok(())
    }

    async fn abort(&self, key: &str) -> Result<()> {
        self.faults().before("abort")?;
        self.uploads().remove(key);
        Ok(())
    }
}
