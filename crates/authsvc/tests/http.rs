//! The sidecar over real HTTP on a free loopback port, in both runtime layouts.

mod support;

use std::time::{Duration, Instant};

use support::{config, token, Client, Running, MODES, SECRET};

#[test]
fn valid_token_gets_200_and_the_user_id() {
    for mode in MODES {
        let server = Running::start(&config(mode));
        let mut client = Client::connect(server.addr());
        let bearer = format!("Bearer {}", token("42", SECRET, 3600));
        let reply = client.get("/_auth", Some(&bearer));
        assert_eq!(reply.status, 200, "{mode}");
        assert_eq!(reply.header("x-user-id"), Some("42"), "{mode}");
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("content-length"), Some("0"));

        // HEAD behaves like GET without a body.
        let reply = client.request("HEAD", "/_auth", &[("Authorization", &bearer)]);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-user-id"), Some("42"));
    }
}

#[test]
fn missing_bad_or_expired_tokens_get_401_with_an_empty_body() {
    for mode in MODES {
        let server = Running::start(&config(mode));
        let mut client = Client::connect(server.addr());
        let expired = format!("Bearer {}", token("42", SECRET, -10));
        let other_secret = format!("Bearer {}", token("42", "not-the-secret", 3600));
        let lowercase = format!("bearer {}", token("42", SECRET, 3600));
        let cases: [(&str, Option<&str>); 5] = [
            ("no header", None),
            ("HttpArena's bogus token", Some("Bearer invalid.token.here")),
            ("expired", Some(&expired)),
            ("signed with another secret", Some(&other_secret)),
            ("lowercase scheme", Some(&lowercase)),
        ];
        for (case, authorization) in cases {
            let reply = client.get("/_auth", authorization);
            assert_eq!(reply.status, 401, "{mode}: {case}");
            assert!(reply.body.is_empty(), "{mode}: {case}");
            assert_eq!(reply.header("x-user-id"), None, "{mode}: {case}");
        }
        // Rejections do not close the keep-alive connection.
        assert_eq!(client.get("/_health", None).status, 200);
        assert_eq!(server.server().connections_accepted(), 1);
    }
}

#[test]
fn two_authorization_headers_get_401() {
    let server = Running::start(&config(authsvc::RuntimeLayout::PerCore));
    let mut client = Client::connect(server.addr());
    let bearer = format!("Bearer {}", token("42", SECRET, 3600));
    let reply = client.request(
        "GET",
        "/_auth",
        &[("Authorization", &bearer), ("Authorization", &bearer)],
    );
    assert_eq!(reply.status, 401);
}

#[test]
fn routes_health_404_and_405() {
    for mode in MODES {
        let server = Running::start(&config(mode));
        let mut client = Client::connect(server.addr());
        assert_eq!(client.get("/_health", None).status, 200, "{mode}");
        assert_eq!(client.get("/", None).status, 404, "{mode}");
        assert_eq!(client.get("/api/items/1", None).status, 404, "{mode}");

        let bearer = format!("Bearer {}", token("42", SECRET, 3600));
        let post = client.request(
            "POST",
            "/_auth",
            &[("Authorization", &bearer), ("Content-Length", "0")],
        );
        assert_eq!(post.status, 405, "{mode}");
        assert_eq!(post.header("allow"), Some("GET, HEAD"));
        assert_eq!(
            post.header("x-user-id"),
            None,
            "a 405 must not authenticate"
        );
        assert_eq!(
            client
                .request("PUT", "/_health", &[("Content-Length", "0")])
                .status,
            405
        );
    }
}

#[test]
fn query_string_does_not_change_the_route() {
    let server = Running::start(&config(authsvc::RuntimeLayout::PerCore));
    let mut client = Client::connect(server.addr());
    let bearer = format!("Bearer {}", token("7", SECRET, 3600));
    let reply = client.get("/_auth?from=nginx", Some(&bearer));
    assert_eq!((reply.status, reply.header("x-user-id")), (200, Some("7")));
}

#[test]
fn one_connection_serves_a_thousand_requests() {
    for mode in MODES {
        let server = Running::start(&config(mode));
        let mut client = Client::connect(server.addr());
        for i in 0..1000 {
            // Alternate subjects so every answer has to come from its own verification.
            let sub = format!("user-{}", i % 7);
            let bearer = format!("Bearer {}", token(&sub, SECRET, 3600));
            let reply = client.get("/_auth", Some(&bearer));
            assert_eq!(reply.status, 200, "{mode}: request {i}");
            assert_eq!(
                reply.header("x-user-id"),
                Some(sub.as_str()),
                "{mode}: request {i}"
            );
            assert_ne!(reply.header("connection"), Some("close"));
        }
        assert_eq!(
            server.server().connections_accepted(),
            1,
            "{mode}: all 1000 requests must have used the same socket"
        );
    }
}

#[test]
fn malformed_request_line_gets_400_and_the_server_survives() {
    for mode in MODES {
        let server = Running::start(&config(mode));
        for garbage in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET /_auth HTTP/9.9\r\n\r\n",
            b"GET /_auth\x00 HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\r\n\r\n",
        ] {
            let mut client = Client::connect(server.addr());
            client.send_raw(garbage);
            let reply = client.read_reply(false);
            assert!(
                reply.status == 400 || reply.status == 505,
                "{mode}: {garbage:?} got {}",
                reply.status
            );
            assert!(
                client.is_closed_by_server(),
                "{mode}: {garbage:?} left open"
            );
        }
        let mut client = Client::connect(server.addr());
        assert_eq!(
            client.get("/_health", None).status,
            200,
            "{mode}: server still up"
        );
    }
}

