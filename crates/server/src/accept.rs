//! The HTTP/1.1 connection loop both front ends share (the axum router in production, the
//! raw hyper service the component benchmark compares it with): accept until shutdown,
//! `TCP_NODELAY`, one task per connection, and on shutdown each connection finishes its
//! current request and closes (idle ones at once).

use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tracing::{debug, error};

/// Accepts connections until shutdown and serves each with `make_service()`. On shutdown,
/// open connections finish their current request and close (idle ones at once); the caller's
/// runtime shutdown bounds how long that may take.
pub async fn accept_loop<S, B>(
    listener: std::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
    make_service: impl Fn() -> S,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            error!("registering the listener with Tokio: {err}");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped(&mut shutdown) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                debug!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Responses are small and written whole; don't let Nagle delay them.
        let _ = stream.set_nodelay(true);
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
