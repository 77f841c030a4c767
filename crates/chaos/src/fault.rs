//! Injecting a scenario's fault into the running stack and lifting it: signals to the
//! recorded processes (identity-checked through the state file, never by name). A killed or
//! stopped service is brought back by the stack's supervisor, whose first restart waits
//! [`FAULT_S`] (the stack runs with that delay under `chaos`); `chaos` only watches the state
//! file for the restart, bounded by [`RESTART_TIMEOUT`], and starts the service itself (and
//! fails the scenario's supervision check) when none came.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bench::metrics::Scrape;
use serde::Serialize;
use stack::process::{self, Liveness};
use stack::supervise::{self, UpOptions};
use stack::{CpuSet, Home, Service, StackState};

use crate::crowd::{CrowdFigures, CrowdPlan};
use crate::scenario::{Fault, Scenario, FAULT_S};

/// The Rust edge's count of certificate reloads (its admin `/metrics`).
const CERTIFICATE_RELOADS: &str = "edge_certificate_reloads_total";

/// When the fault happened, in seconds since the scenario's load started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timing {
    /// The fault was injected.
    pub injected_s: f64,
    /// The fault was lifted: the restart began, or SIGCONT was sent.
    pub lifted_s: f64,
    /// The service answered its health probe again (the restart's `up` returned).
    pub back_s: f64,
    /// What the injection and the restart said.
    pub log: Vec<String>,
    /// For a kill or a stop: whether the supervisor brought the service back (`false`:
    /// `chaos` had to, after [`RESTART_TIMEOUT`]).
    pub restarted_by_supervisor: Option<bool>,
    /// For a reload: whether it finished (nginx's old workers exited; the Rust edge counted
    /// it) within [`RELOAD_TIMEOUT`].
    pub reload_finished: Option<bool>,
    /// For the hostile clients: what they held and what it cost the edge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crowd: Option<CrowdFigures>,
    /// For the hostile clients: services whose process changed or died meanwhile.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crashed: Vec<String>,
}

/// What the hostile-clients fault needs besides the stack: the crowd's size and the CPUs its
/// clients run on.
#[derive(Debug, Clone)]
pub struct CrowdSetup {
    pub plan: CrowdPlan,
    pub cpus: Option<CpuSet>,
}

