//! TLS connections that complete the handshake and then send nothing at all: not an HTTP/1.1
//! request line, not the HTTP/2 preface. Each holds a descriptor and the server's
//! per-connection buffers until the server decides to close it; this counts when it does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::{tls, Target};

/// Counters shared with the connection tasks.
#[derive(Debug, Default)]
pub struct IdleCounts {
    /// Handshakes completed (connections now held).
    pub opened: AtomicUsize,
    /// Connects or handshakes that failed (the server refused or reset them).
    pub refused: AtomicUsize,
    /// Held connections the server closed.
    pub closed_by_server: AtomicUsize,
}

/// The connections, held until this is dropped.
pub struct IdleConnections {
    pub counts: Arc<IdleCounts>,
    tasks: Vec<JoinHandle<()>>,
}

impl IdleConnections {
    /// Opens `count` connections offering `alpn`, at most `parallel` handshakes at a time, and
    /// returns once every one was tried.
    pub async fn open(target: &Target, count: usize, alpn: &[&[u8]], parallel: usize) -> Self {
        let counts = Arc::new(IdleCounts::default());
        let connector = match tls::connector(alpn) {
            Ok(connector) => connector,
            Err(_) => {
                counts.refused.fetch_add(count, Ordering::Relaxed);
                return Self {
                    counts,
                    tasks: Vec::new(),
                };
            }
        };
        let gate = Arc::new(Semaphore::new(parallel.max(1)));
        let (tried_tx, mut tried_rx) = tokio::sync::mpsc::channel::<()>(count.max(1));
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (target, connector, counts, gate, tried) = (
                target.clone(),
                connector.clone(),
                Arc::clone(&counts),
                Arc::clone(&gate),
                tried_tx.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await;
                let connected = tls::connect(&target, &connector).await;
                drop(permit);
                let _ = tried.send(()).await;
                let Ok(mut stream) = connected else {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                counts.opened.fetch_add(1, Ordering::Relaxed);
                // Never write; a read returns only when the server closes (or sends
                // something, such as its HTTP/2 SETTINGS: keep reading until the close).
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
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

impl Drop for IdleConnections {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
