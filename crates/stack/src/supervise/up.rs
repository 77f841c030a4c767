//! `prodstack up`: the checks that need nothing started, then each service in start order,
//! recorded in the state file as it starts, seeded once ready, and everything this run
//! started stopped again if a later service fails.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, PortConflict, Result};
use crate::home::Home;
use crate::lock::{self, StackLock};
use crate::ports::{self, StackPorts};
use crate::postgres::{self, Cluster};
use crate::process::{self, Liveness, ProcessIdentity};
use crate::profile::EdgeKind;
use crate::redis;
use crate::service::Service;
use crate::state::{ServiceState, StackState};

use super::down::{stop, StopOutcome};
use super::options::UpOptions;
use super::plan::{command, describe_command, service_cpus, Plan};
use super::probe::{first_line, settled_tail, wait_healthy};
use super::watch;

/// What `up` did with one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Started,
    AlreadyRunning,
    /// It was running but not healthy, so it was stopped and started again.
    Restarted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Started => "started",
            Action::AlreadyRunning => "already running",
            Action::Restarted => "restarted",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceReport {
    pub action: Action,
    pub state: ServiceState,
    /// From spawn (or from the start of the check, if already running) to healthy.
    pub ready_after: Duration,
}

#[derive(Debug, Clone)]
pub struct UpReport {
    pub services: Vec<ServiceReport>,
    pub state: StackState,
    pub elapsed: Duration,
}

/// Files the stack cannot start without (`prodstack data` generates them).
pub fn missing_data(home: &Home) -> Vec<PathBuf> {
    [
        home.dataset_path(),
        home.seed_sql_path(),
        home.static_dir().join("reset.css"),
        home.certs_dir().join("server.crt"),
        home.certs_dir().join("server.key"),
    ]
    .into_iter()
    .filter(|p| !p.is_file())
    .collect()
}

/// Where `logs` and the state file look for a service's log.
pub fn log_path(home: &Home, service: Service) -> PathBuf {
    service.log_path(home)
}

/// Brings the stack up (see the module docs) under the stack lock, then leaves the
/// supervisor running (or stops it, with `supervise` off). `say` receives one progress line
/// at a time.
pub fn up(home: &Home, opts: &UpOptions, say: &mut dyn FnMut(&str)) -> Result<UpReport> {
    let _lock = StackLock::acquire(home, lock::WAIT_LIMIT, say)?;
    let mut report = up_locked(home, opts, say)?;
    watch::after_up(home, opts, &mut report.state, say)?;
    Ok(report)
}

