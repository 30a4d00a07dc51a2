//! Creates what `template.yaml` deploys, on the local AWS stack: the uploads bucket with its
//! ObjectCreated notification (to a queue the local host drains, standing in for Lambda's S3
//! trigger), the tables, and the upload-event, work and webhook queues with their dead-letter
//! queues.

use aws_adapters::{Clients, STATUS_INDEX, SWEEP_INDEX};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use service::config::Settings;

use crate::Error;

/// Resource names for one stack; a prefix keeps parallel stacks apart.
#[derive(Debug, Clone)]
pub struct Names {
    pub imports_table: String,
    pub records_table: String,
    pub bucket: String,
    pub transform_queue: String,
    pub process_queue: String,
    pub upload_events_queue: String,
    pub import_events_queue: String,
    pub webhooks_queue: String,
}

impl Names {
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            imports_table: format!("{prefix}-imports"),
            records_table: format!("{prefix}-records"),
            bucket: format!("{prefix}-uploads"),
            transform_queue: format!("{prefix}-transform"),
            process_queue: format!("{prefix}-process"),
            upload_events_queue: format!("{prefix}-upload-events"),
            import_events_queue: format!("{prefix}-import-events"),
            webhooks_queue: format!("{prefix}-webhooks"),
        }
    }
}

/// What provisioning made: queue URLs besides the names.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub transform_queue_url: String,
    pub process_queue_url: String,
    pub upload_events_queue_url: String,
    pub import_events_queue_url: String,
    pub webhooks_queue_url: String,
    /// The dead-letter queue of each queue that has one: the upload events' (standing in for
    /// prevalidate's failure destination) and the work and webhook queues'.
    pub dead_letter_queue_urls: Vec<String>,
}

/// The local host's `WEBHOOK_SIGNING_KEY` unless the environment sets one.
pub const LOCAL_WEBHOOK_SIGNING_KEY: &str = "local-webhook-key";

pub async fn provision(clients: &Clients, names: &Names) -> Result<Provisioned, Error> {
    for (table, with_indexes) in [(&names.imports_table, true), (&names.records_table, false)] {
        create_table(clients, table, with_indexes).await?;
    }
    clients
        .dynamo
        .update_time_to_live()
        .table_name(&names.imports_table)
        .time_to_live_specification(TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build()?)
        .send()
        .await
        .map_err(Error::aws)?;

    let transform_queue_url = create_queue(clients, &names.transform_queue, true).await?;
    let process_queue_url = create_queue(clients, &names.process_queue, true).await?;
    // An upload event prevalidate keeps failing on goes to its dead-letter queue, as in AWS to
    // the function's failure destination.
    let upload_events_queue_url = create_queue(clients, &names.upload_events_queue, true).await?;
    let import_events_queue_url = create_queue(clients, &names.import_events_queue, false).await?;
    let webhooks_queue_url = create_queue(clients, &names.webhooks_queue, true).await?;

    match clients.s3.create_bucket().bucket(&names.bucket).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
        Err(e) => return Err(Error::aws(e)),
    }
    let events_arn = queue_arn(clients, &upload_events_queue_url).await?;
    let notification = NotificationConfiguration::builder()
        .queue_configurations(
            QueueConfiguration::builder()
                .queue_arn(events_arn)
                .events(Event::from("s3:ObjectCreated:*"))
                // As in template.yaml: result files under results/ trigger nothing.
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(
                            S3KeyFilter::builder()
                                .filter_rules(
                                    FilterRule::builder().name(FilterRuleName::Prefix).value("uploads/").build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()?,
        )
        .build();
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(&names.bucket)
        .notification_configuration(notification)
        .send()
        .await
        .map_err(Error::aws)?;
    let mut dead_letter_queue_urls = Vec::new();
    for queue in [&names.upload_events_queue, &names.transform_queue, &names.process_queue, &names.webhooks_queue] {
        dead_letter_queue_urls.push(dead_letter_queue_url(clients, queue).await?);
    }
    Ok(Provisioned {
        transform_queue_url,
        process_queue_url,
        upload_events_queue_url,
        import_events_queue_url,
        webhooks_queue_url,
        dead_letter_queue_urls,
    })
}

/// The functions' settings: the names provisioned here, everything else from the environment
/// with the same defaults and checks as in Lambda, but for webhooks: a signing key of its own
/// and `http://` to loopback receivers unless the environment says otherwise.
pub fn settings(names: &Names, provisioned: &Provisioned) -> Result<Settings, Error> {
    let env = function_env(names, provisioned);
    Settings::from_lookup(|name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).or_else(|| std::env::var(name).ok())
    })
    .map_err(|e| Error::Setup(e.to_string()))
}

