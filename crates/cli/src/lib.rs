//! The `prodstack` command line: one module per subcommand, each with its own clap `Args` and a
//! `run` function. `run` below only dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use stack::Home;

pub mod attack;
pub mod bench;
pub mod compose_check;
pub mod curl;
pub mod data;
pub mod docker_cmd;
pub mod export;
pub mod stack_cmd;
pub mod telemetry;
pub mod test_cmd;
pub mod validate;

/// Run, validate and benchmark a Rust production stack (edge, authsvc, cache, server, Postgres)
/// shaped like HttpArena's "production-stack" test.
#[derive(Debug, Parser)]
#[command(name = "prodstack", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate the dataset, Postgres seed, static files, token, request lists and TLS certs.
    Data(data::DataArgs),
    /// Start the stack (postgres, cache, authsvc, server, edge) as native processes.
    Up(stack_cmd::UpArgs),
    /// Stop every service `up` started.
    Down(stack_cmd::DownArgs),
    /// Show which services run and answer their health checks.
    Status(stack_cmd::StatusArgs),
    /// Print the end of a service's log.
    Logs(stack_cmd::LogsArgs),
    /// Run HttpArena's 15 production-stack checks, then extended checks, against the edge.
    Validate(validate::ValidateArgs),
    /// Benchmark the stack with HttpArena's production-stack load, or one component alone.
    Bench(Box<bench::BenchArgs>),
    /// Run one hostile-client scenario against the running edge while probing it like a visitor.
    Attack(attack::AttackArgs),
    /// Run every check: rustfmt, clippy and the whole test suite.
    Test(test_cmd::TestArgs),
    /// Check compose files (or an HttpArena export folder) against HttpArena's production-stack rules.
    ComposeCheck(compose_check::ComposeCheckArgs),
    /// Write the server as an HttpArena entry (frameworks/NAME/), or regenerate deploy/ files.
    ExportHttparena(export::ExportArgs),
    /// The Docker engine the compose files run on: the host's, or a private dockerd.
    DockerEngine(docker_cmd::DockerEngineArgs),
    /// Build and run every compose file for real, then HttpArena's own validate.sh on the
    /// exports.
    DockerTest(docker_cmd::DockerTestArgs),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let project = Project::from_env()?;
    match cli.command {
        Command::Data(args) => data::run(&project, args),
        Command::Up(args) => stack_cmd::up(&project, args),
        Command::Down(args) => stack_cmd::down(&project, args),
        Command::Status(args) => stack_cmd::status(&project, args),
        Command::Logs(args) => stack_cmd::logs(&project, args),
        Command::Validate(args) => validate::run(&project, args),
        Command::Bench(args) => bench::run(&project, *args),
        Command::Attack(args) => attack::run(&project, args),
        Command::Test(args) => test_cmd::run(&project, args),
        Command::ComposeCheck(args) => compose_check::run(&project, args),
        Command::ExportHttparena(args) => export::run(&project, args),
        Command::DockerEngine(args) => docker_cmd::engine(&project, args),
        Command::DockerTest(args) => docker_cmd::test(&project, args),
    }
}

/// Where things are: the project checkout (for `cargo` and `deploy/`), the home folder, and the
/// folder holding our release binaries.
#[derive(Debug, Clone)]
pub struct Project {
    pub project_root: PathBuf,
    pub home: Home,
    pub bin_dir: PathBuf,
}

impl Project {
    /// The launcher exports `PRODSTACK_ROOT`; without it, the project root is found by walking
    /// up from the current directory to the workspace `Cargo.toml`.
    pub fn from_env() -> anyhow::Result<Self> {
        let project_root = match std::env::var_os("PRODSTACK_ROOT") {
            Some(root) if !root.is_empty() => PathBuf::from(root),
            _ => find_project_root()?,
        };
        let bin_dir = std::env::current_exe()
            .context("locating the prodstack binary")?
            .parent()
            .map(PathBuf::from)
            .context("the prodstack binary has no parent folder")?;
        Ok(Self {
            home: Home::from_env(&project_root),
            project_root,
            bin_dir,
        })
    }
}

fn find_project_root() -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    cwd.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .map(|toml| toml.contains("[workspace]"))
                .unwrap_or(false)
        })
        .map(PathBuf::from)
        .with_context(|| {
            format!(
                "no prodstack checkout above {} (set PRODSTACK_ROOT or run ./prodstack from the checkout)",
                cwd.display()
            )
        })
}
