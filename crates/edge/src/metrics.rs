//! The edge's counters, exposed as Prometheus text on the admin listener (`EDGE_ADMIN_LISTEN`,
//! `GET /metrics`). `prodstack bench` reads `edge_requests_total` the way it reads nginx's
//! `stub_status`: the difference between two scrapes is the requests the edge answered.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use rt::counter::Counter;

/// What a request was, by its path prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Static,
    Public,
    Api,
    Other,
}

impl Class {
    const ALL: [Class; 4] = [Class::Static, Class::Public, Class::Api, Class::Other];

    fn as_str(self) -> &'static str {
        match self {
            Class::Static => "static",
            Class::Public => "public",
            Class::Api => "api",
            Class::Other => "other",
        }
    }
}

/// Per-request counts are sharded [`Counter`]s (every worker bumps them on every request);
/// per-connection ones are plain relaxed atomics; `connections_open` mirrors the size of the
/// connection table ([`crate::connections`]).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [Counter; 4],
    unauthorized: Counter,
    upstream_errors: Counter,
    pub connections_accepted: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_refused: AtomicU64,
    /// Idle connections closed to make room for a new one at the cap.
    pub connections_evicted: AtomicU64,
    /// Connections closed for having no request in flight too long.
    pub connections_idle_closed: AtomicU64,
    /// Connections closed for resetting most of their streams (rapid reset).
    pub connections_reset_flood: AtomicU64,
    pub handshake_failures: AtomicU64,
}

impl Metrics {
    pub fn request(&self, class: Class) {
        self.requests[class as usize].inc();
    }

    pub fn unauthorized(&self) {
        self.unauthorized.inc();
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.inc();
    }

    pub fn requests(&self, class: Class) -> u64 {
        self.requests[class as usize].get()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str("# HELP edge_requests_total Requests answered by the edge, by path class.\n# TYPE edge_requests_total counter\n");
        for class in Class::ALL {
            let _ = writeln!(
                out,
                "edge_requests_total{{class=\"{}\"}} {}",
                class.as_str(),
                self.requests(class)
            );
        }
        for (name, help, kind, value) in [
            (
                "edge_unauthorized_total",
                "API requests refused with 401.",
                "counter",
                self.unauthorized.get(),
            ),
            (
                "edge_upstream_errors_total",
                "Requests the app server did not answer (502/504).",
                "counter",
                self.upstream_errors.get(),
            ),
            (
                "edge_connections_accepted_total",
                "TCP connections accepted.",
                "counter",
                load(&self.connections_accepted),
            ),
            (
                "edge_connections_refused_total",
                "New connections closed at once: the cap was reached and every connection was busy.",
                "counter",
                load(&self.connections_refused),
            ),
            (
                "edge_connections_evicted_total",
                "Idle connections closed to make room for a new one at the cap.",
                "counter",
                load(&self.connections_evicted),
            ),
            (
                "edge_connections_idle_closed_total",
                "Connections closed after their idle timeout.",
                "counter",
                load(&self.connections_idle_closed),
            ),
            (
                "edge_connections_reset_flood_total",
                "Connections closed for resetting most of their streams (HTTP/2 rapid reset).",
                "counter",
                load(&self.connections_reset_flood),
            ),
            (
                "edge_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out.",
                "counter",
                load(&self.handshake_failures),
            ),
            (
                "edge_connections_open",
                "Client connections open now.",
                "gauge",
                load(&self.connections_open),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter() {
        let metrics = Metrics::default();
        metrics.request(Class::Static);
        metrics.request(Class::Static);
        metrics.request(Class::Api);
        metrics.unauthorized();
        let text = metrics.render();
        assert!(
            text.contains("edge_requests_total{class=\"static\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("edge_requests_total{class=\"api\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("edge_requests_total{class=\"public\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("edge_unauthorized_total 1\n"), "{text}");
        assert!(
            text.contains("# TYPE edge_connections_open gauge\n"),
            "{text}"
        );
    }
}
