//! The nginx edge: rendering `deploy/nginx/nginx.conf.template` and checking the result with
//! `nginx -t`.
//!
//! One template serves both targets: [`EdgeParams::local`] for `prodstack up` (native nginx,
//! paths under the home folder, ports possibly offset) and [`EdgeParams::docker`] for the
//! `edge` container of the compose files (HttpArena's mounts `/certs` and `/data/static`,
//! upstreams on `127.0.0.1:8080` / `:9090`, port 8443). Only paths, ports, the worker user and
//! the worker count differ between the two renderings; everything that shapes behaviour is in
//! the template once.
//!
//! The renderer ([`crate::template`]) is deliberately tiny and strict, so a typo in the
//! template or in the code fails loudly at render time.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, IoContext, Result};
use crate::home::Home;
use crate::ports::StackPorts;
use crate::process::run_checked;
use crate::profile::Profile;
use crate::template::{render_with_lines, Problem, RenderError};

/// Where the template lives in the checkout.
pub const TEMPLATE_PATH: &str = "deploy/nginx/nginx.conf.template";

/// The template as compiled into this binary (the same file as [`TEMPLATE_PATH`]; cargo
/// rebuilds when it changes). Used when no checkout is around, e.g. by `export-httparena`.
pub const BUNDLED_TEMPLATE: &str = include_str!("../../../deploy/nginx/nginx.conf.template");

/// A template and where it came from (for error messages).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Template {
    origin: String,
    text: String,
}

impl Template {
    pub fn bundled() -> Self {
        Self {
            origin: format!("{TEMPLATE_PATH} (bundled)"),
            text: BUNDLED_TEMPLATE.to_string(),
        }
    }

    /// The template of the checkout at `project_root`.
    pub fn from_checkout(project_root: &Path) -> Result<Self> {
        Self::load(&project_root.join(TEMPLATE_PATH))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .io_context(|| format!("reading the nginx template {}", path.display()))?;
        Ok(Self {
            origin: path.display().to_string(),
            text,
        })
    }

    pub fn from_text(origin: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            text: text.into(),
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Renders the edge config for `params`.
    pub fn render_edge(&self, params: &EdgeParams) -> Result<String> {
        let vars = params.variables().map_err(|problems| Error::Template {
            origin: self.origin.clone(),
            problems,
        })?;
        render_with_lines(&self.text, &vars, &params.line_variables()).map_err(|problems| {
            Error::Template {
                origin: self.origin.clone(),
                problems,
            }
        })
    }
}

/// How many worker processes nginx starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// `auto`: nginx counts the CPUs itself (used in containers sized by their cpuset).
    Auto,
    Count(usize),
}

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workers::Auto => f.write_str("auto"),
            Workers::Count(n) => write!(f, "{n}"),
        }
    }
}

/// Descriptors of `worker_rlimit_nofile` kept for files (static files, shared through
/// `open_file_cache max=1000`; logs) rather than connections: nginx counts every connection,
/// client or upstream, in `worker_connections`, one descriptor each.
pub const FILE_DESCRIPTORS: u64 = 1024;

/// The knobs that differ between the profiles (documented in the template's header comment),
/// each of which a benchmark variant can also set on its own ([`ProfileKnobs::set`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileKnobs {
    pub worker_rlimit_nofile: u64,
    /// Client and upstream connections; rendered at most `worker_rlimit_nofile` less
    /// [`FILE_DESCRIPTORS`].
    pub worker_connections: u64,
    pub listen_reuseport: bool,
    pub ssl_buffer_size: String,
    /// `http2_chunk_size`: the largest DATA frame nginx cuts a response body into.
    pub http2_chunk_size: String,
    /// TLS 1.3 suites in preference order (`ssl_conf_command Ciphersuites`).
    pub tls13_ciphersuites: String,
    pub server_keepalive: u32,
    pub authsvc_keepalive: u32,
    /// How nginx reaches the app server: `tcp` (its port) or `unix` (its `LISTEN_UNIX`
    /// socket, [`EdgeParams::server_socket`]).
    pub server_socket: ServerSocket,
}

/// The transport of the edge's backend pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSocket {
    Tcp,
    Unix,
}

/// OpenSSL's own TLS 1.3 order (AES-256 first): what nginx uses when nothing is configured.
pub const OPENSSL_TLS13_ORDER: &str =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

