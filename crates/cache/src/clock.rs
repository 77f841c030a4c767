//! A coarse, process-wide millisecond clock.
//!
//! An L1 hit must check the entry's expiry, and `Instant::now()` costs about 25 ns — more than
//! the map lookup itself. Instead one background thread stores "milliseconds since the process
//! started" into an `AtomicU64` every [`TICK`], and a hit reads it with one relaxed load (~1 ns).
//!
//! The price is precision: [`now_ms`] lags the real time by at most one tick plus however late
//! the ticker thread is scheduled. TTLs are a second or more, so a millisecond or two of extra
//! life is irrelevant; code that *starts* a TTL (a cache fill) uses [`precise_now_ms`], so an
//! entry never lives longer than its TTL because of a late tick at fill time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often the ticker refreshes the coarse time.
pub const TICK: Duration = Duration::from_millis(1);

static NOW_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn epoch() -> Instant {
    *EPOCH.get_or_init(|| {
        let epoch = Instant::now();
        // A failed spawn (no threads left) leaves the clock frozen at 0, which only makes
        // entries look younger; nothing breaks, and `precise_now_ms` still moves.
        let _ = std::thread::Builder::new()
            .name("cache-clock".into())
            .spawn(move || loop {
                NOW_MS.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                std::thread::sleep(TICK);
            });
        epoch
    })
}

/// Starts the ticker thread (idempotent). Call it once at start-up so the first request does
/// not pay for the thread spawn.
pub fn start() {
    epoch();
}

/// Coarse milliseconds since the process started: one atomic load.
#[inline]
pub fn now_ms() -> u64 {
    // The EPOCH check is one more load and keeps `now_ms` correct even if nobody called
    // `start()`; it is a predictable branch on the hot path.
    if EPOCH.get().is_none() {
        start();
    }
    NOW_MS.load(Ordering::Relaxed)
}

/// Exact milliseconds since the process started (about 25 ns). Use it where a TTL begins.
pub fn precise_now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_follows_real_time() {
        start();
        let before = precise_now_ms();
        std::thread::sleep(Duration::from_millis(30));
        let coarse = now_ms();
        let after = precise_now_ms();
        assert!(
            coarse >= before + 20,
            "coarse {coarse} did not move from {before}"
        );
        assert!(coarse <= after, "coarse {coarse} ahead of precise {after}");
    }
}
