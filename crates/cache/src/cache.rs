//! [`Cache`]: the process-wide L1 in front of an optional Redis L2, with single-flight loads
//! and generation-checked invalidation.
//!
//! Lookup order for [`Cache::get_or_load`]:
//!
//! 1. **L1** (`quick_cache`, one map shared by every thread): a fresh entry is returned at
//!    once — a hash, a shard read-lock, a refcount bump and a coarse-clock compare.
//! 2. On a miss, the key's **flight**: if another request is already loading the key, wait
//!    for its outcome ([`Layer::Wait`]).
//! 3. Otherwise lead the flight: **L2** (`GET`+`PTTL` with a short timeout), then the
//!    **loader**. The loader's value goes into the L1 (if the key was not invalidated
//!    meanwhile) and is written back to Redis by a spawned task, off the response path.
//!
//! Both tiers share the caller's TTL, measured from the moment the load *started*, so a value
//! is never served longer than `ttl` after the database was read.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::generation::Generations;
use crate::key::{CacheKey, CacheValue};
use crate::l2::RedisL2;
use crate::singleflight::{self, Flights, Role};
use crate::stats::CacheStats;

/// Where a lookup's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Somebody else's work: a cached copy or another request's load.
    Hit(Layer),
    /// This request ran the loader.
    Miss,
}

/// Which layer answered a [`Lookup::Hit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    L1,
    L2,
    /// Waited for a concurrent request's load (single-flight).
    Wait,
}

impl Lookup {
    pub fn is_hit(self) -> bool {
        matches!(self, Lookup::Hit(_))
    }

    /// The `X-Cache` header value: `MISS` only for the request that ran the loader.
    pub fn x_cache(self) -> &'static str {
        match self {
            Lookup::Hit(_) => "HIT",
            Lookup::Miss => "MISS",
        }
    }
}

/// A lookup's value (`None`: the loader found no such key) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched<V> {
    pub value: Option<V>,
    pub lookup: Lookup,
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    /// Coarse-clock milliseconds after which the entry is dead.
    expires_at: u64,
}

struct Inner<K, V, E> {
    l1: quick_cache::sync::Cache<K, Entry<V>>,
    flights: Flights<K, V, E>,
    generations: Generations,
    l2: Option<RedisL2>,
    stats: CacheStats,
}

/// A two-tier cache from `K` to `V`; `E` is the loader's error, handed to every waiter of a
/// failed load (hence `Clone`). Cloning the `Cache` clones a handle to the same cache.
pub struct Cache<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Clone for Cache<K, V, E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K: CacheKey, V: CacheValue, E> std::fmt::Debug for Cache<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("l1_entries", &self.inner.l1.len())
            .field("l2", &self.inner.l2)
            .finish()
    }
}

