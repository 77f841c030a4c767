//! Default ports: HttpArena's for the four services and Postgres, ours for the admin
//! listeners it does not define.

/// The edge: TLS, HTTP/2 and HTTP/1.1 (HttpArena's production-stack port).
pub const EDGE: u16 = 8443;
/// The app server's plain HTTP/1.1 listener (HttpArena's readiness probe asks
/// `:8080/baseline11`).
pub const SERVER: u16 = 8080;
/// The auth sidecar.
pub const AUTHSVC: u16 = 9090;
/// Redis, the shared L2 cache.
pub const CACHE: u16 = 6379;
/// Postgres.
pub const POSTGRES: u16 = 5432;
/// The app server's `/metrics` listener.
pub const SERVER_ADMIN: u16 = 9091;
/// The Rust edge's `/metrics` listener.
pub const EDGE_ADMIN: u16 = 9092;
