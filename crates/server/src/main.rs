//! `server`: reads its configuration from the environment, starts, and runs until SIGINT or
//! SIGTERM. A configuration or start-up problem exits with status 2 before anything listens.

use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    server::telemetry::init();
    let settings = match server::Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("server: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    // Install the signal handlers before anything listens: a SIGTERM that arrives right after
    // the first request must stop the server cleanly, not kill it mid-start.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("server: cannot install signal handlers: {err}");
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
    signals.wait();
    tracing::info!("shutting down");
    running.stop();
    ExitCode::SUCCESS
}

/// SIGINT and SIGTERM, caught on a small runtime of their own.
struct Signals {
    runtime: tokio::runtime::Runtime,
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let _context = runtime.enter();
        let interrupt = signal(SignalKind::interrupt())?;
        let terminate = signal(SignalKind::terminate())?;
        drop(_context);
        Ok(Self {
            runtime,
            interrupt,
            terminate,
        })
    }

    fn wait(mut self) {
        self.runtime.block_on(async {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        });
    }
}
