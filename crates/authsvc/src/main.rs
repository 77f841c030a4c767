//! `authsvc` binary: configuration from the environment, logs on stderr, runs until SIGTERM or
//! SIGINT. Everything else lives in the library.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let outcome = authsvc::Config::from_env()
        .map_err(anyhow::Error::from)
        .and_then(|config| authsvc::run(&config).map_err(anyhow::Error::from));
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("authsvc cannot run: {err:#}");
            ExitCode::from(2)
        }
    }
}
