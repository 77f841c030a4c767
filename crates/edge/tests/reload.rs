//! SIGHUP to the `edge` binary reloads its certificate, the way `nginx -s reload` does: new
//! handshakes get the new pair, a connection opened before keeps serving, requests made while
//! it reloads all succeed, and a pair that does not load changes nothing and kills nothing.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use support::{tls_connect, Files, H2Client, TIMEOUT};
use testkit::eventually;

/// The `edge` binary on free loopback ports, killed when dropped.
struct EdgeProcess {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    log: std::path::PathBuf,
}

impl EdgeProcess {
    fn start(files: &Files) -> Self {
        let port = || stack::ports::free_port().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", port()).parse().unwrap();
        let log = files.root.join("edge.log");
        let child = Command::new(env!("CARGO_BIN_EXE_edge"))
            .env("EDGE_LISTEN", addr.to_string())
            .env("EDGE_ADMIN_LISTEN", admin.to_string())
            .env("EDGE_UPSTREAM", format!("127.0.0.1:{}", port()))
            .env("EDGE_WORKERS", "1")
            .env("TLS_CERT", &files.cert)
            .env("TLS_KEY", &files.key)
            .env("STATIC_DIR", &files.static_dir)
            .env("JWT_SECRET", "reload-test-secret")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            addr,
            admin,
            log,
        }
    }

    fn signal(&self, signal: i32) {
        assert!(stack::process::send_signal(self.child.id(), signal));
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `edge_certificate_reloads` from the admin listener.
    fn reloads(&self) -> u64 {
        let page = http_get(self.admin, "/metrics");
        page.lines()
            .find_map(|l| l.strip_prefix("edge_certificate_reloads_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no edge_certificate_reloads_total in:\n{page}"))
    }
}

/// A plain HTTP/1.1 GET, the whole answer as text.
fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    conn.read_to_string(&mut page).unwrap();
    page
}

/// How many reloads the edge logged as failed.
fn failed_reloads(edge: &EdgeProcess) -> usize {
    edge.log().matches("did not reload").count()
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The leaf certificate a new TLS connection to `addr` is shown.
async fn served_leaf(addr: SocketAddr) -> Option<CertificateDer<'static>> {
    let tls = tls_connect(addr, &[b"h2"]).await.ok()?;
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.clone().into_owned())
}

fn leaf_of(files: &Files) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(&files.cert).unwrap()
}

/// A new pair in place of `files`' (renamed over, as a certificate renewal does).
fn replace_pair(files: &Files, with: &Files) {
    for (from, to) in [(&with.cert, &files.cert), (&with.key, &files.key)] {
        let temp = to.with_extension("new");
        std::fs::copy(from, &temp).unwrap();
        std::fs::rename(&temp, to).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_a_request() {
    let files = Files::create();
    let mut edge = EdgeProcess::start(&files);
    let original = leaf_of(&files);
    let original_pem = std::fs::read(&files.cert).unwrap();
    let addr = edge.addr;
    assert!(
        eventually(TIMEOUT, || async move { served_leaf(addr).await.is_some() }).await,
        "the edge never accepted a TLS connection; its log:\n{}",
        edge.log()
    );
    assert_eq!(served_leaf(edge.addr).await.as_ref(), Some(&original));
    assert_eq!(edge.reloads(), 0);
    let mut before = H2Client::connect(edge.addr).await;

    // Visitors on new connections, one after another, while the edge reloads three times.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let visitors = tokio::spawn(async move {
        let (mut ok, mut failed) = (0u32, Vec::new());
        while !*stopped.borrow() {
            match H2Client::try_connect(addr).await {
                Ok(mut client) => match client.send("GET", "/static/reset.css", &[], None).await {
                    Ok(reply) if reply.status == 200 => ok += 1,
                    Ok(reply) => failed.push(format!("status {}", reply.status)),
                    Err(err) => failed.push(err.to_string()),
                },
                Err(err) => failed.push(err.to_string()),
            }
        }
        (ok, failed)
    });
    let renewed = Files::create();
    replace_pair(&files, &renewed);
    let new_leaf = leaf_of(&renewed);
    assert_ne!(new_leaf, original);
    for _ in 0..3 {
        edge.signal(libc::SIGHUP);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        eventually(TIMEOUT, || {
            let want = &new_leaf;
            async move { served_leaf(addr).await.as_ref() == Some(want) }
        })
        .await,
        "new connections never got the renewed certificate; log:\n{}",
        edge.log()
    );
    let _ = stop.send(true);
    let (ok, failed) = visitors.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} visits failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok > 0, "no visit was made during the reloads");
    assert!(edge.reloads() >= 1, "the reload was not counted");
    assert!(
        edge.log().contains("SIGHUP: certificate reloaded"),
        "{}",
        edge.log()
    );

    // The connection opened before the reloads still serves.
    let reply = before
        .send("GET", "/static/reset.css", &[], None)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);

    // A key that does not load, then a certificate with another one's key: each is logged,
    // changes nothing and kills nothing.
    let reloads = edge.reloads();
    std::fs::write(
        &files.key,
        "-----BEGIN PRIVATE KEY-----\nYnJva2Vu\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    edge.signal(libc::SIGHUP);
    assert!(
        eventually(TIMEOUT, || {
            let edge = &edge;
            async move { failed_reloads(edge) == 1 }
        })
        .await,
        "the failed reload was not logged:\n{}",
        edge.log()
    );
    std::fs::write(&files.cert, &original_pem).unwrap();
    std::fs::copy(&renewed.key, &files.key).unwrap();
    edge.signal(libc::SIGHUP);
    assert!(
        eventually(TIMEOUT, || {
            let edge = &edge;
            async move { failed_reloads(edge) == 2 }
        })
        .await,
        "a certificate with the wrong key was not refused:\n{}",
        edge.log()
    );
    assert!(
        edge.alive(),
        "a bad reload killed the edge:\n{}",
        edge.log()
    );
    assert_eq!(served_leaf(addr).await.as_ref(), Some(&new_leaf));
    assert_eq!(edge.reloads(), reloads);
}
