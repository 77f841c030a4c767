//! The Engine-category edge: one Rust process in place of nginx + authsvc (+ the app server).
//!
//! ```text
//! client ──TLS 1.2/1.3, ALPN h2 | http/1.1──▶ edge (:8443)
//!    /static/*  → files held in memory, br/gzip/identity negotiated      (static_files, encoding)
//!    /public/*  → app server                                             (upstream)
//!    /api/*     → HS256 JWT verified here → X-User-Id → app server       (service, jwt crate)
//! app server = proxy mode: pooled HTTP/1.1 to EDGE_UPSTREAM
//!              fused mode: the server crate's axum router, in this process
//! ```
//!
//! Modules in the order a request meets them: [`config`] (environment), [`serve`] (listeners,
//! runtimes, TLS, HTTP/1.1 and HTTP/2 limits, shutdown), [`service`] (routing, auth,
//! `X-User-Id`), [`static_files`] + [`encoding`] (`/static/*`), [`upstream`] (proxy or fused),
//! [`metrics`] (counters on the admin listener), [`tls`] (certificates, provider).
//!
//! Start one in-process with [`start`] (port 0 works; the tests do that).

pub mod config;
pub mod connections;
pub mod encoding;
pub mod metrics;
pub mod protocol_errors;
pub mod serve;
pub mod service;
pub mod static_files;
pub mod tls;
pub mod upstream;

use std::sync::Arc;

pub use config::{Config, Limits, Mode};
pub use serve::{RunningEdge, RuntimeLayout};

use metrics::Metrics;
use service::EdgeService;
use static_files::StaticFiles;
use upstream::{Proxy, Upstream};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Static(#[from] static_files::StaticError),
    #[error(transparent)]
    Upstream(#[from] upstream::UpstreamError),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
}

/// Where `/public/*` and `/api/*` go.
pub enum Backend {
    /// `config.upstream` over pooled HTTP/1.1 (one pool per worker).
    Proxy,
    /// This router (the app server's), called in-process.
    Fused(axum::Router),
}

/// Loads the certificates and static files, binds, and starts serving on background threads.
pub fn start(config: &Config, backend: Backend) -> Result<RunningEdge, StartError> {
    let certificate = tls::Certificate::load(&config.tls_cert, &config.tls_key)?;
    let tls = tls::server_config(Arc::clone(&certificate))?;
    let statics = Arc::new(StaticFiles::load(&config.static_dir)?);
    if statics.is_empty() {
        tracing::warn!(dir = %config.static_dir.display(), "no static files found");
    }
    tracing::info!(
        files = statics.len(),
        bytes = statics.bytes(),
        "static files loaded into memory"
    );
    let upstream = match backend {
        // Checked once here, so that building each worker's own pool cannot fail later.
        Backend::Proxy => Upstream::Proxy(Proxy::new(
            &config.upstream,
            config.upstream_connections,
            config.limits.upstream_timeout,
        )?),
        Backend::Fused(router) => Upstream::Fused(router),
    };
    let metrics = Arc::new(Metrics::default());
    let (verifier, upstream_addr, connections, timeout) = (
        config.verifier(),
        config.upstream.clone(),
        config.upstream_connections,
        config.limits.upstream_timeout,
    );
    let shared_metrics = Arc::clone(&metrics);
    let (max_body_bytes, body_timeout) = (config.limits.max_body_bytes, config.limits.body_timeout);
    let edge_secret = config.edge_secret.clone();
    let max_header_bytes = config.limits.max_header_bytes;
    let factory: serve::ServiceFactory = Arc::new(move || EdgeService {
        statics: Arc::clone(&statics),
        verifier: verifier.clone(),
        upstream: match &upstream {
            Upstream::Proxy(checked) => Proxy::new(&upstream_addr, connections, timeout)
                .map(Upstream::Proxy)
                .unwrap_or_else(|_| Upstream::Proxy(checked.clone())),
            fused => fused.clone(),
        },
        metrics: Arc::clone(&shared_metrics),
        max_body_bytes,
        body_timeout,
        max_header_bytes,
        edge_secret: edge_secret.clone(),
    });
    Ok(serve::start(config, certificate, tls, metrics, factory)?)
}
