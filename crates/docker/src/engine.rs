//! Finding or starting the engine, pointing clients at it, and stopping it cleanly.
//!
//! The host's engine is used when `DOCKER_HOST` or `/var/run/docker.sock` answers. Otherwise
//! a private `dockerd` runs from `.prodstack/docker/` as this project's build machines allow
//! (measured there: no iptables, no default bridge, overlay mounts work):
//!
//! ```text
//! dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
//!         --data-root D --exec-root E -H unix://S --pidfile P
//! ```
//!
//! Containers and builds therefore use the host network (every compose file here does). The
//! client environment ([`Engine::env`]) sets `DOCKER_HOST` and a `DOCKER_CONFIG` whose
//! `docker compose` is a shim over the real Compose plugin that adds this host's
//! [`crate::adapt`] override, so HttpArena's scripts run unmodified. [`stop`] ends the daemon
//! by its pid (checked to be a `dockerd`), then any process and mount it left under its
//! folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::install::{self, DAEMON};
use crate::{io, DockerError, DockerHome, Result};

/// The engine clients talk to.
#[derive(Debug, Clone)]
pub struct Engine {
    /// `DOCKER_HOST` for clients.
    pub host: String,
    /// `DOCKER_CONFIG` for clients: our CLI plugins (Compose behind the adaptation shim).
    pub config: PathBuf,
    /// The server version it reports.
    pub version: String,
    /// Whether it is our private `dockerd` (which [`stop`] stops), not the host's.
    pub private: bool,
}

/// How to get an engine.
#[derive(Debug, Clone)]
pub struct Options {
    /// Install missing packages with apt-get (else a missing one is an error naming it).
    pub install: bool,
    /// Never use the host's engine (tests use their own private one).
    pub private_only: bool,
    /// The adaptation shim for `docker compose` (`prodstack-compose-shim`); `None` installs
    /// the real plugin unwrapped.
    pub compose_shim: Option<PathBuf>,
    /// Where `dockerd`'s output goes through (`prodstack-logsink`, capped), if built.
    pub log_sink: Option<PathBuf>,
}

impl Options {
    /// Install what is missing; our shim and log sink from the folders `prodstack` finds its
    /// binaries in.
    pub fn new() -> Self {
        Self {
            install: true,
            private_only: false,
            compose_shim: stack::bins::our_binary("prodstack-compose-shim").ok(),
            log_sink: stack::bins::our_binary(stack::logsink::BINARY).ok(),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

/// The server version behind `host`, if it answers within a few seconds.
fn answers(host: &str) -> Option<String> {
    let docker = install::find("docker")?;
    let mut child = Command::new(docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_HOST", host)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let began = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if began.elapsed() > Duration::from_secs(5) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut()?, &mut out).ok()?;
    let version = out.trim().to_string();
    (!version.is_empty()).then_some(version)
}

impl Engine {
    /// The host's engine when it answers, else our private one (started if it is not running).
    pub fn ensure(home: &DockerHome, options: &Options, say: &mut dyn FnMut(&str)) -> Result<Self> {
        if !options.private_only {
            let candidates = std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .into_iter()
                .chain(
                    Path::new("/var/run/docker.sock")
                        .exists()
                        .then(|| "unix:///var/run/docker.sock".to_string()),
                );
            for host in candidates {
                if let Some(version) = answers(&host) {
                    let config = client_config(home, options, say)?;
                    say(&format!(
                        "using the host's Docker engine {version} at {host}"
                    ));
                    return Ok(Self {
                        host,
                        config,
                        version,
                        private: false,
                    });
                }
            }
        }
        let host = format!("unix://{}", home.socket().display());
        if let Some(version) = running_pid(home).and_then(|_| answers(&host)) {
            let config = client_config(home, options, say)?;
            return Ok(Self {
                host,
                config,
                version,
                private: true,
            });
        }
        install::ensure(&DAEMON, options.install, say)?;
        let config = client_config(home, options, say)?;
        start(home, options, say)?;
        let version = answers(&host).ok_or_else(|| DockerError::Failed {
            what: "starting dockerd".into(),
            status: "no answer".into(),
            detail: stack::process::tail(&home.log(), 20),
        })?;
        say(&format!(
            "started a private Docker engine {version} at {host} (data in {})",
            home.data_root().display()
        ));
        Ok(Self {
            host,
            config,
            version,
            private: true,
        })
    }

    /// `docker ARGS` against this engine.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new(install::find("docker").unwrap_or_else(|| "docker".into()));
        for (name, value) in self.env() {
            cmd.env(name, value);
        }
        cmd
    }

    /// The variables that point a `docker` client at this engine.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DOCKER_HOST", self.host.clone()),
            ("DOCKER_CONFIG", self.config.display().to_string()),
        ]
    }
}

/// The client configuration: `docker compose` (through the shim) and `docker buildx`.
fn client_config(
    home: &DockerHome,
    options: &Options,
    say: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    let plugins = home.config().join("cli-plugins");
    std::fs::create_dir_all(&plugins).map_err(io(format!("creating {}", plugins.display())))?;
    let real = existing_plugins().map_or_else(|| install::plugins(home, say), Ok)?;
    let compose = plugins.join("docker-compose");
    let real_compose = real.join("docker-compose");
    let script = match &options.compose_shim {
        Some(shim) => format!(
            "#!/bin/sh\n# prodstack: Compose with this host's adaptations (crates/docker/src/adapt.rs)\nexec \"{}\" --real \"{}\" \"$@\"\n",
            shim.display(),
            real_compose.display()
        ),
        None => format!("#!/bin/sh\nexec \"{}\" \"$@\"\n", real_compose.display()),
    };
    write_executable(&compose, &script)?;
    write_executable(
        &plugins.join("docker-buildx"),
        &format!(
            "#!/bin/sh\nexec \"{}\" \"$@\"\n",
            real.join("docker-buildx").display()
        ),
    )?;
    Ok(home.config())
}

/// A folder with both real plugins, if the machine already has them.
fn existing_plugins() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = [
        "/usr/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/local/lib/docker/cli-plugins",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".docker/cli-plugins"));
    }
    dirs.into_iter()
        .find(|d| d.join("docker-compose").is_file() && d.join("docker-buildx").is_file())
}

