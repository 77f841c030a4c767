//! Real services for tests: a private Postgres cluster and a Redis server, each on a free
//! loopback port in its own temporary folder, stopped and deleted when dropped.
//!
//! ```no_run
//! # fn main() -> stack::Result<()> {
//! let pg = stack::testing::TestPostgres::start()?;
//! assert_eq!(pg.psql("SELECT 1 + 1")?, "2");
//! let redis = stack::testing::TestRedis::start()?;
//! println!("{} {}", pg.url(), redis.url());
//! # Ok(()) }
//! ```
//!
//! Processes are spawned with `PR_SET_PDEATHSIG`, so even a test that panics past its `Drop`s
//! or a test process that is killed leaves nothing running. Linux ties that signal to the
//! *thread* that forked, and test threads end early, so every child is forked by one keeper
//! thread that lives as long as the test process.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tempfile::TempDir;

use crate::error::{Error, IoContext, Result};
use crate::ports::free_port;
use crate::postgres::{self, Cluster, Durability, PgSettings};
use crate::process::{terminate, wait_ready};
use crate::redis::{self, RedisSettings};

const START_TIMEOUT: Duration = Duration::from_secs(60);

type SpawnRequest = (Command, libc::c_int, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` from the keeper thread; the child gets `signal` when the test process ends.
pub fn spawn_tied_to_process(mut cmd: Command, signal: libc::c_int) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("stack-testing-keeper".into())
            .spawn(move || {
                for (mut cmd, signal, reply) in rx {
                    use std::os::unix::process::CommandExt;
                    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
                    unsafe {
                        cmd.pre_exec(move || {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
            })
            .map(|_| ())
            .unwrap_or(());
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = keeper.lock().unwrap_or_else(|e| e.into_inner()).send((
        std::mem::replace(&mut cmd, Command::new("")),
        signal,
        reply_tx,
    ));
    if sent.is_err() {
        return Err(std::io::Error::other("the process keeper thread is gone"));
    }
    reply_rx
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the process keeper thread is gone")))
}

/// A temporary folder the services' OS users can traverse.
fn service_tempdir(prefix: &str) -> Result<TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .io_context(|| "creating a temporary folder".to_string())?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .io_context(|| format!("opening up {}", dir.path().display()))?;
    Ok(dir)
}

fn log_file(path: &Path) -> Result<(Stdio, Stdio)> {
    let file = File::options()
        .create(true)
        .append(true)
        .open(path)
        .io_context(|| format!("opening {}", path.display()))?;
    let copy = file
        .try_clone()
        .io_context(|| format!("duplicating {}", path.display()))?;
    Ok((Stdio::from(file), Stdio::from(copy)))
}

/// How long a service gets to act on its stop signal before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

fn stop_child(child: &mut Option<Child>, signal: libc::c_int) {
    if let Some(mut child) = child.take() {
        terminate(&mut child, signal, STOP_GRACE);
    }
}

/// A private Postgres cluster on a free port with role `bench`/`bench` and database
/// `benchmark`, like HttpArena's. Dropping it stops the server and deletes the cluster.
pub struct TestPostgres {
    cluster: Cluster,
    settings: PgSettings,
    log: PathBuf,
    child: Option<Child>,
    _dir: TempDir,
}

impl TestPostgres {
    /// Starts an empty cluster with the `benchmark` database: fsync off (a throwaway cluster),
    /// synchronous commits on, so a test that kills this Postgres still finds every
    /// acknowledged write.
    pub fn start() -> Result<Self> {
        Self::start_with(Durability::ProcessCrash)
    }

    /// [`TestPostgres::start`] with the given durability.
    pub fn start_with(durability: Durability) -> Result<Self> {
        let dir = service_tempdir("prodstack-pg-")?;
        let cluster = Cluster::new(dir.path().join("data"))?;
        cluster.init()?;
        let mut settings =
            PgSettings::new(free_port().io_context(|| "finding a free port".into())?);
        settings.durability = durability;
        let mut pg = Self {
            cluster,
            settings,
            log: dir.path().join("postgres.log"),
            child: None,
            _dir: dir,
        };
        pg.start_again()?;
        pg.cluster.create_benchmark_database(pg.port())?;
        Ok(pg)
    }

    /// Starts a cluster and loads `seed_sql` (for example `data/pgdb-seed.sql`) into it.
    pub fn start_seeded(seed_sql: &Path) -> Result<Self> {
        Self::start_seeded_with(seed_sql, Durability::ProcessCrash)
    }

    /// [`TestPostgres::start_seeded`] with the given durability.
    pub fn start_seeded_with(seed_sql: &Path, durability: Durability) -> Result<Self> {
        let pg = Self::start_with(durability)?;
        pg.load_sql_file(seed_sql)?;
        Ok(pg)
    }

    pub fn port(&self) -> u16 {
        self.settings.port
    }

    /// `postgres://bench:bench@localhost:PORT/benchmark`.
    pub fn url(&self) -> String {
        postgres::database_url(self.port())
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Runs SQL in `benchmark`; returns psql's unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.cluster.sql(self.port(), postgres::DATABASE, sql)
    }

    pub fn load_sql_file(&self, path: &Path) -> Result<()> {
        self.cluster
            .load_file(self.port(), postgres::DATABASE, path)
    }

    /// Stops the server (fast shutdown); the cluster stays for `start_again`.
    pub fn stop(&mut self) {
        stop_child(&mut self.child, libc::SIGINT);
    }

    /// (Re)starts the server on the same port and data.
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let (out, err) = log_file(&self.log)?;
        let mut cmd = self.cluster.server_command(&self.settings);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = spawn_tied_to_process(cmd, libc::SIGQUIT)
            .io_context(|| "starting postgres".to_string())?;
        self.child = Some(child);
        let cluster = &self.cluster;
        let port = self.settings.port;
        wait_ready(
            "postgres",
            self.child.as_mut(),
            &self.log,
            START_TIMEOUT,
            || cluster.is_ready(port),
        )
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // Immediate shutdown: the cluster is thrown away anyway.
        stop_child(&mut self.child, libc::SIGQUIT);
    }
}

