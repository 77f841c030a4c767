//! The two configurations of the same four-service stack, named as HttpArena names its
//! categories: `production` keeps the reference settings, `tuned` changes documented knobs
//! (nginx, Redis threads, pools). Every knob that differs is listed where it is set (the nginx
//! template's header comment, [`crate::supervise`] for Redis) and in `docs/`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::service::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// HttpArena's reference settings (what its Production category runs).
    #[default]
    Production,
    /// Same shape, documented tuning of the edge, cache and pools.
    Tuned,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Production, Profile::Tuned];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Production => "production",
            Profile::Tuned => "tuned",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Profile::Production),
            "tuned" => Ok(Profile::Tuned),
            other => Err(format!(
                "unknown profile `{other}` (expected `production` or `tuned`)"
            )),
        }
    }
}

/// What serves the edge port, and so which services a stack runs.
///
/// `nginx` is the Production/Tuned shape (five services). The two `rust-*` kinds are the
/// Engine category's: our own edge binary (`crates/edge`) verifies JWTs in-process, so there
/// is no authsvc; `rust-fused` also runs the app server inside the edge process (its plain
/// listener and `/metrics` keep their ports), so there is no separate server either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    #[default]
    Nginx,
    RustProxy,
    RustFused,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 3] = [EdgeKind::Nginx, EdgeKind::RustProxy, EdgeKind::RustFused];

    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Nginx => "nginx",
            EdgeKind::RustProxy => "rust-proxy",
            EdgeKind::RustFused => "rust-fused",
        }
    }

    /// The services of a stack with this edge, in start order.
    pub fn services(self) -> &'static [Service] {
        match self {
            EdgeKind::Nginx => &Service::ALL,
            EdgeKind::RustProxy => &[
                Service::Postgres,
                Service::Cache,
                Service::SERVER,
                Service::Edge,
            ],
            EdgeKind::RustFused => &[Service::Postgres, Service::Cache, Service::Edge],
        }
    }

    /// The services of a stack with this edge and `servers` app-server instances (at least
    /// one where the edge kind has a server process), in start order.
    pub fn services_with(self, servers: u8) -> Vec<Service> {
        self.services()
            .iter()
            .flat_map(|&service| match service {
                Service::Server(_) => (0..servers.max(1)).map(Service::Server).collect(),
                other => vec![other],
            })
            .collect()
    }

    pub fn is_rust(self) -> bool {
        self != EdgeKind::Nginx
    }
}

impl fmt::Display for EdgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EdgeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EdgeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown edge `{s}` (expected `nginx`, `rust-proxy` or `rust-fused`)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_kinds_parse_and_list_their_services() {
        for kind in EdgeKind::ALL {
            assert_eq!(kind.as_str().parse::<EdgeKind>().unwrap(), kind);
            assert_eq!(kind.services().first(), Some(&Service::Postgres));
            assert_eq!(kind.services().last(), Some(&Service::Edge));
        }
        assert!(!EdgeKind::RustProxy.services().contains(&Service::Authsvc));
        assert!(!EdgeKind::RustFused.services().contains(&Service::SERVER));
        assert_eq!(
            EdgeKind::Nginx.services_with(3),
            [
                Service::Postgres,
                Service::Cache,
                Service::Authsvc,
                Service::Server(0),
                Service::Server(1),
                Service::Server(2),
                Service::Edge
            ]
        );
        assert_eq!(EdgeKind::RustFused.services_with(3).len(), 3);
        assert!("rust".parse::<EdgeKind>().is_err());
    }

    #[test]
    fn parses_and_prints_both_profiles() {
        for profile in Profile::ALL {
            assert_eq!(profile.as_str().parse::<Profile>().unwrap(), profile);
        }
        let err = "Tuned".parse::<Profile>().unwrap_err();
        assert!(err.contains("unknown profile `Tuned`"), "{err}");
    }
}
