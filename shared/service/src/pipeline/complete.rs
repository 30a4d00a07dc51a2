//! Completion: whichever step closes the last open unit of work asks for the import to be
//! completed, with a message of its own ([`TransformJob::FinishRun`]). Every step asks after its own work,
//! so a crash before it is healed by the redelivery. Steps that end together may each ask;
//! the first message completes the import and the others find it completed, so each message
//! writes the import's state at most once.

use crate::ports::Queue;
use crate::publishing;
use crate::services::Services;
use domain::error::Result;
use domain::events::Kind;
use domain::import::Status;
use domain::messages::{encode, ImportRef, TransformJob};

use super::type_hold;

/// Why a run fails when its upload changed after it was planned: the plan (byte ranges, mappings,
/// a preview's samples, a dry run's counts) belongs to the first file.
pub const SOURCE_REPLACED: &str = "the upload was replaced after it was planned; upload the new file to a new import";

/// The other way a run ends: one of `from` → failed with a reason, published as an event once;
/// false when the import was in none of them (another step ended it first).
pub async fn fail(
    svc: &Services,
    tenant_id: &str,
    import_id: &str,
    run: u32,
    from: &[Status],
    reason: &str,
) -> Result<bool> {
    let failed = svc.imports.fail(tenant_id, import_id, run, from, reason).await?;
    if failed {
        publishing::publish(svc, tenant_id, import_id, Kind::Failed, Some(run)).await?;
        type_hold::leave_import(svc, tenant_id, import_id).await?;
    }
    Ok(failed)
}

/// Called by each step after its work: when every unit is counted, sends the finish message.
pub async fn send_finish_if_done(svc: &Services, tenant_id: &str, import_id: &str) -> Result<()> {
    let Some(progress) = svc.imports.progress(tenant_id, import_id).await?.filter(|p| p.is_done()) else {
        return Ok(());
    };
    // The messages an instance handles at once often learn it together (their progress reads
    // are shared): one finish message on the queue is enough, and each would assemble the files.
    let key = (tenant_id.to_string(), import_id.to_string(), progress.run, progress.removal_done);
    if !svc.finishes.claim(&key) {
        return Ok(());
    }
    let msg = TransformJob::FinishRun(ImportRef { tenant_id: tenant_id.into(), import_id: import_id.into() });
    let sent = svc.queue.send(Queue::Transform, tenant_id, vec![encode(&msg)?]).await;
    if sent.is_err() {
        svc.finishes.give_back(&key);
    }
    sent
}
