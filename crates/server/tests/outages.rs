//! Degradation: Redis down → still 2xx from L1 + Postgres; Postgres down → 503 JSON with
//! Retry-After; both recover without a restart of the server.

mod common;

use std::time::Duration;

use common::*;
use testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_survived_and_l2_returns() {
    let mut services = Services::start(true);
    let redis_url = services.redis_url();
    let server = services.spawn();
    let addr = server.addr();
    assert_eq!(get(addr, "/api/items/21").await.status, 200);

    services.redis.as_mut().unwrap().stop();
    for id in 22..32 {
        let r = get(addr, &format!("/api/items/{id}")).await;
        assert_eq!(
            (r.status, r.x_cache()),
            (200, "MISS"),
            "item {id} during the outage"
        );
        assert_eq!(r.text(), item_json(&services.item_row(id)));
    }
    assert_eq!(get(addr, "/api/items/22").await.x_cache(), "HIT");
    let w = post_json(
        addr,
        "/api/items/23",
        "{\"name\":\"during-outage\",\"price\":1,\"quantity\":2}",
    )
    .await;
    assert_eq!(w.status, 204, "{}", w.text());
    let r = get(addr, "/api/items/23").await;
    assert_eq!(
        (r.x_cache(), r.json()["name"].as_str()),
        ("MISS", Some("during-outage"))
    );
    let me = send(addr, "GET", "/api/me", &[("x-user-id", "42")], None).await;
    assert_eq!(me.status, 200);
    let m = metrics(&server).await;
    assert!(metric(&m, "prodstack_redis_errors_total") >= 1.0);
    assert_eq!(metric(&m, "prodstack_redis_up"), 0.0);

    // Back: the server reconnects by itself and writes values to Redis again.
    services.redis.as_mut().unwrap().start_again().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            // Each attempt is a cold id, so each one tries a write-back.
            let id = 40
                + (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    % 1000) as i32;
            assert_eq!(get(addr, &format!("/api/items/{id}")).await.status, 200);
            tokio::time::sleep(Duration::from_millis(50)).await;
            redis_get(&redis_url, &format!("item:{id}")).await.is_some()
        })
        .await,
        "L2 never came back"
    );
    assert_eq!(metric(&metrics(&server).await, "prodstack_redis_up"), 1.0);
    // The backplane re-subscribed too (and flushed the L1, since it may have missed messages).
    assert!(
        eventually(Duration::from_secs(10), || async {
            let m = metrics(&server).await;
            metric(&m, "prodstack_backplane_subscriptions_total") >= 2.0
                && metric(&m, "prodstack_cache_l1_flushes_total") >= 1.0
        })
        .await,
        "the backplane never re-subscribed"
    );
    // And L2 hits again: a fresh instance finds what the first one wrote.
    let id = 2000;
    assert_eq!(
        get(addr, &format!("/api/items/{id}")).await.x_cache(),
        "MISS"
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            redis_get(&redis_url, "item:2000").await.is_some()
        })
        .await
    );
    let other = services.spawn();
    assert_eq!(get(other.addr(), "/api/items/2000").await.x_cache(), "HIT");
    assert_eq!(
        metric(&metrics(&other).await, "prodstack_cache_l2_hits_total"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers() {
    let mut services = Services::start(true);
    // Postgres is down before the server starts: it must listen anyway (HttpArena's probes).
    services.pg.stop();
    let server = services.spawn();
    let addr = server.addr();
    assert_eq!(get(addr, "/healthz").await.status, 200);
    assert_eq!(get(addr, "/public/baseline?a=1&b=2").await.text(), "3");
    let not_ready = get(addr, "/readyz").await;
    not_ready.assert_error(503, "Postgres");
    let r = get(addr, "/api/items/1").await;
    r.assert_error(503, "unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    post_json(
        addr,
        "/api/items/1",
        "{\"name\":\"x\",\"price\":1,\"quantity\":2}",
    )
    .await
    .assert_error(503, "unavailable");

    services.pg.start_again().unwrap();
    assert!(
        eventually(Duration::from_secs(15), || async {
            get(addr, "/api/items/1").await.status == 200
        })
        .await,
        "never recovered after Postgres came up"
    );
    assert_eq!(get(addr, "/readyz").await.status, 200);

    // Mid-run outage: a cold id answers 503 (warm ones may still come from the cache).
    services.pg.stop();
    let r = get(addr, "/api/items/5001").await;
    r.assert_error(503, "unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    let me = send(addr, "GET", "/api/me", &[("x-user-id", "1")], None).await;
    me.assert_error(503, "unavailable");
    services.pg.start_again().unwrap();
    assert!(
        eventually(Duration::from_secs(15), || async {
            get(addr, "/api/items/5001").await.status == 200
        })
        .await
    );
    let w = post_json(
        addr,
        "/api/items/5001",
        "{\"name\":\"after\",\"price\":1,\"quantity\":2}",
    )
    .await;
    assert_eq!(w.status, 204);
    // Every request the outage answered 503 is a database error in the metrics (before, a
    // whole outage of 7,186 503s left the counter at 0).
    let errors = metric(&metrics(&server).await, "prodstack_db_errors_total");
    assert!(
        errors >= 4.0,
        "prodstack_db_errors_total = {errors} after four 503s"
    );
}
