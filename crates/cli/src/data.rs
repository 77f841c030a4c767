//! `prodstack data`: generates everything the stack and the load need under the home folder
//! (`data/`, `requests/`, `certs/` in HttpArena's layout). The work is `datagen::generate`; this
//! module maps flags to its options and prints its report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use stack::Project;

#[derive(Debug, Args)]
pub struct DataArgs {
    /// Regenerate every file, even those already in place.
    #[arg(long)]
    pub force: bool,
    /// Copy files from an HttpArena-layout folder (data/, requests/, certs/), e.g.
    /// ../shared/httparena, and generate only what it lacks.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
}

pub fn run(project: &Project, args: DataArgs) -> anyhow::Result<ExitCode> {
    let mut options = datagen::Options::new(project.home.root());
    options.force = args.force;
    options.progress = true;
    options.from = match args.from {
        Some(dir) => Some(
            dir.canonicalize()
                .with_context(|| format!("resolving --from {}", dir.display()))?,
        ),
        None => None,
    };
    println!("home: {}", project.home.root().display());
    let report = datagen::generate(&options).context("generating the stack's data")?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
