//! The snapshot of the checkout `docker-test` builds from, and the file-mode helpers it needs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};

/// The checkout's tracked files (`git ls-files`), or everything but build output.
pub(crate) fn snapshot(root: &Path, to: &Path) -> anyhow::Result<()> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success());
    let files: Vec<PathBuf> = match listed {
        Some(out) => out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect(),
        None => bail!(
            "{} is not a git checkout: docker-test builds from its tracked files",
            root.display()
        ),
    };
    for rel in files {
        let from = root.join(&rel);
        if !from.is_file() {
            continue;
        }
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&from, &dest).with_context(|| format!("copying {}", rel.display()))?;
    }
    Ok(())
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .context("running cp")?;
    if !status.success() {
        bail!("copying {} to {}", from.display(), to.display());
    }
    Ok(())
}

pub(crate) fn make_writable(dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(dir)
        .status()
        .context("running chmod")?;
    if !status.success() {
        bail!("making {} writable", dir.display());
    }
    Ok(())
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}
