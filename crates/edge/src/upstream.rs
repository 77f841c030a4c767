//! Where `/public/*` and authenticated `/api/*` requests go: the app server over pooled
//! HTTP/1.1 keep-alive connections ([`Upstream::Proxy`], like nginx's `proxy_pass` with an
//! upstream `keepalive` pool), or the app server's own axum router called in this process
//! ([`Upstream::Fused`]: same handlers, same cache and Postgres code, no socket in between).

use std::time::Duration;

use axum::body::Body;
use hyper::header::{HeaderName, CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::http::{HeaderMap, Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Shorter than the app server's idle timeout, so the edge closes idle connections first and
/// never writes a request into a connection the server is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the app server is unavailable: {0}")]
    Unavailable(String),
    #[error("the app server did not answer within {0:?}")]
    Timeout(Duration),
}

/// The app server behind the edge.
#[derive(Clone)]
pub enum Upstream {
    Proxy(Proxy),
    Fused(axum::Router),
}

impl Upstream {
    /// Sends `request` (origin-form URI, headers already decided by the edge) and returns the
    /// app server's answer with hop-by-hop headers removed.
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Body>, UpstreamError> {
        let mut response = match self {
            Upstream::Proxy(proxy) => proxy.send(request).await?,
            Upstream::Fused(router) => {
                let mut router = router.clone();
                match tower_service::Service::call(&mut router, request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
        };
        strip_hop_by_hop(response.headers_mut());
        Ok(response)
    }
}

/// A pooled HTTP/1.1 client for one app server address. Each worker owns one, so a pooled
/// connection lives on the runtime that uses it.
#[derive(Clone)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    authority: Authority,
    timeout: Duration,
}

impl Proxy {
    /// `upstream` is `host:port`; a host name is resolved per new connection. At most
    /// `max_idle` idle connections are kept; more are closed when their response is done.
    pub fn new(upstream: &str, max_idle: usize, timeout: Duration) -> Result<Self, UpstreamError> {
        let authority: Authority = upstream
            .parse()
            .map_err(|e| UpstreamError::Unavailable(format!("EDGE_UPSTREAM {upstream:?}: {e}")))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(max_idle)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Self {
            client,
            authority,
            timeout,
        })
    }

    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, UpstreamError> {
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path);
        if parts.uri.authority().is_some() {
            // HTTP/2 carries the client's host in `:authority`; pass it on as nginx's
            // `proxy_set_header Host $host` does.
            if let Some(host) = parts.uri.host() {
                if let Ok(value) = host.parse() {
                    parts.headers.insert(hyper::header::HOST, value);
                }
            }
        }
        parts.uri = uri
            .build()
            .map_err(|e| UpstreamError::Unavailable(format!("building the upstream URI: {e}")))?;
        parts.version = hyper::Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        let request = Request::from_parts(parts, body);
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response.map(Body::new)),
            Ok(Err(err)) => Err(UpstreamError::Unavailable(error_chain(&err))),
            Err(_) => Err(UpstreamError::Timeout(self.timeout)),
        }
    }
}

/// Connection-specific headers (RFC 9110 §7.6.1) belong to one hop; HTTP/2 forbids them.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
    const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
    if let Some(listed) = headers.get(CONNECTION).and_then(|v| v.to_str().ok()) {
        let named: Vec<HeaderName> = listed
            .split(',')
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in [
        CONNECTION,
        KEEP_ALIVE,
        PROXY_CONNECTION,
        TE,
        TRANSFER_ENCODING,
        UPGRADE,
    ] {
        headers.remove(name);
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("close, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert("x-user-id", HeaderValue::from_static("42"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["x-user-id"], "42");
    }

    #[test]
    fn a_bad_upstream_address_is_refused() {
        assert!(Proxy::new("not a host:port", 8, Duration::from_secs(1)).is_err());
    }
}