/// The knob names [`ProfileKnobs::set`] accepts.
pub const KNOB_NAMES: [&str; 8] = [
    "worker_connections",
    "listen_reuseport",
    "ssl_buffer_size",
    "http2_chunk_size",
    "tls13_ciphersuites",
    "server_keepalive",
    "authsvc_keepalive",
    "server_socket",
];

impl ProfileKnobs {
    pub fn of(profile: Profile) -> Self {
        match profile {
            // HttpArena's reference edge (aspnet-minimal_nginx/nginx.conf: 65535 connections,
            // pools 2048/256), with nginx's defaults where the reference sets nothing and
            // room for files beside the connections.
            Profile::Production => Self {
                worker_rlimit_nofile: 131_072,
                worker_connections: 65535,
                listen_reuseport: false,
                ssl_buffer_size: "16k".into(),
                http2_chunk_size: "8k".into(),
                tls13_ciphersuites: OPENSSL_TLS13_ORDER.into(),
                server_keepalive: 2048,
                authsvc_keepalive: 256,
                server_socket: ServerSocket::Tcp,
            },
            // Production plus the knobs that measured better on their own and together
            // (docs/BENCHMARKS.md, "Tuned"): reuseport, a larger authsvc pool, 16k HTTP/2
            // chunks, the server's Unix socket instead of TCP. ssl_buffer_size 4k and
            // AES-128-first measured worse and are left out.
            Profile::Tuned => Self {
                worker_rlimit_nofile: 1_048_576,
                worker_connections: 131_072,
                listen_reuseport: true,
                ssl_buffer_size: "16k".into(),
                http2_chunk_size: "16k".into(),
                tls13_ciphersuites: OPENSSL_TLS13_ORDER.into(),
                server_keepalive: 2048,
                authsvc_keepalive: 1024,
                server_socket: ServerSocket::Unix,
            },
        }
    }

    /// Sets knob `name` (one of [`KNOB_NAMES`]) from text, as a benchmark variant names it
    /// (`production+ssl_buffer_size=4k`). `aes128` is short for the TLS 1.3 order with
    /// AES-128-GCM first.
    pub fn set(&mut self, name: &str, value: &str) -> std::result::Result<(), String> {
        let size = |v: &str| -> std::result::Result<String, String> {
            let digits = v.strip_suffix('k').unwrap_or(v);
            match digits.parse::<u32>() {
                Ok(n) if n > 0 => Ok(v.to_string()),
                _ => Err(format!("{name}={v}: expected a size such as 4k or 16k")),
            }
        };
        let number = |v: &str| -> std::result::Result<u64, String> {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name}={v}: expected a positive number"))
        };
        let pool = |v: &str| -> std::result::Result<u32, String> {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name}={v}: expected a pool size from 1 to {}", u32::MAX))
        };
        match name {
            "worker_connections" => self.worker_connections = number(value)?,
            "listen_reuseport" => {
                self.listen_reuseport = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("{name}={value}: expected on or off")),
                }
            }
            "ssl_buffer_size" => self.ssl_buffer_size = size(value)?,
            "http2_chunk_size" => self.http2_chunk_size = size(value)?,
            "tls13_ciphersuites" => {
                self.tls13_ciphersuites = match value {
                    "aes128" => TLS13_AES128_FIRST.to_string(),
                    "openssl" => OPENSSL_TLS13_ORDER.to_string(),
                    other
                        if !other.is_empty() && other.split(':').all(|s| s.starts_with("TLS_")) =>
                    {
                        other.to_string()
                    }
                    _ => {
                        return Err(format!(
                            "{name}={value}: expected aes128, openssl or TLS_...:TLS_... suites"
                        ))
                    }
                }
            }
            "server_keepalive" => self.server_keepalive = pool(value)?,
            "authsvc_keepalive" => self.authsvc_keepalive = pool(value)?,
            "server_socket" => {
                self.server_socket = match value {
                    "tcp" => ServerSocket::Tcp,
                    "unix" => ServerSocket::Unix,
                    _ => return Err(format!("{name}={value}: expected tcp or unix")),
                }
            }
            other => {
                return Err(format!(
                    "`{other}` is not an edge knob (one of {})",
                    KNOB_NAMES.join(", ")
                ))
            }
        }
        Ok(())
    }
}

