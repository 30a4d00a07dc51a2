//! The uploads bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use domain::error::{Error, Result};
use domain::import::SignedRequest;
use domain::time_fmt;
use service::config::Settings;
use service::ports::{Download, FileStore, MultipartUploads, ObjectWriter, Opened, UploadedPart};

pub struct S3Files {
    client: aws_sdk_s3::Client,
    presign: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Files {
    pub fn new(client: aws_sdk_s3::Client, presign: aws_sdk_s3::Client, settings: &Settings) -> Self {
        Self { client, presign, bucket: settings.uploads_bucket.clone() }
    }

    /// The open multipart uploads of `key`, the first started first.
    async fn open_uploads(&self, key: &str) -> Result<Vec<String>> {
        // One page of 1,000 under the object's own key: an import opens one (two if its create
        // was retried).
        let page =
            self.client.list_multipart_uploads().bucket(&self.bucket).prefix(key).send().await.map_err(s3_err)?;
        let mut found: Vec<_> = page
            .uploads()
            .iter()
            .filter(|u| u.key() == Some(key))
            .filter_map(|u| {
                let initiated = u.initiated().map(|at| (at.secs(), at.subsec_nanos())).unwrap_or_default();
                Some((initiated, u.upload_id()?.to_string()))
            })
            .collect();
        found.sort();
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }
}

/// A signed URL's validity.
fn presigning(ttl_secs: u64) -> Result<PresigningConfig> {
    PresigningConfig::expires_in(Duration::from_secs(ttl_secs)).map_err(|e| Error::Internal(e.to_string()))
}

fn s3_err(e: impl std::error::Error) -> Error {
    Error::aws("s3", aws_sdk_s3::error::DisplayErrorContext(e))
}

#[async_trait]
impl FileStore for S3Files {
    async fn presign_upload(&self, key: &str, ttl_secs: u64) -> Result<SignedRequest> {
        let ttl = Duration::from_secs(ttl_secs);
        let config = presigning(ttl_secs)?;
        let signed = self.presign.put_object().bucket(&self.bucket).key(key).presigned(config).await.map_err(s3_err)?;
        let headers: BTreeMap<String, String> = signed.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Ok(SignedRequest {
            url: signed.uri().to_string(),
            method: signed.method().to_string(),
            headers,
            expires_at: time_fmt::now() + ttl,
        })
    }

    async fn presign_download(&self, key: &str, ttl_secs: u64, download: &Download) -> Result<String> {
        let config = presigning(ttl_secs)?;
        // The response-* overrides are part of the signature: the link cannot be altered to drop them.
        let signed = self
            .presign
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(download.disposition())
            .response_content_type(download.content_type)
            .presigned(config)
            .await
            .map_err(s3_err)?;
        Ok(signed.uri().to_string())
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.client.put_object().bucket(&self.bucket).key(key).body(bytes.into()).send().await.map_err(s3_err)?;
        Ok(())
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool> {
        let put = self.client.put_object().bucket(&self.bucket).key(key).if_none_match("*").body(bytes.into());
        match put.send().await {
            Ok(_) => Ok(true),
            // 412: it exists; 409: another conditional put of it is under way.
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => Ok(false),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>> {
        Ok(Box::new(S3Writer {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_string(),
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_err)?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        keys.sort();
        Ok(keys)
    }

    async fn read(&self, key: &str) -> Result<Vec<u8>> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(s3_err)?;
        let bytes = out.body.collect().await.map_err(|e| Error::aws("s3", e))?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let keys = self.list(prefix).await?;
        // DeleteObjects takes 1,000 keys.
        for part in keys.chunks(1000) {
            let objects = part
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build().map_err(|e| Error::aws("s3", e)))
                .collect::<Result<Vec<_>>>()?;
            let delete =
                Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(|e| Error::aws("s3", e))?;
            self.client.delete_objects().bucket(&self.bucket).delete(delete).send().await.map_err(s3_err)?;
        }
        Ok(())
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

#[async_trait]
impl MultipartUploads for S3Files {
    async fn start(&self, key: &str) -> Result<()> {
        self.client.create_multipart_upload().bucket(&self.bucket).key(key).send().await.map_err(s3_err)?;
        Ok(())
    }

    async fn open_upload(&self, key: &str) -> Result<Option<String>> {
        Ok(self.open_uploads(key).await?.into_iter().next())
    }

    async fn presign_part(&self, key: &str, upload_id: &str, part: u32, ttl_secs: u64) -> Result<String> {
        let config = presigning(ttl_secs)?;
        let signed = self
            .presign
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part as i32)
            .presigned(config)
            .await
            .map_err(s3_err)?;
        Ok(signed.uri().to_string())
    }

    async fn parts(&self, key: &str, upload_id: &str) -> Result<Vec<UploadedPart>> {
        let mut parts = Vec::new();
        let mut pages =
            self.client.list_parts().bucket(&self.bucket).key(key).upload_id(upload_id).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_err)?;
            parts.extend(page.parts().iter().map(|p| UploadedPart {
                number: p.part_number().unwrap_or_default().max(0) as u32,
                etag: p.e_tag().unwrap_or_default().to_string(),
                size: p.size().unwrap_or_default().max(0) as u64,
            }));
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    async fn complete(&self, key: &str, upload_id: &str, parts: &[UploadedPart]) -> Result<()> {
        let parts = parts
            .iter()
            .map(|p| CompletedPart::builder().part_number(p.number as i32).e_tag(&p.etag).build())
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    async fn abort(&self, key: &str) -> Result<()> {
        for upload_id in self.open_uploads(key).await? {
            let aborted =
                self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(&upload_id).send().await;
            match aborted {
                Ok(_) => {}
                // Aborted by another call since it was listed.
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
                Err(e) => return Err(s3_err(e)),
            }
        }
        Ok(())
    }
}

/// S3 parts are at least 5 MiB but the last, and at most 10,000: 8 MiB keeps memory flat and
/// calls few for the first 8 GB (most objects), then 128 MiB parts take a copy past 1 TiB.
fn part_bytes(parts_written: usize) -> usize {
    if parts_written < 1_000 {
        8 * 1024 * 1024
    } else {
        128 * 1024 * 1024
    }
}

/// Writes small objects with one PUT, large ones as a multipart upload.
struct S3Writer {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl S3Writer {
    async fn upload_part(&mut self) -> Result<()> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let out = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .send()
                    .await
                    .map_err(s3_err)?;
                let id = out.upload_id().unwrap_or_default().to_string();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::take(&mut self.buffer);
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(body.into())
            .send()
            .await
            .map_err(s3_err)?;
        self.parts
            .push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag().map(str::to_string)).build());
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let part = part_bytes(self.parts.len());
        // A part's buffer is its size, not the doubling a growing Vec reaches.
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(part.max(bytes.len()));
        }
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= part {
            self.upload_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<()> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = std::mem::take(&mut self.buffer);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .body(body.into())
                .send()
                .await
                .map_err(s3_err)?;
            return Ok(());
        };
        if !self.buffer.is_empty() {
            self.upload_part().await?;
        }
        let parts = CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts))).build();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(parts)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }
}
