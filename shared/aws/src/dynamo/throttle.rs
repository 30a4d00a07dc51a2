//! Calls DynamoDB answers in part when throttled (batch reads and writes, transactions), sent
//! again with backoff.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, WriteRequest};

use domain::error::{Error, Result};
use service::ports::Applied;

use super::attributes::s;
use super::errors::{ddb_err, ser_err, transaction_outcome};
use super::store::DynamoStore;

/// Sends of throttled work (unprocessed keys or items, a transaction cancelled for throttling)
/// before the call fails and its message is retried by the queue. Single-item calls are retried
/// by the SDK itself (standard mode: ThrottlingException and ProvisionedThroughputExceeded are
/// throttling errors to it); these three answer "partly done" or "cancelled", which it does not.
pub(super) const THROTTLED_ATTEMPTS: u32 = 10;

/// The pause before sending throttled work again, the `attempt`th time: exponential, capped near
/// 1.3 s, with jitter so writers throttled together do not come back together.
pub(super) fn throttle_pause(attempt: u32) -> std::time::Duration {
    let cap = 20u64 << attempt.min(6);
    std::time::Duration::from_millis(fastrand::u64(cap / 2..=cap))
}

pub(super) fn still_throttled(what: &str) -> Error {
    Error::aws("dynamodb", format!("{what} still throttled after {THROTTLED_ATTEMPTS} attempts"))
}

impl DynamoStore {
    /// Writes every request, 25 a call (BatchWriteItem's most); throttled ones come back
    /// unprocessed and are sent again, with backoff.
    pub(super) async fn write_all(&self, table: &str, requests: Vec<WriteRequest>) -> Result<()> {
        for part in requests.chunks(25) {
            let mut requests = part.to_vec();
            let mut attempt = 0u32;
            while !requests.is_empty() {
                attempt += 1;
                if attempt > THROTTLED_ATTEMPTS {
                    return Err(still_throttled("a batch write"));
                }
                let out =
                    self.client.batch_write_item().request_items(table, requests).send().await.map_err(ddb_err)?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
                if !requests.is_empty() {
                    tokio::time::sleep(throttle_pause(attempt)).await;
                }
            }
        }
        Ok(())
    }
}

impl DynamoStore {
    /// A transaction whose first item is a ledger entry and second the update of the counts (the
    /// import item's or a counter shard's); sent
    /// again, with backoff, while it is cancelled for throttling.
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Applied> {
        for attempt in 1..=THROTTLED_ATTEMPTS {
            let sent = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            match transaction_outcome(sent.map(|_| ()))? {
                Some(applied) => return Ok(applied),
                None => tokio::time::sleep(throttle_pause(attempt)).await,
            }
        }
        Err(still_throttled("a transaction"))
    }
}

impl DynamoStore {
    /// The items of one partition with these sort keys: consistent reads, 100 keys a request
    /// (each once: DynamoDB refuses a request naming a key twice), throttled keys asked again
    /// with backoff.
    pub(super) async fn batch_get(
        &self,
        table: &str,
        pk: &str,
        sks: &[String],
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut unique: Vec<&String> = sks.iter().collect();
        unique.sort();
        unique.dedup();
        let mut items = Vec::new();
        for part in unique.chunks(100) {
            let keys = part.iter().map(|sk| HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(*sk))]));
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys.collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(ser_err)?,
            );
            let mut attempt = 0u32;
            while let Some(keys) = request.take() {
                attempt += 1;
                if attempt > THROTTLED_ATTEMPTS {
                    return Err(still_throttled("a batch read"));
                }
                let out = self.client.batch_get_item().request_items(table, keys).send().await.map_err(ddb_err)?;
                items.extend(out.responses.unwrap_or_default().remove(table).unwrap_or_default());
                // Throttled keys come back unprocessed: ask again, with backoff.
                request = out.unprocessed_keys.and_then(|mut u| u.remove(table)).filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    tokio::time::sleep(throttle_pause(attempt)).await;
                }
            }
        }
        Ok(items)
    }
}
