//! The Redis L2: a shared second tier behind every instance's L1, and the transport of the
//! invalidation backplane.
//!
//! Values are stored as plain strings with a millisecond expiry (`SET key value PX ttl`), so
//! `redis-cli GET item:7` shows the cached JSON. Reads run `GET` and `PTTL` in one `MULTI`, so
//! an entry copied into the L1 never outlives its Redis copy.
//!
//! Redis is optional at run time: every command has a short timeout, a failure counts as a
//! miss (reads) or is skipped (writes), and the outage is logged once when it starts and once
//! when it ends, never per request. `ConnectionManager` reconnects by itself.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::{info, warn};

use crate::stats::CacheStats;

/// Default channel for invalidation messages.
pub const DEFAULT_CHANNEL: &str = "prodstack:invalidate";

/// Timeouts and names for [`RedisL2`].
#[derive(Debug, Clone)]
pub struct L2Config {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Pub/sub channel of the invalidation backplane.
    pub channel: String,
    /// Budget for the `GET` on an L1 miss: past it the lookup counts as an L2 miss and the
    /// loader runs, so a slow Redis costs at most this much latency.
    pub get_timeout: Duration,
    /// Budget for `SET`, `DEL` and `PUBLISH`.
    pub write_timeout: Duration,
    /// How long an invalidation waits for the other instances to confirm they dropped the key
    /// (see [`RedisL2::delete_and_announce`]). Past it the write answers anyway; the other
    /// copies then live at most their TTL.
    pub ack_timeout: Duration,
}

impl L2Config {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            channel: DEFAULT_CHANNEL.to_string(),
            get_timeout: Duration::from_millis(100),
            write_timeout: Duration::from_millis(500),
            ack_timeout: Duration::from_millis(250),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    #[error("invalid REDIS_URL `{url}`: {source}")]
    InvalidUrl {
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("creating the Redis connection manager: {0}")]
    Manager(#[source] redis::RedisError),
}

/// Remembers whether Redis is currently failing, so an outage is logged once.
#[derive(Debug, Default)]
pub struct OutageLog {
    down: AtomicBool,
}

impl OutageLog {
    pub fn failed(&self, what: &str, err: &dyn Display) {
        if !self.down.swap(true, Ordering::Relaxed) {
            warn!("Redis unavailable ({what}: {err}); serving from L1 + Postgres until it returns");
        }
    }

