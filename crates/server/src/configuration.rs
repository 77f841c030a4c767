//! Start-up configuration from environment variables (HttpArena's names where it has them).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN` | `127.0.0.1:8080` | app HTTP/1.1 listener: loopback, the edge runs beside it (beyond loopback, set `EDGE_SECRET`) |
//! | `LISTEN_UNIX` | unset | also listen on this Unix domain socket path (an edge on the same host; `LISTEN` stays, HttpArena's probes use it) |
//! | `EDGE_SECRET` | unset | when set, app routes require `X-Edge-Secret` with this value (see `edge_proof`) |
//! | `ADMIN_LISTEN` | `127.0.0.1:9091` | `/metrics` listener (never exposed through the edge) |
//! | `DATABASE_URL` | required | `postgres://user:pass@host:port/db` |
//! | `DATABASE_MAX_CONN` | `256` | the server's connections stay strictly below this |
//! | `DATABASE_POOL_SIZE` | workers, 2–16 | read connections (writes get half as many, ≥ 1) |
//! | `REDIS_URL` | unset | L2 + invalidation backplane; unset → L1 only |
//! | `DATASET_PATH` | `/data/dataset.json` | the catalogue behind `/public/json` |
//! | `ITEM_TTL_MS` | `1000` | item TTL in L1 and L2, 1–1000 |
//! | `USER_TTL_MS` | `30000` | user TTL in L1 and L2, 1–30000 |
//! | `SERVER_WORKERS` | available CPUs (honours cpusets) | HTTP worker threads |
//! | `SERVER_RUNTIME` | `multi-thread` | `multi-thread` or `per-core` (see `startup`) |
//! | `L1_CAPACITY` | `262144` | L1 entries |
//! | `SERVER_HTTP` | `axum` | `axum`; `axum-serve` or `raw-hyper` exist for benchmarks only |
//! | `SERVER_HEAP_TRIM_MS` | `5000` | hand freed heap memory back to the kernel this often (`0`: never; see `rt::heap`); a `mimalloc` build starts no trim |
//!
//! Every problem is reported before anything listens, naming the variable.

use contract::env;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::edge_proof::EdgeSecret;

/// The contract's upper bounds for the cache TTLs.
pub const MAX_ITEM_TTL_MS: u64 = 1000;
pub const MAX_USER_TTL_MS: u64 = 30_000;
/// The default of `SERVER_HEAP_TRIM_MS`: a trim (about a millisecond) every 5 s.
pub const DEFAULT_HEAP_TRIM_MS: u64 = 5_000;

/// Which HTTP front end serves the public listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFrontend {
    /// The axum router with every route, each connection served by hyper's HTTP/1.1
    /// connection directly (production).
    Axum,
    /// The same router through `axum::serve` (benchmark comparison).
    AxumServe,
    /// A hand-written hyper service for the hot routes only (benchmark comparison).
    RawHyper,
}

pub use rt::RuntimeLayout;

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// A Unix domain socket served beside `listen` (the same routes and edge proof).
    pub listen_unix: Option<PathBuf>,
    pub admin_listen: SocketAddr,
    pub database_url: String,
    pub database_max_conn: u32,
    /// Read connections; `None` derives it from `workers`.
    pub database_pool_size: Option<u32>,
    pub redis_url: Option<String>,
    pub dataset_path: PathBuf,
    pub item_ttl: Duration,
    pub user_ttl: Duration,
    pub workers: usize,
    pub runtime: RuntimeLayout,
    pub l1_capacity: usize,
    pub http: HttpFrontend,
    pub edge_secret: Option<EdgeSecret>,
    /// How often `main` hands freed heap memory back to the kernel ([`rt::heap`]); `None`:
    /// never. Without it glibc's malloc keeps the buffers of every upstream connection nginx
    /// has ever held open at once.
    pub heap_trim: Option<Duration>,
}

pub use rt::ConfigError;

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::invalid(var, value, reason)
}

