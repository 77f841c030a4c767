//! Configuration from the environment, with HttpArena's variable names.
//!
//! | variable          | default                                          | meaning                          |
//! |-------------------|--------------------------------------------------|----------------------------------|
//! | `JWT_SECRET`      | `httparena-bench-secret-do-not-use-in-production` | HMAC-SHA256 key (warned loudly)  |
//! | `AUTHSVC_LISTEN`  | `127.0.0.1:9090`                                 | listen address (loopback: the edge runs beside it) |
//! | `AUTHSVC_WORKERS` | CPUs available to the process                    | worker threads                   |
//! | `JWT_LEEWAY_S`    | `0`                                              | clock skew allowed on `exp`/`nbf` |
//! | `AUTHSVC_RUNTIME` | `per-core`                                       | `per-core` or `multi-thread` (see [`RuntimeLayout`]) |
//! | `AUTHSVC_HEADER_TIMEOUT_S` | `330`                                   | max wait for a request head, idle keep-alive included; `0` = none |
//!
//! Every value is validated up front: a typo must stop the process at startup with a message
//! naming the variable, not surface later as every request answering 401.

use contract::env;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use rt::RuntimeLayout;

/// Loopback: the edge that asks is on the same host, and an auth oracle has no business on
/// the network (HttpArena's shared sidecar, a different binary, listens on 0.0.0.0).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9090";
/// A leeway beyond a day is almost certainly a unit mistake (milliseconds for seconds).
pub const MAX_LEEWAY_S: u64 = 86_400;
/// More workers than this is a typo, not a machine.
pub const MAX_WORKERS: usize = 4096;

/// How long shutdown waits for in-flight requests before dropping what is left.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Default for `AUTHSVC_HEADER_TIMEOUT_S`. hyper's header-read timeout also runs while a
/// keep-alive connection sits idle between requests, so it doubles as the idle timeout. It
/// is longer than the reference nginx upstream `keepalive_timeout` (300 s) on purpose: nginx
/// must be the side that closes idle pooled connections, otherwise it can send a request just
/// as we close, and an `auth_request` that fails that way becomes a 500 for the client.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(330);
/// A longer header timeout than this is a unit mistake.
pub const MAX_HEADER_TIMEOUT_S: u64 = 86_400;

pub use rt::ConfigError;

/// The HMAC key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub secret: Secret,
    /// True when `JWT_SECRET` was unset and the public benchmark secret is in use.
    pub secret_is_default: bool,
    pub listen: SocketAddr,
    pub workers: NonZeroUsize,
    pub leeway: Duration,
    pub runtime: RuntimeLayout,
    /// Longest wait for a complete request head (idle keep-alive time included); `None` waits
    /// forever, like the upstream sidecar.
    pub header_timeout: Option<Duration>,
    pub shutdown_grace: Duration,
}

impl Config {
    /// Defaults with the given secret and listen address (what tests start from).
    pub fn new(secret: impl Into<Vec<u8>>, listen: SocketAddr) -> Self {
        Self {
            secret: Secret::new(secret),
            secret_is_default: false,
            listen,
            workers: available_cpus(),
            leeway: Duration::ZERO,
            runtime: RuntimeLayout::PerCore,
            header_timeout: Some(DEFAULT_HEADER_TIMEOUT),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads configuration through `lookup` (a stand-in for the environment in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| -> Result<Option<String>, ConfigError> {
            lookup(var)
                .map(|value| {
                    value.into_string().map_err(|_| {
                        ConfigError::invalid(var, "(not UTF-8)", "must be valid UTF-8")
                    })
                })
                .transpose()
        };
        let invalid =
            |var: &'static str, value: &str, reason: &str| ConfigError::invalid(var, value, reason);

        let (secret, secret_is_default) = match get(env::JWT_SECRET)? {
            // HttpArena's benchmark secret, as the upstream sidecar does.
            None => (contract::BENCH_SECRET.to_owned(), true),
            Some(secret) if secret.is_empty() => {
                // Logged without the value: it is a secret even when it is wrong.
                return Err(ConfigError::invalid(
                    env::JWT_SECRET,
                    "",
                    "an empty HMAC key would accept tokens anyone can mint; unset it to use \
                     the benchmark default",
                ));
            }
            Some(secret) => (secret, false),
        };

        let listen_text = get(env::AUTHSVC_LISTEN)?.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.trim().parse::<SocketAddr>().map_err(|_| {
            invalid(
                env::AUTHSVC_LISTEN,
                &listen_text,
                "expected IP:PORT, e.g. 0.0.0.0:9090",
            )
        })?;

        let workers = match get(env::AUTHSVC_WORKERS)? {
            None => available_cpus(),
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_WORKERS).contains(&n) => NonZeroUsize::new(n)
                    .ok_or_else(|| invalid(env::AUTHSVC_WORKERS, &text, "must be at least 1"))?,
                _ => {
                    return Err(invalid(
                        env::AUTHSVC_WORKERS,
                        &text,
                        &format!("expected a whole number from 1 to {MAX_WORKERS}"),
                    ))
                }
            },
        };

        let leeway = match get(env::JWT_LEEWAY_S)? {
            None => Duration::ZERO,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(secs) if secs <= MAX_LEEWAY_S => Duration::from_secs(secs),
                _ => {
                    return Err(invalid(
                        env::JWT_LEEWAY_S,
                        &text,
                        &format!("expected whole seconds from 0 to {MAX_LEEWAY_S}"),
                    ))
                }
            },
        };

