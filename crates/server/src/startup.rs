//! Binding, runtimes and shutdown: [`spawn`] starts a whole server in the background and
//! returns its addresses — what `main` runs and what every integration test starts on port 0.
//!
//! Two runtime layouts ([`RuntimeLayout`]), one shared [`App`] (one L1) either way:
//! - **multi-thread**: one Tokio multi-thread runtime with `workers` threads and one listener;
//!   the database, Redis and admin tasks run on the same runtime.
//! - **per-core**: `workers` threads, each with a single-thread runtime and its own
//!   `SO_REUSEPORT` listener (the kernel spreads connections), plus one background thread whose
//!   runtime hosts the database supervisors, Redis connection, backplane and admin listener.
//!
//! With `LISTEN_UNIX` the same front end also serves a Unix domain socket (every per-core
//! runtime accepts on one shared socket); the file is removed when the server stops.
//!
//! The public listener accepts before Postgres or Redis are reachable (both connect in the
//! background), so HttpArena's probes never see a refused connection: its harness starts probing as
//! soon as a container runs, and a refused probe counts as a failure.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use cache::{Cache, L2Config, RedisL2};
use hyper_util::service::TowerToHyperService;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::watch;
use tracing::{error, info};

use crate::accept::{accept_loop, stopped, Listener};
use crate::configuration::{ConfigError, HttpFrontend, RuntimeLayout, Settings};
use crate::dataset::{Dataset, DatasetError};
use crate::db::Database;
use crate::metrics::Metrics;
use crate::routes;
use crate::state::{App, AppState};

/// How long in-flight requests may run on after a shutdown request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Redis(#[from] cache::L2Error),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on the Unix socket {} (LISTEN_UNIX): {source}", path.display())]
    BindUnix {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("starting the {what}: {source}")]
    Runtime {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// A server running on background threads. Dropping it (or [`RunningServer::stop`]) shuts it
/// down and waits for its threads.
pub struct RunningServer {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    /// The Unix socket served beside `addr` (its file is removed on stop).
    unix_file: Option<rt::listener::SocketFile>,
    app: AppState,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .field("admin_addr", &self.admin_addr)
            .field("unix_file", &self.unix_file)
            .finish()
    }
}

