//! Listeners. TCP: non-blocking, `SO_REUSEADDR` (a restart right after a stop must not fail on
//! connections lingering in TIME_WAIT), a 4,096-deep accept backlog (a benchmark opens
//! thousands of connections at once), and optionally `SO_REUSEPORT` so that one listener per
//! worker shares an address and the kernel spreads connections over them.
//!
//! Unix domain sockets ([`bind_unix`]) for an edge on the same host: a socket file left by a
//! killed process is replaced, one a live process still listens on is refused, and the file is
//! readable and writable by everyone (nginx's workers run as another user; the folder holding
//! the socket is what restricts who reaches it).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

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

/// The longest Unix socket path the kernel takes (`sun_path` is 108 bytes with its NUL).
pub const MAX_UNIX_PATH: usize = 107;

/// Why `path` cannot name a Unix listener, if it cannot.
pub fn check_unix_path(path: &Path) -> Result<(), String> {
    let len = path.as_os_str().len();
    if len == 0 {
        return Err("the socket path is empty".into());
    }
    if len > MAX_UNIX_PATH {
        return Err(format!(
            "the socket path is {len} bytes; Unix sockets take at most {MAX_UNIX_PATH}"
        ));
    }
    Ok(())
}

/// The socket file of a [`bind_unix`] listener: dropping it removes the file, unless another
/// process has bound a new socket at the same path since (the inode tells them apart).
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// Device, inode and change time of the file this listener bound.
    identity: (u64, u64, i64, i64),
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64, i64, i64) {
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

impl SocketFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if identity(&meta) == self.identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Whether a process listens on the socket at `path`, asked without blocking: refused means
/// nobody does; accepted, or a full backlog (`EAGAIN`), means someone does; anything else
/// (no permission, ...) is an error.
fn listened_on(path: &Path) -> io::Result<bool> {
    let probe = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    probe.set_nonblocking(true)?;
    match probe.connect(&socket2::SockAddr::unix(path)?) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => Ok(false),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(err) => Err(err),
    }
}

/// A non-blocking Unix listener at `path` (mode 0666), with the [`BACKLOG`] of the TCP ones,
/// and its [`SocketFile`]. A socket file nobody listens on any more is replaced; a live one,
/// or any other kind of file at `path`, is an error.
pub fn bind_unix(path: &Path) -> io::Result<(UnixListener, SocketFile)> {
    check_unix_path(path).map_err(|reason| io::Error::new(io::ErrorKind::InvalidInput, reason))?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if listened_on(path)? {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{} is a socket a running process listens on",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    let file = SocketFile {
        path: path.to_path_buf(),
        identity: identity(&std::fs::symlink_metadata(path)?),
    };
    socket.listen(BACKLOG)?;
    Ok((socket.into(), file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_listener_replaces_a_dead_socket_and_refuses_a_live_one() {
        use std::os::unix::net::UnixStream;
        let dir = tempfile_dir("rt-unix");
        let path = dir.join("s.sock");
        let (first, first_file) = bind_unix(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
        let err = bind_unix(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        // A SIGKILLed process closes the socket and leaves the file.
        drop(first);
        std::mem::forget(first_file);
        assert!(path.exists());
        let (second, second_file) = bind_unix(&path).unwrap();
        assert!(UnixStream::connect(&path).is_ok());
        drop(second);
        drop(second_file);
        assert!(!path.exists(), "the file goes with its SocketFile");

        // An old SocketFile does not remove the socket bound after it.
        let (old, old_file) = bind_unix(&path).unwrap();
        drop(old);
        std::fs::remove_file(&path).unwrap();
        let (_new, _new_file) = bind_unix(&path).unwrap();
        drop(old_file);
        assert!(path.exists(), "a stale SocketFile removed a newer socket");
        drop(_new_file);

        std::fs::write(&path, b"not a socket").unwrap();
        let err = bind_unix(&path).unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn socket_paths_are_checked_at_the_kernels_limit() {
        let at = |len: usize| PathBuf::from(format!("/{}", "x".repeat(len - 1)));
        assert!(check_unix_path(&at(MAX_UNIX_PATH)).is_ok());
        let err = check_unix_path(&at(MAX_UNIX_PATH + 1)).unwrap_err();
        assert!(
            err.contains("108 bytes") && err.contains("at most 107"),
            "{err}"
        );
        assert!(check_unix_path(Path::new("")).is_err());
    }

    fn tempfile_dir(prefix: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

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
