//! How each service's process is started, resolved before the first one starts: binaries,
//! the Postgres cluster, the rendered edge config, each command line with its environment,
//! CPUs and log sink, and the edge's proof secret.

use std::path::{Path, PathBuf};
use std::process::Command;

use contract::env;

use crate::bins::our_binary;
use crate::cpus::CpuSet;
use crate::error::{Error, IoContext, Result};
use crate::home::Home;
use crate::netns::Isolation;
use crate::nginx::{self, EdgeParams};
use crate::ports::StackPorts;
use crate::postgres::{self, Cluster, PgSettings};
use crate::process;
use crate::profile::{EdgeKind, Profile};
use crate::redis::{self, RedisSettings};
use crate::service::Service;

use super::options::UpOptions;
use super::probe::{probe, Probe};

/// HttpArena's `DATABASE_MAX_CONN` for the server.
pub const DATABASE_MAX_CONN: u32 = 256;

/// Everything resolved before the first start: binaries, the Postgres cluster, the edge config.
pub(super) struct Plan {
    pub(super) ports: StackPorts,
    pub(super) cluster: Cluster,
    /// What the edge proves itself with to the app server ([`edge_secret`]).
    pub(super) edge_secret: String,
    /// `prodstack-logsink`, which caps and rotates the services' logs (`None`: not built;
    /// logs then grow unbounded, and `up` says so).
    pub(super) logsink: Option<PathBuf>,
    /// Resolved only for the services this edge kind runs.
    pub(super) authsvc_bin: Option<PathBuf>,
    pub(super) server_bin: Option<PathBuf>,
    pub(super) edge: EdgeCommand,
    /// The namespace of the isolated server instance (`up --isolate-server`); `up` records
    /// it in the state file, then makes it, before the first service starts.
    pub(super) isolation: Option<Isolation>,
}

/// How the edge process is started.
pub(super) enum EdgeCommand {
    Nginx { bin: PathBuf, conf: PathBuf },
    Rust { bin: PathBuf },
}

impl Plan {
    pub(super) fn prepare(
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
        opts.check_servers()?;
        let authsvc_bin = services
            .contains(&Service::Authsvc)
            .then(|| given_or_ours(&opts.authsvc_bin, "authsvc"))
            .transpose()?;
        let server_bin = services
            .contains(&Service::SERVER)
            .then(|| given_or_ours(&opts.server_bin, "server"))
            .transpose()?;
        if process::find_on_path("redis-server").is_none() {
            return Err(Error::Missing {
                what: "redis-server".into(),
                hint: "install the Debian package `redis-server` (./prodstack does it for you)"
                    .into(),
            });
        }

        let isolation = opts.isolation(ports);
        if let Some(iso) = &isolation {
            say(&format!(
                "{}: runs in network namespace {} (edge and Postgres over {} <-> {}, Redis over {} <-> {})",
                Service::Server(iso.instance),
                iso.netns,
                iso.serve.host_ip,
                iso.serve.ns_ip,
                iso.redis.host_ip,
                iso.redis.ns_ip
            ));
        }
        let edge = if opts.edge.is_rust() {
            EdgeCommand::Rust {
                bin: our_binary("edge")?,
            }
        } else {
            Self::nginx_edge(
                home,
                opts,
                ports,
                &edge_secret,
                edge_running,
                isolation.as_ref(),
                say,
            )?
        };
        Ok(Self {
            ports: *ports,
            cluster,
            edge_secret,
            logsink,
            authsvc_bin,
            server_bin,
            edge,
            isolation,
        })
    }

    /// nginx and its config, rendered from the template and checked with `nginx -t` (a
    /// running edge keeps the config it was started with).
    fn nginx_edge(
        home: &Home,
        opts: &UpOptions,
        ports: &StackPorts,
        edge_secret: &str,
        edge_running: bool,
        isolation: Option<&Isolation>,
        say: &mut dyn FnMut(&str),
    ) -> Result<EdgeCommand> {
        let nginx_bin = nginx::nginx_binary()?;
        let mut params = EdgeParams::local(home, ports, opts.profile, opts.cpus.edge.len())
            .with_servers(home, ports, opts.servers, isolation);
        params.edge_secret = edge_secret.to_string();
        params.knob_overrides = opts.nginx_knobs.clone();
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
        if !edge_running {
            params.create_dirs()?;
            crate::state::write_atomically(&nginx_conf, conf.as_bytes())?;
            nginx::check_config(&nginx_conf, &home.run_dir())?;
        }
        Ok(EdgeCommand::Nginx {
            bin: nginx_bin,
            conf: nginx_conf,
        })
    }
}

impl Plan {
    /// One health probe of `service` as this plan starts it.
    pub(super) fn probe(&self, service: Service, edge: EdgeKind) -> Probe {
        probe(
            service,
            edge,
            &self.ports,
            self.isolation.as_ref(),
            &self.cluster,
        )
    }
}

