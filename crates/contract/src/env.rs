//! The environment variables the services read, with HttpArena's names where it defines one.
//! Each service's `config` module reads them; `stack` sets them on the processes it starts;
//! the deployment renderer writes them into compose files and the checker reads them back.

// The app server.
/// Plain HTTP/1.1 listen address of the app server.
pub const LISTEN: &str = "LISTEN";
/// Path of a Unix domain socket the app server also listens on (beside `LISTEN`), for an edge
/// on the same host; unset: TCP only.
pub const LISTEN_UNIX: &str = "LISTEN_UNIX";
/// The app server's `/metrics` listen address.
pub const ADMIN_LISTEN: &str = "ADMIN_LISTEN";
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
pub const DATABASE_URL: &str = "DATABASE_URL";
/// Upper bound of Postgres connections the app server opens (HttpArena's name).
pub const DATABASE_MAX_CONN: &str = "DATABASE_MAX_CONN";
/// Connections of the read pool, when not derived from `DATABASE_MAX_CONN`.
pub const DATABASE_POOL_SIZE: &str = "DATABASE_POOL_SIZE";
/// `redis://HOST:PORT`: the L2 cache and the invalidation backplane; unset runs L1 only.
pub const REDIS_URL: &str = "REDIS_URL";
/// The dataset `/public/*` serves from memory.
pub const DATASET_PATH: &str = "DATASET_PATH";
/// Time to live of a cached item, milliseconds.
pub const ITEM_TTL_MS: &str = "ITEM_TTL_MS";
/// Time to live of a cached user, milliseconds.
pub const USER_TTL_MS: &str = "USER_TTL_MS";
/// Entries of the in-process L1 cache.
pub const L1_CAPACITY: &str = "L1_CAPACITY";
/// Worker threads (or per-core runtimes) of the app server.
pub const SERVER_WORKERS: &str = "SERVER_WORKERS";
/// The app server's runtime layout: `per-core` or `multi-thread`.
pub const SERVER_RUNTIME: &str = "SERVER_RUNTIME";
/// The app server's HTTP front-end: `axum`, `axum-serve` or `raw-hyper`.
pub const SERVER_HTTP: &str = "SERVER_HTTP";
/// How often the app server hands freed heap memory back to the kernel, milliseconds
/// (`0`: never).
pub const SERVER_HEAP_TRIM_MS: &str = "SERVER_HEAP_TRIM_MS";
/// Every app-server tuning variable above (`bench --compare` accepts these as `+NAME=VALUE`).
pub const SERVER_TUNING: [&str; 4] = [
    SERVER_WORKERS,
    SERVER_RUNTIME,
    SERVER_HTTP,
    SERVER_HEAP_TRIM_MS,
];
/// The secret the edge proves itself with (see [`crate::headers::EDGE_SECRET`]); the app
/// server requires it when set, and every edge sends it.
pub const EDGE_SECRET: &str = "EDGE_SECRET";

// Token verification (authsvc and the Rust edge).
/// HMAC-SHA256 key of the bearer tokens (HttpArena's name).
pub const JWT_SECRET: &str = "JWT_SECRET";
/// Clock skew allowed on `exp`/`nbf`, seconds.
pub const JWT_LEEWAY_S: &str = "JWT_LEEWAY_S";

// authsvc.
/// authsvc's listen address (HttpArena's name).
pub const AUTHSVC_LISTEN: &str = "AUTHSVC_LISTEN";
/// authsvc's worker count.
pub const AUTHSVC_WORKERS: &str = "AUTHSVC_WORKERS";
/// authsvc's runtime layout: `per-core` or `multi-thread`.
pub const AUTHSVC_RUNTIME: &str = "AUTHSVC_RUNTIME";
/// Longest wait for a request head (idle keep-alive included), seconds; `0` = none.
pub const AUTHSVC_HEADER_TIMEOUT_S: &str = "AUTHSVC_HEADER_TIMEOUT_S";

// The Rust edge.
/// The edge's TLS listen address.
pub const EDGE_LISTEN: &str = "EDGE_LISTEN";
/// The edge's `/metrics` listen address.
pub const EDGE_ADMIN_LISTEN: &str = "EDGE_ADMIN_LISTEN";
/// `proxy` (to a separate app server) or `fused` (the app's router in-process).
pub const EDGE_MODE: &str = "EDGE_MODE";
/// The app server's `host:port`, in proxy mode.
pub const EDGE_UPSTREAM: &str = "EDGE_UPSTREAM";
/// Requests in flight to the app server per edge worker, in proxy mode.
pub const EDGE_UPSTREAM_CONNECTIONS: &str = "EDGE_UPSTREAM_CONNECTIONS";
/// The edge's runtime layout: `per-core` or `multi-thread`.
pub const EDGE_RUNTIME: &str = "EDGE_RUNTIME";
/// The edge's worker count.
pub const EDGE_WORKERS: &str = "EDGE_WORKERS";
/// Client connections the edge holds at once (lowered to what its descriptors allow).
pub const EDGE_MAX_CONNECTIONS: &str = "EDGE_MAX_CONNECTIONS";
/// The folder `/static/*` serves (HttpArena mounts it at `/data/static`).
pub const STATIC_DIR: &str = "STATIC_DIR";
/// PEM certificate chain of the edge.
pub const TLS_CERT: &str = "TLS_CERT";
/// PEM private key of the edge.
pub const TLS_KEY: &str = "TLS_KEY";
