//! Lifecycle events: their kinds, ids and body, as `publishing` sends them.

use serde::Serialize;

use crate::stats::Stats;

/// Its name (`as_str`) is the event's `type` and part of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
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

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Created => "created",
            Kind::Started => "started",
            Kind::PreviewReady => "preview_ready",
            Kind::Completed => "completed",
            Kind::Failed => "failed",
            Kind::Interrupted => "interrupted",
            Kind::Expired => "expired",
            Kind::TimedOut => "timed_out",
            Kind::Reverted => "reverted",
        }
    }
}

impl From<Kind> for &'static str {
    fn from(kind: Kind) -> Self {
        kind.as_str()
    }
}

/// An event of an import: each kind happens at most once a run, and creation before any run.
pub fn key(kind: Kind, run: u32) -> String {
    let run = if kind == Kind::Created { 0 } else { run };
    format!("{}_{run}", kind.as_str())
}

/// An event as it is published.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub tenant_id: &'a str,
    pub import_id: &'a str,
    pub status: &'a str,
    pub reason: Option<&'a str>,
    pub stats: Stats,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
}

/// How long after a change the sweeper leaves the events it owes to the step that made it,
/// which publishes right after its change.
pub const GRACE: time::Duration = time::Duration::minutes(2);
