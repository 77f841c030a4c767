//! `/api/*` and `/public/*` through the edge: JWT failures answered by the edge itself, the
//! `X-User-Id` the app server sees, HTTP/1.1 clients, and the pooled proxy to a separate app
//! server (including a POST with a body).

mod support;

use contract::BENCH_SECRET as DEFAULT_SECRET;
use support::{bearer, h1_request, item_json, now, token, token_for, user, Behind, TestEdge};

/// `base64url('{"alg":"none","typ":"JWT"}')` and `base64url('{"alg":"HS512","typ":"JWT"}')`.
const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
const ALG_HS512_HEADER: &str = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9";

fn segments(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    [parts[0], parts[1], parts[2]]
}

/// Authorization values the edge must refuse, each with why.
fn refused_authorizations() -> Vec<(&'static str, String)> {
    let secret = DEFAULT_SECRET.as_bytes();
    let valid = token();
    let [_, payload, signature] = segments(&valid);
    let user_1 = token_for("1", now() + 3600, secret);
    let [_, payload_1, _] = segments(&user_1);
    vec![
        ("not Bearer", "Basic YWxhZGRpbjpvcGVuc2VzYW1l".to_string()),
        ("lower-case scheme", format!("bearer {valid}")),
        ("scheme only", "Bearer".to_string()),
        ("empty token", "Bearer ".to_string()),
        ("two spaces", format!("Bearer  {valid}")),
        (
            "bad signature (another secret)",
            bearer(&token_for("42", now() + 3600, b"another-secret")),
        ),
        (
            "payload swapped under a valid signature",
            bearer(&format!("{}.{payload_1}.{signature}", segments(&valid)[0])),
        ),
        (
            "expired",
            bearer(&token_for("42", now().saturating_sub(60), secret)),
        ),
        (
            "alg none, no signature",
            bearer(&format!("{ALG_NONE_HEADER}.{payload}.")),
        ),
        (
            "alg none, correctly HMAC-signed",
            bearer(&jwt::sign_segments(
                format!("{ALG_NONE_HEADER}.{payload}"),
                secret,
            )),
        ),
        (
            "alg HS512 header",
            bearer(&jwt::sign_segments(
                format!("{ALG_HS512_HEADER}.{payload}"),
                secret,
            )),
        ),
        ("garbage", "Bearer garbage".to_string()),
        (
            "HttpArena's bogus token",
            "Bearer invalid.token.here".to_string(),
        ),
        ("four segments", format!("Bearer {valid}.x")),
        ("binary-looking", "Bearer %%%.###.!!!".to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_failures_are_401_json_from_the_edge() {
    let edge = TestEdge::start(Behind::Fused);
    let mut client = edge.h2().await;

    let missing = client.get("/api/me", &[]).await;
    missing.assert_unauthorized("no Authorization header");
    for (why, authorization) in refused_authorizations() {
        for path in ["/api/me", "/api/items/1"] {
            let reply = client
                .get(path, &[("authorization", authorization.as_str())])
                .await;
            reply.assert_unauthorized(&format!("GET {path}, {why}"));
        }
    }
    // The same token, well formed, is served: the refusals above are about the token.
    let reply = client
        .get("/api/me", &[("authorization", &bearer(&token()))])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // A write without a valid token changes nothing.
    let before = edge.app().item_in_db(3);
    for authorization in [None, Some("Bearer garbage".to_string())] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(value) = &authorization {
            headers.push(("authorization", value.as_str()));
        }
        let reply = client
            .send(
                "POST",
                "/api/items/3",
                &headers,
                Some(br#"{"name":"intruder","price":1,"quantity":1}"#),
            )
            .await
            .unwrap();
        reply.assert_unauthorized(&format!("POST with {authorization:?}"));
    }
    assert_eq!(edge.app().item_in_db(3), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_user_id_comes_from_the_token_only() {
    let edge = TestEdge::start(Behind::Fused);
    let mut client = edge.h2().await;
    let alice = serde_json::to_value(user(42)).unwrap();
    let bob = serde_json::to_value(user(1)).unwrap();

    // A forged X-User-Id next to a valid token for 42: the edge replaces it.
    let forged = client
        .get(
            "/api/me",
            &[("authorization", &bearer(&token())), ("x-user-id", "1")],
        )
        .await;
    assert_eq!(forged.status, 200, "{}", forged.text());
    assert_eq!(forged.json(), alice);
    assert_eq!(forged.header("content-type"), Some("application/json"));

    // The token's subject decides: a token for user 1 reads user 1.
    let token_1 = token_for("1", now() + 3600, DEFAULT_SECRET.as_bytes());
    let as_bob = client
        .get(
            "/api/me",
            &[("authorization", &bearer(&token_1)), ("x-user-id", "42")],
        )
        .await;
    assert_eq!(as_bob.status, 200, "{}", as_bob.text());
    assert_eq!(as_bob.json(), bob);

    // A forged X-User-Id without a token (or with a bad one) gets nothing.
    client
        .get("/api/me", &[("x-user-id", "42")])
        .await
        .assert_unauthorized("X-User-Id without a token");
    client
        .get(
            "/api/me",
            &[
                ("x-user-id", "42"),
                ("authorization", "Bearer invalid.token.here"),
            ],
        )
        .await
        .assert_unauthorized("X-User-Id with a bad token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_over_tls_serves_public_and_api() {
    let edge = TestEdge::start(Behind::Fused);

    let sum = h1_request(edge.addr, "GET", "/public/baseline?a=13&b=42", &[], None).await;
    assert_eq!(sum.status, 200);
    assert_eq!(sum.text(), "55");

    let authorization = bearer(&token());
    let me = h1_request(
        edge.addr,
        "GET",
        "/api/me",
        &[("authorization", &authorization), ("x-user-id", "3")],
        None,
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json(), serde_json::to_value(user(42)).unwrap());

    h1_request(edge.addr, "GET", "/api/me", &[], None)
        .await
        .assert_unauthorized("HTTP/1.1 without a token");

    let item = h1_request(
        edge.addr,
        "GET",
        "/api/items/11",
        &[("authorization", &authorization)],
        None,
    )
    .await;
    assert_eq!(item.status, 200);
    assert_eq!(item.json(), item_json(&edge.app().item_row(11)));

    let unknown = h1_request(edge.addr, "GET", "/nowhere", &[], None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("content-type"), Some("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_mode_forwards_public_and_api_including_a_post_body() {
    let edge = TestEdge::start(Behind::Proxy);
    let mut client = edge.h2().await;
    let authorization = bearer(&token());

    let sum = client.get("/public/baseline?a=100&b=7", &[]).await;
    assert_eq!(sum.status, 200);
    assert_eq!(sum.text(), "107");

    let json = client.get("/public/json/3", &[]).await;
    assert_eq!(json.status, 200);
    assert_eq!(json.json()["count"], 3);
    assert_eq!(json.json()["items"].as_array().unwrap().len(), 3);

    let me = client
        .get(
            "/api/me",
            &[("authorization", &authorization), ("x-user-id", "1")],
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json(), serde_json::to_value(user(42)).unwrap());
    client
        .get("/api/me", &[("x-user-id", "42")])
        .await
        .assert_unauthorized("proxy mode, no token");

    let id = 5;
    let first = client
        .get(
            &format!("/api/items/{id}"),
            &[("authorization", &authorization)],
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json(), item_json(&edge.app().item_row(id)));
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let second = client
        .get(
            &format!("/api/items/{id}"),
            &[("authorization", &authorization)],
        )
        .await;
    assert_eq!(second.header("x-cache"), Some("HIT"));

    // HttpArena's write body, trailing newline included.
    let body = b"{\"name\":\"bench-updated\",\"price\":250,\"quantity\":10}\n";
    let write = client
        .send(
            "POST",
            &format!("/api/items/{id}"),
            &[
                ("authorization", &authorization),
                ("content-type", "application/json"),
            ],
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(write.status, 204, "{}", write.text());
    assert!(write.body.is_empty());
    assert_eq!(edge.app().item_in_db(id), "bench-updated|250|10");

    let after = client
        .get(
            &format!("/api/items/{id}"),
            &[("authorization", &authorization)],
        )
        .await;
    assert_eq!(after.status, 200);
    assert_eq!(after.header("x-cache"), Some("MISS"));
    assert_eq!(after.json()["name"], "bench-updated");
    assert_eq!(after.json()["price"], 250);
    assert_eq!(after.json()["quantity"], 10);

    // A bad body is the app server's 400, passed through with its JSON.
    let bad = client
        .send(
            "POST",
            &format!("/api/items/{id}"),
            &[
                ("authorization", &authorization),
                ("content-type", "application/json"),
            ],
            Some(b"{\"name\":"),
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.json()["error"].is_string());
    assert_eq!(edge.app().item_in_db(id), "bench-updated|250|10");

    // The same through an HTTP/1.1 client.
    let h1 = h1_request(
        edge.addr,
        "POST",
        "/api/items/6",
        &[
            ("authorization", &authorization),
            ("content-type", "application/json"),
        ],
        Some(br#"{"name":"via-h1","price":3,"quantity":4}"#),
    )
    .await;
    assert_eq!(h1.status, 204, "{}", h1.text());
    assert_eq!(edge.app().item_in_db(6), "via-h1|3|4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_app_server_is_a_502_with_a_json_body() {
    let edge = TestEdge::start(Behind::Nothing);
    let mut client = edge.h2().await;
    let reply = client.get("/public/baseline?a=1&b=1", &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("bad gateway"));
    // Authentication still comes first.
    client
        .get("/api/me", &[])
        .await
        .assert_unauthorized("no app server, no token");
    // And the edge keeps serving what it can.
    assert_eq!(client.get("/static/reset.css", &[]).await.status, 200);
}

/// `{"name":"xx…","price":1,"quantity":1}` of exactly `len` bytes.
fn write_body_of(len: usize) -> Vec<u8> {
    let frame = br#"{"name":"","price":1,"quantity":1}"#.len();
    format!(
        r#"{{"name":"{}","price":1,"quantity":1}}"#,
        "x".repeat(len - frame)
    )
    .into_bytes()
}

/// A write body over the app server's 64 KiB limit is refused by the edge itself with a JSON
/// 413, in both modes, over HTTP/2 (declared or streamed without a length) and HTTP/1.1, and
/// the row stays as it was; a body of exactly 64 KiB still lands. Before the edge enforced the
/// limit, the fused app answered 413 mid-upload and HTTP/2 reset the stream: no answer at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_413_json_in_both_modes_and_change_nothing() {
    let limit = server::body::MAX_BODY_BYTES;
    for behind in [Behind::Fused, Behind::Proxy] {
        let edge = TestEdge::start(behind);
        let app = edge.app();
        let (id, control) = (4, 11);
        let before = app.item_in_db(id);
        let authorization = bearer(&token());
        let path = format!("/api/items/{id}");
        let big = write_body_of(200 * 1024);
        let length = big.len().to_string();
        let mut client = edge.h2().await;
        let json = ("content-type", "application/json");
        let auth = ("authorization", authorization.as_str());
        for headers in [
            vec![auth, json, ("content-length", length.as_str())],
            vec![auth, json],
        ] {
            let answer = client
                .send("POST", &path, &headers, Some(&big))
                .await
                .unwrap_or_else(|e| panic!("{behind:?}: no answer to a 200 KB POST: {e}"));
            assert_eq!(answer.status, 413, "{behind:?}: {}", answer.text());
            assert_eq!(answer.header("content-type"), Some("application/json"));
            assert_eq!(
                answer.json()["error"],
                "request body is larger than 64 KiB (65536 bytes)"
            );
        }
        let h1 = h1_request(edge.addr, "POST", &path, &[auth, json], Some(&big)).await;
        assert_eq!(h1.status, 413, "{behind:?} over HTTP/1.1: {}", h1.text());
        assert!(h1.json()["error"].is_string());
        assert_eq!(
            app.item_in_db(id),
            before,
            "{behind:?}: a refused body changed the row"
        );

        // The limit is the app's, not lower: exactly 64 KiB is written.
        let exact = write_body_of(limit);
        let landed = client
            .send(
                "POST",
                &format!("/api/items/{control}"),
                &[auth, json],
                Some(&exact),
            )
            .await
            .unwrap();
        assert_eq!(landed.status, 204, "{behind:?}: {}", landed.text());
        assert!(app.item_in_db(control).ends_with("|1|1"));
        // The connection that carried the refusals still serves.
        let item = client.get(&path, &[auth]).await;
        assert_eq!(item.status, 200);
        assert_eq!(item.json(), item_json(&app.item_row(id)));
    }
}
