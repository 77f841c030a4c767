//! `prodstack compose-check FILE...`: the structural guard of the Docker deployment.
//!
//! A check that needs no Docker engine (`prodstack docker-test` is the one that builds and
//! runs): every compose file is checked against the rules HttpArena's production-stack test
//! imposes — exactly the four services `edge`, `cache`, `authsvc` and `server` (their names
//! label HttpArena's per-service CPU figures), host networking, health checks that start-up
//! waits on (HttpArena's checks start as soon as the edge answers), nginx at the edge and the
//! shared authsvc unmodified for Production and Tuned — and every image a compose file builds
//! is checked by reading its Dockerfile
//! ([`dockerfile`]) against its build context ([`dockerignore`]). Each violation is printed
//! with its file, service and field; any violation makes the command exit 1.
//!
//! Three kinds of input:
//! - a **stack** file, in one of two [`Shape`]s, told apart by its services:
//!   - the **four-service** stack (`deploy/compose.production-stack.yml`,
//!     `deploy/compose.tuned.yml`): exactly `edge`, `cache`, `authsvc`, `server`; the edge is
//!     nginx with a config running one worker per CPU of the edge's cpuset, and it opens only
//!     once the server and authsvc answer (`depends_on: condition: service_healthy`);
//!   - the **engine** stack (`deploy/compose.engine.yml`): exactly `edge` and `cache`, the edge
//!     being our fused Rust engine, which needs the server's environment and dataset too.
//!
//!   Rules for every service of either shape: host networking; cpusets of whole SMT pairs
//!   inside `0-31,64-95` that do not overlap and total exactly 64 logical CPUs;
//!   `seccomp:unconfined`; memlock -1 and nofile 1048576; HttpArena's environment and mounts
//!   (`${CERTS_DIR}`, `${DATA_DIR}`, `${DATABASE_URL}`, never a hard-coded host path); a health
//!   check. The authsvc and server rules apply where those services exist.
//! - an **HttpArena export** (a `frameworks/<name>/` folder, or the compose file inside one):
//!   the same, plus the image built from our sources uses HttpArena's context (`../../`), and
//!   `meta.json` describes a production-stack entry of the shape's category. In the
//!   four-service shape authsvc must be HttpArena's shared sidecar built as-is
//!   (`build: ../_shared/authsvc`) and the category production or tuned; the engine shape is
//!   category engine.
//! - the **Postgres** file (`deploy/compose.postgres.yml`): postgres:18 as HttpArena's harness
//!   starts it, seeded from `${DATA_DIR}/pgdb-seed.sql`.

pub mod dockerfile;
pub mod dockerignore;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_yaml::Value;
use stack::CpuSet;

use dockerfile::{BuildContext, Dockerfile};
use stack::Project;

/// The four services, in HttpArena's order.
pub const SERVICES: [&str; 4] = ["edge", "cache", "authsvc", "server"];
/// The engine stack's services: the fused engine and Redis.
pub const ENGINE_SERVICES: [&str; 2] = ["edge", "cache"];
/// Logical CPUs the four services share on HttpArena's box (`0-31,64-95`).
pub const CPU_BUDGET: usize = 64;
/// The SMT sibling of CPU N is N + 64 on HttpArena's box.
pub const SMT_SIBLING_OFFSET: usize = 64;
/// How an export must build authsvc: HttpArena's shared sidecar, unmodified.
pub const SHARED_AUTHSVC: &str = "../_shared/authsvc";
/// HttpArena's compose file name inside `frameworks/<name>/`.
pub const EXPORT_COMPOSE_FILE: &str = "compose.production-stack.yml";
const NOFILE: i64 = 1_048_576;

#[derive(Debug, Args)]
pub struct ComposeCheckArgs {
    /// Compose files, or HttpArena export folders (`<out>/frameworks/<name>`).
    #[arg(required = true, value_name = "FILE")]
    pub paths: Vec<PathBuf>,
}

pub fn run(_project: &Project, args: ComposeCheckArgs) -> anyhow::Result<ExitCode> {
    let mut total = 0;
    for path in &args.paths {
        let checked = check_path(path)?;
        for violation in &checked.violations {
            println!("{violation}");
        }
        if checked.violations.is_empty() {
            println!("{}: ok ({})", path.display(), checked.summary);
        }
        total += checked.violations.len();
    }
    if total == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "compose-check: {total} violation{} found",
            if total == 1 { "" } else { "s" }
        );
        Ok(ExitCode::from(1))
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub file: PathBuf,
    /// `None` for file-level rules (service count, CPU total, meta.json).
    pub service: Option<String>,
    /// The compose field (`cpuset`, `ulimits.nofile`, `build`, ...).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.service {
            Some(service) => write!(
                f,
                "{}: service `{service}`: {}: {}",
                self.file.display(),
                self.field,
                self.message
            ),
            None => write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.field,
                self.message
            ),
        }
    }
}

/// The outcome of checking one path.
#[derive(Debug, Clone)]
pub struct Checked {
    pub violations: Vec<Violation>,
    /// What was checked, for the "ok" line.
    pub summary: String,
    /// The stack's shape; `None` for the Postgres file and unreadable input.
    pub shape: Option<Shape>,
}

/// Which stack a compose file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// nginx edge, cache, HttpArena's authsvc, our server (Production and Tuned).
    FourServices,
    /// Our fused engine as the edge, and the cache (Engine).
    Engine,
}

impl Shape {
    /// The engine shape when neither authsvc nor server is there; otherwise the four-service
    /// shape, whose rules then report whichever of them is missing.
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Shape {
        let four = names.into_iter().any(|n| n == "authsvc" || n == "server");
        if four {
            Shape::FourServices
        } else {
            Shape::Engine
        }
    }

    /// The services the shape runs, in HttpArena's order.
    pub fn services(self) -> &'static [&'static str] {
        match self {
            Shape::FourServices => &SERVICES,
            Shape::Engine => &ENGINE_SERVICES,
        }
    }

    /// meta.json `type`s an export of this shape may declare.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Shape::FourServices => &["production", "tuned"],
            Shape::Engine => &["engine"],
        }
    }
}

/// What a compose file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The four-service stack; `export` = the framework name when it sits in an HttpArena
    /// `frameworks/<name>/` folder.
    Stack {
        export: Option<String>,
    },
    Postgres,
}

