//! A Docker engine for the compose files and HttpArena's own scripts, on any machine of this
//! project's kind: the host's engine when `DOCKER_HOST` or `/var/run/docker.sock` answers,
//! otherwise a private `dockerd` started under `.prodstack/docker/` and stopped by pid.
//!
//! | module | owns |
//! |---|---|
//! | [`install`] | the packages a private engine needs (`docker.io`, `debootstrap`, Compose and buildx as CLI plugins), installed like the launcher installs the others |
//! | [`engine`] | finding or starting the engine, the environment that points a `docker` client at it, and stopping it without leaving a process or a mount behind |
//! | [`adapt`] | what a compose file asks for that this host cannot give (CPUs it lacks, resource limits above its hard limits), as an override that lowers exactly those |
//! | [`stand_ins`] | offline stand-ins for the upstream base images, built only when the engine cannot pull the real ones, labelled as stand-ins and reused while their definition is unchanged |
//!
//! `prodstack docker-engine up|down|env` and `prodstack docker-test` are the commands over it.

pub mod adapt;
pub mod engine;
pub mod install;
pub mod stand_ins;

pub use engine::Engine;

/// A duration as the Docker commands print it: `12.3 s` below a minute, `2m 05s` above.
pub fn secs(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

use std::path::PathBuf;

/// What went wrong, naming what is missing or what failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("{what} is missing: {hint}")]
    Missing { what: String, hint: String },
    #[error("{what} failed ({status}): {detail}")]
    Failed {
        what: String,
        status: String,
        detail: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, DockerError>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DockerError {
    let what = what.into();
    move |source| DockerError::Io { what, source }
}

/// Where a private engine keeps everything: `<home>/docker`.
#[derive(Debug, Clone)]
pub struct DockerHome {
    pub root: PathBuf,
}

impl DockerHome {
    pub fn new(home: &stack::Home) -> Self {
        Self {
            root: home.root().join("docker"),
        }
    }

    pub fn data_root(&self) -> PathBuf {
        self.root.join("data")
    }
    pub fn exec_root(&self) -> PathBuf {
        self.root.join("exec")
    }
    pub fn socket(&self) -> PathBuf {
        self.root.join("run").join("docker.sock")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("run").join("dockerd.pid")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("dockerd.log")
    }
    /// `DOCKER_CONFIG`: the client configuration with our CLI plugins.
    pub fn config(&self) -> PathBuf {
        self.root.join("config")
    }
    /// Unpacked Compose and buildx plugins (the real ones).
    pub fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }
    /// apt's download state for the plugin packages.
    pub fn apt(&self) -> PathBuf {
        self.root.join("apt")
    }
    /// Scratch space for build contexts and overrides.
    pub fn scratch(&self) -> PathBuf {
        self.root.join("scratch")
    }
}
