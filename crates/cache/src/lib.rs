//! A two-tier cache for cache-aside reads: one process-wide L1 with per-entry TTL over an
//! optional Redis L2, with per-key single-flight loads and invalidation that reaches every
//! instance.
//!
//! Built for the prodstack server (items and users keyed by id, values pre-serialized JSON),
//! and generic over key and value so other components can reuse it.
//!
//! ```no_run
//! use std::time::Duration;
//! use bytes::Bytes;
//! use cache::{Cache, CacheKey, L2Config, RedisL2};
//!
//! #[derive(Clone, Hash, PartialEq, Eq)]
//! struct Item(i32);
//! impl CacheKey for Item {
//!     fn redis_key(&self) -> String { format!("item:{}", self.0) }
//!     fn from_redis_key(name: &str) -> Option<Self> {
//!         name.strip_prefix("item:")?.parse().ok().map(Item)
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let l2 = RedisL2::connect_lazy(L2Config::new("redis://127.0.0.1:6379"))?;
//! let cache: Cache<Item, Bytes, String> = Cache::new(100_000, Some(l2));
//! cache::backplane::spawn_subscriber(cache.clone());
//! let fetched = cache
//!     .get_or_load(&Item(7), Duration::from_secs(1), || async {
//!         Ok(Some(Bytes::from_static(b"{\"id\":7}")))
//!     })
//!     .await?;
//! println!("{} {:?}", fetched.lookup.x_cache(), fetched.value);
//! cache.invalidate(&Item(7)).await; // after the UPDATE, before answering the write
//! # Ok(()) }
//! ```
//!
//! Design notes (the why):
//! - **One L1 for all threads.** Per-thread caches would each miss on their own and would not
//!   all see an invalidation (HttpArena's validation check 14).
//! - **Coarse clock** ([`clock`]): a hit compares against an atomic "now in ms" updated by a
//!   ticker thread instead of calling `Instant::now()`.
//! - **Single-flight** ([`singleflight`]): N concurrent misses → one L2 lookup, at most one
//!   loader call; waiters report a hit.
//! - **Generations** ([`generation`]): a load that started before a write never caches its
//!   pre-write result.
//! - **Backplane** ([`backplane`]): writes are announced on a Redis channel so every instance
//!   drops the key from its L1, and the writer waits for their confirmations (bounded) before
//!   `invalidate` returns — so a read on any instance after the write's response misses.

pub mod backplane;
pub mod cache;
pub mod clock;
pub mod generation;
pub mod key;
pub mod l2;
pub mod singleflight;
pub mod stats;

pub use cache::{Cache, Fetched, Layer, Lookup};
pub use key::{CacheKey, CacheValue};
pub use l2::{L2Config, L2Error, OutageLog, RedisL2};
pub use stats::CacheStats;