/// Checks a compose file or an export folder. `Err` only when the input cannot be read at all.
pub fn check_path(path: &Path) -> anyhow::Result<Checked> {
    if path.is_dir() {
        let compose = path.join(EXPORT_COMPOSE_FILE);
        if !compose.is_file() {
            anyhow::bail!(
                "{} is a folder without {EXPORT_COMPOSE_FILE}; pass a compose file or an export folder (<out>/frameworks/<name>)",
                path.display()
            );
        }
        let name = folder_name(path)?;
        let mut checked = check_file(&compose, Kind::Stack { export: Some(name) })?;
        checked
            .violations
            .extend(check_export_folder(path, checked.shape));
        return Ok(checked);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the compose file {}", path.display()))?;
    let kind = detect_kind(path, &text);
    let mut checked = check_text(path, &text, &kind);
    if let (Kind::Stack { export: Some(_) }, Some(dir)) = (&kind, path.parent()) {
        checked
            .violations
            .extend(check_meta(&dir.join("meta.json"), checked.shape));
    }
    Ok(checked)
}

fn check_file(path: &Path, kind: Kind) -> anyhow::Result<Checked> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the compose file {}", path.display()))?;
    Ok(check_text(path, &text, &kind))
}

fn folder_name(dir: &Path) -> anyhow::Result<String> {
    let absolute =
        std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no folder name", dir.display()))
}

/// An export when the file sits in `frameworks/<name>/` or next to a `meta.json`; the
/// Postgres file when its only service is `postgres`; a plain stack file otherwise.
pub fn detect_kind(path: &Path, text: &str) -> Kind {
    if let Ok(value) = serde_yaml::from_str::<Value>(text) {
        if let Some(services) = value.get("services").and_then(Value::as_mapping) {
            let names: Vec<&str> = services.keys().filter_map(Value::as_str).collect();
            if names.contains(&"postgres") && !names.contains(&"edge") {
                return Kind::Postgres;
            }
        }
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = absolute.parent();
    let in_frameworks = dir
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .is_some_and(|n| n == "frameworks");
    let beside_meta = dir.is_some_and(|d| d.join("meta.json").is_file());
    let export = (in_frameworks || beside_meta)
        .then(|| dir.and_then(Path::file_name))
        .flatten()
        .map(|n| n.to_string_lossy().into_owned());
    Kind::Stack { export }
}

/// Checks compose `text` (read from `file`, which anchors relative build paths).
pub fn check_text(file: &Path, text: &str, kind: &Kind) -> Checked {
    let mut out = Findings::new(file);
    let mut doc: Value = match serde_yaml::from_str(text) {
        Ok(doc) => doc,
        Err(err) => {
            out.file("yaml", format!("not valid YAML: {err}"));
            return out.finish("unreadable".into(), None);
        }
    };
    if let Err(err) = doc.apply_merge() {
        out.file("yaml", format!("bad merge key: {err}"));
    }
    let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
        out.file(
            "services",
            "missing: a compose file needs a `services` map".into(),
        );
        return out.finish("no services".into(), None);
    };
    let services: BTreeMap<String, &Value> = services
        .iter()
        .map(|(k, v)| (scalar(k).unwrap_or_default(), v))
        .collect();
    let compose_dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let (summary, shape) = match kind {
        Kind::Postgres => {
            check_postgres(&services, &mut out);
            (
                "Postgres: postgres:18, seeded from ${DATA_DIR}/pgdb-seed.sql".to_string(),
                None,
            )
        }
        Kind::Stack { export } => {
            let shape = Shape::of(services.keys().map(String::as_str));
            let cpus = check_stack(&services, shape, export.as_deref(), &compose_dir, &mut out);
            let summary = match (shape, export) {
                (Shape::FourServices, Some(name)) => format!(
                    "HttpArena export `{name}`: 4 services, {cpus} logical CPUs, shared authsvc"
                ),
                (Shape::FourServices, None) => format!("stack: 4 services, {cpus} logical CPUs"),
                (Shape::Engine, Some(name)) => {
                    format!("HttpArena export `{name}`: engine, 2 services, {cpus} logical CPUs")
                }
                (Shape::Engine, None) => {
                    format!("engine stack: 2 services, {cpus} logical CPUs")
                }
            };
            (summary, Some(shape))
        }
    };
    out.finish(summary, shape)
}

/// Collects violations for one file.
struct Findings {
    file: PathBuf,
    violations: Vec<Violation>,
}

impl Findings {
    fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            violations: Vec::new(),
        }
    }

    fn file(&mut self, field: &str, message: String) {
        self.violations.push(Violation {
            file: self.file.clone(),
            service: None,
            field: field.into(),
            message,
        });
    }

    fn service(&mut self, service: &str, field: &str, message: String) {
        self.violations.push(Violation {
            file: self.file.clone(),
            service: Some(service.into()),
            field: field.into(),
            message,
        });
    }

    fn finish(self, summary: String, shape: Option<Shape>) -> Checked {
        Checked {
            violations: self.violations,
            summary,
            shape,
        }
    }
}

/// Every stack rule of `shape`; returns the total of logical CPUs found.
fn check_stack(
    services: &BTreeMap<String, &Value>,
    shape: Shape,
    export: Option<&str>,
    compose_dir: &Path,
    out: &mut Findings,
) -> usize {
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    let expected = shape.services();
    match shape {
        Shape::FourServices if names.len() != expected.len() => out.file(
            "services",
            format!(
                "{} services ({}); HttpArena's production-stack runs exactly 4: edge, cache, authsvc, server",
                names.len(),
                names.join(", ")
            ),
        ),
        Shape::Engine if names.len() != expected.len() => out.file(
            "services",
            format!(
                "{} services ({}); the engine stack runs exactly 2: edge (the fused engine) and cache",
                names.len(),
                names.join(", ")
            ),
        ),
        _ => {}
    }
    for name in &names {
        if !expected.contains(name) {
            let message = match shape {
                Shape::FourServices => "unexpected service: only edge, cache, authsvc and server may run (the names label HttpArena's per-service CPU figures)",
                Shape::Engine => "unexpected service: the engine stack runs only edge and cache (the names label HttpArena's per-service CPU figures)",
            };
            out.service(name, "services", message.into());
        }
    }
    for name in expected {
        if !services.contains_key(*name) {
            out.file("services", format!("service `{name}` is missing"));
        }
    }

    // Per-service rules shared by all four.
    let mut cpusets: Vec<(String, CpuSet)> = Vec::new();
    for (name, service) in services {
        check_common(name, service, out);
        if let Some(set) = check_cpuset(name, service, out) {
            cpusets.push((name.clone(), set));
        }
    }
    let total = check_cpu_total(&cpusets, out);

    match (shape, services.get("edge")) {
        (Shape::FourServices, Some(service)) => check_edge(service, &cpusets, compose_dir, out),
        (Shape::Engine, Some(service)) => check_engine_edge(service, export, compose_dir, out),
        (_, None) => {}
    }
    if let Some(service) = services.get("cache") {
        check_cache(service, out);
    }
    if let Some(service) = services.get("authsvc") {
        check_authsvc(service, export, compose_dir, out);
    }
    if let Some(service) = services.get("server") {
        check_server(service, export, compose_dir, out);
    }
    total
}

