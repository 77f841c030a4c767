//! h2load: the two command lines HttpArena runs, and parsers for what h2load prints and for its
//! `--log-file` (one line per request: start time in µs, status, µs until the response ended).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};

/// One h2load process of the production-stack load.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub label: &'static str,
    pub uri_file: PathBuf,
    pub body_file: Option<PathBuf>,
    pub headers: Vec<String>,
    pub connections: u32,
    pub streams: u32,
    pub threads: u32,
    pub duration_s: u32,
    pub log_file: PathBuf,
    /// HTTP/1.1 keep-alive (`--h1`) instead of HTTP/2. HttpArena's load is HTTP/2; `chaos`
    /// uses this across an edge reload, where h2load's HTTP/2 clients neither retry the
    /// streams a GOAWAY refused nor reconnect, while its HTTP/1.1 clients reconnect.
    pub h1: bool,
}

impl Invocation {
    /// HttpArena's reads: `-i reads -H "Accept-Encoding: br;q=1, gzip;q=0.8" -H "Authorization:
    /// Bearer <token>" -c C -m 16 -t T -D D`.
    pub fn reads(
        requests: &Path,
        token: &str,
        connections: u32,
        threads: u32,
        duration_s: u32,
        log_file: PathBuf,
    ) -> Self {
        Self {
            label: "reads",
            uri_file: requests.join("production-stack-reads.txt"),
            body_file: None,
            headers: vec![
                "Accept-Encoding: br;q=1, gzip;q=0.8".into(),
                format!("Authorization: Bearer {token}"),
            ],
            connections,
            streams: 16,
            threads: threads.min(connections).max(1),
            duration_s,
            log_file,
            h1: false,
        }
    }

    /// HttpArena's writes: `-i writes -d body -H "Content-Type: application/json" -H
    /// "Authorization: Bearer <token>" -c max(C/8,8) -m 8 -t 8 -D D`. HttpArena passes `-t 8`
    /// whatever its thread count (scripts/lib/tools/h2load.sh), so on a 1-CPU load generator
    /// the writes instance runs 8 threads against the reads' 1, as there.
    pub fn writes(
        requests: &Path,
        token: &str,
        connections: u32,
        duration_s: u32,
        log_file: PathBuf,
    ) -> Self {
        let write_connections = (connections / 8).max(8);
        Self {
            label: "writes",
            uri_file: requests.join("production-stack-writes.txt"),
            body_file: Some(requests.join("production-stack-write-body.json")),
            headers: vec![
                "Content-Type: application/json".into(),
                format!("Authorization: Bearer {token}"),
            ],
            connections: write_connections,
            streams: 8,
            threads: 8.min(write_connections),
            duration_s,
            log_file,
            h1: false,
        }
    }

    /// The argument list after `h2load`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["-i".to_string(), self.uri_file.display().to_string()];
        if self.h1 {
            args.push("--h1".into());
        }
        if let Some(body) = &self.body_file {
            args.push("-d".into());
            args.push(body.display().to_string());
        }
        for header in &self.headers {
            args.push("-H".into());
            args.push(header.clone());
        }
        args.extend([
            "-c".into(),
            self.connections.to_string(),
            "-m".into(),
            self.streams.to_string(),
            "-t".into(),
            self.threads.to_string(),
            "-D".into(),
            format!("{}s", self.duration_s),
            format!("--log-file={}", self.log_file.display()),
        ]);
        args
    }

    /// `[taskset -c CPUS] PROGRAM ARGS` (`program` is `h2load` or a path to one). taskset
    /// execs the program, so the child's pid is h2load's own.
    pub fn command(&self, program: &Path, cpus: Option<&str>) -> Command {
        let mut cmd = match cpus {
            Some(cpus) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(cpus).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(self.args());
        cmd
    }

    /// The command line as text, for reports.
    pub fn display(&self) -> String {
        let quoted: Vec<String> = self
            .args()
            .into_iter()
            .map(|a| {
                if a.contains(' ') {
                    format!("\"{a}\"")
                } else {
                    a
                }
            })
            .collect();
        format!("h2load {}", quoted.join(" "))
    }
}

