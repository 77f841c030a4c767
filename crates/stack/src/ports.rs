//! Loopback ports: finding free ones for tests, the fixed ones of `prodstack up` (HttpArena's,
//! optionally shifted by `--ports-offset`), and who holds a port that is taken.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Ports this process already handed out. The kernel may offer the same ephemeral port twice
/// once the probing listener is closed; remembering them keeps parallel tests apart.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback TCP port that nothing listens on right now and that this process has not handed
/// out before.
pub fn free_port() -> io::Result<u16> {
    for _ in 0..64 {
        let port = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "no free loopback port after 64 tries",
    ))
}

/// Whether a listener could bind `port` on every interface right now (what our services do).
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).is_ok()
}

/// The ports of one stack. The first five are HttpArena's; the two loopback-only monitoring
/// ports (the server's admin/metrics port and the edge's `stub_status`) have no HttpArena
/// counterpart and sit next to authsvc's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackPorts {
    pub edge: u16,
    pub authsvc: u16,
    pub cache: u16,
    pub server: u16,
    pub postgres: u16,
    pub admin: u16,
    /// nginx `stub_status` at `http://127.0.0.1:<port>/nginx_status`.
    pub edge_status: u16,
}

impl StackPorts {
    pub const DEFAULT: StackPorts = StackPorts {
        edge: contract::ports::EDGE,
        authsvc: contract::ports::AUTHSVC,
        cache: contract::ports::CACHE,
        server: contract::ports::SERVER,
        postgres: contract::ports::POSTGRES,
        admin: contract::ports::SERVER_ADMIN,
        edge_status: contract::ports::EDGE_ADMIN,
    };

    /// How far above the admin port the admin ports of server instances 2.. start (instance
    /// `i` ≥ 1 has `admin + ADMIN_INSTANCE_GAP + i`): 9192–9198, clear of the edge's 9092.
    const ADMIN_INSTANCE_GAP: u16 = 100;

    /// Every default port plus `offset` (`--ports-offset`), or an error naming the port that
    /// would pass 65535.
    pub fn with_offset(offset: u16) -> Result<Self, String> {
        // The highest port of all: the admin port of the last server instance.
        let highest = Self::DEFAULT
            .server_instance(crate::service::MAX_SERVERS - 1)
            .1;
        let shift = |port: u16| {
            port.checked_add(offset).ok_or_else(|| {
                format!(
                    "--ports-offset {offset} moves port {port} past 65535 (max offset {})",
                    u16::MAX - highest
                )
            })
        };
        shift(highest)?;
        let d = Self::DEFAULT;
        Ok(Self {
            edge: shift(d.edge)?,
            authsvc: shift(d.authsvc)?,
            cache: shift(d.cache)?,
            server: shift(d.server)?,
            postgres: shift(d.postgres)?,
            admin: shift(d.admin)?,
            edge_status: shift(d.edge_status)?,
        })
    }

    /// The (main, admin) ports of app-server instance `i` (0-based): the first has the
    /// server's and admin's ports, instance `i` the server's + `i` (8081–8087) and the
    /// admin's + 100 + `i` (9192–9198). `with_offset` keeps them below 65536.
    pub fn server_instance(&self, i: u8) -> (u16, u16) {
        if i == 0 {
            return (self.server, self.admin);
        }
        let i = u16::from(i);
        (
            self.server.saturating_add(i),
            self.admin
                .saturating_add(Self::ADMIN_INSTANCE_GAP)
                .saturating_add(i),
        )
    }

    /// `(service, port)` for every port, the server's and the edge's two included.
    pub fn all(&self) -> [(&'static str, u16); 7] {
        [
            ("postgres", self.postgres),
            ("cache", self.cache),
            ("authsvc", self.authsvc),
            ("server", self.server),
            ("server admin", self.admin),
            ("edge", self.edge),
            ("edge status", self.edge_status),
        ]
    }
}

/// A process that has a socket bound to a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    pub pid: u32,
    /// The command line (or the short command name when the command line is unreadable).
    pub command: String,
}

