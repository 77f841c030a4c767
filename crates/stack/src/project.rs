//! Where things are for a `prodstack` command: the checkout (for `cargo`, `deploy/` and the
//! nginx template), the home folder with everything generated or run locally, and the folder
//! holding the release binaries. Every subcommand's library takes one [`Project`].

use std::path::PathBuf;

use crate::error::{Error, IoContext, Result};
use crate::home::Home;

/// The variable the launcher sets to the checkout it runs from.
pub const ROOT_ENV: &str = "PRODSTACK_ROOT";

/// The checkout, the home folder and the binaries of one `prodstack` run.
#[derive(Debug, Clone)]
pub struct Project {
    /// The workspace root of the checkout.
    pub project_root: PathBuf,
    /// `PRODSTACK_HOME`, by default `.prodstack/` in the checkout.
    pub home: Home,
    /// The folder of the running `prodstack` binary, where the service binaries are built too.
    pub bin_dir: PathBuf,
}

impl Project {
    /// The launcher exports `PRODSTACK_ROOT`; without it, the project root is found by walking
    /// up from the current directory to the workspace `Cargo.toml`.
    pub fn from_env() -> Result<Self> {
        let project_root = match std::env::var_os(ROOT_ENV) {
            Some(root) if !root.is_empty() => PathBuf::from(root),
            _ => find_project_root()?,
        };
        let bin_dir = std::env::current_exe()
            .io_context(|| "locating the prodstack binary".into())?
            .parent()
            .map(PathBuf::from)
            .ok_or_else(|| Error::Invalid("the prodstack binary has no parent folder".into()))?;
        Ok(Self {
            home: Home::from_env(&project_root),
            project_root,
            bin_dir,
        })
    }
}

fn find_project_root() -> Result<PathBuf> {
    let cwd = std::env::current_dir().io_context(|| "reading the current directory".into())?;
    cwd.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .map(|toml| toml.contains("[workspace]"))
                .unwrap_or(false)
        })
        .map(PathBuf::from)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no prodstack checkout above {} (set {ROOT_ENV} or run ./prodstack from the checkout)",
                cwd.display()
            ))
        })
}