impl Settings {
    /// Defaults for everything but the database URL (what tests start from).
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], contract::ports::SERVER)),
            listen_unix: None,
            admin_listen: SocketAddr::from(([127, 0, 0, 1], contract::ports::SERVER_ADMIN)),
            database_url: database_url.into(),
            database_max_conn: 256,
            database_pool_size: None,
            redis_url: None,
            dataset_path: PathBuf::from("/data/dataset.json"),
            item_ttl: Duration::from_millis(MAX_ITEM_TTL_MS),
            user_ttl: Duration::from_millis(MAX_USER_TTL_MS),
            workers: rt::layout::available_cpus().get(),
            runtime: RuntimeLayout::MultiThread,
            l1_capacity: 262_144,
            http: HttpFrontend::Axum,
            edge_secret: None,
            heap_trim: Some(Duration::from_millis(DEFAULT_HEAP_TRIM_MS)),
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `var` (a map in tests, the environment in production). Empty
    /// values count as unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let database_url = get(env::DATABASE_URL).ok_or_else(|| {
            ConfigError::missing(
                env::DATABASE_URL,
                "set it to postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            )
        })?;
        let mut settings = Self::new(database_url);
        if let Some(v) = get(env::LISTEN) {
            settings.listen = parse_addr(env::LISTEN, &v)?;
        }
        settings.listen_unix = get(env::LISTEN_UNIX).map(PathBuf::from);
        if let Some(v) = get(env::ADMIN_LISTEN) {
            settings.admin_listen = parse_addr(env::ADMIN_LISTEN, &v)?;
        }
        if let Some(v) = get(env::DATABASE_MAX_CONN) {
            settings.database_max_conn = parse_int(env::DATABASE_MAX_CONN, &v)?;
        }
        if let Some(v) = get(env::DATABASE_POOL_SIZE) {
            settings.database_pool_size = Some(parse_int(env::DATABASE_POOL_SIZE, &v)?);
        }
        settings.redis_url = get(env::REDIS_URL);
        if let Some(v) = get(env::DATASET_PATH) {
            settings.dataset_path = PathBuf::from(v);
        }
        if let Some(v) = get(env::ITEM_TTL_MS) {
            settings.item_ttl = Duration::from_millis(parse_int(env::ITEM_TTL_MS, &v)?);
        }
        if let Some(v) = get(env::USER_TTL_MS) {
            settings.user_ttl = Duration::from_millis(parse_int(env::USER_TTL_MS, &v)?);
        }
        if let Some(v) = get(env::SERVER_WORKERS) {
            settings.workers = parse_int(env::SERVER_WORKERS, &v)?;
        }
        if let Some(v) = get(env::SERVER_RUNTIME) {
            settings.runtime = v
                .parse()
                .map_err(|reason: String| invalid(env::SERVER_RUNTIME, &v, reason))?;
        }
        if let Some(v) = get(env::SERVER_HTTP) {
            settings.http = match v.trim() {
                "axum" => HttpFrontend::Axum,
                "axum-serve" => HttpFrontend::AxumServe,
                "raw-hyper" => HttpFrontend::RawHyper,
                _ => {
                    return Err(invalid(
                        env::SERVER_HTTP,
                        &v,
                        "expected `axum`, `axum-serve` or `raw-hyper`",
                    ))
                }
            };
        }
        if let Some(v) = get(env::SERVER_HEAP_TRIM_MS) {
            let ms: u64 = parse_int(env::SERVER_HEAP_TRIM_MS, &v)?;
            settings.heap_trim = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(v) = get(env::L1_CAPACITY) {
            settings.l1_capacity = parse_int(env::L1_CAPACITY, &v)?;
        }
        if let Some(v) = get(env::EDGE_SECRET) {
            settings.edge_secret = Some(
                EdgeSecret::new(&v)
                    .map_err(|reason| invalid(env::EDGE_SECRET, "(hidden)", reason))?,
            );
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the bounds the contract and the database impose.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let item_ms = self.item_ttl.as_millis() as u64;
        if item_ms == 0 || item_ms > MAX_ITEM_TTL_MS {
            return Err(invalid(
                env::ITEM_TTL_MS,
                &item_ms.to_string(),
                format!("must be 1–{MAX_ITEM_TTL_MS} (the contract caps item TTLs at 1 s)"),
            ));
        }
        let user_ms = self.user_ttl.as_millis() as u64;
        if user_ms == 0 || user_ms > MAX_USER_TTL_MS {
            return Err(invalid(
                env::USER_TTL_MS,
                &user_ms.to_string(),
                format!("must be 1–{MAX_USER_TTL_MS} (the contract caps user TTLs at 30 s)"),
            ));
        }
        if self.workers == 0 || self.workers > 1024 {
            return Err(invalid(
                env::SERVER_WORKERS,
                &self.workers.to_string(),
                "must be 1–1024",
            ));
        }
        if let Some(path) = &self.listen_unix {
            rt::listener::check_unix_path(path)
                .map_err(|reason| invalid(env::LISTEN_UNIX, &path.display().to_string(), reason))?;
        }
        if self.database_max_conn < 3 {
            return Err(invalid(
                env::DATABASE_MAX_CONN,
                &self.database_max_conn.to_string(),
                "must be at least 3 (one read and one write connection, and stay below the limit)",
            ));
        }
        if self.database_pool_size == Some(0) {
            return Err(invalid(env::DATABASE_POOL_SIZE, "0", "must be at least 1"));
        }
        if self.l1_capacity == 0 {
            return Err(invalid(env::L1_CAPACITY, "0", "must be at least 1"));
        }
        if !self.database_url.starts_with("postgres://")
            && !self.database_url.starts_with("postgresql://")
        {
            return Err(invalid(
                env::DATABASE_URL,
                &redact(&self.database_url),
                "expected a postgres:// or postgresql:// URL",
            ));
        }
        if let Some(url) = &self.redis_url {
            if !url.starts_with("redis://") && !url.starts_with("unix://") {
                return Err(invalid(env::REDIS_URL, url, "expected a redis:// URL"));
            }
        }
        Ok(())
    }

    /// `(read, write)` Postgres connections: the read count from `DATABASE_POOL_SIZE` or the
    /// worker count (2–16), writes half of that (≥ 1), and the total strictly below
    /// `DATABASE_MAX_CONN` so `psql` and health probes always find a slot.
    pub fn pool_sizes(&self) -> (u32, u32) {
        let budget = self.database_max_conn.saturating_sub(1).max(2);
        let mut read = self
            .database_pool_size
            .unwrap_or_else(|| (self.workers as u32).clamp(2, 16));
        let mut write = (read / 2).max(1);
        while read + write > budget {
            if read > write && read > 1 {
                read -= 1;
            } else if write > 1 {
                write -= 1;
            } else {
                break;
            }
        }
        (read, write)
    }
}

