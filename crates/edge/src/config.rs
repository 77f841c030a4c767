//! Start-up configuration from environment variables. Every value is checked before anything
//! listens, and a mistake names its variable.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `EDGE_LISTEN` | `0.0.0.0:8443` | TLS listener (ALPN `h2` and `http/1.1`) |
//! | `EDGE_MODE` | `proxy` | `proxy`: forward to `EDGE_UPSTREAM`; `fused`: run the app server in this process |
//! | `EDGE_UPSTREAM` | `127.0.0.1:8080` | proxy mode: the app server's `host:port` (names are resolved) |
//! | `EDGE_UPSTREAM_CONNECTIONS` | `32` | proxy mode: upstream connections per worker (per process with `multi-thread`); requests beyond wait for one |
//! | `TLS_CERT`, `TLS_KEY` | `/certs/server.crt`, `/certs/server.key` | PEM certificate chain and key |
//! | `STATIC_DIR` | `/data/static` | files served under `/static/`, read once at start |
//! | `JWT_SECRET` | HttpArena's benchmark secret | HS256 key (a warning is logged when unset) |
//! | `JWT_LEEWAY_S` | `0` | clock skew allowed on `exp`/`nbf` |
//! | `EDGE_WORKERS` | CPUs available (cpuset-aware) | worker threads |
//! | `EDGE_RUNTIME` | `per-core` | `per-core` or `multi-thread` (see [`crate::serve`]) |
//! | `EDGE_MAX_CONNECTIONS` | derived | open client connections: the descriptor limit less what the process needs besides clients (a larger value is lowered to it); at the cap the oldest idle connection gives way, and a newcomer is refused only when all are busy |
//! | `EDGE_SECRET` | unset | sent to the app server as `X-Edge-Secret` (proxy and fused), which it then requires |
//! | `EDGE_ADMIN_LISTEN` | `127.0.0.1:9092` | plain-HTTP `/metrics` (edge counters), loopback by default |
//!
//! In fused mode the app server reads its own variables (`DATABASE_URL`, `REDIS_URL`,
//! `LISTEN`, `ADMIN_LISTEN`, …, see `server::configuration`); its plain listener stays up
//! because HttpArena's readiness probe asks `:8080/baseline11`.

use contract::env;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rt::RuntimeLayout;

const MAX_LEEWAY_S: u64 = 86_400;

/// Where `/public/*` and `/api/*` go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pooled HTTP/1.1 keep-alive connections to a separate app server.
    Proxy,
    /// The app server's router, called in-process.
    Fused,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "proxy" => Ok(Self::Proxy),
            "fused" => Ok(Self::Fused),
            _ => Err("expected `proxy` or `fused`".into()),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Proxy => "proxy",
            Self::Fused => "fused",
        })
    }
}

use rt::config::parse;
pub use rt::ConfigError;

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub mode: Mode,
    pub upstream: String,
    pub upstream_connections: usize,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub static_dir: PathBuf,
    pub secret: Vec<u8>,
    pub secret_is_default: bool,
    pub leeway: Duration,
    pub workers: usize,
    pub runtime: RuntimeLayout,
    /// `None`: derived from the descriptor limit at start ([`crate::connections::cap`]).
    pub max_connections: Option<usize>,
    pub admin_listen: Option<SocketAddr>,
    pub limits: Limits,
    /// The edge's proof for the app server ([`server::edge_proof`]).
    pub edge_secret: Option<server::edge_proof::EdgeSecret>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("mode", &self.mode)
            .field("upstream", &self.upstream)
            .field("static_dir", &self.static_dir)
            .field("secret", &format_args!("({} bytes)", self.secret.len()))
            .field("workers", &self.workers)
            .field("runtime", &self.runtime)
            .field("max_connections", &self.max_connections)
            .field("edge_secret", &self.edge_secret)
            .finish_non_exhaustive()
    }
}

