//! Test helpers: a raw HTTP/1.1 client over `std::net::TcpStream` (so the tests see exactly the
//! bytes on the wire), token minting, and a server guard that always shuts down.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const SECRET: &str = "integration-test-secret";

/// A token for `sub` signed with `secret`, expiring `exp_offset_s` from now (negative = past).
pub fn token(sub: &str, secret: &str, exp_offset_s: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), sub.into());
    claims.insert("exp".into(), (now + exp_offset_s).into());
    jwt::sign(&claims, secret.as_bytes())
}

/// One parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Lower-cased names, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive client connection.
pub struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let writer = TcpStream::connect(addr).unwrap();
        writer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Self { writer, reader }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Sends `method path` with the given extra header lines.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: authsvc\r\n");
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        self.send_raw(raw.as_bytes());
        self.read_reply(method == "HEAD")
    }

    pub fn get(&mut self, path: &str, authorization: Option<&str>) -> Reply {
        match authorization {
            Some(value) => self.request("GET", path, &[("Authorization", value)]),
            None => self.request("GET", path, &[]),
        }
    }

    /// Reads one response (head, then a `Content-Length` body unless `head_only`).
    pub fn read_reply(&mut self, head_only: bool) -> Reply {
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let mut parts = status_line.split_whitespace();
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end_matches("\r\n");
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only {
            let len: usize = reply
                .header("content-length")
                .unwrap_or("0")
                .parse()
                .unwrap();
            reply.body.resize(len, 0);
            self.reader.read_exact(&mut reply.body).unwrap();
        }
        reply
    }

    /// True when the server closed the connection (EOF with nothing more to read).
    pub fn is_closed_by_server(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(self.reader.read_to_end(&mut rest), Ok(0))
    }
}

/// A server that is shut down when the guard drops, even when a test fails.
pub struct Running(Option<authsvc::Server>);

impl Running {
    pub fn start(config: &authsvc::Config) -> Self {
        Self(Some(authsvc::Server::start(config).unwrap()))
    }
    pub fn server(&self) -> &authsvc::Server {
        self.0.as_ref().unwrap()
    }
    pub fn addr(&self) -> SocketAddr {
        self.server().local_addr()
    }
    pub fn shutdown(mut self) -> authsvc::ShutdownReport {
        self.0.take().unwrap().shutdown()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = self.0.take() {
            server.shutdown();
        }
    }
}

pub fn config(mode: authsvc::RuntimeLayout) -> authsvc::Config {
    let mut config = authsvc::Config::new(SECRET, "127.0.0.1:0".parse().unwrap());
    config.runtime = mode;
    config.workers = std::num::NonZeroUsize::new(2).unwrap();
    config.shutdown_grace = Duration::from_secs(2);
    config
}

pub const MODES: [authsvc::RuntimeLayout; 2] = [
    authsvc::RuntimeLayout::PerCore,
    authsvc::RuntimeLayout::MultiThread,
];