/// [`up`]'s work, for a caller that holds the stack lock already (the supervisor).
pub(super) fn up_locked(
    home: &Home,
    opts: &UpOptions,
    say: &mut dyn FnMut(&str),
) -> Result<UpReport> {
    let began = Instant::now();
    for dir in [home.run_dir(), home.logs_dir()] {
        std::fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
    }
    let ports = StackPorts::with_offset(opts.ports_offset).map_err(Error::Invalid)?;
    let mut state = existing_state(home, opts, &ports)?;
    forget_dead(home, &mut state, say)?;
    let running: Vec<Service> = opts
        .services()
        .into_iter()
        .filter(|s| {
            state
                .service(*s)
                .is_some_and(|e| e.liveness() == Liveness::Running)
        })
        .collect();

    // --- Pre-flight: nothing has been started yet. ---
    let missing = missing_data(home);
    if !missing.is_empty() {
        return Err(Error::Missing {
            what: format!(
                "data files ({})",
                missing
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: "run `prodstack data` to generate them".into(),
        });
    }
    let plan = Plan::prepare(home, opts, &ports, running.contains(&Service::Edge), say)?;
    if let Some(iso) = &plan.isolation {
        // Postgres and Redis listen on the links only if they were started for them.
        for service in [Service::Postgres, Service::Cache] {
            let link = match service {
                Service::Postgres => iso.serve.host_ip,
                _ => iso.redis.host_ip,
            };
            if let Some(entry) = state
                .service(service)
                .filter(|_| running.contains(&service))
            {
                if !entry
                    .command
                    .iter()
                    .any(|arg| arg.contains(&link.to_string()))
                {
                    return Err(Error::Invalid(format!(
                        "{service} is running without a listener on {link} for the isolated server instance (an `up` without --isolate-server started it); `prodstack down` first"
                    )));
                }
            }
        }
    }
    if state.isolation != plan.isolation {
        // Names come from the edge port alone: an old namespace of another name is removed,
        // one of the same name is this stack's (only the isolated instance may differ).
        if let Some(old) = state.isolation.take() {
            if plan.isolation.as_ref().map(|new| &new.netns) != Some(&old.netns) {
                old.remove()?;
            }
        }
        state.isolation = plan.isolation.clone();
        state.save(home)?;
    }
    check_ports(&ports, &opts.services(), opts.edge, &running)?;
    // Recorded first, so `down`, a failed start or this failure removes it.
    if let Some(iso) = &plan.isolation {
        if let Err(err) = iso.ensure() {
            say("the network namespace could not be made; removing what was");
            tear_down(home, &mut state, Vec::new(), say);
            return Err(err);
        }
    }

    // --- Start, in dependency order. ---
    let mut started: Vec<(ServiceState, Child)> = Vec::new();
    let mut reports = Vec::new();
    for service in opts.services() {
        let outcome = ensure(service, home, opts, &plan, &mut state, &mut started, say);
        match outcome {
            Ok(report) => reports.push(report),
            Err(err) => {
                say(&format!("{service} failed; stopping what this run started"));
                tear_down(home, &mut state, started, say);
                return Err(err);
            }
        }
    }
    Ok(UpReport {
        services: reports,
        state,
        elapsed: began.elapsed(),
    })
}

/// The state of a stack already running from `home`, or a fresh one. A running stack with
/// other ports or another profile is an error: one home runs one stack.
pub(super) fn existing_state(
    home: &Home,
    opts: &UpOptions,
    ports: &StackPorts,
) -> Result<StackState> {
    let fresh = |supervisor, isolation| {
        let mut state = StackState::new(home, opts.profile, opts.edge, opts.ports_offset, *ports);
        state.edge_knobs = opts.nginx_knobs.clone();
        state.servers = opts.servers;
        // The supervisor outlives a stack whose every service died; it restarts them all.
        state.supervisor = supervisor;
        // A namespace outlives its processes too, until `up` or `down` removes or reuses it.
        state.isolation = isolation;
        state
    };
    let Some(mut state) = StackState::load_if_present(home)? else {
        return Ok(fresh(None, None));
    };
    let running: Vec<&ServiceState> = state
        .services
        .iter()
        .filter(|s| s.liveness() == Liveness::Running)
        .collect();
    if running.is_empty() {
        return Ok(fresh(state.supervisor, state.isolation));
    }
    let alive: Vec<String> = running
        .iter()
        .map(|s| format!("{} (pid {})", s.service, s.pid()))
        .collect();
    // Only the edge and the cache are configured by the profile; a stack reduced to the other
    // services (the benchmark keeps Postgres across variants) may switch profiles.
    let profile_bound = running
        .iter()
        .any(|s| matches!(s.service, Service::Edge | Service::Cache));
    // The edge kind decides which services exist; only Postgres is shared by every kind.
    let edge_bound = running.iter().any(|s| s.service != Service::Postgres);
    // The knobs and the server instances are in the running edge's config.
    let knobs_bound = running.iter().any(|s| s.service == Service::Edge);
    if state.ports != *ports
        || (state.profile != opts.profile && profile_bound)
        || (state.edge != opts.edge && edge_bound)
        || (state.edge_knobs != opts.nginx_knobs && knobs_bound)
        || ((state.servers, state.isolation.is_some()) != (opts.servers, opts.isolate_server)
            && (knobs_bound || running.iter().any(|s| s.service.is_server())))
    {
        let knobs: String = state
            .edge_knobs
            .iter()
            .map(|(name, value)| format!(" --edge-knob {name}={value}"))
            .collect();
        return Err(Error::Invalid(format!(
            "a stack is already running from {} with --profile {} --edge {}{knobs} --servers {}{} --ports-offset {} ({}); repeat those options or run `prodstack down` first",
            home.root().display(),
            state.profile,
            state.edge,
            state.servers,
            if state.isolation.is_some() {
                " --isolate-server"
            } else {
                ""
            },
            state.ports_offset,
            alive.join(", ")
        )));
    }
    state.profile = opts.profile;
    state.edge = opts.edge;
    state.edge_knobs = opts.nginx_knobs.clone();
    state.servers = opts.servers;
    Ok(state)
}

/// Drops the entries of services that are no longer running, after killing what they left
/// behind in their session (nginx workers keep serving the port after their master was
/// SIGKILLed; they run the recorded executable, which is what [`stop`] checks before killing).
pub(super) fn forget_dead(
    home: &Home,
    state: &mut StackState,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let dead: Vec<ServiceState> = state
        .services
        .iter()
        .filter(|s| s.liveness() != Liveness::Running)
        .cloned()
        .collect();
    for entry in &dead {
        let outcome = stop(entry);
        say(&format!("{}: {}", entry.service, outcome.describe(entry)));
        state.forget(entry.service);
    }
    if !dead.is_empty() && !state.services.is_empty() {
        state.save(home)?;
    }
    Ok(())
}

/// Every port of a service that must start has to be free; all conflicts are reported at once.
pub(super) fn check_ports(
    ports: &StackPorts,
    services: &[Service],
    edge: EdgeKind,
    running: &[Service],
) -> Result<()> {
    let mut conflicts = Vec::new();
    for &service in services {
        if running.contains(&service) {
            continue;
        }
        let named: Vec<(String, u16)> = match service {
            Service::Server(i) => {
                let (main, admin) = ports.server_instance(i);
                vec![
                    (service.to_string(), main),
                    (format!("{service} admin"), admin),
                ]
            }
            other => {
                let names: &[&str] = match other {
                    // The fused edge runs the app server's listeners too.
                    Service::Edge if edge == EdgeKind::RustFused => {
                        &["edge", "edge status", "server", "server admin"]
                    }
                    Service::Edge => &["edge", "edge status"],
                    other => &[other.as_str()],
                };
                ports
                    .all()
                    .into_iter()
                    .filter(|(name, _)| names.contains(name))
                    .map(|(name, port)| (name.to_string(), port))
                    .collect()
            }
        };
        for (name, port) in named {
            if !ports::port_is_free(port) {
                conflicts.push(PortConflict {
                    service: name,
                    port,
                    holder: ports::holder(port),
                });
            }
        }
    }
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(Error::PortsInUse(conflicts))
    }
}

