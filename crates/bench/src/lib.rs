//! `prodstack bench`: the production-stack load as HttpArena runs it (the default), and
//! sub-benchmarks for component work (`bench authsvc`, `bench server`).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use stack::Project;

pub mod authsvc;
pub mod h2load;
pub mod memory;
pub mod metrics;
pub mod procstat;
pub mod production;
pub mod report;
pub mod results;
pub mod server;
pub mod static_bytes;
pub mod wrk;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: Option<BenchTarget>,
    #[command(flatten)]
    pub production: production::ProductionBenchArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// The auth sidecar alone: wrk against `GET /_auth` on a pinned core.
    Authsvc(authsvc::AuthsvcBenchArgs),
    /// The app server alone: wrk against its hot routes and a cold id sweep, pinned cores.
    Server(server::ServerBenchArgs),
}

pub fn run(project: &Project, args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.target {
        Some(BenchTarget::Authsvc(args)) => authsvc::run(project, args),
        Some(BenchTarget::Server(args)) => server::run(project, args),
        None => production::run(project, args.production),
    }
}
