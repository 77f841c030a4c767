//! Which auth sidecar runs behind the nginx edge, and HttpArena's shared one built from its
//! own sources.
//!
//! HttpArena's Production and Tuned entries must run its shared authsvc
//! (`frameworks/_shared/authsvc/` of HttpArena: axum, a multi-thread runtime, the HMAC keyed
//! per request, no `exp` or `alg` check), so that is what `prodstack bench` scores them with.
//! Ours (`crates/authsvc`) is stricter (it checks `exp` and `alg`) and faster, and stays the
//! default of `prodstack up`.
//!
//! [`build_shared`] copies the shared sources (`Cargo.toml` and `src/`, byte for byte, never
//! into the tracked tree) to `target/httparena-authsvc/src/` of the checkout, adds the
//! checkout's `deploy/httparena-authsvc/Cargo.lock` (HttpArena ships no lock file; ours pins
//! versions that build with this toolchain, so a build is reproducible and needs no network
//! once the crates are in cargo's cache), and runs `cargo build --release --locked` with the
//! upstream release profile into `target/httparena-authsvc/`. One copy per checkout, whatever
//! the `PRODSTACK_HOME`: files are rewritten only when their bytes change, so cargo's own
//! freshness check makes a second build instant. Files removed upstream are not removed from
//! the copy (cargo builds only what `src/main.rs` reaches). The checkout's workspace excludes
//! `target/`, so the copy builds as the stand-alone package it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::Project;

/// Which authsvc runs behind the nginx edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    /// `crates/authsvc`: checks `exp` and `alg`; per-core runtimes.
    Ours,
    /// HttpArena's shared sidecar, built from its sources ([`build_shared`]).
    Shared,
}

impl Sidecar {
    pub fn as_str(self) -> &'static str {
        match self {
            Sidecar::Ours => "ours",
            Sidecar::Shared => "shared",
        }
    }

    /// How a report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Sidecar::Ours => "ours (crates/authsvc)",
            Sidecar::Shared => {
                "HttpArena's shared authsvc (frameworks/_shared/authsvc, built as-is)"
            }
        }
    }
}

impl std::str::FromStr for Sidecar {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "ours" => Ok(Sidecar::Ours),
            "shared" => Ok(Sidecar::Shared),
            other => Err(format!("`{other}`: expected `ours` or `shared`")),
        }
    }
}

impl std::fmt::Display for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The environment variable that points at another HttpArena checkout (its root, holding
/// `frameworks/_shared/authsvc/`); by default `../shared/httparena` beside the checkout.
pub const HTTPARENA_DIR_ENV: &str = "PRODSTACK_HTTPARENA_DIR";

/// The shared sidecar's folder inside an HttpArena checkout.
pub const SHARED_AUTHSVC_DIR: &str = "frameworks/_shared/authsvc";

/// Our lock file for the shared sidecar, relative to the checkout.
pub const LOCK_FILE: &str = "deploy/httparena-authsvc/Cargo.lock";

/// Where the shared sidecar's sources are read from.
pub fn shared_source(project: &Project) -> PathBuf {
    let httparena = match std::env::var_os(HTTPARENA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => project.project_root.join("../shared/httparena"),
    };
    httparena.join(SHARED_AUTHSVC_DIR)
}

/// Builds HttpArena's shared authsvc (release) from a copy of [`shared_source`] and returns
/// the binary. `say` gets progress lines.
pub fn build_shared(project: &Project, say: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    build_shared_from(project, &shared_source(project), Network::Allowed, say)
}

/// Whether cargo may download crates the build lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Allowed,
    /// `--offline`: only crates already in cargo's cache.
    Offline,
}

/// [`build_shared`] from the sources in `source`.
pub fn build_shared_from(
    project: &Project,
    source: &Path,
    network: Network,
    say: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    for needed in ["Cargo.toml", "src/main.rs"] {
        if !source.join(needed).is_file() {
            return Err(Error::Missing {
                what: format!(
                    "HttpArena's shared authsvc sources ({})",
                    source.join(needed).display()
                ),
                hint: format!(
                    "the folder {} must hold HttpArena's {SHARED_AUTHSVC_DIR} (set {HTTPARENA_DIR_ENV} to an HttpArena checkout, or put it at ../shared/httparena beside this checkout)",
                    source.display()
                ),
            });
        }
    }
    let target_dir = project.project_root.join("target/httparena-authsvc");
    let copy = target_dir.join("src");
    let changed = sync_copy(source, &copy)?;
    let lock = project.project_root.join(LOCK_FILE);
    let lock_text = std::fs::read(&lock).map_err(|source| Error::Io {
        what: format!("reading {}", lock.display()),
        source,
    })?;
    write_if_changed(&copy.join("Cargo.lock"), &lock_text)?;
    let binary = target_dir.join("release/authsvc");
    say(&format!(
        "building HttpArena's shared authsvc from {} ({changed} file(s) changed since the last copy)",
        source.display()
    ));
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--manifest-path",
        ])
        .arg(copy.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if network == Network::Offline {
        cargo.arg("--offline");
    }
    let output = cargo.output().map_err(|source| Error::Io {
        what: "running cargo to build HttpArena's shared authsvc".into(),
        source,
    })?;
    if !output.status.success() {
        return Err(Error::CommandFailed {
            what: format!(
                "cargo build of HttpArena's shared authsvc (copy in {}, lock file {})",
                copy.display(),
                lock.display()
            ),
            status: output.status,
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    if !binary.is_file() {
        return Err(Error::Missing {
            what: format!("the built sidecar {}", binary.display()),
            hint: "cargo reported success but wrote no binary named `authsvc`".into(),
        });
    }
    Ok(binary)
}

/// Copies `Cargo.toml` and `src/` of `source` into `copy`; returns how many files changed.
fn sync_copy(source: &Path, copy: &Path) -> Result<usize> {
    let mut files = vec![PathBuf::from("Cargo.toml")];
    collect_files(&source.join("src"), Path::new("src"), &mut files)?;
    let mut changed = 0;
    for rel in &files {
        let bytes = std::fs::read(source.join(rel)).map_err(|e| Error::Io {
            what: format!("reading {}", source.join(rel).display()),
            source: e,
        })?;
        if write_if_changed(&copy.join(rel), &bytes)? {
            changed += 1;
        }
    }
    Ok(changed)
}

fn collect_files(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        what: format!("listing {}", dir.display()),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            what: format!("listing {}", dir.display()),
            source,
        })?;
        let path = entry.path();
        let name = rel.join(entry.file_name());
        if path.is_dir() {
            collect_files(&path, &name, out)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` unless it already holds them (so cargo sees no change); `true`
/// when it wrote.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool> {
    if std::fs::read(path).is_ok_and(|current| current == bytes) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            what: format!("creating {}", parent.display()),
            source,
        })?;
    }
    // The sources are read-only upstream; the copy must stay writable for the next sync.
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        what: format!("writing {}", path.display()),
        source,
    })?;
    Ok(true)
}
