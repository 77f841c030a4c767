//! The supervisor: a detached `prodstack-supervisor` process that `up` leaves running, which
//! restarts any service of the stack that exits, with the backoff of [`super::restart`].
//!
//! Its restart is `up`'s own start path ([`up_locked`]) with the options of the last `up`,
//! which `up` saves for it in `run/up-options.json` (owner-only: it holds the JWT secret). So
//! a restart is exactly what a person's `prodstack up` would do: the dead process's leftovers
//! swept, its ports checked, the new process started, probed until healthy, and recorded.
//! Every read-act-write holds the stack lock ([`crate::lock`]); once started (it waits for
//! the `up` that spawned it to finish) it only ever *tries* the lock, so an `up` or `down` in
//! progress always goes first, and it re-reads the state file under the lock before acting.
//! A restart is a whole `up` pass: every dead service is started (each counted as a
//! restart), and the running ones are probed, as `up` does (one that fails its probe is
//! restarted by `up` itself).
//!
//! It watches process liveness every [`POLL`] (a few `/proc` reads, no probes: a hung but
//! living service alone never triggers a restart; the server's timeouts ride out a hang).
//! It exits when the state file is gone (`down`, or its home removed) or names another
//! supervisor; `down` stops it before anything else, under the lock, so it never restarts a
//! service `down` is stopping. Each restart increments the service's `restarts` in the state
//! file, which `status` shows.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bins::our_binary;
use crate::error::{Error, IoContext, Result};
use crate::home::Home;
use crate::lock::{self, StackLock};
use crate::process::{self, Liveness, ProcessIdentity};
use crate::service::Service;
use crate::state::{write_atomically, StackState};

use super::down::wait_gone;
use super::options::UpOptions;
use super::restart::Backoff;
use super::up::up_locked;

/// The supervisor's executable (`crates/stack/src/bin/supervisor.rs`).
pub const BINARY: &str = "prodstack-supervisor";

/// How often the supervisor looks at its services.
pub const POLL: Duration = Duration::from_millis(200);

/// `run/up-options.json`: the options of the last `up`, which restarts use.
pub fn options_path(home: &Home) -> PathBuf {
    home.run_dir().join("up-options.json")
}

/// `logs/supervisor.log`.
pub fn log_path(home: &Home) -> PathBuf {
    home.logs_dir().join("supervisor.log")
}

fn save_options(home: &Home, opts: &UpOptions) -> Result<()> {
    // A restart must not drop and reload the database.
    let opts = UpOptions {
        reseed: false,
        ..opts.clone()
    };
    let text = serde_json::to_string_pretty(&opts)
        .map_err(|e| Error::Invalid(format!("serializing the options of `up`: {e}")))?;
    write_atomically(&options_path(home), text.as_bytes())
}

fn load_options(home: &Home) -> Result<UpOptions> {
    let path = options_path(home);
    let text =
        std::fs::read_to_string(&path).io_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{} is unreadable: {e}", path.display())))
}

/// After a successful `up` (which holds the lock): saves its options and makes sure a
/// supervisor runs, or, with `supervise` off, that none does; records it in `state`.
pub(super) fn after_up(
    home: &Home,
    opts: &UpOptions,
    state: &mut StackState,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    if let Err(err) = save_options(home, opts) {
        say(&format!(
            "warning: the supervisor keeps the options it had (saving them failed: {err})"
        ));
    }
    let running = state
        .supervisor
        .as_ref()
        .filter(|s| s.liveness() == Liveness::Running)
        .cloned();
    match (opts.supervise, running) {
        (true, Some(supervisor)) => {
            say(&format!(
                "supervisor: already running (pid {}); it {}",
                supervisor.pid,
                opts.restart.describe()
            ));
        }
        (true, None) => {
            // The stack is up: a supervisor that cannot start is a warning, not a failed `up`.
            state.supervisor = spawn(home, say).unwrap_or_else(|err| {
                say(&format!(
                    "warning: no supervisor, so crashed services stay down: {err}"
                ));
                None
            });
            if let Some(supervisor) = &state.supervisor {
                say(&format!(
                    "supervisor: started (pid {}); it {}",
                    supervisor.pid,
                    opts.restart.describe()
                ));
            }
        }
        (false, Some(_)) => {
            stop(state, say);
        }
        (false, None) => state.supervisor = None,
    }
    state.save(home)
}

/// Starts the supervisor; `None` (said) when its binary is not built.
fn spawn(home: &Home, say: &mut dyn FnMut(&str)) -> Result<Option<ProcessIdentity>> {
    let bin = match our_binary(BINARY) {
        Ok(bin) => bin,
        Err(err) => {
            say(&format!(
                "note: no supervisor, so crashed services stay down ({err})"
            ));
            return Ok(None);
        }
    };
    let mut cmd = Command::new(bin);
    cmd.arg("--home").arg(home.root());
    let sink = our_binary(crate::logsink::BINARY).ok();
    let mut child = process::spawn_detached(cmd, &log_path(home), None, sink.as_deref())?;
    let identity = ProcessIdentity::of(child.id());
    // Reaped whenever it exits, for a long-lived caller (`chaos`, `bench`).
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    identity.map(Some).ok_or_else(|| {
        Error::Invalid(format!(
            "{BINARY} exited at once; see {}",
            log_path(home).display()
        ))
    })
}

