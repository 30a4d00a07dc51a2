//! When a step that can go on in another invocation should stop: before its time budget
//! (`STEP_TIME_BUDGET_SECONDS`, counted from when the step starts its work) is spent, and
//! before the Lambda invocation running it ends.

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
/// context's deadline, in milliseconds since the epoch; 0 says none (a context made by hand, as
/// the local host's).
pub async fn within<F: Future>(deadline_ms: u64, work: F) -> F::Output {
    if deadline_ms == 0 {
        return work.await;
    }
    let ends = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = ends.duration_since(SystemTime::now()).unwrap_or_default();
    INVOCATION_ENDS.scope(Instant::now() + left, work).await
}

/// When the running Lambda invocation's work must have stopped to go on in another, kept
/// [`MARGIN`] from its deadline; none outside Lambda (the local host).
pub fn invocation_ends() -> Option<Instant> {
    let now = Instant::now();
    INVOCATION_ENDS.try_with(|ends| ends.checked_sub(MARGIN).unwrap_or(now).max(now)).ok()
}

/// When a step that starts now should stop: at [`invocation_ends`], or once the step's time
/// budget (`STEP_TIME_BUDGET_SECONDS`) is spent.
pub fn step_ends(settings: &Settings, invocation_ends: Option<Instant>) -> Option<Instant> {
    let budget = settings.step_time_budget.map(|budget| Instant::now() + budget);
    match (budget, invocation_ends) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invocation_ends_a_minute_before_its_deadline_and_a_context_without_one_never() {
        assert_eq!(invocation_ends(), None, "outside an invocation");
        assert_eq!(within(0, async { invocation_ends() }).await, None);
        let in_ten_minutes = SystemTime::now() + Duration::from_secs(600);
        let ms = in_ten_minutes.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let ends = within(ms, async { invocation_ends() }).await.expect("a deadline");
        let left = ends.duration_since(Instant::now());
        assert!(left > Duration::from_secs(530) && left <= Duration::from_secs(540), "{left:?}");
        // Past its deadline already: stop now.
        let ends = within(1, async { invocation_ends() }).await.expect("a deadline");
        assert!(ends <= Instant::now());
    }
}
