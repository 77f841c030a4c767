//! Health probes of the stack's services, each asking the question HttpArena's harness asks:
//! Postgres answers `SELECT 1 FROM items LIMIT 1`, Redis answers `PING`, authsvc `GET
//! /_health`, the server `GET /healthz` and `/readyz`, and the edge serves
//! `/static/reset.css` over TLS + HTTP/2.
//!
//! The plain-HTTP probes speak just enough HTTP/1.1 over a `TcpStream` to read a status line
//! (no client crate for a status code). The edge probe needs TLS, which the workspace does not
//! carry, so it runs `curl` (installed by the launcher).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The status code of `GET path` on `127.0.0.1:port`, or why there is none.
pub fn http_status(port: u16, path: &str, timeout: Duration) -> Result<u16, String> {
    http_status_at(SocketAddr::from(([127, 0, 0, 1], port)), path, timeout)
}

/// [`http_status`] of a listener at `addr` (an isolated server instance's).
pub fn http_status_at(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("{addr}: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending GET {path} to {addr}: {e}"))?;
    let mut head = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") && head.len() < 256 {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(format!("reading the answer to GET {path} from {addr}: {e}")),
        }
    }
    parse_status_line(&head).ok_or_else(|| {
        format!(
            "GET {path} on {addr}: not an HTTP answer: {:?}",
            String::from_utf8_lossy(&head)
        )
    })
}

fn parse_status_line(line: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// What the edge answered over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeAnswer {
    pub status: u16,
    /// `2` when HTTP/2 was negotiated.
    pub http_version: String,
}

/// `curl -sk --http2 https://127.0.0.1:port/path`: `Ok(None)` when nothing answers (yet),
/// `Err` when curl itself is missing.
pub fn edge_get(port: u16, path: &str, timeout: Duration) -> Result<Option<EdgeAnswer>, String> {
    let output = Command::new("curl")
        .args(["-sk", "--http2", "--noproxy", "*", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{http_version}"])
        .arg("--max-time")
        .arg(format!("{:.1}", timeout.as_secs_f64().max(0.1)))
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "running curl (the edge probe needs it; install the Debian package `curl`): {e}"
            )
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.split_whitespace();
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    if status == 0 {
        return Ok(None);
    }
    Ok(Some(EdgeAnswer {
        status,
        http_version: parts.next().unwrap_or("").to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_the_status_of_a_real_http_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            request
        });
        assert_eq!(
            http_status(port, "/readyz", Duration::from_secs(2)),
            Ok(503)
        );
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /readyz HTTP/1.1\r\n"), "{request}");
    }

    #[test]
    fn nothing_listening_is_an_error_not_a_status() {
        let port = crate::ports::free_port().unwrap();
        let err = http_status(port, "/", Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("connecting to 127.0.0.1"), "{err}");
        assert_eq!(edge_get(port, "/", Duration::from_millis(500)), Ok(None));
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
    }
}
