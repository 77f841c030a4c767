//! The harness of the nginx edge tests: a home folder with certificates and static files,
//! recording HTTP/1.1 upstreams to stand where authsvc and the server would, a running nginx
//! that is stopped on drop, and a curl client that returns status, headers and body.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stack::Home;

/// A home folder with certs and a few static files, readable by nginx's `nobody` workers.
pub struct EdgeHome {
    _dir: tempfile::TempDir,
    pub home: Home,
}

pub fn edge_home() -> EdgeHome {
    let dir = tempfile::Builder::new()
        .prefix("prodstack-edge-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = Home::new(dir.path());
    std::fs::create_dir_all(home.static_dir()).unwrap();
    std::fs::create_dir_all(home.certs_dir()).unwrap();
    std::fs::create_dir_all(home.run_dir()).unwrap();
    let css = "body { margin: 0; }\n".repeat(200);
    std::fs::write(home.static_dir().join("reset.css"), &css).unwrap();
    // A distinguishable `.gz` sibling: gzip_static must serve exactly these bytes.
    let gz = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .arg(home.static_dir().join("reset.css"))
        .output()
        .unwrap();
    assert!(gz.status.success());
    std::fs::write(home.static_dir().join("reset.css.gz"), gz.stdout).unwrap();
    std::fs::write(home.static_dir().join("app.js"), "console.log(1);\n").unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout"])
        .arg(home.certs_dir().join("server.key"))
        .arg("-out")
        .arg(home.certs_dir().join("server.crt"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed to make a test certificate");
    assert!(status.success());
    EdgeHome { _dir: dir, home }
}

pub fn write_conf(home: &Home, name: &str, conf: &str) -> PathBuf {
    // EdgeParams::local puts nginx's temp folders here.
    std::fs::create_dir_all(home.run_dir().join("nginx-temp")).unwrap();
    std::fs::create_dir_all(home.run_dir().join("docker-temp")).unwrap();
    let path = home.run_dir().join(name);
    std::fs::write(&path, conf).unwrap();
    path
}

/// A free port below the kernel's ephemeral range (32768+ by default). An upstream that is
/// stopped and restarted on the same port needs one: while it is down, an ephemeral port could
/// be handed to some outgoing connection (nginx's own, to the other upstream) as its source.
pub fn stable_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 25;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::SeqCst) % 2_500;
        if stack::ports::port_is_free(port) {
            return port;
        }
    }
}

/// One request as an upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub type Responder = fn(&Seen) -> (u16, Vec<(&'static str, String)>, String);

/// A recording HTTP/1.1 keep-alive upstream on a free port.
pub struct Upstream {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    pub fn start(respond: Responder) -> Self {
        Self::start_on(stable_port(), respond)
    }

    pub fn start_on(port: u16, respond: Responder) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (seen, stop, conns) = (seen.clone(), stop.clone(), conns.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(false).unwrap();
                            conns.lock().unwrap().push(stream.try_clone().unwrap());
                            let seen = seen.clone();
                            std::thread::spawn(move || serve(stream, respond, seen));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            port,
            seen,
            stop,
            conns,
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Closes the listener and every open connection (nginx's pooled ones included).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn serve(stream: TcpStream, respond: Responder, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Seen {
            method,
            target,
            headers,
            body,
        };
        let (status, extra, body) = respond(&request);
        seen.lock().unwrap().push(request);
        let mut response = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
        for (k, v) in extra {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

pub fn auth_probe(req: &Seen) -> (u16, Vec<(&'static str, String)>, String) {
    match req.header_values("authorization").as_slice() {
        ["Bearer good"] => (200, vec![("x-user-id", "42".into())], String::new()),
        _ => (401, vec![], String::new()),
    }
}

pub fn backend_probe(req: &Seen) -> (u16, Vec<(&'static str, String)>, String) {
    let user = req.header_values("x-user-id").join(",");
    (
        200,
        vec![("content-type", "application/json".into())],
        format!("{{\"target\":\"{}\",\"user\":\"{user}\"}}", req.target),
    )
}

/// A running nginx, stopped (and reaped) on drop.
pub struct Nginx(pub Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = stack::process::send_signal(self.0.id(), libc::SIGTERM);
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl -sk` answer: status, lower-cased headers, body.
pub struct Answer {
    pub status: u16,
    pub version: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

pub fn curl(port: u16, path: &str, extra: &[&str]) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head");
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-sk", "--http2", "--noproxy", "*", "--max-time", "10", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(extra)
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl is needed");
    assert!(out.status.success(), "curl {path} failed: {out:?}");
    let head = std::fs::read_to_string(head).unwrap();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("").to_string();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        version,
        headers,
        body: std::fs::read(body).unwrap_or_default(),
    }
}

pub fn start_nginx(home: &Home, conf: &Path, port: u16) -> Nginx {
    let mut cmd = Command::new(stack::nginx::nginx_binary().unwrap());
    cmd.arg("-c").arg(conf).arg("-p").arg(home.run_dir());
    let log = std::fs::File::create(home.run_dir().join("nginx.log")).unwrap();
    cmd.stdout(log.try_clone().unwrap()).stderr(log);
    let child = stack::testing::spawn_tied_to_process(cmd, libc::SIGTERM).unwrap();
    let nginx = Nginx(child);
    let began = Instant::now();
    while !stack::process::tcp_accepts(port) {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "nginx did not listen: {}",
            std::fs::read_to_string(home.run_dir().join("nginx.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nginx
}
