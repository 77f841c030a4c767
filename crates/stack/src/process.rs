//! Small process utilities shared by `prodstack up` and the test harness: dropping root to a
//! service's OS user, waiting for readiness with a deadline, and reading the tail of a log.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};

/// An OS account to run a service as (Postgres refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsUser {
    pub uid: u32,
    pub gid: u32,
}

impl OsUser {
    /// Looks up `name` in the user database.
    pub fn lookup(name: &str) -> Option<Self> {
        let cname = CString::new(name).ok()?;
        // SAFETY: getpwnam returns a pointer into static storage or null; we copy the two ids
        // out immediately and never keep the pointer.
        let entry = unsafe { libc::getpwnam(cname.as_ptr()) };
        if entry.is_null() {
            return None;
        }
        // SAFETY: non-null, points at a valid passwd record (see above).
        let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
        Some(Self { uid, gid })
    }

    /// The user `name` when this process is root (and so must drop privileges), `None` when it
    /// already runs as an ordinary user (which then runs the service itself).
    pub fn when_root(name: &str) -> Result<Option<Self>> {
        if !is_root() {
            return Ok(None);
        }
        Self::lookup(name).map(Some).ok_or_else(|| Error::Missing {
            what: format!("OS user `{name}`"),
            hint: format!(
                "running as root, the service must run as `{name}`; install the Debian package that creates it or run prodstack as an ordinary user"
            ),
        })
    }

    /// Makes `cmd` run as this user (std drops supplementary groups when it changes uid).
    pub fn apply(&self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        cmd.uid(self.uid).gid(self.gid);
    }

    /// Gives this user ownership of `path` (not recursive).
    pub fn chown(&self, path: &Path) -> Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .io_context(|| format!("giving {} to uid {}", path.display(), self.uid))
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `cmd` to completion and fails with its combined output when it exits non-zero.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<Output> {
    let output = cmd
        .output()
        .io_context(|| format!("starting {what} ({:?})", cmd.get_program()))?;
    if output.status.success() {
        Ok(output)
    } else {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        Err(Error::CommandFailed {
            what: what.to_string(),
            status: output.status,
            output: text.trim_end().to_string(),
        })
    }
}

/// Polls `ready` every 50 ms until it returns true, the child exits, or `timeout` passes.
/// Failures carry the tail of `log`.
pub fn wait_ready(
    what: &str,
    child: Option<&mut Child>,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let start = Instant::now();
    let mut child = child;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Exited {
                    what: what.to_string(),
                    status,
                    log: log.to_path_buf(),
                    log_tail: tail(log, 20),
                });
            }
        }
        if start.elapsed() >= timeout {
            return Err(Error::NotReady {
                what: what.to_string(),
                waited: timeout,
                log: log.to_path_buf(),
                log_tail: tail(log, 20),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn tcp_accepts(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// The last `lines` lines of a (possibly large, possibly missing) log file.
pub fn tail(path: &Path, lines: usize) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX_BYTES)));
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        std::fs::write(&log, "a\nb\nc\nd\n").unwrap();
        assert_eq!(tail(&log, 2), "c\nd");
        assert!(tail(&dir.path().join("missing"), 2).contains("no log"));
    }

    #[test]
    fn wait_ready_reports_timeout_with_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        std::fs::write(&log, "FATAL: something broke\n").unwrap();
        let err = wait_ready("svc", None, &log, Duration::from_millis(120), || false).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("svc was not ready"), "{text}");
        assert!(text.contains("FATAL: something broke"), "{text}");
    }
}
