//! `prodstack down`: each recorded service stopped in reverse start order, after checking it
//! is still the process that was started.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::home::Home;
use crate::lock::{self, StackLock};
use crate::process::{self, send_signal, session_members, Liveness, ProcessIdentity};
use crate::service::Service;
use crate::state::{ServiceState, StackState};

use super::watch;

/// What [`stop`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    Stopped {
        after: Duration,
        forced: bool,
    },
    /// It had exited already; `leftovers` processes of its session were killed.
    NotRunning {
        leftovers: usize,
    },
    /// The pid belongs to another program now; it was left alone.
    Reused {
        now: String,
    },
    StillRunning,
}

impl StopOutcome {
    pub fn describe(&self, entry: &ServiceState) -> String {
        let pid = entry.pid();
        match self {
            StopOutcome::Stopped {
                after,
                forced: false,
            } => {
                format!("stopped (pid {pid}) in {:.1}s", after.as_secs_f64())
            }
            StopOutcome::Stopped {
                after,
                forced: true,
            } => format!(
                "killed (pid {pid}) after not stopping within its grace period ({:.1}s)",
                after.as_secs_f64()
            ),
            StopOutcome::NotRunning { leftovers: 0 } => {
                format!("was not running (pid {pid} gone)")
            }
            StopOutcome::NotRunning { leftovers } => format!(
                "was not running (pid {pid} gone); killed {leftovers} leftover process(es) of its session"
            ),
            StopOutcome::Reused { now } => {
                format!("pid {pid} now belongs to another program ({now}); left alone")
            }
            StopOutcome::StillRunning => format!("pid {pid} is STILL running after SIGKILL"),
        }
    }
}

/// Stops one recorded service: verifies the identity, sends the stop signal, waits, kills
/// after the grace period, then kills leftovers of its session that run the same executable
/// (nginx workers or Postgres backends orphaned by a crashed parent).
pub fn stop(entry: &ServiceState) -> StopOutcome {
    let began = Instant::now();
    let outcome = match entry.liveness() {
        Liveness::Gone => {
            let leftovers = sweep_session(entry);
            // A crash under `bench`: the zombie is ours to collect.
            entry.process.reap_if_exited_child();
            return StopOutcome::NotRunning { leftovers };
        }
        Liveness::Reused { now } => return StopOutcome::Reused { now },
        Liveness::Running => {
            send_signal(entry.pid(), entry.service.stop_signal());
            if wait_gone(&entry.process, entry.service.grace_period()) {
                StopOutcome::Stopped {
                    after: began.elapsed(),
                    forced: false,
                }
            } else {
                send_signal(entry.pid(), libc::SIGKILL);
                if wait_gone(&entry.process, Duration::from_secs(5)) {
                    StopOutcome::Stopped {
                        after: began.elapsed(),
                        forced: true,
                    }
                } else {
                    StopOutcome::StillRunning
                }
            }
        }
    };
    sweep_session(entry);
    // If this process started it (a bench restarting the stack), collect it rather than
    // leave a zombie until this process exits.
    entry.process.reap_if_exited_child();
    outcome
}

pub(super) fn wait_gone(process: &ProcessIdentity, timeout: Duration) -> bool {
    let began = Instant::now();
    loop {
        if process.liveness() != Liveness::Running {
            return true;
        }
        if began.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Kills what is left of a service's session; returns how many processes that was.
pub(super) fn sweep_session(entry: &ServiceState) -> usize {
    let leftovers: Vec<u32> = session_members(entry.pid())
        .into_iter()
        .filter(|&pid| process::executable(pid).as_deref() == Some(entry.process.exe.as_path()))
        .collect();
    for &pid in &leftovers {
        send_signal(pid, libc::SIGKILL);
    }
    let began = Instant::now();
    while leftovers.iter().any(|&pid| process::is_running(pid))
        && began.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(25));
    }
    leftovers.len()
}

/// One service of `prodstack down`.
#[derive(Debug, Clone)]
pub struct DownReport {
    pub service: Service,
    pub pid: u32,
    pub outcome: StopOutcome,
}

/// Stops every service of the stack recorded in `home`, newest first. `Ok(empty)` when no
/// stack was recorded; an error if a process refused to die.
pub fn down(home: &Home, say: &mut dyn FnMut(&str)) -> Result<Vec<DownReport>> {
    let _lock = StackLock::acquire(home, lock::WAIT_LIMIT, say)?;
    let Some(mut state) = StackState::load_if_present(home)? else {
        say(&format!(
            "no stack recorded in {} (nothing to stop)",
            StackState::path(home).display()
        ));
        return Ok(Vec::new());
    };
    // First, so that nothing `down` stops is started again.
    watch::stop(&mut state, say);
    let mut reports = Vec::new();
    for entry in state.services.clone().into_iter().rev() {
        let outcome = stop(&entry);
        say(&format!("{}: {}", entry.service, outcome.describe(&entry)));
        if outcome != StopOutcome::StillRunning {
            state.forget(entry.service);
        }
        reports.push(DownReport {
            service: entry.service,
            pid: entry.pid(),
            outcome,
        });
    }
    if let Some(iso) = state
        .isolation
        .clone()
        .filter(|_| state.services.is_empty())
    {
        match iso.remove() {
            Ok(()) => say(&format!("network namespace {}: removed", iso.netns)),
            Err(err) => {
                // The state file is its only record: keep it for the next `down` or `up`.
                state.save(home)?;
                return Err(Error::Invalid(format!(
                    "removing network namespace {}: {err}",
                    iso.netns
                )));
            }
        }
    }
    if state.services.is_empty() {
        StackState::remove(home)?;
        match std::fs::remove_file(watch::options_path(home)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => say(&format!(
                "warning: removing {}: {e}",
                watch::options_path(home).display()
            )),
            _ => {}
        }
        Ok(reports)
    } else {
        state.save(home)?;
        Err(Error::Invalid(format!(
            "could not stop: {}",
            state
                .services
                .iter()
                .map(|s| format!("{} (pid {})", s.service, s.pid()))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Stops `services` of the running stack and forgets them, under the stack lock, leaving the
/// rest running (the benchmark keeps Postgres across its variants); a server names every
/// instance of it. The supervisor, if one runs, is stopped too: it would start them again.
pub fn stop_services(home: &Home, services: &[Service], say: &mut dyn FnMut(&str)) -> Result<()> {
    let _lock = StackLock::acquire(home, lock::WAIT_LIMIT, say)?;
    let Some(mut state) = StackState::load_if_present(home)? else {
        return Ok(());
    };
    watch::stop(&mut state, say);
    let named: Vec<ServiceState> = services
        .iter()
        .flat_map(|&service| {
            state
                .services
                .iter()
                .filter(move |e| e.service.same_kind(service))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    for entry in named {
        let outcome = stop(&entry);
        say(&format!("{}: {}", entry.service, outcome.describe(&entry)));
        if outcome != StopOutcome::StillRunning {
            state.forget(entry.service);
        }
    }
    state.save(home)
}
