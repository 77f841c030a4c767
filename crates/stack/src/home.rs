//! `PRODSTACK_HOME`: the one git-ignored folder that holds everything generated or run
//! locally. Its first three folders use HttpArena's layout so that HttpArena's own files can be
//! dropped in (`prodstack data --from`), and so that compose files can mount them unchanged.
//!
//! ```text
//! .prodstack/
//!   data/        dataset.json, pgdb-seed.sql, redis-seed.txt, jwt-token.txt, static/
//!   requests/    production-stack-{reads,writes}.txt, production-stack-write-body.json
//!   certs/       server.crt, server.key
//!   pgdata/      the private Postgres cluster of `prodstack up` (seeded once)
//!   run/         pid files, rendered configs and state of the running stack
//!   logs/        one log file per service
//!   results/     benchmark reports
//! ```

use std::path::{Path, PathBuf};

/// Environment variable that overrides the location of the home folder.
pub const HOME_ENV: &str = "PRODSTACK_HOME";

/// Paths inside one prodstack home folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home rooted at `root` (it need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$PRODSTACK_HOME` when set and non-empty, otherwise `.prodstack` under `project_root`.
    pub fn from_env(project_root: &Path) -> Self {
        match std::env::var_os(HOME_ENV) {
            Some(dir) if !dir.is_empty() => Self::new(dir),
            _ => Self::new(project_root.join(".prodstack")),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }
    pub fn requests_dir(&self) -> PathBuf {
        self.root.join("requests")
    }
    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }
    pub fn pgdata_dir(&self) -> PathBuf {
        self.root.join("pgdata")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn results_dir(&self) -> PathBuf {
        self.root.join("results")
    }
    pub fn dataset_path(&self) -> PathBuf {
        self.data_dir().join("dataset.json")
    }
    pub fn seed_sql_path(&self) -> PathBuf {
        self.data_dir().join("pgdb-seed.sql")
    }
    pub fn token_path(&self) -> PathBuf {
        self.data_dir().join("jwt-token.txt")
    }
    pub fn static_dir(&self) -> PathBuf {
        self.data_dir().join("static")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_httparena_folders() {
        let home = Home::new("/x");
        assert_eq!(home.data_dir(), Path::new("/x/data"));
        assert_eq!(home.requests_dir(), Path::new("/x/requests"));
        assert_eq!(home.certs_dir(), Path::new("/x/certs"));
        assert_eq!(home.seed_sql_path(), Path::new("/x/data/pgdb-seed.sql"));
        assert_eq!(home.static_dir(), Path::new("/x/data/static"));
    }
}