        let runtime = match get(env::AUTHSVC_RUNTIME)? {
            None => RuntimeLayout::PerCore,
            Some(text) => text
                .trim()
                .parse()
                .map_err(|reason: String| invalid(env::AUTHSVC_RUNTIME, &text, &reason))?,
        };

        let header_timeout = match get(env::AUTHSVC_HEADER_TIMEOUT_S)? {
            None => Some(DEFAULT_HEADER_TIMEOUT),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(secs) if secs <= MAX_HEADER_TIMEOUT_S => Some(Duration::from_secs(secs)),
                _ => {
                    return Err(invalid(
                        env::AUTHSVC_HEADER_TIMEOUT_S,
                        &text,
                        &format!(
                            "expected whole seconds from 0 (no timeout) to {MAX_HEADER_TIMEOUT_S}"
                        ),
                    ))
                }
            },
        };

        Ok(Self {
            secret: Secret::new(secret),
            secret_is_default,
            listen,
            workers,
            leeway,
            runtime,
            header_timeout,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        })
    }

    /// The verifier this configuration describes.
    pub fn verifier(&self) -> jwt::Verifier {
        jwt::Verifier::new(self.secret.as_bytes()).with_leeway(self.leeway)
    }
}

pub use rt::layout::available_cpus;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_match_httparena() {
        let config = config(&[]).unwrap();
        assert_eq!(config.secret.as_bytes(), contract::BENCH_SECRET.as_bytes());
        assert!(config.secret_is_default);
        assert_eq!(config.listen, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(config.workers, available_cpus());
        assert_eq!(config.leeway, Duration::ZERO);
        assert_eq!(config.runtime, RuntimeLayout::PerCore);
        assert_eq!(config.header_timeout, Some(DEFAULT_HEADER_TIMEOUT));
    }

    #[test]
    fn reads_every_variable() {
        let config = config(&[
            (env::JWT_SECRET, "s3cret"),
            (env::AUTHSVC_LISTEN, "127.0.0.1:19090"),
            (env::AUTHSVC_WORKERS, "3"),
            (env::JWT_LEEWAY_S, "30"),
            (env::AUTHSVC_RUNTIME, "multi-thread"),
            (env::AUTHSVC_HEADER_TIMEOUT_S, "60"),
        ])
        .unwrap();
        assert_eq!(config.secret.as_bytes(), b"s3cret");
        assert!(!config.secret_is_default);
        assert_eq!(config.listen, "127.0.0.1:19090".parse().unwrap());
        assert_eq!(config.workers.get(), 3);
        assert_eq!(config.leeway, Duration::from_secs(30));
        assert_eq!(config.verifier().leeway(), Duration::from_secs(30));
        assert_eq!(config.runtime, RuntimeLayout::MultiThread);
        assert_eq!(config.header_timeout, Some(Duration::from_secs(60)));
        let no_timeout = self::config(&[(env::AUTHSVC_HEADER_TIMEOUT_S, "0")]).unwrap();
        assert_eq!(no_timeout.header_timeout, None);
    }

    #[test]
    fn rejects_invalid_values_naming_the_variable() {
        let cases: [(&str, &str); 12] = [
            (env::JWT_SECRET, ""),
            (env::AUTHSVC_LISTEN, "9090"),
            (env::AUTHSVC_LISTEN, "localhost:9090"),
            (env::AUTHSVC_WORKERS, "0"),
            (env::AUTHSVC_WORKERS, "-1"),
            (env::AUTHSVC_WORKERS, "many"),
            (env::JWT_LEEWAY_S, "1.5"),
            (env::JWT_LEEWAY_S, "-5"),
            (env::JWT_LEEWAY_S, "86401"),
            (env::AUTHSVC_RUNTIME, "fast"),
            (env::AUTHSVC_HEADER_TIMEOUT_S, "-1"),
            (env::AUTHSVC_HEADER_TIMEOUT_S, "86401"),
        ];
        for (var, value) in cases {
            let err = config(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{var}={value:?}: {err}");
        }
    }

    #[test]
    fn secret_is_never_printed() {
        let config = config(&[(env::JWT_SECRET, "hunter2-hunter2")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn rejects_non_unicode_values() {
        use std::os::unix::ffi::OsStringExt;
        let err = Config::from_lookup(|name| {
            (name == env::AUTHSVC_LISTEN).then(|| OsString::from_vec(vec![0xFF, b':', b'1']))
        })
        .unwrap_err();
        assert_eq!(err.var, env::AUTHSVC_LISTEN);
        assert_eq!(err.reason, "must be valid UTF-8");
    }
}