pub(super) fn describe_command(cmd: &Command) -> Vec<String> {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The command that runs `service`, with its environment.
pub(super) fn command(
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
            if let Some(iso) = &plan.isolation {
                plan.cluster.allow_subnet(&iso.subnet())?;
                settings.extra_listen.push(iso.serve.host_ip);
            }
            plan.cluster.server_command(&settings)
        }
        Service::Cache => {
            let dir = home.run_dir().join("redis");
            std::fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
            let mut settings = redis_settings(opts, ports.cache);
            if let Some(iso) = &plan.isolation {
                settings.bind = format!("{} {}", settings.bind, iso.redis.host_ip);
            }
            redis::server_command(&settings, &dir)
        }
        Service::Authsvc => {
            let mut cmd = Command::new(needed(&plan.authsvc_bin, service)?);
            cmd.env(env::JWT_SECRET, &opts.jwt_secret)
                .env(env::AUTHSVC_LISTEN, format!("127.0.0.1:{}", ports.authsvc));
            cmd
        }
        Service::Server(i) => {
            let mut cmd = Command::new(needed(&plan.server_bin, service)?);
            let isolation = plan.isolation.as_ref();
            app_server_env(
                &mut cmd,
                home,
                ports,
                (i, opts.servers),
                isolation,
                &plan.edge_secret,
            );
            cmd.envs(opts.server_env.iter().map(|(k, v)| (k, v)));
            // The server serves its Unix socket too, so an edge that uses it (the
            // `server_socket=unix` knob) works against any server `up` started or restarts.
            // A home too deep for a socket path keeps TCP only (the knob's rendering refuses).
            let socket = nginx::server_instance_socket_path(home, i);
            if rt::listener::check_unix_path(&socket).is_ok() {
                cmd.env(env::LISTEN_UNIX, socket);
            }
            if let Some(iso) = isolation.filter(|iso| iso.instance == i) {
                iso.enter_in_child(&mut cmd)?;
            }
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
                    app_server_env(&mut cmd, home, ports, (0, 1), None, &plan.edge_secret);
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

/// The environment of app-server instance `instance` of `servers` (the server process, or
/// the fused edge that embeds the only one): its ports (on loopback, or on its namespace's end
/// of the serve link when `isolation` holds it, which then also reaches Postgres across that
/// link and Redis across the redis link), the edge's proof required on them, and its share of
/// HttpArena's `DATABASE_MAX_CONN`, so that all instances together open no more Postgres
/// connections than one would.
pub(super) fn app_server_env(
    cmd: &mut Command,
    home: &Home,
    ports: &StackPorts,
    (instance, servers): (u8, u8),
    isolation: Option<&Isolation>,
    edge_secret: &str,
) {
    let (main, admin) = crate::state::server_addrs(ports, isolation, instance);
    let (postgres_host, redis_host) = match isolation.filter(|iso| iso.instance == instance) {
        Some(iso) => (iso.serve.host_ip.to_string(), iso.redis.host_ip.to_string()),
        None => ("localhost".to_string(), "127.0.0.1".to_string()),
    };
    let pool = (DATABASE_MAX_CONN / u32::from(servers.max(1))).max(1);
    cmd.env(env::LISTEN, main.to_string())
        .env(env::EDGE_SECRET, edge_secret)
        .env(env::ADMIN_LISTEN, admin.to_string())
        .env(
            env::DATABASE_URL,
            postgres::database_url_at(&postgres_host, ports.postgres),
        )
        .env(env::DATABASE_MAX_CONN, pool.to_string())
        .env(
            env::REDIS_URL,
            format!("redis://{redis_host}:{}", ports.cache),
        )
        .env(env::DATASET_PATH, home.dataset_path());
}

/// The binary to run as `name`: the one given (`--authsvc-bin`, `bench --compare
/// server=PATH`), which must be a file, or ours.
fn given_or_ours(given: &Option<PathBuf>, name: &str) -> Result<PathBuf> {
    match given {
        Some(path) if path.is_file() => {
            check_not_a_script(path)?;
            Ok(path.clone())
        }
        Some(path) => Err(Error::Missing {
            what: format!("the {name} binary {}", path.display()),
            hint: format!("give the path of an executable {name} binary"),
        }),
        None => our_binary(name),
    }
}

/// Refuses a script (`#!`) given as a service's binary: the stack knows its processes by their
/// executable, and a script that `exec`s a binary changes it, so its service could not be
/// stopped. Environment belongs in the service's settings, not in a wrapper.
pub fn check_not_a_script(path: &Path) -> Result<()> {
    use std::io::Read as _;
    let mut start = [0u8; 2];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut start))
        .io_context(|| format!("reading {}", path.display()))?;
    if read == 2 && start == *b"#!" {
        return Err(Error::Invalid(format!(
            "{} is a script; give the binary itself (the stack identifies its processes by executable, and a script that execs one changes it)",
            path.display()
        )));
    }
    Ok(())
}

pub(super) fn needed(bin: &Option<PathBuf>, service: Service) -> Result<&PathBuf> {
    bin.as_ref()
        .ok_or_else(|| Error::Invalid(format!("internal: no binary resolved for {service}")))
}

/// The CPUs `service` is pinned to. Our Rust edge does the work of the services it replaces,
/// so it gets their CPUs too: authsvc's (proxy), authsvc's and the server's (fused).
pub fn service_cpus(opts: &UpOptions, service: Service) -> Option<CpuSet> {
    let own = opts.cpus.get(service.kind_str())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_binary_must_be_a_file_and_not_a_script() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("server");
        std::fs::write(&binary, b"\x7fELF...").unwrap();
        assert_eq!(
            given_or_ours(&Some(binary.clone()), "server").unwrap(),
            binary
        );
        let script = dir.path().join("wrapper");
        std::fs::write(&script, "#!/bin/sh\nexec server\n").unwrap();
        let err = given_or_ours(&Some(script), "server").unwrap_err();
        assert!(err.to_string().contains("is a script"), "{err}");
        let err = given_or_ours(&Some(dir.path().join("absent")), "authsvc").unwrap_err();
        assert!(err.to_string().contains("the authsvc binary"), "{err}");
    }
}
