//! Every endpoint's exact bytes and headers against rows computed from the generated seed,
//! and every bad input answered as specified.

mod common;

use common::*;
use testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_answer_exactly() {
    let services = Services::start(false);
    let server = services.spawn();
    let addr = server.addr();

    let r = get(addr, "/public/baseline?a=13&b=42").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.text(), "55");
    assert_eq!(get(addr, "/public/baseline?a=-7&b=900").await.text(), "893");
    let big = get(addr, &format!("/public/baseline?a={}&b=0", i64::MAX)).await;
    assert_eq!(big.text(), i64::MAX.to_string());

    get(addr, "/public/baseline?a=1")
        .await
        .assert_error(400, "`b`");
    get(addr, "/public/baseline").await.assert_error(400, "`a`");
    get(addr, "/public/baseline?a=x&b=1")
        .await
        .assert_error(400, "`a`");
    get(addr, "/public/baseline?a=1&b=2.5")
        .await
        .assert_error(400, "`b`");
    get(addr, &format!("/public/baseline?a={}&b=1", i64::MAX))
        .await
        .assert_error(400, "overflows");

    // HttpArena's readiness probe gets an HTTP answer.
    let probe = get(addr, "/baseline11?a=1&b=1").await;
    assert_eq!((probe.status, probe.text().as_str()), (200, "2"));

    // /public/json: expected from the dataset items, serialized in the contract's order.
    for (count, m) in [(1_i64, None), (25, None), (50, Some(3_i64)), (0, None)] {
        let path = match m {
            Some(m) => format!("/public/json/{count}?m={m}"),
            None => format!("/public/json/{count}"),
        };
        let r = get(addr, &path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let items: Vec<String> = services
            .dataset
            .iter()
            .take(count as usize)
            .map(|it| {
                let tags = serde_json::to_string(&it.tags).unwrap();
                format!(
                    "{{\"id\":{},\"name\":{},\"category\":{},\"price\":{},\"quantity\":{},\"active\":{},\"tags\":{tags},\"rating\":{{\"score\":{},\"count\":{}}},\"total\":{}}}",
                    it.id,
                    serde_json::to_string(&it.name).unwrap(),
                    serde_json::to_string(&it.category).unwrap(),
                    it.price,
                    it.quantity,
                    it.active,
                    it.rating.score,
                    it.rating.count,
                    i64::from(it.price) * i64::from(it.quantity) * m.unwrap_or(1)
                )
            })
            .collect();
        let expected = format!("{{\"items\":[{}],\"count\":{count}}}", items.join(","));
        assert_eq!(r.text(), expected, "{path}");
    }
    // Clamping and the lenient `m` of the reference.
    assert_eq!(get(addr, "/public/json/500").await.json()["count"], 50);
    assert_eq!(get(addr, "/public/json/-3").await.json()["count"], 0);
    let ignored_m = get(addr, "/public/json/1?m=abc").await.json();
    let first = &services.dataset[0];
    assert_eq!(
        ignored_m["items"][0]["total"],
        i64::from(first.price) * i64::from(first.quantity)
    );
    get(addr, "/public/json/ten")
        .await
        .assert_error(400, "count");
    get(addr, &format!("/public/json/1?m={}", i64::MAX))
        .await
        .assert_error(400, "overflows");

    // Unknown routes and methods are JSON errors too.
    get(addr, "/nope").await.assert_error(404, "/nope");
    send(addr, "DELETE", "/api/items/1", &[], None)
        .await
        .assert_error(405, "DELETE");

    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200);
    assert!(
        eventually(std::time::Duration::from_secs(10), || async {
            get(addr, "/readyz").await.status == 200
        })
        .await
    );
    assert_eq!(get(addr, "/readyz").await.json()["redis"], "disabled");

    let m = metrics(&server).await;
    assert!(
        metric(
            &m,
            "prodstack_http_requests_total{route=\"public_baseline\",status=\"200\"}"
        ) >= 3.0
    );
    assert!(
        metric(
            &m,
            "prodstack_http_requests_total{route=\"public_baseline\",status=\"400\"}"
        ) >= 5.0
    );
    assert_eq!(
        metric(
            &m,
            "prodstack_http_requests_total{route=\"baseline11\",status=\"200\"}"
        ),
        1.0
    );
    assert!(m.contains_key("prodstack_db_queries_total{query=\"item\"}"));
    // The admin listener is not the public one.
    assert_eq!(get(addr, "/metrics").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_routes_answer_exactly() {
    let services = Services::start(true);
    let server = services.spawn();
    let addr = server.addr();

    for id in [1, 7, 4242, 100_000] {
        let expected = item_json(&services.item_row(id));
        let first = get(addr, &format!("/api/items/{id}")).await;
        assert_eq!(first.status, 200);
        assert_eq!(first.header("content-type"), Some("application/json"));
        assert_eq!(first.text(), expected, "item {id}");
        assert_eq!(first.x_cache(), "MISS");
        let second = get(addr, &format!("/api/items/{id}")).await;
        assert_eq!((second.text(), second.x_cache()), (expected, "HIT"));
    }

    // The server ignores Authorization entirely; it trusts X-User-Id.
    for user in datagen::seed::users() {
        let id = user.id.to_string();
        let r = send(
            addr,
            "GET",
            "/api/me",
            &[("x-user-id", &id), ("authorization", "Bearer garbage")],
            None,
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.text(), user_json(&user));
        assert_eq!(r.x_cache(), "MISS");
        let again = send(addr, "GET", "/api/me", &[("x-user-id", &id)], None).await;
        assert_eq!(again.x_cache(), "HIT");
    }
    get(addr, "/api/me").await.assert_error(401, "X-User-Id");
    send(addr, "GET", "/api/me", &[("x-user-id", "abc")], None)
        .await
        .assert_error(401, "integer");
    send(addr, "GET", "/api/me", &[("x-user-id", "9999")], None)
        .await
        .assert_error(404, "9999");

    // Bad item ids: 400 for non-integers, 404 for integers naming no item; never 500.
    get(addr, "/api/items/abc")
        .await
        .assert_error(400, "integer");
    get(addr, "/api/items/1.5")
        .await
        .assert_error(400, "integer");
    get(addr, "/api/items/0").await.assert_error(404, "0");
    get(addr, "/api/items/-1").await.assert_error(404, "-1");
    get(addr, "/api/items/100001")
        .await
        .assert_error(404, "100001");
    get(addr, "/api/items/99999999999")
        .await
        .assert_error(404, "99999999999");

    // Bad writes, each naming the problem; none may change the row.
    let before = services
        .pg
        .psql("SELECT name, price, quantity FROM items WHERE id = 5")
        .unwrap();
    for (body, status, needle) in [
        ("{\"price\":1,\"quantity\":2}", 400, "`name`"),
        ("{\"name\":\"x\",\"quantity\":2}", 400, "`price`"),
        (
            "{\"name\":\"x\",\"price\":\"1\",\"quantity\":2}",
            400,
            "`price`",
        ),
        (
            "{\"name\":\"x\",\"price\":1,\"quantity\":2.5}",
            400,
            "`quantity`",
        ),
        ("{\"name\":null,\"price\":1,\"quantity\":2}", 400, "`name`"),
        (
            "{\"name\":\"x\",\"price\":1,\"quantity\":99999999999}",
            400,
            "`quantity`",
        ),
        ("not json", 400, "not valid JSON"),
        ("null", 400, "JSON object"),
        ("", 400, "not valid JSON"),
    ] {
        post_json(addr, "/api/items/5", body)
            .await
            .assert_error(status, needle);
    }
    let huge = format!(
        "{{\"name\":\"{}\",\"price\":1,\"quantity\":2}}",
        "x".repeat(70 * 1024)
    );
    post_json(addr, "/api/items/5", &huge)
        .await
        .assert_error(413, "64");
    post_json(
        addr,
        "/api/items/abc",
        "{\"name\":\"x\",\"price\":1,\"quantity\":2}",
    )
    .await
    .assert_error(400, "integer");
    post_json(
        addr,
        "/api/items/100001",
        "{\"name\":\"x\",\"price\":1,\"quantity\":2}",
    )
    .await
    .assert_error(404, "100001");
    assert_eq!(
        services
            .pg
            .psql("SELECT name, price, quantity FROM items WHERE id = 5")
            .unwrap(),
        before
    );

    // The benchmark's body (trailing newline) and case-insensitive names are accepted.
    let r = post_json(
        addr,
        "/api/items/5",
        "{\"name\":\"bench-updated\",\"price\":250,\"quantity\":10}\n",
    )
    .await;
    assert_eq!((r.status, r.body.len()), (204, 0));
    let r = post_json(
        addr,
        "/api/items/6",
        "{\"Name\":\"shout\",\"PRICE\":3,\"quantity\":4}",
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        services
            .pg
            .psql("SELECT name, price, quantity FROM items WHERE id IN (5, 6) ORDER BY id")
            .unwrap(),
        "bench-updated|250|10\nshout|3|4"
    );

    let m = metrics(&server).await;
    assert_eq!(
        metric(
            &m,
            "prodstack_http_requests_total{route=\"item_post\",status=\"204\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &m,
            "prodstack_http_requests_total{route=\"item_post\",status=\"413\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "prodstack_http_requests_total{route=\"me\",status=\"401\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(&m, "prodstack_db_queries_total{query=\"update_item\"}"),
        3.0
    ); // 2 + unknown id
    assert_eq!(metric(&m, "prodstack_cache_invalidations_total"), 2.0);
}

/// HttpArena's own dataset file (when present) gives the contract's published figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httparena_dataset_is_served_compatibly() {
    // `shared/` sits beside the checkout (here and in CI); HTTPARENA_DATASET overrides.
    let beside_checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/httparena/data/dataset.json");
    let path = std::env::var_os("HTTPARENA_DATASET")
        .map(std::path::PathBuf::from)
        .unwrap_or(beside_checkout);
    if !path.is_file() {
        eprintln!(
            "skipping: HttpArena dataset not found at {}",
            path.display()
        );
        return;
    }
    let mut settings = Settings::new("postgres://bench:bench@127.0.0.1:9/benchmark");
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.admin_listen = "127.0.0.1:0".parse().unwrap();
    settings.dataset_path = path;
    settings.workers = 1;
    let server = server::spawn(settings).unwrap();
    // HttpArena's figures for the dataset: body sizes and sums of totals.
    let r25 = get(server.addr(), "/public/json/25").await;
    let r50 = get(server.addr(), "/public/json/50").await;
    assert_eq!(r25.body.len(), 4176);
    assert_eq!(r50.body.len(), 8357);
    let sum = |r: &Reply| -> i64 {
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["total"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(sum(&r25), 294_967);
    assert_eq!(sum(&r50), 551_091);
    let first = get(server.addr(), "/public/json/1").await.json();
    assert_eq!(first["items"][0]["name"], "Alpha Widget");
    assert_eq!(first["items"][0]["total"], 4920);
}

use server::Settings;

/// Both runtime layouts and the raw-hyper comparison front end answer with the same bytes,
/// and share one L1 across all their threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_layouts_and_frontends_agree() {
    let services = Services::start(false);
    let expected = item_json(&services.item_row(9));
    for (runtime, http) in [
        (server::RuntimeLayout::PerCore, server::HttpFrontend::Axum),
        (
            server::RuntimeLayout::MultiThread,
            server::HttpFrontend::RawHyper,
        ),
        (
            server::RuntimeLayout::PerCore,
            server::HttpFrontend::RawHyper,
        ),
    ] {
        let mut settings = services.settings();
        settings.runtime = runtime;
        settings.http = http;
        settings.workers = 3;
        let server = server::spawn(settings).unwrap();
        let addr = server.addr();
        let mut lookups = Vec::new();
        // Separate connections land on different per-core listeners; one L1 serves them all.
        for _ in 0..6 {
            let r = get(addr, "/api/items/9").await;
            assert_eq!(r.text(), expected, "{runtime:?} {http:?}");
            lookups.push(r.x_cache().to_string());
        }
        assert_eq!(
            lookups.iter().filter(|l| *l == "MISS").count(),
            1,
            "{runtime:?} {http:?}: {lookups:?}"
        );
        assert_eq!(get(addr, "/public/baseline?a=2&b=3").await.text(), "5");
        assert_eq!(get(addr, "/healthz").await.status, 200);
        let m = metrics(&server).await;
        assert_eq!(
            metric(
                &m,
                "prodstack_http_requests_total{route=\"item_get\",status=\"200\"}"
            ),
            6.0
        );
    }
}

/// An oversize body is read (and dropped) before the 413 goes out, so the client gets the
/// answer and the keep-alive connection stays usable. Answering mid-upload and closing made
/// nginx in front of the server turn this 413 into a 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_gets_its_413_and_the_connection_keeps_serving() {
    use http_body_util::{BodyExt, Full};
    let services = Services::start(false);
    let server = services.spawn();
    let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let huge = format!(
        "{{\"name\":\"{}\",\"price\":1,\"quantity\":2}}",
        "x".repeat(200 * 1024)
    );
    let request = hyper::Request::post("/api/items/5")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(huge)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 413);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("64 KiB"),
        "{body:?}"
    );

    sender.ready().await.expect("the connection is still open");
    let request = hyper::Request::get("/public/baseline?a=1&b=2")
        .header("host", "localhost")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "3"
    );
}

