//! The services of the stack and the facts each one owns: its name (as the state file, the
//! logs and `prodstack logs NAME` spell it), its log file, the ports it listens on, the signal
//! that stops it cleanly and how long it gets. Start
//! order is the declaration order; `down` stops them in reverse.
//!
//! The app server may run as several instances (`up --servers N`), each its own service to
//! start, probe, supervise and stop: `Service::Server(i)`, named `server` for the first and
//! `server-<i+1>` for the others, with its own log and ports ([`StackPorts::server_instance`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::home::Home;
use crate::ports::StackPorts;

/// The most app-server instances one stack runs (`up --servers`).
pub const MAX_SERVERS: u8 = 8;

/// One app-server instance: the default of `--servers`, and of state files written before
/// there could be more.
pub(crate) fn one_server() -> u8 {
    1
}

/// The names of the app-server instances, by index.
const SERVER_NAMES: [&str; MAX_SERVERS as usize] = [
    "server", "server-2", "server-3", "server-4", "server-5", "server-6", "server-7", "server-8",
];

/// The services of the stack, in start order (`down` stops them in reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Service {
    Postgres,
    Cache,
    Authsvc,
    /// App-server instance `i` (0-based, below [`MAX_SERVERS`]).
    Server(u8),
    Edge,
}

impl Service {
    /// The first (or only) app-server instance.
    pub const SERVER: Service = Service::Server(0);

    /// Every kind of service, with one app-server instance.
    pub const ALL: [Service; 5] = [
        Service::Postgres,
        Service::Cache,
        Service::Authsvc,
        Service::SERVER,
        Service::Edge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Cache => "cache",
            Service::Authsvc => "authsvc",
            Service::Server(i) => SERVER_NAMES
                .get(usize::from(i))
                .copied()
                .unwrap_or("server-?"),
            Service::Edge => "edge",
        }
    }

    /// The name of its kind: `server` for every app-server instance (what CPU splits and
    /// per-kind figures are keyed by), otherwise its own name.
    pub fn kind_str(self) -> &'static str {
        match self {
            Service::Server(_) => Service::SERVER.as_str(),
            other => other.as_str(),
        }
    }

    /// Whether this is an app-server instance (any of them).
    pub fn is_server(self) -> bool {
        matches!(self, Service::Server(_))
    }

    /// Whether `self` and `other` are the same kind of service (two server instances are).
    pub fn same_kind(self, other: Service) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }

    pub fn parse(name: &str) -> Result<Self> {
        let servers = (0..MAX_SERVERS).map(Service::Server);
        Self::ALL
            .into_iter()
            .chain(servers)
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown service `{name}` (expected one of {}, or server-2 to server-{MAX_SERVERS})",
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
            Service::Server(i) => {
                let (main, admin) = ports.server_instance(i);
                vec![main, admin]
            }
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

impl TryFrom<String> for Service {
    type Error = Error;

    fn try_from(name: String) -> Result<Self> {
        Service::parse(&name)
    }
}

impl From<Service> for String {
    fn from(service: Service) -> String {
        service.as_str().to_string()
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