/// What a Lambda function reads from its environment to run against this stack (the template
/// sets the same variables in AWS); the rest of its settings come from the process environment.
pub fn function_env(names: &Names, provisioned: &Provisioned) -> Vec<(&'static str, String)> {
    let env_or = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    vec![
        ("IMPORTS_TABLE", names.imports_table.clone()),
        ("RECORDS_TABLE", names.records_table.clone()),
        ("UPLOADS_BUCKET", names.bucket.clone()),
        ("TRANSFORM_QUEUE_URL", provisioned.transform_queue_url.clone()),
        ("PROCESS_QUEUE_URL", provisioned.process_queue_url.clone()),
        ("EVENTS_QUEUE_URL", provisioned.import_events_queue_url.clone()),
        ("WEBHOOKS_QUEUE_URL", provisioned.webhooks_queue_url.clone()),
        ("WEBHOOK_SIGNING_KEY", env_or("WEBHOOK_SIGNING_KEY", LOCAL_WEBHOOK_SIGNING_KEY)),
        ("ALLOW_INSECURE_WEBHOOKS", env_or("ALLOW_INSECURE_WEBHOOKS", "1")),
        // Local deliveries are not cut off at a timeout as Lambda's are: a short grace keeps
        // runs that follow a first import quick here (`pipeline::type_hold`).
        ("TYPE_HOLD_GRACE_SECONDS", env_or("TYPE_HOLD_GRACE_SECONDS", "2")),
    ]
}

/// A table keyed by `pk` and `sk`; the imports table with its two indexes (`aws_adapters`).
async fn create_table(clients: &Clients, table: &str, with_indexes: bool) -> Result<(), Error> {
    let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let attr = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build()
    };
    let mut create = clients
        .dynamo
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("sk", ScalarAttributeType::S)?);
    if with_indexes {
        let index = |name: &str, hash: &str, range: &str, projection: ProjectionType| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(Projection::builder().projection_type(projection).build())
                .build()
        };
        create = create
            .attribute_definitions(attr("tenant_status", ScalarAttributeType::S)?)
            .attribute_definitions(attr("sweep_shard", ScalarAttributeType::N)?)
            .attribute_definitions(attr("sweep_at", ScalarAttributeType::N)?)
            .global_secondary_indexes(index(STATUS_INDEX, "tenant_status", "sk", ProjectionType::KeysOnly)?)
            .global_secondary_indexes(index(SWEEP_INDEX, "sweep_shard", "sweep_at", ProjectionType::KeysOnly)?);
    }
    let result = create.send().await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
        Err(e) => Err(Error::aws(e)),
    }
}

/// Deliveries of a message before it is a dead letter, as in the template. With the pumps' retry
/// after `pumps::RETRY_SECS`, a message failing on every delivery ends its import within a
/// minute; redeliveries after a killed host or a lapsed hide count too, as in AWS.
const MAX_RECEIVES: u32 = 5;

async fn create_queue(clients: &Clients, name: &str, with_dlq: bool) -> Result<String, Error> {
    let mut req = clients
        .sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, crate::pumps::RETRY_SECS.to_string());
    if with_dlq {
        let dlq_url = clients.sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.map_err(Error::aws)?;
        let dlq_arn = queue_arn(clients, dlq_url.queue_url().unwrap_or_default()).await?;
        let redrive =
            serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES }).to_string();
        req = req.attributes(QueueAttributeName::RedrivePolicy, redrive);
    }
    let out = req.send().await.map_err(Error::aws)?;
    Ok(out.queue_url().unwrap_or_default().to_string())
}

/// The dead-letter queue `create_queue` made for `name`.
async fn dead_letter_queue_url(clients: &Clients, name: &str) -> Result<String, Error> {
    let out = clients.sqs.get_queue_url().queue_name(format!("{name}-dlq")).send().await.map_err(Error::aws)?;
    Ok(out.queue_url().unwrap_or_default().to_string())
}

async fn queue_arn(clients: &Clients, url: &str) -> Result<String, Error> {
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(Error::aws)?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| Error::Setup(format!("queue {url} has no ARN")))
}