/// With `EDGE_SECRET` set, the app routes answer only requests carrying the edge's proof: a
/// client that reaches the port directly cannot claim a user with `X-User-Id`, read or write.
/// The probes stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_edge_proof_the_app_routes_are_401_and_nothing_is_written() {
    let services = Services::start(false);
    let mut settings = services.settings();
    let secret = "0123456789abcdef0123456789abcdef";
    settings.edge_secret = Some(server::edge_proof::EdgeSecret::new(secret).unwrap());
    let server = server::spawn(settings).unwrap();
    let addr = server.addr();
    let write = "{\"name\":\"forged\",\"price\":1,\"quantity\":1}";
    let before = services
        .pg
        .psql("SELECT name FROM items WHERE id = 6")
        .unwrap();
    for proof in [None, Some("wrong"), Some(&secret[..31])] {
        let mut headers = vec![("x-user-id", "42"), ("content-type", "application/json")];
        if let Some(proof) = proof {
            headers.push(("x-edge-secret", proof));
        }
        let me = send(addr, "GET", "/api/me", &headers, None).await;
        me.assert_error(401, "edge only");
        let post = send(
            addr,
            "POST",
            "/api/items/6",
            &headers,
            Some(write.as_bytes()),
        )
        .await;
        post.assert_error(401, "edge only");
        let public = send(addr, "GET", "/public/baseline?a=1&b=2", &headers, None).await;
        public.assert_error(401, "edge only");
    }
    assert_eq!(
        services
            .pg
            .psql("SELECT name FROM items WHERE id = 6")
            .unwrap(),
        before,
        "a write without the proof changed the row"
    );
    let proven = [("x-user-id", "42"), ("x-edge-secret", secret)];
    let me = send(addr, "GET", "/api/me", &proven, None).await;
    assert_eq!(me.status, 200, "{}", me.text());
    for probe in ["/healthz", "/readyz", "/baseline11?a=1&b=2"] {
        assert_eq!(get(addr, probe).await.status, 200, "{probe}");
    }
    let m = metrics(&server).await;
    assert_eq!(
        metric(
            &m,
            "prodstack_http_requests_total{route=\"no_edge_proof\",status=\"401\"}"
        ),
        9.0
    );
}

