//! The cache's own counters, read by the server's `/metrics` page.

use rt::counter::Counter;

/// Event counts since start-up. Every field only grows.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Lookups answered from the process-wide L1.
    pub l1_hits: Counter,
    /// Lookups answered from Redis after an L1 miss.
    pub l2_hits: Counter,
    /// Redis lookups that found nothing (or timed out / failed).
    pub l2_misses: Counter,
    /// Lookups that ran the loader (the request that reports `MISS`).
    pub misses: Counter,
    /// Lookups that waited for another request's in-flight load (single-flight).
    pub singleflight_waiters: Counter,
    /// Keys invalidated by a write in this process.
    pub invalidations: Counter,
    /// Keys dropped because another instance announced a write on the backplane.
    pub remote_invalidations: Counter,
    /// Loads whose result was not cached because the key was invalidated while they ran.
    pub stale_fills_discarded: Counter,
    /// Failed or timed-out Redis commands (any kind).
    pub redis_errors: Counter,
    /// Times the whole L1 was dropped because the backplane re-subscribed after losing its
    /// connection, so messages may have been missed meanwhile.
    pub l1_flushes: Counter,
    /// Successful backplane subscriptions (the first one, then one per reconnection).
    pub backplane_subscriptions: Counter,
    /// Invalidations whose acknowledgements from other instances did not all arrive in time.
    pub ack_timeouts: Counter,
}
