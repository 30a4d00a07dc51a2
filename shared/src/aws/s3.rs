//! The uploads bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::import::SignedRequest;
use crate::ports::{FileStore, Opened};
use crate::time_fmt;

pub struct S3Files {
    client: aws_sdk_s3::Client,
    presign: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Files {
    pub fn new(client: aws_sdk_s3::Client, presign: aws_sdk_s3::Client, settings: &Settings) -> Self {
        Self { client, presign, bucket: settings.uploads_bucket.clone() }
    }
}

fn s3_err(e: impl std::error::Error) -> Error {
    Error::aws("s3", aws_sdk_s3::error::DisplayErrorContext(e))
}

#[async_trait]
impl FileStore for S3Files {
    async fn presign_upload(&self, key: &str, ttl_secs: u64) -> Result<SignedRequest> {
        let ttl = Duration::from_secs(ttl_secs);
        let config = PresigningConfig::expires_in(ttl).map_err(|e| Error::Internal(e.to_string()))?;
        let signed = self.presign.put_object().bucket(&self.bucket).key(key).presigned(config).await.map_err(s3_err)?;
        let headers: BTreeMap<String, String> = signed.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Ok(SignedRequest {
            url: signed.uri().to_string(),
            method: signed.method().to_string(),
            headers,
            expires_at: time_fmt::now() + ttl,
        })
    }

    async fn open(&self, key: &str, range: Option<(u64, u64)>, if_match: Option<&str>) -> Result<Opened> {
        let mut req = self.client.get_object().bucket(&self.bucket).key(key).set_if_match(if_match.map(str::to_string));
        if let Some((start, end)) = range {
            if end <= start {
                return Ok(Opened { stream: Box::new(tokio::io::empty()), size: 0, etag: None });
            }
            req = req.range(format!("bytes={start}-{}", end - 1));
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => return Err(Error::SourceChanged),
            Err(e) => return Err(s3_err(e)),
        };
        let size = match out.content_range() {
            Some(r) => r.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or_default(),
            None => out.content_length().unwrap_or_default().max(0) as u64,
        };
        let etag = out.e_tag().map(str::to_string);
        Ok(Opened { stream: Box::new(out.body.into_async_read()), size, etag })
    }
}