#[test]
fn oversize_request_head_is_refused_and_the_server_survives() {
    let server = Running::start(&config(authsvc::RuntimeLayout::PerCore));
    let mut client = Client::connect(server.addr());
    let huge = "x".repeat(authsvc::server::MAX_REQUEST_HEAD);
    client.send_raw(format!("GET /_auth HTTP/1.1\r\nX-Big: {huge}\r\n\r\n").as_bytes());
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 431);
    assert!(client.is_closed_by_server());

    // Just under the limit is still served, with a large but legal token header.
    let mut client = Client::connect(server.addr());
    let filler = "y".repeat(authsvc::server::MAX_REQUEST_HEAD - 10 * 1024);
    let bearer = format!("Bearer {}", support::token("42", support::SECRET, 3600));
    let reply = client.request(
        "GET",
        "/_auth",
        &[("Cookie", &filler), ("Authorization", &bearer)],
    );
    assert_eq!((reply.status, reply.header("x-user-id")), (200, Some("42")));
    assert_eq!(
        Client::connect(server.addr()).get("/_health", None).status,
        200
    );
}

#[test]
fn oversize_token_within_the_head_limit_gets_401() {
    let server = Running::start(&config(authsvc::RuntimeLayout::PerCore));
    let mut client = Client::connect(server.addr());
    let bearer = format!("Bearer {}", "a".repeat(jwt::MAX_TOKEN_LEN + 1));
    assert_eq!(client.get("/_auth", Some(&bearer)).status, 401);
}

#[test]
fn shutdown_closes_idle_keep_alive_connections_promptly() {
    for mode in MODES {
        let server = Running::start(&config(mode));
        let mut idle = Client::connect(server.addr());
        assert_eq!(idle.get("/_health", None).status, 200);

        let started = Instant::now();
        let report = server.shutdown();
        // An idle connection is not in-flight work: nothing may be left to cut, and shutdown
        // must not have waited for the grace period (2 s) to run out.
        assert_eq!(report.connections_cut, 0, "{mode}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{mode}: shutdown waited on an idle connection"
        );
        assert!(idle.is_closed_by_server(), "{mode}");
    }
}

#[test]
fn shutdown_is_bounded_by_the_grace_period_when_a_client_stalls() {
    for mode in MODES {
        let mut config = config(mode);
        config.shutdown_grace = Duration::from_millis(300);
        let server = Running::start(&config);
        let addr = server.addr();
        let mut stalled = Client::connect(addr);
        // Half a request head, never finished.
        stalled.send_raw(b"GET /_auth HTTP/1.1\r\nHost: a\r\n");
        std::thread::sleep(Duration::from_millis(100));

        let started = Instant::now();
        server.shutdown();
        // Generous bound: this guards against a hang, it is not a timing measurement.
        assert!(started.elapsed() < Duration::from_secs(10), "{mode}");
        assert!(stalled.is_closed_by_server(), "{mode}");
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{mode}: still accepting"
        );
    }
}

#[test]
fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    for mode in MODES {
        let mut config = config(mode);
        config.header_timeout = Some(Duration::from_millis(500));
        let server = Running::start(&config);
        let mut stalled = Client::connect(server.addr());
        stalled.send_raw(b"GET /_auth HTTP/1.1\r\nHost: a\r\n");
        // The client's read timeout (10 s) turns a missing disconnect into a failure.
        assert!(stalled.is_closed_by_server(), "{mode}");

        // An idle keep-alive connection is bounded by the same timeout.
        let mut idle = Client::connect(server.addr());
        assert_eq!(idle.get("/_health", None).status, 200);
        assert!(idle.is_closed_by_server(), "{mode}");
        assert_eq!(
            Client::connect(server.addr()).get("/_health", None).status,
            200
        );
    }
}

#[test]
fn concurrent_connections_are_all_served() {
    for mode in MODES {
        let server = Running::start(&config(mode));
        let addr = server.addr();
        let bearer = format!("Bearer {}", token("42", SECRET, 3600));
        // Enough connections that the kernel spreads them over both listeners of the
        // per-core group; every one must be answered whichever worker accepted it.
        let clients: Vec<_> = (0..32)
            .map(|_| {
                let bearer = bearer.clone();
                std::thread::spawn(move || {
                    let mut client = Client::connect(addr);
                    (0..20)
                        .map(|_| client.get("/_auth", Some(&bearer)).status)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for client in clients {
            assert!(
                client.join().unwrap().iter().all(|status| *status == 200),
                "{mode}"
            );
        }
        assert_eq!(server.server().connections_accepted(), 32, "{mode}");
    }
}

#[test]
fn dropping_the_server_stops_it() {
    let server = authsvc::Server::start(&config(authsvc::RuntimeLayout::PerCore)).unwrap();
    let addr = server.local_addr();
    assert_eq!(Client::connect(addr).get("/_health", None).status, 200);
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after drop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_server_cannot_silently_share_the_port() {
    let first = Running::start(&config(authsvc::RuntimeLayout::PerCore));
    let mut second = config(authsvc::RuntimeLayout::PerCore);
    second.listen = first.addr();
    match authsvc::Server::start(&second) {
        Err(authsvc::ServeError::Bind { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(server) => {
            server.shutdown();
            panic!(
                "a second server bound {} while the first was listening",
                first.addr()
            );
        }
    }
}
