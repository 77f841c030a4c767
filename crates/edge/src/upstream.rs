//! Where `/public/*` and authenticated `/api/*` requests go: the app server over pooled
//! HTTP/1.1 keep-alive connections ([`Upstream::Proxy`], like nginx's `proxy_pass` with an
//! upstream `keepalive` pool), or the app server's own axum router called in this process
//! ([`Upstream::Fused`]: same handlers, same cache and Postgres code, no socket in between).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// app server's answer (a proxied one with its hop-by-hop headers removed).
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Body>, UpstreamError> {
        match self {
            Upstream::Proxy(proxy) => proxy.send(request).await,
            Upstream::Fused(router) => {
                let mut router = router.clone();
                match tower_service::Service::call(&mut router, request).await {
                    Ok(response) => Ok(response),
                    Err(never) => match never {},
                }
            }
        }
    }
}

/// A pooled HTTP/1.1 client for one app server address. Each worker owns one, so a pooled
/// connection lives on the runtime that uses it.
///
/// HTTP/1.1 carries one request per connection at a time, so without a bound the pool would
/// grow to one connection per request in flight: at 1,024 h2 clients × 16 streams that is
/// ~17,000 loopback connections, each opened, served once and closed again when the idle
/// pool overflows (measured: 1.6k rps, a third of nginx). Requests therefore take one of
/// `connections` slots first (waiting in the edge, in order, when all are busy) and hold it
/// until the app server's response body has been read; the pool keeps every connection
/// alive, so after warm-up no connection is opened at all.
///
/// Few slots are enough because each upstream round trip is a few microseconds on loopback.
/// Measured on one CPU (the edge and server pinned together, the HttpArena mix at 256
/// connections, 3 interleaved rounds): 16 slots 15.4k–18.6k rps, 32 slots 14.0k–15.6k, 64
/// slots 12.5k–16.7k, 256 slots 11.8k–14.7k, 1,024 slots 10.5k–12.1k. The default, 32 per
/// worker, keeps headroom for slow answers (a Postgres miss or write holds its slot for a
/// millisecond or more); on HttpArena's 62-CPU edge it makes ~2,000 upstream connections,
/// nginx's reference pool size.
#[derive(Clone)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    authority: Authority,
    timeout: Duration,
    slots: Arc<Semaphore>,
}

impl Proxy {
    /// `upstream` is `host:port`; a host name is resolved per new connection. At most
    /// `connections` requests are in flight to it at once, each on its own pooled connection.
    pub fn new(
        upstream: &str,
        connections: usize,
        timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let authority: Authority = upstream
            .parse()
            .map_err(|e| UpstreamError::Unavailable(format!("EDGE_UPSTREAM {upstream:?}: {e}")))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(connections)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Self {
            client,
            authority,
            timeout,
            slots: Arc::new(Semaphore::new(connections.max(1))),
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
        let exchange = async {
            let slot = Arc::clone(&self.slots)
                .acquire_owned()
                .await
                .map_err(|_| UpstreamError::Unavailable("the upstream pool is closed".into()))?;
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| UpstreamError::Unavailable(error_chain(&err)))?;
            let mut response = response.map(|body| Body::new(SlotBody { body, _slot: slot }));
            // Connection-level headers of the HTTP/1.1 hop must not reach an HTTP/2 client.
            strip_hop_by_hop(response.headers_mut());
            Ok(response)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout(self.timeout)),
        }
    }
}

/// A response body that holds its connection slot until it is read to the end or dropped.
struct SlotBody {
    body: Incoming,
    _slot: OwnedSemaphorePermit,
}

impl hyper::body::Body for SlotBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
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
