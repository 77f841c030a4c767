//! Listeners, runtimes, TLS and the life of a client connection.
//!
//! Two layouts ([`RuntimeLayout`]):
//! - **per-core** (default): `EDGE_WORKERS` threads, each a `current_thread` runtime with its
//!   own `SO_REUSEPORT` listener, its own upstream pool and verifier. A connection lives on one
//!   thread for good: no work stealing, no cross-thread wake-ups on the request path.
//! - **multi-thread**: one listener feeding one work-stealing runtime.
//!
//! A connection: accept → a place in the [`ConnectionTable`] (at the cap the oldest idle
//! connection gives way) → TLS handshake (bounded by a timeout) → ALPN picks HTTP/2 or
//! HTTP/1.1 → hyper serves it with the limits of [`Limits`], until it is idle too long, is
//! asked to give way, or ends. A malformed TLS or HTTP client only ends its own connection:
//! every error path closes that socket and nothing else, and hyper's own HTTP/1.1 error
//! answers get JSON bodies ([`crate::protocol_errors`]). hyper's HTTP/2 server bounds what one
//! client can pin: concurrent streams, the header list size, the send buffer per stream (a
//! client that never reads stalls only its own streams, and stops answering keep-alive pings
//! once its socket is full), and resets (the "rapid reset" limits).
//!
//! Shutdown: listeners close, every connection is asked to finish its in-flight requests
//! (HTTP/2 GOAWAY, HTTP/1.1 close after the current response), and the workers wait up to
//! [`Limits::shutdown_grace`] for the last one before their runtimes drop what is left.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, Limits};
use crate::connections::{self, Admitted, ConnectionState, ConnectionTable, Tracked};
use crate::metrics::Metrics;
use crate::protocol_errors::JsonProtocolErrors;
use crate::service::EdgeService;
use crate::tls::{Certificate, TlsError};

pub use rt::RuntimeLayout;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("starting a worker: {0}")]
    Runtime(#[source] io::Error),
}

/// Builds one worker's request service (called once per worker, on that worker's thread
/// layout, so per-worker state such as an upstream pool is not shared between cores).
pub type ServiceFactory = Arc<dyn Fn() -> EdgeService + Send + Sync>;

