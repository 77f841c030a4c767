//! Native service supervision: Postgres, Redis, nginx and our own binaries, started as plain
//! processes on loopback ports. `prodstack up` uses it to run the whole stack; the test suites
//! use its `testing` helpers to get real, private services on free ports.

pub mod bins;
pub mod error;
pub mod home;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod testing;

pub use error::{Error, Result};
pub use home::Home;
