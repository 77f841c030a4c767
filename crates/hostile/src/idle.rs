//! TLS connections that complete the handshake and then send nothing at all: not an HTTP/1.1
//! request line, not the HTTP/2 preface. Each holds a descriptor and the server's
//! per-connection buffers until the server decides to close it; this counts when it does.

use std::ops::Deref;

use tokio::io::AsyncReadExt;

use crate::held::HeldConnections;
use crate::Target;

/// The idle connections, held until this is dropped.
pub struct IdleConnections(HeldConnections);

impl IdleConnections {
    /// Opens `count` connections offering `alpn`, at most `parallel` handshakes at a time, and
    /// returns once every one was tried.
    pub async fn open(target: &Target, count: usize, alpn: &[&[u8]], parallel: usize) -> Self {
        Self(
            HeldConnections::open(target, count, alpn, parallel, |_, mut stream| async move {
                // Never write; a read returns only when the server closes (or sends
                // something, such as its HTTP/2 SETTINGS: keep reading until the close).
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await,
        )
    }
}

impl Deref for IdleConnections {
    type Target = HeldConnections;
    fn deref(&self) -> &HeldConnections {
        &self.0
    }
}
