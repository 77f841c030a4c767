//! A private Postgres cluster, run from Debian's `postgresql` package binaries.
//!
//! Both `prodstack up` and the test harness use it. It mirrors HttpArena's database: role
//! `bench` / password `bench` (a superuser, as in the `postgres:18` image), database `benchmark`,
//! `max_connections=256`, TCP on `127.0.0.1` only (Unix sockets are off so nothing depends on
//! `/var/run/postgresql`). When invoked as root, everything runs as the `postgres` OS user,
//! because Postgres refuses to run as root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, IoContext, Result};
use crate::process::{run_checked, OsUser};

pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench";
pub const DATABASE: &str = "benchmark";

/// `postgres://bench:bench@localhost:PORT/benchmark`, the URL HttpArena exports as
/// `DATABASE_URL` (it says `localhost`, not `127.0.0.1`).
pub fn database_url(port: u16) -> String {
    database_url_at("localhost", port)
}

/// [`database_url`] for a Postgres reached at `host`.
pub fn database_url_at(host: &str, port: u16) -> String {
    format!("postgres://{USER}:{PASSWORD}@{host}:{port}/{DATABASE}")
}

/// The folder holding `initdb`, `postgres`, `psql` and `pg_isready`.
#[derive(Debug, Clone)]
pub struct PgBin {
    dir: Option<PathBuf>,
}

impl PgBin {
    /// Debian installs the server outside `PATH`, under `/usr/lib/postgresql/<major>/bin`;
    /// the newest major there wins. Otherwise the tools must be on `PATH`.
    pub fn find() -> Result<Self> {
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((major, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, dir)) = versions.pop() {
            return Ok(Self { dir: Some(dir) });
        }
        if crate::process::find_on_path("initdb").is_some() {
            Ok(Self { dir: None })
        } else {
            Err(Error::Missing {
                what: "Postgres server binaries (initdb, postgres)".into(),
                hint: "install the Debian package `postgresql` (./prodstack does it for you)"
                    .into(),
            })
        }
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        match &self.dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }
}

/// What an acknowledged commit survives. Both keep `synchronous_commit=on`, so a commit
/// returns only after its WAL is written: a killed Postgres loses nothing it acknowledged.
/// (`synchronous_commit=off` is never used: it acknowledges commits still in Postgres' own
/// memory, and a SIGKILL 1.4 ms after a burst of 204s reverted 12 of 20 rows.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// fsync on: commits survive a Postgres crash and a machine crash (Postgres' defaults).
    #[default]
    Full,
    /// fsync and full_page_writes off: WAL reaches the kernel before a commit returns, so a
    /// Postgres crash loses nothing, but a machine crash can. This is what HttpArena's
    /// Postgres has (data on tmpfs, defaults otherwise); the benchmark uses it, and says so.
    ProcessCrash,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::ProcessCrash => "process-crash",
        }
    }

    /// The `-c` settings beyond Postgres' defaults.
    pub fn settings(self) -> &'static [&'static str] {
        match self {
            Durability::Full => &["synchronous_commit=on"],
            Durability::ProcessCrash => {
                &["synchronous_commit=on", "fsync=off", "full_page_writes=off"]
            }
        }
    }
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "full" => Ok(Durability::Full),
            "process-crash" => Ok(Durability::ProcessCrash),
            _ => Err(format!(
                "`{text}`: expected `full` (fsync on) or `process-crash` (fsync off, synchronous commits)"
            )),
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Server settings beyond the data directory.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub port: u16,
    pub max_connections: u32,
    pub durability: Durability,
    /// Addresses to listen on besides `127.0.0.1` (an isolated server instance's link).
    pub extra_listen: Vec<std::net::Ipv4Addr>,
}

impl PgSettings {
    /// Durable by default; tests that restart nothing may pick [`Durability::ProcessCrash`].
    pub fn new(port: u16) -> Self {
        Self {
            port,
            max_connections: 256,
            durability: Durability::Full,
            extra_listen: Vec::new(),
        }
    }
}

/// One cluster: a data directory plus the binaries and OS user that run it.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub bin: PgBin,
    pub datadir: PathBuf,
    pub os_user: Option<OsUser>,
}

impl Cluster {
    pub fn new(datadir: impl Into<PathBuf>) -> Result<Self> {
        Ok(Self {
            bin: PgBin::find()?,
            datadir: datadir.into(),
            os_user: OsUser::when_root("postgres")?,
        })
    }

    /// Whether `initdb` already ran here.
    pub fn is_initialized(&self) -> bool {
        self.datadir.join("PG_VERSION").is_file()
    }

