//! Small process utilities shared by `prodstack up` and the test harness: dropping root to a
//! service's OS user, waiting for readiness with a deadline, reading the tail of a log, and —
//! for the detached services of `prodstack up` — starting a process in its own session and
//! recognising it again later from another `prodstack` invocation.
//!
//! A pid alone does not identify a process: once it exits, the kernel may hand the number to
//! an unrelated program. [`ProcessIdentity`] adds the executable and the start time (clock
//! ticks after boot, `/proc/<pid>/stat` field 22), which together cannot be reused, so
//! `prodstack down` never signals a stranger.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cpus::CpuSet;
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

/// The first `program` file in the folders of `PATH`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
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

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie: exited, not yet reaped), ...
    pub state: char,
    pub ppid: u32,
    pub session: u32,
    /// Start time in clock ticks after boot.
    pub start_ticks: u64,
}

/// Reads `/proc/<pid>/stat`; `None` when the process does not exist.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself contain spaces or
    // parentheses, so the fixed fields start after the LAST `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); field N is fields[N - 3].
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// Whether `pid` is a live process (exists and is not a zombie).
pub fn is_running(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|stat| !matches!(stat.state, 'Z' | 'X'))
}

/// The executable of `pid` (`/proc/<pid>/exe`), without the ` (deleted)` suffix the kernel
/// adds when the file was replaced since (e.g. by a rebuild).
pub fn executable(pid: u32) -> Option<PathBuf> {
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let text = link.to_string_lossy();
    Some(match text.strip_suffix(" (deleted)") {
        Some(stripped) => PathBuf::from(stripped),
        None => link,
    })
}

/// One process instance: its pid, executable and start time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessIdentity {
    pub pid: u32,
    pub exe: PathBuf,
    pub start_ticks: u64,
}

/// What became of a recorded process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The very process that was recorded is running.
    Running,
    /// It exited (or is a zombie waiting to be reaped).
    Gone,
    /// The pid now belongs to another process (`now` describes it).
    Reused { now: String },
}

impl ProcessIdentity {
    /// The identity of the live process `pid`.
    pub fn of(pid: u32) -> Option<Self> {
        let stat = proc_stat(pid)?;
        if matches!(stat.state, 'Z' | 'X') {
            return None;
        }
        Some(Self {
            pid,
            exe: executable(pid)?,
            start_ticks: stat.start_ticks,
        })
    }

    /// Collects the exit status of this process when it has exited (a zombie with this start
    /// time) and is a child of ours: a service this process started and has just stopped,
    /// which would otherwise stay a zombie until this process exits (`bench` restarts the
    /// stack for every run of every variant). A no-op for a process that runs, is not our
    /// child, or is not this one.
    pub fn reap_if_exited_child(&self) {
        let zombie = proc_stat(self.pid)
            .is_some_and(|stat| stat.start_ticks == self.start_ticks && stat.state == 'Z');
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return;
        };
        if zombie {
            let mut status = 0;
            // SAFETY: waitpid with WNOHANG only reads the exit status of our own child `pid`,
            // which /proc shows as this identity's zombie, so no other process' status is taken.
            unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        }
    }

    pub fn liveness(&self) -> Liveness {
        let Some(stat) = proc_stat(self.pid) else {
            return Liveness::Gone;
        };
        if stat.start_ticks != self.start_ticks {
            return Liveness::Reused {
                now: crate::ports::process_command(self.pid),
            };
        }
        if matches!(stat.state, 'Z' | 'X') {
            return Liveness::Gone;
        }
        match executable(self.pid) {
            Some(exe) if exe == self.exe => Liveness::Running,
            // Same start time but unreadable exe: it exited between the two reads.
            None => Liveness::Gone,
            Some(exe) => Liveness::Reused {
                now: exe.display().to_string(),
            },
        }
    }
}

/// Live processes whose session id is `sid` (a detached service and everything it forked:
/// nginx workers, Postgres backends). A session id is never reused while any member lives.
pub fn session_members(sid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            proc_stat(pid).is_some_and(|s| s.session == sid && !matches!(s.state, 'Z' | 'X'))
        })
        .collect()
}

