//! Sockets, runtimes and the life of a connection.
//!
//! Two layouts are implemented (chosen by [`RuntimeLayout`]):
//! - **per-core** (default): one thread per worker, each with its own `current_thread` tokio
//!   runtime and its own `SO_REUSEPORT` listener on the same address. The kernel spreads new
//!   connections over the listeners; a connection then lives on one thread for good, with no
//!   work-stealing, cross-thread wake-ups or shared queues on the request path.
//! - **multi-thread**: one listener feeding one multi-thread tokio runtime (what the upstream
//!   axum sidecar does).
//!
//! Per-core is the default: on one core it was ahead of multi-thread by 0–10 % (docs/BENCHMARKS.md,
//! "authsvc runtime layout"), and it is the layout that scales, since nothing is shared between
//! workers, while the multi-thread layout shares one listener, one run queue and one
//! graceful-shutdown channel (a mutex taken on every poll of every connection).
//!
//! Every connection is HTTP/1.1 with keep-alive and `TCP_NODELAY`. Request heads are capped at
//! [`MAX_REQUEST_HEAD`]; hyper answers a malformed or oversize head itself (400 / 431) and closes
//! that connection, and nothing on this path can take the process down.
//!
//! Shutdown: stop accepting (drop the listeners), ask every connection to finish its in-flight
//! request and close (hyper's graceful shutdown closes idle keep-alive connections at once),
//! wait at most the configured grace period, then drop whatever is left.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::service::AuthService;

/// Largest request head (request line + headers) accepted; larger heads get 431. The token
/// alone may be 8 KiB and nginx forwards the client's other headers to `/_auth` too, so leave
/// room for cookies.
pub const MAX_REQUEST_HEAD: usize = 32 * 1024;

/// After a failed `accept` (e.g. out of file descriptors), wait before retrying so the loop
/// does not spin; connections already open keep being served meanwhile.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

pub use rt::RuntimeLayout;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot build the tokio runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot start a worker thread: {0}")]
    Thread(io::Error),
    #[error("cannot install the SIGTERM/SIGINT handlers: {0}")]
    Signals(io::Error),
}

/// Counters shared by all workers (touched once per connection, never per request).
#[derive(Debug, Default)]
struct Stats {
    connections_accepted: AtomicU64,
}

/// What shutdown did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections still open when the grace period ran out (0 = everything finished).
    pub connections_cut: usize,
}

/// A running server. [`Server::shutdown`] stops it and waits; merely dropping it also stops
/// the workers (their shutdown channel closes), without waiting for them.
pub struct Server {
    local_addr: SocketAddr,
    mode: RuntimeLayout,
    workers: usize,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<usize>>,
    stats: Arc<Stats>,
}

impl Server {
    /// Binds the listeners (so bind errors are reported here, and port 0 is resolved), then
    /// starts the worker threads.
    pub fn start(config: &Config) -> Result<Self, ServeError> {
        let mode = config.runtime;
        let workers = config.workers.get();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let stats = Arc::new(Stats::default());

        let (local_addr, jobs) = match mode {
            RuntimeLayout::PerCore => {
                let listeners =
                    rt::listener::bind_group(config.listen, workers).map_err(|source| {
                        ServeError::Bind {
                            addr: config.listen,
                            source,
                        }
                    })?;
                let local_addr = local_addr(&listeners[0], config.listen)?;
                let mut jobs = Vec::with_capacity(workers);
                for listener in listeners {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(ServeError::Runtime)?;
                    jobs.push((runtime, listener));
                }
                (local_addr, jobs)
            }
            RuntimeLayout::MultiThread => {
                let listener = rt::listener::bind(config.listen, false).map_err(|source| {
                    ServeError::Bind {
                        addr: config.listen,
                        source,
                    }
                })?;
                let local_addr = local_addr(&listener, config.listen)?;
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("authsvc-worker")
                    .enable_all()
                    .build()
                    .map_err(ServeError::Runtime)?;
                (local_addr, vec![(runtime, listener)])
            }
        };

        let mut threads = Vec::with_capacity(jobs.len());
        for (index, (runtime, listener)) in jobs.into_iter().enumerate() {
            // Registered with its runtime's reactor here, so a failure stops startup instead
            // of silently leaving one worker short.
            let listener = {
                let _context = runtime.enter();
                TcpListener::from_std(listener).map_err(|source| ServeError::Bind {
                    addr: local_addr,
                    source,
                })?
            };
            let worker = Worker {
                // One service per accept loop: per-core workers each get their own verifier,
                // so no reference count bounces between cores.
                service: AuthService::new(config.verifier()),
                shutdown: shutdown_rx.clone(),
                header_timeout: config.header_timeout,
                grace: config.shutdown_grace,
                stats: Arc::clone(&stats),
            };
            let thread = std::thread::Builder::new()
                // Linux keeps 15 bytes of a thread name.
                .name(match mode {
                    RuntimeLayout::PerCore => format!("authsvc-w{index}"),
                    RuntimeLayout::MultiThread => "authsvc-accept".to_owned(),
                })
                .spawn(move || worker.run(runtime, listener, mode))
                .map_err(ServeError::Thread)?;
            threads.push(thread);
        }

        Ok(Self {
            local_addr,
            mode,
            workers,
            shutdown,
            threads,
            stats,
        })
    }

