//! The legitimate client: while an attack runs, it sends one request at a time, each over a
//! fresh TLS + HTTP/2 connection (a new visitor; an attack that starves new connections shows
//! up here), reads the whole body, and records how long it took and what came back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{tls, within, Error, Target};

/// How long one probe request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One probe request.
#[derive(Debug, Clone)]
pub struct Sample {
    pub path: String,
    /// Seconds since the prober started.
    pub at: Duration,
    pub elapsed: Duration,
    /// The status, or why there was none.
    pub outcome: Result<u16, String>,
}

/// What the prober saw.
#[derive(Debug, Clone, Default)]
pub struct ProbeReport {
    pub samples: Vec<Sample>,
}

impl ProbeReport {
    /// Samples that got no answer, or one other than `expected`.
    pub fn failures(&self, expected: u16) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.outcome.as_ref().ok() != Some(&expected))
            .collect()
    }

    /// The slowest answer (any status).
    pub fn slowest(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.elapsed)
            .max()
            .unwrap_or_default()
    }
}

/// One request: `path` with `headers`.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl ProbeRequest {
    pub fn get(path: &str) -> Self {
        Self {
            path: path.into(),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request over a fresh connection: the status and body, within [`REQUEST_TIMEOUT`].
pub async fn once(target: &Target, request: &ProbeRequest) -> Result<(u16, Bytes), Error> {
    let connector = tls::connector(&[b"h2"])?;
    within(REQUEST_TIMEOUT, "a probe request", async {
        let tls = tls::connect(target, &connector).await?;
        if !tls::is_h2(&tls) {
            return Err(Error::NoH2);
        }
        let (sender, connection) = h2::client::handshake(tls).await?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let result = async {
            let mut sender = sender.ready().await?;
            let mut builder = target.request("GET", &request.path);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            let (response, _) = sender.send_request(builder.body(())?, true)?;
            let response = response.await?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk?;
                let _ = body.flow_control().release_capacity(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            Ok((status, Bytes::from(bytes)))
        }
        .await;
        driver.abort();
        result
    })
    .await
}

/// Probes in the background until stopped.
pub struct Prober {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Prober {
    /// Sends `requests` in turn, one every `interval`, from now until [`Prober::finish`].
    pub fn start(target: Target, requests: Vec<ProbeRequest>, interval: Duration) -> Self {
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let (stop, mut stopped) = watch::channel(false);
        let recorded = Arc::clone(&samples);
        let task = tokio::spawn(async move {
            let began = Instant::now();
            for request in requests.iter().cycle() {
                let started = Instant::now();
                let outcome = once(&target, request)
                    .await
                    .map(|(status, _)| status)
                    .map_err(|e| e.to_string());
                let sample = Sample {
                    path: request.path.clone(),
                    at: started - began,
                    elapsed: started.elapsed(),
                    outcome,
                };
                if let Ok(mut samples) = recorded.lock() {
                    samples.push(sample);
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                if *stopped.borrow() {
                    return;
                }
            }
        });
        Self {
            samples,
            stop,
            task,
        }
    }

    /// Stops after the request in flight and returns every sample.
    pub async fn finish(mut self) -> ProbeReport {
        let _ = self.stop.send(true);
        let grace = REQUEST_TIMEOUT + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, &mut self.task).await;
        self.task.abort();
        let samples = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
        ProbeReport { samples }
    }
}