impl fmt::Display for PortHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.command)
    }
}

/// Who holds TCP `port`: the socket is looked up in `/proc/net/tcp{,6}` (listening sockets
/// first), then its inode among the open files of every process in `/proc/*/fd`. `None` when
/// no socket uses the port, or its owner is invisible to us (another user's process when not
/// root, another network namespace).
pub fn holder(port: u16) -> Option<PortHolder> {
    let inodes = socket_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let procs = std::fs::read_dir("/proc").ok()?;
    let mut best: Option<(usize, u32)> = None;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(rank) = wanted.iter().position(|w| *w == target) {
                // Lowest rank = a listening socket; among equals the lowest pid is the parent
                // (an nginx master rather than its workers, a postmaster rather than a backend).
                if best.is_none_or(|(r, p)| (rank, pid) < (r, p)) {
                    best = Some((rank, pid));
                }
            }
        }
    }
    best.map(|(_, pid)| PortHolder {
        pid,
        command: process_command(pid),
    })
}

/// Inodes of the sockets bound to local `port`, listening ones first.
fn socket_inodes(port: u16) -> Vec<u64> {
    let mut listening = Vec::new();
    let mut other = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 {
                continue;
            }
            let local_port = fields[1]
                .rsplit_once(':')
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
            let Ok(inode) = fields[9].parse::<u64>() else {
                continue;
            };
            if local_port != Some(port) || inode == 0 {
                continue;
            }
            // State 0A = TCP_LISTEN.
            if fields[3] == "0A" {
                listening.push(inode);
            } else {
                other.push(inode);
            }
        }
    }
    listening.extend(other);
    listening
}

/// `/proc/<pid>/cmdline` with spaces, or `comm` when that is empty (kernel threads, zombies).
pub fn process_command(pid: u32) -> String {
    let dir = Path::new("/proc").join(pid.to_string());
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    let text = cmdline
        .split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ");
    if !text.is_empty() {
        return text;
    }
    std::fs::read_to_string(dir.join("comm"))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|_| "unknown command".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_shift_every_port_and_refuse_overflow() {
        let ports = StackPorts::with_offset(100).unwrap();
        assert_eq!(ports.edge, 8543);
        assert_eq!(ports.postgres, 5532);
        assert_eq!(ports.admin, 9191);
        assert_eq!(ports.edge_status, 9192);
        let err = StackPorts::with_offset(60000).unwrap_err();
        assert!(err.contains("past 65535"), "{err}");
        // The last server instance's admin port is the highest port of all.
        let max = u16::MAX - 9198;
        assert!(StackPorts::with_offset(max).is_ok());
        let err = StackPorts::with_offset(max + 1).unwrap_err();
        assert!(err.contains(&format!("max offset {max}")), "{err}");
    }

    #[test]
    fn server_instances_have_ports_of_their_own() {
        let ports = StackPorts::DEFAULT;
        assert_eq!(ports.server_instance(0), (8080, 9091));
        assert_eq!(ports.server_instance(1), (8081, 9192));
        assert_eq!(ports.server_instance(7), (8087, 9198));
        let mut seen: Vec<u16> = ports.all().iter().map(|(_, p)| *p).collect();
        for i in 1..crate::service::MAX_SERVERS {
            let (main, admin) = ports.server_instance(i);
            seen.extend([main, admin]);
        }
        let count = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), count, "two services share a port");
    }

    #[test]
    fn holder_names_this_process_for_a_port_it_listens_on() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = holder(port).expect("our own listener is visible in /proc");
        assert_eq!(holder.pid, std::process::id());
        assert!(holder
            .to_string()
            .starts_with(&format!("pid {} (", std::process::id())));
        drop(listener);
        let free = free_port().unwrap();
        assert_eq!(super::holder(free), None);
    }

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let a = free_port().unwrap();
        let b = free_port().unwrap();
        assert_ne!(a, b);
        assert!(port_is_free(a));
        let _held = TcpListener::bind(("0.0.0.0", a)).unwrap();
        assert!(!port_is_free(a));
    }
}
