//! The one error type of the `stack` crate. Every variant says what was being done, and the
//! readiness failures carry the last lines of the service's log, which is nearly always where
//! the real reason is.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} not found: {hint}")]
    Missing { what: String, hint: String },
    #[error("{what} failed ({status}):\n{output}")]
    CommandFailed {
        what: String,
        status: ExitStatus,
        output: String,
    },
    #[error("{what} was not ready after {waited:?}; last lines of {log}:\n{log_tail}", log = log.display())]
    NotReady {
        what: String,
        waited: Duration,
        log: PathBuf,
        log_tail: String,
    },
    #[error("{what} exited during start-up ({status}); last lines of {log}:\n{log_tail}", log = log.display())]
    Exited {
        what: String,
        status: ExitStatus,
        log: PathBuf,
        log_tail: String,
    },
    #[error("{what} is not healthy: {reason}; last lines of {log}:\n{log_tail}", log = log.display())]
    Unhealthy {
        what: String,
        reason: String,
        log: PathBuf,
        log_tail: String,
    },
    #[error("port {port} is already in use{holder}", holder = match holder { Some(h) => format!(" by {h}"), None => String::new() })]
    PortInUse { port: u16, holder: Option<String> },
    #[error("ports already in use:\n{}", .0.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"))]
    PortsInUse(Vec<PortConflict>),
    // The problems are part of the message (one per line) rather than a `#[source]`, so that
    // `{:#}` does not print them twice.
    #[error("nginx template {origin}:\n{problems}")]
    Template {
        origin: String,
        problems: crate::template::RenderError,
    },
    #[error("{0}")]
    Invalid(String),
}

/// One port `prodstack up` needs that something else holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConflict {
    pub service: String,
    pub port: u16,
    pub holder: Option<crate::ports::PortHolder>,
}

impl std::fmt::Display for PortConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {} ({}) is held by ", self.port, self.service)?;
        match &self.holder {
            Some(holder) => write!(f, "{holder}"),
            None => f.write_str("a process this user cannot see (try `ss -ltnp` as root)"),
        }
    }
}

/// Adds "what was being done" to `io::Result`s.
pub trait IoContext<T> {
    fn io_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what(),
            source,
        })
    }
}