pub(super) fn ensure(
    service: Service,
    home: &Home,
    opts: &UpOptions,
    plan: &Plan,
    state: &mut StackState,
    started: &mut Vec<(ServiceState, Child)>,
    say: &mut dyn FnMut(&str),
) -> Result<ServiceReport> {
    let log = service.log_path(home);
    let mut action = Action::Started;
    if let Some(entry) = state.service(service).cloned() {
        if entry.liveness() == Liveness::Running {
            let check_began = Instant::now();
            let healthy = wait_healthy(service, None, &log, Duration::from_secs(15), || {
                plan.probe(service, opts.edge)
            })
            .and_then(|()| after_ready(service, home, opts, plan, say, false));
            match healthy {
                Ok(()) => {
                    if entry.cpus != service_cpus(opts, service) {
                        say(&format!(
                            "note: {service} keeps running on CPUs {}; `prodstack down` and `up` to apply the new split",
                            entry.cpus.as_ref().map(|c| c.to_string()).unwrap_or_else(|| "(unpinned)".into())
                        ));
                    }
                    say(&format!(
                        "{service}: already running (pid {}), healthy",
                        entry.pid()
                    ));
                    return Ok(ServiceReport {
                        action: Action::AlreadyRunning,
                        state: entry,
                        ready_after: check_began.elapsed(),
                    });
                }
                Err(err) => {
                    say(&format!(
                        "{service}: running (pid {}) but not healthy, restarting it: {}",
                        entry.pid(),
                        first_line(&err.to_string())
                    ));
                    let outcome = stop(&entry);
                    say(&format!("{service}: {}", outcome.describe(&entry)));
                    if let StopOutcome::StillRunning = outcome {
                        return Err(Error::Invalid(format!(
                            "{service} (pid {}) did not stop; stop it by hand",
                            entry.pid()
                        )));
                    }
                    state.forget(service);
                    state.save(home)?;
                    action = Action::Restarted;
                }
            }
        }
    }

    let cpus = service_cpus(opts, service);
    let cmd = command(service, home, opts, plan, say)?;
    let command_line = describe_command(&cmd);
    say(&format!(
        "{service}: starting on port {} ({})",
        service
            .ports(&plan.ports)
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        match &cpus {
            Some(cpus) => format!("CPUs {cpus}"),
            None => "unpinned".into(),
        }
    ));
    let spawned_at = Instant::now();
    let mut child = process::spawn_detached(cmd, &log, cpus.as_ref(), plan.logsink.as_deref())?;
    let Some(process) = ProcessIdentity::of(child.id()) else {
        // Gone before we could look at it: a start-up failure, its reason is in the log.
        let status = child
            .wait()
            .io_context(|| format!("waiting for {service}"))?;
        return Err(Error::Exited {
            what: service.to_string(),
            status,
            log: log.clone(),
            log_tail: settled_tail(&log),
        });
    };
    let entry = ServiceState {
        service,
        process,
        ports: service.ports(&plan.ports),
        cpus: cpus.clone(),
        log: log.clone(),
        started_at_unix_ms: process::unix_ms(),
        command: command_line,
        restarts: 0,
        last_restart_unix_ms: None,
    };
    // From here on, any failure stops this process again (the caller tears `started` down).
    started.push((entry.clone(), child));
    state.upsert(entry.clone());
    state.save(home)?;
    let child = &mut started
        .last_mut()
        .ok_or_else(|| Error::Invalid("internal: lost the child just started".into()))?
        .1;
    wait_healthy(service, Some(child), &log, opts.start_timeout, || {
        plan.probe(service, opts.edge)
    })
    .and_then(|()| after_ready(service, home, opts, plan, say, true))?;
    let ready_after = spawned_at.elapsed();
    say(&format!(
        "{service}: healthy after {:.1}s (pid {})",
        ready_after.as_secs_f64(),
        entry.pid()
    ));
    Ok(ServiceReport {
        action,
        state: entry,
        ready_after,
    })
}