fn check_common(name: &str, service: &Value, out: &mut Findings) {
    match service.get("network_mode").and_then(scalar) {
        Some(mode) if mode == "host" => {}
        Some(mode) => out.service(
            name,
            "network_mode",
            format!("`{mode}`; every service must use `host` (they reach each other on 127.0.0.1)"),
        ),
        None => out.service(name, "network_mode", "missing; must be `host`".into()),
    }

    let seccomp = service
        .get("security_opt")
        .and_then(Value::as_sequence)
        .is_some_and(|opts| {
            opts.iter()
                .filter_map(scalar)
                .any(|o| o == "seccomp:unconfined" || o == "seccomp=unconfined")
        });
    if !seccomp {
        out.service(
            name,
            "security_opt",
            "must contain `seccomp:unconfined` (HttpArena's required compose settings)".into(),
        );
    }

    let ulimits = service.get("ulimits");
    match ulimits.and_then(|u| u.get("memlock")) {
        None => out.service(
            name,
            "ulimits.memlock",
            "missing; HttpArena requires memlock -1 on all four services".into(),
        ),
        Some(value) => {
            if let Err(why) = check_limit(value, -1) {
                out.service(name, "ulimits.memlock", format!("{why}; must be -1"));
            }
        }
    }
    match ulimits.and_then(|u| u.get("nofile")) {
        None => out.service(
            name,
            "ulimits.nofile",
            format!(
                "missing; HttpArena requires nofile soft and hard {NOFILE} on all four services"
            ),
        ),
        Some(value) => {
            if let Err(why) = check_limit(value, NOFILE) {
                out.service(
                    name,
                    "ulimits.nofile",
                    format!("{why}; soft and hard must be {NOFILE}"),
                );
            }
        }
    }

    if service.get("container_name").is_some() {
        out.service(
            name,
            "container_name",
            "must not be set: HttpArena finds the containers by compose project and labels CPU figures from the generated names".into(),
        );
    }

    match service.get("healthcheck") {
        None => out.service(
            name,
            "healthcheck",
            "missing; every service needs one so start-up can wait for it".into(),
        ),
        Some(check) => {
            let disabled = check.get("disable").and_then(Value::as_bool) == Some(true);
            let test = check.get("test").map(command_words).unwrap_or_default();
            if disabled || test.first().is_some_and(|w| w == "NONE") {
                out.service(name, "healthcheck", "is disabled".into());
            } else if test.is_empty() {
                out.service(name, "healthcheck.test", "missing or empty".into());
            }
        }
    }
}

/// `value` is `expected` either as a number or as `{soft, hard}`.
fn check_limit(value: &Value, expected: i64) -> Result<(), String> {
    if let Some(n) = value.as_i64() {
        return if n == expected {
            Ok(())
        } else {
            Err(format!("is {n}"))
        };
    }
    let soft = value.get("soft").and_then(Value::as_i64);
    let hard = value.get("hard").and_then(Value::as_i64);
    match (soft, hard) {
        (Some(s), Some(h)) if s == expected && h == expected => Ok(()),
        (Some(s), Some(h)) => Err(format!("is soft {s} / hard {h}")),
        _ => Err("needs both `soft` and `hard`".into()),
    }
}

fn check_cpuset(name: &str, service: &Value, out: &mut Findings) -> Option<CpuSet> {
    let Some(text) = service.get("cpuset").and_then(scalar) else {
        out.service(
            name,
            "cpuset",
            "missing; every service is pinned (HttpArena splits 0-31,64-95 between the four)"
                .into(),
        );
        return None;
    };
    let set = match CpuSet::parse(&text) {
        Ok(set) => set,
        Err(err) => {
            out.service(name, "cpuset", err);
            return None;
        }
    };
    let outside: Vec<usize> = set
        .cpus()
        .iter()
        .copied()
        .filter(|&c| !is_stack_cpu(c))
        .collect();
    if !outside.is_empty() {
        out.service(
            name,
            "cpuset",
            format!(
                "CPUs {} are outside 0-31,64-95 (32-63,96-127 belong to the load generator)",
                join(&outside)
            ),
        );
    }
    for &cpu in set.cpus() {
        if !is_stack_cpu(cpu) {
            continue;
        }
        let sibling = smt_sibling(cpu);
        if set.cpus().binary_search(&sibling).is_err() {
            out.service(
                name,
                "cpuset",
                format!("half an SMT pair: CPU {cpu} without its sibling {sibling} (allocate whole pairs N and N+64)"),
            );
        }
    }
    Some(set)
}

fn is_stack_cpu(cpu: usize) -> bool {
    cpu < 32 || (SMT_SIBLING_OFFSET..SMT_SIBLING_OFFSET + 32).contains(&cpu)
}

fn smt_sibling(cpu: usize) -> usize {
    if cpu < SMT_SIBLING_OFFSET {
        cpu + SMT_SIBLING_OFFSET
    } else {
        cpu - SMT_SIBLING_OFFSET
    }
}

fn check_cpu_total(cpusets: &[(String, CpuSet)], out: &mut Findings) -> usize {
    let mut owner: BTreeMap<usize, &str> = BTreeMap::new();
    for (name, set) in cpusets {
        for &cpu in set.cpus() {
            if let Some(first) = owner.insert(cpu, name) {
                out.service(
                    name,
                    "cpuset",
                    format!("CPU {cpu} is also in the cpuset of `{first}`; services must not share CPUs"),
                );
            }
        }
    }
    let total: usize = cpusets.iter().map(|(_, set)| set.len()).sum();
    if total != CPU_BUDGET {
        out.file(
            "cpuset",
            format!(
                "the cpusets total {total} logical CPUs; the four services must use exactly {CPU_BUDGET} (0-31,64-95)"
            ),
        );
    }
    total
}