/// The app server's Unix socket under `prodstack up`: `run/server.sock` of the home.
pub fn server_socket_path(home: &Home) -> PathBuf {
    server_instance_socket_path(home, 0)
}

/// The Unix socket of app-server instance `i`: `run/server.sock` for the first,
/// `run/server-<i+1>.sock` for the others (the instance's service name).
pub fn server_instance_socket_path(home: &Home, i: u8) -> PathBuf {
    home.run_dir()
        .join(format!("{}.sock", crate::service::Service::Server(i)))
}

/// Where the Docker rendering puts the app server's Unix socket when the `server_socket` knob
/// is `unix` (the Tuned profile): in the volume the compose file mounts in both the edge and
/// the server containers.
pub const DOCKER_SERVER_SOCKET: &str = "/run/prodstack/server.sock";

/// The folder holding [`DOCKER_SERVER_SOCKET`]: where the socket volume is mounted.
pub const DOCKER_SERVER_SOCKET_DIR: &str = "/run/prodstack";

/// One `NAME=VALUE` knob setting (`up --edge-knob`, a `--compare` variant's `+NAME=VALUE`),
/// checked by [`ProfileKnobs::set`] (which accepts the same values whatever the profile).
pub fn parse_knob(text: &str) -> std::result::Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))?;
    ProfileKnobs::of(Profile::Production).set(name, value)?;
    Ok((name.to_string(), value.to_string()))
}

/// The TLS 1.3 order with AES-128-GCM first: the cheapest suite per byte on CPUs with AES-NI.
pub const TLS13_AES128_FIRST: &str =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/// The parameters of one rendering of the edge template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeParams {
    pub profile: Profile,
    pub listen_port: u16,
    /// Loopback-only port of `stub_status` (`/nginx_status`).
    pub status_port: u16,
    /// `host:port` of each app-server instance (nginx balances across them).
    pub server_upstreams: Vec<String>,
    /// Each app-server instance's Unix socket (its `LISTEN_UNIX`), used instead when the
    /// `server_socket` knob is `unix`.
    pub server_sockets: Vec<PathBuf>,
    /// `host:port` of authsvc.
    pub authsvc_upstream: String,
    /// Folder holding `server.crt` and `server.key`.
    pub certs_dir: PathBuf,
    /// Folder served as `/static/`.
    pub static_dir: PathBuf,
    pub workers: Workers,
    /// `user` directive: the account workers run as when the master runs as root (nginx
    /// ignores it, with a warning, otherwise).
    pub worker_user: String,
    /// The most descriptors nginx may ask for (the hard `RLIMIT_NOFILE` it will get); the
    /// profile's `worker_rlimit_nofile` and `worker_connections` are capped to it.
    pub nofile_cap: Option<u64>,
    pub pid_path: PathBuf,
    /// `stderr` or a file.
    pub error_log: String,
    /// Parent of nginx's client-body/proxy/... temporary folders.
    pub temp_dir: PathBuf,
    /// Sent to the app server as `X-Edge-Secret` (empty: no header). Hex only.
    pub edge_secret: String,
    /// Knobs set on top of the profile's (`name`, `value`), for benchmark variants.
    pub knob_overrides: Vec<(String, String)>,
}

impl EdgeParams {
    /// `prodstack up`'s edge: files from the home folder, everything nginx writes under its run
    /// folder, errors on stderr (which the supervisor sends to `logs/edge.log`).
    pub fn local(home: &Home, ports: &StackPorts, profile: Profile, workers: usize) -> Self {
        let run = home.run_dir();
        Self {
            profile,
            listen_port: ports.edge,
            status_port: ports.edge_status,
            server_upstreams: vec![format!("127.0.0.1:{}", ports.server)],
            server_sockets: vec![server_socket_path(home)],
            authsvc_upstream: format!("127.0.0.1:{}", ports.authsvc),
            certs_dir: home.certs_dir(),
            static_dir: home.static_dir(),
            workers: Workers::Count(workers.max(1)),
            worker_user: unprivileged_worker_user(),
            nofile_cap: hard_nofile_limit(),
            pid_path: run.join("nginx.pid"),
            error_log: "stderr".into(),
            temp_dir: run.join("nginx-temp"),
            edge_secret: String::new(),
            knob_overrides: Vec::new(),
        }
    }