    /// Runs `initdb` (superuser `bench`, password auth on TCP) unless the cluster exists.
    pub fn init(&self) -> Result<()> {
        if self.is_initialized() {
            return Ok(());
        }
        let parent = self
            .datadir
            .parent()
            .ok_or_else(|| Error::Invalid(format!("{} has no parent", self.datadir.display())))?;
        fs::create_dir_all(parent).io_context(|| format!("creating {}", parent.display()))?;
        if let Some(user) = self.os_user {
            // The postgres user must be able to reach its data directory.
            make_traversable(parent)?;
            fs::create_dir_all(&self.datadir)
                .io_context(|| format!("creating {}", self.datadir.display()))?;
            user.chown(&self.datadir)?;
        }
        let pwfile = parent.join(".pg-password");
        fs::write(&pwfile, PASSWORD).io_context(|| format!("writing {}", pwfile.display()))?;
        fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o644))
            .io_context(|| format!("opening up {}", pwfile.display()))?;
        let mut cmd = Command::new(self.bin.tool("initdb"));
        cmd.arg("-D")
            .arg(&self.datadir)
            .args(["-U", USER, "-E", "UTF8", "--no-locale", "--no-sync"])
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", pwfile.display()));
        self.as_owner(&mut cmd);
        let result = run_checked(&mut cmd, "initdb");
        let _ = fs::remove_file(&pwfile);
        result.map(|_| ())
    }

    /// Removes `postmaster.pid` when the postmaster it names is dead: after a crash (or a
    /// SIGKILL) whose zombie its parent has not reaped yet, Postgres would take that pid for a
    /// live postmaster and refuse to start. A live process is left alone.
    pub fn clear_stale_lock(&self) -> Result<bool> {
        let lock = self.datadir.join("postmaster.pid");
        let Ok(text) = fs::read_to_string(&lock) else {
            return Ok(false);
        };
        let pid = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok());
        if pid.is_some_and(crate::process::is_running) {
            return Ok(false);
        }
        fs::remove_file(&lock).io_context(|| format!("removing the stale {}", lock.display()))?;
        Ok(true)
    }

    /// Lets password (SCRAM) logins in from `subnet` (an isolated server instance's links):
    /// a `host` line appended to the cluster's `pg_hba.conf` once, read when Postgres starts.
    pub fn allow_subnet(&self, subnet: &str) -> Result<()> {
        let path = self.datadir.join("pg_hba.conf");
        let text =
            fs::read_to_string(&path).io_context(|| format!("reading {}", path.display()))?;
        let line = format!("host all all {subnet} scram-sha-256");
        if text.lines().any(|l| l.trim() == line) {
            return Ok(());
        }
        let mut text = text;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "# prodstack: an isolated app-server instance\n{line}\n"
        ));
        fs::write(&path, text).io_context(|| format!("writing {}", path.display()))
    }

    /// The `postgres` server command; the caller decides how to spawn and where logs go.
    pub fn server_command(&self, settings: &PgSettings) -> Command {
        let mut cmd = Command::new(self.bin.tool("postgres"));
        cmd.arg("-D")
            .arg(&self.datadir)
            .arg("-p")
            .arg(settings.port.to_string())
            .arg("-c")
            .arg(format!(
                "listen_addresses={}",
                std::iter::once("127.0.0.1".to_string())
                    .chain(settings.extra_listen.iter().map(|ip| ip.to_string()))
                    .collect::<Vec<_>>()
                    .join(",")
            ))
            .args(["-c", "unix_socket_directories="])
            .arg("-c")
            .arg(format!("max_connections={}", settings.max_connections));
        for setting in settings.durability.settings() {
            cmd.args(["-c", setting]);
        }
        self.as_owner(&mut cmd);
        cmd
    }

    fn as_owner(&self, cmd: &mut Command) {
        if let Some(user) = self.os_user {
            user.apply(cmd);
        }
    }

    /// Whether the server on `port` accepts connections (`pg_isready`).
    pub fn is_ready(&self, port: u16) -> bool {
        Command::new(self.bin.tool("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-U", USER, "-d", "postgres", "-p"])
            .arg(port.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// A `psql` command against `database` on `port`, stopping at the first error.
    pub fn psql(&self, port: u16, database: &str) -> Command {
        let mut cmd = Command::new(self.bin.tool("psql"));
        cmd.args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            USER,
        ])
        .arg("-p")
        .arg(port.to_string())
        .arg("-d")
        .arg(database)
        .env("PGPASSWORD", PASSWORD)
        .env("PGCONNECT_TIMEOUT", "5");
        cmd
    }

    /// Runs SQL and returns psql's unaligned, tuples-only output.
    pub fn sql(&self, port: u16, database: &str, sql: &str) -> Result<String> {
        let out = run_checked(self.psql(port, database).arg("-c").arg(sql), "psql")?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Loads a SQL file (such as `pgdb-seed.sql`) into `database`.
    pub fn load_file(&self, port: u16, database: &str, file: &Path) -> Result<()> {
        if !file.is_file() {
            return Err(Error::Missing {
                what: file.display().to_string(),
                hint: "run `prodstack data` to generate it".into(),
            });
        }
        run_checked(
            self.psql(port, database).arg("-f").arg(file),
            &format!("loading {}", file.display()),
        )
        .map(|_| ())
    }

    /// Creates `benchmark` (idempotent).
    pub fn create_benchmark_database(&self, port: u16) -> Result<()> {
        let exists = self.sql(
            port,
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"),
        )?;
        if exists != "1" {
            self.sql(port, "postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        }
        Ok(())
    }
}

/// Adds the execute bit for everyone to `dir` (a private temp dir is 0700 by default).
fn make_traversable(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).io_context(|| format!("reading {}", dir.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o001 == 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o011))
            .io_context(|| format!("opening up {}", dir.display()))?;
    }
    Ok(())
}
