//! The versions of each tenant's webhook secret, one item per tenant in the imports table:
//! `pk = webhooks#tenant`, `sk = secret` (no import has such a key, and the item has no
//! `tenant_status` or `sweep_*` attribute, so it is in neither index).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use time::OffsetDateTime;

use domain::error::{Error, Result};
use domain::webhook::SecretVersions;
use service::ports::WebhookSecrets;

pub struct DynamoSecrets {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoSecrets {
    pub fn new(client: aws_sdk_dynamodb::Client, imports_table: &str) -> Self {
        Self { client, table: imports_table.to_string() }
    }
}

fn key(tenant_id: &str) -> [(String, AttributeValue); 2] {
    [
        ("pk".to_string(), AttributeValue::S(format!("webhooks#{tenant_id}"))),
        ("sk".to_string(), AttributeValue::S("secret".into())),
    ]
}

fn number(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn versions(item: Option<&std::collections::HashMap<String, AttributeValue>>) -> Result<SecretVersions> {
    let Some(item) = item else { return Ok(SecretVersions::default()) };
    let current = number(item, "version").unwrap_or(0).max(0) as u64;
    let previous = match (number(item, "previous"), number(item, "rotated_at")) {
        (Some(v), Some(at)) => Some((
            v.max(0) as u64,
            OffsetDateTime::from_unix_timestamp(at).map_err(|e| Error::Internal(format!("rotated_at: {e}")))?,
        )),
        _ => None,
    };
    Ok(SecretVersions { current, previous })
}

fn ddb_err(e: impl std::error::Error) -> Error {
    Error::aws("dynamodb", aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

#[async_trait]
impl WebhookSecrets for DynamoSecrets {
    async fn versions(&self, tenant_id: &str) -> Result<SecretVersions> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_id).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        versions(out.item())
    }

    async fn rotate(&self, tenant_id: &str, now: OffsetDateTime) -> Result<SecretVersions> {
        // One write: concurrent rotations each move one version on.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_id).into_iter().collect()))
            .update_expression(
                "SET previous = if_not_exists(version, :zero), version = if_not_exists(version, :zero) + :one, \
                 rotated_at = :now",
            )
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(ddb_err)?;
        versions(out.attributes())
    }
}
