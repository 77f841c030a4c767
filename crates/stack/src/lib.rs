//! Native service supervision: Postgres, Redis, nginx and our own binaries, started as plain
//! processes on loopback ports. `prodstack up` uses it to run the whole stack
//! ([`supervise`], with the edge config rendered by [`nginx`] and the running stack described
//! by [`StackState`]); the test suites use its `testing` helpers to get real, private services
//! on free ports.

pub mod bins;
pub mod cpus;
pub mod error;
pub mod health;
pub mod home;
pub mod lock;
pub mod logsink;
pub mod netns;
pub mod nginx;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod profile;
pub mod project;
pub mod redis;
pub mod service;
pub mod sidecar;
pub mod state;
pub mod supervise;
pub mod template;
pub mod testing;

pub use cpus::{CpuSet, CpuSplit};
pub use error::{Error, Result};
pub use home::Home;
pub use ports::StackPorts;
pub use profile::Profile;
pub use project::Project;
pub use service::Service;
pub use sidecar::Sidecar;
pub use state::{ServiceState, StackState};
