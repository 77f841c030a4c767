//! Whether a started service is ready: one probe per service (Postgres' `pg_isready`, Redis'
//! PING, authsvc's `/_health`, the server's `/healthz` and `/readyz`, the edge's
//! `/static/reset.css` over HTTP/2), and the wait for it with the log tail when it never is.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::health::{edge_get, http_status, http_status_at};
use crate::netns::Isolation;
use crate::ports::StackPorts;
use crate::postgres::Cluster;
use crate::process::tail;
use crate::profile::EdgeKind;
use crate::redis;
use crate::service::Service;
use crate::state::server_addrs;

/// The answer of one health probe.
pub(super) enum Probe {
    Ready,
    /// Not yet; the reason is reported if the deadline passes.
    Waiting(String),
    /// A definitive wrong answer: waiting longer will not help.
    Failed(String),
}

/// One probe of `service`.
pub(super) fn probe(
    service: Service,
    edge: EdgeKind,
    ports: &StackPorts,
    isolation: Option<&Isolation>,
    cluster: &Cluster,
) -> Probe {
    let quick = Duration::from_secs(2);
    match service {
        Service::Postgres => {
            if cluster.is_ready(ports.postgres) {
                Probe::Ready
            } else {
                Probe::Waiting("pg_isready: not accepting connections".into())
            }
        }
        Service::Cache => {
            if redis::ping(ports.cache) {
                Probe::Ready
            } else {
                Probe::Waiting("no PONG to PING".into())
            }
        }
        Service::Authsvc => match http_status(ports.authsvc, "/_health", quick) {
            Ok(200) => Probe::Ready,
            Ok(status) => Probe::Waiting(format!("GET /_health answered {status}")),
            Err(e) => Probe::Waiting(e),
        },
        Service::Server(i) => {
            let (addr, _) = server_addrs(ports, isolation, i);
            for path in ["/healthz", "/readyz"] {
                match http_status_at(addr, path, quick) {
                    Ok(200) => {}
                    Ok(status) => return Probe::Waiting(format!("GET {path} answered {status}")),
                    Err(e) => return Probe::Waiting(e),
                }
            }
            Probe::Ready
        }
        Service::Edge => match edge_get(ports.edge, "/static/reset.css", quick) {
            Ok(Some(answer)) if answer.status == 200 && answer.http_version == "2" => {
                // The fused edge is also the app server: ready only once Postgres answers it.
                if edge == EdgeKind::RustFused {
                    match http_status(ports.server, "/readyz", quick) {
                        Ok(200) => {}
                        Ok(status) => {
                            return Probe::Waiting(format!("GET /readyz answered {status}"))
                        }
                        Err(e) => return Probe::Waiting(e),
                    }
                }
                Probe::Ready
            }
            Ok(Some(answer)) => Probe::Failed(format!(
                "GET https://127.0.0.1:{}/static/reset.css answered {} over HTTP/{} (expected 200 over HTTP/2)",
                ports.edge, answer.status, answer.http_version
            )),
            Ok(None) => Probe::Waiting("no TLS answer on the edge port".into()),
            Err(e) => Probe::Failed(e),
        },
    }
}

pub(super) fn wait_healthy(
    service: Service,
    mut child: Option<&mut Child>,
    log: &Path,
    timeout: Duration,
    mut probe: impl FnMut() -> Probe,
) -> Result<()> {
    let began = Instant::now();
    loop {
        let last = match probe() {
            Probe::Ready => return Ok(()),
            Probe::Failed(reason) => {
                return Err(Error::Unhealthy {
                    what: service.to_string(),
                    reason,
                    log: log.to_path_buf(),
                    log_tail: tail(log, 20),
                })
            }
            Probe::Waiting(reason) => reason,
        };
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Exited {
                    what: service.to_string(),
                    status,
                    log: log.to_path_buf(),
                    log_tail: settled_tail(log),
                });
            }
        }
        if began.elapsed() >= timeout {
            return Err(Error::Unhealthy {
                what: service.to_string(),
                reason: format!("still not ready after {timeout:?} ({last})"),
                log: log.to_path_buf(),
                log_tail: tail(log, 20),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last log lines of a service that just exited, once its log sink has had a moment to
/// write what the service printed last.
pub(super) fn settled_tail(log: &Path) -> String {
    std::thread::sleep(Duration::from_millis(150));
    tail(log, 20)
}

/// The first line of `text` (a probe's or a log's message), for one-line reports.
pub(super) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
