//! When a step that can go on in another invocation should stop: before its time budget
//! (`STEP_TIME_BUDGET_SECONDS`) is spent, and before the Lambda invocation running it ends.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Settings;

tokio::task_local! {
    static INVOCATION_ENDS: Instant;
}

/// Time kept back before the Lambda's deadline: to write what a stopped scan read (up to 256 MB
/// of identifiers) and send the message that goes on.
const MARGIN: Duration = Duration::from_secs(60);

/// Runs an invocation's work knowing when the invocation ends: `deadline_ms` is the Lambda
/// context's deadline, in milliseconds since the epoch.
pub async fn within<F: Future>(deadline_ms: u64, work: F) -> F::Output {
    let ends = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = ends.duration_since(SystemTime::now()).unwrap_or_default();
    INVOCATION_ENDS.scope(Instant::now() + left, work).await
}

/// When a step started now should stop and go on in another invocation; none when nothing
/// bounds it (the local host, without a budget).
pub fn step_ends(settings: &Settings) -> Option<Instant> {
    let now = Instant::now();
    let budget = settings.step_time_budget.map(|budget| now + budget);
    let invocation = INVOCATION_ENDS.try_with(|ends| ends.checked_sub(MARGIN).unwrap_or(now).max(now)).ok();
    match (budget, invocation) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
