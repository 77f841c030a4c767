//! The HTTP/1.1 connection loop both front ends share (the axum router in production, the
//! raw hyper service the component benchmark compares it with): accept until shutdown, on a
//! TCP listener (`TCP_NODELAY`) or a Unix domain socket ([`Listener`]), one task per
//! connection, and on shutdown each connection finishes its current request and closes (idle
//! ones at once).

use std::future::Future;
use std::io;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tracing::{debug, error};

/// A bound, not yet registered listener: what [`accept_loop`] serves.
#[derive(Debug)]
pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Listener {
    /// Another handle on the same socket (per-core runtimes share one Unix socket this way;
    /// the kernel hands each connection to one of them).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            Listener::Tcp(l) => Listener::Tcp(l.try_clone()?),
            Listener::Unix(l) => Listener::Unix(l.try_clone()?),
        })
    }
}

/// A registered listener that yields connection streams.
trait Accept {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_stream(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_stream(&self) -> io::Result<Self::Stream> {
        let (stream, _) = self.accept().await?;
        // Responses are small and written whole; don't let Nagle delay them.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl Accept for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_stream(&self) -> io::Result<Self::Stream> {
        Ok(self.accept().await?.0)
    }
}

/// Accepts connections until shutdown and serves each with `make_service()`. On shutdown,
/// open connections finish their current request and close (idle ones at once); the caller's
/// runtime shutdown bounds how long that may take.
pub async fn accept_loop<S, B>(
    listener: Listener,
    shutdown: watch::Receiver<bool>,
    make_service: impl Fn() -> S,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let registered = match listener {
        Listener::Tcp(l) => match tokio::net::TcpListener::from_std(l) {
            Ok(l) => return serve_on(l, shutdown, make_service).await,
            Err(err) => err,
        },
        Listener::Unix(l) => match tokio::net::UnixListener::from_std(l) {
            Ok(l) => return serve_on(l, shutdown, make_service).await,
            Err(err) => err,
        },
    };
    error!("registering the listener with Tokio: {registered}");
}

async fn serve_on<L, S, B>(
    listener: L,
    mut shutdown: watch::Receiver<bool>,
    make_service: impl Fn() -> S,
) where
    L: Accept,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept_stream() => accepted,
            _ = stopped(&mut shutdown) => return,
        };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                debug!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let service = make_service();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

/// Resolves once shutdown was requested (or the sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // Drop the borrow guard here: it must not live across the caller's other awaits.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}