fn check_edge(
    service: &Value,
    cpusets: &[(String, CpuSet)],
    compose_dir: &Path,
    out: &mut Findings,
) {
    let mounts = mounts_or_report("edge", service, out);
    require_mount("edge", &mounts, "CERTS_DIR", "", "/certs", out);
    require_mount("edge", &mounts, "DATA_DIR", "/static", "/data/static", out);
    require_depends_healthy("edge", service, &["server", "authsvc"], out);

    let edge_cpus = cpusets
        .iter()
        .find(|(n, _)| n == "edge")
        .map(|(_, s)| s.len());
    match (service.get("build"), service.get("image").and_then(scalar)) {
        (Some(build), _) => {
            let Some(report) = lint_build("edge", build, compose_dir, out) else {
                return;
            };
            let base = report.lint.final_base.clone().unwrap_or_default();
            if !base.starts_with("nginx:") && !base.starts_with("nginx@") {
                out.service(
                    "edge",
                    "build",
                    format!("the edge image is based on `{base}`; Production and Tuned need a production-grade proxy (nginx) at the edge"),
                );
            }
            let conf = report
                .lint
                .copies
                .iter()
                .find(|c| c.destination == "/etc/nginx/nginx.conf")
                .map(|c| report.context.dir.join(&c.source));
            match conf {
                None => out.service(
                    "edge",
                    "build",
                    "the edge Dockerfile does not COPY a config to /etc/nginx/nginx.conf".into(),
                ),
                Some(conf) => check_nginx_workers(&conf, edge_cpus, out),
            }
        }
        (None, Some(image)) if image.starts_with("nginx:") => {}
        (None, Some(image)) => out.service(
            "edge",
            "image",
            format!("`{image}`: the edge must be nginx with our generated config"),
        ),
        (None, None) => out.service("edge", "build", "missing `build` (or `image`)".into()),
    }
}

/// nginx's `worker_processes auto` counts the host's CPUs (sysconf), not the container's
/// cpuset: 128 workers on HttpArena's box. The config must name the cpuset's size.
fn check_nginx_workers(conf: &Path, edge_cpus: Option<usize>, out: &mut Findings) {
    let text = match std::fs::read_to_string(conf) {
        Ok(text) => text,
        Err(err) => {
            out.service(
                "edge",
                "build",
                format!("cannot read {}: {err}", conf.display()),
            );
            return;
        }
    };
    let workers = text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        line.strip_prefix("worker_processes")
            .map(|rest| rest.trim().trim_end_matches(';').trim().to_string())
    });
    match (workers, edge_cpus) {
        (None, _) => out.service(
            "edge",
            "nginx.conf",
            format!("{} sets no worker_processes (nginx would start 1)", conf.display()),
        ),
        (Some(w), _) if w == "auto" => out.service(
            "edge",
            "nginx.conf",
            format!("{}: `worker_processes auto` counts the host's CPUs, not the cpuset; name the cpuset's size", conf.display()),
        ),
        (Some(w), Some(cpus)) if w != cpus.to_string() => out.service(
            "edge",
            "nginx.conf",
            format!("{}: worker_processes {w}, but the edge's cpuset has {cpus} CPUs (regenerate with `prodstack export-httparena --write-deploy`)", conf.display()),
        ),
        _ => {}
    }
}

fn check_cache(service: &Value, out: &mut Findings) {
    match service.get("image").and_then(scalar) {
        Some(image) if image == "redis:7-alpine" => {}
        Some(image) => out.service(
            "cache",
            "image",
            format!("`{image}`; HttpArena's cache is `redis:7-alpine`"),
        ),
        None => out.service("cache", "image", "missing; must be `redis:7-alpine`".into()),
    }
    if service.get("build").is_some() {
        out.service(
            "cache",
            "build",
            "the cache is the stock `redis:7-alpine` image, not a build".into(),
        );
    }
    let mounts = mounts_or_report("cache", service, out);
    require_mount(
        "cache",
        &mounts,
        "DATA_DIR",
        "/redis-seed.txt",
        "/seed.txt",
        out,
    );
    require_mount(
        "cache",
        &mounts,
        "DATA_DIR",
        "/redis-entrypoint.sh",
        "/entrypoint.sh",
        out,
    );
    let entrypoint = service
        .get("entrypoint")
        .map(command_words)
        .unwrap_or_default();
    if entrypoint != ["sh", "/entrypoint.sh"] {
        out.service(
            "cache",
            "entrypoint",
            format!(
                "{:?}; must be [\"sh\", \"/entrypoint.sh\"] (the mounted seed entrypoint)",
                entrypoint
            ),
        );
    }
}

fn check_authsvc(service: &Value, export: Option<&str>, compose_dir: &Path, out: &mut Findings) {
    let env = environment_or_report("authsvc", service, out);
    match env.get(contract::env::JWT_SECRET) {
        Some(Some(v)) if !v.is_empty() => {}
        _ => out.service(
            "authsvc",
            "environment",
            "JWT_SECRET is missing or empty".into(),
        ),
    }
    // Ours listens on loopback only; an export runs HttpArena's shared sidecar as HttpArena's
    // entries do.
    let want = if export.is_some() {
        "0.0.0.0:9090"
    } else {
        "127.0.0.1:9090"
    };
    match env.get(contract::env::AUTHSVC_LISTEN) {
        Some(Some(v)) if v == want => {}
        Some(Some(v)) => out.service(
            "authsvc",
            "environment",
            format!("AUTHSVC_LISTEN={v}; must be {want}"),
        ),
        _ => out.service(
            "authsvc",
            "environment",
            format!("AUTHSVC_LISTEN is missing; must be {want}"),
        ),
    }
    if export.is_some() {
        // As-is: its folder as the context and nothing else but, optionally, the host build
        // network (no dockerfile, args or target of ours).
        let shared = match service.get("build") {
            Some(Value::String(context)) => normalize_dir(context) == SHARED_AUTHSVC,
            Some(build @ Value::Mapping(map)) => {
                build
                    .get("context")
                    .and_then(scalar)
                    .is_some_and(|c| normalize_dir(&c) == SHARED_AUTHSVC)
                    && map
                        .keys()
                        .all(|k| k.as_str().is_some_and(|k| k == "context" || k == "network"))
                    && build
                        .get("network")
                        .is_none_or(|n| n.as_str() == Some("host"))
            }
            _ => false,
        };
        if !shared || service.get("image").is_some() {
            out.service(
                "authsvc",
                "build",
                format!(
                    "authsvc must be HttpArena's shared sidecar, built as-is: `build: {SHARED_AUTHSVC}` (found {}); Production and Tuned entries may not replace or modify it",
                    describe(service.get("build").or(service.get("image")))
                ),
            );
        }
        return;
    }
    match service.get("build") {
        Some(build) => {
            lint_build("authsvc", build, compose_dir, out);
        }
        None => out.service("authsvc", "build", "missing".into()),
    }
}

