//! Shared harness for the edge's integration tests: a real edge on a free loopback port with a
//! fresh self-signed certificate and static files made by `datagen`, optionally in front of a
//! real app server (`server::spawn`) over a real, seeded Postgres (`stack::testing`).
//!
//! Clients speak real TLS: [`H2Client`] is the `h2` crate over tokio-rustls (ALPN `h2`),
//! [`h1_request`] is hyper's HTTP/1.1 client over TLS (ALPN `http/1.1`), and [`h1_raw`] writes
//! request bytes verbatim so that no client library can normalise a hostile request line.
//!
//! Drop order is teardown order: the edge stops first, then the app server, then Postgres,
//! then the temporary folders go.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use datagen::dataset::DatasetItem;
use datagen::seed::{ItemRow, UserRow};
use datagen::static_files::{StaticFile, FILES};
use edge::{Backend, Config, RunningEdge};
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::{CertificateDer, ServerName};
use server::RunningServer;
use stack::testing::TestPostgres;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Upper bound on any single client operation: a broken edge fails a test instead of hanging
/// it. Never a performance assertion.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The static files the tests serve: a small CSS file, the two large scripts (one of them the
/// largest file HttpArena has), and an image without compressed siblings.
pub const STATIC_NAMES: [&str; 4] = ["reset.css", "app.js", "vendor.js", "hero.webp"];

/// A file outside the static folder that traversal attempts aim at.
pub const SECRET_NAME: &str = "secret.txt";
pub const SECRET_CONTENT: &str = "TOP-SECRET: outside the static folder";

// ---------------------------------------------------------------------------------------------
// Files: certificate, key, static folder.

/// A temporary folder with `certs/server.{crt,key}`, `static/` and a secret beside `static/`.
pub struct Files {
    pub static_dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub root: PathBuf,
    _dir: TempDir,
}

impl Files {
    pub fn create() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let certs = root.join("certs");
        let openssl = stack::process::find_on_path("openssl")
            .expect("the openssl program is needed to make the test certificate");
        datagen::certs::generate(&certs, &openssl).unwrap();
        let static_dir = root.join("static");
        std::fs::create_dir(&static_dir).unwrap();
        for name in STATIC_NAMES {
            let file = static_file(name);
            let content = datagen::static_files::content(&file);
            if file.kind.is_text() {
                for sibling in datagen::static_files::SIBLINGS {
                    let compressed = sibling.compress(&content).unwrap();
                    let path = static_dir.join(format!("{name}.{}", sibling.extension()));
                    std::fs::write(path, compressed).unwrap();
                }
            }
            std::fs::write(static_dir.join(name), content).unwrap();
        }
        std::fs::write(root.join(SECRET_NAME), SECRET_CONTENT).unwrap();
        Self {
            static_dir,
            cert: certs.join(datagen::certs::CERT_FILE),
            key: certs.join(datagen::certs::KEY_FILE),
            root,
            _dir: dir,
        }
    }

    /// A file of the static folder as it is on disk (`reset.css`, `reset.css.br`, …).
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.static_dir.join(name))
            .unwrap_or_else(|e| panic!("reading {name} from the static folder: {e}"))
    }
}

pub fn static_file(name: &str) -> StaticFile {
    *FILES
        .iter()
        .find(|file| file.name == name)
        .unwrap_or_else(|| panic!("{name} is not one of datagen's static files"))
}

/// The largest of the served files (HttpArena's `vendor.js`).
pub fn largest_static() -> StaticFile {
    STATIC_NAMES
        .iter()
        .map(|name| static_file(name))
        .max_by_key(|file| file.size)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The app server over a seeded Postgres.

/// A real app server (`server::spawn`, in-process) over a freshly seeded Postgres.
pub struct App {
    pub server: RunningServer,
    pub pg: TestPostgres,
    pub dataset: Vec<DatasetItem>,
    _dir: TempDir,
}

impl App {
    pub fn start() -> Self {
        rt::telemetry::init();
        let testkit::SeededPostgres {
            pg,
            dataset,
            dataset_path,
            dir,
        } = testkit::SeededPostgres::start();
        let mut settings = server::Settings::new(pg.url());
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.admin_listen = "127.0.0.1:0".parse().unwrap();
        settings.dataset_path = dataset_path;
        settings.workers = 1;
        let server = server::spawn(settings).unwrap();
        Self {
            server,
            pg,
            dataset,
            _dir: dir,
        }
    }

    /// The seeded row of item `id`.
    pub fn item_row(&self, id: i32) -> ItemRow {
        testkit::item_row(&self.dataset, id)
    }

    /// `name|price|quantity` of item `id` as Postgres holds it now.
    pub fn item_in_db(&self, id: i32) -> String {
        self.pg
            .psql(&format!(
                "SELECT name, price, quantity FROM items WHERE id = {id}"
            ))
            .unwrap()
    }
}

/// The exact item body the contract specifies, built from the seed row.
pub fn item_json(row: &ItemRow) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "name": row.name,
        "category": row.category,
        "price": row.price,
        "quantity": row.quantity,
        "active": row.active,
        "rating": {"score": row.rating_score, "count": row.rating_count},
    })
}