impl<K, V, E> Cache<K, V, E>
where
    K: CacheKey,
    V: CacheValue,
    E: Clone + Send + Sync + 'static,
{
    /// A cache holding at most `capacity` L1 entries, over `l2` when given.
    pub fn new(capacity: usize, l2: Option<RedisL2>) -> Self {
        clock::start();
        Self {
            inner: Arc::new(Inner {
                l1: quick_cache::sync::Cache::new(capacity.max(1)),
                flights: Flights::default(),
                generations: Generations::default(),
                l2,
                stats: CacheStats::default(),
            }),
        }
    }

    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    pub fn l2(&self) -> Option<&RedisL2> {
        self.inner.l2.as_ref()
    }

    /// Number of entries in the L1, fresh or expired.
    pub fn l1_len(&self) -> usize {
        self.inner.l1.len()
    }

    /// The key's value if the L1 holds a fresh copy (counted as an L1 hit).
    #[inline]
    pub fn get_fresh(&self, key: &K) -> Option<V> {
        let entry = self.inner.l1.get(key)?;
        if entry.expires_at > clock::now_ms() {
            self.inner.stats.l1_hits.inc();
            Some(entry.value)
        } else {
            None
        }
    }

    /// Looks `key` up in L1, then L2, then runs `load` — at most once per key at a time across
    /// all concurrent callers. `ttl` applies to both tiers.
    pub async fn get_or_load<F, Fut>(
        &self,
        key: &K,
        ttl: Duration,
        load: F,
    ) -> Result<Fetched<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(value) = self.get_fresh(key) {
            return Ok(Fetched {
                value: Some(value),
                lookup: Lookup::Hit(Layer::L1),
            });
        }
        self.load_slow(key, ttl, load).await
    }

    async fn load_slow<F, Fut>(&self, key: &K, ttl: Duration, load: F) -> Result<Fetched<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        let ttl_ms = ttl.as_millis() as u64;
        let stats = &self.inner.stats;
        let leader = loop {
            match self.inner.flights.join(key) {
                Role::Leader(leader) => break leader,
                Role::Waiter(slot) => {
                    if let Some(outcome) = singleflight::wait(slot).await {
                        stats.singleflight_waiters.inc();
                        return outcome.map(|value| Fetched {
                            value,
                            lookup: Lookup::Hit(Layer::Wait),
                        });
                    }
                    // The leader vanished (its request was cancelled): try again.
                }
            }
        };

        // A previous leader may have filled the L1 between our miss and our join.
        if let Some(value) = self.get_fresh(key) {
            leader.publish(Ok(Some(value.clone())));
            return Ok(Fetched {
                value: Some(value),
                lookup: Lookup::Hit(Layer::L1),
            });
        }

        let generation = self.inner.generations.current(key);
        let started = clock::precise_now_ms();

        if let Some(l2) = &self.inner.l2 {
            match l2.get(&key.redis_key(), stats).await {
                Some((bytes, pttl)) => {
                    if let Some(value) = V::from_bytes(bytes) {
                        stats.l2_hits.inc();
                        let expires_at = started.saturating_add(pttl.min(ttl_ms));
                        self.insert_if_current(key, &value, expires_at, generation);
                        leader.publish(Ok(Some(value.clone())));
                        return Ok(Fetched {
                            value: Some(value),
                            lookup: Lookup::Hit(Layer::L2),
                        });
                    }
                    stats.l2_misses.inc();
                }
                None => stats.l2_misses.inc(),
            }
        }

        stats.misses.inc();
        let outcome = load().await;
        if let Ok(Some(value)) = &outcome {
            let expires_at = started.saturating_add(ttl_ms);
            if self.insert_if_current(key, value, expires_at, generation) {
                self.write_back(key, value, expires_at, generation);
            }
        }
        leader.publish(outcome.clone());
        outcome.map(|value| Fetched {
            value,
            lookup: Lookup::Miss,
        })
    }

    /// Stores a loaded value unless `key` was invalidated since `generation` was read.
    ///
    /// Why two checks: an invalidation bumps the generation, *then* removes the entry. If our
    /// second check still sees `generation`, the bump (and so the removal) comes after our
    /// insert in the SeqCst order and deletes it; if it sees a newer one, we delete our insert
    /// ourselves. Either way no pre-write value survives the invalidation.
    fn insert_if_current(&self, key: &K, value: &V, expires_at: u64, generation: u64) -> bool {
        let gens = &self.inner.generations;
        if gens.current(key) != generation {
            self.inner.stats.stale_fills_discarded.inc();
            return false;
        }
        self.inner.l1.insert(
            key.clone(),
            Entry {
                value: value.clone(),
                expires_at,
            },
        );
        if gens.current(key) != generation {
            self.inner.l1.remove(key);
            self.inner.stats.stale_fills_discarded.inc();
            return false;
        }
        true
    }

    /// `SET key value PX remaining-ttl` in a spawned task, so the response never waits for
    /// Redis. Skipped when the key was invalidated meanwhile or the TTL already ran out.
    fn write_back(&self, key: &K, value: &V, expires_at: u64, generation: u64) {
        if self.inner.l2.is_none() {
            return;
        }
        let inner = self.inner.clone();
        let key = key.clone();
        let bytes = value.to_bytes();
        tokio::spawn(async move {
            let Some(l2) = &inner.l2 else { return };
            if inner.generations.current(&key) != generation {
                return;
            }
            let now = clock::precise_now_ms();
            if expires_at > now {
                l2.set(&key.redis_key(), bytes, expires_at - now, &inner.stats)
                    .await;
            }
        });
    }

    /// Forgets `key` in this process: new generation (in-flight loads won't cache), detached
    /// flight (new requests won't join a pre-write load), L1 entry removed.
    fn drop_local(&self, key: &K) {
        self.inner.generations.bump(key);
        self.inner.flights.forget(key);
        self.inner.l1.remove(key);
    }

    /// A write to `key` happened: drop it here, then `DEL` it in Redis and announce it on the
    /// backplane (both awaited). Returns whether Redis confirmed; a Redis outage only logs and
    /// counts — the entry is gone locally, and Redis copies expire with their TTL.
    pub async fn invalidate(&self, key: &K) -> bool {
        self.drop_local(key);
        self.inner.stats.invalidations.inc();
        match &self.inner.l2 {
            Some(l2) => {
                l2.delete_and_announce(&key.redis_key(), &self.inner.stats)
                    .await
            }
            None => true,
        }
    }

    /// Another instance wrote `key`: drop it here only.
    pub fn invalidate_remote(&self, key: &K) {
        self.drop_local(key);
        self.inner.stats.remote_invalidations.inc();
    }

    /// Drops every L1 entry and starts a new generation for every key.
    pub fn flush_l1(&self) {
        self.inner.generations.bump_all();
        self.inner.l1.clear();
        self.inner.stats.l1_flushes.inc();
    }
}
