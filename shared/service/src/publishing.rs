//! Publishing lifecycle events: every status change an import makes is published to the
//! import-events queue, for clients to follow without polling, and, when the import has a
//! `webhook_url`, queued for the deliver-webhooks function to POST there signed (`webhook`). A
//! step publishes after the change it made took effect, with the import as it is then, and
//! records that it did.
//!
//! A step that fails or dies between its change and the publish is delivered again, finds its
//! change made and goes on: the event would be lost. So the import records every event it
//! published, and the sweeper sends those its state implies but that were never recorded
//! ([`owed`]). An event has one id per import, run and kind, so one sent again (by the sweeper,
//! or by a step that died after publishing but before recording it) is told apart from a new one.
//!
//! The record of a publish is an item of its own beside the import (`ImportStore::mark_published`),
//! not a second write of the import's state: a message's step writes that state once, its change,
//! so the hot item takes one write a message. The change cannot carry the record itself (it is
//! made before the publish, which may not happen), and publishing before the change would announce
//! changes that then fail their condition.

use crate::ports::{Queue, StoredImport};
use crate::services::Services;
use domain::error::Result;
use domain::events::{key, Event, Kind, GRACE};
use domain::import::Status;
use domain::messages::encode;
use domain::revert_state::RevertStatus;
use domain::time_fmt;
use domain::webhook::DeliveryMessage;

/// The events the import's state says happened, in their order, that it never recorded as
/// published. Nothing for an import stored before events were recorded.
pub fn owed(stored: &StoredImport) -> Vec<Kind> {
    let Some(published) = &stored.published else { return Vec::new() };
    let import = &stored.import;
    let mut happened = vec![Kind::Created];
    if stored.progress.start.is_some() {
        happened.push(Kind::Started);
    }
    happened.extend(match import.status {
        Status::PreviewReady => Some(Kind::PreviewReady),
        Status::Completed => Some(Kind::Completed),
        Status::Failed => Some(Kind::Failed),
        Status::Expired => Some(Kind::Expired),
        Status::TimedOut => Some(Kind::TimedOut),
        Status::Interrupted => Some(Kind::Interrupted),
        Status::AwaitingUpload | Status::Queued | Status::Processing => None,
    });
    if import.revert.as_ref().is_some_and(|r| r.status == RevertStatus::Reverted) {
        happened.push(Kind::Reverted);
    }
    happened.retain(|&kind| !published.contains(&key(kind, stored.progress.run)));
    happened
}

/// Publishes that the import changed in `run` (None: the run it is at, for a change no run
/// follows: a final status, a revert); nothing when it is gone. Its webhook is only queued: no
/// step waits for a tenant's endpoint.
pub async fn publish(svc: &Services, tenant_id: &str, import_id: &str, kind: Kind, run: Option<u32>) -> Result<()> {
    let Some(stored) = svc.imports.get(tenant_id, import_id).await? else { return Ok(()) };
    let run = run.unwrap_or(stored.progress.run);
    send(svc, &stored, kind, run).await
}

/// The sweeper's part: every event the import, as just read, owes ([`owed`]), as it is now;
/// nothing while it changed within [`GRACE`] of `now` (its step may still be publishing). How
/// many were sent.
pub async fn send_owed(svc: &Services, stored: &StoredImport, now: time::OffsetDateTime) -> Result<u64> {
    if stored.import.updated_at + GRACE > now {
        return Ok(0);
    }
    let owed = owed(stored);
    let (tenant_id, import_id) = (stored.import.tenant_id.as_str(), stored.import.id.as_str());
    for &kind in &owed {
        tracing::warn!(tenant_id, import_id, kind = kind.as_str(), "event never published; sending it now");
        send(svc, stored, kind, stored.progress.run).await?;
    }
    Ok(owed.len() as u64)
}

/// The event of `kind` in `run`, with the import as it is now, recorded once sent.
async fn send(svc: &Services, stored: &StoredImport, kind: Kind, run: u32) -> Result<()> {
    let import = &stored.import;
    let (tenant_id, import_id) = (import.tenant_id.as_str(), import.id.as_str());
    let key = key(kind, run);
    let event = Event {
        id: format!("evt_{}_{key}", import_id.trim_start_matches("imp_")),
        kind,
        tenant_id,
        import_id,
        status: import.status.as_str(),
        reason: import.reason.as_deref(),
        stats: import.stats,
        at: time_fmt::now(),
    };
    let body = encode(&event)?;
    svc.queue.send(Queue::Events, tenant_id, vec![body.clone()]).await?;
    tracing::info!(tenant_id, import_id, kind = ?kind, "event published");
    if let Some(url) = &import.webhook_url {
        let delivery = DeliveryMessage::new(tenant_id, import_id, &event.id, url, &body);
        svc.queue.send(Queue::Webhooks, tenant_id, vec![encode(&delivery)?]).await?;
    }
    svc.imports.mark_published(tenant_id, import_id, &key).await
}
