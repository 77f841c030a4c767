//! Auth sidecar: `GET /_auth` verifies a Bearer HS256 JWT and answers `X-User-Id`.
//!
//! A drop-in for HttpArena's shared `authsvc` (same routes, statuses, header and environment
//! variables), with a strict verifier ([`jwt::Verifier`]: pinned algorithm, strict base64url,
//! `exp`/`nbf` enforced) and a leaner HTTP stack (hyper directly, per-core runtimes).
//!
//! - [`config`]: environment variables and their validation;
//! - [`service`]: the HTTP contract, request by request;
//! - [`server`]: listeners, runtimes, connection lifecycle and graceful shutdown.
//!
//! In-process use (what the tests do):
//! ```no_run
//! let config = authsvc::Config::new("secret", "127.0.0.1:0".parse().unwrap());
//! let server = authsvc::Server::start(&config).unwrap();
//! println!("listening on {}", server.local_addr());
//! server.shutdown();
//! ```

pub mod config;
pub mod server;
pub mod service;

pub use config::{Config, ConfigError};
pub use server::{run, RuntimeLayout, ServeError, Server, ShutdownReport};
pub use service::AuthService;