pub fn user(id: i32) -> UserRow {
    datagen::seed::users()
        .into_iter()
        .find(|user| user.id == id)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The edge.

/// What sits behind `/public/*` and `/api/*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    /// Nothing: `config.upstream` is a free port nobody listens on (static-only tests).
    Nothing,
    /// The app server's router, in-process (`Backend::Fused`).
    Fused,
    /// The app server over pooled HTTP/1.1 (`Backend::Proxy`).
    Proxy,
}

/// A running edge with its files and (optionally) its app server.
pub struct TestEdge {
    // Field order is drop order: edge, then app server and Postgres, then files.
    edge: Option<RunningEdge>,
    pub app: Option<App>,
    pub files: Files,
    pub addr: SocketAddr,
}

impl TestEdge {
    pub fn start(behind: Behind) -> Self {
        Self::start_with(behind, |_| {})
    }

    /// Starts an edge with one worker on a free port; `configure` may change the config last.
    pub fn start_with(behind: Behind, configure: impl FnOnce(&mut Config)) -> Self {
        rt::telemetry::init();
        let files = Files::create();
        let app = (behind != Behind::Nothing).then(App::start);
        let mut config = Config::new(&files.static_dir, files.cert.clone(), files.key.clone());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.admin_listen = None;
        config.workers = 1;
        config.upstream = match &app {
            Some(app) => app.server.addr().to_string(),
            None => format!("127.0.0.1:{}", stack::ports::free_port().unwrap()),
        };
        configure(&mut config);
        let backend = match (&app, behind) {
            (Some(app), Behind::Fused) => {
                Backend::Fused(server::routes::router(app.server.app().clone()))
            }
            _ => Backend::Proxy,
        };
        let edge = edge::start(&config, backend).unwrap();
        let addr = edge.addr();
        Self {
            edge: Some(edge),
            app,
            files,
            addr,
        }
    }

    pub fn app(&self) -> &App {
        self.app
            .as_ref()
            .expect("this edge was started without an app server")
    }

    pub fn running(&self) -> &RunningEdge {
        self.edge.as_ref().expect("the edge was already taken")
    }

    /// Hands the running edge over (to call `shutdown` on it).
    pub fn take_running(&mut self) -> RunningEdge {
        self.edge.take().expect("the edge was already taken")
    }

    /// The certificate the edge serves, DER, for pinning in clients.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_file(&self.files.cert).unwrap()
    }

    pub async fn h2(&self) -> H2Client {
        H2Client::connect(self.addr).await
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens.

pub fn now() -> u64 {
    datagen::token::now_unix_secs()
}

/// The benchmark token (user 42), signed with the edge's default secret.
pub fn token() -> String {
    datagen::token::mint(contract::BENCH_SECRET.as_bytes(), now())
}

/// A token for `sub` with these claims, signed with `secret`.
pub fn token_for(sub: &str, exp: u64, secret: &[u8]) -> String {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), sub.into());
    claims.insert("exp".into(), exp.into());
    jwt::sign(&claims, secret)
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

// ---------------------------------------------------------------------------------------------
// TLS.

/// A TLS client offering `alpn` and the protocol `versions`; `pinned` is the certificate to
/// expect (`None`: any).
pub fn tls_connector_with(
    alpn: &[&[u8]],
    pinned: Option<CertificateDer<'static>>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    hostile::tls::connector_with(alpn, pinned, versions, edge::tls::provider()).unwrap()
}

/// A TLS 1.2/1.3 client offering `alpn` that accepts any certificate.
pub fn tls_connector(alpn: &[&[u8]]) -> TlsConnector {
    tls_connector_with(alpn, None, rustls::DEFAULT_VERSIONS)
}

