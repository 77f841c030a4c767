//! The network namespace of an isolated app-server instance (`up --servers N
//! --isolate-server`): the last instance runs in its own `ip netns`, joined to this host by
//! two veth pairs, so one of its dependencies can be cut while everything else keeps flowing.
//!
//! - the **serve** link carries the edge's requests to the instance and the instance's
//!   Postgres connections (Postgres also listens on the link's host address);
//! - the **redis** link carries its Redis connections only (Redis also listens on that
//!   link's host address).
//!
//! [`Isolation::cut_redis`] sets the host end of the redis link down: both directions stop
//! at once (the host loses its route, the namespace end loses its carrier), established
//! connections hang until the server's Redis timeouts give up, new ones get no ARP answer
//! (the kernel says "no route to host" after about 3 s, past the server's 0.5–1 s connect
//! timeouts), and the serve link is untouched. [`Isolation::restore_redis`] brings it back, and
//! so does [`Isolation::ensure`] (every `up`, the supervisor's restarts included).
//!
//! Under the tuned profile nginx reaches every instance over its Unix socket, which no network
//! namespace separates: the serve link then carries only the instance's Postgres connections.
//!
//! Names and addresses derive from the stack's edge port, so stacks on other ports (parallel
//! tests) get namespaces of their own: `prodstack-<port>`, links `ps<port>s`/`ps<port>r` on the
//! host and `ps<port>sn`/`ps<port>rn` in the namespace, addresses in `10.B.C.0/29` with
//! `B.C` taken from the port. Creating them needs root (CAP_NET_ADMIN) and iproute2's `ip`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::process;

/// Where `ip netns add` puts the namespace's handle.
const NETNS_DIR: &str = "/run/netns";

/// One veth pair between this host and the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The interface that stays on the host.
    pub host_if: String,
    /// Its peer, moved into the namespace.
    pub ns_if: String,
    pub host_ip: Ipv4Addr,
    pub ns_ip: Ipv4Addr,
}

/// The namespace of the isolated instance and its two links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// The `ip netns` name.
    pub netns: String,
    /// The app-server instance that runs inside (the last one).
    pub instance: u8,
    /// Edge and Postgres traffic.
    pub serve: Link,
    /// Redis traffic only.
    pub redis: Link,
}

impl Isolation {
    /// The isolation of instance `instance` of the stack whose edge listens on `edge_port`.
    pub fn for_stack(edge_port: u16, instance: u8) -> Self {
        let [high, low] = edge_port.to_be_bytes();
        let net = |host: u8| Ipv4Addr::new(10, 64 + high % 128, low, host);
        let link = |kind: &str, host: u8| Link {
            host_if: format!("ps{edge_port}{kind}"),
            ns_if: format!("ps{edge_port}{kind}n"),
            host_ip: net(host),
            ns_ip: net(host + 1),
        };
        Self {
            netns: format!("prodstack-{edge_port}"),
            instance,
            serve: link("s", 1),
            redis: link("r", 5),
        }
    }

    /// The `/29` both links live in (for Postgres' `pg_hba.conf`).
    pub fn subnet(&self) -> String {
        let [a, b, c, _] = self.serve.host_ip.octets();
        format!("{a}.{b}.{c}.0/29")
    }