    /// The bound address (with the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn mode(&self) -> RuntimeLayout {
        self.mode
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// TCP connections accepted so far, over all workers.
    pub fn connections_accepted(&self) -> u64 {
        self.stats.connections_accepted.load(Ordering::Relaxed)
    }

    /// Stops accepting, lets in-flight requests finish (bounded by the grace period), and
    /// waits for every worker to exit.
    pub fn shutdown(self) -> ShutdownReport {
        // An error means every worker is gone already, which is the goal anyway.
        let _ = self.shutdown.send(true);
        let connections_cut = self
            .threads
            .into_iter()
            .map(|thread| thread.join().unwrap_or(0))
            .sum();
        ShutdownReport { connections_cut }
    }
}

/// Runs a server until SIGTERM or SIGINT, then shuts it down gracefully. The signal handlers
/// are installed before the first socket is bound, so a signal can never hit the default
/// "terminate at once" action once the server is reachable.
pub fn run(config: &Config) -> Result<ShutdownReport, ServeError> {
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let signal = waiter
        .block_on(async { rt::signal::termination() })
        .map_err(ServeError::Signals)?;

    if config.secret_is_default {
        tracing::warn!(
            "JWT_SECRET is not set: using HttpArena's PUBLIC benchmark secret; anyone can mint \
             tokens this service accepts. Set JWT_SECRET for anything but benchmarks."
        );
    }
    let server = Server::start(config)?;
    tracing::info!(
        listen = %server.local_addr(),
        workers = server.workers(),
        runtime = %server.mode(),
        leeway_s = config.leeway.as_secs(),
        header_timeout_s = config.header_timeout.map_or(0, |t| t.as_secs()),
        "authsvc listening"
    );

    let received = waiter.block_on(signal);
    tracing::info!(
        signal = received,
        grace_s = config.shutdown_grace.as_secs_f64(),
        "shutting down: no new connections, finishing in-flight requests"
    );
    let report = server.shutdown();
    if report.connections_cut > 0 {
        tracing::warn!(
            connections = report.connections_cut,
            "grace period over: closed connections that were still busy"
        );
    }
    tracing::info!("authsvc stopped");
    Ok(report)
}

/// One accept loop and the connections it spawned.
struct Worker {
    service: AuthService,
    shutdown: watch::Receiver<bool>,
    header_timeout: Option<Duration>,
    grace: Duration,
    stats: Arc<Stats>,
}

impl Worker {
    /// Runs on its own thread; returns how many connections had to be cut at shutdown.
    fn run(
        self,
        runtime: tokio::runtime::Runtime,
        listener: TcpListener,
        mode: RuntimeLayout,
    ) -> usize {
        let cut = runtime.block_on(async move {
            match mode {
                // The accept loop is the `block_on` future: it shares the thread with the
                // connections it spawns.
                RuntimeLayout::PerCore => self.accept_loop(listener).await,
                // Spawned, so that it runs on a worker thread of the pool like every task.
                RuntimeLayout::MultiThread => {
                    tokio::spawn(self.accept_loop(listener)).await.unwrap_or(0)
                }
            }
        });
        // Whatever survived the grace period is dropped here, closing its socket.
        drop(runtime);
        cut
    }

    async fn accept_loop(mut self, listener: TcpListener) -> usize {
        let mut http = http1::Builder::new();
        // Measured: arming hyper's header timer per request made no difference to throughput
        // within the noise (115k vs 112k req/s, interleaved runs on one pinned core).
        if let Some(timeout) = self.header_timeout {
            http.timer(TokioTimer::new()).header_read_timeout(timeout);
        }
        // `max_header_size` is the exact limit (431 above it); `max_buf_size` bounds the read
        // buffer, which a single large read could otherwise grow past the head limit.
        http.keep_alive(true)
            .max_header_size(MAX_REQUEST_HEAD)
            .max_buf_size(MAX_REQUEST_HEAD + 8 * 1024);
        let graceful = GracefulShutdown::new();

        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        self.stats.connections_accepted.fetch_add(1, Ordering::Relaxed);
                        if let Err(err) = stream.set_nodelay(true) {
                            tracing::debug!(%err, "cannot set TCP_NODELAY");
                        }
                        let connection = http.serve_connection(TokioIo::new(stream), self.service.clone());
                        let connection = graceful.watch(connection);
                        tokio::spawn(async move {
                            // Parse errors were already answered (400/431) by hyper; resets
                            // and timeouts are the client's business. Neither is ours to log
                            // above debug.
                            if let Err(err) = connection.await {
                                tracing::debug!(%err, "connection ended with an error");
                            }
                        });
                    }
                    Err(err) => {
                        tracing::warn!(%err, "accept failed; retrying shortly");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }

        drop(listener);
        let open = graceful.count();
        match tokio::time::timeout(self.grace, graceful.shutdown()).await {
            Ok(()) => 0,
            Err(_) => open.max(1),
        }
    }
}

fn local_addr(
    listener: &std::net::TcpListener,
    requested: SocketAddr,
) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|source| ServeError::Bind {
        addr: requested,
        source,
    })
}
