//! Calls DynamoDB answers in part when throttled (batch reads and writes, transactions), sent
//! again with backoff.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, WriteRequest};

use domain::error::{Error, Result};
use service::ports::Applied;

use super::attributes::s;
use super::errors::{ddb_err, ser_err, transaction_outcome};
use super::pacing::Pacing;
use super::store::DynamoStore;

/// How long a call keeps sending throttled work (unprocessed keys or items, a transaction
/// cancelled for throttling) before it fails and its message is retried by the queue: most of
/// the process function's 120 s. Single-item calls are retried by the SDK itself (standard mode:
/// ThrottlingException and ProvisionedThroughputExceeded are throttling errors to it); these three
/// answer "partly done" or "cancelled", which it does not.
pub(super) const THROTTLED_FOR: Duration = Duration::from_secs(60);

/// The pause before trying a write again after it met another (a transaction conflict), the
/// `attempt`th time: exponential, with jitter so the two do not meet again.
pub(super) fn contention_pause(attempt: u32) -> Duration {
    let cap = 20u64 << attempt.min(6);
    Duration::from_millis(fastrand::u64(cap / 2..=cap))
}

pub(super) fn still_throttled(what: &str) -> Error {
    Error::aws("dynamodb", format!("{what} still throttled after {} s", THROTTLED_FOR.as_secs()))
}

/// Sends of one call: paced, and over once it has been throttled for [`THROTTLED_FOR`].
struct Attempts<'a> {
    pacing: &'a Pacing,
    started: Instant,
    what: &'static str,
}

impl<'a> Attempts<'a> {
    fn new(pacing: &'a Pacing, what: &'static str) -> Self {
        Self { pacing, started: Instant::now(), what }
    }

    /// Before a send: waits out the shared pause, or fails once the call has tried too long.
    async fn next(&self) -> Result<()> {
        if self.started.elapsed() > THROTTLED_FOR {
            return Err(still_throttled(self.what));
        }
        self.pacing.wait().await;
        Ok(())
    }

    /// After a send: throttled (in whole or in part) or not.
    fn answered(&self, throttled: bool) {
        if throttled {
            self.pacing.throttled();
        } else {
            self.pacing.eased();
        }
    }
}

impl DynamoStore {
    /// Writes every request, 25 a call (BatchWriteItem's most); throttled ones come back
    /// unprocessed and are sent again, with backoff.
    pub(super) async fn write_all(&self, table: &str, requests: Vec<WriteRequest>) -> Result<()> {
        for part in requests.chunks(25) {
            let mut requests = part.to_vec();
            let attempts = Attempts::new(&self.pacing, "a batch write");
            while !requests.is_empty() {
                attempts.next().await?;
                let out =
                    self.client.batch_write_item().request_items(table, requests).send().await.map_err(ddb_err)?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
                attempts.answered(!requests.is_empty());
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
        let attempts = Attempts::new(&self.pacing, "a transaction");
        loop {
            attempts.next().await?;
            let sent = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let outcome = transaction_outcome(sent.map(|_| ()))?;
            attempts.answered(outcome.is_none());
            if let Some(applied) = outcome {
                return Ok(applied);
            }
        }
    }
}

impl DynamoStore {
    /// The items with these keys (`pk`, `sk`): consistent reads, 100 keys a request (each once:
    /// DynamoDB refuses a request naming a key twice), throttled keys asked again with backoff.
    pub(super) async fn batch_get(
        &self,
        table: &str,
        keys: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut unique: Vec<(String, String)> = keys.into_iter().collect();
        unique.sort();
        unique.dedup();
        let mut items = Vec::new();
        for part in unique.chunks(100) {
            let keys =
                part.iter().map(|(pk, sk)| HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))]));
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys.collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(ser_err)?,
            );
            let attempts = Attempts::new(&self.pacing, "a batch read");
            while let Some(keys) = request.take() {
                attempts.next().await?;
                let out = self.client.batch_get_item().request_items(table, keys).send().await.map_err(ddb_err)?;
                items.extend(out.responses.unwrap_or_default().remove(table).unwrap_or_default());
                // Throttled keys come back unprocessed: ask again, after the shared pause.
                request = out.unprocessed_keys.and_then(|mut u| u.remove(table)).filter(|k| !k.keys().is_empty());
                attempts.answered(request.is_some());
            }
        }
        Ok(items)
    }
}
