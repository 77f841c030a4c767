//! What every prodstack service process (authsvc, the app server, the Rust edge) shares, so
//! that each service's lifecycle module only says what is particular to it:
//!
//! - [`listener`]: TCP listeners with a deep backlog, alone or as an `SO_REUSEPORT` group;
//! - [`layout`]: the one choice of runtime layout (a runtime per core, or one work-stealing
//!   runtime), its name in the environment, and how many CPUs the process may use;
//! - [`thread`]: a named thread that drives one runtime and bounds its shutdown;
//! - [`signal`]: waiting for SIGTERM or SIGINT;
//! - [`telemetry`]: the log subscriber;
//! - [`config`]: the error every service's environment parsing returns;
//! - [`counter`]: the sharded counter hot paths count with;
//! - [`heap`]: giving freed heap memory back to the kernel on an interval.
//!
//! It depends on no other prodstack crate.

pub mod config;
pub mod counter;
pub mod heap;
pub mod layout;
pub mod listener;
pub mod signal;
pub mod telemetry;
pub mod thread;

pub use config::ConfigError;
pub use layout::RuntimeLayout;