/// The summary h2load prints at the end of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// `finished in <X>s`.
    pub duration_s: f64,
    /// The `…req/s, <N>B/s` bandwidth figure as printed (e.g. `2.37GB/s`).
    pub bandwidth: String,
    pub bandwidth_bytes_per_s: f64,
    pub requests_total: u64,
    pub requests_succeeded: u64,
    pub requests_failed: u64,
    pub requests_errored: u64,
    pub requests_timeout: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// Bytes of traffic in total.
    pub traffic_bytes: u64,
    /// `time for request` mean, in milliseconds (HttpArena reports it as both mean and "p99").
    pub mean_request_ms: f64,
    /// The line h2load printed when a TLS/ALPN session came up (`Application protocol: h2`).
    pub application_protocol: Option<String>,
}

impl Summary {
    /// Parses h2load's stdout. Fails when the output has no `finished in` line (h2load did not
    /// run to the end).
    pub fn parse(output: &str) -> anyhow::Result<Self> {
        let mut summary = Summary::default();
        let mut finished = false;
        for line in output.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("finished in ") {
                finished = true;
                let mut parts = rest.split(',').map(str::trim);
                let duration = parts.next().unwrap_or("");
                summary.duration_s = parse_duration_s(duration)
                    .with_context(|| format!("bad duration in {line:?}"))?;
                let _rps = parts.next();
                if let Some(bw) = parts.next() {
                    summary.bandwidth = bw.to_string();
                    summary.bandwidth_bytes_per_s =
                        parse_bytes(bw.trim_end_matches("/s")).unwrap_or(0.0);
                }
            } else if let Some(rest) = line.strip_prefix("requests:") {
                for (count, label) in counted(rest) {
                    match label {
                        "total" => summary.requests_total = count,
                        "succeeded" => summary.requests_succeeded = count,
                        "failed" => summary.requests_failed = count,
                        "errored" => summary.requests_errored = count,
                        "timeout" => summary.requests_timeout = count,
                        _ => {}
                    }
                }
            } else if let Some(rest) = line.strip_prefix("status codes:") {
                for (count, label) in counted(rest) {
                    match label {
                        "2xx" => summary.status_2xx = count,
                        "3xx" => summary.status_3xx = count,
                        "4xx" => summary.status_4xx = count,
                        "5xx" => summary.status_5xx = count,
                        _ => {}
                    }
                }
            } else if let Some(rest) = line.strip_prefix("traffic:") {
                // `traffic: 8.43MB (8837264) total, ...`
                summary.traffic_bytes = rest
                    .split(['(', ')'])
                    .nth(1)
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0);
            } else if let Some(rest) = line.strip_prefix("time for request:") {
                let columns: Vec<&str> = rest.split_whitespace().collect();
                if let Some(mean) = columns.get(2) {
                    summary.mean_request_ms = parse_duration_s(mean).unwrap_or(0.0) * 1000.0;
                }
            } else if let Some(rest) = line.strip_prefix("Application protocol:") {
                summary.application_protocol = Some(rest.trim().to_string());
            }
        }
        if !finished {
            bail!(
                "h2load output has no `finished in` line:\n{}",
                tail_lines(output, 15)
            );
        }
        Ok(summary)
    }

    /// The summary of back-to-back h2load processes (a long run's segments, `configured_s` of
    /// `-D` in all) as if one had run them all: counts, traffic and durations add up; the
    /// bandwidth is the total traffic over `configured_s`, as h2load divides by its `-D`
    /// (printed in h2load's units); the mean request time is weighted by each part's answered
    /// requests, the ones h2load times. One part is returned as it is, h2load's own figures.
    pub fn combine(parts: &[Summary], configured_s: u32) -> Summary {
        if let [only] = parts {
            return only.clone();
        }
        let mut total = Summary::default();
        let mut answered = 0;
        let mut weighted_ms = 0.0;
        for part in parts {
            total.duration_s += part.duration_s;
            total.requests_total += part.requests_total;
            total.requests_succeeded += part.requests_succeeded;
            total.requests_failed += part.requests_failed;
            total.requests_errored += part.requests_errored;
            total.requests_timeout += part.requests_timeout;
            total.status_2xx += part.status_2xx;
            total.status_3xx += part.status_3xx;
            total.status_4xx += part.status_4xx;
            total.status_5xx += part.status_5xx;
            total.traffic_bytes += part.traffic_bytes;
            let part_answered =
                part.status_2xx + part.status_3xx + part.status_4xx + part.status_5xx;
            weighted_ms += part.mean_request_ms * part_answered as f64;
            answered += part_answered;
            if total.application_protocol.is_none() {
                total.application_protocol = part.application_protocol.clone();
            }
        }
        if answered > 0 {
            total.mean_request_ms = weighted_ms / answered as f64;
        }
        if configured_s > 0 {
            total.bandwidth_bytes_per_s = total.traffic_bytes as f64 / f64::from(configured_s);
            total.bandwidth = format!("{}/s", format_bytes(total.bandwidth_bytes_per_s));
        }
        total
    }

    /// Requests that got no HTTP answer at all (connect failures, resets, timeouts).
    pub fn unanswered(&self) -> u64 {
        self.requests_total
            .saturating_sub(self.status_2xx + self.status_3xx + self.status_4xx + self.status_5xx)
    }
}

