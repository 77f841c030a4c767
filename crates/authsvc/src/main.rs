//! `authsvc` binary: configuration from the environment, logs on stderr, runs until SIGTERM or
//! SIGINT. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    rt::telemetry::init();

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