/// Sends `signal` to `pid`; `false` when the process no longer exists.
pub fn send_signal(pid: u32, signal: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill has no memory effects; callers verify the identity of `pid` first.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Stops `child` and reaps it: `signal` first (the service's own clean or fast shutdown), then
/// SIGKILL when it is still running after `grace`. A child that already exited is only reaped;
/// it is never signalled, because once reaped its pid may belong to a stranger.
pub fn terminate(child: &mut Child, signal: libc::c_int, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // Not reaped yet, so the pid is still our child's (at worst a zombie).
    send_signal(child.id(), signal);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts `cmd` as a detached service: its own session (`setsid`, so it outlives the
/// `prodstack` that started it and no terminal signal reaches it), stdin from `/dev/null`,
/// pinned to `cpus` when given. Its stdout and stderr go to `log` after a header line: through
/// a pipe into a detached `sink` process (`prodstack-logsink`, which caps and rotates the
/// file, see [`crate::logsink`]) when one is given, else appended to the file directly.
pub fn spawn_detached(
    mut cmd: Command,
    log: &Path,
    cpus: Option<&CpuSet>,
    sink: Option<&Path>,
) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .io_context(|| format!("opening {}", log.display()))?;
    let _ = writeln!(
        file,
        "==== prodstack: starting {:?} at {} ====",
        cmd.get_program(),
        utc_now()
    );
    let (out, err) = match sink {
        Some(sink) => {
            drop(file);
            let (reader, writer) = std::io::pipe().io_context(|| "creating the log pipe".into())?;
            let mut copier = Command::new(sink);
            copier
                .arg(log)
                .stdin(Stdio::from(reader))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: setsid is async-signal-safe; the sink must outlive us like the service.
            unsafe {
                copier.pre_exec(|| {
                    if libc::setsid() < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut copier = copier
                .spawn()
                .io_context(|| format!("starting {}", sink.display()))?;
            // Reaped whenever it exits (a long-lived caller such as `bench` would otherwise
            // collect zombies); a short-lived `up` leaves it to init.
            std::thread::spawn(move || {
                let _ = copier.wait();
            });
            let copy = writer
                .try_clone()
                .io_context(|| "duplicating the log pipe".into())?;
            (Stdio::from(writer), Stdio::from(copy))
        }
        None => {
            let copy = file
                .try_clone()
                .io_context(|| format!("duplicating {}", log.display()))?;
            (Stdio::from(file), Stdio::from(copy))
        }
    };
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let mask = cpus.map(CpuSet::to_mask);
    // SAFETY: only async-signal-safe system calls run between fork and exec; the affinity mask
    // was built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(mask) = &mask {
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), mask) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing {
                what: program.clone(),
                hint: "install it (./prodstack installs the Debian packages it needs)".into(),
            }
        } else {
            Error::Io {
                what: format!("starting {program}"),
                source,
            }
        }
    })
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `2026-11-26 22:51:44 UTC` for log headers (no date crate needed for one format).
pub fn utc_now() -> String {
    format_utc(unix_ms() / 1000)
}

pub fn format_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_807_902_621), "2027-04-16 19:10:21 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn identifies_this_process_and_notices_exits_and_reuse() {
        let me = ProcessIdentity::of(std::process::id()).unwrap();
        assert_eq!(me.liveness(), Liveness::Running);
        assert_eq!(me.exe, std::env::current_exe().unwrap());
        let other_start = ProcessIdentity {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(matches!(other_start.liveness(), Liveness::Reused { .. }));
        let other_exe = ProcessIdentity {
            exe: "/usr/bin/false".into(),
            ..me.clone()
        };
        assert!(matches!(other_exe.liveness(), Liveness::Reused { .. }));

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let id = ProcessIdentity::of(child.id()).unwrap();
        assert!(id.exe.ends_with("sleep"), "{id:?}");
        child.kill().unwrap();
        // Unreaped: a zombie counts as gone.
        for _ in 0..100 {
            if id.liveness() == Liveness::Gone {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(id.liveness(), Liveness::Gone);
        child.wait().unwrap();
        assert_eq!(id.liveness(), Liveness::Gone);
    }

    #[test]
    fn an_exited_child_that_nobody_waits_for_is_reaped_and_a_running_one_is_not() {
        let mut running = Command::new("sleep").arg("30").spawn().unwrap();
        let live = ProcessIdentity::of(running.id()).unwrap();
        live.reap_if_exited_child();
        assert_eq!(live.liveness(), Liveness::Running);
        assert!(
            matches!(running.try_wait(), Ok(None)),
            "a running child is left alone"
        );

        let exits = Command::new("sleep").arg("0.3").spawn().unwrap();
        let id = ProcessIdentity::of(exits.id()).unwrap();
        drop(exits); // never waited for: it stays a zombie
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc_stat(id.pid).is_some_and(|s| s.state != 'Z') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(proc_stat(id.pid).map(|s| s.state), Some('Z'));
        // Another start time: not this identity's zombie, so it stays.
        let stranger = ProcessIdentity {
            start_ticks: id.start_ticks + 1,
            ..id.clone()
        };
        stranger.reap_if_exited_child();
        assert_eq!(proc_stat(id.pid).map(|s| s.state), Some('Z'));
        id.reap_if_exited_child();
        assert!(proc_stat(id.pid).is_none(), "still in /proc after the reap");
        let _ = running.kill();
        let _ = running.wait();
    }

    #[test]
    fn detached_children_get_their_own_session_cpus_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        let cpus = CpuSet::parse("0").unwrap();
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo out; echo err >&2; grep Cpus_allowed_list /proc/self/status; exec sleep 30",
        ]);
        let mut child = spawn_detached(cmd, &log, Some(&cpus), None).unwrap();
        let pid = child.id();
        let mut stat = proc_stat(pid).unwrap();
        for _ in 0..100 {
            if std::fs::read_to_string(&log)
                .unwrap()
                .contains("Cpus_allowed_list")
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            stat = proc_stat(pid).unwrap();
        }
        assert_eq!(stat.session, pid, "not a session leader");
        assert_eq!(session_members(pid), vec![pid]);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.starts_with("==== prodstack: starting \"sh\""),
            "{text}"
        );
        assert!(text.contains("\nout\n"), "stdout not in the log: {text}");
        assert!(text.contains("\nerr\n"), "stderr not in the log: {text}");
        assert!(text.contains("Cpus_allowed_list:\t0\n"), "{text}");
        assert!(send_signal(pid, libc::SIGKILL));
        child.wait().unwrap();
        assert!(!is_running(pid));
    }

    #[test]
    fn terminate_signals_then_kills_after_the_grace() {
        use std::os::unix::process::ExitStatusExt;

        let mut polite = Command::new("sleep").arg("30").spawn().unwrap();
        terminate(&mut polite, libc::SIGTERM, Duration::from_secs(10));
        let status = polite.try_wait().unwrap().expect("reaped");
        assert_eq!(status.signal(), Some(libc::SIGTERM));

        // Ignores SIGTERM (and so does the `sleep` it runs): only SIGKILL after the grace stops it.
        let mut stubborn = Command::new("sh")
            .args([
                "-c",
                "trap '' TERM; echo ready; while :; do sleep 0.05; done",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = [0u8; 6];
        stubborn
            .stdout
            .take()
            .unwrap()
            .read_exact(&mut ready)
            .unwrap();
        terminate(&mut stubborn, libc::SIGTERM, Duration::from_millis(300));
        let status = stubborn.try_wait().unwrap().expect("reaped");
        assert_eq!(status.signal(), Some(libc::SIGKILL));

        // A reaped child is left alone.
        terminate(&mut stubborn, libc::SIGTERM, Duration::from_secs(10));
        assert_eq!(stubborn.try_wait().unwrap(), Some(status));
    }

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
