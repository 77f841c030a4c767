//! `server`: reads its configuration from the environment, starts, and runs until SIGINT or
//! SIGTERM. A configuration or start-up problem exits with status 2 before anything listens.

use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rt::telemetry::init();
    let settings = match server::Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("server: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    // Install the signal handlers before anything listens: a SIGTERM that arrives right after
    // the first request must stop the server cleanly, not kill it mid-start.
    let signals = match rt::signal::Termination::install() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("server: cannot install signal handlers: {err}");
            return ExitCode::from(2);
        }
    };
    // The allocator is the process', so the process trims it; mimalloc returns memory itself.
    let _trimmer = match settings
        .heap_trim
        .filter(|_| !cfg!(feature = "mimalloc"))
        .map(rt::heap::Trimmer::start)
        .transpose()
    {
        Ok(trimmer) => trimmer,
        Err(err) => {
            eprintln!("server: cannot start the heap-trim thread: {err}");
            return ExitCode::from(2);
        }
    };
    let running = match server::spawn(settings) {
        Ok(running) => running,
        Err(err) => {
            eprintln!("server: cannot start: {err}");
            return ExitCode::from(2);
        }
    };
    let signal = signals.wait();
    tracing::info!(signal, "shutting down");
    running.stop();
    ExitCode::SUCCESS
}
