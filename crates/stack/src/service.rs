//! The services of the stack and the facts each one owns: its name (as the state file, the
//! logs and `prodstack logs NAME` spell it), its log file, the ports it listens on, the signal
//! that stops it cleanly and how long it gets. Start
//! order is the declaration order; `down` stops them in reverse.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::home::Home;
use crate::ports::StackPorts;

/// The services of the stack, in start order (`down` stops them in reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Postgres,
    Cache,
    Authsvc,
    Server,
    Edge,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Postgres,
        Service::Cache,
        Service::Authsvc,
        Service::Server,
        Service::Edge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Cache => "cache",
            Service::Authsvc => "authsvc",
            Service::Server => "server",
            Service::Edge => "edge",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown service `{name}` (expected one of {})",
                    Self::ALL.map(Service::as_str).join(", ")
                ))
            })
    }

    /// `logs/<service>.log`.
    pub fn log_path(self, home: &Home) -> PathBuf {
        home.logs_dir().join(format!("{}.log", self.as_str()))
    }

    /// The ports this service listens on (main port first).
    pub fn ports(self, ports: &StackPorts) -> Vec<u16> {
        match self {
            Service::Postgres => vec![ports.postgres],
            Service::Cache => vec![ports.cache],
            Service::Authsvc => vec![ports.authsvc],
            Service::Server => vec![ports.server, ports.admin],
            Service::Edge => vec![ports.edge, ports.edge_status],
        }
    }

    /// The signal that asks the service to shut down cleanly: Postgres' fast shutdown is
    /// SIGINT (SIGTERM would wait for clients to disconnect); nginx, Redis and our binaries
    /// stop on SIGTERM.
    pub fn stop_signal(self) -> libc::c_int {
        match self {
            Service::Postgres => libc::SIGINT,
            _ => libc::SIGTERM,
        }
    }

    /// How long the service may take to stop before it is killed.
    pub fn grace_period(self) -> Duration {
        match self {
            Service::Postgres => Duration::from_secs(30),
            _ => Duration::from_secs(10),
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
