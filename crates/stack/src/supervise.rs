//! `prodstack up / down / status`: the whole stack as native, detached processes.
//!
//! Start order is dependency order — postgres → cache → authsvc → server → edge — and each
//! service must pass its health probe ([`crate::health`]) before the next starts, so the edge
//! only opens once everything behind it answers (HttpArena's checks start as soon as the edge
//! does). Everything that can be
//! checked without starting anything is checked first: the data files, the binaries, every
//! port (a taken port is reported with the process holding it), and the edge config (rendered
//! from the template and passed through `nginx -t`). If a service then fails, its last log
//! lines are part of the error and everything this run started is stopped again, in reverse
//! order.
//!
//! Services run in their own sessions with stdout and stderr in `logs/<service>.log` (through
//! `prodstack-logsink`, which caps and rotates it: [`crate::logsink`]), and are
//! recorded in the state file ([`crate::state`]) after each start. A second `up` starts only
//! what is not running and healthy (a killed authsvc comes back with `prodstack up`). `down`
//! signals each recorded process only after checking it is still the process that was started
//! (pid + executable + start time), never by name.
//!
//! Profile differences outside nginx: Redis runs HttpArena's 4 threaded-I/O threads in
//! `production`; `tuned` uses at most one I/O thread per CPU of the cache's cpuset (Redis'
//! guidance: more I/O threads than cores only adds context switches, and the cache is nearly
//! idle in this workload: L1 answers almost every read).

use contract::env;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::bins::our_binary;
use crate::cpus::{CpuSet, CpuSplit};
use crate::error::{Error, IoContext, PortConflict, Result};
use crate::health::{edge_get, http_status};
use crate::home::Home;
use crate::nginx::{self, EdgeParams, Template};
use crate::ports::{self, StackPorts};
use crate::postgres::{self, Cluster, Durability, PgSettings};
use crate::process::{self, send_signal, session_members, tail, Liveness, ProcessIdentity};
use crate::profile::{EdgeKind, Profile};
use crate::redis::{self, RedisSettings};
use crate::service::Service;
use crate::state::{ServiceState, StackState};

/// HttpArena's `DATABASE_MAX_CONN` for the server.
pub const DATABASE_MAX_CONN: u32 = 256;

/// What `prodstack up` was asked for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub profile: Profile,
    /// nginx (Production/Tuned), or our Rust edge in proxy or fused mode (Engine).
    pub edge: EdgeKind,
    /// Extra environment for our Rust edge (benchmark variants try its knobs this way).
    pub edge_env: Vec<(String, String)>,
    pub ports_offset: u16,
    pub cpus: CpuSplit,
    /// Drop the `benchmark` database and load `data/pgdb-seed.sql` again.
    pub reseed: bool,
    /// Run this binary as authsvc instead of ours (same environment).
    pub authsvc_bin: Option<PathBuf>,
    pub template: Template,
    pub jwt_secret: String,
    /// How long one service may take to become healthy.
    pub start_timeout: Duration,
    /// What Postgres' acknowledged commits survive (a running Postgres keeps its setting).
    pub pg_durability: Durability,
}

impl UpOptions {
    /// Defaults: production, HttpArena's ports, the default CPU split of this machine, the
    /// template of the checkout at `project_root`, `JWT_SECRET` from the environment.
    pub fn new(project_root: &Path) -> Result<Self> {
        let available = CpuSet::available().io_context(|| "reading this process' CPUs".into())?;
        Ok(Self {
            profile: Profile::Production,
            edge: EdgeKind::Nginx,
            edge_env: Vec::new(),
            ports_offset: 0,
            cpus: CpuSplit::default_for(&available),
            reseed: false,
            authsvc_bin: None,
            template: Template::from_checkout(project_root)?,
            jwt_secret: std::env::var(env::JWT_SECRET)
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| contract::BENCH_SECRET.to_string()),
            start_timeout: Duration::from_secs(60),
            pg_durability: Durability::Full,
        })
    }
}

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

