//! Per-key single-flight: concurrent misses for one key share one load.
//!
//! The first miss for a key becomes the *leader*: it registers a flight and runs the L2 lookup
//! and, if needed, the loader. Every miss for the same key that arrives while the flight is
//! registered becomes a *waiter* and receives the leader's outcome (value, "not found" or
//! error) through a `watch` channel.
//!
//! Only misses touch this module, so a plain sharded `Mutex<HashMap>` is enough; the lock is
//! never held across an `.await`.
//!
//! A leader can disappear without an outcome — its request future is dropped when the client
//! disconnects. Its guard then unregisters the flight and drops the sender, waiters see the
//! channel close and retry, and one of them becomes the new leader.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

/// What a load produced: a value, "no such key", or the loader's error.
pub type Outcome<V, E> = Result<Option<V>, E>;

type Slot<V, E> = watch::Receiver<Option<Outcome<V, E>>>;
/// Registered flights of one shard: key → (flight id, outcome channel).
type Shard<K, V, E> = HashMap<K, (u64, Slot<V, E>)>;

const SHARDS: usize = 64;

pub struct Flights<K, V, E> {
    shards: Box<[Mutex<Shard<K, V, E>>]>,
    hasher: RandomState,
    next_id: AtomicU64,
}

/// What the caller of [`Flights::join`] must do.
pub enum Role<'a, K: Hash + Eq + Clone, V, E> {
    /// Run the load and [`Leader::publish`] its outcome.
    Leader(Leader<'a, K, V, E>),
    /// Wait for the leader with [`wait`].
    Waiter(Slot<V, E>),
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> Default for Flights<K, V, E> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> Flights<K, V, E> {
    fn shard(&self, key: &K) -> MutexGuard<'_, Shard<K, V, E>> {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the key's flight, or starts one.
    pub fn join(&self, key: &K) -> Role<'_, K, V, E> {
        let mut shard = self.shard(key);
        if let Some((_, slot)) = shard.get(key) {
            return Role::Waiter(slot.clone());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = watch::channel(None);
        shard.insert(key.clone(), (id, receiver));
        Role::Leader(Leader {
            flights: self,
            key: key.clone(),
            id,
            sender,
        })
    }

    /// Detaches the key's current flight, if any: requests arriving from now on start a new
    /// load instead of joining one that may have read pre-write data. The detached leader
    /// still answers the waiters it already has.
    pub fn forget(&self, key: &K) {
        self.shard(key).remove(key);
    }

    /// Number of registered flights (for tests).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The leader's handle on its flight. Dropping it without publishing makes the waiters retry.
pub struct Leader<'a, K: Hash + Eq + Clone, V, E> {
    flights: &'a Flights<K, V, E>,
    key: K,
    id: u64,
    sender: watch::Sender<Option<Outcome<V, E>>>,
}

impl<K: Hash + Eq + Clone, V, E> Leader<'_, K, V, E> {
    /// Hands the outcome to every waiter (and to anyone joining until the guard is dropped).
    pub fn publish(self, outcome: Outcome<V, E>) {
        // No receivers left is fine: nobody was waiting.
        let _ = self.sender.send(Some(outcome));
    }
}

impl<K: Hash + Eq + Clone, V, E> Drop for Leader<'_, K, V, E> {
    fn drop(&mut self) {
        let index = self.flights.hasher.hash_one(&self.key) as usize % SHARDS;
        let mut shard = self.flights.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only our own flight: `forget` may have replaced it with a newer one.
        if shard.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            shard.remove(&self.key);
        }
    }
}

/// Waits for the leader's outcome; `None` if the leader vanished without one (retry).
pub async fn wait<V: Clone, E: Clone>(mut slot: Slot<V, E>) -> Option<Outcome<V, E>> {
    let outcome = slot.wait_for(Option::is_some).await.ok()?;
    outcome.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_get_the_leaders_outcome() {
        let flights: Flights<u32, u32, String> = Flights::default();
        let Role::Leader(leader) = flights.join(&1) else {
            panic!("first join must lead")
        };
        let Role::Waiter(slot) = flights.join(&1) else {
            panic!("second join must wait")
        };
        let waiter = tokio::spawn(wait(slot));
        leader.publish(Ok(Some(7)));
        assert_eq!(waiter.await.unwrap(), Some(Ok(Some(7))));
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn a_vanished_leader_releases_its_waiters() {
        let flights: Flights<u32, u32, String> = Flights::default();
        let Role::Leader(leader) = flights.join(&1) else {
            panic!()
        };
        let Role::Waiter(slot) = flights.join(&1) else {
            panic!()
        };
        drop(leader);
        assert_eq!(wait(slot).await, None);
        assert!(matches!(flights.join(&1), Role::Leader(_)));
    }

    #[tokio::test]
    async fn forget_detaches_the_flight() {
        let flights: Flights<u32, u32, String> = Flights::default();
        let Role::Leader(old) = flights.join(&1) else {
            panic!()
        };
        flights.forget(&1);
        let Role::Leader(new) = flights.join(&1) else {
            panic!("after forget a new request must lead")
        };
        drop(old); // must not unregister the new flight
        assert!(matches!(flights.join(&1), Role::Waiter(_)));
        drop(new);
    }
}