/// Pairs like `10 total, 0 started` → [(10, "total"), (0, "started")].
fn counted(text: &str) -> impl Iterator<Item = (u64, &str)> {
    text.split(',').filter_map(|part| {
        let mut words = part.split_whitespace();
        let count = words.next()?.parse().ok()?;
        Some((count, words.next()?))
    })
}

/// `5.00s`, `729us`, `8.23ms`, `1m3s`-free h2load durations → seconds.
pub fn parse_duration_s(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Bytes as h2load prints them (powers of 1024, two decimals): `35.55MB`, `0B`.
pub fn format_bytes(bytes: f64) -> String {
    for (suffix, scale) in [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] {
        if bytes >= scale as f64 {
            return format!("{:.2}{suffix}", bytes / scale as f64);
        }
    }
    format!("{bytes:.0}B")
}

/// `4.21MB`, `254.88KB`, `0B`, `2.37GB` → bytes (h2load uses powers of 1024).
pub fn parse_bytes(text: &str) -> Option<f64> {
    let text = text.trim();
    for (suffix, scale) in [
        ("GB", 1024f64.powi(3)),
        ("MB", 1024f64.powi(2)),
        ("KB", 1024.0),
        ("B", 1.0),
    ] {
        if let Some(n) = text.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * scale);
        }
    }
    None
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Latency distribution from a `--log-file`, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One request of the log: when it started (µs since the epoch), its status and how long it
/// took (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedRequest {
    pub start_us: u64,
    pub status: i32,
    pub elapsed_us: u64,
}

/// Parses the tab-separated `--log-file` lines; malformed lines are skipped and counted.
pub fn parse_log(text: &str) -> (Vec<LoggedRequest>, usize) {
    let mut requests = Vec::new();
    let mut malformed = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let parsed = (|| {
            Some(LoggedRequest {
                start_us: fields.next()?.trim().parse().ok()?,
                status: fields.next()?.trim().parse().ok()?,
                elapsed_us: fields.next()?.trim().parse().ok()?,
            })
        })();
        match parsed {
            Some(r) => requests.push(r),
            None => malformed += 1,
        }
    }
    (requests, malformed)
}

/// What a `--log-file` recorded, in counts: the diagnostic of a run whose h2load printed no
/// summary (never its score).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Logged {
    pub requests: u64,
    pub status_2xx: u64,
    /// Answers other than 2xx, and requests h2load logged without an answer (`-1`).
    pub other: u64,
}

impl Logged {
    pub fn of(requests: &[LoggedRequest]) -> Self {
        let ok = requests
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .count() as u64;
        Self {
            requests: requests.len() as u64,
            status_2xx: ok,
            other: requests.len() as u64 - ok,
        }
    }
}

/// `h2load nghttp2/1.52.0` → (1, 52, 0).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let version = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("nghttp2/"))?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// The first nghttp2 release whose h2load stops clients still in their TLS handshake when
/// `-D` ends (upstream commit 6813f88 "h2load: Fix bug that h2load does not stop early with
/// -D option"). Older ones keep such clients sending, uncounted, and never exit.
pub const FIRST_VERSION_THAT_STOPS_LATE_CLIENTS: (u32, u32, u32) = (1, 69, 0);

