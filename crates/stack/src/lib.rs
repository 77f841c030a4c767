//! Native service supervision: Postgres, Redis, nginx and our own binaries, started as plain
//! processes on loopback ports. `prodstack up` uses it to run the whole stack; the test suites
//! use its `testing` helpers to get real, private services on free ports.

pub mod home;

pub use home::Home;
