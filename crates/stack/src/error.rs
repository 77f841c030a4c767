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
    #[error("port {port} is already in use{holder}", holder = match holder { Some(h) => format!(" by {h}"), None => String::new() })]
    PortInUse { port: u16, holder: Option<String> },
    #[error("{0}")]
    Invalid(String),
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
