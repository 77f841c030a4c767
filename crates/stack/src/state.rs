//! The state file of a running stack, `run/stack.json`: which services `prodstack up` started,
//! with their process identities, ports, CPUs and logs. `down` and `status` read it, and so
//! does the benchmark (pids for CPU sampling, ports for URLs) through [`StackState::load`].
//!
//! It is rewritten (atomically: temp file + rename) after every service that starts, so even an
//! interrupted `up` leaves a file from which `down` can stop what did start.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cpus::CpuSet;
use crate::error::{Error, IoContext, Result};
use crate::home::Home;
use crate::netns::Isolation;
use crate::ports::StackPorts;
use crate::process::{Liveness, ProcessIdentity};
use crate::profile::{EdgeKind, Profile};
use crate::service::Service;

/// Version of the file format; a file of another version is refused rather than misread.
pub const STATE_VERSION: u32 = 1;

/// One started service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub service: Service,
    /// The main process (nginx master, postmaster); it leads its own session.
    pub process: ProcessIdentity,
    pub ports: Vec<u16>,
    /// `None` = not pinned (Postgres).
    pub cpus: Option<CpuSet>,
    pub log: PathBuf,
    pub started_at_unix_ms: u64,
    /// The command line, for people reading the file.
    pub command: Vec<String>,
    /// How many times the supervisor restarted this service after a crash (files written
    /// before the supervisor existed have no field).
    #[serde(default)]
    pub restarts: u32,
    /// When the supervisor's last restart of it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restart_unix_ms: Option<u64>,
}

impl ServiceState {
    pub fn pid(&self) -> u32 {
        self.process.pid
    }

    pub fn liveness(&self) -> Liveness {
        self.process.liveness()
    }
}

/// The running stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackState {
    pub version: u32,
    pub profile: Profile,
    /// States written before the Rust edge existed have no field: they ran nginx.
    #[serde(default)]
    pub edge: EdgeKind,
    /// nginx knobs set over the profile's (`up --edge-knob`); states without it had none.
    #[serde(default)]
    pub edge_knobs: Vec<(String, String)>,
    pub ports_offset: u16,
    pub ports: StackPorts,
    /// App-server instances behind the edge (`up --servers`; states without it ran one).
    #[serde(default = "crate::service::one_server")]
    pub servers: u8,
    /// The network namespace of an isolated server instance (`up --isolate-server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// When the first service of this stack started.
    pub started_at_unix_ms: u64,
    pub home: PathBuf,
    /// Started services in start order.
    pub services: Vec<ServiceState>,
    /// The supervisor that restarts crashed services (`None`: `up --no-supervise`, or a file
    /// written before the supervisor existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<ProcessIdentity>,
}

impl StackState {
    pub fn new(
        home: &Home,
        profile: Profile,
        edge: EdgeKind,
        ports_offset: u16,
        ports: StackPorts,
    ) -> Self {
        Self {
            version: STATE_VERSION,
            profile,
            edge,
            edge_knobs: Vec::new(),
            ports_offset,
            ports,
            servers: 1,
            isolation: None,
            started_at_unix_ms: crate::process::unix_ms(),
            home: home.root().to_path_buf(),
            services: Vec::new(),
            supervisor: None,
        }
    }

    /// `run/stack.json` of `home`.
    pub fn path(home: &Home) -> PathBuf {
        home.run_dir().join("stack.json")
    }

    /// The state of the stack running from `home`; an error saying so when none was started.
    pub fn load(home: &Home) -> Result<Self> {
        Self::load_if_present(home)?.ok_or_else(|| Error::Missing {
            what: format!("a running stack in {}", home.root().display()),
            hint: format!(
                "no {} (start one with `prodstack up`)",
                Self::path(home).display()
            ),
        })
    }

