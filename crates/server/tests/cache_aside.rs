//! Cache-aside behaviour through the HTTP API: L1 → Redis → Postgres, single-flight,
//! invalidation, and two instances sharing Redis.

mod common;

use std::time::Duration;

use common::*;
use testkit::eventually;

const ITEM_QUERIES: &str = "prodstack_db_queries_total{query=\"item\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_hit_l2_expiry_and_write_invalidation() {
    let services = Services::start(true);
    let redis_url = services.redis_url();
    let mut settings = services.settings();
    settings.item_ttl = Duration::from_millis(400);
    let a = server::spawn(settings.clone()).unwrap();

    // MISS, then HIT from L1.
    let first = get(a.addr(), "/api/items/11").await;
    assert_eq!((first.status, first.x_cache()), (200, "MISS"));
    let second = get(a.addr(), "/api/items/11").await;
    assert_eq!((second.x_cache(), &second.body), ("HIT", &first.body));

    // The write-back put the same JSON in Redis (off the response path, so poll briefly),
    // with a millisecond TTL no longer than the item TTL.
    assert!(
        eventually(Duration::from_secs(2), || async {
            redis_get(&redis_url, "item:11").await.as_deref() == Some(first.text().as_str())
        })
        .await,
        "Redis never held item:11"
    );
    let mut conn = redis_conn(&redis_url).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg("item:11")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 400, "PTTL {pttl}");

    // A second instance (empty L1, same Redis) answers from L2: HIT without touching Postgres.
    let b = server::spawn(settings.clone()).unwrap();
    let from_l2 = get(b.addr(), "/api/items/11").await;
    assert_eq!((from_l2.x_cache(), &from_l2.body), ("HIT", &first.body));
    let mb = metrics(&b).await;
    assert_eq!(metric(&mb, "prodstack_cache_l2_hits_total"), 1.0);
    assert_eq!(metric(&mb, ITEM_QUERIES), 0.0);

    // After the TTL both tiers have expired: MISS again, and one more query.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(redis_get(&redis_url, "item:11").await, None);
    let expired = get(a.addr(), "/api/items/11").await;
    assert_eq!(expired.x_cache(), "MISS");
    let ma = metrics(&a).await;
    assert_eq!(metric(&ma, ITEM_QUERIES), 2.0);
    assert_eq!(metric(&ma, "prodstack_cache_l1_hits_total"), 1.0);

    // GET – POST – GET: the write invalidates L1 and Redis before its 204.
    assert_eq!(get(a.addr(), "/api/items/12").await.x_cache(), "MISS");
    assert_eq!(get(a.addr(), "/api/items/12").await.x_cache(), "HIT");
    assert!(
        eventually(Duration::from_secs(2), || async {
            redis_get(&redis_url, "item:12").await.is_some()
        })
        .await
    );
    let w = post_json(
        a.addr(),
        "/api/items/12",
        "{\"name\":\"fresh\",\"price\":5,\"quantity\":6}",
    )
    .await;
    assert_eq!(w.status, 204);
    assert_eq!(
        redis_get(&redis_url, "item:12").await,
        None,
        "Redis key survived the write"
    );
    let after = get(a.addr(), "/api/items/12").await;
    assert_eq!(after.x_cache(), "MISS");
    let mut expected = services.item_row(12);
    expected.name = "fresh".into();
    expected.price = 5;
    expected.quantity = 6;
    assert_eq!(after.text(), item_json(&expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_on_a_cold_id_runs_one_query() {
    let mut services = Services::start(true);
    // pg_stat_statements counts executions per statement at executor end, synchronously, so
    // it is Postgres' own exact count (the table statistics views are flushed lazily).
    services
        .pg
        .psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        .unwrap();
    services.pg.stop();
    services.pg.start_again().unwrap();
    services
        .pg
        .psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .unwrap();
    let server = services.spawn();
    let addr = server.addr();
    // Let the connections come up so the stampede meets a warm pool, then zero the counters.
    assert!(
        eventually(Duration::from_secs(10), || async {
            get(addr, "/readyz").await.status == 200
        })
        .await
    );
    services
        .pg
        .psql("SELECT pg_stat_statements_reset()")
        .unwrap();

    // 200 connections first, then all requests released at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let barrier = barrier.clone();
        let mut conn = Conn::open(addr).await;
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            conn.send("GET", "/api/items/777", None).await
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    let expected = item_json(&services.item_row(777));
    assert!(replies
        .iter()
        .all(|r| r.status == 200 && r.text() == expected));
    let misses = replies.iter().filter(|r| r.x_cache() == "MISS").count();
    assert_eq!(misses, 1, "exactly one request ran the SQL");

    let m = metrics(&server).await;
    assert_eq!(metric(&m, ITEM_QUERIES), 1.0);
    assert_eq!(metric(&m, "prodstack_cache_misses_total"), 1.0);
    let waiters = metric(&m, "prodstack_singleflight_waiters_total");
    assert_eq!(waiters + metric(&m, "prodstack_cache_l1_hits_total"), 199.0);
    assert!(
        waiters > 0.0,
        "no request waited: the stampede never happened"
    );
    eprintln!("stampede: 1 loader, {waiters} single-flight waiters, the rest L1 hits");
    let calls = services
        .pg
        .psql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE 'SELECT id, name, category, price, quantity, active, rating_score, rating_count FROM items%'")
        .unwrap();
    assert_eq!(calls, "1", "Postgres executed the item query {calls} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_empties_the_others_l1() {
    let services = Services::start(true);
    let a = services.spawn();
    let b = services.spawn();
    // Both subscribed to the backplane.
    for s in [&a, &b] {
        assert!(
            eventually(Duration::from_secs(10), || async {
                metric(&metrics(s).await, "prodstack_backplane_subscriptions_total") >= 1.0
            })
            .await
        );
    }
    assert_eq!(get(b.addr(), "/api/items/3").await.x_cache(), "MISS");
    assert_eq!(get(b.addr(), "/api/items/3").await.x_cache(), "HIT");

    let w = post_json(
        a.addr(),
        "/api/items/3",
        "{\"name\":\"validate-invalidated\",\"price\":111,\"quantity\":22}",
    )
    .await;
    assert_eq!(w.status, 204);
    let after = get(b.addr(), "/api/items/3").await;
    assert_eq!(after.x_cache(), "MISS", "B still served its pre-write copy");
    assert_eq!(after.json()["name"], "validate-invalidated");
    assert_eq!(after.json()["price"], 111);
    assert_eq!(
        metric(
            &metrics(&b).await,
            "prodstack_cache_remote_invalidations_total"
        ),
        1.0
    );
    assert_eq!(
        metric(&metrics(&a).await, "prodstack_backplane_ack_timeouts_total"),
        0.0
    );
}