fn check_server(service: &Value, export: Option<&str>, compose_dir: &Path, out: &mut Findings) {
    let env = environment_or_report("server", service, out);
    check_app_env("server", &env, out);
    let mounts = mounts_or_report("server", service, out);
    require_mount(
        "server",
        &mounts,
        "DATA_DIR",
        "/dataset.json",
        "/data/dataset.json",
        out,
    );
    require_depends_healthy("server", service, &["cache"], out);

    let Some(build) = service.get("build") else {
        out.service(
            "server",
            "build",
            "missing: the server is built from our sources".into(),
        );
        return;
    };
    if check_export_build("server", build, export, out) {
        lint_build("server", build, compose_dir, out);
    }
}

/// The app server's environment (the server's, or the fused engine's): HttpArena's database,
/// a connection cap Postgres can honour, and the cache on loopback.
fn check_app_env(name: &str, env: &BTreeMap<String, Option<String>>, out: &mut Findings) {
    // The app port trusts X-User-Id: loopback only, unless the edge proves itself with
    // EDGE_SECRET (then any address on port 8080).
    let proven = matches!(env.get(contract::env::EDGE_SECRET), Some(Some(v)) if !v.is_empty());
    match env.get(contract::env::LISTEN) {
        Some(Some(v)) => {
            let ok = v.parse::<std::net::SocketAddr>().is_ok_and(|a| {
                a.port() == 8080 && (proven || a.ip() == std::net::Ipv4Addr::LOCALHOST)
            });
            if !ok {
                out.service(
                    name,
                    "environment",
                    format!("LISTEN={v}; the app port trusts X-User-Id, so it must be 127.0.0.1:8080 (or set EDGE_SECRET)"),
                );
            }
        }
        _ => out.service(
            name,
            "environment",
            "LISTEN is missing; must be 127.0.0.1:8080 (the app port trusts X-User-Id)".into(),
        ),
    }
    match env.get(contract::env::DATABASE_URL) {
        Some(Some(v)) if v.contains("${DATABASE_URL") => {}
        Some(Some(v)) => out.service(
            name,
            "environment",
            format!("DATABASE_URL={v}: must come from the harness as ${{DATABASE_URL}} (no hard-coded database)"),
        ),
        _ => out.service(
            name,
            "environment",
            "DATABASE_URL is missing; must be ${DATABASE_URL}".into(),
        ),
    }
    match env.get(contract::env::DATABASE_MAX_CONN) {
        Some(Some(v)) => match v.parse::<u32>() {
            Ok(n) if (3..=256).contains(&n) => {}
            _ => out.service(
                name,
                "environment",
                format!("DATABASE_MAX_CONN={v}: must be an integer 3-256 (Postgres runs max_connections=256)"),
            ),
        },
        _ => out.service(
            name,
            "environment",
            "DATABASE_MAX_CONN is missing (HttpArena sets 256)".into(),
        ),
    }
    match env.get(contract::env::REDIS_URL) {
        Some(Some(v)) if v == "redis://127.0.0.1:6379" => {}
        Some(Some(v)) => out.service(
            name,
            "environment",
            format!("REDIS_URL={v}; the cache listens on redis://127.0.0.1:6379"),
        ),
        _ => out.service(
            name,
            "environment",
            "REDIS_URL is missing; must be redis://127.0.0.1:6379".into(),
        ),
    }
}

/// In an export, an image built from our sources must use HttpArena's repository root as the
/// context and our folder's Dockerfile. `false` when it does not (nothing more to lint).
fn check_export_build(name: &str, build: &Value, export: Option<&str>, out: &mut Findings) -> bool {
    let Some(framework) = export else {
        return true;
    };
    let context = build_field(build, "context").unwrap_or_default();
    let dockerfile = build_field(build, "dockerfile").unwrap_or_default();
    let expected = format!("frameworks/{framework}/Dockerfile");
    if normalize_dir(&context) != "../.." || dockerfile != expected {
        out.service(
            name,
            "build",
            format!(
                "HttpArena builds from its repository root: expected `context: ../../` and `dockerfile: {expected}`, found context `{context}`, dockerfile `{dockerfile}`"
            ),
        );
        return false;
    }
    true
}

/// The engine's TLS listener as HttpArena reaches it: validation and the benchmark on 8443, on
/// every interface of the host network (its app listener, `LISTEN`, is the server's rule).
const ENGINE_LISTENERS: [(&str, u16); 1] = [(contract::env::EDGE_LISTEN, 8443)];
/// Where the engine's files are inside the container: the mounts below. A variable may be left
/// unset (the binary's default is the same path) but must not point elsewhere.
const ENGINE_PATHS: [(&str, &str); 4] = [
    (contract::env::TLS_CERT, "/certs/server.crt"),
    (contract::env::TLS_KEY, "/certs/server.key"),
    (contract::env::STATIC_DIR, "/data/static"),
    (contract::env::DATASET_PATH, "/data/dataset.json"),
];

