//! The invalidation backplane: every instance subscribes to one Redis pub/sub channel and
//! drops the keys other instances announce, so a write on instance A also empties instance
//! B's L1 (HttpArena's .NET reference has no such thing; with one instance it is idle).
//!
//! Messages are `"<instance id> <nonce> <redis key>"`; an instance skips its own. Every other
//! instance drops the key and then confirms on the sender's acknowledgement channel
//! (`<channel>:ack:<sender>`, payload the nonce); the writer waits for as many confirmations
//! as PUBLISH reported other receivers before it answers the write (bounded by
//! `L2Config::ack_timeout`), so B's next read after A's 204 is a miss. Pub/sub delivers
//! nothing that was published while the subscriber was disconnected, so every
//! *re*-subscription flushes this instance's whole L1 — after a Redis outage, at most one cold
//! lookup per key instead of a stale entry. The first subscription does not flush: it happens
//! milliseconds after start-up, and flushing then would only throw away the first loads;
//! an entry loaded in that window can miss another instance's write for at most its TTL,
//! the staleness bound the TTL already allows.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::cache::Cache;
use crate::key::{CacheKey, CacheValue};

const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Spawns the subscriber on the current Tokio runtime. Returns `None` when the cache has no
/// L2. The task runs until aborted (or its runtime shuts down).
pub fn spawn_subscriber<K, V, E>(cache: Cache<K, V, E>) -> Option<JoinHandle<()>>
where
    K: CacheKey,
    V: CacheValue,
    E: Clone + Send + Sync + 'static,
{
    cache.l2()?;
    Some(tokio::spawn(run(cache)))
}

/// Handles one message of either channel.
fn handle<K, V, E>(cache: &Cache<K, V, E>, msg: &redis::Msg, me: &str, ack_channel: &str)
where
    K: CacheKey,
    V: CacheValue,
    E: Clone + Send + Sync + 'static,
{
    let Some(l2) = cache.l2() else { return };
    let Ok(payload) = msg.get_payload::<String>() else {
        return;
    };
    if msg.get_channel_name() == ack_channel {
        if let Ok(nonce) = payload.parse() {
            l2.record_ack(nonce);
        }
        return;
    }
    let mut parts = payload.splitn(3, ' ');
    let (Some(sender), Some(nonce), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        debug!("ignoring malformed backplane message {payload:?}");
        return;
    };
    let Ok(nonce) = nonce.parse::<u64>() else {
        debug!("ignoring malformed backplane message {payload:?}");
        return;
    };
    if sender == me {
        return;
    }
    if let Some(key) = K::from_redis_key(name) {
        cache.invalidate_remote(&key);
    }
    // Confirm even for keys this cache does not know: the writer counts receivers, not keys.
    let cache = cache.clone();
    let sender = sender.to_string();
    tokio::spawn(async move {
        if let Some(l2) = cache.l2() {
            l2.acknowledge(&sender, nonce, cache.stats()).await;
        }
    });
}

async fn run<K, V, E>(cache: Cache<K, V, E>)
where
    K: CacheKey,
    V: CacheValue,
    E: Clone + Send + Sync + 'static,
{
    let Some(l2) = cache.l2() else { return };
    let client = l2.client().clone();
    let channel = l2.config().channel.clone();
    let me = l2.instance().to_string();
    let ack_channel = l2.ack_channel();
    let mut delay = RETRY_MIN;
    let mut subscribed_before = false;
    loop {
        let pubsub = match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => Some(pubsub),
            Ok(Err(err)) => {
                cache.stats().redis_errors.inc();
                l2.outage().failed("backplane connect", &err);
                None
            }
            Err(_) => {
                cache.stats().redis_errors.inc();
                l2.outage().failed("backplane connect", &"timed out");
                None
            }
        };
        let Some(mut pubsub) = pubsub else {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
            continue;
        };
        if let Err(err) = pubsub.subscribe(&[&channel, &ack_channel]).await {
            cache.stats().redis_errors.inc();
            l2.outage().failed("backplane SUBSCRIBE", &err);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
            continue;
        }
        delay = RETRY_MIN;
        l2.set_subscribed(true);
        cache.stats().backplane_subscriptions.inc();
        if subscribed_before {
            // Anything published while we were away was missed; drop what the L1 holds.
            cache.flush_l1();
            info!("invalidation backplane re-subscribed to `{channel}`; L1 flushed");
        } else {
            info!("invalidation backplane subscribed to `{channel}`");
            subscribed_before = true;
        }
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            handle(&cache, &msg, &me, &ack_channel);
        }
        l2.set_subscribed(false);
        cache.stats().redis_errors.inc();
        l2.outage()
            .failed("backplane subscription", &"connection lost");
    }
}
