//! The two scripts the containers run, run here for real: the cache entrypoint starts the real
//! `redis-server` with HttpArena's settings, seeds it, and stops cleanly on SIGTERM; the health
//! probe of our Debian images tells 2xx from everything else.

mod deploy_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use deploy_support::*;
use stack::ports::free_port;

/// The entrypoint as a child process, killed (with its Redis) if a test fails midway.
struct Entrypoint {
    child: Option<Child>,
    port: u16,
}

impl Entrypoint {
    fn start(port: u16, seed: &std::path::Path, io_threads: Option<&str>) -> Self {
        let mut cmd = Command::new("sh");
        // Its own process group: a failing test can stop the script, Redis and any redis-cli.
        cmd.process_group(0)
            .arg(checkout().join("deploy/docker/redis-entrypoint.sh"))
            .env("REDIS_PORT", port.to_string())
            .env("REDIS_BIND", "127.0.0.1")
            .env("REDIS_SEED", seed)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(n) = io_threads {
            cmd.env("REDIS_IO_THREADS", n);
        }
        Self {
            child: Some(cmd.spawn().unwrap()),
            port,
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until the seed has run: the entrypoint prints its own line after seeding, among
    /// Redis' log lines (same stdout), which keep being drained in the background.
    fn wait_seeded(&mut self) -> String {
        let stdout = self.child.as_mut().unwrap().stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("redis-entrypoint:") {
                    let _ = tx.send(line);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the entrypoint did not report seeding within 30 s")
    }

    /// SIGTERM, as `docker stop` sends it; returns the entrypoint's exit output.
    fn stop(mut self) -> Output {
        let child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        wait_with_deadline(child, Duration::from_secs(10))
    }
}

impl Drop for Entrypoint {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&child);
            let _ = child.wait();
        }
    }
}

/// SIGKILL to the child's whole process group (it was started as the group leader).
fn kill_group(child: &Child) {
    // SAFETY: a plain system call on a process group this test created.
    unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
}

/// Waits for `child` (a process-group leader); past `limit` the whole group is killed and the
/// test fails, so nothing it started outlives it.
fn wait_with_deadline(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            // Whatever the script left behind must not keep its pipes open.
            kill_group(&child);
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            kill_group(&child);
            let out = child.wait_with_output().unwrap();
            panic!(
                "did not exit within {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn port_is_closed(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn the_cache_entrypoint_runs_redis_like_httparena_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.txt");
    std::fs::write(&seed, "PING\nSET seeded-by-entrypoint yes\n").unwrap();
    let port = free_port().unwrap();
    let mut redis = Entrypoint::start(port, &seed, None);
    let line = redis.wait_seeded();
    assert!(line.contains("seeded from"), "{line}");

    assert_eq!(redis.cli(&["GET", "seeded-by-entrypoint"]), "yes");
    let config = |key: &str| redis.cli(&["CONFIG", "GET", key]);
    assert_eq!(config("io-threads"), "io-threads\n4");
    assert_eq!(config("io-threads-do-reads"), "io-threads-do-reads\nyes");
    assert_eq!(config("protected-mode"), "protected-mode\nno");
    assert_eq!(config("appendonly"), "appendonly\nno");
    assert_eq!(config("save"), "save");
    assert_eq!(config("maxmemory"), "maxmemory\n0");

    let out = redis.stop();
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        port_is_closed(port),
        "Redis still listens after the entrypoint exited"
    );
}

#[test]
fn the_tuned_thread_count_and_a_missing_seed_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let mut redis = Entrypoint::start(port, &dir.path().join("absent.txt"), Some("2"));
    let line = redis.wait_seeded();
    assert!(line.contains("starting empty"), "{line}");
    assert_eq!(redis.cli(&["CONFIG", "GET", "io-threads"]), "io-threads\n2");
    assert_eq!(redis.cli(&["DBSIZE"]), "0");
    assert!(redis.stop().status.success());
}

#[test]
fn entrypoint_failures_are_reported_and_leave_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.txt");
    std::fs::write(&seed, "PING\n").unwrap();

    let bad = Command::new("sh")
        .arg(checkout().join("deploy/docker/redis-entrypoint.sh"))
        .env("REDIS_PORT", free_port().unwrap().to_string())
        .env("REDIS_IO_THREADS", "four")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("REDIS_IO_THREADS=four is not a positive integer"));

    // The port is taken: redis-server dies at once and the entrypoint says so instead of waiting.
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let child = Command::new("sh")
        .process_group(0)
        .arg(checkout().join("deploy/docker/redis-entrypoint.sh"))
        .env("REDIS_PORT", port.to_string())
        .env("REDIS_BIND", "127.0.0.1")
        .env("REDIS_SEED", &seed)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_with_deadline(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("redis-server exited during start-up"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A one-connection-at-a-time HTTP/1.1 listener answering `reply` to every request.
fn answering(reply: &'static [u8]) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        // One probe per listener; the thread ends after answering it.
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let mut request = Vec::new();
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            assert!(
                request.starts_with(b"GET /readyz HTTP/1.1\r\n"),
                "{request:?}"
            );
            let _ = stream.write_all(reply);
        }
    });
    (port, handle)
}

fn probe(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(checkout().join("deploy/docker/http-probe.sh"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_health_probe_accepts_2xx_only() {
    let cases: [(&'static [u8], i32); 4] = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 0),
        (
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            1,
        ),
        (b"SSH-2.0-OpenSSH_9\r\n", 1),
    ];
    for (reply, expected) in cases {
        let (port, server) = answering(reply);
        let out = probe(&[&port.to_string(), "/readyz"]);
        server.join().unwrap();
        assert_eq!(
            out.status.code(),
            Some(expected),
            "reply {:?}: {}",
            String::from_utf8_lossy(reply),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_health_probe_fails_on_silence_closed_ports_and_bad_usage() {
    // Accepts but never answers: the probe gives up after its 2 s read timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let out = probe(&[&port.to_string(), "/readyz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer"));
    drop(silent);

    let closed = free_port().unwrap();
    let out = probe(&[&closed.to_string(), "/readyz"]);
    assert_eq!(out.status.code(), Some(1));

    assert_eq!(probe(&[]).status.code(), Some(2));
    assert_eq!(probe(&["http", "/x"]).status.code(), Some(2));
}
