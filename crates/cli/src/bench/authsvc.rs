//! `prodstack bench authsvc`: the auth sidecar alone under wrk.

use std::process::ExitCode;

use clap::Args;

use crate::Project;

#[derive(Debug, Args)]
pub struct AuthsvcBenchArgs {}

pub fn run(_project: &Project, _args: AuthsvcBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`prodstack bench authsvc` is being built")
}
