//! A tiny HTTP client over the `curl` binary. HttpArena's validation is a series of curl calls
//! (`curl -sk --http2`, one TLS connection per request); running the same tool keeps our
//! `validate` faithful to it and keeps a TLS/HTTP2 client stack out of the build.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};

/// Which protocol to ask curl for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    /// `--http2`: ALPN h2 over TLS (falls back to 1.1 when the server refuses).
    Http2,
    /// `--http1.1`.
    Http11,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub version: HttpVersion,
    pub timeout: Duration,
}

impl<'a> Request<'a> {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET",
            url: url.into(),
            headers: Vec::new(),
            body: None,
            version: HttpVersion::Http2,
            timeout: Duration::from_secs(10),
        }
    }

    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            method: "POST",
            body: Some(body.into()),
            ..Self::get(url)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn json(self) -> Self {
        self.header("Content-Type", "application/json")
    }

    pub fn version(mut self, version: HttpVersion) -> Self {
        self.version = version;
        self
    }
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    /// As curl's `%{http_version}` prints it: `2`, `1.1`, ...
    pub http_version: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("body is not JSON: {:?}", truncate(&self.body_text(), 200)))
    }
}

/// Sends one request with certificate verification off (the edge's certificate is
/// self-signed, as HttpArena's is).
pub fn send(request: &Request<'_>) -> anyhow::Result<Response> {
    let scratch = tempfile::tempdir().context("creating a scratch folder for curl")?;
    let header_file = scratch.path().join("headers");
    let body_file = scratch.path().join("body");
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "--globoff", "-X", request.method])
        .arg(match request.version {
            HttpVersion::Http2 => "--http2",
            HttpVersion::Http11 => "--http1.1",
        })
        .arg("--max-time")
        .arg(format!("{:.1}", request.timeout.as_secs_f64()))
        .arg("-D")
        .arg(&header_file)
        .arg("-o")
        .arg(&body_file)
        .args(["-w", "%{http_code} %{http_version}"]);
    for (name, value) in &request.headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    if let Some(body) = &request.body {
        let request_body = scratch.path().join("request-body");
        std::fs::write(&request_body, body).context("writing the request body")?;
        cmd.arg("--data-binary")
            .arg(format!("@{}", request_body.display()));
    }
    cmd.arg(&request.url);
    let output = cmd
        .output()
        .context("running curl (install the Debian package `curl`)")?;
    let summary = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "curl {} {} failed (exit {}): {}",
            request.method,
            request.url,
            output.status.code().unwrap_or(-1),
            curl_error(output.status.code())
        );
    }
    let mut parts = summary.split_whitespace();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("unexpected curl summary {summary:?}"))?;
    let http_version = parts.next().unwrap_or_default().to_string();
    Ok(Response {
        status,
        http_version,
        headers: parse_headers(&read_or_empty(&header_file)),
        body: std::fs::read(&body_file).unwrap_or_default(),
    })
}

fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Parses a `-D` header dump; with several blocks (e.g. `100 Continue`) the last one wins.
pub fn parse_headers(dump: &str) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for line in dump.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            headers.clear();
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    headers
}

fn curl_error(code: Option<i32>) -> &'static str {
    match code {
        Some(6) => "could not resolve host",
        Some(7) => "could not connect (is the stack up?)",
        Some(28) => "timed out",
        Some(35) => "TLS handshake failed",
        Some(52) => "empty reply from server",
        Some(56) => "connection reset while receiving",
        _ => "see `curl --help` exit codes",
    }
}

pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dump_keeps_the_last_block_lowercased() {
        let dump = "HTTP/1.1 100 Continue\r\n\r\nHTTP/2 200\r\nContent-Type: text/css\r\nX-Cache: MISS\r\n\r\n";
        let headers = parse_headers(dump);
        assert_eq!(
            headers,
            vec![
                ("content-type".to_string(), "text/css".to_string()),
                ("x-cache".to_string(), "MISS".to_string())
            ]
        );
        let response = Response {
            headers,
            ..Response::default()
        };
        assert_eq!(response.header("X-Cache"), Some("MISS"));
        assert_eq!(response.header("vary"), None);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
