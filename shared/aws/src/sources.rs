//! Where `source` imports are pulled from: a URL, through the outbound rules, or an object of
//! the tenant's bucket, read as the role the tenant named (with its external id) when it named
//! one, else as the service itself (which its IAM policy lets read no bucket of another account).

use async_trait::async_trait;
use aws_sdk_s3::config::Credentials;

use domain::error::{Error, Result};
use domain::import::{PullSource, S3Source};
use service::outbound::Outbound;
use service::ports::{Opened, Sources};

pub struct PulledSources {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) downloads: Outbound,
}

#[async_trait]
impl Sources for PulledSources {
    async fn open(&self, source: &PullSource) -> Result<std::result::Result<Opened, String>> {
        match source {
            PullSource::Url(url) => self.downloads.download(url).await,
            PullSource::S3(s3) => self.open_s3(s3).await,
        }
    }
}

/// S3 answers these when the object is not there or may not be read: no retry changes that.
fn refused_status(status: Option<u16>) -> bool {
    matches!(status, Some(400 | 403 | 404))
}

impl PulledSources {
    async fn open_s3(&self, source: &S3Source) -> Result<std::result::Result<Opened, String>> {
        let client = match &source.role_arn {
            None => self.s3.clone(),
            Some(role) => {
                let assumed = self
                    .sts
                    .assume_role()
                    .role_arn(role)
                    .role_session_name("bulk-import-source")
                    .set_external_id(source.external_id.clone())
                    .send()
                    .await;
                let credentials = match assumed {
                    Ok(out) => out.credentials,
                    Err(e) if refused_status(e.raw_response().map(|r| r.status().as_u16())) => {
                        let why = aws_sdk_sts::error::DisplayErrorContext(e);
                        return Ok(Err(format!("source.s3.role_arn cannot be assumed: {why}")));
                    }
                    Err(e) => return Err(Error::aws("sts", aws_sdk_sts::error::DisplayErrorContext(e))),
                };
                let Some(c) = credentials else { return Err(Error::aws("sts", "AssumeRole gave no credentials")) };
                let credentials =
                    Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), None, "source-role");
                aws_sdk_s3::Client::from_conf(self.s3.config().to_builder().credentials_provider(credentials).build())
            }
        };
        let got = client.get_object().bucket(&source.bucket).key(&source.key).send().await;
        match got {
            Ok(out) => {
                let size = out.content_length().unwrap_or_default().max(0) as u64;
                let etag = out.e_tag().map(str::to_string);
                Ok(Ok(Opened { stream: Box::new(out.body.into_async_read()), size, etag }))
            }
            Err(e) if refused_status(e.raw_response().map(|r| r.status().as_u16())) => {
                let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or_default();
                let what = if status == 404 { "not found" } else { "may not be read" };
                Ok(Err(format!("source.s3: s3://{}/{} {what} ({status})", source.bucket, source.key)))
            }
            Err(e) => Err(Error::aws("s3", aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }
}
