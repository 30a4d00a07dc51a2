//! `Sources` in memory: files by the URL, or the `s3://bucket/key`, that names them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use domain::import::PullSource;
use domain::Result;
use service::ports::{Opened, Sources};

#[derive(Clone, Default)]
pub struct MemorySources(Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

impl MemorySources {
    /// Makes `bytes` what `name` (a URL, or `s3://bucket/key`) serves.
    pub fn add(&self, name: &str, bytes: Vec<u8>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_string(), bytes);
    }
}

#[async_trait]
impl Sources for MemorySources {
    async fn open(&self, source: &PullSource) -> Result<std::result::Result<Opened, String>> {
        let name = match source {
            PullSource::Url(url) => url.clone(),
            PullSource::S3(s3) => format!("s3://{}/{}", s3.bucket, s3.key),
        };
        let found = self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&name).cloned();
        Ok(match found {
            Some(bytes) => {
                let size = bytes.len() as u64;
                Ok(Opened { stream: Box::new(std::io::Cursor::new(bytes)), size, etag: None })
            }
            None => Err(format!("{name} not found")),
        })
    }
}
