//! The ceiling for `prodstack bench authsvc`: a hyper HTTP/1.1 server that answers every
//! request with an empty `200 OK` and does nothing else. It is built like the per-core layout
//! of `authsvc` (one `current_thread` runtime, keep-alive, `TCP_NODELAY`), so the difference
//! between the two is the cost of authentication and routing alone.
//!
//! env `AUTHSVC_LISTEN` (default `127.0.0.1:9090`), so the bench can start every variant alike.
//!
//! Run: `cargo run --release -p authsvc --example bare_hyper`

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn main() -> std::io::Result<()> {
    let listen: SocketAddr = std::env::var("AUTHSVC_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:9090".to_owned())
        .parse()
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(listen))
}

async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("bare_hyper listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let ok = service_fn(|_: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            });
            // Client resets are expected at the end of a load run.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), ok)
                .await;
        });
    }
}
