//! `docker-test`'s flags and the parts it can run.

use clap::{Args, ValueEnum};

/// One step of `docker-test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// deploy/compose.production-stack.yml
    ComposeProduction,
    /// deploy/compose.tuned.yml
    ComposeTuned,
    /// deploy/compose.engine.yml
    ComposeEngine,
    /// HttpArena's validate.sh on `export-httparena --name prodstack`
    HttparenaProduction,
    /// HttpArena's validate.sh on `export-httparena --name prodstack-tuned --category tuned`
    HttparenaTuned,
}

impl Part {
    pub(crate) const ALL: [Part; 5] = [
        Part::ComposeProduction,
        Part::ComposeTuned,
        Part::ComposeEngine,
        Part::HttparenaProduction,
        Part::HttparenaTuned,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::ComposeProduction => "compose-production",
            Part::ComposeTuned => "compose-tuned",
            Part::ComposeEngine => "compose-engine",
            Part::HttparenaProduction => "httparena-production",
            Part::HttparenaTuned => "httparena-tuned",
        }
    }
}

#[derive(Debug, Args)]
pub struct DockerTestArgs {
    /// What to run (default: every compose file, then HttpArena's validate.sh on both exports).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub parts: Vec<Part>,
    /// Skip the timed cold (`--no-cache`) and warm (after a source edit) builds of each image.
    #[arg(long)]
    pub no_build_timing: bool,
    /// HttpArena's validate.sh watchdog, `VALIDATE_TIMEOUT` (HttpArena's default is 300 s; it
    /// includes the cold build, which takes longer on a 2-CPU machine).
    #[arg(long, default_value_t = 1800)]
    pub validate_timeout: u64,
    /// Leave a private engine this command started running afterwards.
    #[arg(long)]
    pub keep_engine: bool,
}
