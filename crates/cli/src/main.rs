//! `prodstack`: the command line over the stack. Every subcommand lives in its own module of
//! the `cli` library; this binary only parses arguments and reports errors.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::telemetry::init();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("prodstack: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
