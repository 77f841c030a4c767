//! `prodstack data`: generates everything the stack and the load need under the home folder.

use std::process::ExitCode;

use clap::Args;

use crate::Project;

#[derive(Debug, Args)]
pub struct DataArgs {}

pub fn run(_project: &Project, _args: DataArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`prodstack data` is being built")
}
