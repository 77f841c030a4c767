//! Loopback ports: finding free ones for tests, and checking the fixed ones `prodstack up`
//! wants before it starts anything.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::Mutex;

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

#[cfg(test)]
mod tests {
    use super::*;

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
