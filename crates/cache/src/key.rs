//! What the cache needs from its keys and values.
//!
//! Keys name themselves in Redis (`item:7`) and on the invalidation channel, and can be parsed
//! back from that name when another instance announces a write. Values travel to Redis as bytes.

use std::hash::Hash;

use bytes::Bytes;

/// A cache key: hashable for the L1, printable and parseable for Redis and the backplane.
pub trait CacheKey: Hash + Eq + Clone + Send + Sync + 'static {
    /// The key's name in Redis and in invalidation messages, for example `item:7`.
    fn redis_key(&self) -> String;
    /// The inverse of [`CacheKey::redis_key`]; `None` for names this cache does not own.
    fn from_redis_key(name: &str) -> Option<Self>;
}

/// A cache value. Cloned on every hit, so it should be a cheap handle (`Bytes`, `Arc<T>`).
pub trait CacheValue: Clone + Send + Sync + 'static {
    /// The bytes stored in Redis.
    fn to_bytes(&self) -> Bytes;
    /// Parses what [`CacheValue::to_bytes`] stored; `None` treats the Redis copy as absent.
    fn from_bytes(bytes: Bytes) -> Option<Self>;
}

/// Pre-serialized bodies (the server stores item and user JSON) are stored as they are.
impl CacheValue for Bytes {
    fn to_bytes(&self) -> Bytes {
        self.clone()
    }
    fn from_bytes(bytes: Bytes) -> Option<Self> {
        Some(bytes)
    }
}