/// Protocol limits and timeouts. They bound what one client can make the edge hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// HTTP/1.1: a request head (and an idle keep-alive gap) must arrive within this
    /// (nginx's `client_header_timeout` in our nginx config). Ends slow-header clients.
    pub header_timeout: Duration,
    /// A connection that has sent no request this long after its handshake is closed.
    pub first_request_timeout: Duration,
    /// A connection with no request in flight this long is closed (nginx's
    /// `keepalive_timeout`; for HTTP/2 a GOAWAY, hyper has no idle timeout of its own).
    pub idle_timeout: Duration,
    /// HTTP/2: PING an idle connection this often and drop it when the answer is this late.
    pub keep_alive_interval: Duration,
    pub keep_alive_timeout: Duration,
    /// Request head (HTTP/1.1) or header list (HTTP/2) size.
    pub max_header_bytes: usize,
    /// Request bodies beyond this get 413 before they reach the app server: the app server's
    /// own limit, so both edges refuse what the app would.
    pub max_body_bytes: usize,
    /// A request body must arrive in full within this (nginx's `client_body_timeout`).
    pub body_timeout: Duration,
    /// HTTP/2 streams per connection: h2load runs `-m 16` (reads) and `-m 8` (writes); our
    /// nginx config allows 32 too. A client that never reads holds at most this many.
    pub max_concurrent_streams: u32,
    /// How long in-flight requests may run after a shutdown request.
    pub shutdown_grace: Duration,
    /// How long a proxied request may wait for the app server's answer.
    pub upstream_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(65),
            keep_alive_interval: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(20),
            max_header_bytes: 32 * 1024,
            max_body_bytes: server::body::MAX_BODY_BYTES,
            body_timeout: Duration::from_secs(60),
            max_concurrent_streams: 32,
            shutdown_grace: Duration::from_secs(5),
            upstream_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Defaults for everything (what tests start from, then override).
    pub fn new(static_dir: impl Into<PathBuf>, tls_cert: PathBuf, tls_key: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], contract::ports::EDGE)),
            mode: Mode::Proxy,
            upstream: format!("127.0.0.1:{}", contract::ports::SERVER),
            upstream_connections: 32,
            tls_cert,
            tls_key,
            static_dir: static_dir.into(),
            secret: contract::BENCH_SECRET.as_bytes().to_vec(),
            secret_is_default: true,
            leeway: Duration::ZERO,
            workers: rt::layout::available_cpus().get(),
            runtime: RuntimeLayout::PerCore,
            max_connections: None,
            admin_listen: None,
            limits: Limits::default(),
            edge_secret: None,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `var`; empty values count as unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut config = Self::new(
            get(env::STATIC_DIR).unwrap_or_else(|| "/data/static".into()),
            get(env::TLS_CERT)
                .unwrap_or_else(|| "/certs/server.crt".into())
                .into(),
            get(env::TLS_KEY)
                .unwrap_or_else(|| "/certs/server.key".into())
                .into(),
        );
        config.admin_listen = Some(SocketAddr::from((
            [127, 0, 0, 1],
            contract::ports::EDGE_ADMIN,
        )));
        if let Some(v) = get(env::EDGE_LISTEN) {
            config.listen = parse(env::EDGE_LISTEN, &v)?;
        }
        if let Some(v) = get(env::EDGE_MODE) {
            config.mode = parse(env::EDGE_MODE, &v)?;
        }
        if let Some(v) = get(env::EDGE_UPSTREAM) {
            if !v.contains(':') {
                return Err(invalid(env::EDGE_UPSTREAM, &v, "expected host:port"));
            }
            config.upstream = v.trim().to_string();
        }
        if let Some(v) = get(env::EDGE_UPSTREAM_CONNECTIONS) {
            config.upstream_connections = parse(env::EDGE_UPSTREAM_CONNECTIONS, &v)?;
            if config.upstream_connections == 0 {
                return Err(invalid(
                    env::EDGE_UPSTREAM_CONNECTIONS,
                    &v,
                    "must be at least 1",
                ));
            }
        }
        if let Some(v) = var(env::JWT_SECRET).filter(|v| !v.is_empty()) {
            config.secret = v.into_bytes();
            config.secret_is_default = false;
        }
        if let Some(v) = get(env::JWT_LEEWAY_S) {
            let secs: u64 = parse(env::JWT_LEEWAY_S, &v)?;
            if secs > MAX_LEEWAY_S {
                return Err(invalid(
                    env::JWT_LEEWAY_S,
                    &v,
                    "more than a day; seconds expected",
                ));
            }
            config.leeway = Duration::from_secs(secs);
        }
        if let Some(v) = get(env::EDGE_WORKERS) {
            config.workers = parse(env::EDGE_WORKERS, &v)?;
            if !(1..=4096).contains(&config.workers) {
                return Err(invalid(env::EDGE_WORKERS, &v, "expected 1–4096"));
            }
        }
        if let Some(v) = get(env::EDGE_RUNTIME) {
            config.runtime = parse(env::EDGE_RUNTIME, &v)?;
        }
        if let Some(v) = get(env::EDGE_MAX_CONNECTIONS) {
            let cap: usize = parse(env::EDGE_MAX_CONNECTIONS, &v)?;
            if cap == 0 {
                return Err(invalid(env::EDGE_MAX_CONNECTIONS, &v, "must be at least 1"));
            }
            config.max_connections = Some(cap);
        }
        if let Some(v) = get(env::EDGE_SECRET) {
            config.edge_secret = Some(
                server::edge_proof::EdgeSecret::new(&v)
                    .map_err(|reason| invalid(env::EDGE_SECRET, "(hidden)", reason))?,
            );
        }
        if let Some(v) = get(env::EDGE_ADMIN_LISTEN) {
            config.admin_listen = match v.trim() {
                "off" => None,
                addr => Some(parse(env::EDGE_ADMIN_LISTEN, addr)?),
            };
        }
        Ok(config)
    }

    pub fn verifier(&self) -> jwt::Verifier {
        jwt::Verifier::new(&self.secret).with_leeway(self.leeway)
    }
}

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::invalid(var, value, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_httparena() {
        let config = lookup(&[]).unwrap();
        assert_eq!(config.listen.port(), 8443);
        assert_eq!(config.mode, Mode::Proxy);
        assert_eq!(config.upstream, "127.0.0.1:8080");
        assert!(config.secret_is_default);
        assert_eq!(config.static_dir, PathBuf::from("/data/static"));
        assert_eq!(config.admin_listen.map(|a| a.port()), Some(9092));
    }

    #[test]
    fn values_are_read_and_mistakes_named() {
        let config = lookup(&[
            (env::EDGE_MODE, "fused"),
            (env::JWT_SECRET, "s3cret"),
            (env::EDGE_WORKERS, "3"),
            (env::EDGE_RUNTIME, "multi-thread"),
            (env::EDGE_ADMIN_LISTEN, "off"),
        ])
        .unwrap();
        assert_eq!(config.mode, Mode::Fused);
        assert_eq!(config.secret, b"s3cret");
        assert_eq!(config.workers, 3);
        assert_eq!(config.runtime, RuntimeLayout::MultiThread);
        assert_eq!(config.admin_listen, None);

        for (var, value) in [
            (env::EDGE_MODE, "sideways"),
            (env::EDGE_LISTEN, "8443"),
            (env::EDGE_UPSTREAM, "server"),
            (env::EDGE_WORKERS, "0"),
            (env::EDGE_MAX_CONNECTIONS, "0"),
            (env::EDGE_UPSTREAM_CONNECTIONS, "0"),
            (env::JWT_LEEWAY_S, "100000"),
            (env::EDGE_RUNTIME, "fast"),
        ] {
            let err = lookup(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }
}