fn write_executable(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io(format!("making {} executable", path.display())))
}

/// The pid of our running `dockerd`, if there is one.
pub fn running_pid(home: &DockerHome) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(home.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let exe = stack::process::executable(pid)?;
    (stack::process::is_running(pid) && exe.file_name().is_some_and(|n| n == "dockerd"))
        .then_some(pid)
}

fn start(home: &DockerHome, options: &Options, say: &mut dyn FnMut(&str)) -> Result<()> {
    for dir in [
        home.data_root(),
        home.exec_root(),
        home.socket()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    ] {
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    }
    // A unix socket path has at most 107 bytes.
    if home.socket().as_os_str().len() > 100 {
        return Err(DockerError::Invalid(format!(
            "the engine's socket path {} is too long for a unix socket; use a shorter PRODSTACK_HOME",
            home.socket().display()
        )));
    }
    let _ = std::fs::remove_file(home.socket());
    let dockerd = install::find("dockerd").ok_or_else(|| DockerError::Missing {
        what: "dockerd (Debian package docker.io)".into(),
        hint: "apt-get install -y docker.io".into(),
    })?;
    let mut cmd = Command::new(dockerd);
    cmd.args([
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=overlay2",
    ])
    .arg("--data-root")
    .arg(home.data_root())
    .arg("--exec-root")
    .arg(home.exec_root())
    .arg("-H")
    .arg(format!("unix://{}", home.socket().display()))
    .arg("--pidfile")
    .arg(home.pid_file());
    say("starting a private dockerd (no registry, host networking only)");
    let mut child =
        stack::process::spawn_detached(cmd, &home.log(), None, options.log_sink.as_deref())
            .map_err(|e| DockerError::Invalid(format!("starting dockerd: {e}")))?;
    let host = format!("unix://{}", home.socket().display());
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DockerError::Failed {
                what: "dockerd".into(),
                status: status.to_string(),
                detail: stack::process::tail(&home.log(), 20),
            });
        }
        if answers(&host).is_some() {
            // Reaped when it exits; the engine outlives this process otherwise.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    Err(DockerError::Failed {
        what: "dockerd".into(),
        status: "not answering after 60 s".into(),
        detail: stack::process::tail(&home.log(), 20),
    })
}

/// What [`stop`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stopped {
    pub pid: Option<u32>,
    pub forced: bool,
    /// Processes left behind (shims, containerd) that had to be killed.
    pub leftovers: usize,
    /// Mounts under the engine's folders that had to be detached.
    pub mounts: usize,
}

/// Stops our private `dockerd` (by its pid file, after checking it is one), then kills what
/// it left running under its folders and detaches what it left mounted there.
pub fn stop(home: &DockerHome) -> Result<Stopped> {
    let mut report = Stopped::default();
    if let Some(pid) = running_pid(home) {
        report.pid = Some(pid);
        stack::process::send_signal(pid, libc::SIGTERM);
        if !wait_gone(pid, Duration::from_secs(30)) {
            stack::process::send_signal(pid, libc::SIGKILL);
            report.forced = true;
            wait_gone(pid, Duration::from_secs(5));
        }
    }
    let roots = [home.data_root(), home.exec_root()];
    let leftovers = processes_under(&roots);
    for pid in &leftovers {
        stack::process::send_signal(*pid, libc::SIGKILL);
    }
    for pid in &leftovers {
        wait_gone(*pid, Duration::from_secs(5));
    }
    report.leftovers = leftovers.len();
    let mounts = mounts_under(&roots);
    for mount in mounts.iter().rev() {
        if let Ok(path) = std::ffi::CString::new(mount.as_os_str().as_encoded_bytes()) {
            // SAFETY: umount2 with a valid C string; detaching a mount we made.
            unsafe {
                libc::umount2(path.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
    report.mounts = mounts.len();
    let _ = std::fs::remove_file(home.pid_file());
    let _ = std::fs::remove_file(home.socket());
    Ok(report)
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let began = Instant::now();
    while stack::process::is_running(pid) {
        if began.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Processes whose command line names one of `roots` (containerd and its shims do).
pub fn processes_under(roots: &[PathBuf]) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needles: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id() && stack::process::is_running(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let text = String::from_utf8_lossy(&c).replace('\0', " ");
                    needles.iter().any(|n| text.contains(n.as_str()))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Mount points at or under one of `roots`, in mount order.
pub fn mounts_under(roots: &[PathBuf]) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .map(unescape_mount)
        .filter(|p| roots.iter().any(|r| p.starts_with(r)))
        .collect()
}

/// mountinfo escapes spaces, tabs, newlines and backslashes as octal.
fn unescape_mount(field: &str) -> PathBuf {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            if let Ok(n) = u8::from_str_radix(&code, 8) {
                out.push(n as char);
                continue;
            }
            out.push('\\');
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    PathBuf::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount(r"/a\040b/c"), PathBuf::from("/a b/c"));
        assert_eq!(unescape_mount("/plain"), PathBuf::from("/plain"));
    }
}