    /// Like [`load`](Self::load), `None` when there is no state file.
    pub fn load_if_present(home: &Home) -> Result<Option<Self>> {
        let path = Self::path(home);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    what: format!("reading {}", path.display()),
                    source,
                })
            }
        };
        let state: Self = serde_json::from_str(&text).map_err(|e| {
            Error::Invalid(format!(
                "{} is not a prodstack state file ({e}); if no stack runs, delete it",
                path.display()
            ))
        })?;
        if state.version != STATE_VERSION {
            return Err(Error::Invalid(format!(
                "{} has format version {} but this prodstack reads version {STATE_VERSION}; stop that stack with the prodstack that started it",
                path.display(),
                state.version
            )));
        }
        Ok(Some(state))
    }

    /// Writes the file atomically.
    pub fn save(&self, home: &Home) -> Result<()> {
        let path = Self::path(home);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("serializing the stack state: {e}")))?;
        write_atomically(&path, text.as_bytes())
    }

    /// Deletes the state file (the stack is down).
    pub fn remove(home: &Home) -> Result<()> {
        match std::fs::remove_file(Self::path(home)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                what: format!("removing {}", Self::path(home).display()),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    pub fn service(&self, service: Service) -> Option<&ServiceState> {
        self.services.iter().find(|s| s.service == service)
    }

    /// The recorded app-server instances, first to last.
    pub fn server_instances(&self) -> impl Iterator<Item = &ServiceState> {
        self.services.iter().filter(|s| s.service.is_server())
    }

    /// The `/metrics` URL of every app-server instance's admin listener (the fused edge
    /// serves the one server's at the first instance's port).
    pub fn server_metrics_urls(&self) -> Vec<String> {
        (0..self.servers.max(1))
            .map(|i| {
                let (_, admin) = server_addrs(&self.ports, self.isolation.as_ref(), i);
                format!("http://{admin}/metrics")
            })
            .collect()
    }

    /// The services of this stack, in start order (its edge's, with its server instances).
    pub fn expected_services(&self) -> Vec<Service> {
        self.edge.services_with(self.servers)
    }

    /// Records `entry`, replacing an older entry of the same service, keeping start order.
    pub fn upsert(&mut self, entry: ServiceState) {
        self.services.retain(|s| s.service != entry.service);
        self.services.push(entry);
        self.services.sort_by_key(|s| s.service);
    }

    pub fn forget(&mut self, service: Service) {
        self.services.retain(|s| s.service != service);
    }

    /// `https://localhost:<edge port>`, the base URL HttpArena's checks and load use.
    pub fn edge_url(&self) -> String {
        format!("https://localhost:{}", self.ports.edge)
    }
}

/// The (app, admin) addresses app-server instance `i` listens on: its ports on its
/// namespace's end of the serve link when it is the isolated one, on loopback otherwise.
pub fn server_addrs(
    ports: &StackPorts,
    isolation: Option<&Isolation>,
    i: u8,
) -> (SocketAddr, SocketAddr) {
    let ip = match isolation {
        Some(iso) if iso.instance == i => iso.serve.ns_ip,
        _ => Ipv4Addr::LOCALHOST,
    };
    let (main, admin) = ports.server_instance(i);
    (SocketAddr::from((ip, main)), SocketAddr::from((ip, admin)))
}

/// Writes `bytes` to `path` through a temporary file and a rename, mode 0600.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no parent folder", path.display())))?;
    std::fs::create_dir_all(dir).io_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    // Owner-only: the nginx config carries the edge secret, the state file our pids.
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)
    };
    write().io_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).io_context(|| format!("renaming {} into place", tmp.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        assert!(StackState::load_if_present(&home).unwrap().is_none());
        let err = StackState::load(&home).unwrap_err().to_string();
        assert!(err.contains("prodstack up"), "{err}");

        let ports = StackPorts::with_offset(7).unwrap();
        let mut state = StackState::new(&home, Profile::Tuned, EdgeKind::RustProxy, 7, ports);
        let me = ProcessIdentity::of(std::process::id()).unwrap();
        state.servers = 2;
        for service in [Service::Edge, Service::Server(1), Service::Postgres] {
            state.upsert(ServiceState {
                service,
                process: me.clone(),
                ports: service.ports(&ports),
                cpus: CpuSet::parse("0").ok(),
                log: service.log_path(&home),
                started_at_unix_ms: 1,
                command: vec!["x".into()],
                restarts: 2,
                last_restart_unix_ms: Some(3),
            });
        }
        state.supervisor = Some(me.clone());
        state.save(&home).unwrap();
        let loaded = StackState::load(&home).unwrap();
        assert_eq!(loaded, state);
        assert_eq!(
            loaded
                .services
                .iter()
                .map(|s| s.service)
                .collect::<Vec<_>>(),
            [Service::Postgres, Service::Server(1), Service::Edge]
        );
        assert_eq!(loaded.server_instances().count(), 1);
        // The Rust proxy stack: postgres, cache, two server instances, edge.
        assert_eq!(loaded.expected_services().len(), 5);
        assert_eq!(loaded.edge_url(), "https://localhost:8450");
        assert_eq!(
            loaded.service(Service::Edge).unwrap().ports,
            vec![8450, 9099]
        );
        let json = std::fs::read_to_string(StackState::path(&home)).unwrap();
        assert!(json.contains("\"profile\": \"tuned\""), "{json}");
        assert!(json.contains("\"service\": \"postgres\""), "{json}");
        assert!(json.contains("\"service\": \"server-2\""), "{json}");
        assert!(json.contains("\"cpus\": \"0\""), "{json}");

        StackState::remove(&home).unwrap();
        assert!(StackState::load_if_present(&home).unwrap().is_none());
    }

    #[test]
    fn unreadable_or_foreign_state_files_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        std::fs::create_dir_all(home.run_dir()).unwrap();
        std::fs::write(StackState::path(&home), "{not json").unwrap();
        let err = StackState::load(&home).unwrap_err().to_string();
        assert!(err.contains("is not a prodstack state file"), "{err}");
        let future = serde_json::json!({
            "version": 99, "profile": "production", "ports_offset": 0,
            "ports": StackPorts::DEFAULT, "started_at_unix_ms": 0, "home": "/x", "services": []
        });
        std::fs::write(StackState::path(&home), future.to_string()).unwrap();
        let err = StackState::load(&home).unwrap_err().to_string();
        assert!(err.contains("format version 99"), "{err}");
    }

    #[test]
    fn service_names_parse_and_unknown_ones_are_listed() {
        assert_eq!(Service::parse("edge").unwrap(), Service::Edge);
        let err = Service::parse("redis").unwrap_err().to_string();
        assert!(
            err.contains("postgres, cache, authsvc, server, edge"),
            "{err}"
        );
        assert_eq!(Service::parse("server-3").unwrap(), Service::Server(2));
        assert_eq!(Service::Server(2).as_str(), "server-3");
        assert!(Service::parse("server-9").is_err());
        assert!(Service::Server(1).same_kind(Service::SERVER));
        assert!(!Service::Edge.same_kind(Service::SERVER));
    }
}
