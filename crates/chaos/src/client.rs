//! The ledger's HTTP/2 client: one TLS connection to the edge, reopened after any failure,
//! every request bounded by [`REQUEST_TIMEOUT`] (connect and handshake included), so a frozen
//! stack shows up as a timed-out request, never as a hang.
//!
//! h2load cannot be the ledger: its log has no bodies (the ledger needs the value each read
//! returned) and it never reconnects.

use std::time::Duration;

use bytes::Bytes;
use hostile::{tls, Target};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// How long one ledger request may take, connection included. Longer than the server's own
/// bounds (a Postgres query 5 s, a Redis command 0.5 s), so a timeout here means the stack
/// answered nothing at all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

/// What came back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `Content-Type` starts with `application/json`.
    pub json: bool,
    /// A `Retry-After` header was present.
    pub retry_after: bool,
    pub body: Bytes,
    /// The first attempt was refused by the edge unprocessed (a GOAWAY naming a lower stream,
    /// or REFUSED_STREAM), and this answer is the retry's on a new connection.
    pub retried: bool,
}

/// Why an attempt got no answer.
struct Failure {
    message: String,
    /// The server said it did not process the request (RFC 9113 §8.7: safe to retry).
    refused: bool,
}

impl Failure {
    fn other(message: impl ToString) -> Self {
        Self {
            message: message.to_string(),
            refused: false,
        }
    }

    fn h2(error: h2::Error) -> Self {
        let refused = (error.is_go_away() && error.is_remote())
            || error.reason() == Some(h2::Reason::REFUSED_STREAM);
        Self {
            message: error.to_string(),
            refused,
        }
    }
}

/// One connection to the edge, reopened on demand.
pub struct Connection {
    target: Target,
    connector: TlsConnector,
    /// The `Authorization: Bearer` token sent on `/api/*`.
    token: String,
    /// The open connection, `None` after a failure (the next request reconnects).
    open: Option<Open>,
}

/// An HTTP/2 connection and the task driving it (aborted when the connection is dropped).
struct Open {
    sender: h2::client::SendRequest<Bytes>,
    driver: JoinHandle<()>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Connection {
    pub fn new(target: Target, token: String) -> anyhow::Result<Self> {
        Ok(Self {
            target,
            connector: tls::connector(&[b"h2"])?,
            token,
            open: None,
        })
    }

    /// `method path` (with `body` as JSON when given), within [`REQUEST_TIMEOUT`]. Any
    /// failure closes the connection; the error says what failed. A request the edge refused
    /// unprocessed (a reload's GOAWAY) is sent once more on a new connection, as browsers do;
    /// the ledger's requests are idempotent (a write sets a value), so even a wrong guess
    /// about "unprocessed" cannot change what a row holds.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, String> {
        let started = tokio::time::Instant::now();
        let deadline = started + REQUEST_TIMEOUT;
        let mut retried = false;
        loop {
            let attempt =
                tokio::time::timeout_at(deadline, self.exchange(method, path, body.clone()))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Failure::other(format!(
                            "no answer within {REQUEST_TIMEOUT:?}"
                        )))
                    });
            match attempt {
                Ok(mut answer) => {
                    answer.retried = retried;
                    return Ok(answer);
                }
                Err(failure) => {
                    self.open = None;
                    if failure.refused && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(failure.message);
                }
            }
        }
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, Failure> {
        if self.open.is_none() {
            self.open = Some(self.connect().await?);
        }
        let Some(open) = self.open.as_mut() else {
            return Err(Failure::other("no connection"));
        };
        let mut sender = open.sender.clone().ready().await.map_err(Failure::h2)?;
        let mut request = self.target.request(method, path);
        if path.starts_with("/api/") {
            request = request.header("authorization", format!("Bearer {}", self.token));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(()).map_err(Failure::other)?;
        let (response, mut stream) = sender
            .send_request(request, body.is_none())
            .map_err(Failure::h2)?;
        if let Some(body) = body {
            stream.send_data(body, true).map_err(Failure::h2)?;
        }
        let response = response.await.map_err(Failure::h2)?;
        let status = response.status().as_u16();
        let header = |name: http::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let json =
            header(http::header::CONTENT_TYPE).is_some_and(|t| t.starts_with("application/json"));
        let retry_after = header(http::header::RETRY_AFTER).is_some();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            // Headers arrived: the request was processed, so no retry whatever happens now.
            let chunk = chunk.map_err(|e| Failure::other(e.to_string()))?;
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            json,
            retry_after,
            body: Bytes::from(bytes),
            retried: false,
        })
    }

    async fn connect(&self) -> Result<Open, Failure> {
        let stream = tls::connect(&self.target, &self.connector)
            .await
            .map_err(Failure::other)?;
        if !tls::is_h2(&stream) {
            return Err(Failure::other("the edge did not negotiate HTTP/2"));
        }
        let (sender, connection) = h2::client::handshake(stream)
            .await
            .map_err(Failure::other)?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Open { sender, driver })
    }
}