/// A Redis server on a free port without persistence. Dropping it stops the server.
pub struct TestRedis {
    settings: RedisSettings,
    dir: TempDir,
    log: PathBuf,
    child: Option<Child>,
}

impl TestRedis {
    pub fn start() -> Result<Self> {
        let dir = service_tempdir("prodstack-redis-")?;
        let mut redis = Self {
            settings: RedisSettings::new(free_port().io_context(|| "finding a free port".into())?),
            log: dir.path().join("redis.log"),
            dir,
            child: None,
        };
        redis.start_again()?;
        Ok(redis)
    }

    pub fn port(&self) -> u16 {
        self.settings.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    /// Stops the server; its (empty) state is gone.
    pub fn stop(&mut self) {
        stop_child(&mut self.child, libc::SIGTERM);
    }

    /// (Re)starts the server on the same port.
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let (out, err) = log_file(&self.log)?;
        let mut cmd = redis::server_command(&self.settings, self.dir.path());
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = spawn_tied_to_process(cmd, libc::SIGTERM).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::Missing {
                    what: "redis-server".into(),
                    hint: "install the Debian package `redis-server`".into(),
                }
            } else {
                Error::Io {
                    what: "starting redis-server".into(),
                    source,
                }
            }
        })?;
        self.child = Some(child);
        let port = self.settings.port;
        wait_ready(
            "redis",
            self.child.as_mut(),
            &self.log,
            START_TIMEOUT,
            || redis::ping(port),
        )
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_starts_answers_stops_and_restarts() {
        let mut pg = TestPostgres::start().unwrap();
        assert_eq!(pg.psql("SELECT current_database()").unwrap(), "benchmark");
        pg.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (7)")
            .unwrap();
        pg.stop();
        assert!(pg.psql("SELECT 1").is_err(), "stopped server still answers");
        pg.start_again().unwrap();
        assert_eq!(pg.psql("SELECT v FROM t").unwrap(), "7");
    }

    #[test]
    fn redis_starts_stops_and_restarts() {
        let mut redis = TestRedis::start().unwrap();
        assert!(redis::ping(redis.port()));
        redis.stop();
        assert!(!redis::ping(redis.port()));
        redis.start_again().unwrap();
        assert!(redis::ping(redis.port()));
    }
}
