//! Shared harness for the server's integration tests: real Postgres and Redis from
//! `stack::testing`, seeded from `datagen`, and the server started in-process on port 0.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use datagen::dataset::DatasetItem;
use datagen::seed::{ItemRow, UserRow};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use server::{RunningServer, Settings};
use stack::testing::{TestPostgres, TestRedis};
use tempfile::TempDir;

/// Postgres (seeded), optionally Redis, and the dataset file, in one temp folder.
pub struct Services {
    pub pg: TestPostgres,
    pub redis: Option<TestRedis>,
    pub dataset: Vec<DatasetItem>,
    pub dataset_path: PathBuf,
    _dir: TempDir,
}

impl Services {
    pub fn start(with_redis: bool) -> Self {
        rt::telemetry::init();
        let testkit::SeededPostgres {
            pg,
            dataset,
            dataset_path,
            dir,
        } = testkit::SeededPostgres::start();
        let redis = with_redis.then(|| TestRedis::start().unwrap());
        Self {
            pg,
            redis,
            dataset,
            dataset_path,
            _dir: dir,
        }
    }

    /// Settings for a server on free ports over these services.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::new(self.pg.url());
        s.listen = "127.0.0.1:0".parse().unwrap();
        s.admin_listen = "127.0.0.1:0".parse().unwrap();
        s.redis_url = self.redis.as_ref().map(|r| r.url());
        s.dataset_path = self.dataset_path.clone();
        s.workers = 2;
        s
    }

    pub fn spawn(&self) -> RunningServer {
        server::spawn(self.settings()).unwrap()
    }

    pub fn item_row(&self, id: i32) -> ItemRow {
        testkit::item_row(&self.dataset, id)
    }

    pub fn redis_url(&self) -> String {
        self.redis.as_ref().unwrap().url()
    }
}

/// The exact item body the contract specifies, built from the seed row.
pub fn item_json(row: &ItemRow) -> String {
    format!(
        "{{\"id\":{},\"name\":{},\"category\":{},\"price\":{},\"quantity\":{},\"active\":{},\"rating\":{{\"score\":{},\"count\":{}}}}}",
        row.id,
        serde_json::to_string(&row.name).unwrap(),
        serde_json::to_string(&row.category).unwrap(),
        row.price,
        row.quantity,
        row.active,
        row.rating_score,
        row.rating_count
    )
}

pub fn user_json(row: &UserRow) -> String {
    format!(
        "{{\"id\":{},\"name\":{},\"email\":{},\"plan\":{}}}",
        row.id,
        serde_json::to_string(&row.name).unwrap(),
        serde_json::to_string(&row.email).unwrap(),
        serde_json::to_string(&row.plan).unwrap()
    )
}

/// One HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn x_cache(&self) -> &str {
        self.header("x-cache").unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// Asserts a JSON error body `{"error": "..."}` whose message contains `needle`.
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        let message = self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            message.contains(needle),
            "error {message:?} does not mention {needle:?}"
        );
    }
}

/// Sends one request on a fresh connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    try_send(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub async fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))?;
    let response =
        tokio::time::timeout(Duration::from_secs(30), sender.send_request(request)).await??;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "GET", path, &[], None).await
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &str) -> Reply {
    send(
        addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    )
    .await
}

/// The admin `/metrics` page as `series -> value`, e.g. `prodstack_cache_misses_total` or
/// `prodstack_db_queries_total{query="item"}`.
pub async fn metrics(server: &RunningServer) -> HashMap<String, f64> {
    let page = get(server.admin_addr(), "/metrics").await;
    assert_eq!(page.status, 200);
    page.text()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

pub fn metric(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

/// A Redis connection for checking what the server stored.
pub async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

pub async fn redis_get(url: &str, key: &str) -> Option<String> {
    let mut conn = redis_conn(url).await;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// An open keep-alive connection, for sending many requests at the same instant.
pub struct Conn {
    addr: SocketAddr,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Self { addr, sender }
    }

    pub async fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(
                body.unwrap_or_default().as_bytes(),
            )))
            .unwrap();
        self.sender.ready().await.unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }
}