/// Stops the recorded supervisor (SIGTERM, then SIGKILL after 5 s) and forgets it.
pub(super) fn stop(state: &mut StackState, say: &mut dyn FnMut(&str)) {
    let Some(supervisor) = state.supervisor.take() else {
        return;
    };
    if supervisor.liveness() != Liveness::Running {
        return;
    }
    process::send_signal(supervisor.pid, libc::SIGTERM);
    let mut stopped = wait_gone(&supervisor, Duration::from_secs(5));
    if !stopped {
        process::send_signal(supervisor.pid, libc::SIGKILL);
        stopped = wait_gone(&supervisor, Duration::from_secs(5));
    }
    say(&format!(
        "supervisor: {} (pid {})",
        if stopped { "stopped" } else { "did NOT stop" },
        supervisor.pid
    ));
}

/// The supervisor's loop (see the module docs); returns when the stack is down or another
/// supervisor took over.
pub fn watch(home: &Home, say: &mut dyn FnMut(&str)) -> Result<()> {
    let me = ProcessIdentity::of(std::process::id())
        .ok_or_else(|| Error::Invalid("cannot read this process' identity in /proc".into()))?;
    // `up` holds the lock until it has recorded this process; wait for that.
    drop(StackLock::acquire(home, lock::WAIT_LIMIT, say)?);
    let policy = load_options(home)?.restart;
    let mut backoff = Backoff::new(policy);
    say(&format!(
        "supervising the stack in {} (pid {}): {}",
        home.root().display(),
        me.pid,
        policy.describe()
    ));
    loop {
        reap_children();
        let state = match StackState::load_if_present(home) {
            Ok(Some(state)) => state,
            Ok(None) => {
                say("the state file is gone (the stack is down); exiting");
                return Ok(());
            }
            Err(err) => {
                say(&format!("reading the state file: {err}; trying again"));
                std::thread::sleep(POLL);
                continue;
            }
        };
        if state.supervisor.as_ref() != Some(&me) {
            say("the state file names another supervisor (or none); exiting");
            return Ok(());
        }
        let now = Instant::now();
        let (running, down): (Vec<Service>, Vec<Service>) =
            state.expected_services().iter().partition(|&&s| {
                state
                    .service(s)
                    .is_some_and(|e| e.liveness() == Liveness::Running)
            });
        for service in running {
            backoff.running(service);
        }
        if down.iter().any(|&s| !backoff.is_pending(s)) {
            // A new crash: schedule it with the latest `up`'s policy (`up --restart-delay`
            // on a running supervisor).
            if let Ok(opts) = load_options(home) {
                backoff.set_policy(opts.restart);
            }
        }
        let mut due = Vec::new();
        for service in down {
            if let Some((wait, in_a_row)) = backoff.down(service, now) {
                say(&format!(
                    "{service}: {}; restarting in {:.1}s (crash {in_a_row} in a row)",
                    match state.service(service) {
                        Some(e) => format!("exited (pid {})", e.pid()),
                        None => "not running".to_string(),
                    },
                    wait.as_secs_f64()
                ));
            }
            if backoff.is_due(service, now) {
                due.push(service);
            }
        }
        if !due.is_empty() {
            restart(home, &me, &due, &mut backoff, say);
        }
        std::thread::sleep(POLL);
    }
}

/// One restart attempt of the `due` services, if the lock is free and they are still down.
fn restart(
    home: &Home,
    me: &ProcessIdentity,
    due: &[Service],
    backoff: &mut Backoff,
    say: &mut dyn FnMut(&str),
) {
    let lock = match StackLock::try_acquire(home) {
        Ok(Some(lock)) => lock,
        // An `up` or `down` is at work: look again next time.
        Ok(None) => return,
        Err(err) => {
            say(&format!("taking the stack lock: {err}"));
            return;
        }
    };
    // Under the lock, the file is the truth: `down` may have stopped the stack, or a person's
    // `up` brought the service back.
    let Ok(Some(state)) = StackState::load_if_present(home) else {
        return;
    };
    if state.supervisor.as_ref() != Some(me) {
        return;
    }
    let still_down = |s: &Service| {
        state
            .service(*s)
            .is_none_or(|e| e.liveness() != Liveness::Running)
    };
    if !due.iter().any(still_down) {
        return;
    }
    // `up` starts every dead service, due or not: each is a restart.
    let down: Vec<(Service, u32)> = state
        .expected_services()
        .iter()
        .filter(|s| still_down(s))
        .map(|&s| (s, state.service(s).map_or(0, |e| e.restarts)))
        .collect();
    let began_unix_ms = process::unix_ms();
    let attempt = load_options(home)
        .and_then(|opts| up_locked(home, &opts, &mut |line| say(&format!("  {line}"))));
    let now = Instant::now();
    match attempt {
        Ok(report) => {
            let mut state = report.state;
            for (service, before) in &down {
                let ours = backoff.restarted(*service, now);
                if let Some(entry) = state.services.iter_mut().find(|e| e.service == *service) {
                    entry.restarts = (before + 1).max(ours);
                    entry.last_restart_unix_ms = Some(began_unix_ms);
                    say(&format!(
                        "{service}: restarted (pid {}); {} restart(s) so far",
                        entry.pid(),
                        entry.restarts
                    ));
                }
            }
            if let Err(err) = state.save(home) {
                say(&format!("recording the restart: {err}"));
            }
        }
        Err(err) => {
            for (service, _) in &down {
                let wait = backoff.failed(*service, now);
                say(&format!(
                    "{service}: the restart failed; next attempt in {:.1}s: {}",
                    wait.as_secs_f64(),
                    super::probe::first_line(&err.to_string())
                ));
            }
        }
    }
    drop(lock);
}

/// Collects the services this process started that have exited (they are its children, and
/// would otherwise stay zombies until it exits).
fn reap_children() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG only reads the exit status of our own children.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}
