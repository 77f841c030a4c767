//! Logging: one line per event on stderr, filtered by `RUST_LOG` (default `info`), coloured
//! only when stderr is a terminal (a service's log file gets plain text). Services
//! log state changes (an outage starting and ending), never each request: at 100k+
//! requests/s a line per request would cost more than the request.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; a second call (tests starting several services) keeps the first.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
