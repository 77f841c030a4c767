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
//!   Rules for every service of either shape, including one that should not be there (every
//!   service is read into the typed model, so a field that cannot be read and a mount from a
//!   hard-coded host path are reported wherever they are): host networking; cpusets of whole SMT pairs
//!   inside `0-31,64-95` that do not overlap and total exactly 64 logical CPUs;
//!   `seccomp:unconfined`; memlock -1 and nofile 1048576; HttpArena's environment and mounts
//!   (`${CERTS_DIR}`, `${DATA_DIR}`, `${DATABASE_URL}`, never a hard-coded host path; a named
//!   volume declared at the top level); a health check. The authsvc and server rules apply
//!   where those services exist; an nginx upstream on a Unix socket needs the volume the edge
//!   and the server share and the server listening there ([`socket`]).
//! - an **HttpArena export** (a `frameworks/<name>/` folder, or the compose file inside one):
//!   the same, plus the image built from our sources uses HttpArena's context (`../../`), and
//!   `meta.json` describes a production-stack entry of the shape's category. In the
//!   four-service shape authsvc must be HttpArena's shared sidecar built as-is
//!   (`build: ../_shared/authsvc`) and the category production or tuned; the engine shape is
//!   category engine.
//! - the **Postgres** file (`deploy/compose.postgres.yml`): postgres:18 as HttpArena's harness
//!   starts it, seeded from `${DATA_DIR}/pgdb-seed.sql`.

mod cpus;
pub mod dockerfile;
pub mod dockerignore;
mod fields;
mod findings;
mod meta;
mod services;
mod shape;
mod socket;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_yaml::Value;
use stack::{CpuSet, Project};

use crate::compose::read::scalar;
use crate::compose::{read_service, read_volumes, Service};

pub use findings::{Checked, Violation};
pub use meta::check_meta;
pub use shape::*;

use cpus::{check_cpu_total, check_cpuset};
use fields::check_mount_sources;
use findings::Findings;
use meta::check_export_folder;
use services::{
    check_authsvc, check_cache, check_common, check_edge, check_engine_edge, check_postgres,
    check_server,
};
use socket::{check_declared_volumes, check_unix_upstreams};

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
    let mut read = BTreeMap::new();
    for (key, value) in services {
        let name = scalar(key).unwrap_or_default();
        let (service, errors) = read_service(&name, value);
        for error in errors {
            out.service(&name, error.field, error.message);
        }
        check_mount_sources(&service, &mut out);
        read.insert(name, service);
    }
    let services = read;
    let volumes = read_volumes(&doc).unwrap_or_else(|e| {
        out.file("volumes", e);
        Vec::new()
    });
    check_declared_volumes(&services, &volumes, &mut out);
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

/// Every stack rule of `shape`; returns the total of logical CPUs found.
fn check_stack(
    services: &BTreeMap<String, Service>,
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
        check_common(service, out);
        if let Some(set) = check_cpuset(service, out) {
            cpusets.push((name.clone(), set));
        }
    }
    let total = check_cpu_total(&cpusets, out);

    match (shape, services.get("edge")) {
        (Shape::FourServices, Some(service)) => {
            if let Some(conf) = check_edge(service, &cpusets, compose_dir, out) {
                check_unix_upstreams(&conf, services, out);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::render::{compose, Target};
    use crate::export::Category;

    /// authsvc in an export is the shared sidecar built as-is: a build key of ours, even an
    /// empty or null one, or an image beside it, is a violation.
    #[test]
    fn the_shared_authsvc_takes_no_key_of_ours() {
        let target = Target::HttpArena {
            name: "entry".into(),
        };
        let text = compose(&target, Category::Production).unwrap();
        let file = Path::new("/nowhere/frameworks/entry/compose.production-stack.yml");
        let kind = Kind::Stack {
            export: Some("entry".into()),
        };
        let as_is = |violations: &[Violation]| {
            !violations.iter().any(|v| {
                v.message
                    .contains("authsvc must be HttpArena's shared sidecar")
            })
        };
        assert!(as_is(&check_text(file, &text, &kind).violations));
        for extra in ["args: {}", "dockerfile: ~", "target: x"] {
            let changed = text.replace(
                "      context: ../_shared/authsvc\n",
                &format!("      context: ../_shared/authsvc\n      {extra}\n"),
            );
            assert_ne!(changed, text);
            assert!(
                !as_is(&check_text(file, &changed, &kind).violations),
                "{extra}"
            );
        }
        let with_image = text.replace("\n  authsvc:\n", "\n  authsvc:\n    image: ~\n");
        assert_ne!(with_image, text);
        assert!(!as_is(&check_text(file, &with_image, &kind).violations));
    }

    #[test]
    fn smt_pairs_and_budget() {
        let mut out = Findings::new(Path::new("x.yml"));
        let mut service = Service::pinned("edge", "0-1,64");
        let set = check_cpuset(&service, &mut out).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(out.violations.len(), 1, "{:?}", out.violations);
        assert!(out.violations[0]
            .message
            .contains("CPU 1 without its sibling 65"));
        service.cpuset = Some("40,104".into());
        check_cpuset(&service, &mut out).unwrap();
        assert!(out.violations[1].message.contains("outside 0-31,64-95"));
    }
}
