//! Waiting for the signals that end a service: SIGTERM (`docker stop`, `prodstack down`) and
//! SIGINT (Ctrl-C). Handlers are installed before anything binds, so a signal that arrives
//! during start-up is not lost to the default action.

use std::future::Future;
use std::io;

/// Installs SIGTERM and SIGINT handlers (needs a Tokio runtime context) and returns a future
/// that resolves to the name of the first of them to arrive.
pub fn termination() -> io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// A small runtime of its own with the handlers installed: for a `main` whose service runs on
/// threads it does not own.
pub struct Termination {
    runtime: tokio::runtime::Runtime,
    signal: std::pin::Pin<Box<dyn Future<Output = &'static str>>>,
}

impl Termination {
    /// Installs the handlers now.
    pub fn install() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let signal = {
            let _context = runtime.enter();
            Box::pin(termination()?)
        };
        Ok(Self { runtime, signal })
    }

    /// Blocks until SIGTERM or SIGINT; returns its name.
    pub fn wait(self) -> &'static str {
        let Self { runtime, signal } = self;
        runtime.block_on(signal)
    }
}