/// A TLS connection to `addr` offering `alpn`.
pub async fn tls_connect(
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(TIMEOUT, tls_connector(alpn).connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
}

pub fn negotiated_alpn(tls: &TlsStream<TcpStream>) -> Option<Vec<u8>> {
    tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

// ---------------------------------------------------------------------------------------------
// Replies.

/// One response: status, headers, the whole body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The edge's 401: JSON content type and exactly `{"error":"unauthorized"}`.
    pub fn assert_unauthorized(&self, what: &str) {
        assert_eq!(self.status, 401, "{what}: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        assert_eq!(
            self.json(),
            serde_json::json!({"error": "unauthorized"}),
            "{what}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/2: the h2 crate over TLS.

/// An HTTP/2 connection (ALPN `h2`) made with the `h2` crate; its connection task runs on the
/// test's runtime and ends when the client is dropped.
pub struct H2Client {
    pub sender: h2::client::SendRequest<Bytes>,
    port: u16,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for H2Client {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl H2Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::try_connect(addr)
            .await
            .unwrap_or_else(|e| panic!("h2 connection to {addr}: {e}"))
    }

    pub async fn try_connect(addr: SocketAddr) -> Result<Self, BoxError> {
        Self::connect_with(addr, h2::client::Builder::new()).await
    }

    /// Connects with a caller-configured `h2` client (windows, limits).
    pub async fn connect_with(
        addr: SocketAddr,
        builder: h2::client::Builder,
    ) -> Result<Self, BoxError> {
        let tls = tls_connect(addr, &[b"h2"]).await?;
        Self::over(tls, addr.port(), builder).await
    }

    /// An HTTP/2 client over an established TLS connection that negotiated `h2`.
    pub async fn over(
        tls: TlsStream<TcpStream>,
        port: u16,
        builder: h2::client::Builder,
    ) -> Result<Self, BoxError> {
        if negotiated_alpn(&tls).as_deref() != Some(b"h2") {
            return Err("the edge did not negotiate ALPN h2".into());
        }
        let (sender, connection) =
            tokio::time::timeout(TIMEOUT, builder.handshake::<_, Bytes>(tls)).await??;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            port,
            connection,
        })
    }

    /// A request to `path` with `:scheme https` and `:authority localhost:PORT`.
    pub fn request(&self, method: &str, path: &str) -> http::request::Builder {
        http::Request::builder()
            .method(method)
            .uri(format!("https://localhost:{}{path}", self.port))
    }

    /// Sends a request and reads the whole response (releasing flow-control capacity as it
    /// reads, like any well-behaved client).
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply, BoxError> {
        let mut request = self.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(())?;
        let exchange = async {
            let mut sender = self.sender.clone().ready().await?;
            let (response, mut stream) = sender.send_request(request, body.is_none())?;
            if let Some(body) = body {
                stream.send_data(Bytes::copy_from_slice(body), true)?;
            }
            read_h2_response(response).await
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| format!("{method} {path}: no complete answer within {TIMEOUT:?}"))?
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, None)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads a whole h2 response, releasing capacity for every chunk.
pub async fn read_h2_response(response: h2::client::ResponseFuture) -> Result<Reply, BoxError> {
    let response = response.await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body: Bytes::from(bytes),
    })
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over TLS.

/// One HTTP/1.1 request over a fresh TLS connection that negotiated ALPN `http/1.1`.
pub async fn h1_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    let exchange = async {
        let tls = tls_connect(addr, &[b"http/1.1"]).await?;
        if negotiated_alpn(&tls).as_deref() != Some(b"http/1.1") {
            return Err::<Reply, BoxError>("the edge did not negotiate ALPN http/1.1".into());
        }
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within {TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// What came back for a raw HTTP/1.1 request: the status line's code, the head, the body.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Writes `request` verbatim over TLS (ALPN `http/1.1`) and reads until the edge closes.
/// The request should carry `Connection: close`.
pub async fn h1_raw(addr: SocketAddr, request: &[u8]) -> RawReply {
    let tls = tokio::time::timeout(TIMEOUT, tls_connect(addr, &[b"http/1.1"]))
        .await
        .expect("TLS handshake within the timeout")
        .unwrap_or_else(|e| panic!("TLS connection to {addr}: {e}"));
    h1_raw_over(tls, request).await
}

/// [`h1_raw`] over an established TLS connection.
pub async fn h1_raw_over(mut tls: TlsStream<TcpStream>, request: &[u8]) -> RawReply {
    let exchange = async {
        tls.write_all(request).await?;
        tls.flush().await?;
        let mut out = Vec::new();
        match tls.read_to_end(&mut out).await {
            Ok(_) => {}
            // A peer that closes without close_notify still sent a whole response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
            Err(e) => return Err::<Vec<u8>, BoxError>(e.into()),
        }
        Ok(out)
    };
    let text = String::from_utf8_lossy(request).into_owned();
    let bytes = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{text:?}: no answer within {TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{text:?}: no response head in {bytes:?}"));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{text:?}: no status in {head:?}"));
    RawReply {
        status,
        head,
        body: bytes[split + 4..].to_vec(),
    }
}

/// Whether a TCP connection to `addr` is refused now.
pub async fn refuses_connections(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect(addr).await,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}