fn parse_addr(var: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(var, value, "expected IP:PORT, for example 0.0.0.0:8080"))
}

fn parse_int<T: std::str::FromStr>(var: &'static str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(var, value, "expected a non-negative integer"))
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    const DB: (&str, &str) = (
        env::DATABASE_URL,
        "postgres://bench:bench@localhost:5432/benchmark",
    );

    #[test]
    fn defaults_follow_the_contract() {
        let s = from(&[DB]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(s.edge_secret.is_none());
        assert_eq!(s.admin_listen.to_string(), "127.0.0.1:9091");
        assert_eq!(s.item_ttl, Duration::from_millis(1000));
        assert_eq!(s.user_ttl, Duration::from_millis(30_000));
        assert_eq!(s.database_max_conn, 256);
        assert!(s.redis_url.is_none());
        assert_eq!(s.dataset_path, PathBuf::from("/data/dataset.json"));
        assert_eq!(s.heap_trim, Some(Duration::from_secs(5)));
        let s = from(&[DB, (env::SERVER_HEAP_TRIM_MS, "250")]).unwrap();
        assert_eq!(s.heap_trim, Some(Duration::from_millis(250)));
        let s = from(&[DB, (env::SERVER_HEAP_TRIM_MS, "0")]).unwrap();
        assert_eq!(s.heap_trim, None);
    }

    #[test]
    fn ttls_above_the_contract_are_refused() {
        let err = from(&[DB, (env::ITEM_TTL_MS, "1001")]).unwrap_err();
        assert!(err.to_string().contains(env::ITEM_TTL_MS), "{err}");
        let err = from(&[DB, (env::USER_TTL_MS, "30001")]).unwrap_err();
        assert!(err.to_string().contains(env::USER_TTL_MS), "{err}");
        assert!(from(&[DB, (env::ITEM_TTL_MS, "0")]).is_err());
        assert!(from(&[DB, (env::ITEM_TTL_MS, "1000"), (env::USER_TTL_MS, "30000")]).is_ok());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            (env::LISTEN, "nowhere"),
            (env::SERVER_WORKERS, "-1"),
            (env::SERVER_WORKERS, "0"),
            (env::DATABASE_MAX_CONN, "2"),
            (env::SERVER_RUNTIME, "fibers"),
            (env::REDIS_URL, "http://x"),
            (env::ITEM_TTL_MS, "1s"),
            (env::SERVER_HEAP_TRIM_MS, "5s"),
            (env::EDGE_SECRET, "too-short"),
        ] {
            let err = from(&[DB, (var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{var}={value}: {err}");
        }
        let err = from(&[]).unwrap_err().to_string();
        assert!(err.contains(env::DATABASE_URL), "{err}");
        let err = from(&[(env::DATABASE_URL, "mysql://u:secret@h/db")])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "password leaked: {err}");
    }

    #[test]
    fn pool_stays_below_max_conn() {
        let mut s = from(&[DB]).unwrap();
        s.workers = 64;
        assert_eq!(s.pool_sizes(), (16, 8));
        s.database_max_conn = 3;
        let (r, w) = s.pool_sizes();
        assert!(r >= 1 && w >= 1 && r + w < 3 + 1 && r + w <= 2, "{r} {w}");
        s.database_max_conn = 256;
        s.database_pool_size = Some(400);
        let (r, w) = s.pool_sizes();
        assert!(r + w < 256, "{r} {w}");
    }
}
