//! `/static/*` over the wire: content negotiation on HTTP/2, conditional requests, HEAD, and
//! path traversal attempts sent as raw HTTP/1.1 request lines; and the TLS handshake that
//! precedes them all (certificate, protocol versions, ALPN). No app server is needed: the edge
//! answers these from memory.

mod support;

use rustls::pki_types::ServerName;
use support::{
    h1_raw, h1_raw_over, negotiated_alpn, tls_connector_with, Behind, H2Client, TestEdge,
    SECRET_CONTENT, TIMEOUT,
};
use tokio::net::TcpStream;

/// Which file on disk an `Accept-Encoding` must be answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Identity,
    Gzip,
    Brotli,
}

impl Expect {
    fn disk_name(self, name: &str) -> String {
        match self {
            Expect::Identity => name.to_string(),
            Expect::Gzip => format!("{name}.gz"),
            Expect::Brotli => format!("{name}.br"),
        }
    }

    fn content_encoding(self) -> Option<&'static str> {
        match self {
            Expect::Identity => None,
            Expect::Gzip => Some("gzip"),
            Expect::Brotli => Some("br"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_matrix_over_h2_serves_the_files_on_disk() {
    let edge = TestEdge::start(Behind::Nothing);
    let mut client = edge.h2().await;

    // (file, Accept-Encoding, what must come back)
    let cases: &[(&str, Option<&str>, Expect)] = &[
        ("reset.css", Some("br"), Expect::Brotli),
        ("reset.css", Some("gzip"), Expect::Gzip),
        ("reset.css", Some("br;q=1, gzip;q=0.8"), Expect::Brotli), // h2load's header
        ("reset.css", Some("br;q=0.5, gzip;q=0.8"), Expect::Gzip),
        ("reset.css", Some("gzip;q=0.2, br;q=0.9"), Expect::Brotli),
        ("reset.css", Some("identity"), Expect::Identity),
        ("reset.css", Some("*"), Expect::Brotli),
        ("reset.css", Some("br;q=0"), Expect::Identity),
        ("reset.css", None, Expect::Identity),
        ("app.js", Some("br;q=1, gzip;q=0.8"), Expect::Brotli),
        ("app.js", Some("gzip"), Expect::Gzip),
        ("app.js", None, Expect::Identity),
        // An image has no compressed siblings: whatever the client accepts, the bytes as is.
        ("hero.webp", Some("br;q=1, gzip;q=0.8"), Expect::Identity),
        ("hero.webp", Some("*"), Expect::Identity),
    ];
    let content_types = [
        ("reset.css", "text/css"),
        ("app.js", "application/javascript"),
        ("hero.webp", "image/webp"),
    ];
    for &(name, accept, expect) in cases {
        let what = format!("GET /static/{name} with Accept-Encoding {accept:?}");
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("accept-encoding", a)).into_iter().collect();
        let reply = client.get(&format!("/static/{name}"), &headers).await;
        assert_eq!(reply.status, 200, "{what}");
        let on_disk = edge.files.read(&expect.disk_name(name));
        assert!(
            reply.body == on_disk,
            "{what}: body is {} bytes, expected the {} bytes of {}",
            reply.body.len(),
            on_disk.len(),
            expect.disk_name(name)
        );
        assert_eq!(
            reply.header("content-encoding"),
            expect.content_encoding(),
            "{what}"
        );
        let content_type = content_types.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(reply.header("content-type"), Some(content_type), "{what}");
        assert_eq!(reply.header("vary"), Some("Accept-Encoding"), "{what}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"), "{what}");
        assert!(reply.header("etag").is_some(), "{what}: no ETag");
        if let Some(length) = reply.header("content-length") {
            assert_eq!(length, on_disk.len().to_string(), "{what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_none_match_with_the_etag_answers_304_without_a_body() {
    let edge = TestEdge::start(Behind::Nothing);
    let mut client = edge.h2().await;

    let mut etags = Vec::new();
    for accept in ["br", "gzip", "identity"] {
        let first = client
            .get("/static/reset.css", &[("accept-encoding", accept)])
            .await;
        assert_eq!(first.status, 200);
        let etag = first.header("etag").unwrap().to_string();

        let again = client
            .get(
                "/static/reset.css",
                &[("accept-encoding", accept), ("if-none-match", &etag)],
            )
            .await;
        assert_eq!(again.status, 304, "{accept}: {}", again.text());
        assert!(again.body.is_empty(), "{accept}: a 304 carries no body");
        assert_eq!(again.header("etag"), Some(etag.as_str()), "{accept}");
        assert_eq!(again.header("vary"), Some("Accept-Encoding"), "{accept}");
        etags.push(etag);
    }
    // Every representation has its own validator…
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), 3, "one ETag per representation: {etags:?}");
    // …so the brotli ETag does not validate the gzip bytes, which come back whole.
    let br_etag = client
        .get("/static/reset.css", &[("accept-encoding", "br")])
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let gzip = client
        .get(
            "/static/reset.css",
            &[("accept-encoding", "gzip"), ("if-none-match", &br_etag)],
        )
        .await;
    assert_eq!(gzip.status, 200);
    assert_eq!(gzip.body, edge.files.read("reset.css.gz"));
    // A stale tag is not a match either.
    let stale = client
        .get(
            "/static/reset.css",
            &[("if-none-match", "\"0000000000000000\"")],
        )
        .await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, edge.files.read("reset.css"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_other_methods_on_static_files() {
    let edge = TestEdge::start(Behind::Nothing);
    let mut client = edge.h2().await;

    let head = client
        .send(
            "HEAD",
            "/static/app.js",
            &[("accept-encoding", "gzip")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD has no body");
    assert_eq!(
        head.header("content-length"),
        Some(edge.files.read("app.js.gz").len().to_string().as_str())
    );
    assert_eq!(head.header("content-encoding"), Some("gzip"));

    let post = client
        .send("POST", "/static/app.js", &[], Some(b"x"))
        .await
        .unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(post.header("content-type"), Some("application/json"));

    let missing = client.get("/static/nope.css", &[]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json(), serde_json::json!({"error": "not found"}));
    // Compressed siblings are representations, not names of their own.
    let sibling = client.get("/static/reset.css.gz", &[]).await;
    assert_eq!(sibling.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_attempts_are_404_however_they_are_spelled() {
    let edge = TestEdge::start(Behind::Nothing);
    // The same file is reachable by name, so a 404 below is about the spelling, not the file.
    let plain = h1_raw(
        edge.addr,
        b"GET /static/reset.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(plain.status, 200, "{}", plain.head);
    assert_eq!(plain.body, edge.files.read("reset.css"));

    let targets = [
        "/static/../x",
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2F..",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/.%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/./reset.css",
        "/static//reset.css",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/%2F..%2Fsecret.txt",
        "/static/reset.css%00",
        "/static/reset.css%00.png",
        "/static/%00",
        "/static/..%5csecret.txt",
        "/static/..\\secret.txt", // a raw backslash: hyper passes it through to the router
        "/static/\\etc\\passwd",
        "/static/%5c..%5csecret.txt",
        "/static/..%c0%afsecret.txt",
        "/static/%",
        "/static/%zz",
        "/static/",
    ];
    for target in targets {
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let reply = h1_raw(edge.addr, request.as_bytes()).await;
        assert_eq!(reply.status, 404, "GET {target}: {}", reply.head);
        assert_not_leaked(&edge, target, &reply.body);
    }
}

fn assert_not_leaked(edge: &TestEdge, target: &str, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    assert!(
        !text.contains(SECRET_CONTENT),
        "GET {target} leaked the secret"
    );
    assert!(!text.contains("root:"), "GET {target} leaked /etc/passwd");
    assert_ne!(
        body,
        edge.files.read("reset.css"),
        "GET {target} served a file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_over_http1() {
    let edge = TestEdge::start(Behind::Nothing);
    let reply = support::h1_request(
        edge.addr,
        "GET",
        "/static/reset.css",
        &[("accept-encoding", "br;q=1, gzip;q=0.8")],
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, edge.files.read("reset.css.br"));
    assert_eq!(reply.header("content-encoding"), Some("br"));
    assert_eq!(reply.header("content-type"), Some("text/css"));
    assert_eq!(reply.header("vary"), Some("Accept-Encoding"));

    let largest = support::largest_static();
    let reply = support::h1_request(
        edge.addr,
        "GET",
        &format!("/static/{}", largest.name),
        &[],
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), largest.size);
    assert_eq!(reply.body, edge.files.read(largest.name));
}

/// Protocol names a client offers in ALPN, in its order of preference.
type AlpnList = &'static [&'static [u8]];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_presents_its_certificate_speaks_1_2_and_1_3_and_picks_the_protocol_by_alpn() {
    let edge = TestEdge::start(Behind::Nothing);
    let pinned = edge.cert_der();
    let handshake = |alpn: AlpnList,
                     pin: rustls::pki_types::CertificateDer<'static>,
                     version: &'static rustls::SupportedProtocolVersion| {
        let connector = tls_connector_with(alpn, Some(pin), &[version]);
        let addr = edge.addr;
        async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
                .await
                .expect("the handshake ended within the timeout")
        }
    };
    let request = b"GET /static/reset.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let cases: [(AlpnList, Option<&[u8]>); 4] = [
        (&[b"h2", b"http/1.1"], Some(b"h2")),
        (&[b"http/1.1", b"h2"], Some(b"h2")), // the edge prefers h2
        (&[b"http/1.1"], Some(b"http/1.1")),
        (&[], None), // no ALPN at all: HTTP/1.1
    ];
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        for (offered, expected) in cases {
            let what = format!("{:?}, ALPN offered {offered:?}", version.version);
            let tls = handshake(offered, pinned.clone(), version)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(negotiated_alpn(&tls).as_deref(), expected, "{what}");
            assert_eq!(
                tls.get_ref().1.protocol_version(),
                Some(version.version),
                "{what}"
            );
            if expected == Some(b"h2".as_slice()) {
                let builder = h2::client::Builder::new();
                let mut client = H2Client::over(tls, edge.addr.port(), builder)
                    .await
                    .unwrap();
                let reply = client.get("/static/reset.css", &[]).await;
                assert_eq!(reply.status, 200, "{what}");
                assert_eq!(reply.body, edge.files.read("reset.css"), "{what}");
            } else {
                let reply = h1_raw_over(tls, request).await;
                assert_eq!(reply.status, 200, "{what}: {}", reply.head);
                assert_eq!(reply.body, edge.files.read("reset.css"), "{what}");
            }
        }
    }

    // Only protocols the edge does not speak: refused (RFC 7301 no_application_protocol).
    let refused = handshake(&[b"h3", b"spdy/3"], pinned.clone(), &rustls::version::TLS13).await;
    assert!(
        refused.is_err(),
        "a handshake without a common ALPN protocol succeeded"
    );

    // A client that expects another certificate does not get through: the edge presents the
    // configured one.
    let other = tempfile::tempdir().unwrap();
    let openssl = stack::process::find_on_path("openssl").unwrap();
    datagen::certs::generate(other.path(), &openssl).unwrap();
    let other_der = {
        use rustls::pki_types::pem::PemObject;
        let path = other.path().join(datagen::certs::CERT_FILE);
        rustls::pki_types::CertificateDer::from_pem_file(path).unwrap()
    };
    assert_ne!(other_der, pinned);
    let mismatch = handshake(&[b"h2"], other_der, &rustls::version::TLS13).await;
    assert!(
        mismatch.is_err(),
        "the pinned-certificate check let another certificate through"
    );
}
