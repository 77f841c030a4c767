//! Logging: one line per event on stderr, filtered by `RUST_LOG` (default `info`).
//!
//! Nothing is logged per request: at 100k+ requests/s that would cost more than the request.
//! Outages (Redis, Postgres) are logged when they start and when they end.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; a second call (tests spawning several servers) keeps the first.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
