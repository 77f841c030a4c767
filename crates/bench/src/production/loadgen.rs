//! The load generator's processes: finding h2load, waiting for both instances of a run within
//! HttpArena's 45 s bound (a run whose h2load never ends counts nothing), and describing what a
//! run that hung or failed recorded.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use stack::{Service, StackState};

use crate::h2load::{self, Invocation};
use crate::metrics::Scrape;
use crate::results::{metric, LatencyReport, RunResult};

/// HttpArena's harness runs each h2load under `timeout 45`.
pub(super) const HTTPARENA_LOADGEN_TIMEOUT_S: u32 = 45;

/// How one h2load process ended.
#[derive(Debug)]
pub enum Exit {
    Finished(std::process::ExitStatus),
    /// Still running at the timeout, so killed; `sockets` it held then.
    Killed {
        sockets: Option<u64>,
    },
}

impl Exit {
    pub fn open_connections(&self) -> Option<u64> {
        match self {
            Exit::Finished(_) => None,
            Exit::Killed { sockets } => *sockets,
        }
    }
}

/// Waits for both h2load processes with a progress line; kills one still running at
/// `timeout` after the start (counting the connections it still holds first), like
/// HttpArena's `timeout 45`, and waits for the other.
pub fn wait_all(
    children: &mut [(&Invocation, Child, PathBuf)],
    timeout: Duration,
    label: &str,
    duration: u32,
) -> anyhow::Result<Vec<Exit>> {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut exits: Vec<Option<Exit>> = children.iter().map(|_| None).collect();
    let mut last_print = 0;
    loop {
        let overdue = started.elapsed() > timeout;
        for (i, (_, child, _)) in children.iter_mut().enumerate() {
            if exits[i].is_some() {
                continue;
            }
            if let Some(status) = child.try_wait().context("waiting for h2load")? {
                exits[i] = Some(Exit::Finished(status));
            } else if overdue {
                let sockets = open_sockets(child.id());
                let _ = child.kill();
                let _ = child.wait();
                exits[i] = Some(Exit::Killed { sockets });
            }
        }
        if exits.iter().all(Option::is_some) {
            break;
        }
        let secs = started.elapsed().as_secs();
        if secs != last_print {
            last_print = secs;
            let line = if secs <= duration as u64 {
                format!("   {label}: {secs}/{duration} s")
            } else {
                format!(
                    "   {label}: {duration} s run over, waiting for h2load to exit ({secs} s; killed at {} s)",
                    timeout.as_secs()
                )
            };
            if tty {
                eprint!("\r{line}   ");
                let _ = std::io::stderr().flush();
            } else if secs.is_multiple_of(5) {
                eprintln!("{line}");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if tty {
        eprint!("\r{}\r", " ".repeat(100));
    }
    Ok(exits.into_iter().flatten().collect())
}

/// Sockets among a process' descriptors (its open client connections, for h2load).
pub(super) fn open_sockets(pid: u32) -> Option<u64> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        fds.filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count() as u64,
    )
}

pub(super) fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The h2load to run, and its version (for explaining a hang).
pub struct LoadGenerator {
    pub program: PathBuf,
    pub version: Option<(u32, u32, u32)>,
}

pub fn resolve_h2load(program: &Path) -> anyhow::Result<LoadGenerator> {
    let found = if program.components().count() > 1 {
        program.is_file().then(|| program.to_path_buf())
    } else {
        stack::process::find_on_path(&program.to_string_lossy())
    };
    let program = found.with_context(|| {
        format!(
            "`{}` is not installed (./prodstack installs h2load: Debian package nghttp2-client)",
            program.display()
        )
    })?;
    let version = std::process::Command::new(&program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| h2load::parse_version(&String::from_utf8_lossy(&out.stdout)));
    Ok(LoadGenerator { program, version })
}

/// What to tell the user when runs did not finish: the known cause and what to do about it.
pub(super) fn unfinished_advice(runs: &[RunResult], h2load: &LoadGenerator) -> Option<String> {
    let unfinished: Vec<&RunResult> = runs.iter().filter(|r| !r.scored()).collect();
    if unfinished.is_empty() {
        return None;
    }
    let killed = unfinished
        .iter()
        .flat_map(|r| &r.unfinished)
        .filter(|u| u.reason.contains("killed"))
        .count();
    let mut text = format!(
        "!! {} of {} runs did not finish and count nothing (scored 0, as in HttpArena); the report above shows them.",
        unfinished.len(),
        runs.len()
    );
    let version = h2load
        .version
        .map(|(a, b, c)| format!("{a}.{b}.{c}"))
        .unwrap_or_else(|| "of unknown version".into());
    let old = h2load
        .version
        .is_none_or(|v| v < h2load::FIRST_VERSION_THAT_STOPS_LATE_CLIENTS);
    if killed > 0 && old {
        text.push_str(&format!(
            "\n   Cause: this h2load ({version}; Debian 12 ships 1.52) never stops a client whose TLS handshake is \
             still under way when -D ends: once connected it sends requests that are no longer counted, \
             forever (fixed in nghttp2 1.69.0). It happens when the stack's CPUs cannot finish every \
             handshake (connections + connections/8 at once) within the duration while serving the clients \
             already connected; on HttpArena's 64-CPU host they finish within milliseconds.\n   \
             To get a score here: a longer --duration (e.g. 15s) leaves time for every handshake; or fewer \
             --connections, more CPUs for the stack (--loadgen-cpus), or a newer h2load (--h2load PATH)."
        ));
    } else if killed > 0 {
        text.push_str(&format!(
            "\n   h2load {version} did not exit within --loadgen-timeout; its output files are in the bench folder."
        ));
    }
    Some(text)
}

/// Latency of every request the logs of one instance (a run's segments) recorded.
pub(super) fn log_latency(paths: &[PathBuf]) -> LatencyReport {
    let mut requests = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        requests.extend(h2load::parse_log(&text).0);
    }
    LatencyReport::from(&h2load::latency(&requests))
}

/// Non-2xx answers of a run, explained: per-status counts from the h2load logs, the server's
/// non-2xx routes, and the edge's error-log lines (which carry the request line) written
/// during the run.
pub(super) fn describe_failures(
    delta: &Scrape,
    reads_logs: &[PathBuf],
    writes_logs: &[PathBuf],
    state: &StackState,
) -> Vec<String> {
    let mut out = Vec::new();
    for (label, logs) in [("reads", reads_logs), ("writes", writes_logs)] {
        let mut by_status: std::collections::BTreeMap<i32, u64> = Default::default();
        for log in logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let (requests, _) = h2load::parse_log(&text);
            for r in requests.iter().filter(|r| !(200..300).contains(&r.status)) {
                *by_status.entry(r.status).or_default() += 1;
            }
        }
        for (status, count) in by_status {
            let what = if status <= 0 {
                "no HTTP answer".to_string()
            } else {
                format!("status {status}")
            };
            out.push(format!("{label}: {count} × {what}"));
        }
    }
    for (key, value) in &delta.samples {
        if key.starts_with(metric::REQUESTS) && !key.contains("status=\"2") && *value > 0.0 {
            out.push(format!("server: {key} +{value}"));
        }
    }
    if !out.is_empty() {
        if let Some(edge) = state.service(Service::Edge) {
            let tail = stack::process::tail(&edge.log, 200);
            out.extend(
                tail.lines()
                    .filter(|l| l.contains("request: "))
                    .rev()
                    .take(5)
                    .map(|l| format!("edge log: {}", l.trim())),
            );
        }
    }
    out
}