    pub fn succeeded(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            info!("Redis reachable again; L2 back in use");
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

/// A Redis connection (multiplexed, auto-reconnecting) used as L2.
pub struct RedisL2 {
    config: L2Config,
    client: redis::Client,
    manager: ConnectionManager,
    /// Identifies this process's messages on the backplane, so it can skip its own.
    instance: String,
    outage: OutageLog,
    /// Whether this instance's backplane subscriber is currently subscribed (then PUBLISH
    /// counts it among the receivers).
    subscribed: AtomicBool,
    next_nonce: AtomicU64,
    /// Invalidations waiting for acknowledgements, by nonce.
    pending_acks: Mutex<HashMap<u64, Arc<AckWait>>>,
}

/// Acknowledgements received so far for one invalidation.
#[derive(Debug, Default)]
struct AckWait {
    received: AtomicUsize,
    arrived: tokio::sync::Notify,
}

impl std::fmt::Debug for RedisL2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisL2")
            .field("url", &self.config.url)
            .field("channel", &self.config.channel)
            .field("instance", &self.instance)
            .finish()
    }
}

impl RedisL2 {
    /// Prepares the connection without connecting: the first command connects, so start-up
    /// never waits for (or fails on) Redis. Must be called inside a Tokio runtime, which then
    /// hosts the connection's background task.
    pub fn connect_lazy(config: L2Config) -> Result<Self, L2Error> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(|source| L2Error::InvalidUrl {
                url: config.url.clone(),
                source,
            })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            // Reconnect attempts happen on the next command anyway; don't make a request
            // wait through a long retry ladder while Redis is down.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(L2Error::Manager)?;
        Ok(Self {
            config,
            client,
            manager,
            instance: instance_id(),
            outage: OutageLog::default(),
            subscribed: AtomicBool::new(false),
            next_nonce: AtomicU64::new(1),
            pending_acks: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &L2Config {
        &self.config
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn outage(&self) -> &OutageLog {
        &self.outage
    }

    fn failed(&self, stats: &CacheStats, what: &str, err: &dyn Display) {
        stats.redis_errors.inc();
        self.outage.failed(what, err);
    }

    /// `GET` + `PTTL`: the value and its remaining lifetime in ms, or `None` on a miss, an
    /// error or a timeout.
    pub async fn get(&self, key: &str, stats: &CacheStats) -> Option<(Bytes, u64)> {
        let mut conn = self.manager.clone();
        let mut pipe = redis::pipe();
        pipe.atomic().get(key).pttl(key);
        let reply = tokio::time::timeout(
            self.config.get_timeout,
            pipe.query_async::<(Option<Vec<u8>>, i64)>(&mut conn),
        )
        .await;
        match reply {
            Ok(Ok((Some(value), pttl))) => {
                self.outage.succeeded();
                // -1: no expiry (someone else wrote it); -2: gone between the two commands,
                // impossible inside MULTI. Both are capped by the caller's TTL.
                let pttl = if pttl < 0 { u64::MAX } else { pttl as u64 };
                Some((Bytes::from(value), pttl))
            }
            Ok(Ok((None, _))) => {
                self.outage.succeeded();
                None
            }
            Ok(Err(err)) => {
                self.failed(stats, "GET", &err);
                None
            }
            Err(_) => {
                self.failed(stats, "GET", &"timed out");
                None
            }
        }
    }

    /// `SET key value PX ttl_ms`.
    pub async fn set(&self, key: &str, value: Bytes, ttl_ms: u64, stats: &CacheStats) {
        let mut conn = self.manager.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(value.as_ref())
            .arg("PX")
            .arg(ttl_ms.max(1));
        let reply =
            tokio::time::timeout(self.config.write_timeout, cmd.query_async::<()>(&mut conn)).await;
        match reply {
            Ok(Ok(())) => self.outage.succeeded(),
            Ok(Err(err)) => self.failed(stats, "SET", &err),
            Err(_) => self.failed(stats, "SET", &"timed out"),
        }
    }

    /// The channel on which other instances confirm this instance's invalidations.
    pub fn ack_channel(&self) -> String {
        ack_channel(&self.config.channel, &self.instance)
    }

    pub(crate) fn set_subscribed(&self, subscribed: bool) {
        self.subscribed.store(subscribed, Ordering::SeqCst);
    }

    /// Records one acknowledgement of invalidation `nonce` (from the backplane).
    pub(crate) fn record_ack(&self, nonce: u64) {
        let wait = self
            .pending_acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&nonce)
            .cloned();
        if let Some(wait) = wait {
            wait.received.fetch_add(1, Ordering::SeqCst);
            wait.arrived.notify_waiters();
        }
    }

    /// Confirms to `sender` that this instance dropped the key of invalidation `nonce`.
    pub(crate) async fn acknowledge(&self, sender: &str, nonce: u64, stats: &CacheStats) {
        let mut conn = self.manager.clone();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(ack_channel(&self.config.channel, sender))
            .arg(nonce);
        match tokio::time::timeout(self.config.write_timeout, cmd.query_async::<i64>(&mut conn))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => self.failed(stats, "PUBLISH ack", &err),
            Err(_) => self.failed(stats, "PUBLISH ack", &"timed out"),
        }
    }

    /// `DEL key` then `PUBLISH channel "<instance> <nonce> <key>"`, pipelined in that order,
    /// then waits (up to `ack_timeout`) until every other subscribed instance has confirmed
    /// that it dropped the key from its L1. So when this returns `true`, no instance's L1 or
    /// Redis holds the pre-write value: a read anywhere after the write's response misses.
    /// Returns `false` if Redis failed or an acknowledgement did not come in time.
    pub async fn delete_and_announce(&self, key: &str, stats: &CacheStats) -> bool {
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        let wait = Arc::new(AckWait::default());
        // Registered before publishing: an acknowledgement can arrive before PUBLISH returns.
        self.pending_acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nonce, wait.clone());
        let confirmed = self.announce(key, nonce, &wait, stats).await;
        self.pending_acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&nonce);
        confirmed
    }

    async fn announce(&self, key: &str, nonce: u64, wait: &AckWait, stats: &CacheStats) -> bool {
        let mut conn = self.manager.clone();
        let mut pipe = redis::pipe();
        pipe.del(key).ignore().publish(
            &self.config.channel,
            format!("{} {nonce} {key}", self.instance),
        );
        let reply = tokio::time::timeout(
            self.config.write_timeout,
            pipe.query_async::<(u64,)>(&mut conn),
        )
        .await;
        match reply {
            Ok(Ok((receivers,))) => {
                self.outage.succeeded();
                // PUBLISH counts every subscriber, this instance included when subscribed.
                let own = u64::from(self.subscribed.load(Ordering::SeqCst));
                let others = receivers.saturating_sub(own) as usize;
                let deadline = tokio::time::Instant::now() + self.config.ack_timeout;
                loop {
                    let arrived = wait.arrived.notified();
                    if wait.received.load(Ordering::SeqCst) >= others {
                        return true;
                    }
                    if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                        stats.ack_timeouts.inc();
                        return false;
                    }
                }
            }
            Ok(Err(err)) => {
                self.failed(stats, "DEL/PUBLISH", &err);
                false
            }
            Err(_) => {
                self.failed(stats, "DEL/PUBLISH", &"timed out");
                false
            }
        }
    }

    /// `PING`, for readiness reports.
    pub async fn ping(&self) -> bool {
        let mut conn = self.manager.clone();
        matches!(
            tokio::time::timeout(
                self.config.get_timeout,
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        )
    }
}

fn ack_channel(channel: &str, instance: &str) -> String {
    format!("{channel}:ack:{instance}")
}

/// A process-unique id: pid plus start time in ns, enough to tell instances apart on one
/// Redis.
fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", std::process::id())
}

/// Checks that `url` is a Redis URL this client can use, without connecting.
pub fn validate_url(url: &str) -> Result<(), L2Error> {
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|source| L2Error::InvalidUrl {
            url: url.to_string(),
            source,
        })
}
