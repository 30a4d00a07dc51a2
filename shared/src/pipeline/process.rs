//! process: one batch of valid records. Read what exists, merge, and write the records together
//! with the batch's ledger entry and stats in one transaction: a redelivered batch finds its
//! ledger entry and changes nothing.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::merge::{merge, Outcome};
use crate::messages::{decode, ProcessMessage};
use crate::ports::{Applied, BatchWrite, RecordWrite};
use crate::results;
use crate::services::Services;
use crate::stats::Tally;
use crate::time_fmt;

use super::complete::complete_if_done;

/// Attempts when another writer keeps changing the same records; then the queue retries.
const MAX_ATTEMPTS: u32 = 6;

pub async fn run(svc: &Services, body: &str) -> Result<()> {
    let msg: ProcessMessage = decode(body)?;
    let (tenant_id, import_id) = (msg.tenant_id.as_str(), msg.import_id.as_str());
    let identifiers: Vec<String> = msg.records.iter().map(|c| c.identifier.clone()).collect();
    for attempt in 0..MAX_ATTEMPTS {
        let existing = svc.records.get_many(tenant_id, msg.resource_type, &identifiers).await?;
        let now = time_fmt::now();
        let mut tally = Tally::default();
        let mut writes = Vec::new();
        let mut outcomes = String::with_capacity(msg.records.len());
        for candidate in &msg.records {
            let old = existing.get(&candidate.identifier);
            let (outcome, record) = merge(old, candidate, import_id, now);
            match outcome {
                Outcome::Created => tally.created += 1,
                Outcome::Updated => tally.updated += 1,
                Outcome::Unchanged => tally.unchanged += 1,
            }
            outcomes.push(results::code(outcome));
            // A dry run decides every outcome and writes nothing but its ledger entry and stats.
            if let (Some(record), false) = (record, msg.dry_run) {
                writes.push(RecordWrite { record, expected_version: old.map(|o| o.version) });
            }
        }
        let batch = BatchWrite {
            tenant_id: tenant_id.into(),
            import_id: import_id.into(),
            resource_type: msg.resource_type,
            run: msg.run,
            chunk: msg.chunk,
            batch: msg.batch,
            writes,
            tally,
            outcomes,
        };
        let applied = match svc.records.apply_batch(&batch).await {
            Err(Error::NotFound) => {
                tracing::warn!(tenant_id, import_id, "batch of a stopped or deleted import; dropped");
                return Ok(());
            }
            other => other?,
        };
        match applied {
            Applied::Now | Applied::Before => {
                complete_if_done(svc, tenant_id, import_id).await?;
                return Ok(());
            }
            Applied::Conflict => {
                tracing::info!(tenant_id, import_id, attempt, "records changed under the batch; reading again");
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
        }
    }
    Err(Error::Contention(format!("batch {}/{} kept conflicting", msg.chunk, msg.batch)))
}