/// The engine as the edge: one process serving TLS, static files, JWT and the app server, so
/// it needs the edge's mounts and the server's environment, dataset and cache.
fn check_engine_edge(
    service: &Value,
    export: Option<&str>,
    compose_dir: &Path,
    out: &mut Findings,
) {
    let name = "edge";
    let mounts = mounts_or_report(name, service, out);
    require_mount(name, &mounts, "CERTS_DIR", "", "/certs", out);
    require_mount(name, &mounts, "DATA_DIR", "/static", "/data/static", out);
    require_mount(
        name,
        &mounts,
        "DATA_DIR",
        "/dataset.json",
        "/data/dataset.json",
        out,
    );
    require_depends_healthy(name, service, &["cache"], out);

    let env = environment_or_report(name, service, out);
    match env.get(contract::env::EDGE_MODE) {
        Some(Some(mode)) if mode == "fused" => {}
        Some(Some(mode)) => out.service(
            name,
            "environment",
            format!("EDGE_MODE={mode}; the engine stack has no server to proxy to, so the edge must run `fused`"),
        ),
        _ => out.service(
            name,
            "environment",
            "EDGE_MODE is missing; the engine stack needs EDGE_MODE=fused (the binary's default is proxy)".into(),
        ),
    }
    check_app_env(name, &env, out);
    for (var, port) in ENGINE_LISTENERS {
        let Some(Some(value)) = env.get(var) else {
            continue;
        };
        let ok = value
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.port() == port && a.ip().is_unspecified());
        if !ok {
            out.service(
                name,
                "environment",
                format!("{var}={value}; HttpArena reaches it on 0.0.0.0:{port}"),
            );
        }
    }
    for (var, path) in ENGINE_PATHS {
        match env.get(var) {
            Some(Some(value)) if value != path => out.service(
                name,
                "environment",
                format!("{var}={value}; the mount puts it at {path}"),
            ),
            _ => {}
        }
    }
    if let Some(Some(secret)) = env.get(contract::env::JWT_SECRET) {
        if secret.is_empty() {
            out.service(name, "environment", "JWT_SECRET is empty".into());
        }
    }

    let Some(build) = service.get("build") else {
        out.service(
            name,
            "build",
            "missing: the engine is built from our sources (crates/edge)".into(),
        );
        return;
    };
    if !check_export_build(name, build, export, out) {
        return;
    }
    let Some(report) = lint_build(name, build, compose_dir, out) else {
        return;
    };
    let base = report.lint.final_base.unwrap_or_default();
    if base.starts_with("nginx:") || base.starts_with("nginx@") {
        out.service(
            name,
            "build",
            format!("the edge image is based on `{base}`: nginx cannot serve the app by itself; an nginx edge belongs in the four-service stack with authsvc and server"),
        );
    }
}