    /// The `edge` container of the compose files (official `nginx` image): HttpArena's mounts
    /// (`${CERTS_DIR}:/certs`, `${DATA_DIR}/static:/data/static`), host networking with the
    /// upstreams on loopback at their HttpArena ports, the image's `nginx` user and paths.
    /// `workers` should be the size of the edge's cpuset (or [`Workers::Auto`]).
    pub fn docker(profile: Profile, workers: Workers) -> Self {
        let ports = StackPorts::DEFAULT;
        Self {
            profile,
            listen_port: ports.edge,
            status_port: ports.edge_status,
            server_upstreams: vec![format!("127.0.0.1:{}", ports.server)],
            server_sockets: vec![DOCKER_SERVER_SOCKET.into()],
            authsvc_upstream: format!("127.0.0.1:{}", ports.authsvc),
            certs_dir: "/certs".into(),
            static_dir: "/data/static".into(),
            workers,
            worker_user: "nginx".into(),
            // compose sets `ulimits: nofile: 1048576`.
            nofile_cap: None,
            pid_path: "/var/run/nginx.pid".into(),
            error_log: "stderr".into(),
            temp_dir: "/var/cache/nginx".into(),
            // The Docker stack keeps the app port on loopback; a multi-host deployment sets
            // EDGE_SECRET and renders it here (README, "Deploying").
            edge_secret: String::new(),
            knob_overrides: Vec::new(),
        }
    }

    /// Points the edge at `servers` app-server instances of `prodstack up` (their TCP ports
    /// on loopback, the isolated one's in its namespace; or their Unix sockets).
    pub fn with_servers(
        mut self,
        home: &Home,
        ports: &StackPorts,
        servers: u8,
        isolation: Option<&crate::netns::Isolation>,
    ) -> Self {
        let instances = 0..servers.max(1);
        self.server_upstreams = instances
            .clone()
            .map(|i| {
                crate::state::server_addrs(ports, isolation, i)
                    .0
                    .to_string()
            })
            .collect();
        self.server_sockets = instances
            .map(|i| server_instance_socket_path(home, i))
            .collect();
        self
    }

