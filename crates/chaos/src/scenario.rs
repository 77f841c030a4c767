//! The scenarios: which fault each injects, and what the stack must do meanwhile. The
//! expectations are data ([`Expectation`]) so the checks in [`crate::verdict`] read them the
//! same way for every scenario.
//!
//! Why each expectation holds, and the timeout that bounds each hang:
//! - **Redis** is an optional L2: every command has a timeout (GET 100 ms, DEL/SET 500 ms,
//!   connect 500 ms), a failure counts as a miss, and the L1 and Postgres answer. Nothing a
//!   client sees changes: 0 non-2xx.
//! - **Postgres** down: reads that miss L1 and Redis, and writes, answer `503` JSON with
//!   `Retry-After: 1`; a frozen Postgres holds a query at most the server's 5 s query timeout
//!   (the freeze lasts 3 s, so they wait and succeed). L1 hits keep answering 200.
//! - **authsvc** down: nginx's auth sub-request fails and `/api/*` answers `503` JSON with
//!   `Retry-After`; `/public/*` and `/static/*` never ask authsvc.
//! - **server** down: nginx answers `/public/*` and `/api/*` with its own JSON 502/503;
//!   `/static/*` is served from disk.
//! - **edge reload**: nginx starts new workers and lets the old ones finish what they hold:
//!   no request fails.
//! - **hostile clients** (idle TLS connections, slowloris heads, HTTP/2 streams never read;
//!   [`crate::crowd`]): the edge holds them with bounded memory while it goes on serving the
//!   load: no error, legitimate throughput while they are held ≥ 80 % of before, no service
//!   restarted. The edges' own timeouts (nginx `client_header_timeout`, the Rust edge's
//!   handshake and idle timeouts) end such clients in time; the crowd lets go first.
//! - **Redis partition** (a stack of two server instances, the second in its own network
//!   namespace): the isolated instance's Redis link goes down, both directions, while the
//!   edge and Postgres still reach it. Its Redis commands time out as in a Redis freeze (no
//!   client sees it), but the other instance keeps using Redis, and the isolated one hears
//!   none of its invalidations. Reads may then be **stale, by at most the item TTL** (1 s, the
//!   server's default `ITEM_TTL_MS`): no cache tier serves a value longer than the TTL after
//!   it was read from Postgres (an L1 fill from Redis keeps Redis's remaining TTL), and a
//!   value read before a write's commit is gone a TTL later. Once the link is back, the
//!   backplane delivers invalidations again: no stale read at all from a second after.

use serde::Serialize;
use stack::Service;

/// How long each fault lasts before it is lifted (the "restarted 3 s later").
pub const FAULT_S: f64 = 3.0;

/// One fault, injected under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    RedisKill,
    RedisFreeze,
    PostgresStop,
    PostgresFreeze,
    AuthsvcKill,
    ServerKill,
    EdgeReload,
    HostileClients,
    RedisPartition,
}

/// The server's item TTL under `prodstack up` (its `ITEM_TTL_MS` default, 1000 ms): the
/// bound on a stale read when invalidations cannot reach an instance.
pub const ITEM_TTL_S: f64 = 1.0;

/// How long after the Redis link is back the partition scenario allows for the backplane to
/// deliver what waited (its reconnect backoff tops out at 1 s).
pub const HEAL_S: f64 = 1.0;

/// What a fault does to its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL; the stack's supervisor starts it again [`FAULT_S`] later.
    Kill,
    /// Postgres' fast shutdown (SIGINT, waited for); the supervisor starts it again
    /// [`FAULT_S`] after it saw the postmaster gone.
    FastStop,
    /// SIGSTOP to every process of the service, SIGCONT [`FAULT_S`] later: a hang, not a
    /// refusal.
    Freeze,
    /// The edge's reload: SIGHUP to nginx's master (`nginx -s reload`), or to the Rust edge
    /// (its certificate and key read again).
    Reload,
    /// The isolated server instance's Redis link set down, up again [`FAULT_S`] later.
    Partition,
    /// A crowd of hostile clients on the edge ([`crate::crowd`]), held [`FAULT_S`] once open.
    Crowd,
}

