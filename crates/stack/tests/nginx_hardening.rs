//! The nginx edge under attack: each test renders the real config (both profiles where it
//! matters), runs the real nginx behind recording upstreams, points one of `hostile`'s clients
//! at it, and checks that a visitor is still answered within a second and that what the
//! attacker can take is bounded. Each attack is one that worked before the hardening (the
//! figures are in docs/RELIABILITY.md).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hostile::probe::{self, ProbeRequest};
use hostile::Target;
use stack::nginx::{EdgeParams, Template};
use stack::ports::free_port;
use stack::{Profile, StackPorts};
use support::*;

/// A visitor must be answered within this while an attack runs.
const VISITOR_DEADLINE: Duration = Duration::from_secs(1);

/// nginx with the rendered `profile` config, one worker, behind recording upstreams.
struct Edge {
    home: EdgeHome,
    nginx: Nginx,
    port: u16,
    auth: Upstream,
    backend: Upstream,
}

impl Edge {
    fn start(profile: Profile) -> Self {
        let home = edge_home();
        // The attacks' target: a static file large enough that nobody reads it in one window.
        let vendor: Vec<u8> = (0..300 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(home.home.static_dir().join("vendor.js"), vendor).unwrap();
        let auth = Upstream::start(auth_probe);
        let backend = Upstream::start(backend_probe);
        let mut params = EdgeParams::local(&home.home, &StackPorts::DEFAULT, profile, 1);
        params.listen_port = free_port().unwrap();
        params.status_port = free_port().unwrap();
        params.server_upstreams = vec![format!("127.0.0.1:{}", backend.port)];
        params.authsvc_upstream = format!("127.0.0.1:{}", auth.port);
        let conf = Template::bundled().render_edge(&params).unwrap();
        let conf_path = write_conf(&home.home, "edge.conf", &conf);
        let port = params.listen_port;
        let nginx = start_nginx(&home.home, &conf_path, port);
        Self {
            home,
            nginx,
            port,
            auth,
            backend,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn target(&self) -> Target {
        Target::localhost(self.addr())
    }

    /// Open descriptors of nginx's master and workers.
    fn descriptors(&self) -> usize {
        let mut pids = stack::process::session_members(self.nginx.0.id());
        pids.push(self.nginx.0.id());
        pids.sort_unstable();
        pids.dedup();
        pids.iter()
            .map(|pid| {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .map(|d| d.count())
                    .unwrap_or(0)
            })
            .sum()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.home.run_dir().join("nginx.log")).unwrap_or_default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A static file and an authenticated API request, each over a new connection, answered 200
/// within the deadline.
async fn visitor_is_served(target: &Target, what: &str) {
    for request in [
        ProbeRequest::get("/static/reset.css"),
        ProbeRequest::get("/api/items/1").header("authorization", "Bearer good"),
    ] {
        let began = Instant::now();
        let answer = probe::once(target, &request).await;
        let took = began.elapsed();
        match answer {
            Ok((200, _)) => {}
            Ok((status, body)) => panic!("{what}: {} answered {status}: {body:?}", request.path),
            Err(err) => panic!("{what}: {} failed after {took:?}: {err}", request.path),
        }
        assert!(
            took < VISITOR_DEADLINE,
            "{what}: {} took {took:?}",
            request.path
        );
    }
}

/// 200 connections × 128 streams that never read a 300 KB file. Before: every stream held a
/// descriptor and 64 KB of buffers (40,010 descriptors, 1.4 GiB, 500s for /static). Now: 32
/// streams per connection, one descriptor per file (open_file_cache), one buffer per stream.
#[test]
fn streams_that_are_never_read_take_bounded_descriptors_and_visitors_are_served() {
    let edge = Edge::start(Profile::Production);
    let rt = runtime();
    let before = edge.descriptors();
    rt.block_on(async {
        let plan = hostile::unread::UnreadPlan::new(200, 128, "/static/vendor.js");
        let attack = hostile::unread::UnreadStreams::open(&edge.target(), &plan).await;
        assert_eq!(
            attack
                .counts
                .connections
                .load(std::sync::atomic::Ordering::Relaxed),
            200,
            "every hostile connection got in"
        );
        let mut peak = 0;
        for _ in 0..5 {
            visitor_is_served(&edge.target(), "during the unread-streams attack").await;
            peak = peak.max(edge.descriptors());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Connections, one descriptor per static file, upstreams, listeners, logs.
        assert!(
            peak < before + 200 + 100,
            "nginx held {peak} descriptors (before: {before}) for 200 connections"
        );
    });
    assert!(
        !edge.log().contains("Too many open files"),
        "{}",
        edge.log()
    );
}

/// HEADERS + RST_STREAM pairs at the rate that went unbounded before (20,000 in 5 s, each
/// starting an auth sub-request): the connection now ends at keepalive_requests.
#[test]
fn rapid_reset_ends_the_connection_at_keepalive_requests() {
    let edge = Edge::start(Profile::Production);
    let rt = runtime();
    rt.block_on(async {
        let headers = vec![("authorization".to_string(), "Bearer good".to_string())];
        let target = edge.target();
        let attack = tokio::spawn(async move {
            hostile::rapid_reset::run(
                &target,
                "/api/items/1",
                &headers,
                20_000,
                4,
                Duration::from_secs(10),
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        visitor_is_served(&edge.target(), "during rapid reset").await;
        let report = attack.await.unwrap().unwrap();
        let (after, how) = report
            .ended_after
            .clone()
            .unwrap_or_else(|| panic!("nginx never ended the connection: {report:?}"));
        assert!(after <= 10_000 + 100, "ended after {after} pairs ({how})");
    });
    let sub_requests = edge.auth.seen().len();
    assert!(
        sub_requests <= 10_000 + 100,
        "{sub_requests} auth sub-requests for one connection"
    );
}

/// Connections that finish the TLS handshake and send nothing, and heads that trickle in a
/// byte a second: all closed by client_header_timeout (10 s), visitors served meanwhile.
#[test]
fn idle_and_slow_header_connections_are_closed_and_visitors_are_served() {
    let edge = Edge::start(Profile::Production);
    let rt = runtime();
    rt.block_on(async {
        let target = edge.target();
        let idle = hostile::idle::IdleConnections::open(&target, 500, &[b"h2"], 64).await;
        let slow =
            hostile::slow_headers::SlowHeaders::open(&target, 200, Duration::from_secs(1)).await;
        visitor_is_served(&target, "with idle and slow connections").await;
        let began = Instant::now();
        while (idle.held() > 0
            || slow
                .counts
                .closed_by_server
                .load(std::sync::atomic::Ordering::Relaxed)
                < 200)
            && began.elapsed() < Duration::from_secs(20)
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(idle.held(), 0, "idle connections still open after 20 s");
        assert_eq!(
            slow.counts
                .closed_by_server
                .load(std::sync::atomic::Ordering::Relaxed),
            200,
            "slow-header connections still open after 20 s"
        );
        visitor_is_served(&target, "after the idle connections").await;
    });
}

/// TLS 1.2 offers AEAD suites with forward secrecy only, in the server's order, in both
/// profiles; testssl.sh finds nothing (it flagged LUCKY13 "potentially VULNERABLE" before).
/// The certificate is RSA, like HttpArena's.
#[test]
fn tls_offers_only_aead_suites_in_server_order_and_testssl_finds_nothing() {
    for profile in [Profile::Production, Profile::Tuned] {
        let edge = Edge::start_rsa(profile);
        let weak = hostile::scan::weak_suites_accepted(edge.addr()).unwrap();
        assert!(weak.is_empty(), "{profile}: accepted {weak:?}");
        // The client prefers AES-256; the server's order puts AES-128-GCM first and wins.
        let picked = hostile::scan::tls12_handshake(
            edge.addr(),
            "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
        )
        .unwrap();
        assert_eq!(
            picked.as_deref(),
            Some("ECDHE-RSA-AES128-GCM-SHA256"),
            "{profile}"
        );
        if profile == Profile::Production {
            let (findings, report) = hostile::scan::testssl_findings(edge.addr()).unwrap();
            assert!(findings.is_empty(), "{findings:#?}\n{report}");
        }
    }
}

/// Every error nginx itself makes is JSON with the right status, over HTTP/2 and HTTP/1.1,
/// and an upstream outage is answered, not logged, per request.
#[test]
fn errors_nginx_makes_are_json_and_an_outage_is_not_logged_per_request() {
    let mut edge = Edge::start(Profile::Production);
    let long_uri = format!("/static/{}", "a".repeat(9000));
    for version in ["--http2", "--http1.1"] {
        for (path, extra, status) in [
            ("/static/missing.css", &[][..], 404),
            ("/static/reset.css", &["-X", "POST", "-d", "x"][..], 405),
            ("/api/items/1", &[][..], 401),
        ] {
            let mut args = vec![version];
            args.extend_from_slice(extra);
            let answer = curl(edge.port, path, &args);
            assert_eq!(answer.status, status, "{version} {path}");
            assert_eq!(
                answer.headers["content-type"], "application/json",
                "{version} {path}"
            );
            let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            assert!(body["error"].is_string(), "{version} {path}: {body}");
        }
    }
    let answer = curl(edge.port, &long_uri, &["--http1.1"]);
    assert_eq!(answer.status, 414);
    assert_eq!(answer.headers["content-type"], "application/json");
    let raw = raw_http(edge.port, b"GARBAGE\r\n\r\n");
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.contains("application/json"), "{raw}");
    assert!(raw.contains(r#"{"error":"bad request"}"#), "{raw}");

    // The server down: 200 requests, 200 JSON 502s, and (nearly) nothing in the error log.
    edge.backend.stop();
    let lines_before = edge.log().lines().count();
    for _ in 0..200 {
        let answer = curl(edge.port, "/public/baseline?a=1&b=2", &[]);
        assert_eq!(answer.status, 502);
        assert_eq!(answer.headers["content-type"], "application/json");
        assert_eq!(answer.headers["retry-after"], "1");
    }
    let added = edge.log().lines().count() - lines_before;
    assert!(added < 10, "200 failed requests wrote {added} log lines");
}

impl Edge {
    /// Like [`Edge::start`], with an RSA-2048 certificate (HttpArena's kind).
    fn start_rsa(profile: Profile) -> Self {
        let edge = Self::start(profile);
        let certs = edge.home.home.certs_dir();
        let status = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(certs.join("server.key"))
            .arg("-out")
            .arg(certs.join("server.crt"))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        // nginx reads certificates at start: reload it (SIGHUP) and wait for the new one.
        stack::process::send_signal(edge.nginx.0.id(), libc::SIGHUP);
        let began = Instant::now();
        while hostile::scan::tls12_handshake(edge.addr(), "ECDHE-RSA-AES128-GCM-SHA256")
            .unwrap()
            .is_none()
        {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "nginx did not reload"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        edge
    }
}

/// Writes `request` on a plain TCP connection wrapped in TLS by openssl, returns the reply.
fn raw_http(port: u16, request: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-alpn", "http/1.1", "-servername", "localhost"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
