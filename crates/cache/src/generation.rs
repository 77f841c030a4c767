//! Per-key generation counters that stop a slow load from caching pre-write data.
//!
//! The race: a load reads row 7 from Postgres, then a writer updates row 7 and invalidates
//! `item:7`, then the load stores what it read. Without a guard the old row is served for a
//! whole TTL after the write. So every invalidation bumps the key's generation *before* it
//! removes the entry, and a load remembers the generation it started under and stores its
//! result only if the generation is unchanged — checked once before and once after the insert
//! (see `Cache::insert_if_current`).
//!
//! Generations live in a fixed array of stripes indexed by the key's hash rather than in a map
//! of keys: memory stays constant however many keys are written, and two keys sharing a stripe
//! only cost a spurious "don't cache this fill" — never a stale entry.

use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of stripes (a power of two).
pub const STRIPES: usize = 4096;

#[derive(Debug)]
pub struct Generations {
    stripes: Box<[AtomicU64]>,
    hasher: RandomState,
}

impl Default for Generations {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl Generations {
    fn stripe<K: Hash>(&self, key: &K) -> &AtomicU64 {
        let index = self.hasher.hash_one(key) as usize & (STRIPES - 1);
        &self.stripes[index]
    }

    /// The key's current generation.
    pub fn current<K: Hash>(&self, key: &K) -> u64 {
        // SeqCst pairs with `bump`: see the proof sketch on `Cache::insert_if_current`.
        self.stripe(key).load(Ordering::SeqCst)
    }

    /// Starts a new generation for the key (an invalidation).
    pub fn bump<K: Hash>(&self, key: &K) {
        self.stripe(key).fetch_add(1, Ordering::SeqCst);
    }

    /// Starts a new generation for every key (the whole L1 is being dropped).
    pub fn bump_all(&self) {
        for stripe in self.stripes.iter() {
            stripe.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_changes_only_that_keys_generation_mostly() {
        let gens = Generations::default();
        let before_a = gens.current(&"a");
        gens.bump(&"a");
        assert_ne!(gens.current(&"a"), before_a);
        // With 4096 stripes, most other keys are unaffected.
        let unaffected = (0..100)
            .filter(|i| {
                let key = format!("k{i}");
                let g = gens.current(&key);
                gens.bump(&"a");
                gens.current(&key) == g
            })
            .count();
        assert!(unaffected > 90, "{unaffected}");
        let b = gens.current(&"b");
        gens.bump_all();
        assert_ne!(gens.current(&"b"), b);
    }
}
