//! The `authsvc` binary itself: environment configuration, startup log, SIGTERM.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{token, Client};

/// The child process, killed on drop if a test fails before it exits.
struct Process {
    child: Child,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn spawn(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authsvc"));
        command
            .env_clear()
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stderr: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no stderr line containing {needle:?}; got {:#?}", self.seen);
    }

    fn listen_addr(&mut self) -> SocketAddr {
        let line = self.wait_for_line("authsvc listening");
        let addr = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("listen="))
            .unwrap_or_else(|| panic!("no listen= in {line:?}"));
        addr.parse().unwrap()
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Collect the rest of the log for assertions.
                while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(500)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "authsvc did not exit; log {:#?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: i32) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn log(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn binary_serves_with_env_config_and_exits_cleanly_on_sigterm() {
    let secret = "binary-test-secret";
    let mut process = Process::spawn(&[
        ("JWT_SECRET", secret),
        ("AUTHSVC_LISTEN", "127.0.0.1:0"),
        ("AUTHSVC_WORKERS", "2"),
        ("JWT_LEEWAY_S", "5"),
        ("AUTHSVC_HEADER_TIMEOUT_S", "60"),
    ]);
    let addr = process.listen_addr();
    let startup = process.log();
    assert!(startup.contains("workers=2"), "{startup}");
    assert!(startup.contains("leeway_s=5"), "{startup}");
    assert!(startup.contains("header_timeout_s=60"), "{startup}");
    assert!(startup.contains("runtime=per-core"), "{startup}");
    assert!(!startup.contains("PUBLIC benchmark secret"), "{startup}");

    let mut client = Client::connect(addr);
    let reply = client.get(
        "/_auth",
        Some(&format!("Bearer {}", token("42", secret, 3600))),
    );
    assert_eq!((reply.status, reply.header("x-user-id")), (200, Some("42")));
    // Inside the 5 s leeway: still accepted.
    let reply = client.get(
        "/_auth",
        Some(&format!("Bearer {}", token("42", secret, -2))),
    );
    assert_eq!(reply.status, 200);
    let reply = client.get(
        "/_auth",
        Some(&format!("Bearer {}", token("42", secret, -60))),
    );
    assert_eq!(reply.status, 401);

    // `client` stays connected (idle keep-alive) across the signal.
    process.signal(libc::SIGTERM);
    let status = process.wait_exit();
    assert!(
        status.success(),
        "exit status {status:?}; log {}",
        process.log()
    );
    let log = process.log();
    assert!(
        log.contains("SIGTERM") && log.contains("authsvc stopped"),
        "{log}"
    );
    assert!(client.is_closed_by_server());
}

#[test]
fn binary_exits_cleanly_on_sigint() {
    let mut process = Process::spawn(&[("JWT_SECRET", "x"), ("AUTHSVC_LISTEN", "127.0.0.1:0")]);
    process.listen_addr();
    process.signal(libc::SIGINT);
    let status = process.wait_exit();
    assert!(
        status.success(),
        "exit status {status:?}; log {}",
        process.log()
    );
}

#[test]
fn binary_warns_loudly_about_the_default_secret() {
    let mut process = Process::spawn(&[
        ("AUTHSVC_LISTEN", "127.0.0.1:0"),
        ("AUTHSVC_RUNTIME", "multi-thread"),
    ]);
    let addr = process.listen_addr();
    let log = process.log();
    assert!(
        log.contains("WARN") && log.contains("PUBLIC benchmark secret"),
        "{log}"
    );
    assert!(log.contains("runtime=multi-thread"), "{log}");
    // The default really is HttpArena's secret.
    let bearer = format!("Bearer {}", token("42", contract::BENCH_SECRET, 3600));
    assert_eq!(
        Client::connect(addr).get("/_auth", Some(&bearer)).status,
        200
    );
    process.signal(libc::SIGTERM);
    assert!(process.wait_exit().success());
}

#[test]
fn binary_refuses_invalid_environment() {
    let cases = [
        ("JWT_LEEWAY_S", "soon"),
        ("AUTHSVC_WORKERS", "0"),
        ("AUTHSVC_LISTEN", "nowhere"),
        ("JWT_SECRET", ""),
        ("AUTHSVC_RUNTIME", "turbo"),
        ("AUTHSVC_HEADER_TIMEOUT_S", "1m"),
    ];
    for (var, value) in cases {
        // Every other variable valid, and never the default port should the check regress.
        let mut env = vec![(var, value), ("AUTHSVC_LISTEN", "127.0.0.1:0")];
        env.dedup_by_key(|(name, _)| *name);
        let mut process = Process::spawn(&env);
        let status = process.wait_exit();
        assert!(!status.success(), "{var}={value:?} started anyway");
        assert_eq!(status.code(), Some(2), "{var}={value:?}");
        let log = process.log();
        assert!(
            log.contains(var) && log.contains("ERROR"),
            "{var}={value:?}: {log}"
        );
    }
}

#[test]
fn binary_reports_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut process = Process::spawn(&[("JWT_SECRET", "x"), ("AUTHSVC_LISTEN", &addr)]);
    let status = process.wait_exit();
    assert_eq!(status.code(), Some(2));
    assert!(
        process.log().contains(&format!("cannot listen on {addr}")),
        "{}",
        process.log()
    );
}