fn check_postgres(services: &BTreeMap<String, &Value>, out: &mut Findings) {
    if services.len() != 1 {
        out.file(
            "services",
            format!(
                "{} services ({}); the Postgres file runs `postgres` only",
                services.len(),
                services.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    let Some(service) = services.get("postgres") else {
        return;
    };
    let name = "postgres";
    match service.get("image").and_then(scalar) {
        Some(image) if image == "postgres:18" => {}
        other => out.service(
            name,
            "image",
            format!(
                "{}; HttpArena runs `postgres:18`",
                describe_str(other.as_deref())
            ),
        ),
    }
    if service.get("network_mode").and_then(scalar).as_deref() != Some("host") {
        out.service(
            name,
            "network_mode",
            "must be `host` (the stack connects to localhost:5432)".into(),
        );
    }
    let env = environment_or_report(name, service, out);
    for (key, value) in [
        ("POSTGRES_USER", "bench"),
        ("POSTGRES_PASSWORD", "bench"),
        ("POSTGRES_DB", "benchmark"),
    ] {
        if env.get(key).cloned().flatten().as_deref() != Some(value) {
            out.service(
                name,
                "environment",
                format!("{key} must be `{value}` (HttpArena's DATABASE_URL)"),
            );
        }
    }
    let command = service
        .get("command")
        .map(command_words)
        .unwrap_or_default();
    if !command.iter().any(|w| w == "max_connections=256") {
        out.service(
            name,
            "command",
            "must pass `-c max_connections=256`, as HttpArena's harness does".into(),
        );
    }
    let mounts = mounts_or_report(name, service, out);
    let seeded = mounts.iter().any(|m| {
        var_ref(&m.source).is_some_and(|(var, rest)| var == "DATA_DIR" && rest == "/pgdb-seed.sql")
            && m.target.starts_with("/docker-entrypoint-initdb.d/")
            && m.read_only
    });
    if !seeded {
        out.service(
            name,
            "volumes",
            "must mount ${DATA_DIR}/pgdb-seed.sql read-only into /docker-entrypoint-initdb.d/"
                .into(),
        );
    }
    if service
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .is_none()
    {
        out.service(
            name,
            "healthcheck",
            "missing; `up --wait` needs it to know the seed is loaded".into(),
        );
    }
}

/// meta.json and README.md of an export folder.
fn check_export_folder(dir: &Path, shape: Option<Shape>) -> Vec<Violation> {
    let mut violations = Vec::new();
    if !dir.join("README.md").is_file() {
        violations.push(Violation {
            file: dir.join("README.md"),
            service: None,
            field: "README.md".into(),
            message: "missing; HttpArena entries describe their stack in README.md".into(),
        });
    }
    // meta.json is checked by check_path for files; for folders do it here.
    violations.extend(check_meta(&dir.join("meta.json"), shape));
    violations
}

/// HttpArena's meta.json of a production-stack entry whose compose file has `shape` (`None`:
/// unknown, any category passes).
pub fn check_meta(path: &Path, shape: Option<Shape>) -> Vec<Violation> {
    let mut out = Findings::new(path);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            out.file("meta.json", format!("cannot read: {err}"));
            return out.violations;
        }
    };
    let meta: serde_json::Value = match serde_json::from_str(&text) {
        Ok(meta) => meta,
        Err(err) => {
            out.file("meta.json", format!("not valid JSON: {err}"));
            return out.violations;
        }
    };
    let text_field = |key: &str| meta.get(key).and_then(serde_json::Value::as_str);
    for key in ["display_name", "engine", "description", "repo"] {
        if text_field(key).is_none_or(str::is_empty) {
            out.file(key, "missing or empty".into());
        }
    }
    if text_field("language") != Some("Rust") {
        out.file("language", "must be \"Rust\"".into());
    }
    let category = text_field("type");
    match shape {
        None if category.is_some_and(|c| ["production", "tuned", "engine"].contains(&c)) => {}
        None => out.file(
            "type",
            format!(
                "{}; must be \"production\", \"tuned\" or \"engine\"",
                describe_str(category)
            ),
        ),
        Some(shape) if category.is_some_and(|c| shape.categories().contains(&c)) => {}
        Some(Shape::FourServices) => out.file(
            "type",
            format!(
                "{}; a production-stack entry with the shared authsvc is \"production\" or \"tuned\"",
                describe_str(category)
            ),
        ),
        Some(Shape::Engine) => out.file(
            "type",
            format!(
                "{}; an entry whose own engine replaces nginx, authsvc and the server is \"engine\"",
                describe_str(category)
            ),
        ),
    }
    let tests: Vec<&str> = meta
        .get("tests")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    if tests != ["production-stack"] {
        out.file(
            "tests",
            format!(
                "{tests:?}; must be [\"production-stack\"] (the compose file is the whole entry)"
            ),
        );
    }
    if meta.get("enabled").and_then(serde_json::Value::as_bool) != Some(true) {
        out.file("enabled", "must be true".into());
    }
    out.violations
}

/// A bind mount in either compose syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

fn mounts_or_report(name: &str, service: &Value, out: &mut Findings) -> Vec<Mount> {
    let mounts = match mounts(service) {
        Ok(mounts) => mounts,
        Err(err) => {
            out.service(name, "volumes", err);
            return Vec::new();
        }
    };
    for mount in &mounts {
        let from_harness =
            var_ref(&mount.source).is_some_and(|(var, _)| var == "CERTS_DIR" || var == "DATA_DIR");
        let host_path = mount.source.starts_with('/')
            || mount.source.starts_with('.')
            || mount.source.starts_with('~')
            || mount.source.starts_with('$');
        if host_path && !from_harness {
            out.service(
                name,
                "volumes",
                format!(
                    "`{}` is a hard-coded host path; mount from ${{CERTS_DIR}} or ${{DATA_DIR}}",
                    mount.source
                ),
            );
        }
    }
    mounts
}

/// Compose `volumes` as mounts (short `SRC:DST[:MODE]` and long syntax).
pub fn mounts(service: &Value) -> Result<Vec<Mount>, String> {
    let Some(volumes) = service.get("volumes") else {
        return Ok(Vec::new());
    };
    let Some(list) = volumes.as_sequence() else {
        return Err("must be a list".into());
    };
    let mut out = Vec::new();
    for entry in list {
        if let Some(spec) = entry.as_str() {
            let parts = split_outside_braces(spec, ':');
            let (source, target, mode) = match parts.as_slice() {
                [s, t] => (s.clone(), t.clone(), String::new()),
                [s, t, m] => (s.clone(), t.clone(), m.clone()),
                _ => return Err(format!("`{spec}` is not SOURCE:TARGET[:MODE]")),
            };
            out.push(Mount {
                source,
                target,
                read_only: mode.split(',').any(|o| o == "ro"),
            });
        } else if entry.is_mapping() {
            let source = entry.get("source").and_then(scalar).unwrap_or_default();
            let target = entry.get("target").and_then(scalar).unwrap_or_default();
            let read_only = entry.get("read_only").and_then(Value::as_bool) == Some(true);
            out.push(Mount {
                source,
                target,
                read_only,
            });
        } else {
            return Err("entries must be strings or maps".into());
        }
    }
    Ok(out)
}

/// Requires `${VAR}<rest>` mounted read-only at `target`.
fn require_mount(
    name: &str,
    mounts: &[Mount],
    var: &str,
    rest: &str,
    target: &str,
    out: &mut Findings,
) {
    let wanted = format!("${{{var}}}{rest}:{target}:ro");
    match mounts.iter().find(|m| m.target == target) {
        None => out.service(name, "volumes", format!("missing `{wanted}`")),
        Some(mount) => {
            let source_ok = var_ref(&mount.source).is_some_and(|(v, r)| v == var && r == rest);
            if !source_ok {
                out.service(
                    name,
                    "volumes",
                    format!(
                        "{} is mounted from `{}`; expected `{wanted}`",
                        target, mount.source
                    ),
                );
            } else if !mount.read_only {
                out.service(
                    name,
                    "volumes",
                    format!("{target} must be read-only (`:ro`)"),
                );
            }
        }
    }
}

/// `${NAME}`, `${NAME:?message}`, `${NAME:-default}` at the start of `text`: the name and
/// what follows the closing brace.
pub fn var_ref(text: &str) -> Option<(String, String)> {
    let inner = text.strip_prefix("${")?;
    let close = inner.find('}')?;
    let name: String = inner[..close]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then(|| (name, inner[close + 1..].to_string()))
}

fn split_outside_braces(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut previous = '\0';
    for c in text.chars() {
        match c {
            '{' if previous == '$' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if c == separator && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                previous = c;
                continue;
            }
            _ => {}
        }
        current.push(c);
        previous = c;
    }
    parts.push(current);
    parts
}

fn environment_or_report(
    name: &str,
    service: &Value,
    out: &mut Findings,
) -> BTreeMap<String, Option<String>> {
    match environment(service) {
        Ok(env) => env,
        Err(err) => {
            out.service(name, "environment", err);
            BTreeMap::new()
        }
    }
}

/// Compose `environment` as a map (list `KEY=VALUE` / `KEY`, or map form).
pub fn environment(service: &Value) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut env = BTreeMap::new();
    match service.get("environment") {
        None => {}
        Some(Value::Sequence(list)) => {
            for entry in list {
                let text = scalar(entry).ok_or("list entries must be KEY=VALUE strings")?;
                match text.split_once('=') {
                    Some((k, v)) => env.insert(k.to_string(), Some(v.to_string())),
                    None => env.insert(text, None),
                };
            }
        }
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                let key = scalar(k).ok_or("keys must be strings")?;
                env.insert(key, scalar(v));
            }
        }
        Some(_) => return Err("must be a list or a map".into()),
    }
    Ok(env)
}

fn require_depends_healthy(name: &str, service: &Value, needs: &[&str], out: &mut Findings) {
    let depends = service.get("depends_on");
    for need in needs {
        let condition = match depends {
            Some(Value::Mapping(_)) => depends
                .and_then(|d| d.get(*need))
                .map(|d| d.get("condition").and_then(scalar).unwrap_or_default()),
            Some(Value::Sequence(list)) => list
                .iter()
                .any(|v| scalar(v).as_deref() == Some(*need))
                .then(String::new),
            _ => None,
        };
        match condition.as_deref() {
            Some("service_healthy") => {}
            Some(_) => out.service(
                name,
                "depends_on",
                format!("`{need}` without `condition: service_healthy` only orders start-up; HttpArena's checks start as soon as the edge answers"),
            ),
            None => out.service(
                name,
                "depends_on",
                format!("missing `{need}: {{condition: service_healthy}}`: HttpArena's checks start as soon as the edge answers"),
            ),
        }
    }
}