/// Work after a service answers: Postgres gets its database seeded (once) and must answer
/// HttpArena's readiness query; a freshly started Redis is seeded from `redis-seed.txt`.
pub(super) fn after_ready(
    service: Service,
    home: &Home,
    opts: &UpOptions,
    plan: &Plan,
    say: &mut dyn FnMut(&str),
    fresh: bool,
) -> Result<()> {
    match service {
        Service::Postgres => {
            let port = plan.ports.postgres;
            if !plan.cluster.is_ready(port) {
                return Err(Error::Invalid(
                    "postgres is not accepting connections".into(),
                ));
            }
            ensure_seeded(&plan.cluster, port, &home.seed_sql_path(), opts.reseed, say)?;
            let one = plan
                .cluster
                .sql(port, postgres::DATABASE, "SELECT 1 FROM items LIMIT 1")?;
            if one != "1" {
                return Err(Error::Invalid(format!(
                    "postgres: `SELECT 1 FROM items LIMIT 1` returned {one:?}; the items table is empty (try `prodstack up --reseed`)"
                )));
            }
            Ok(())
        }
        Service::Cache if fresh => {
            let seed = home.data_dir().join("redis-seed.txt");
            if seed.is_file() {
                redis::seed(plan.ports.cache, &seed)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The comment on the `benchmark` database that says which seed file was loaded into it.
pub(super) fn seed_marker(seed: &Path) -> Result<String> {
    let meta = std::fs::metadata(seed).io_context(|| format!("reading {}", seed.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(format!("prodstack seed: size={} mtime={mtime}", meta.len()))
}

/// Loads the seed into `benchmark` unless it already was (the database comment remembers it).
/// A missing marker means no complete load happened, so the database is recreated first.
pub(super) fn ensure_seeded(
    cluster: &Cluster,
    port: u16,
    seed: &Path,
    reseed: bool,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let want = seed_marker(seed)?;
    let have = cluster.sql(
        port,
        "postgres",
        &format!(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '{}'",
            postgres::DATABASE
        ),
    )?;
    if !reseed && have.starts_with("prodstack seed:") {
        if have != want {
            say(&format!(
                "note: {} changed since it was loaded; `prodstack up --reseed` loads it again",
                seed.display()
            ));
        }
        return Ok(());
    }
    let began = Instant::now();
    say(&format!(
        "postgres: {} {}",
        if reseed {
            "re-seeding from"
        } else {
            "seeding from"
        },
        seed.display()
    ));
    let db = postgres::DATABASE;
    cluster.sql(
        port,
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    )?;
    cluster.sql(port, "postgres", &format!("CREATE DATABASE {db}"))?;
    cluster.load_file(port, db, seed)?;
    cluster.sql(
        port,
        "postgres",
        &format!("COMMENT ON DATABASE {db} IS '{want}'"),
    )?;
    say(&format!(
        "postgres: seeded in {:.1}s",
        began.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Stops what this run started, newest first ([`stop`] reaps each child it stopped).
pub(super) fn tear_down(
    home: &Home,
    state: &mut StackState,
    started: Vec<(ServiceState, Child)>,
    say: &mut dyn FnMut(&str),
) {
    // Each child is reaped by `stop`: waiting on its pid again could wait on a stranger.
    for (entry, _child) in started.into_iter().rev() {
        let outcome = stop(&entry);
        if matches!(
            outcome,
            StopOutcome::Stopped { .. } | StopOutcome::NotRunning { .. }
        ) {
            state.forget(entry.service);
        }
        say(&format!("{}: {}", entry.service, outcome.describe(&entry)));
    }
    // A supervisor keeps its stack's file even with nothing running: it retries the start.
    let supervised = state
        .supervisor
        .as_ref()
        .is_some_and(|s| s.liveness() == Liveness::Running);
    let removed = match &state.isolation {
        Some(iso) if state.services.is_empty() && !supervised => match iso.remove() {
            Ok(()) => true,
            Err(err) => {
                say(&format!(
                    "warning: removing network namespace {}: {err} (the state file keeps it for the next up or down)",
                    iso.netns
                ));
                false
            }
        },
        _ => true,
    };
    let saved = if state.services.is_empty() && !supervised && removed {
        StackState::remove(home)
    } else {
        state.save(home)
    };
    if let Err(err) = saved {
        say(&format!("warning: updating the state file: {err}"));
    }
}
