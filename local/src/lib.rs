//! The local host: provisions the local AWS stack, serves the HTTP functions behind a JWT check
//! and drains the queues into the queue functions, all with the handlers the Lambda binaries run.

pub mod capacity;
pub mod client;
pub mod gateway;
pub mod jwt;
pub mod provision;
pub mod proxy;
pub mod pumps;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_adapters::Clients;
use aws_config::BehaviorVersion;
use service::config::Settings;
use tokio::task::JoinHandle;

use provision::Names;
use pumps::Target;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("local AWS stack: {0}")]
    Aws(String),
    #[error("setup: {0}")]
    Setup(String),
    #[error("client: {0}")]
    Client(String),
}

impl Error {
    pub fn aws(e: impl std::error::Error) -> Self {
        Error::Aws(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
    }
}

/// The SDKs share one build error type.
impl From<aws_sdk_dynamodb::error::BuildError> for Error {
    fn from(e: aws_sdk_dynamodb::error::BuildError) -> Self {
        Error::Setup(e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Prefix of every resource name; distinct prefixes are distinct stacks.
    pub prefix: String,
    pub api_addr: SocketAddr,
    pub jwt_secret: String,
    /// Hand every transform and process batch to its handler twice.
    pub deliver_twice: bool,
    /// Concurrent consumers per queue; 0 leaves the queues to the caller (tests drive the
    /// handlers themselves).
    pub workers: usize,
    /// Overrides of the settings provisioning derives.
    pub chunk_rows: Option<u64>,
    pub record_shards: Option<u32>,
    /// `STEP_TIME_BUDGET_SECONDS`: short, to have prevalidation go on in several invocations.
    pub step_time_budget: Option<Duration>,
    /// `http://` webhooks to loopback: on unless `ALLOW_INSECURE_WEBHOOKS` says otherwise.
    pub allow_insecure_webhooks: Option<bool>,
    /// Overrides the webhook retry policy (`WEBHOOK_RETRY_*`), e.g. seconds instead of a day.
    pub webhook_retry: Option<domain::webhook::RetryPolicy>,
    /// Where the functions reach AWS when not at `AWS_ENDPOINT_URL` (a `proxy` in front of
    /// it); provisioning still goes straight there.
    pub aws_endpoint: Option<String>,
    /// How long a message handed to a handler stays hidden, on every queue; unset, the
    /// `LOCAL_VISIBILITY_TIMEOUT` seconds, else each queue's VisibilityTimeout in the template.
    pub visibility_timeout: Option<Duration>,
    /// Where the pumps note what they were handed; hosts given the same one see each other's
    /// consumers handle a message at once.
    pub deliveries: Arc<pumps::Deliveries>,
}

impl Options {
    pub fn new(prefix: impl Into<String>, api_addr: SocketAddr) -> Self {
        Self {
            prefix: prefix.into(),
            api_addr,
            jwt_secret: std::env::var("LOCAL_JWT_SECRET").unwrap_or_else(|_| importctl::token::LOCAL_SECRET.into()),
            deliver_twice: false,
            workers: 2,
            chunk_rows: None,
            record_shards: None,
            step_time_budget: None,
            allow_insecure_webhooks: None,
            webhook_retry: None,
            aws_endpoint: None,
            visibility_timeout: None,
            deliveries: Arc::default(),
        }
    }
}

/// A running local host; dropping it stops its tasks.
pub struct LocalHost {
    pub api_url: String,
    pub settings: Settings,
    pub clients: Clients,
    pub jwt_secret: String,
    /// The environment of a Lambda function run against this stack (`cargo lambda watch`).
    pub function_env: Vec<(&'static str, String)>,
    pub deliveries: Arc<pumps::Deliveries>,
    tasks: Vec<JoinHandle<()>>,
}

impl LocalHost {
    pub async fn start(options: Options) -> Result<Self, Error> {
        // An empty key signs tokens anyone can forge.
        if options.jwt_secret.is_empty() {
            return Err(Error::Setup("LOCAL_JWT_SECRET is empty: set a secret or unset it for the default".into()));
        }
        let visibility_timeout = match options.visibility_timeout {
            Some(timeout) => Some(timeout),
            None => visibility_from_env()?,
        };
        let names = Names::with_prefix(&options.prefix);
        let public_endpoint = std::env::var("S3_PUBLIC_ENDPOINT").ok().filter(|e| !e.is_empty());
        let clients = Clients::load(public_endpoint.as_deref()).await;
        let provisioned = provision::provision(&clients, &names).await?;
        let clients = match &options.aws_endpoint {
            Some(endpoint) => {
                let sdk = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
                let mut clients = Clients::from_sdk(&sdk, public_endpoint.as_deref());
                // Through a proxy, which counts each message's writes by this tag.
                let tagged = clients.dynamo.config().to_builder().interceptor(proxy::MessageTag).build();
                clients.dynamo = aws_sdk_dynamodb::Client::from_conf(tagged);
                clients
            }
            None => clients,
        };
        let function_env = provision::function_env(&names, &provisioned);
        let mut settings = provision::settings(&names, &provisioned)?;
        if let Some(rows) = options.chunk_rows {
            settings.chunk_rows = rows;
        }
        if let Some(shards) = options.record_shards {
            settings.record_shards = shards;
        }
        if let Some(budget) = options.step_time_budget {
            settings.step_time_budget = Some(budget);
        }
        if let Some(allow) = options.allow_insecure_webhooks {
            settings.allow_insecure_webhooks = allow;
        }
        if let Some(retry) = options.webhook_retry {
            settings.webhook_retry = retry;
        }
        let services = Arc::new(clients.services(settings.clone()).map_err(|e| Error::Setup(e.to_string()))?);

        let listener = tokio::net::TcpListener::bind(options.api_addr)
            .await
            .map_err(|e| Error::Setup(format!("cannot listen on {}: {e}", options.api_addr)))?;
        let addr = listener.local_addr().map_err(|e| Error::Setup(e.to_string()))?;
        let gateway =
            Arc::new(gateway::Gateway { services: (*services).clone(), jwt_secret: options.jwt_secret.clone() });
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, gateway::router(gateway)).await {
                tracing::error!(error = %e, "API server stopped");
            }
        })];
        let queues = [
            (provisioned.upload_events_queue_url.clone(), Target::Prevalidate),
            (provisioned.transform_queue_url.clone(), Target::Transform),
            (provisioned.process_queue_url.clone(), Target::Process),
            (provisioned.webhooks_queue_url.clone(), Target::Webhooks),
        ];
        let handing = pumps::Handing {
            deliver_twice: options.deliver_twice,
            visibility_timeout,
            deliveries: options.deliveries.clone(),
        };
        if options.workers > 0 {
            for (url, target) in queues {
                let (sqs, svc, workers) = (clients.sqs.clone(), services.clone(), options.workers);
                tasks.push(tokio::spawn(pumps::run(sqs, svc, url, target, workers, handing.clone())));
            }
            // A dead letter is handled once: one consumer each.
            for url in provisioned.dead_letter_queue_urls.clone() {
                let (sqs, svc) = (clients.sqs.clone(), services.clone());
                let handing = pumps::Handing { visibility_timeout, ..Default::default() };
                tasks.push(tokio::spawn(pumps::run(sqs, svc, url, Target::DeadLetters, 1, handing)));
            }
        }
        let api_url = format!("http://{addr}");
        let deliveries = options.deliveries;
        Ok(Self { api_url, settings, clients, jwt_secret: options.jwt_secret, function_env, deliveries, tasks })
    }

    pub fn token(&self, tenant: &str) -> String {
        jwt::mint(&self.jwt_secret, tenant, 3600)
    }

    pub fn client(&self, tenant: &str) -> client::Client {
        client::Client::new(&self.api_url, self.token(tenant))
    }
}

/// `LOCAL_VISIBILITY_TIMEOUT`: whole seconds, at least 1 and at most SQS's 12 hours.
fn visibility_from_env() -> Result<Option<Duration>, Error> {
    let Ok(text) = std::env::var("LOCAL_VISIBILITY_TIMEOUT") else { return Ok(None) };
    match text.trim().parse::<u64>() {
        Ok(secs @ 1..=43_200) => Ok(Some(Duration::from_secs(secs))),
        _ => Err(Error::Setup(format!("LOCAL_VISIBILITY_TIMEOUT must be seconds from 1 to 43200, not {text:?}"))),
    }
}

impl Drop for LocalHost {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
