//! JSON bodies for the HTTP/1.1 errors hyper answers by itself.
//!
//! hyper answers a request it cannot parse before our service ever sees it: `400` (a bad
//! request line or header), `414` (URI too long) or `431` (head too large), each with an empty
//! body, and then closes the connection. Every other answer of the edge is JSON with an
//! `error` field, so this I/O adapter gives hyper's own answers the same shape. It recognises
//! them by their head: one of those statuses with `content-length: 0`, which no answer of ours
//! has (ours always carry a JSON body), written as one buffer at the start of a write (the
//! adapter reports no vectored writes, so hyper flattens each response into one buffer). Such
//! a head is replaced by one with the JSON body; everything else passes through untouched.
//! (A malformed request pipelined behind a good one still gets hyper's empty body: its head
//! then follows another response in the same buffer.)

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The statuses hyper produces for parse errors, and our text for each.
const ANSWERS: [(&[u8], &str); 3] = [
    (
        b"HTTP/1.1 400 ",
        "bad request: the request could not be parsed",
    ),
    (b"HTTP/1.1 414 ", "request URI too long"),
    (
        b"HTTP/1.1 431 ",
        "request header fields too large (32 KiB at most)",
    ),
];

pub struct JsonProtocolErrors<T> {
    inner: T,
    /// A rewritten answer not yet fully written to `inner`.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonProtocolErrors<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

/// hyper's empty-bodied error head, rewritten with a JSON body; `None` for anything else.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let (_, message) = ANSWERS.iter().find(|(start, _)| head.starts_with(start))?;
    let end = find(head, b"\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let lower = head.to_ascii_lowercase();
    let empty = find(&lower, b"\r\ncontent-length: 0\r\n")?;
    let body = format!("{{\"error\":\"{message}\"}}");
    let mut out = Vec::with_capacity(head.len() + body.len() + 48);
    out.extend_from_slice(&head[..empty]);
    out.extend_from_slice(
        format!(
            "\r\ncontent-type: application/json\r\ncontent-length: {}",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&head[empty + "\r\ncontent-length: 0".len()..]);
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<T: AsyncWrite + Unpin> JsonProtocolErrors<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonProtocolErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonProtocolErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some(rewritten) = rewrite(buf) {
            this.pending = rewritten;
            // The whole original buffer counts as written: its replacement is ours to send.
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_error_heads_get_a_json_body_and_others_pass() {
        let head = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
        let (head_out, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(
            head_out.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{out}"
        );
        assert!(head_out.contains("content-type: application/json"), "{out}");
        assert!(
            head_out.contains(&format!("content-length: {}", body.len())),
            "{out}"
        );
        assert!(head_out.contains("date: "), "{out}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(json["error"].as_str().unwrap().starts_with("bad request"));
        assert!(rewrite(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
        )
        .is_some());
        // Ours (a body), a 200, and a head followed by more data are left alone.
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore").is_none());
    }
}
