//! Injecting a scenario's fault into the running stack and lifting it: signals to the
//! recorded processes (identity-checked through the state file, never by name), and
//! `prodstack up`'s own start path to bring a stopped service back, so a restart here is
//! exactly what a person's `prodstack up` would do.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use stack::process::{self, Liveness};
use stack::supervise::{self, UpOptions};
use stack::{Home, Service, StackState};

use crate::scenario::{Fault, Scenario, FAULT_S};

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
}

/// Waits until `at_s` after `t0`, injects `scenario`'s fault, lifts it [`FAULT_S`] later,
/// and returns when the service is back.
pub fn inject(
    scenario: Scenario,
    home: &Home,
    opts: &UpOptions,
    t0: Instant,
    at_s: f64,
) -> anyhow::Result<Timing> {
    let since = |t: Instant| t.duration_since(t0).as_secs_f64();
    sleep_until(t0, at_s);
    let state = StackState::load(home)?;
    let service = scenario.service();
    let entry = state
        .service(service)
        .filter(|e| e.liveness() == Liveness::Running)
        .with_context(|| format!("{service} is not running, so there is nothing to inject"))?
        .clone();
    let mut timing = Timing::default();
    let injected = Instant::now();
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
            let old_workers: Vec<u32> = members(&entry)
                .into_iter()
                .filter(|&pid| pid != entry.pid())
                .collect();
            if !process::send_signal(entry.pid(), libc::SIGHUP) {
                bail!("{service} (pid {}) vanished before SIGHUP", entry.pid());
            }
            timing.lifted_s = timing.injected_s;
            // The reload is over when the old workers have finished what they held and exited.
            let gone = wait_until(RELOAD_TIMEOUT, || {
                old_workers.iter().all(|&pid| !process::is_running(pid))
            });
            timing.back_s = since(Instant::now());
            timing.log.push(format!(
                "{service}: SIGHUP to the master, pid {}; {} old worker(s) {}",
                entry.pid(),
                old_workers.len(),
                if gone {
                    format!("gone {:.2} s later", timing.back_s - timing.injected_s)
                } else {
                    format!("still running after {RELOAD_TIMEOUT:?}")
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
        _ => {
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
/// half-way may have left one down), through `up`.
pub fn restore(home: &Home, opts: &UpOptions) -> anyhow::Result<Vec<Service>> {
    let report = supervise::up(home, opts, &mut |_| {})?;
    Ok(report
        .services
        .iter()
        .filter(|s| s.action != supervise::Action::AlreadyRunning)
        .map(|s| s.state.service)
        .collect())
}
