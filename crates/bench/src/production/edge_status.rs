//! How many requests the edge answered: nginx's `stub_status`, or the Rust edge's
//! `edge_requests_total`, read before and after each run.

use stack::profile::EdgeKind;
use stack::StackState;

use crate::metrics::Scrape;
use validate::{self};

/// The edge's request counter on its loopback-only status port: nginx `stub_status`, or our
/// Rust edge's `edge_requests_total` (Prometheus text).
pub(super) struct EdgeStatus {
    pub(super) url: String,
    pub(super) edge: EdgeKind,
}

impl EdgeStatus {
    pub(super) fn for_state(state: &StackState) -> Self {
        let path = if state.edge.is_rust() {
            "metrics"
        } else {
            "nginx_status"
        };
        Self {
            url: format!("http://127.0.0.1:{}/{path}", state.ports.edge_status),
            edge: state.edge,
        }
    }

    /// `None` when the edge does not answer (the static count is then reported as 0).
    pub(super) fn requests(&self) -> Option<f64> {
        let url = &self.url;
        let response = validate::curl::send(
            &validate::curl::Request::get(url.clone()).version(validate::curl::HttpVersion::Http11),
        )
        .ok()?;
        let text = response.body_text();
        if self.edge.is_rust() {
            Some(Scrape::parse(&text).sum("edge_requests_total", &[]))
        } else {
            parse_stub_status(&text)
        }
    }
}

/// `Active connections: 2 \nserver accepts handled requests\n 10 10 42 \nReading: ...` → 42.
pub fn parse_stub_status(text: &str) -> Option<f64> {
    let mut lines = text.lines();
    lines.find(|l| {
        l.trim_start()
            .starts_with("server accepts handled requests")
    })?;
    lines.next()?.split_whitespace().nth(2)?.parse().ok()
}
