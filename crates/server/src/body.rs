//! Request bodies within a limit, and the rest of a refused body read and dropped.
//!
//! Both the app server (for `POST /api/items/{id}`) and the Rust edge (before a body reaches
//! the app) read bodies through here, so the limit and the way an oversize body is refused
//! are the same everywhere. A refused body is *drained* before the answer goes out: answering
//! while the client is still uploading makes HTTP/1.1 servers close the connection with
//! unread data (the client, or nginx in front, sees a reset instead of the 413: nginx turned
//! it into a 502) and makes HTTP/2 reset the stream (curl then reports exit 92 and no
//! answer). Draining is bounded in bytes and time, so a client cannot make us read forever;
//! past the bound the answer goes out anyway.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;
use hyper::StatusCode;

/// Largest accepted request body (the write body is ~50 bytes; HttpArena's limit is 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How much of a refused body is read and dropped so the client gets the answer.
pub const DRAIN_MAX_BYTES: usize = 4 * 1024 * 1024;

/// How long reading a refused body for [`DRAIN_MAX_BYTES`] may take.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a body was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// Declared or streamed beyond the limit (what was sent has been drained, within bounds).
    #[error("request body is larger than {} KiB ({limit} bytes)", limit / 1024)]
    TooLarge { limit: usize },
    /// The whole body did not arrive within the timeout.
    #[error("request body did not arrive within {0:?}")]
    TimedOut(Duration),
    /// The client broke the body off (reset, malformed chunking, closed connection).
    #[error("could not read the request body: {0}")]
    Broken(String),
}

impl BodyError {
    /// The answer a client gets for it: 413, 408 or 400.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// The body as one buffer, refused with [`BodyError::TooLarge`] when `declared` (its
/// `Content-Length`) or what arrives exceeds `limit`; the whole read is bounded by `timeout`.
pub async fn read_limited<B>(
    body: B,
    declared: Option<u64>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut body = body;
    if declared.is_some_and(|len| len > limit as u64) {
        drain(&mut body).await;
        return Err(BodyError::TooLarge { limit });
    }
    let read = async {
        let mut buffer = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| BodyError::Broken(err.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buffer.len() + data.len() > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                // The common case, a body in one frame, needs no copy.
                if buffer.is_empty() && body.is_end_stream() {
                    return Ok(data);
                }
                buffer.extend_from_slice(&data);
            }
        }
        Ok(buffer.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Err(BodyError::TooLarge { limit })) => {
            drain(&mut body).await;
            Err(BodyError::TooLarge { limit })
        }
        Ok(result) => result,
        Err(_) => Err(BodyError::TimedOut(timeout)),
    }
}

/// Reads and drops what is left of `body`, up to [`DRAIN_MAX_BYTES`] within
/// [`DRAIN_TIMEOUT`], so an answer given without the body reaches the client. Bodiless
/// requests return at once.
pub async fn drain<B>(body: &mut B)
where
    B: Body<Data = Bytes> + Unpin,
{
    if body.is_end_stream() {
        return;
    }
    let read = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen > DRAIN_MAX_BYTES {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, read).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    fn chunks(parts: Vec<&'static [u8]>) -> impl Body<Data = Bytes, Error = String> + Unpin {
        let frames = parts
            .into_iter()
            .map(|p| Ok::<_, String>(Frame::data(Bytes::from_static(p))));
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn reads_within_the_limit_and_refuses_beyond_it() {
        let t = Duration::from_secs(1);
        let ok = read_limited(Full::new(Bytes::from_static(b"abc")), Some(3), 3, t).await;
        assert_eq!(ok, Ok(Bytes::from_static(b"abc")));
        let streamed = read_limited(chunks(vec![b"ab", b"cd"]), None, 4, t).await;
        assert_eq!(streamed, Ok(Bytes::from_static(b"abcd")));
        let declared = read_limited(Full::new(Bytes::from_static(b"abcd")), Some(4), 3, t).await;
        assert_eq!(declared, Err(BodyError::TooLarge { limit: 3 }));
        let over = read_limited(chunks(vec![b"ab", b"cd"]), None, 3, t).await;
        assert_eq!(over, Err(BodyError::TooLarge { limit: 3 }));
        assert_eq!(
            BodyError::TooLarge {
                limit: MAX_BODY_BYTES
            }
            .to_string(),
            "request body is larger than 64 KiB (65536 bytes)"
        );
    }

    #[tokio::test]
    async fn a_body_that_never_ends_times_out() {
        let never =
            StreamBody::new(futures_util::stream::pending::<Result<Frame<Bytes>, String>>());
        let t = Duration::from_millis(50);
        assert_eq!(
            read_limited(never, None, 10, t).await,
            Err(BodyError::TimedOut(t))
        );
    }

    #[tokio::test]
    async fn a_broken_body_is_a_client_error() {
        let frames = vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err("reset".to_string()),
        ];
        let body = StreamBody::new(futures_util::stream::iter(frames));
        assert_eq!(
            read_limited(body, None, 10, Duration::from_secs(1)).await,
            Err(BodyError::Broken("reset".into()))
        );
    }
}