/// A running edge. [`RunningEdge::shutdown`] drains and stops it; dropping it does the same.
pub struct RunningEdge {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    /// The certificate every handshake is served, reloadable.
    certificate: Arc<Certificate>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl RunningEdge {
    /// The TLS listener's address (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's address, if one was configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Reads the certificate and key files again; new handshakes get what they hold now,
    /// open connections keep theirs. On an error the edge keeps serving the old certificate.
    pub fn reload_certificate(&self) -> Result<(), TlsError> {
        self.certificate.reload()?;
        self.metrics
            .certificate_reloads
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The certificate served now.
    pub fn certificate(&self) -> &Arc<Certificate> {
        &self.certificate
    }

    /// Stops accepting, lets in-flight requests finish (bounded by the grace period) and joins
    /// every thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        rt::thread::join_all(&mut self.threads);
    }
}

impl Drop for RunningEdge {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the TLS and admin listeners (errors come before anything serves), then starts the
/// workers.
pub fn start(
    config: &Config,
    certificate: Arc<Certificate>,
    tls: Arc<rustls::ServerConfig>,
    metrics: Arc<Metrics>,
    make_service: ServiceFactory,
) -> Result<RunningEdge, ServeError> {
    let bind_error = |addr| move |source| ServeError::Bind { addr, source };
    let workers = config.workers.max(1);
    let listeners = match config.runtime {
        RuntimeLayout::PerCore => rt::listener::bind_group(config.listen, workers),
        RuntimeLayout::MultiThread => rt::listener::bind(config.listen, false).map(|l| vec![l]),
    }
    .map_err(bind_error(config.listen))?;
    let addr = listeners[0]
        .local_addr()
        .map_err(bind_error(config.listen))?;
    let admin = match config.admin_listen {
        Some(admin) => Some(rt::listener::bind(admin, false).map_err(bind_error(admin))?),
        None => None,
    };
    let admin_addr = match &admin {
        Some(listener) => Some(listener.local_addr().map_err(bind_error(addr))?),
        None => None,
    };

    let (shutdown, shutdown_rx) = watch::channel(false);
    let acceptor = TlsAcceptor::from(tls);
    let mut threads = Vec::new();
    let descriptors = connections::raise_descriptor_limit();
    let reserved = workers * config.upstream_connections + 64;
    let (cap, lowered) = connections::cap(config.max_connections, descriptors, reserved);
    if lowered {
        tracing::warn!(
            requested = ?config.max_connections,
            cap,
            descriptors = ?descriptors,
            "EDGE_MAX_CONNECTIONS is above what the descriptor limit allows; using the lower cap"
        );
    }
    tracing::info!(cap, descriptors = ?descriptors, "connection cap");
    let shared = Shared {
        acceptor,
        limits: config.limits,
        table: ConnectionTable::new(cap, Arc::clone(&metrics)),
        metrics: Arc::clone(&metrics),
    };
    match config.runtime {
        RuntimeLayout::PerCore => {
            for (index, listener) in listeners.into_iter().enumerate() {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(ServeError::Runtime)?;
                let worker = Worker {
                    shared: shared.clone(),
                    service: Arc::new(make_service()),
                    shutdown: shutdown_rx.clone(),
                };
                threads.push(spawn_thread(
                    format!("edge-w{index}"),
                    runtime,
                    worker.accept_loop(listener),
                )?);
            }
        }
        RuntimeLayout::MultiThread => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("edge-worker")
                .enable_all()
                .build()
                .map_err(ServeError::Runtime)?;
            let listener = listeners
                .into_iter()
                .next()
                .ok_or_else(|| ServeError::Runtime(io::Error::other("no listener bound")))?;
            let worker = Worker {
                shared: shared.clone(),
                service: Arc::new(make_service()),
                shutdown: shutdown_rx.clone(),
            };
            threads.push(spawn_thread("edge-accept".into(), runtime, async move {
                let _ = tokio::spawn(worker.accept_loop(listener)).await;
            })?);
        }
    }
    if let Some(listener) = admin {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        threads.push(spawn_thread(
            "edge-admin".into(),
            runtime,
            admin_loop(listener, Arc::clone(&metrics), shutdown_rx.clone()),
        )?);
    }
    Ok(RunningEdge {
        addr,
        certificate,
        admin_addr,
        metrics,
        shutdown,
        threads,
    })
}

fn spawn_thread(
    name: String,
    runtime: tokio::runtime::Runtime,
    future: impl Future<Output = ()> + Send + 'static,
) -> Result<JoinHandle<()>, ServeError> {
    rt::thread::spawn(name, runtime, Duration::from_millis(100), future)
        .map_err(ServeError::Runtime)
}

/// What every worker shares.
#[derive(Clone)]
struct Shared {
    acceptor: TlsAcceptor,
    limits: Limits,
    table: Arc<ConnectionTable>,
    metrics: Arc<Metrics>,
}

struct Worker {
    shared: Shared,
    service: Arc<EdgeService>,
    shutdown: watch::Receiver<bool>,
}

impl Worker {
    async fn accept_loop(mut self, listener: std::net::TcpListener) {
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(%err, "registering the listener with Tokio");
                return;
            }
        };
        let limits = self.shared.limits;
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true)
            // Twice the header limit: the service answers a head over the limit with a JSON
            // 431; hyper's own 431 (JSON too, protocol_errors) is only the backstop.
            .max_buf_size((2 * limits.max_header_bytes).max(8192) + 8 * 1024);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            // Receive windows: request bodies are small, 1 MiB per stream covers the largest
            // allowed body without a window update round trip.
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .max_header_list_size(2 * limits.max_header_bytes as u32)
            // Per stream: a client that stops reading holds at most this much of our output.
            .max_send_buf_size(256 * 1024)
            .keep_alive_interval(limits.keep_alive_interval)
            .keep_alive_timeout(limits.keep_alive_timeout)
            .max_pending_accept_reset_streams(64)
            .max_local_error_reset_streams(256);

        let metrics = Arc::clone(&self.shared.metrics);
        loop {
            let accepted = tokio::select! {
                biased;
                _ = stopped(&mut self.shutdown) => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    // Out of descriptors and the like: back off instead of spinning; open
                    // connections keep being served.
                    tracing::warn!(%err, "accept failed; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            metrics.connections_accepted.fetch_add(1, Ordering::Relaxed);
            let Some(admitted) = self.shared.table.admit() else {
                tracing::debug!(
                    "connection cap reached and every connection busy; closing a new one"
                );
                continue;
            };
            let _ = stream.set_nodelay(true);
            let shared = self.shared.clone();
            let service = Arc::clone(&self.service);
            let shutdown = self.shutdown.clone();
            let (h1, h2) = (h1.clone(), h2.clone());
            tokio::spawn(async move {
                serve_connection(stream, admitted, shared, service, h1, h2, shutdown).await;
            });
        }
        drop(listener);
        // Drain: connections see the same shutdown signal and finish their requests.
        let deadline = Instant::now() + limits.shutdown_grace;
        while metrics.connections_open.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    admitted: Admitted,
    shared: Shared,
    service: Arc<EdgeService>,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let state = Arc::clone(&admitted.state);
    let handshake = tokio::time::timeout(
        shared.limits.handshake_timeout,
        shared.acceptor.accept(stream),
    );
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => {
                shared.metrics.handshake_failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                shared.metrics.handshake_failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
        // Mid-handshake is idle too: a newcomer at the cap may take this place.
        _ = state.evicted() => return,
    };
    let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let requests = Arc::clone(&state);
    let handler = service_fn(move |request: Request<Incoming>| {
        let service = Arc::clone(&service);
        let in_flight = requests.request();
        async move {
            let response = service.handle(request).await;
            Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_flight)))
        }
    });
    let ends = Ends {
        state: &state,
        limits: &shared.limits,
        metrics: &shared.metrics,
    };
    let result = if is_h2 {
        let conn = pin!(h2.serve_connection(TokioIo::new(tls), handler));
        drive(conn, &mut shutdown, ends, |c| c.graceful_shutdown()).await
    } else {
        let io = TokioIo::new(JsonProtocolErrors::new(tls));
        let conn = pin!(h1.serve_connection(io, handler));
        drive(conn, &mut shutdown, ends, |c| c.graceful_shutdown()).await
    };
    if let Err(err) = result {
        // Protocol errors and resets are the client's business; hyper already answered what
        // deserved an answer (400/431 JSON, or a GOAWAY).
        tracing::debug!(%err, "connection ended with an error");
    }
    drop(admitted);
}