/// Brings the stack up (see the module docs). `say` receives one progress line at a time.
pub fn up(home: &Home, opts: &UpOptions, say: &mut dyn FnMut(&str)) -> Result<UpReport> {
    let began = Instant::now();
    for dir in [home.run_dir(), home.logs_dir()] {
        std::fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
    }
    let ports = StackPorts::with_offset(opts.ports_offset).map_err(Error::Invalid)?;
    let mut state = existing_state(home, opts, &ports)?;
    forget_dead(home, &mut state, say)?;
    let running: Vec<Service> = Service::ALL
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
    check_ports(&ports, opts.edge, &running)?;

    // --- Start, in dependency order. ---
    let mut started: Vec<(ServiceState, Child)> = Vec::new();
    let mut reports = Vec::new();
    for &service in opts.edge.services() {
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
fn existing_state(home: &Home, opts: &UpOptions, ports: &StackPorts) -> Result<StackState> {
    let fresh = || StackState::new(home, opts.profile, opts.edge, opts.ports_offset, *ports);
    let Some(mut state) = StackState::load_if_present(home)? else {
        return Ok(fresh());
    };
    let running: Vec<&ServiceState> = state
        .services
        .iter()
        .filter(|s| s.liveness() == Liveness::Running)
        .collect();
    if running.is_empty() {
        return Ok(fresh());
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
    if state.ports != *ports
        || (state.profile != opts.profile && profile_bound)
        || (state.edge != opts.edge && edge_bound)
    {
        return Err(Error::Invalid(format!(
            "a stack is already running from {} with --profile {} --edge {} --ports-offset {} ({}); repeat those options or run `prodstack down` first",
            home.root().display(),
            state.profile,
            state.edge,
            state.ports_offset,
            alive.join(", ")
        )));
    }
    state.profile = opts.profile;
    state.edge = opts.edge;
    Ok(state)
}

/// Drops the entries of services that are no longer running, after killing what they left
/// behind in their session (nginx workers keep serving the port after their master was
/// SIGKILLed; they run the recorded executable, which is what [`stop`] checks before killing).
fn forget_dead(home: &Home, state: &mut StackState, say: &mut dyn FnMut(&str)) -> Result<()> {
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
fn check_ports(ports: &StackPorts, edge: EdgeKind, running: &[Service]) -> Result<()> {
    let mut conflicts = Vec::new();
    for &service in edge.services() {
        if running.contains(&service) {
            continue;
        }
        let names: &[&str] = match service {
            Service::Server => &["server", "server admin"],
            // The fused edge runs the app server's listeners too.
            Service::Edge if edge == EdgeKind::RustFused => {
                &["edge", "edge status", "server", "server admin"]
            }
            Service::Edge => &["edge", "edge status"],
            other => &[other.as_str()],
        };
        for (name, port) in ports.all() {
            if names.contains(&name) && !ports::port_is_free(port) {
                conflicts.push(PortConflict {
                    service: name.to_string(),
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

/// Everything resolved before the first start: binaries, the Postgres cluster, the edge config.
struct Plan {
    ports: StackPorts,
    cluster: Cluster,
    /// What the edge proves itself with to the app server ([`edge_secret`]).
    edge_secret: String,
    /// `prodstack-logsink`, which caps and rotates the services' logs (`None`: not built;
    /// logs then grow unbounded, and `up` says so).
    logsink: Option<PathBuf>,
    /// Resolved only for the services this edge kind runs.
    authsvc_bin: Option<PathBuf>,
    server_bin: Option<PathBuf>,
    edge: EdgeCommand,
}

/// How the edge process is started.
enum EdgeCommand {
    Nginx { bin: PathBuf, conf: PathBuf },
    Rust { bin: PathBuf },
}

impl Plan {
    fn prepare(
        home: &Home,
        opts: &UpOptions,
        ports: &StackPorts,
        edge_running: bool,
        say: &mut dyn FnMut(&str),
    ) -> Result<Self> {
        let cluster = Cluster::new(home.pgdata_dir())?;
        let edge_secret = edge_secret(home)?;
        let logsink = our_binary(crate::logsink::BINARY).ok();
        if logsink.is_none() {
            say(&format!(
                "note: {} is not built, so service logs are not size-capped (cargo build -p stack)",
                crate::logsink::BINARY
            ));
        }
        let services = opts.edge.services();
        let authsvc_bin = match &opts.authsvc_bin {
            _ if !services.contains(&Service::Authsvc) => None,
            Some(path) if path.is_file() => Some(path.clone()),
            Some(path) => {
                return Err(Error::Missing {
                    what: format!("--authsvc-bin {}", path.display()),
                    hint: "give the path of an executable authsvc binary".into(),
                })
            }
            None => Some(our_binary("authsvc")?),
        };
        let server_bin = if services.contains(&Service::Server) {
            Some(our_binary("server")?)
        } else {
            None
        };
        if process::find_on_path("redis-server").is_none() {
            return Err(Error::Missing {
                what: "redis-server".into(),
                hint: "install the Debian package `redis-server` (./prodstack does it for you)"
                    .into(),
            });
        }

        if opts.edge.is_rust() {
            return Ok(Self {
                ports: *ports,
                cluster,
                edge_secret,
                logsink,
                authsvc_bin,
                server_bin,
                edge: EdgeCommand::Rust {
                    bin: our_binary("edge")?,
                },
            });
        }
        let nginx_bin = nginx::nginx_binary()?;
        let mut params = EdgeParams::local(home, ports, opts.profile, opts.cpus.edge.len());
        params.edge_secret = edge_secret.clone();
        if process::is_root() {
            if let Err(reason) = nginx::world_readable(&home.static_dir()) {
                say(&format!(
                    "note: edge workers run as root because `nobody` cannot read the static files: {reason}"
                ));
                params.worker_user = "root".into();
            }
        }
        let conf = opts.template.render_edge(&params)?;
        let nginx_conf = home.run_dir().join("nginx.conf");
        // A running edge keeps the config it was started with; a new one is checked first.
        if !edge_running {
            params.create_dirs()?;
            crate::state::write_atomically(&nginx_conf, conf.as_bytes())?;
            nginx::check_config(&nginx_conf, &home.run_dir())?;
        }
        Ok(Self {
            ports: *ports,
            cluster,
            edge_secret,
            logsink,
            authsvc_bin,
            server_bin,
            edge: EdgeCommand::Nginx {
                bin: nginx_bin,
                conf: nginx_conf,
            },
        })
    }
}

/// The answer of one health probe.
enum Probe {
    Ready,
    /// Not yet; the reason is reported if the deadline passes.
    Waiting(String),
    /// A definitive wrong answer: waiting longer will not help.
    Failed(String),
}

fn ensure(
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
                probe(service, opts.edge, &plan.ports, &plan.cluster)
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
        probe(service, opts.edge, &plan.ports, &plan.cluster)
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

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn describe_command(cmd: &Command) -> Vec<String> {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The command that runs `service`, with its environment.
fn command(
    service: Service,
    home: &Home,
    opts: &UpOptions,
    plan: &Plan,
    say: &mut dyn FnMut(&str),
) -> Result<Command> {
    let ports = &plan.ports;
    Ok(match service {
        Service::Postgres => {
            if !plan.cluster.is_initialized() {
                say("postgres: creating the cluster (initdb, once)");
                plan.cluster.init()?;
            }
            if plan.cluster.clear_stale_lock()? {
                say("postgres: removed the lock file of a postmaster that is gone (it crashed)");
            }
            let mut settings = PgSettings::new(ports.postgres);
            settings.max_connections = DATABASE_MAX_CONN;
            settings.durability = opts.pg_durability;
            plan.cluster.server_command(&settings)
        }
        Service::Cache => {
            let dir = home.run_dir().join("redis");
            std::fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
            redis::server_command(&redis_settings(opts, ports.cache), &dir)
        }
        Service::Authsvc => {
            let mut cmd = Command::new(needed(&plan.authsvc_bin, service)?);
            cmd.env(env::JWT_SECRET, &opts.jwt_secret)
                .env(env::AUTHSVC_LISTEN, format!("127.0.0.1:{}", ports.authsvc));
            cmd
        }
        Service::Server => {
            let mut cmd = Command::new(needed(&plan.server_bin, service)?);
            app_server_env(&mut cmd, home, ports, &plan.edge_secret);
            cmd
        }
        Service::Edge => match &plan.edge {
            EdgeCommand::Nginx { bin, conf } => {
                let mut cmd = Command::new(bin);
                cmd.arg("-c").arg(conf).arg("-p").arg(home.run_dir());
                cmd
            }
            EdgeCommand::Rust { bin } => {
                let mut cmd = Command::new(bin);
                let certs = home.certs_dir();
                cmd.env(env::EDGE_LISTEN, format!("0.0.0.0:{}", ports.edge))
                    .env(
                        env::EDGE_ADMIN_LISTEN,
                        format!("127.0.0.1:{}", ports.edge_status),
                    )
                    .env(env::EDGE_UPSTREAM, format!("127.0.0.1:{}", ports.server))
                    .env(env::TLS_CERT, certs.join("server.crt"))
                    .env(env::TLS_KEY, certs.join("server.key"))
                    .env(env::STATIC_DIR, home.static_dir())
                    .env(env::JWT_SECRET, &opts.jwt_secret);
                cmd.env(env::EDGE_SECRET, &plan.edge_secret);
                if opts.edge == EdgeKind::RustFused {
                    cmd.env(env::EDGE_MODE, "fused");
                    app_server_env(&mut cmd, home, ports, &plan.edge_secret);
                    // The in-process server's own listener only answers probes; its runtime
                    // carries the Postgres and Redis connections. One thread is plenty.
                    cmd.env(env::SERVER_WORKERS, "1");
                } else {
                    cmd.env(env::EDGE_MODE, "proxy");
                }
                cmd.envs(opts.edge_env.iter().map(|(k, v)| (k, v)));
                cmd
            }
        },
    })
}

/// The app server's environment (the server process, or the fused edge that embeds it): its
/// port on loopback, and the edge's proof required on it.
fn app_server_env(cmd: &mut Command, home: &Home, ports: &StackPorts, edge_secret: &str) {
    cmd.env(env::LISTEN, format!("127.0.0.1:{}", ports.server))
        .env(env::EDGE_SECRET, edge_secret)
        .env(env::ADMIN_LISTEN, format!("127.0.0.1:{}", ports.admin))
        .env(env::DATABASE_URL, postgres::database_url(ports.postgres))
        .env(env::DATABASE_MAX_CONN, DATABASE_MAX_CONN.to_string())
        .env(env::REDIS_URL, format!("redis://127.0.0.1:{}", ports.cache))
        .env(env::DATASET_PATH, home.dataset_path());
}

fn needed(bin: &Option<PathBuf>, service: Service) -> Result<&PathBuf> {
    bin.as_ref()
        .ok_or_else(|| Error::Invalid(format!("internal: no binary resolved for {service}")))
}

/// The CPUs `service` is pinned to. Our Rust edge does the work of the services it replaces,
/// so it gets their CPUs too: authsvc's (proxy), authsvc's and the server's (fused).
pub fn service_cpus(opts: &UpOptions, service: Service) -> Option<CpuSet> {
    let own = opts.cpus.get(service.as_str())?;
    let merged: Vec<&CpuSet> = match (service, opts.edge) {
        (Service::Edge, EdgeKind::RustProxy) => vec![own, &opts.cpus.authsvc],
        (Service::Edge, EdgeKind::RustFused) => {
            vec![own, &opts.cpus.authsvc, &opts.cpus.server]
        }
        _ => return Some(own.clone()),
    };
    CpuSet::from_cpus(
        merged
            .iter()
            .flat_map(|c| c.cpus().iter().copied())
            .collect(),
    )
}

/// Redis as HttpArena's cache entrypoint runs it (4 threaded-I/O threads), except that it
/// listens on loopback only: an unauthenticated Redis does not belong on the LAN of a
/// developer machine. `tuned`: see the module docs.
pub fn redis_settings(opts: &UpOptions, port: u16) -> RedisSettings {
    let mut settings = RedisSettings::new(port);
    settings.io_threads = match opts.profile {
        Profile::Production => 4,
        Profile::Tuned => (opts.cpus.cache.len() as u32).clamp(1, 4),
    };
    settings
}

/// The secret the edge proves itself with to the app server: 32 random bytes as hex, made once
/// per home (`run/edge-secret`, mode 0600) so a restarted server and a running edge agree.
pub fn edge_secret(home: &Home) -> Result<String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = home.run_dir().join("edge-secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim();
        if text.len() >= 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(text.to_string());
        }
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .io_context(|| "reading /dev/urandom".into())?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(home.run_dir())
        .io_context(|| format!("creating {}", home.run_dir().display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .io_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, secret.as_bytes())
        .io_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

/// One probe of `service`.
fn probe(service: Service, edge: EdgeKind, ports: &StackPorts, cluster: &Cluster) -> Probe {
    let quick = Duration::from_secs(2);
    match service {
        Service::Postgres => {
            if cluster.is_ready(ports.postgres) {
                Probe::Ready
            } else {
                Probe::Waiting("pg_isready: not accepting connections".into())
            }
        }
        Service::Cache => {
            if redis::ping(ports.cache) {
                Probe::Ready
            } else {
                Probe::Waiting("no PONG to PING".into())
            }
        }
        Service::Authsvc => match http_status(ports.authsvc, "/_health", quick) {
            Ok(200) => Probe::Ready,
            Ok(status) => Probe::Waiting(format!("GET /_health answered {status}")),
            Err(e) => Probe::Waiting(e),
        },
        Service::Server => {
            for path in ["/healthz", "/readyz"] {
                match http_status(ports.server, path, quick) {
                    Ok(200) => {}
                    Ok(status) => return Probe::Waiting(format!("GET {path} answered {status}")),
                    Err(e) => return Probe::Waiting(e),
                }
            }
            Probe::Ready
        }
        Service::Edge => match edge_get(ports.edge, "/static/reset.css", quick) {
            Ok(Some(answer)) if answer.status == 200 && answer.http_version == "2" => {
                // The fused edge is also the app server: ready only once Postgres answers it.
                if edge == EdgeKind::RustFused {
                    match http_status(ports.server, "/readyz", quick) {
                        Ok(200) => {}
                        Ok(status) => {
                            return Probe::Waiting(format!("GET /readyz answered {status}"))
                        }
                        Err(e) => return Probe::Waiting(e),
                    }
                }
                Probe::Ready
            }
            Ok(Some(answer)) => Probe::Failed(format!(
                "GET https://127.0.0.1:{}/static/reset.css answered {} over HTTP/{} (expected 200 over HTTP/2)",
                ports.edge, answer.status, answer.http_version
            )),
            Ok(None) => Probe::Waiting("no TLS answer on the edge port".into()),
            Err(e) => Probe::Failed(e),
        },
    }
}

/// Work after a service answers: Postgres gets its database seeded (once) and must answer
/// HttpArena's readiness query; a freshly started Redis is seeded from `redis-seed.txt`.
fn after_ready(
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
fn seed_marker(seed: &Path) -> Result<String> {
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
fn ensure_seeded(
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

fn wait_healthy(
    service: Service,
    mut child: Option<&mut Child>,
    log: &Path,
    timeout: Duration,
    mut probe: impl FnMut() -> Probe,
) -> Result<()> {
    let began = Instant::now();
    loop {
        let last = match probe() {
            Probe::Ready => return Ok(()),
            Probe::Failed(reason) => {
                return Err(Error::Unhealthy {
                    what: service.to_string(),
                    reason,
                    log: log.to_path_buf(),
                    log_tail: tail(log, 20),
                })
            }
            Probe::Waiting(reason) => reason,
        };
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Exited {
                    what: service.to_string(),
                    status,
                    log: log.to_path_buf(),
                    log_tail: settled_tail(log),
                });
            }
        }
        if began.elapsed() >= timeout {
            return Err(Error::Unhealthy {
                what: service.to_string(),
                reason: format!("still not ready after {timeout:?} ({last})"),
                log: log.to_path_buf(),
                log_tail: tail(log, 20),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last log lines of a service that just exited, once its log sink has had a moment to
/// write what the service printed last.
fn settled_tail(log: &Path) -> String {
    std::thread::sleep(Duration::from_millis(150));
    tail(log, 20)
}

/// Stops what this run started, newest first, and reaps the children.
fn tear_down(
    home: &Home,
    state: &mut StackState,
    started: Vec<(ServiceState, Child)>,
    say: &mut dyn FnMut(&str),
) {
    for (entry, mut child) in started.into_iter().rev() {
        let outcome = stop(&entry);
        let _ = child.try_wait();
        if matches!(
            outcome,
            StopOutcome::Stopped { .. } | StopOutcome::NotRunning { .. }
        ) {
            let _ = child.wait();
            state.forget(entry.service);
        }
        say(&format!("{}: {}", entry.service, outcome.describe(&entry)));
    }
    let saved = if state.services.is_empty() {
        StackState::remove(home)
    } else {
        state.save(home)
    };
    if let Err(err) = saved {
        say(&format!("warning: updating the state file: {err}"));
    }
}

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

/// The signal that asks `service` to shut down cleanly: Postgres' fast shutdown is SIGINT
/// (SIGTERM would wait for clients to disconnect); nginx, Redis and our binaries stop on
/// SIGTERM.
pub fn stop_signal(service: Service) -> libc::c_int {
    match service {
        Service::Postgres => libc::SIGINT,
        _ => libc::SIGTERM,
    }
}

/// How long a service may take to stop before it is killed.
pub fn grace_period(service: Service) -> Duration {
    match service {
        Service::Postgres => Duration::from_secs(30),
        _ => Duration::from_secs(10),
    }
}

/// Stops one recorded service: verifies the identity, sends the stop signal, waits, kills
/// after the grace period, then kills leftovers of its session that run the same executable
/// (nginx workers or Postgres backends orphaned by a crashed parent).
pub fn stop(entry: &ServiceState) -> StopOutcome {
    let began = Instant::now();
    let outcome = match entry.liveness() {
        Liveness::Gone => {
            return StopOutcome::NotRunning {
                leftovers: sweep_session(entry),
            }
        }
        Liveness::Reused { now } => return StopOutcome::Reused { now },
        Liveness::Running => {
            send_signal(entry.pid(), stop_signal(entry.service));
            if wait_gone(&entry.process, grace_period(entry.service)) {
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
    outcome
}

fn wait_gone(process: &ProcessIdentity, timeout: Duration) -> bool {
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
fn sweep_session(entry: &ServiceState) -> usize {
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
    let Some(mut state) = StackState::load_if_present(home)? else {
        say(&format!(
            "no stack recorded in {} (nothing to stop)",
            StackState::path(home).display()
        ));
        return Ok(Vec::new());
    };
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
    if state.services.is_empty() {
        StackState::remove(home)?;
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

/// One row of `prodstack status`.
#[derive(Debug, Clone)]
pub struct ServiceStatus {
    pub service: Service,
    pub ports: Vec<u16>,
    /// `None`: never started by the recorded stack.
    pub pid: Option<u32>,
    pub running: bool,
    /// `Ok` healthy, `Err(reason)` not (only probed when running).
    pub health: Option<std::result::Result<(), String>>,
    pub cpus: Option<CpuSet>,
}

/// The recorded stack with a live check of every service; `None` when no stack is recorded.
pub fn status(home: &Home) -> Result<Option<(StackState, Vec<ServiceStatus>)>> {
    let Some(state) = StackState::load_if_present(home)? else {
        return Ok(None);
    };
    let cluster = Cluster::new(home.pgdata_dir())?;
    let rows = state
        .edge
        .services()
        .iter()
        .map(|&service| {
            let entry = state.service(service);
            let running = entry.is_some_and(|e| e.liveness() == Liveness::Running);
            let health =
                running.then(
                    || match probe(service, state.edge, &state.ports, &cluster) {
                        Probe::Ready if service == Service::Postgres => cluster
                            .sql(
                                state.ports.postgres,
                                postgres::DATABASE,
                                "SELECT 1 FROM items LIMIT 1",
                            )
                            .map_err(|e| first_line(&e.to_string()).to_string())
                            .and_then(|one| {
                                if one == "1" {
                                    Ok(())
                                } else {
                                    Err("the items table is empty".to_string())
                                }
                            }),
                        Probe::Ready => Ok(()),
                        Probe::Waiting(reason) | Probe::Failed(reason) => Err(reason),
                    },
                );
            ServiceStatus {
                service,
                ports: service.ports(&state.ports),
                pid: entry.map(ServiceState::pid),
                running,
                health,
                cpus: entry.and_then(|e| e.cpus.clone()),
            }
        })
        .collect();
    Ok(Some((state, rows)))
}