/// A build's Dockerfile, read and linted against its context.
struct BuildReport {
    context: BuildContext,
    lint: dockerfile::LintReport,
}

fn lint_build(
    name: &str,
    build: &Value,
    compose_dir: &Path,
    out: &mut Findings,
) -> Option<BuildReport> {
    let Some(context) = build_field(build, "context") else {
        out.service(name, "build", "no build context".into());
        return None;
    };
    let context_dir = compose_dir.join(&context);
    if !context_dir.is_dir() {
        out.service(
            name,
            "build.context",
            format!("`{context}` ({}) is not a folder", context_dir.display()),
        );
        return None;
    }
    let dockerfile_rel = build_field(build, "dockerfile").unwrap_or_else(|| "Dockerfile".into());
    let dockerfile_path = context_dir.join(&dockerfile_rel);
    if !dockerfile_path.is_file() {
        out.service(
            name,
            "build.dockerfile",
            format!(
                "`{dockerfile_rel}` does not exist in the context ({})",
                dockerfile_path.display()
            ),
        );
        return None;
    }
    let parsed = match Dockerfile::load(&dockerfile_path) {
        Ok(parsed) => parsed,
        Err(err) => {
            out.service(name, "build.dockerfile", format!("{err:#}"));
            return None;
        }
    };
    let mut ctx = match BuildContext::new(&context_dir, &dockerfile_path) {
        Ok(ctx) => ctx,
        Err(err) => {
            out.service(name, "build.context", format!("{err:#}"));
            return None;
        }
    };
    match build_args(build) {
        Ok(args) => ctx.build_args = args,
        Err(err) => out.service(name, "build.args", err),
    }
    let lint = parsed.lint(&ctx);
    for finding in &lint.findings {
        out.service(
            name,
            "build.dockerfile",
            format!("{} {finding}", dockerfile_path.display()),
        );
    }
    Some(BuildReport { context: ctx, lint })
}

fn build_field(build: &Value, key: &str) -> Option<String> {
    match build {
        Value::String(context) if key == "context" => Some(context.clone()),
        Value::Mapping(_) => build.get(key).and_then(scalar),
        _ => None,
    }
}

fn build_args(build: &Value) -> Result<BTreeMap<String, String>, String> {
    let mut args = BTreeMap::new();
    match build.get("args") {
        None => {}
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                args.insert(
                    scalar(k).ok_or("argument names must be strings")?,
                    scalar(v).unwrap_or_default(),
                );
            }
        }
        Some(Value::Sequence(list)) => {
            for entry in list {
                let text = scalar(entry).ok_or("list entries must be KEY=VALUE strings")?;
                let (k, v) = text.split_once('=').unwrap_or((&text, ""));
                args.insert(k.to_string(), v.to_string());
            }
        }
        Some(_) => return Err("must be a map or a list".into()),
    }
    Ok(args)
}

/// A compose command (`test`, `entrypoint`, `command`): list form or a string split on spaces.
fn command_words(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(list) => list.iter().filter_map(scalar).collect(),
        other => scalar(other)
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
    }
}

/// A YAML scalar as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `../_shared/authsvc/` → `../_shared/authsvc`; `./x` → `x`.
fn normalize_dir(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if trimmed.is_empty() {
        ".".into()
    } else {
        trimmed.to_string()
    }
}

fn describe(value: Option<&Value>) -> String {
    match value {
        None => "nothing".into(),
        Some(v) => match scalar(v) {
            Some(s) => format!("`{s}`"),
            None => serde_yaml::to_string(v)
                .map(|s| format!("`{}`", s.trim().replace('\n', ", ")))
                .unwrap_or_else(|_| "an unreadable value".into()),
        },
    }
}

fn describe_str(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("`{v}`"),
        None => "missing".into(),
    }
}

fn join(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_refs_accept_compose_modifiers() {
        assert_eq!(
            var_ref("${DATA_DIR}/x"),
            Some(("DATA_DIR".into(), "/x".into()))
        );
        assert_eq!(
            var_ref("${DATA_DIR:?set it}/static"),
            Some(("DATA_DIR".into(), "/static".into()))
        );
        assert_eq!(var_ref("/data"), None);
    }

    #[test]
    fn short_volume_syntax_keeps_variable_messages_whole() {
        let doc: Value = serde_yaml::from_str(
            "volumes:\n  - \"${CERTS_DIR:?set CERTS_DIR: the certs}:/certs:ro\"\n  - /x:/y\n",
        )
        .unwrap();
        let mounts = mounts(&doc).unwrap();
        assert_eq!(mounts[0].source, "${CERTS_DIR:?set CERTS_DIR: the certs}");
        assert_eq!(mounts[0].target, "/certs");
        assert!(mounts[0].read_only);
        assert!(!mounts[1].read_only);
    }

    #[test]
    fn environment_in_both_forms() {
        let list: Value = serde_yaml::from_str("environment:\n  - A=1\n  - B\n").unwrap();
        let map: Value = serde_yaml::from_str("environment:\n  A: 1\n  B:\n").unwrap();
        let expected = BTreeMap::from([
            ("A".to_string(), Some("1".to_string())),
            ("B".to_string(), None),
        ]);
        assert_eq!(environment(&list).unwrap(), expected);
        assert_eq!(environment(&map).unwrap(), expected);
    }

    #[test]
    fn smt_pairs_and_budget() {
        let mut out = Findings::new(Path::new("x.yml"));
        let service: Value = serde_yaml::from_str("cpuset: \"0-1,64\"").unwrap();
        let set = check_cpuset("edge", &service, &mut out).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(out.violations.len(), 1, "{:?}", out.violations);
        assert!(out.violations[0]
            .message
            .contains("CPU 1 without its sibling 65"));
        let service: Value = serde_yaml::from_str("cpuset: \"40,104\"").unwrap();
        check_cpuset("edge", &service, &mut out).unwrap();
        assert!(out.violations[1].message.contains("outside 0-31,64-95"));
    }
}
