//! Our edge under the attacks of the `hostile` crate, over real TLS: connections that never send
//! a request, a flood of them past the connection cap, streams that are never read, rapid
//! reset, and a TLS scan. A visitor (a new connection per request) must be answered within a
//! second throughout. Each attack is one that worked before (docs/RELIABILITY.md).

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hostile::probe::{self, ProbeRequest};
use hostile::Target;
use support::{bearer, h1_raw, largest_static, token, Behind, H2Client, TestEdge};

const VISITOR_DEADLINE: Duration = Duration::from_secs(1);

async fn visitor_is_served(edge: &TestEdge, what: &str) {
    let target = Target::localhost(edge.addr);
    let authorization = bearer(&token());
    for request in [
        ProbeRequest::get("/static/reset.css"),
        ProbeRequest::get("/api/items/1").header("authorization", &authorization),
    ] {
        let began = Instant::now();
        match probe::once(&target, &request).await {
            Ok((200, _)) => {}
            Ok((status, body)) => panic!("{what}: {} answered {status}: {body:?}", request.path),
            Err(err) => panic!(
                "{what}: {} failed after {:?}: {err}",
                request.path,
                began.elapsed()
            ),
        }
        assert!(
            began.elapsed() < VISITOR_DEADLINE,
            "{what}: {} took {:?}",
            request.path,
            began.elapsed()
        );
    }
}

/// Before: 20,000 connections that finished the handshake and sent nothing were never closed,
/// filled the descriptor limit, and visitors timed out (5 of 5). Now: past the cap the oldest
/// idle connection gives way to each newcomer, and every idle connection is closed after
/// its first-request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_give_way_at_the_cap_and_are_closed_after_their_timeout() {
    let edge = TestEdge::start_with(Behind::Fused, |config| {
        config.max_connections = Some(100);
        config.limits.first_request_timeout = Duration::from_secs(2);
        config.limits.idle_timeout = Duration::from_secs(3);
    });
    let metrics = edge.running().metrics().clone();
    let target = Target::localhost(edge.addr);
    let idle = hostile::idle::IdleConnections::open(&target, 300, &[b"h2"], 32).await;
    assert!(
        idle.counts.opened.load(Ordering::Relaxed) >= 290,
        "the flood got its handshakes done"
    );
    for _ in 0..5 {
        visitor_is_served(&edge, "during an idle flood past the cap").await;
    }
    assert!(
        metrics.connections_evicted.load(Ordering::Relaxed) >= 150,
        "{} evicted",
        metrics.connections_evicted.load(Ordering::Relaxed)
    );
    assert!(metrics.connections_open.load(Ordering::Relaxed) <= 100 + 512);

    // The ones still held are closed by the first-request timeout.
    let began = Instant::now();
    while idle.held() > 0 && began.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(idle.held(), 0, "idle connections outlived their timeout");
    assert!(metrics.connections_idle_closed.load(Ordering::Relaxed) >= 1);

    // A connection that made a request and then idles is closed too (HTTP/2 has no idle
    // timeout of its own in hyper).
    let mut client = H2Client::connect(edge.addr).await;
    assert_eq!(client.get("/static/reset.css", &[]).await.status, 200);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        client
            .send("GET", "/static/reset.css", &[], None)
            .await
            .is_err(),
        "an idle HTTP/2 connection was kept past the idle timeout"
    );
}

/// 100 connections × 128 streams on the largest file, never read: each connection gets at
/// most 32 streams, the responses are shared bytes, and visitors are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_are_never_read_do_not_stop_visitors() {
    let edge = TestEdge::start(Behind::Fused);
    let path = format!("/static/{}", largest_static().name);
    for unread in [
        hostile::unread::Unread::Streams,
        hostile::unread::Unread::Socket,
    ] {
        let mut plan = hostile::unread::UnreadPlan::new(100, 128, &path);
        plan.unread = unread;
        let attack =
            hostile::unread::UnreadStreams::open(&Target::localhost(edge.addr), &plan).await;
        assert_eq!(attack.counts.connections.load(Ordering::Relaxed), 100);
        for _ in 0..3 {
            visitor_is_served(&edge, &format!("{unread:?} never read")).await;
        }
    }
}

