//! Finding our own binaries (`server`, `authsvc`, `prodstack`).
//!
//! `prodstack` runs them from the folder it lives in (the launcher builds all three into
//! `target/release`). Test executables live in `target/<profile>/deps`, so the harness also
//! looks one folder up; `prodstack test` sets `PRODSTACK_BIN_DIR` explicitly.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const BIN_DIR_ENV: &str = "PRODSTACK_BIN_DIR";

/// The path of our binary `name`, looked up in `$PRODSTACK_BIN_DIR`, then next to the running
/// executable, then one folder above it.
pub fn our_binary(name: &str) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.to_path_buf());
            if let Some(up) = dir.parent() {
                candidates.push(up.to_path_buf());
            }
        }
    }
    find_in(name, &candidates).ok_or_else(|| Error::Missing {
        what: format!("binary `{name}`"),
        hint: format!(
            "looked in {}; build it with `cargo build -p {name}` (or set {BIN_DIR_ENV})",
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

fn find_in(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