/// How long `chaos` waits for the supervisor to bring a killed service back, counted from
/// the kill: its [`FAULT_S`] delay, the restart's own health probes (up to ~10 s for
/// Postgres' recovery) and slack for a slow machine.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until `at_s` after `t0`, injects `scenario`'s fault, lifts it [`FAULT_S`] later,
/// and returns when the service is back.
pub fn inject(
    scenario: Scenario,
    home: &Home,
    opts: &UpOptions,
    crowd: &CrowdSetup,
    t0: Instant,
    at_s: f64,
) -> anyhow::Result<Timing> {
    let since = |t: Instant| t.duration_since(t0).as_secs_f64();
    sleep_until(t0, at_s);
    let state = StackState::load(home)?;
    // The partition breaks whichever instance the stack isolated (the last).
    let service = match (scenario.fault(), &state.isolation) {
        (Fault::Partition, Some(iso)) => Service::Server(iso.instance),
        _ => scenario.service(),
    };
    let entry = state
        .service(service)
        .filter(|e| e.liveness() == Liveness::Running)
        .with_context(|| format!("{service} is not running, so there is nothing to inject"))?
        .clone();
    let mut timing = Timing::default();
    let isolation = state.isolation.clone();
    let injected = Instant::now();
    let injected_unix_ms = process::unix_ms();
    timing.injected_s = since(injected);
    match scenario.fault() {
        Fault::Kill => {
            if !process::send_signal(entry.pid(), libc::SIGKILL) {
                bail!("{service} (pid {}) vanished before SIGKILL", entry.pid());
            }
            timing
                .log
                .push(format!("{service}: SIGKILL to pid {}", entry.pid()));
        }
        Fault::FastStop => {
            let outcome = supervise::stop(&entry);
            timing
                .log
                .push(format!("{service}: {}", outcome.describe(&entry)));
        }
        Fault::Crowd => {
            let target = hostile::Target::localhost(std::net::SocketAddr::from((
                std::net::Ipv4Addr::LOCALHOST,
                state.ports.edge,
            )));
            let figures =
                crate::crowd::hold(&target, crowd.plan, crowd.cpus.as_ref(), entry.pid(), t0)?;
            timing.lifted_s = figures.released_s;
            timing.back_s = figures.released_s;
            timing.log.push(format!(
                "{service}: {} hostile connections held from {:.2} s ({} idle TLS, {} slowloris, {} with {} unread streams; {} refused, {} closed by the edge), let go at {:.2} s",
                figures.held(),
                figures.held_from_s,
                figures.idle_held,
                figures.slow_headers_held,
                figures.unread_connections_held,
                figures.unread_streams,
                figures.refused,
                figures.closed_by_edge,
                figures.released_s
            ));
            let now = StackState::load(home)?;
            timing.crashed = state
                .services
                .iter()
                .filter(|before| {
                    now.service(before.service).is_none_or(|e| {
                        e.pid() != before.pid() || e.liveness() != Liveness::Running
                    })
                })
                .map(|e| e.service.to_string())
                .collect();
            timing.crowd = Some(figures);
            return Ok(timing);
        }
        Fault::Partition => {
            let iso = isolation.as_ref().context(
                "the stack has no isolated server instance (up --servers 2 --isolate-server)",
            )?;
            iso.cut_redis()?;
            timing.log.push(format!(
                "{service}: Redis link down ({} {} <-> {} in {})",
                iso.redis.host_if, iso.redis.host_ip, iso.redis.ns_ip, iso.netns
            ));
        }
        Fault::Freeze => {
            let members = members(&entry);
            for &pid in &members {
                process::send_signal(pid, libc::SIGSTOP);
            }
            timing.log.push(format!(
                "{service}: SIGSTOP to {} process(es)",
                members.len()
            ));
        }
        Fault::Reload => {
            // What shows the reload is over, and how the log says it.
            type Finished<'a> = Box<dyn FnMut() -> bool + 'a>;
            // An nginx without workers has nothing to replace: its reload proves nothing.
            let mut vacuous = false;
            let (finished, target, done, not_done): (Finished<'_>, _, _, _) = if opts.edge.is_rust()
            {
                // The Rust edge reloads its certificate in place (no workers come and go):
                // over when its counter says so.
                let url = format!("http://127.0.0.1:{}/metrics", state.ports.edge_status);
                let reloads = {
                    let url = url.clone();
                    move || {
                        Scrape::fetch(&url)
                            .map(|s| s.sum(CERTIFICATE_RELOADS, &[]))
                            .unwrap_or(-1.0)
                    }
                };
                let before = reloads();
                if before < 0.0 {
                    bail!("the Rust edge's counters at {url} did not answer before the reload");
                }
                (
                    Box::new(move || reloads() > before),
                    "the Rust edge",
                    "certificate reload counted".to_string(),
                    "certificate reload not counted within".to_string(),
                )
            } else {
                // nginx: over when the old workers have finished what they held and exited.
                let old_workers: Vec<u32> = members(&entry)
                    .into_iter()
                    .filter(|&pid| pid != entry.pid())
                    .collect();
                let workers = format!("{} old worker(s)", old_workers.len());
                vacuous = old_workers.is_empty();
                (
                    Box::new(move || old_workers.iter().all(|&pid| !process::is_running(pid))),
                    "the master",
                    format!("{workers} gone"),
                    format!("{workers} still running after"),
                )
            };
            if !process::send_signal(entry.pid(), libc::SIGHUP) {
                bail!("{service} (pid {}) vanished before SIGHUP", entry.pid());
            }
            timing.lifted_s = timing.injected_s;
            let over = wait_until(RELOAD_TIMEOUT, finished);
            timing.reload_finished = Some(over && !vacuous);
            timing.back_s = since(Instant::now());
            timing.log.push(format!(
                "{service}: SIGHUP to {target}, pid {}; {}",
                entry.pid(),
                if over {
                    format!("{done} {:.2} s later", timing.back_s - timing.injected_s)
                } else {
                    format!("{not_done} {RELOAD_TIMEOUT:?}")
                }
            ));
            return Ok(timing);
        }
    }
    sleep_until(t0, timing.injected_s + FAULT_S);
    timing.lifted_s = since(Instant::now());
    match scenario.fault() {
        Fault::Freeze => {
            // Every process stopped above, and any the stopped ones could not have forked.
            for pid in members(&entry) {
                process::send_signal(pid, libc::SIGCONT);
            }
            timing.log.push(format!("{service}: SIGCONT"));
        }
        Fault::Partition => {
            if let Some(iso) = &isolation {
                iso.restore_redis()?;
                timing.log.push(format!("{service}: Redis link up again"));
            }
        }
        _ => {
            let restarted =
                wait_for_restart(home, &entry, injected_unix_ms, injected + RESTART_TIMEOUT)?;
            timing.restarted_by_supervisor = Some(restarted.is_some());
            if let Some((began_ms, new)) = restarted {
                // The supervisor records when its restart began, in wall-clock time.
                let began_after = began_ms.saturating_sub(injected_unix_ms) as f64 / 1000.0;
                timing.lifted_s = timing.injected_s + began_after;
                timing.back_s = since(Instant::now());
                timing.log.push(format!(
                    "{service}: the supervisor began its restart {began_after:.2} s after the fault; pid {} answered {:.2} s after the fault (restart {} of this stack)",
                    new.pid(),
                    timing.back_s - timing.injected_s,
                    new.restarts
                ));
                return Ok(timing);
            }
            timing.log.push(format!(
                "{service}: the supervisor did not bring it back within {RESTART_TIMEOUT:?}; starting it"
            ));
            timing.lifted_s = since(Instant::now());
            let report = supervise::up(home, opts, &mut |line| {
                timing.log.push(line.to_string());
            })
            .with_context(|| format!("starting {service} again"))?;
            let restarted = report
                .services
                .iter()
                .find(|s| s.state.service == service)
                .map(|s| {
                    format!(
                        "{service}: {} in {:.2} s",
                        s.action.as_str(),
                        s.ready_after.as_secs_f64()
                    )
                })
                .unwrap_or_else(|| format!("{service}: already running"));
            timing.log.push(restarted);
        }
    }
    timing.back_s = since(Instant::now());
    Ok(timing)
}

/// Polls the state file until the supervisor has recorded a restart of `killed`'s service
/// that began after the fault (`since_unix_ms`) and runs: when it began (unix ms) and the new
/// entry. `None` when `deadline` passed first.
fn wait_for_restart(
    home: &Home,
    killed: &stack::ServiceState,
    since_unix_ms: u64,
    deadline: Instant,
) -> anyhow::Result<Option<(u64, stack::ServiceState)>> {
    loop {
        if let Some(entry) = StackState::load_if_present(home)?
            .and_then(|state| state.service(killed.service).cloned())
        {
            if let Some(began) = entry.last_restart_unix_ms.filter(|&at| at >= since_unix_ms) {
                if entry.pid() != killed.pid() && entry.liveness() == Liveness::Running {
                    return Ok(Some((began, entry)));
                }
            }
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The main process and all its descendants that run its executable (Redis; the postmaster
/// and every backend, which each call `setsid()` and so leave the postmaster's session), so a
/// freeze is the whole service's, not one process'.
fn members(entry: &stack::ServiceState) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![entry.pid()];
    };
    let parents: Vec<(u32, u32)> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, process::proc_stat(pid)?.ppid)))
        .collect();
    let mut family = vec![entry.pid()];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(
            parents
                .iter()
                .filter(|(pid, ppid)| *ppid == parent && !family.contains(pid))
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    family
        .into_iter()
        .filter(|&pid| process::executable(pid).as_deref() == Some(entry.process.exe.as_path()))
        .collect()
}

/// How long a reload's old workers may take to finish and exit before `chaos` stops waiting
/// (nginx's own bound on them is `worker_shutdown_timeout`, or none).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `done` every 20 ms for at most `limit`; whether it became true.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let began = Instant::now();
    while !done() {
        if began.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn sleep_until(t0: Instant, at_s: f64) {
    let at = t0 + Duration::from_secs_f64(at_s.max(0.0));
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// After a scenario: every service running and healthy again (a scenario that failed
/// half-way may have left one down or frozen), through SIGCONT and `up`.
pub fn restore(home: &Home, opts: &UpOptions) -> anyhow::Result<Vec<Service>> {
    if let Some(state) = StackState::load_if_present(home)? {
        for entry in &state.services {
            for pid in members(entry) {
                process::send_signal(pid, libc::SIGCONT);
            }
        }
    }
    let report = supervise::up(home, opts, &mut |_| {})?;
    Ok(report
        .services
        .iter()
        .filter(|s| s.action != supervise::Action::AlreadyRunning)
        .map(|s| s.state.service)
        .collect())
}
