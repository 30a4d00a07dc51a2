//! Lifecycle events (SPEC §9): every status change an import makes is published to the
//! import-events queue, for clients to follow without polling, and, when the import has a
//! `webhook_url`, POSTed there signed (`webhook`). A step publishes after the change it made
//! took effect, with the import as it is then.

use serde::Serialize;

use crate::error::Result;
use crate::messages::encode;
use crate::ports::Queue;
use crate::services::Services;
use crate::stats::Stats;
use crate::time_fmt;
use crate::webhook::Delivery;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Created,
    Started,
    PreviewReady,
    Completed,
    Failed,
    Interrupted,
    Expired,
    TimedOut,
    Reverted,
}

#[derive(Debug, Serialize)]
struct Event<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: Kind,
    tenant_id: &'a str,
    import_id: &'a str,
    status: &'a str,
    reason: Option<&'a str>,
    stats: Stats,
    #[serde(with = "time::serde::rfc3339")]
    at: time::OffsetDateTime,
}

/// Publishes that the import changed; nothing when it is gone. A webhook that cannot be
/// delivered is logged, not an error of the step.
pub async fn publish(svc: &Services, tenant_id: &str, import_id: &str, kind: Kind) -> Result<()> {
    let Some(stored) = svc.imports.get(tenant_id, import_id).await? else { return Ok(()) };
    let import = &stored.import;
    let event = Event {
        id: format!("evt_{}", ulid::Ulid::generate().to_string().to_lowercase()),
        kind,
        tenant_id,
        import_id,
        status: import.status.as_str(),
        reason: import.reason.as_deref(),
        stats: import.stats,
        at: time_fmt::now(),
    };
    let body = encode(&event)?;
    svc.queue.send(Queue::Events, vec![body.clone()]).await?;
    tracing::info!(tenant_id, import_id, kind = ?kind, "event published");
    if let Some(url) = &import.webhook_url {
        let delivery = Delivery { url, tenant_id, import_id, event_id: &event.id, body: &body };
        svc.webhooks.deliver(&delivery).await;
    }
    Ok(())
}