/// Nearest-rank percentiles of every logged request (whatever its status: a slow error is
/// still a slow answer).
pub fn latency(requests: &[LoggedRequest]) -> Latency {
    if requests.is_empty() {
        return Latency::default();
    }
    let mut micros: Vec<u64> = requests.iter().map(|r| r.elapsed_us).collect();
    micros.sort_unstable();
    let rank = |p: f64| {
        let idx = ((p / 100.0) * micros.len() as f64).ceil() as usize;
        micros[idx.clamp(1, micros.len()) - 1] as f64 / 1000.0
    };
    let sum: u128 = micros.iter().map(|&m| m as u128).sum();
    Latency {
        count: micros.len() as u64,
        mean_ms: sum as f64 / micros.len() as f64 / 1000.0,
        p50_ms: rank(50.0),
        p90_ms: rank(90.0),
        p99_ms: rank(99.0),
        max_ms: *micros.last().unwrap_or(&0) as f64 / 1000.0,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn segments_combine_into_one_summary() {
        let part = |ok: u64, failed: u64, secs: f64, mean: f64| Summary {
            duration_s: secs,
            requests_total: ok + failed,
            requests_succeeded: ok,
            requests_failed: failed,
            status_2xx: ok,
            traffic_bytes: ok * 1024,
            mean_request_ms: mean,
            application_protocol: Some("h2".into()),
            ..Summary::default()
        };
        // The measured durations run a little over the configured 10 + 20 s.
        let total = Summary::combine(&[part(1000, 0, 10.1, 2.0), part(3000, 5, 20.2, 4.0)], 30);
        assert_eq!(total.status_2xx, 4000);
        assert_eq!(total.requests_total, 4005);
        assert_eq!(total.unanswered(), 5);
        assert!((total.duration_s - 30.3).abs() < 1e-9);
        assert_eq!(total.traffic_bytes, 4000 * 1024);
        let expected_mean = (1000.0 * 2.0 + 3000.0 * 4.0) / 4000.0;
        assert!((total.mean_request_ms - expected_mean).abs() < 1e-9);
        assert_eq!(total.application_protocol.as_deref(), Some("h2"));
        // 4000 KiB over the configured 30 s, in h2load's units, read back as h2load's are.
        assert_eq!(total.bandwidth, "133.33KB/s");
        assert!((parse_bytes("133.33KB").unwrap() - total.bandwidth_bytes_per_s).abs() < 10.0);
        assert_eq!(format_bytes(0.0), "0B");
        assert_eq!(format_bytes(3.0 * 1073741824.0), "3.00GB");
        assert_eq!(Summary::combine(&[], 0).duration_s, 0.0);
        // One part is h2load's own summary, its bandwidth string included.
        let reads = Summary::parse(STACK_READS).unwrap();
        assert_eq!(Summary::combine(std::slice::from_ref(&reads), 5), reads);
    }

    const MIXED: &str = include_str!("../tests/fixtures/h2load/mixed-4xx-5xx.txt");
    const MIXED_LOG: &str = include_str!("../tests/fixtures/h2load/mixed-4xx-5xx.log.tsv");
    const CONNECT_FAILED: &str = include_str!("../tests/fixtures/h2load/connect-failed.txt");
    /// Both instances of a real production-stack run (1024 connections, `prodstack bench`).
    pub(crate) const STACK_READS: &str =
        include_str!("../tests/fixtures/h2load/production-stack-reads-1024c.txt");
    pub(crate) const STACK_WRITES: &str =
        include_str!("../tests/fixtures/h2load/production-stack-writes-1024c.txt");

    #[test]
    fn parses_both_instances_of_a_real_production_stack_run() {
        let reads = Summary::parse(STACK_READS).unwrap();
        assert_eq!(reads.duration_s, 5.17);
        assert_eq!(reads.bandwidth, "62.39MB/s");
        assert_eq!(
            (reads.status_2xx, reads.status_4xx, reads.status_5xx),
            (15_658, 0, 0)
        );
        assert_eq!(reads.unanswered(), 0);
        assert_eq!(reads.traffic_bytes, 327_096_927);
        assert!((reads.mean_request_ms - 1810.0).abs() < 1e-6);
        let writes = Summary::parse(STACK_WRITES).unwrap();
        assert_eq!((writes.duration_s, writes.status_2xx), (5.02, 1024));
        assert_eq!(writes.bandwidth, "9.22KB/s");
    }

    #[test]
    fn parses_a_run_with_4xx_and_5xx() {
        let s = Summary::parse(MIXED).unwrap();
        assert_eq!(s.duration_s, 2.0);
        assert_eq!(s.bandwidth, "4.21MB/s");
        assert!((s.bandwidth_bytes_per_s - 4.21 * 1024.0 * 1024.0).abs() < 1.0);
        assert_eq!(
            (s.status_2xx, s.status_3xx, s.status_4xx, s.status_5xx),
            (2000, 0, 1000, 1000)
        );
        assert_eq!(s.requests_total, 4005);
        assert_eq!(s.requests_failed, 2005);
        assert_eq!(s.requests_errored, 5);
        assert_eq!(s.unanswered(), 5);
        assert_eq!(s.traffic_bytes, 8_837_264);
        assert!((s.mean_request_ms - 0.757).abs() < 1e-9);
        assert_eq!(s.application_protocol.as_deref(), Some("h2"));
    }

    #[test]
    fn parses_a_run_that_could_not_connect() {
        let s = Summary::parse(CONNECT_FAILED).unwrap();
        assert_eq!(s.status_2xx, 0);
        assert_eq!(s.requests_errored, 10);
        assert_eq!(s.unanswered(), 10);
        assert_eq!(s.application_protocol, None);
    }

    #[test]
    fn output_without_a_finish_line_is_an_error() {
        let err = Summary::parse("starting benchmark...\nspawning thread #0\n").unwrap_err();
        assert!(err.to_string().contains("no `finished in` line"));
    }

    #[test]
    fn parses_the_log_and_computes_percentiles() {
        let (requests, malformed) = parse_log(MIXED_LOG);
        assert_eq!(requests.len(), 400);
        assert_eq!(malformed, 0);
        assert_eq!(
            requests[0],
            LoggedRequest {
                start_us: 1_795_733_481_901_166,
                status: 200,
                elapsed_us: 4974
            }
        );
        let l = latency(&requests);
        assert_eq!(l.count, 400);
        assert!(l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms && l.p99_ms <= l.max_ms);
        assert!(l.mean_ms > 0.0);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let requests: Vec<LoggedRequest> = (1..=100)
            .map(|i| LoggedRequest {
                start_us: 0,
                status: 200,
                elapsed_us: i * 1000,
            })
            .collect();
        let l = latency(&requests);
        assert_eq!(
            (l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(l.mean_ms, 50.5);
        let (parsed, malformed) = parse_log("1\t200\t5\nnot a line\n2\t404\n");
        assert_eq!((parsed.len(), malformed), (1, 2));
    }

    #[test]
    fn log_counts_and_versions() {
        let (requests, _) = parse_log("1\t200\t5\n2\t204\t5\n3\t-1\t9\n4\t503\t1\n");
        assert_eq!(
            Logged::of(&requests),
            Logged {
                requests: 4,
                status_2xx: 2,
                other: 2
            }
        );
        assert_eq!(parse_version("h2load nghttp2/1.52.0\n"), Some((1, 52, 0)));
        assert_eq!(parse_version("h2load nghttp2/1.69.0-DEV"), Some((1, 69, 0)));
        assert_eq!(parse_version("something else"), None);
        assert!(
            parse_version("h2load nghttp2/1.70.1").unwrap()
                >= FIRST_VERSION_THAT_STOPS_LATE_CLIENTS
        );
    }

    #[test]
    fn invocations_match_httparena_flags() {
        let dir = Path::new("/r");
        let reads = Invocation::reads(dir, "TOK", 256, 64, 5, "/l".into());
        let args = reads.args().join(" ");
        assert!(args.starts_with("-i /r/production-stack-reads.txt -H Accept-Encoding: br;q=1, gzip;q=0.8 -H Authorization: Bearer TOK -c 256 -m 16 -t 64 -D 5s"), "{args}");
        let writes = Invocation::writes(dir, "TOK", 256, 5, "/l".into());
        let args = writes.args().join(" ");
        assert!(
            args.contains("-d /r/production-stack-write-body.json"),
            "{args}"
        );
        assert!(args.contains("-c 32 -m 8 -t 8 -D 5s"), "{args}");
        // `-t 8` whatever the reads' thread count, as HttpArena's harness passes it.
        let small = Invocation::writes(dir, "TOK", 16, 2, "/l".into());
        assert_eq!((small.connections, small.threads), (8, 8));
    }
}