/// Before: 20,000 HEADERS + RST_STREAM pairs in 5 s on one connection, each verified and
/// routed, no GOAWAY. Now the connection is closed once it has reset 1,000 streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_closes_the_connection() {
    let edge = TestEdge::start(Behind::Fused);
    let headers = vec![("authorization".to_string(), bearer(&token()))];
    let report = hostile::rapid_reset::run(
        &Target::localhost(edge.addr),
        "/api/items/1",
        &headers,
        20_000,
        4,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let (after, _) = report
        .ended_after
        .clone()
        .unwrap_or_else(|| panic!("the edge never ended the connection: {report:?}"));
    let limit = edge::connections::MAX_CANCELLED_STREAMS;
    assert!(
        after <= limit + 200,
        "{after} pairs before the connection ended"
    );
    assert_eq!(
        edge.running()
            .metrics()
            .connections_reset_flood
            .load(Ordering::Relaxed),
        1
    );
    visitor_is_served(&edge, "after rapid reset").await;
    // An honest connection making many requests is not mistaken for one.
    let mut client = H2Client::connect(edge.addr).await;
    for _ in 0..1500 {
        assert_eq!(client.get("/static/reset.css", &[]).await.status, 200);
    }
    assert_eq!(
        edge.running()
            .metrics()
            .connections_reset_flood
            .load(Ordering::Relaxed),
        1
    );
}

/// Errors the edge's protocol layer makes are JSON too: hyper's own 400 for garbage, and 431
/// for a head over the limit on both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_are_json() {
    let edge = TestEdge::start(Behind::Nothing);
    let garbage = h1_raw(edge.addr, b"GARBAGE\r\n\r\n").await;
    assert_eq!(garbage.status, 400, "{}", garbage.head);
    assert!(
        garbage.head.contains("application/json"),
        "{}",
        garbage.head
    );
    let body: serde_json::Value = serde_json::from_slice(&garbage.body).unwrap();
    assert!(body["error"].as_str().unwrap().starts_with("bad request"));

    let big = "a".repeat(40 * 1024);
    let request = format!(
        "GET /static/reset.css HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
    );
    let over_h1 = h1_raw(edge.addr, request.as_bytes()).await;
    assert_eq!(over_h1.status, 431, "{}", over_h1.head);
    let body: serde_json::Value = serde_json::from_slice(&over_h1.body).unwrap();
    assert!(body["error"].is_string());
    let mut client = H2Client::connect(edge.addr).await;
    let over_h2 = client
        .send("GET", "/static/reset.css", &[("x-big", big.as_str())], None)
        .await
        .unwrap();
    assert_eq!(over_h2.status, 431);
    assert_eq!(
        over_h2.json()["error"],
        "request header fields too large (32 KiB at most)"
    );
    // Beyond even hyper's backstop, hyper answers itself, still with JSON.
    let huge = "a".repeat(100 * 1024);
    let request = format!(
        "GET /static/reset.css HTTP/1.1\r\nHost: localhost\r\nX-Big: {huge}\r\nConnection: close\r\n\r\n"
    );
    let hyper_own = h1_raw(edge.addr, request.as_bytes()).await;
    assert_eq!(hyper_own.status, 431, "{}", hyper_own.head);
    assert!(
        hyper_own.head.contains("application/json"),
        "{}",
        hyper_own.head
    );
}

/// The edge is AEAD-only with forward secrecy, and testssl.sh finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_offers_only_aead_suites_and_testssl_finds_nothing() {
    let edge = TestEdge::start(Behind::Nothing);
    let addr = edge.addr;
    let (weak, findings) = tokio::task::spawn_blocking(move || {
        let weak = hostile::scan::weak_suites_accepted(addr).unwrap();
        let findings = hostile::scan::testssl_findings(addr).unwrap();
        (weak, findings)
    })
    .await
    .unwrap();
    assert!(weak.is_empty(), "accepted {weak:?}");
    assert!(findings.0.is_empty(), "{:#?}\n{}", findings.0, findings.1);
}
