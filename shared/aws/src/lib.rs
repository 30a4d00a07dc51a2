//! AWS implementations of the ports: DynamoDB, S3 and SQS.

mod dynamo;
mod keys;
mod s3;
mod sources;
mod sqs;
mod webhook_secrets;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

pub use dynamo::{
    batch_sk_prefix, batches_sk_prefix, check_document, check_fits, hold_pk, removal_sk_prefix, unit_sk, weigh,
    DynamoStore, STATUS_INDEX, SWEEP_INDEX,
};
pub use s3::S3Files;
pub use sources::PulledSources;
pub use sqs::SqsQueue;
pub use webhook_secrets::DynamoSecrets;

use domain::error::{Error, Result};
use domain::webhook::SigningKey;
use service::config::Settings;
use service::outbound::{Outbound, Webhooks};
use service::services::Services;

/// The SDK clients, built once per process.
#[derive(Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    /// Mints presigned URLs for the endpoint the uploader uses.
    pub s3_presign: aws_sdk_s3::Client,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    /// `s3_public_endpoint`: where uploaders reach S3, when not where we do (see `Settings`).
    pub async fn load(s3_public_endpoint: Option<&str>) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::from_sdk(&sdk, s3_public_endpoint)
    }

    pub fn from_sdk(sdk: &SdkConfig, s3_public_endpoint: Option<&str>) -> Self {
        // An endpoint override means an emulator: path-style buckets, and checksums only where an
        // operation requires them (the SDK's default CRC32 trailers trip emulators).
        let emulated = sdk.endpoint_url().is_some();
        let s3_config = |endpoint: Option<&str>| {
            let mut b = aws_sdk_s3::config::Builder::from(sdk);
            if emulated || endpoint.is_some() {
                b = b
                    .force_path_style(true)
                    .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
                    .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
            }
            if let Some(e) = endpoint {
                b = b.endpoint_url(e);
            }
            b.build()
        };
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3_config(None)),
            s3_presign: aws_sdk_s3::Client::from_conf(s3_config(s3_public_endpoint)),
            dynamo: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(keys::KeyLimits).build(),
            ),
            sqs: aws_sdk_sqs::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
        }
    }

    pub fn services(&self, settings: Settings) -> Result<Services> {
        let store = Arc::new(DynamoStore::new(self.dynamo.clone(), &settings));
        let files = Arc::new(S3Files::new(self.s3.clone(), self.s3_presign.clone(), &settings));
        Ok(Services {
            imports: store.clone(),
            records: store.clone(),
            documents: store,
            schemas: Default::default(),
            files: files.clone(),
            uploads: files,
            sources: Arc::new(PulledSources {
                s3: self.s3.clone(),
                sts: self.sts.clone(),
                downloads: Outbound::downloads(settings.allow_insecure_webhooks)?,
            }),
            queue: Arc::new(SqsQueue::new(self.sqs.clone(), &settings)),
            webhooks: Webhooks::new(&settings)?,
            webhook_secrets: Arc::new(DynamoSecrets::new(self.dynamo.clone(), &settings.imports_table)),
            settings,
            finishes: Default::default(),
        })
    }

    /// The webhook signing key held in an SSM SecureString.
    pub async fn signing_key(&self, parameter: &str) -> Result<SigningKey> {
        let out = self
            .ssm
            .get_parameter()
            .name(parameter)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| Error::aws("ssm", aws_sdk_ssm::error::DisplayErrorContext(e)))?;
        let value = out.parameter().and_then(|p| p.value()).filter(|v| !v.is_empty());
        let value = value.ok_or_else(|| Error::Internal(format!("the SSM parameter {parameter} is empty")))?;
        Ok(SigningKey::new(value))
    }
}

/// The services of a Lambda function, from its environment; the webhook signing key read once,
/// at the cold start, when the function's environment names its parameter.
pub async fn services_from_env() -> Result<Services> {
    let mut settings = Settings::from_env()?;
    let clients = Clients::load(settings.s3_public_endpoint.as_deref()).await;
    if let (None, Some(parameter)) = (&settings.webhook_signing_key, &settings.webhook_signing_key_parameter) {
        settings.webhook_signing_key = Some(clients.signing_key(parameter).await?);
    }
    clients.services(settings)
}
