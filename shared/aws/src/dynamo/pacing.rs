//! Backoff shared by every throttled call of one store.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest and longest pause [`Pacing`] makes every writer take after a throttle.
const LEAST_PAUSE: Duration = Duration::from_millis(25);
const MOST_PAUSE: Duration = Duration::from_secs(2);

/// Backoff shared by every call of one store (one function instance's writers, a batch of ten
/// messages among them): a throttle makes all of them wait, for twice as long each time it
/// happens again, and each call that goes through shortens the pause by a quarter. So a
/// throttled table sees the instance slow down as a whole, instead of each writer spending its
/// own retries at full speed and its message ending in the dead-letter queue.
#[derive(Default)]
pub(super) struct Pacing {
    state: Mutex<Pace>,
}

#[derive(Default)]
struct Pace {
    pause: Duration,
    until: Option<Instant>,
}

impl Pacing {
    /// Waits out the pause every writer is in, if any.
    pub(super) async fn wait(&self) {
        let until = self.lock().until;
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// A throttle: every writer pauses, longer than last time, with jitter so they do not come
    /// back together.
    pub(super) fn throttled(&self) {
        let mut pace = self.lock();
        pace.pause = (pace.pause * 2).clamp(LEAST_PAUSE, MOST_PAUSE);
        let millis = pace.pause.as_millis() as u64;
        let until = Instant::now() + Duration::from_millis(fastrand::u64(millis / 2..=millis));
        pace.until = Some(pace.until.map_or(until, |u| u.max(until)));
    }

    /// A call went through: the next pause is shorter, and none once it is short enough.
    pub(super) fn eased(&self) {
        let mut pace = self.lock();
        pace.pause = pace.pause * 3 / 4;
        if pace.pause < LEAST_PAUSE {
            pace.pause = Duration::ZERO;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_lengthen_the_shared_pause_and_calls_that_go_through_shorten_it() {
        let pacing = Pacing::default();
        assert!(pacing.lock().until.is_none(), "no pause before a throttle");
        let pauses: Vec<Duration> = (0..9)
            .map(|_| {
                pacing.throttled();
                pacing.lock().pause
            })
            .collect();
        assert_eq!(pauses[..4], [LEAST_PAUSE, LEAST_PAUSE * 2, LEAST_PAUSE * 4, LEAST_PAUSE * 8]);
        assert_eq!(pauses[8], MOST_PAUSE);
        // Every writer waits until the pause ends: at least half the pause from the last throttle.
        let until = pacing.lock().until.expect("a pause");
        assert!(until >= Instant::now() + MOST_PAUSE / 2 - Duration::from_millis(50));
        pacing.eased();
        assert_eq!(pacing.lock().pause, MOST_PAUSE * 3 / 4);
        for _ in 0..20 {
            pacing.eased();
        }
        assert_eq!(pacing.lock().pause, Duration::ZERO);
        pacing.throttled();
        assert_eq!(pacing.lock().pause, LEAST_PAUSE, "starts short again");
    }
}