/// `LISTEN_UNIX`: the same routes answer on the Unix socket as on TCP, in both runtime
/// layouts (per-core runtimes share one socket), and a stopped server removes its file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unix_socket_serves_the_same_routes_in_both_layouts() {
    use http_body_util::{BodyExt, Full};
    let services = Services::start(false);
    let dir = tempfile::tempdir().unwrap();
    for layout in [
        server::configuration::RuntimeLayout::MultiThread,
        server::configuration::RuntimeLayout::PerCore,
    ] {
        let path = dir.path().join("server.sock");
        let mut settings = services.settings();
        settings.listen_unix = Some(path.clone());
        settings.runtime = layout;
        let server = server::spawn(settings).unwrap();
        assert_eq!(server.unix_path(), Some(path.as_path()));
        let row = services.item_row(7);
        // Several connections: in the per-core layout any runtime may accept each one.
        for _ in 0..4 {
            let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            for (uri, status, body) in [
                ("/public/baseline?a=2&b=3", 200, "5".to_string()),
                ("/api/items/7", 200, item_json(&row)),
                ("/api/nope", 404, String::new()),
            ] {
                let request = hyper::Request::get(uri)
                    .header("host", "localhost")
                    .header("x-user-id", "42")
                    .body(Full::new(bytes::Bytes::new()))
                    .unwrap();
                sender.ready().await.unwrap();
                let response = sender.send_request(request).await.unwrap();
                assert_eq!(response.status().as_u16(), status, "{layout:?} {uri}");
                let got = response.into_body().collect().await.unwrap().to_bytes();
                if !body.is_empty() {
                    assert_eq!(String::from_utf8_lossy(&got), body, "{layout:?} {uri}");
                }
            }
        }
        // TCP keeps answering beside it.
        assert_eq!(get(server.addr(), "/healthz").await.status, 200);
        server.stop();
        assert!(!path.exists(), "{layout:?}: socket file left behind");
    }
}
