//! A named OS thread that drives one Tokio runtime until its future ends, then shuts the
//! runtime down within a grace period: whatever outlived it (a connection still mid-answer)
//! is dropped, closing its socket, so a stopping service never hangs on a slow client.

use std::future::Future;
use std::io;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Runtime;

/// Runs `future` on `runtime` in a thread called `name`; then gives the runtime's remaining
/// tasks `grace` before dropping them.
pub fn spawn(
    name: impl Into<String>,
    runtime: Runtime,
    grace: Duration,
    future: impl Future<Output = ()> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            runtime.block_on(future);
            runtime.shutdown_timeout(grace);
        })
}

/// Joins every thread (a thread that panicked is already reported by the panic hook).
pub fn join_all(threads: &mut Vec<JoinHandle<()>>) {
    for thread in threads.drain(..) {
        let _ = thread.join();
    }
}