impl RunningServer {
    /// The public listener's address (the real port when `LISTEN` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin (`/metrics`) listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The Unix socket the server also listens on (`LISTEN_UNIX`).
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        self.unix_file.as_ref().map(|f| f.path())
    }

    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// Stops accepting, lets in-flight requests finish (up to a second), and joins the threads.
    pub fn stop(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        let _ = self.shutdown.send(true);
        rt::thread::join_all(&mut self.threads);
        // After the threads: no runtime accepts on the socket any more.
        self.unix_file = None;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// Validates `settings`, loads the dataset, binds both listeners and starts serving on
/// background threads. Errors come before anything listens.
pub fn spawn(settings: Settings) -> Result<RunningServer, StartError> {
    settings.validate()?;
    if !settings.listen.ip().is_loopback() && settings.edge_secret.is_none() {
        tracing::warn!(
            listen = %settings.listen,
            "the app port listens beyond loopback without EDGE_SECRET: anyone who reaches it can claim any X-User-Id; set EDGE_SECRET on the server and the edge"
        );
    }
    if let Some(url) = &settings.redis_url {
        cache::l2::validate_url(url)?;
    }
    let dataset = Dataset::load(&settings.dataset_path)?;

    let admin =
        rt::listener::bind(settings.admin_listen, false).map_err(|source| StartError::Bind {
            what: "ADMIN_LISTEN",
            addr: settings.admin_listen,
            source,
        })?;
    let admin_addr = local_addr(&admin, settings.admin_listen)?;
    let listeners = match settings.runtime {
        RuntimeLayout::MultiThread => rt::listener::bind(settings.listen, false).map(|l| vec![l]),
        RuntimeLayout::PerCore => rt::listener::bind_group(settings.listen, settings.workers),
    }
    .map_err(|source| StartError::Bind {
        what: "LISTEN",
        addr: settings.listen,
        source,
    })?;
    let addr = local_addr(&listeners[0], settings.listen)?;
    // The file guard removes the socket again if anything below fails.
    let (unix, unix_file) = match &settings.listen_unix {
        Some(path) => {
            let (listener, file) =
                rt::listener::bind_unix(path).map_err(|source| StartError::BindUnix {
                    path: path.clone(),
                    source,
                })?;
            (Some(listener), Some(file))
        }
        None => (None, None),
    };

    let services = match settings.runtime {
        RuntimeLayout::MultiThread => Builder::new_multi_thread()
            .worker_threads(settings.workers)
            .thread_name("server-worker")
            .enable_all()
            .build(),
        RuntimeLayout::PerCore => Builder::new_current_thread().enable_all().build(),
    }
    .map_err(|source| StartError::Runtime {
        what: "Tokio runtime",
        source,
    })?;

    let app = {
        let _context = services.enter();
        build_app(&settings, dataset)?
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut threads = Vec::new();
    let public = routes::router(app.clone());
    let admin_router = routes::admin::router(app.clone());

    match settings.runtime {
        RuntimeLayout::MultiThread => {
            let listener = listeners.into_iter().next().ok_or(StartError::Runtime {
                what: "listener",
                source: io::Error::other("no listener bound"),
            })?;
            let rx = shutdown_rx.clone();
            let frontend = settings.http;
            let raw_app = app.clone();
            let unix = unix.map(Listener::Unix);
            threads.push(run_thread("server-main", services, async move {
                let public = tokio::spawn(serve_public(
                    frontend,
                    Listener::Tcp(listener),
                    unix,
                    public,
                    raw_app,
                    rx.clone(),
                ));
                let admin = tokio::spawn(serve(Listener::Tcp(admin), admin_router, rx));
                let _ = public.await;
                let _ = admin.await;
            })?);
        }
        RuntimeLayout::PerCore => {
            let rx = shutdown_rx.clone();
            threads.push(run_thread(
                "server-services",
                services,
                serve(Listener::Tcp(admin), admin_router, rx),
            )?);
            for (index, listener) in listeners.into_iter().enumerate() {
                let runtime =
                    Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|source| StartError::Runtime {
                            what: "per-core runtime",
                            source,
                        })?;
                let unix = unix
                    .as_ref()
                    .map(|l| l.try_clone().map(Listener::Unix))
                    .transpose()
                    .map_err(|source| StartError::Runtime {
                        what: "per-core Unix listener",
                        source,
                    })?;
                let (router, app, rx, http) = (
                    public.clone(),
                    app.clone(),
                    shutdown_rx.clone(),
                    settings.http,
                );
                let name = format!("server-core-{index}");
                threads.push(run_thread(
                    &name,
                    runtime,
                    serve_public(http, Listener::Tcp(listener), unix, router, app, rx),
                )?);
            }
        }
    }

    let (read, write) = settings.pool_sizes();
    if let Some(path) = &settings.listen_unix {
        info!("also listening on the Unix socket {}", path.display());
    }
    info!(
        "listening on http://{addr} (HTTP/1.1 {:?}, {} workers, {:?}); metrics on http://{admin_addr}/metrics; Postgres: {read} read + {write} write connections, opening in the background",
        settings.http, settings.workers, settings.runtime
    );
    match &settings.redis_url {
        Some(url) => info!("Redis L2 and invalidation backplane at {url}"),
        None => info!("REDIS_URL not set: L1 only (no L2, no cross-instance invalidation)"),
    }
    Ok(RunningServer {
        addr,
        admin_addr,
        unix_file,
        app,
        shutdown,
        threads,
    })
}

fn build_app(settings: &Settings, dataset: Dataset) -> Result<AppState, StartError> {
    let l2 = settings
        .redis_url
        .as_ref()
        .map(|url| RedisL2::connect_lazy(L2Config::new(url.clone())))
        .transpose()?;
    let cache = Cache::new(settings.l1_capacity, l2);
    cache::backplane::spawn_subscriber(cache.clone());
    let (read, write) = settings.pool_sizes();
    let db = Database::start(&settings.database_url, read, write);
    Ok(Arc::new(App {
        dataset,
        cache,
        db,
        metrics: Metrics::default(),
        item_ttl: settings.item_ttl,
        user_ttl: settings.user_ttl,
        edge_secret: settings.edge_secret.clone(),
    }))
}

/// Runs `future` on `runtime` in a new thread, then gives what is left a second.
fn run_thread(
    name: &str,
    runtime: Runtime,
    future: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<JoinHandle<()>, StartError> {
    rt::thread::spawn(name, runtime, SHUTDOWN_GRACE, future).map_err(|source| StartError::Runtime {
        what: "server thread",
        source,
    })
}

/// The public front end `http` on the TCP listener and, when given, the Unix one, until
/// shutdown.
async fn serve_public(
    http: HttpFrontend,
    tcp: Listener,
    unix: Option<Listener>,
    router: Router,
    app: AppState,
    rx: watch::Receiver<bool>,
) {
    let tcp_side = front_end(http, tcp, router.clone(), app.clone(), rx.clone());
    match unix {
        Some(unix) => {
            tokio::join!(tcp_side, front_end(http, unix, router, app, rx));
        }
        None => tcp_side.await,
    }
}

/// The public front end `http` on `listener` until shutdown. `axum-serve` (a benchmark
/// comparison of TCP front ends) serves a Unix socket with [`serve`].
fn front_end(
    http: HttpFrontend,
    listener: Listener,
    router: Router,
    app: AppState,
    rx: watch::Receiver<bool>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    match (http, listener) {
        (HttpFrontend::AxumServe, Listener::Tcp(tcp)) => Box::pin(serve_with_axum(tcp, router, rx)),
        (HttpFrontend::Axum | HttpFrontend::AxumServe, listener) => {
            Box::pin(serve(listener, router, rx))
        }
        (HttpFrontend::RawHyper, listener) => Box::pin(crate::raw_hyper::serve(listener, app, rx)),
    }
}

/// Serves the axum `router` on `listener` until shutdown.
///
/// Each connection is served by hyper's HTTP/1.1 connection directly (keep-alive,
/// TCP_NODELAY) with the router as its service — axum's "serve with hyper" pattern: HTTP/1.1
/// only, no protocol sniffing or upgrade handling. `prodstack bench server` compares it with
/// `axum::serve` (`SERVER_HTTP=axum-serve`) and a raw hyper handler: on one pinned core all
/// three are within measurement noise of each other (≈ 7.5–8.7 µs CPU per request, most of
/// it the kernel's socket work).
async fn serve(listener: Listener, router: Router, shutdown: watch::Receiver<bool>) {
    accept_loop(listener, shutdown, move || {
        TowerToHyperService::new(router.clone())
    })
    .await;
}

/// The same router through `axum::serve` — kept only so `prodstack bench server` can show
/// what [`serve`] saves (`SERVER_HTTP=axum-serve`).
async fn serve_with_axum(
    listener: std::net::TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    use axum::serve::ListenerExt;
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        }),
        Err(err) => {
            error!("registering the listener with Tokio: {err}");
            return;
        }
    };
    let server = axum::serve(listener, router);
    tokio::select! {
        result = server => {
            if let Err(err) = result {
                error!("HTTP server failed: {err}");
            }
        }
        _ = stopped(&mut shutdown) => {}
    }
}

fn local_addr(
    listener: &std::net::TcpListener,
    asked: SocketAddr,
) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        what: "local address",
        addr: asked,
        source,
    })
}