    /// Creates the folders nginx writes into but does not create itself: the temp folder's
    /// parent (nginx creates only the last level) and the pid file's folder.
    pub fn create_dirs(&self) -> Result<()> {
        for dir in [Some(self.temp_dir.as_path()), self.pid_path.parent()]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir).io_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(())
    }

    /// The template's line parameters: `server_upstream`, one `server` line of the `backend`
    /// upstream per app-server instance (their TCP addresses, or their Unix sockets when the
    /// `server_socket` knob says `unix`).
    pub fn line_variables(&self) -> BTreeMap<&'static str, Vec<String>> {
        // A bad override is reported by `variables`.
        let (knobs, _) = self.knobs();
        let upstreams = match knobs.server_socket {
            ServerSocket::Tcp => self.server_upstreams.clone(),
            ServerSocket::Unix => self
                .server_sockets
                .iter()
                .map(|socket| format!("unix:{}", socket.display()))
                .collect(),
        };
        BTreeMap::from([("server_upstream", upstreams)])
    }

    /// The profile's knobs with the overrides set, and the overrides that were refused.
    fn knobs(&self) -> (ProfileKnobs, Vec<Problem>) {
        let mut knobs = ProfileKnobs::of(self.profile);
        let mut problems = Vec::new();
        for (name, value) in &self.knob_overrides {
            if let Err(reason) = knobs.set(name, value) {
                problems.push(Problem::BadValue {
                    name: name.clone(),
                    value: value.clone(),
                    reason,
                });
            }
        }
        (knobs, problems)
    }

    /// The template's parameters.
    pub fn variables(&self) -> std::result::Result<BTreeMap<&'static str, String>, RenderError> {
        let (knobs, mut problems) = self.knobs();
        let nofile = match self.nofile_cap {
            Some(cap) => knobs.worker_rlimit_nofile.min(cap),
            None => knobs.worker_rlimit_nofile,
        };
        if knobs.server_socket == ServerSocket::Unix {
            for socket in &self.server_sockets {
                if let Err(reason) = rt::listener::check_unix_path(socket) {
                    problems.push(Problem::BadValue {
                        name: "server_socket".into(),
                        value: socket.display().to_string(),
                        reason: format!("{reason} (set PRODSTACK_HOME to a shorter folder)"),
                    });
                }
            }
        }
        let mut path = |name: &'static str, p: &Path| -> String {
            let text = p.display().to_string();
            if text.chars().any(char::is_whitespace) {
                problems.push(Problem::BadValue {
                    name: name.into(),
                    value: text.clone(),
                    reason: "paths with whitespace are not supported in the nginx config".into(),
                });
            }
            text
        };
        if knobs.server_socket == ServerSocket::Unix {
            // The sockets are `server_upstream` line values; their paths are checked here.
            for socket in &self.server_sockets {
                path("server_socket", socket);
            }
        }
        let vars = BTreeMap::from([
            ("profile", self.profile.to_string()),
            ("listen_port", self.listen_port.to_string()),
            ("status_port", self.status_port.to_string()),
            (
                "listen_reuseport",
                if knobs.listen_reuseport {
                    " reuseport"
                } else {
                    ""
                }
                .to_string(),
            ),
            ("authsvc_upstream", self.authsvc_upstream.clone()),
            ("server_keepalive", knobs.server_keepalive.to_string()),
            ("authsvc_keepalive", knobs.authsvc_keepalive.to_string()),
            ("certs_dir", path("certs_dir", &self.certs_dir)),
            ("static_dir", path("static_dir", &self.static_dir)),
            ("worker_processes", self.workers.to_string()),
            ("worker_user", self.worker_user.clone()),
            ("worker_rlimit_nofile", nofile.to_string()),
            (
                "worker_connections",
                knobs
                    .worker_connections
                    .min(nofile.saturating_sub(FILE_DESCRIPTORS).max(1))
                    .to_string(),
            ),
            ("pid_path", path("pid_path", &self.pid_path)),
            ("error_log", self.error_log.clone()),
            ("temp_dir", path("temp_dir", &self.temp_dir)),
            ("ssl_buffer_size", knobs.ssl_buffer_size.clone()),
            ("http2_chunk_size", knobs.http2_chunk_size.clone()),
            ("tls13_ciphersuites", knobs.tls13_ciphersuites.clone()),
            ("edge_secret", self.edge_secret.clone()),
        ]);
        if !self.edge_secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(Problem::BadValue {
                name: "edge_secret".into(),
                value: "(hidden)".into(),
                reason: "the edge secret must be hex digits".into(),
            });
        }
        if problems.is_empty() {
            Ok(vars)
        } else {
            Err(RenderError(problems))
        }
    }
}

/// `nobody` with its primary group (`nogroup` on Debian): nginx's own default user, spelled
/// out because nginx would otherwise look for a group named `nobody`, which Debian lacks.
pub fn unprivileged_worker_user() -> String {
    let Some(user) = crate::process::OsUser::lookup("nobody") else {
        return "nobody".into();
    };
    match group_name(user.gid) {
        Some(group) => format!("nobody {group}"),
        None => "nobody".into(),
    }
}

fn group_name(gid: u32) -> Option<String> {
    // SAFETY: getgrgid returns static storage or null; the name is copied out at once.
    let entry = unsafe { libc::getgrgid(gid) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: non-null record with a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr((*entry).gr_name) };
    name.to_str().ok().map(String::from)
}

/// The hard `RLIMIT_NOFILE` of this process, which its children (nginx) inherit. nginx's
/// `worker_rlimit_nofile` cannot go above it without `CAP_SYS_RESOURCE` (sandboxes and
/// containers often drop it), so asking for more only produces an alert per worker.
pub fn hard_nofile_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    (limit.rlim_max != libc::RLIM_INFINITY).then_some(limit.rlim_max)
}

