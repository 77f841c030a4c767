//! Helpers the test suites share, so that no crate's tests carry a copy. A dev-dependency
//! only: nothing here ships in a binary. The real services the tests run (Postgres, Redis,
//! nginx) come from `stack` (`stack::testing`), which the component benchmarks use too.

use std::future::Future;
use std::time::Duration;

/// How often [`eventually`] asks again.
pub const POLL: Duration = Duration::from_millis(20);

/// Asks `check` every [`POLL`] until it answers `true` (then `true`) or `limit` has passed
/// (then `false`, after one last try), for effects that land a little after the request that
/// caused them: an invalidation reaching another instance, a counter being scraped, a port
/// closing.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn true_once_the_check_passes_false_after_the_limit() {
        let calls = AtomicU32::new(0);
        let passed = eventually(Duration::from_secs(1), || async {
            calls.fetch_add(1, Ordering::Relaxed) >= 3
        })
        .await;
        assert!(passed);
        assert_eq!(calls.load(Ordering::Relaxed), 4);

        let began = tokio::time::Instant::now();
        assert!(!eventually(Duration::from_millis(100), || async { false }).await);
        assert!(began.elapsed() >= Duration::from_millis(100));
    }
}
