//! TCP listeners: non-blocking, `SO_REUSEADDR` (a restart right after a stop must not fail on
//! connections lingering in TIME_WAIT), a 4,096-deep accept backlog (a benchmark opens
//! thousands of connections at once), and optionally `SO_REUSEPORT` so that one listener per
//! worker shares an address and the kernel spreads connections over them.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// The accept backlog of every listener (the kernel caps it at `net.core.somaxconn`).
pub const BACKLOG: i32 = 4096;

/// One listener on `addr`, sharing it with other `SO_REUSEPORT` listeners when `reuse_port`.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// `count` listeners sharing `addr` with `SO_REUSEPORT` (port 0: one port picked for all).
///
/// `SO_REUSEPORT` would also let this process silently share a port with a stale instance of
/// itself (same user), splitting traffic between old and new code. So the address is first
/// claimed with a plain socket, which fails loudly if anything listens there; that socket is
/// then replaced by the group.
pub fn bind_group(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    let probe = bind(addr, false)?;
    let addr = probe.local_addr()?;
    drop(probe);
    (0..count.max(1)).map(|_| bind(addr, true)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shares_one_port_and_refuses_a_taken_one() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = group[0].local_addr().unwrap().port();
        assert_eq!(group.len(), 3);
        assert!(group.iter().all(|l| l.local_addr().unwrap().port() == port));
        // Even a reuse-port group may not join a port someone already listens on.
        let taken = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(bind_group(taken, 2).is_err());
    }
}