/// Whether an unprivileged account could read `static_dir`: every folder on the way must be
/// searchable by "others", the folder readable, and its files readable. `Err` names the first
/// obstacle.
pub fn world_readable(static_dir: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = static_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", static_dir.display()))?;
    for ancestor in dir.ancestors().skip(1) {
        let mode = std::fs::metadata(ancestor)
            .map_err(|e| format!("{}: {e}", ancestor.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(format!(
                "{} is not searchable by other users (mode {:o})",
                ancestor.display(),
                mode & 0o777
            ));
        }
    }
    let mode = std::fs::metadata(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o005 != 0o005 {
        return Err(format!("{} is not readable by other users", dir.display()));
    }
    for entry in std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
    {
        let mode = entry
            .metadata()
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o004 == 0 {
            return Err(format!(
                "{} is not readable by other users",
                entry.path().display()
            ));
        }
    }
    Ok(())
}

/// The nginx binary: Debian's `/usr/sbin/nginx` (outside an ordinary user's `PATH`) or
/// whatever `nginx` is on `PATH`.
pub fn nginx_binary() -> Result<PathBuf> {
    let system = PathBuf::from("/usr/sbin/nginx");
    if system.is_file() {
        return Ok(system);
    }
    crate::process::find_on_path("nginx").ok_or_else(|| Error::Missing {
        what: "nginx".into(),
        hint: "install the Debian package `nginx` (./prodstack does it for you)".into(),
    })
}

/// `nginx -t` on a rendered config; the error carries nginx's own explanation.
pub fn check_config(conf: &Path, prefix: &Path) -> Result<()> {
    run_checked(
        Command::new(nginx_binary()?)
            .arg("-t")
            .arg("-q")
            .arg("-c")
            .arg(conf)
            .arg("-p")
            .arg(prefix),
        &format!("nginx -t -c {}", conf.display()),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::render;

    fn vars(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn substitutes_every_placeholder() {
        let out = render(
            "a {{x}} b {{y_2}}\n{{x}};\n",
            &vars(&[("x", "1"), ("y_2", "two")]),
        )
        .unwrap();
        assert_eq!(out, "a 1 b two\n1;\n");
    }

    #[test]
    fn line_parameters_repeat_their_line_and_are_checked_like_values() {
        let lines = BTreeMap::from([("s", vec!["a:1".to_string(), "b:2".to_string()])]);
        let out = render_with_lines(
            "x {{x}}\n  server {{s}} {{x}};\nend\n",
            &vars(&[("x", "1")]),
            &lines,
        )
        .unwrap();
        assert_eq!(out, "x 1\n  server a:1 1;\n  server b:2 1;\nend\n");
        let bad = BTreeMap::from([("s", vec!["a;b".to_string()])]);
        let err = render_with_lines("server {{s}};\n", &vars(&[]), &bad).unwrap_err();
        assert!(err.to_string().contains("parameter `s`"), "{err}");
        let err = render_with_lines("nothing\n", &vars(&[]), &lines).unwrap_err();
        assert!(err.to_string().contains("`s` is not used"), "{err}");
    }

    #[test]
    fn several_server_instances_are_one_upstream_line_each() {
        let home = Home::new("/srv/ps");
        let ports = StackPorts::DEFAULT;
        let params = EdgeParams::local(&home, &ports, Profile::Production, 1)
            .with_servers(&home, &ports, 3, None);
        let conf = Template::bundled().render_edge(&params).unwrap();
        for port in [8080, 8081, 8082] {
            assert!(
                conf.contains(&format!("        server 127.0.0.1:{port};\n")),
                "{conf}"
            );
        }
        assert!(!conf.contains("8083"), "{conf}");
        let tuned = EdgeParams::local(&home, &ports, Profile::Tuned, 1)
            .with_servers(&home, &ports, 2, None);
        let conf = Template::bundled().render_edge(&tuned).unwrap();
        assert!(
            conf.contains("server unix:/srv/ps/run/server.sock;"),
            "{conf}"
        );
        assert!(
            conf.contains("server unix:/srv/ps/run/server-2.sock;"),
            "{conf}"
        );
    }

    #[test]
    fn unknown_placeholders_and_unused_parameters_are_errors() {
        let err = render(
            "a {{x}}\nb {{typo}}\n",
            &vars(&[("x", "1"), ("spare", "2")]),
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            vec![
                Problem::UnknownPlaceholder {
                    name: "typo".into(),
                    line: 2
                },
                Problem::UnusedParameter {
                    name: "spare".into()
                },
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("line 2: unknown placeholder {{typo}}"),
            "{text}"
        );
        assert!(text.contains("parameter `spare` is not used"), "{text}");
    }

    #[test]
    fn malformed_placeholders_are_errors() {
        let err = render("a {{x\n", &vars(&[])).unwrap_err();
        assert_eq!(err.0, vec![Problem::Unterminated { line: 1 }]);
        let err = render("a {{ x }} {{X}}\n", &vars(&[])).unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert!(
            err.to_string().contains("{{ x }} is not a placeholder"),
            "{err}"
        );
    }

    #[test]
    fn values_that_would_change_the_config_structure_are_refused() {
        for bad in ["1; user root", "a\nb", "x}", "$host", "\"q\""] {
            let err = render("v {{v}};\n", &vars(&[("v", bad)])).unwrap_err();
            assert!(
                matches!(err.0[0], Problem::BadValue { .. }),
                "{bad:?} accepted: {err}"
            );
        }
        let mut params = EdgeParams::docker(Profile::Production, Workers::Auto);
        params.static_dir = "/data/my static".into();
        let err = Template::bundled().render_edge(&params).unwrap_err();
        assert!(err.to_string().contains("whitespace"), "{err}");
    }

    #[test]
    fn the_template_in_the_checkout_is_the_bundled_one() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let from_disk = Template::from_checkout(&root).unwrap();
        assert_eq!(from_disk.text(), BUNDLED_TEMPLATE);
    }

    #[test]
    fn profiles_differ_only_in_their_documented_knobs() {
        let production = Template::bundled()
            .render_edge(&EdgeParams::docker(Profile::Production, Workers::Count(4)))
            .unwrap();
        let tuned = Template::bundled()
            .render_edge(&EdgeParams::docker(Profile::Tuned, Workers::Count(4)))
            .unwrap();
        let changed: Vec<(&str, &str)> = production
            .lines()
            .zip(tuned.lines())
            .filter(|(a, b)| a != b)
            .collect();
        let directives: Vec<&str> = changed
            .iter()
            .map(|(a, _)| a.split_whitespace().next().unwrap_or(""))
            .collect();
        assert_eq!(
            directives,
            [
                "#",
                "worker_rlimit_nofile",
                "worker_connections",
                "server",
                "keepalive",
                "listen",
                "http2_chunk_size",
            ],
            "{changed:#?}"
        );
        assert!(tuned.contains("listen 8443 ssl http2 reuseport;"));
        assert!(production.contains("listen 8443 ssl http2;"));
        assert!(tuned.contains(&format!("server unix:{DOCKER_SERVER_SOCKET};")));
        assert!(production.contains("server 127.0.0.1:8080;"));
    }

    #[test]
    fn knob_overrides_change_the_rendering_and_bad_ones_are_refused() {
        let mut params = EdgeParams::docker(Profile::Production, Workers::Count(4));
        params.knob_overrides = vec![
            ("http2_chunk_size".into(), "32k".into()),
            ("tls13_ciphersuites".into(), "aes128".into()),
            ("listen_reuseport".into(), "on".into()),
            ("server_socket".into(), "unix".into()),
        ];
        let conf = Template::bundled().render_edge(&params).unwrap();
        assert!(
            conf.contains(&format!("server unix:{DOCKER_SERVER_SOCKET};")),
            "{conf}"
        );
        assert!(!conf.contains("server 127.0.0.1:8080;"), "{conf}");
        assert_eq!(
            Path::new(DOCKER_SERVER_SOCKET).parent(),
            Some(Path::new(DOCKER_SERVER_SOCKET_DIR))
        );
        assert!(conf.contains("http2_chunk_size 32k;"), "{conf}");
        assert!(conf.contains(&format!(
            "ssl_conf_command Ciphersuites {TLS13_AES128_FIRST};"
        )));
        assert!(conf.contains("listen 8443 ssl http2 reuseport;"));
        params.knob_overrides = vec![("ssl_buffer_size".into(), "huge".into())];
        let err = Template::bundled()
            .render_edge(&params)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ssl_buffer_size"), "{err}");
        params.knob_overrides = vec![("gzip".into(), "on".into())];
        let err = Template::bundled()
            .render_edge(&params)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an edge knob"), "{err}");
    }

    #[test]
    fn nofile_cap_limits_descriptors_and_connections() {
        let mut params = EdgeParams::docker(Profile::Tuned, Workers::Auto);
        params.nofile_cap = Some(20_000);
        let conf = Template::bundled().render_edge(&params).unwrap();
        assert!(conf.contains("worker_rlimit_nofile 20000;"), "{conf}");
        assert!(conf.contains("worker_connections 18976;"), "{conf}");
    }
}
