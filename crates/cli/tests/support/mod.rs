//! The harness of the CLI's end-to-end tests: the real `prodstack` binary driving real
//! services (Postgres, Redis, our authsvc and server, nginx) on offset ports in a temporary home,
//! one stack at a time.
//!
//! `PRODSTACK_BIN_DIR` names the folder with `server` and `authsvc` (`prodstack test` sets it);
//! without it the binaries are built here with `cargo build` so a plain `cargo test -p cli`
//! never runs stale ones.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use stack::state::StackState;
use stack::{Home, StackPorts};
use validate::curl::{self, Request};

pub const PRODSTACK: &str = env!("CARGO_BIN_EXE_prodstack");

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One stack at a time: each is five real services, and the build machine has 2 CPUs. A
/// mutex serializes the tests of one process, an `flock` the processes (nextest runs every
/// test in its own).
pub struct OneStack {
    _in_process: MutexGuard<'static, ()>,
    _across_processes: std::fs::File,
}

pub fn one_stack_at_a_time() -> OneStack {
    use std::os::fd::AsRawFd;
    static LOCK: Mutex<()> = Mutex::new(());
    let in_process = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("stack-up.lock"))
        .unwrap();
    // SAFETY: flock on a descriptor we own; released when the file is closed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    OneStack {
        _in_process: in_process,
        _across_processes: file,
    }
}

/// The folder holding `server`, `authsvc` and `edge`, built once per test run when not given.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os(stack::bins::BIN_DIR_ENV).filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .args([
                "build", "-p", "server", "-p", "authsvc", "-p", "edge", "-p", "stack",
            ])
            .current_dir(project_root())
            .status()
            .expect("running cargo build for the server, authsvc and edge binaries");
        assert!(status.success(), "building server, authsvc and edge failed");
        Path::new(PRODSTACK).parent().unwrap().to_path_buf()
    })
}

/// A private home folder plus an offset whose seven ports are all free (and below the
/// ephemeral range, so no outgoing connection grabs one meanwhile).
pub struct TestStack {
    pub dir: tempfile::TempDir,
    pub home: Home,
    pub offset: u16,
}

impl TestStack {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("prodstack-up-")
            .tempdir()
            .unwrap();
        // nginx's workers run as `nobody` when we are root: let them reach the static files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = Home::new(dir.path());
        Self {
            offset: free_offset(),
            dir,
            home,
        }
    }

    /// Same, with the data copied from a shared, generated-once folder.
    pub fn with_data() -> Self {
        let stack = Self::new();
        let source = shared_data();
        for sub in ["data", "requests", "certs"] {
            copy_dir(&source.join(sub), &stack.dir.path().join(sub));
        }
        stack
    }

    pub fn ports(&self) -> StackPorts {
        StackPorts::with_offset(self.offset).unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(PRODSTACK)
            .args(args)
            .env("PRODSTACK_HOME", self.home.root())
            .env("PRODSTACK_ROOT", project_root())
            .env(stack::bins::BIN_DIR_ENV, bin_dir())
            // Services inherit this environment: a tester's server tuning must not change
            // what the tests check.
            .env_remove(contract::env::SERVER_HEAP_TRIM_MS)
            .output()
            .unwrap();
        eprintln!(
            "$ prodstack {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    pub fn up(&self, extra: &[&str]) -> Output {
        let offset = self.offset.to_string();
        let mut args = vec!["up", "--ports-offset", offset.as_str()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.ports().edge)
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.home.token_path()).unwrap()
    }

    /// Every process of the recorded stack: the main pids and their session members.
    pub fn processes(&self) -> Vec<u32> {
        let Ok(Some(state)) = StackState::load_if_present(&self.home) else {
            return Vec::new();
        };
        state
            .services
            .iter()
            .flat_map(|s| {
                let mut pids = stack::process::session_members(s.pid());
                pids.push(s.pid());
                pids
            })
            .collect()
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        // Whatever happened in the test, leave nothing running.
        if StackState::path(&self.home).exists() {
            let _ = self.run(&["down"]);
        }
    }
}

pub fn free_offset() -> u16 {
    static NEXT: Mutex<u32> = Mutex::new(0);
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    let start = std::process::id().wrapping_mul(7919);
    loop {
        // Offsets 1000..23000 keep every port (5432..9198 + offset) inside 6432..32198.
        let offset = 1000 + (start.wrapping_add(*next * 3671) % 22_000) as u16;
        *next += 1;
        let ports = StackPorts::with_offset(offset).unwrap();
        // The tests run up to three server instances: their ports must be free too.
        let instances = (1..3).flat_map(|i| {
            let (main, admin) = ports.server_instance(i);
            [main, admin]
        });
        if ports
            .all()
            .iter()
            .map(|(_, port)| *port)
            .chain(instances)
            .all(stack::ports::port_is_free)
        {
            return offset;
        }
    }
}

/// A home with generated data, made once (kept in the target folder, so later runs reuse it:
/// `prodstack data` keeps files that are in place).
pub fn shared_data() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stack-up-data");
        let output = Command::new(PRODSTACK)
            .arg("data")
            .env("PRODSTACK_HOME", &dir)
            .env("PRODSTACK_ROOT", project_root())
            .output()
            .unwrap();
        assert!(output.status.success(), "prodstack data: {output:?}");
        dir
    })
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn cpus_allowed(pid: u32) -> stack::CpuSet {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    stack::CpuSet::parse(list.trim()).unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn assert_all_gone(pids: &[u32], what: &str) {
    for _ in 0..100 {
        if pids.iter().all(|&p| !stack::process::is_running(p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<String> = pids
        .iter()
        .filter(|&&p| stack::process::is_running(p))
        .map(|&p| format!("{p} ({})", stack::ports::process_command(p)))
        .collect();
    panic!("{what}: still running: {alive:?}");
}

pub fn assert_ports_free(ports: &StackPorts) {
    for (name, port) in ports.all() {
        assert!(
            stack::ports::port_is_free(port),
            "{name} port {port} still taken"
        );
    }
}

pub fn get(url: String, token: Option<&str>) -> curl::Response {
    let mut request = Request::get(url);
    if let Some(token) = token {
        request = request.bearer(token);
    }
    curl::send(&request).unwrap()
}
