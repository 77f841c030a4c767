//! The edge's counters, exposed on the admin listener (`EDGE_ADMIN_LISTEN`, `GET /metrics`) in
//! the OpenMetrics text format written by `prometheus-client`; the request path bumps sharded
//! counters and plain atomics, and the page reads them at scrape time. `prodstack bench` reads `edge_requests_total` the way it reads nginx's
//! `stub_status`: the difference between two scrapes is the requests the edge answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

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
    /// Certificate reloads that took effect (SIGHUP).
    pub certificate_reloads: AtomicU64,
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

    /// The `/metrics` page (OpenMetrics text, written by `prometheus-client` from the values
    /// at this moment).
    pub fn render(metrics: &Arc<Metrics>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Snapshot(Arc::clone(metrics))));
        let mut out = String::with_capacity(2048);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads every counter when scraped.
#[derive(Debug)]
struct Snapshot(Arc<Metrics>);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let m = &self.0;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut family = encoder.encode_descriptor(
            "edge_requests",
            "Requests answered by the edge, by path class.",
            None,
            MetricType::Counter,
        )?;
        for class in Class::ALL {
            let labels = [("class", class.as_str())];
            ConstCounter::new(m.requests(class)).encode(family.encode_family(&labels)?)?;
        }
        let counters = [
            ("edge_unauthorized", "API requests refused with 401.", m.unauthorized.get()),
            ("edge_upstream_errors", "Requests the app server did not answer (502/504).", m.upstream_errors.get()),
            ("edge_connections_accepted", "TCP connections accepted.", load(&m.connections_accepted)),
            ("edge_connections_refused", "New connections closed at once: the cap was reached and every connection was busy.", load(&m.connections_refused)),
            ("edge_connections_evicted", "Idle connections closed to make room for a new one at the cap.", load(&m.connections_evicted)),
            ("edge_connections_idle_closed", "Connections closed after their idle timeout.", load(&m.connections_idle_closed)),
            ("edge_connections_reset_flood", "Connections closed for resetting most of their streams (HTTP/2 rapid reset).", load(&m.connections_reset_flood)),
            ("edge_tls_handshake_failures", "TLS handshakes that failed or timed out.", load(&m.handshake_failures)),
            ("edge_certificate_reloads", "Certificate reloads (SIGHUP) that took effect.", load(&m.certificate_reloads)),
        ];
        for (name, help, value) in counters {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        let open = ConstGauge::new(i64::try_from(load(&m.connections_open)).unwrap_or(i64::MAX));
        open.encode(encoder.encode_descriptor(
            "edge_connections_open",
            "Client connections open now.",
            None,
            open.metric_type(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter() {
        let metrics = Arc::new(Metrics::default());
        metrics.request(Class::Static);
        metrics.request(Class::Static);
        metrics.request(Class::Api);
        metrics.unauthorized();
        let text = Metrics::render(&metrics);
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
        assert!(text.contains("edge_connections_open 0\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
