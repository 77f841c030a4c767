//! The cache on its own: single-flight, generations, TTL, and a real Redis as L2 and backplane.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache::{Cache, CacheKey, L2Config, Layer, Lookup, RedisL2};
use stack::testing::TestRedis;

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Key(i32);

impl CacheKey for Key {
    fn redis_key(&self) -> String {
        format!("test:{}", self.0)
    }
    fn from_redis_key(name: &str) -> Option<Self> {
        name.strip_prefix("test:")?.parse().ok().map(Key)
    }
}

type TestCache = Cache<Key, Bytes, String>;

fn body(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

const TTL: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_load_and_its_error() {
    let cache: TestCache = Cache::new(1000, None);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_load(&Key(1), TTL, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(Some(body("one")))
                })
                .await
                .unwrap()
        }));
    }
    let mut lookups = Vec::new();
    for t in tasks {
        let fetched = t.await.unwrap();
        assert_eq!(fetched.value, Some(body("one")));
        lookups.push(fetched.lookup);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(lookups.iter().filter(|l| **l == Lookup::Miss).count(), 1);
    assert!(lookups.contains(&Lookup::Hit(Layer::Wait)));
    assert_eq!(cache.stats().misses.get(), 1);

    // A failing load hands its error to every waiter instead of being retried 200 times.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_load(&Key(2), TTL, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err::<Option<Bytes>, _>("database down".to_string())
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), "database down");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Errors and "not found" are not cached.
    let again = cache
        .get_or_load(&Key(2), TTL, || async { Ok(None) })
        .await
        .unwrap();
    assert_eq!((again.value, again.lookup), (None, Lookup::Miss));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_after_their_ttl() {
    let cache: TestCache = Cache::new(1000, None);
    let ttl = Duration::from_millis(150);
    let load = || async { Ok(Some(body("v"))) };
    assert_eq!(
        cache.get_or_load(&Key(1), ttl, load).await.unwrap().lookup,
        Lookup::Miss
    );
    assert_eq!(
        cache.get_or_load(&Key(1), ttl, load).await.unwrap().lookup,
        Lookup::Hit(Layer::L1)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cache.get_fresh(&Key(1)), None);
    assert_eq!(
        cache.get_or_load(&Key(1), ttl, load).await.unwrap().lookup,
        Lookup::Miss
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_raced_a_write_is_not_cached() {
    let cache: TestCache = Cache::new(1000, None);
    let (loaded_tx, loaded_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let racing = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load(&Key(9), TTL, || async move {
                    // Read the "old row", then let the write happen before returning it.
                    let _ = loaded_tx.send(());
                    let _ = go_rx.await;
                    Ok(Some(body("old")))
                })
                .await
                .unwrap()
        })
    };
    loaded_rx.await.unwrap();
    cache.invalidate(&Key(9)).await; // the write's invalidation
                                     // A request arriving after the write must not join the pre-write load.
    let after_write = cache
        .get_or_load(&Key(9), TTL, || async { Ok(Some(body("new"))) })
        .await
        .unwrap();
    assert_eq!(
        (after_write.value, after_write.lookup),
        (Some(body("new")), Lookup::Miss)
    );
    go_tx.send(()).unwrap();
    assert_eq!(racing.await.unwrap().value, Some(body("old")));
    // The stale result did not overwrite the fresh entry.
    assert_eq!(cache.get_fresh(&Key(9)), Some(body("new")));

    // And with no fresh entry in between: the stale fill is simply discarded.
    let (loaded_tx, loaded_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let racing = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load(&Key(10), TTL, || async move {
                    let _ = loaded_tx.send(());
                    let _ = go_rx.await;
                    Ok(Some(body("old")))
                })
                .await
                .unwrap()
        })
    };
    loaded_rx.await.unwrap();
    cache.invalidate(&Key(10)).await;
    go_tx.send(()).unwrap();
    racing.await.unwrap();
    assert_eq!(cache.get_fresh(&Key(10)), None);
    assert_eq!(cache.stats().stale_fills_discarded.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_hands_over_to_a_waiter() {
    let cache: TestCache = Cache::new(1000, None);
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load(&Key(5), TTL, || async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(Some(body("never")))
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load(&Key(5), TTL, || async { Ok(Some(body("second"))) })
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort(); // the client went away
    let fetched = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter hung after its leader vanished")
        .unwrap();
    assert_eq!(
        (fetched.value, fetched.lookup),
        (Some(body("second")), Lookup::Miss)
    );
}

fn l2(redis: &TestRedis) -> RedisL2 {
    RedisL2::connect_lazy(L2Config::new(redis.url())).unwrap()
}

async fn redis_get(redis: &TestRedis, key: &str) -> Option<Vec<u8>> {
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

async fn wait_for<F: Fn() -> bool>(what: &str, check: F) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_is_the_shared_l2_and_backplane() {
    let redis = TestRedis::start().unwrap();
    let a: TestCache = Cache::new(1000, Some(l2(&redis)));
    let b: TestCache = Cache::new(1000, Some(l2(&redis)));
    cache::backplane::spawn_subscriber(a.clone()).unwrap();
    cache::backplane::spawn_subscriber(b.clone()).unwrap();
    wait_for("both subscribed", || {
        a.stats().backplane_subscriptions.get() >= 1 && b.stats().backplane_subscriptions.get() >= 1
    })
    .await;

    let loaded = a
        .get_or_load(&Key(1), TTL, || async { Ok(Some(body("from-db"))) })
        .await
        .unwrap();
    assert_eq!(loaded.lookup, Lookup::Miss);
    for _ in 0..100 {
        if redis_get(&redis, "test:1").await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(redis_get(&redis, "test:1").await, Some(b"from-db".to_vec()));
    let from_l2 = b
        .get_or_load(&Key(1), TTL, || async {
            Err("B must not load".to_string())
        })
        .await
        .unwrap();
    assert_eq!(
        (from_l2.value, from_l2.lookup),
        (Some(body("from-db")), Lookup::Hit(Layer::L2))
    );
    assert_eq!(b.get_fresh(&Key(1)), Some(body("from-db")));

    // A's write: by the time `invalidate` returns, the Redis key is deleted and B has
    // confirmed dropping its L1 copy; A ignores its own announcement.
    assert!(a.invalidate(&Key(1)).await);
    assert_eq!(redis_get(&redis, "test:1").await, None);
    assert_eq!(
        b.get_fresh(&Key(1)),
        None,
        "B still holds key 1 after A's write"
    );
    assert_eq!(a.stats().ack_timeouts.get(), 0);
    assert_eq!(b.stats().remote_invalidations.get(), 1);
    assert_eq!(a.stats().remote_invalidations.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_degrades_to_l1_and_recovers() {
    let mut redis = TestRedis::start().unwrap();
    let cache: TestCache = Cache::new(1000, Some(l2(&redis)));
    redis.stop();
    let started = std::time::Instant::now();
    let fetched = cache
        .get_or_load(&Key(3), TTL, || async { Ok(Some(body("db"))) })
        .await
        .unwrap();
    assert_eq!(fetched.lookup, Lookup::Miss);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a dead Redis stalled the lookup"
    );
    assert!(
        !cache.invalidate(&Key(3)).await,
        "invalidate must report the failed DEL"
    );
    assert!(cache.stats().redis_errors.get() >= 2);
    assert!(cache.l2().unwrap().outage().is_down());

    redis.start_again().unwrap();
    let mut back = false;
    for i in 0..100 {
        let key = Key(100 + i);
        cache
            .get_or_load(&key, TTL, || async { Ok(Some(body("db"))) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if redis_get(&redis, &key.redis_key()).await.is_some() {
            back = true;
            break;
        }
    }
    assert!(back, "write-backs never reached the restarted Redis");
    assert!(!cache.l2().unwrap().outage().is_down());
}
