//! What `prodstack up` is asked for: the profile, the edge, ports, CPUs, durability and
//! overrides, with the defaults `prodstack up` and the benchmark start from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use contract::env;
use serde::{Deserialize, Serialize};

use crate::cpus::{CpuSet, CpuSplit};
use crate::error::{Error, IoContext, Result};
use crate::nginx::Template;
use crate::postgres::Durability;
use crate::profile::{EdgeKind, Profile};
use crate::service::{Service, MAX_SERVERS};

use super::restart::RestartPolicy;

/// What `prodstack up` was asked for. The supervisor restarts crashed services with the
/// options of the last `up`, which `up` saves for it (`run/up-options.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpOptions {
    pub profile: Profile,
    /// nginx (Production/Tuned), or our Rust edge in proxy or fused mode (Engine).
    pub edge: EdgeKind,
    /// Extra environment for our Rust edge (benchmark variants try its knobs this way).
    pub edge_env: Vec<(String, String)>,
    /// nginx knobs set on top of the profile's (`stack::nginx::ProfileKnobs::set` names;
    /// benchmark variants try them one at a time).
    pub nginx_knobs: Vec<(String, String)>,
    pub ports_offset: u16,
    /// App-server instances behind the edge, 1 to [`MAX_SERVERS`] (more than one only with
    /// nginx: the Rust edge has one upstream). They share the server's CPUs and split
    /// HttpArena's `DATABASE_MAX_CONN` between them, so Postgres sees the same total.
    #[serde(default = "crate::service::one_server")]
    pub servers: u8,
    /// Run the last server instance in a network namespace of its own
    /// ([`crate::netns`]), so `chaos` can cut it off from Redis alone. Needs `servers` ≥ 2
    /// (another instance keeps its links), the nginx edge, and root.
    #[serde(default)]
    pub isolate_server: bool,
    pub cpus: CpuSplit,
    /// Drop the `benchmark` database and load `data/pgdb-seed.sql` again.
    pub reseed: bool,
    /// Run this binary as authsvc instead of ours (same environment).
    pub authsvc_bin: Option<PathBuf>,
    /// Run this binary as every app-server instance instead of ours (a build with other
    /// features, for `bench --compare server=PATH`; same environment).
    #[serde(default)]
    pub server_bin: Option<PathBuf>,
    /// Extra environment for every app-server instance (`bench --compare
    /// production+SERVER_HEAP_TRIM_MS=0`), set after `up`'s own.
    #[serde(default)]
    pub server_env: Vec<(String, String)>,
    pub template: Template,
    pub jwt_secret: String,
    /// How long one service may take to become healthy.
    pub start_timeout: Duration,
    /// What Postgres' acknowledged commits survive (a running Postgres keeps its setting).
    pub pg_durability: Durability,
    /// Leave a supervisor running that restarts crashed services (`prodstack-supervisor`).
    pub supervise: bool,
    /// How the supervisor spaces its restarts.
    pub restart: RestartPolicy,
}

impl UpOptions {
    /// Defaults: production, HttpArena's ports, the default CPU split of this machine, the
    /// template of the checkout at `project_root`, `JWT_SECRET` from the environment.
    pub fn new(project_root: &Path) -> Result<Self> {
        let available = CpuSet::available().io_context(|| "reading this process' CPUs".into())?;
        Ok(Self {
            profile: Profile::Production,
            edge: EdgeKind::Nginx,
            edge_env: Vec::new(),
            nginx_knobs: Vec::new(),
            ports_offset: 0,
            servers: 1,
            isolate_server: false,
            cpus: CpuSplit::default_for(&available),
            reseed: false,
            authsvc_bin: None,
            server_bin: None,
            server_env: Vec::new(),
            template: Template::from_checkout(project_root)?,
            jwt_secret: std::env::var(env::JWT_SECRET)
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| contract::BENCH_SECRET.to_string()),
            start_timeout: Duration::from_secs(60),
            pg_durability: Durability::Full,
            supervise: true,
            restart: RestartPolicy::default(),
        })
    }
}

impl UpOptions {
    /// The services this `up` runs, in start order.
    pub fn services(&self) -> Vec<Service> {
        self.edge.services_with(self.servers)
    }

    /// `--servers` must fit: 1 to [`MAX_SERVERS`], several only behind nginx (each instance
    /// serves its own Unix socket too, so the `server_socket=unix` knob works with several).
    pub fn check_servers(&self) -> Result<()> {
        if !(1..=MAX_SERVERS).contains(&self.servers) {
            return Err(Error::Invalid(format!(
                "--servers {}: run 1 to {MAX_SERVERS} app-server instances",
                self.servers
            )));
        }
        if self.servers > 1 && self.edge.is_rust() {
            return Err(Error::Invalid(format!(
                "--servers {} needs the nginx edge: the {} edge proxies to one app server",
                self.servers, self.edge
            )));
        }
        if self.isolate_server {
            if self.servers < 2 || self.edge.is_rust() {
                return Err(Error::Invalid(format!(
                    "--isolate-server needs --servers 2 or more behind nginx (asked: --servers {} --edge {}): the other instances keep their links while the isolated one is cut off",
                    self.servers, self.edge
                )));
            }
            if let Some(why) = crate::netns::unavailable() {
                return Err(Error::Invalid(format!("--isolate-server: {why}")));
            }
        }
        Ok(())
    }

    /// The isolated instance's namespace and links, when one is asked for.
    pub fn isolation(&self, ports: &crate::ports::StackPorts) -> Option<crate::netns::Isolation> {
        self.isolate_server
            .then(|| crate::netns::Isolation::for_stack(ports.edge, self.servers - 1))
    }
}