/// What the stack must show while `Scenario`'s fault lasts and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    /// Statuses other than 2xx that may be answered (h2load's and the ledger's requests).
    pub allowed_errors: &'static [u16],
    /// Every `503` carries `Retry-After`.
    pub retry_after: bool,
    /// `/public/*` keeps answering 200 (the fault is confined to `/api/*`).
    pub public_unaffected: bool,
    /// `/static/*` keeps answering 200.
    pub static_unaffected: bool,
    /// An L1-hot id keeps answering 200 while the fault lasts.
    pub l1_hits_answer: bool,
    /// Seconds after the service is back by which throughput is ≥ 90 % of the pre-fault rate.
    pub recovery_bound_s: f64,
    /// How long after the 204 it missed a stale read may have started (0: no stale read).
    pub stale_bound_s: f64,
    /// The least share of the pre-fault 2xx rate the load must keep while the fault lasts
    /// (0: not asserted).
    pub throughput_floor: f64,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::RedisKill,
        Scenario::RedisFreeze,
        Scenario::PostgresStop,
        Scenario::PostgresFreeze,
        Scenario::AuthsvcKill,
        Scenario::ServerKill,
        Scenario::EdgeReload,
        Scenario::HostileClients,
        Scenario::RedisPartition,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::RedisKill => "redis-kill",
            Scenario::RedisFreeze => "redis-freeze",
            Scenario::PostgresStop => "postgres-stop",
            Scenario::PostgresFreeze => "postgres-freeze",
            Scenario::AuthsvcKill => "authsvc-kill",
            Scenario::ServerKill => "server-kill",
            Scenario::EdgeReload => "edge-reload",
            Scenario::HostileClients => "hostile-clients",
            Scenario::RedisPartition => "redis-partition",
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown scenario `{name}` (expected one of {})",
                    Self::ALL.map(Scenario::name).join(", ")
                )
            })
    }

    pub fn service(self) -> Service {
        match self {
            Scenario::RedisKill | Scenario::RedisFreeze => Service::Cache,
            Scenario::PostgresStop | Scenario::PostgresFreeze => Service::Postgres,
            Scenario::AuthsvcKill => Service::Authsvc,
            Scenario::ServerKill => Service::SERVER,
            Scenario::EdgeReload | Scenario::HostileClients => Service::Edge,
            // The isolated instance: the last of the stack's, at least the second
            // (`fault::inject` reads which from the state file).
            Scenario::RedisPartition => Service::Server(1),
        }
    }

    /// Seconds the scenario's load runs beyond `--window`: the hostile crowd's thousands of
    /// full TLS handshakes take the edge many seconds while it also serves the load (11.5 s
    /// for 5,550 clients through nginx on a 2-CPU machine), and its hold and the recovery
    /// after must still fall inside the load: 30 s per 5,000 idle clients, at least 5 s.
    pub fn extra_window_s(self, crowd: &crate::crowd::CrowdPlan) -> u32 {
        match self {
            Scenario::HostileClients => (crowd.idle as u64 * 30).div_ceil(5000).max(5) as u32,
            _ => 0,
        }
    }

    /// Whether the scenario needs a stack with an isolated server instance (`up --servers 2
    /// --isolate-server`).
    pub fn needs_isolated_server(self) -> bool {
        self == Scenario::RedisPartition
    }

    pub fn fault(self) -> Fault {
        match self {
            Scenario::RedisKill | Scenario::AuthsvcKill | Scenario::ServerKill => Fault::Kill,
            Scenario::PostgresStop => Fault::FastStop,
            Scenario::RedisFreeze | Scenario::PostgresFreeze => Fault::Freeze,
            Scenario::EdgeReload => Fault::Reload,
            Scenario::RedisPartition => Fault::Partition,
            Scenario::HostileClients => Fault::Crowd,
        }
    }

    /// One line for the reports.
    pub fn describe(self) -> String {
        let service = self.service();
        match self.fault() {
            Fault::Kill => {
                format!("{service} SIGKILLed, restarted by the supervisor {FAULT_S} s later")
            }
            Fault::FastStop => {
                format!("{service} fast-stopped (SIGINT), restarted by the supervisor {FAULT_S} s later")
            }
            Fault::Freeze => format!("{service} frozen (SIGSTOP {FAULT_S} s, then SIGCONT)"),
            Fault::Reload => "the edge reloaded under load (SIGHUP: nginx -s reload; the Rust edge reloads its certificate)".into(),
            Fault::Crowd => format!("hostile clients on the edge (idle TLS connections, slowloris heads, HTTP/2 streams never read), held {FAULT_S} s once open"),
            Fault::Partition => format!("the last server instance, in its own network namespace, cut off from Redis for {FAULT_S} s (its veth link down) while the others keep Redis; all take reads and writes"),
        }
    }

    pub fn expectation(self) -> Expectation {
        let none = Expectation {
            allowed_errors: &[],
            retry_after: false,
            public_unaffected: true,
            static_unaffected: true,
            l1_hits_answer: false,
            recovery_bound_s: 2.0,
            stale_bound_s: 0.0,
            throughput_floor: 0.0,
        };
        match self {
            Scenario::RedisKill | Scenario::RedisFreeze | Scenario::EdgeReload => none,
            Scenario::RedisPartition => Expectation {
                stale_bound_s: ITEM_TTL_S,
                ..none
            },
            Scenario::HostileClients => Expectation {
                throughput_floor: 0.8,
                ..none
            },
            Scenario::PostgresStop | Scenario::PostgresFreeze => Expectation {
                allowed_errors: &[503],
                retry_after: true,
                l1_hits_answer: true,
                ..none
            },
            Scenario::AuthsvcKill => Expectation {
                allowed_errors: &[503],
                retry_after: true,
                ..none
            },
            Scenario::ServerKill => Expectation {
                allowed_errors: &[502, 503],
                public_unaffected: false,
                ..none
            },
        }
    }

    /// Whether h2load runs HTTP/1.1 in this scenario (see [`bench::h2load::Invocation::h1`]).
    pub fn h1_load(self) -> bool {
        self == Scenario::EdgeReload
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_parses_back_from_its_name() {
        for scenario in Scenario::ALL {
            assert_eq!(Scenario::parse(scenario.name()), Ok(scenario));
        }
        let err = Scenario::parse("disk-full").unwrap_err();
        assert!(
            err.contains("redis-kill") && err.contains("edge-reload"),
            "{err}"
        );
    }

    #[test]
    fn only_redis_and_reload_allow_no_error_at_all() {
        for scenario in Scenario::ALL {
            let allowed = scenario.expectation().allowed_errors;
            match scenario.service() {
                Service::Cache | Service::Edge => assert!(allowed.is_empty(), "{scenario}"),
                _ if scenario == Scenario::RedisPartition => {
                    assert!(allowed.is_empty());
                    assert_eq!(scenario.expectation().stale_bound_s, ITEM_TTL_S);
                }
                _ => assert!(!allowed.is_empty(), "{scenario}"),
            }
            if scenario != Scenario::RedisPartition {
                assert_eq!(scenario.expectation().stale_bound_s, 0.0, "{scenario}");
            }
        }
    }
}
