//! The `prodstack` command line. `run` below only dispatches: the subcommands that are a
//! whole tool live in their own library crates — `bench`, `validate`, `deploy` (compose-check
//! and export-httparena) — and the few that only drive other crates (`data`, the stack
//! commands, `attack`, `docker-engine`/`docker-test`, `test`) are the modules here. Each
//! subcommand's clap `Args` sits beside the code that turns those flags into the objects that
//! do the work, so a flag and its validation are read together.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stack::Project;

pub mod attack;
pub mod data;
pub mod docker_cmd;
pub mod stack_cmd;
pub mod telemetry;
pub mod test_cmd;

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
    /// Inject faults under the production-stack load (Redis, Postgres, authsvc, server, edge
    /// reload) with a write ledger, a timeline per scenario and the expected behaviour checked.
    Chaos(Box<chaos::ChaosArgs>),
    /// Run one hostile-client scenario against the running edge while probing it like a visitor.
    Attack(attack::AttackArgs),
    /// Run every check: rustfmt, clippy and the whole test suite.
    Test(test_cmd::TestArgs),
    /// Compute the Docker CPU split from a bench result's per-service costs
    /// (deploy/cpu-plan.json, which the compose files and exports take their cpusets from).
    Plan(plan::PlanArgs),
    /// Check compose files (or an HttpArena export folder) against HttpArena's production-stack rules.
    ComposeCheck(deploy::compose_check::ComposeCheckArgs),
    /// Write the server as an HttpArena entry (frameworks/NAME/), or regenerate deploy/ files.
    ExportHttparena(deploy::export::ExportArgs),
    /// The Docker engine the compose files run on: the host's, or a private dockerd.
    DockerEngine(docker_cmd::DockerEngineArgs),
    /// Build and run every compose file for real, then HttpArena's own validate.sh on the
    /// exports.
    DockerTest(docker_test::DockerTestArgs),
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
        Command::Chaos(args) => chaos::run(&project, *args),
        Command::Attack(args) => attack::run(&project, args),
        Command::Test(args) => test_cmd::run(&project, args),
        Command::Plan(args) => plan::run(&project, args),
        Command::ComposeCheck(args) => deploy::compose_check::run(&project, args),
        Command::ExportHttparena(args) => deploy::export::run(&project, args),
        Command::DockerEngine(args) => docker_cmd::engine(&project, args),
        Command::DockerTest(args) => docker_test::test(&project, args),
    }
}