    /// The namespace's handle, which a process joins with `setns(2)`.
    pub fn handle(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.netns)
    }

    /// Creates the namespace and both links, up, unless they exist already (then a cut Redis
    /// link is brought back up); a half-made set from an earlier run is removed and made again.
    pub fn ensure(&self) -> Result<()> {
        if self.is_whole() {
            return self.restore_redis();
        }
        self.remove()?;
        let ns = self.netns.as_str();
        ip(&["netns", "add", ns])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        for link in [&self.serve, &self.redis] {
            ip(&[
                "link",
                "add",
                &link.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &link.ns_if,
            ])?;
            ip(&["link", "set", &link.ns_if, "netns", ns])?;
            ip(&[
                "addr",
                "add",
                &format!("{}/30", link.host_ip),
                "dev",
                &link.host_if,
            ])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/30", link.ns_ip),
                "dev",
                &link.ns_if,
            ])?;
            ip(&["link", "set", &link.host_if, "up"])?;
            ip(&["-n", ns, "link", "set", &link.ns_if, "up"])?;
        }
        Ok(())
    }

    /// Whether the namespace and both host ends exist.
    fn is_whole(&self) -> bool {
        self.handle().exists()
            && [&self.serve, &self.redis]
                .iter()
                .all(|l| ip(&["link", "show", &l.host_if]).is_ok())
    }

    /// Deletes the namespace (its veth ends and their host peers go with it) and any host end
    /// left behind. Nothing there is not an error.
    pub fn remove(&self) -> Result<()> {
        if self.handle().exists() {
            ip(&["netns", "del", &self.netns])?;
        }
        for link in [&self.serve, &self.redis] {
            if ip(&["link", "show", &link.host_if]).is_ok() {
                // Deleting the namespace destroys its veths, and their host peers, a moment
                // later: gone meanwhile (whatever `ip` said) is what was wanted.
                if let Err(err) = ip(&["link", "del", &link.host_if]) {
                    if ip(&["link", "show", &link.host_if]).is_ok() {
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    /// Cuts the instance off from Redis (see the module docs).
    pub fn cut_redis(&self) -> Result<()> {
        ip(&["link", "set", &self.redis.host_if, "down"]).map(|_| ())
    }

    /// Brings the Redis link back.
    pub fn restore_redis(&self) -> Result<()> {
        ip(&["link", "set", &self.redis.host_if, "up"]).map(|_| ())
    }

    /// Whether the Redis link is up on the host (`None`: no such link, or `ip` failed).
    pub fn redis_is_up(&self) -> Option<bool> {
        ip(&["-o", "link", "show", &self.redis.host_if])
            .ok()
            .map(|out| out.contains("state UP") || out.contains(",UP"))
    }

    /// Makes `cmd`'s process join the namespace before it runs (`setns(2)` between fork and
    /// exec), so the recorded process is the program itself, not a wrapper.
    pub fn enter_in_child(&self, cmd: &mut Command) -> Result<()> {
        use std::os::fd::AsRawFd as _;
        use std::os::unix::process::CommandExt as _;
        let handle = std::fs::File::open(self.handle()).map_err(|source| Error::Io {
            what: format!("opening {}", self.handle().display()),
            source,
        })?;
        // SAFETY: the closure only calls `setns`, which is async-signal-safe, on a descriptor
        // the closure owns; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Ok(())
    }
}

/// Capability bits `ip netns add` and the veth set-up need (`capabilities(7)`).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// Why an isolated instance cannot run here, if it cannot: it needs root with CAP_NET_ADMIN
/// and CAP_SYS_ADMIN (a default container's root lacks them) and iproute2's `ip`.
pub fn unavailable() -> Option<String> {
    if !process::is_root() {
        return Some("network namespaces need root (CAP_NET_ADMIN and CAP_SYS_ADMIN)".into());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    match effective {
        Some(caps) if has_capabilities(caps) => {}
        _ => {
            return Some(
                "this root lacks CAP_NET_ADMIN or CAP_SYS_ADMIN (a container without them cannot make network namespaces)"
                    .into(),
            )
        }
    }
    if process::find_on_path("ip").is_none() && !std::path::Path::new("/usr/sbin/ip").exists() {
        return Some("iproute2's `ip` is not installed (apt-get install iproute2)".into());
    }
    None
}

/// Whether a `CapEff` mask holds both capabilities namespaces need.
fn has_capabilities(caps: u64) -> bool {
    [CAP_NET_ADMIN, CAP_SYS_ADMIN]
        .iter()
        .all(|bit| caps & (1 << bit) != 0)
}

/// Runs `ip ARGS`; its stdout, or an error with its stderr.
fn ip(args: &[&str]) -> Result<String> {
    let program = process::find_on_path("ip").unwrap_or_else(|| PathBuf::from("/usr/sbin/ip"));
    let out = Command::new(&program)
        .args(args)
        .output()
        .map_err(|source| Error::Io {
            what: format!("running ip {}", args.join(" ")),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Invalid(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_capabilities_are_needed() {
        assert!(has_capabilities(0x000001ffffffffff));
        assert!(!has_capabilities(1 << CAP_NET_ADMIN));
        assert!(!has_capabilities(1 << CAP_SYS_ADMIN));
        assert!(has_capabilities(
            (1 << CAP_NET_ADMIN) | (1 << CAP_SYS_ADMIN)
        ));
    }

    #[test]
    fn names_and_addresses_follow_the_edge_port() {
        let iso = Isolation::for_stack(8443, 1);
        assert_eq!(iso.netns, "prodstack-8443");
        assert_eq!(iso.serve.host_if, "ps8443s");
        assert_eq!(iso.redis.ns_if, "ps8443rn");
        // 8443 = 0x20FB: 10.(64+32).251.x
        assert_eq!(iso.serve.host_ip, Ipv4Addr::new(10, 96, 251, 1));
        assert_eq!(iso.serve.ns_ip, Ipv4Addr::new(10, 96, 251, 2));
        assert_eq!(iso.redis.host_ip, Ipv4Addr::new(10, 96, 251, 5));
        assert_eq!(iso.redis.ns_ip, Ipv4Addr::new(10, 96, 251, 6));
        assert_eq!(iso.subnet(), "10.96.251.0/29");
        // Interface names fit Linux's 15 bytes for any port.
        let widest = Isolation::for_stack(65535, 7);
        assert!(widest.redis.ns_if.len() <= 15, "{}", widest.redis.ns_if);
        assert_ne!(
            Isolation::for_stack(8444, 1).serve.host_ip,
            iso.serve.host_ip
        );
    }
}