/// What ends a connection besides the client: shutdown, idleness, or making room at the cap.
struct Ends<'a> {
    state: &'a Arc<ConnectionState>,
    limits: &'a Limits,
    metrics: &'a Metrics,
}

/// How long an idle connection gets to say goodbye (a GOAWAY) before it is dropped.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Runs `conn` to completion. On shutdown it is asked to finish gracefully (HTTP/2 GOAWAY,
/// HTTP/1.1 close after the current response) and given [`Limits::shutdown_grace`] before it
/// is dropped, so a client that stopped reading cannot hold it open. After its idle timeout it
/// gets the same goodbye with [`IDLE_CLOSE_GRACE`]. Asked to give way at the cap, it had no
/// request in flight, so it is dropped at once (a pre-preface HTTP/2 connection would
/// otherwise wait for a preface that never comes).
async fn drive<C>(
    mut conn: std::pin::Pin<&mut C>,
    shutdown: &mut watch::Receiver<bool>,
    ends: Ends<'_>,
    graceful: impl FnOnce(std::pin::Pin<&mut C>),
) -> Result<(), hyper::Error>
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    let limits = ends.limits;
    let grace = tokio::select! {
        result = conn.as_mut() => return result,
        _ = stopped(shutdown) => limits.shutdown_grace,
        _ = ends.state.evicted() => {
            if ends.state.reset_flood() {
                ends.metrics.connections_reset_flood.fetch_add(1, Ordering::Relaxed);
                tracing::info!("closing a connection that reset most of its streams (rapid reset)");
            }
            return Ok(());
        }
        _ = ends.state.idle_expired(limits.first_request_timeout, limits.idle_timeout) => {
            ends.metrics.connections_idle_closed.fetch_add(1, Ordering::Relaxed);
            IDLE_CLOSE_GRACE
        }
    };
    graceful(conn.as_mut());
    match tokio::time::timeout(grace, conn).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// Resolves once shutdown is requested (or the sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}

/// `GET /metrics` on the admin listener: plain HTTP/1.1, loopback by default.
async fn admin_loop(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        tracing::error!("registering the admin listener with Tokio");
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let handler = service_fn(move |request: Request<Incoming>| {
                let metrics = Arc::clone(&metrics);
                async move {
                    let response = if request.uri().path() == "/metrics" {
                        let mut response =
                            hyper::Response::new(axum::body::Body::from(Metrics::render(&metrics)));
                        response.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                        );
                        response
                    } else {
                        crate::service::json_error(hyper::StatusCode::NOT_FOUND, "not found")
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}
