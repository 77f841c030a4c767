//! `prodstack bench`: the production-stack load as HttpArena runs it (the default), and
//! sub-benchmarks for component work (`bench authsvc`, `bench server`).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::Project;

pub mod authsvc;
pub mod h2load;
pub mod metrics;
pub mod procstat;
pub mod report;
pub mod results;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: Option<BenchTarget>,
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// The auth sidecar alone: wrk against `GET /_auth` on a pinned core.
    Authsvc(authsvc::AuthsvcBenchArgs),
}

pub fn run(project: &Project, args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.target {
        Some(BenchTarget::Authsvc(args)) => authsvc::run(project, args),
        None => anyhow::bail!("the production-stack benchmark is being built"),
    }
}
