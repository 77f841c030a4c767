//! Clients that misbehave on purpose, to show what an edge does while they do, and a
//! well-behaved probe that times legitimate requests at the same moment.
//!
//! | attack | module | what it holds on the server |
//! |---|---|---|
//! | TLS connections that complete the handshake and never send a request | [`idle`] | descriptors, per-connection buffers |
//! | HTTP/2 streams whose responses are never read | [`unread`] | streams, send buffers, open files |
//! | HEADERS + RST_STREAM pairs on one connection (CVE-2023-44487) | [`rapid_reset`] | request work per reset stream |
//! | request heads sent a byte at a time (slowloris) | [`slow_headers`] | connections waiting for a head |
//!
//! [`scan`] is the TLS scanner's view (weak suites accepted, `testssl.sh`'s verdicts).
//!
//! [`probe`] is the legitimate client: a fresh TLS + HTTP/2 connection per request, the whole
//! body read, the time to the last byte recorded. Every network step of every client has a
//! timeout, so a server that stalls shows up as a failed or slow sample, never as a hang.
//!
//! The tests of both edges (nginx and ours) and `prodstack attack` drive these against real
//! servers on loopback.

pub mod held;
pub mod idle;
pub mod probe;
pub mod rapid_reset;
pub mod scan;
pub mod slow_headers;
pub mod tls;
pub mod unread;

use std::net::SocketAddr;
use std::time::Duration;

/// Where the clients connect: a TLS address and the server name they send (SNI).
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub server_name: String,
    /// `:authority` of HTTP/2 requests (`localhost:PORT`).
    pub authority: String,
}

impl Target {
    /// `addr` with the name `localhost`, as HttpArena's clients use.
    pub fn localhost(addr: SocketAddr) -> Self {
        Self {
            addr,
            server_name: "localhost".into(),
            authority: format!("localhost:{}", addr.port()),
        }
    }

    /// An `https://localhost:PORT/path` request.
    pub fn request(&self, method: &str, path: &str) -> http::request::Builder {
        http::Request::builder()
            .method(method)
            .uri(format!("https://{}{path}", self.authority))
    }
}

/// Why a client step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connecting to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("TLS with {0}: {1}")]
    Tls(SocketAddr, std::io::Error),
    #[error("HTTP/2: {0}")]
    H2(#[from] h2::Error),
    #[error("{0}")]
    Http(#[from] http::Error),
    #[error("{what} took longer than {after:?}")]
    Timeout { what: &'static str, after: Duration },
    #[error("the server did not negotiate ALPN h2")]
    NoH2,
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// `future`, or [`Error::Timeout`] after `after`.
pub(crate) async fn within<T>(
    after: Duration,
    what: &'static str,
    future: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(after, future)
        .await
        .map_err(|_| Error::Timeout { what, after })?
}
