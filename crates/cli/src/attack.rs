//! `prodstack attack`: one hostile-client scenario ([`hostile`]) against the running stack's
//! edge, with a legitimate client probing `/static` and `/api` every 200 ms meanwhile, and the
//! edge's processes sampled from `/proc` (memory, descriptors) before, during and after.
//!
//! It answers "what does this attack take from the edge, and does a real visitor notice":
//! the slowest probe answer, failed probes, the edge's peak and settled memory and
//! descriptors, and how much the edge's log grew. It exits 1 when a probe failed or took
//! longer than `--max-latency`, so it doubles as a check.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use hostile::idle::IdleConnections;
use hostile::probe::{ProbeReport, ProbeRequest, Prober};
use hostile::slow_headers::SlowHeaders;
use hostile::unread::{Unread, UnreadPlan, UnreadStreams};
use hostile::Target;
use serde::Serialize;
use stack::{Service, StackState};

use bench::procstat::{TreeResources, TreeSampler};
use bench::report::{memory, table, thousands};
use stack::Project;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// HTTP/2 connections whose static-file streams are never read.
    UnreadStreams,
    /// HEADERS + RST_STREAM pairs on one connection (CVE-2023-44487).
    RapidReset,
    /// TLS connections that complete the handshake and send nothing.
    IdleTls,
    /// HTTP/1.1 heads sent a byte at a time (slowloris).
    SlowHeaders,
}

#[derive(Debug, Clone, Args)]
pub struct AttackArgs {
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Hostile connections (defaults: unread-streams 200, idle-tls 5000, slow-headers 1000).
    #[arg(long)]
    pub connections: Option<usize>,
    /// unread-streams: streams asked for per connection.
    #[arg(long, default_value_t = 128)]
    pub streams: usize,
    /// unread-streams: the path every stream asks for.
    #[arg(long, default_value = "/static/vendor.js")]
    pub path: String,
    /// unread-streams: stop reading the socket too, not only the streams.
    #[arg(long)]
    pub unread_socket: bool,
    /// rapid-reset: pairs to send at most.
    #[arg(long, default_value_t = 20_000)]
    pub pairs: u64,
    /// rapid-reset: pairs per millisecond.
    #[arg(long, default_value_t = 4)]
    pub pairs_per_ms: u64,
    /// How long the attack is held.
    #[arg(long, default_value = "10s", value_parser = parse_seconds)]
    pub duration: u64,
    /// After the attack ends, wait this long before the settled measurement.
    #[arg(long, default_value = "5s", value_parser = parse_seconds)]
    pub settle: u64,
    /// A probe slower than this (or failing) makes the command exit 1.
    #[arg(long, default_value = "1s", value_parser = parse_seconds_f)]
    pub max_latency: f64,
    /// Write the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn parse_seconds(text: &str) -> Result<u64, String> {
    let number = text.trim().strip_suffix('s').unwrap_or(text.trim());
    number
        .parse::<u64>()
        .map_err(|_| format!("`{text}`: expected whole seconds such as 10s"))
}

fn parse_seconds_f(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('s').unwrap_or(text.trim());
    number
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .ok_or_else(|| format!("`{text}`: expected seconds such as 1s or 0.5s"))
}

/// Everything one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    pub scenario: Scenario,
    pub edge: String,
    /// What the hostile clients managed (counts by name).
    pub attack: Vec<(String, u64)>,
    pub before: TreeResources,
    pub peak: TreeResources,
    pub after: TreeResources,
    pub probes: u64,
    pub probe_failures: Vec<String>,
    pub slowest_probe_ms: f64,
    pub edge_log_bytes: u64,
    pub edge_log_lines: u64,
}

pub fn run(project: &Project, args: AttackArgs) -> anyhow::Result<ExitCode> {
    let state = StackState::load(&project.home)
        .context("prodstack attack needs a running stack (prodstack up)")?;
    let edge = state
        .service(Service::Edge)
        .context("the recorded stack has no edge")?
        .clone();
    let token = std::fs::read_to_string(project.home.token_path())
        .with_context(|| format!("reading {}", project.home.token_path().display()))?
        .trim()
        .to_string();
    let target = Target::localhost(SocketAddr::from(([127, 0, 0, 1], state.ports.edge)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    let log_before = file_stats(&edge.log);
    let sampler = TreeSampler::start(edge.pid());
    let before = sampler.now();
    println!(
        "attack {:?} on {} (edge {}, pid {}): {} s, then {} s to settle",
        args.scenario,
        state.edge_url(),
        state.edge,
        edge.pid(),
        args.duration,
        args.settle
    );
    let (attack, probe) = runtime.block_on(attack(&args, &target, &token));
    let peak = sampler.peak();
    std::thread::sleep(Duration::from_secs(args.settle));
    let after = sampler.now();
    sampler.stop();
    let log_after = file_stats(&edge.log);
    let max = Duration::from_secs_f64(args.max_latency);
    let failures: Vec<String> = probe
        .samples
        .iter()
        .filter(|s| s.outcome.as_ref().ok() != Some(&200) || s.elapsed > max)
        .map(|s| {
            format!(
                "{} at {:.1}s: {} after {:.0} ms",
                s.path,
                s.at.as_secs_f64(),
                match &s.outcome {
                    Ok(status) => format!("status {status}"),
                    Err(e) => e.clone(),
                },
                s.elapsed.as_secs_f64() * 1000.0
            )
        })
        .collect();
    let report = AttackReport {
        scenario: args.scenario,
        edge: state.edge.to_string(),
        attack,
        before,
        peak,
        after,
        probes: probe.samples.len() as u64,
        probe_failures: failures,
        slowest_probe_ms: probe.slowest().as_secs_f64() * 1000.0,
        edge_log_bytes: log_after.0.saturating_sub(log_before.0),
        edge_log_lines: log_after.1.saturating_sub(log_before.1),
    };
    print!("{}", render(&report, args.max_latency));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(if report.probe_failures.is_empty() && report.probes > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the scenario with the probe beside it; returns the attack's counts and the probe's
/// samples.
async fn attack(
    args: &AttackArgs,
    target: &Target,
    token: &str,
) -> (Vec<(String, u64)>, ProbeReport) {
    let bearer = format!("Bearer {token}");
    let probes = vec![
        ProbeRequest::get("/static/reset.css"),
        ProbeRequest::get("/api/items/1").header("authorization", &bearer),
    ];
    let prober = Prober::start(target.clone(), probes, Duration::from_millis(200));
    let hold = Duration::from_secs(args.duration);
    let load = |n: &std::sync::atomic::AtomicUsize| n.load(Ordering::Relaxed) as u64;
    let counts = match args.scenario {
        Scenario::UnreadStreams => {
            let mut plan =
                UnreadPlan::new(args.connections.unwrap_or(200), args.streams, &args.path);
            if args.unread_socket {
                plan.unread = Unread::Socket;
            }
            let began = Instant::now();
            let attack = UnreadStreams::open(target, &plan).await;
            tokio::time::sleep(hold.saturating_sub(began.elapsed())).await;
            let c = &attack.counts;
            vec![
                ("connections".into(), load(&c.connections)),
                ("refused".into(), load(&c.refused)),
                ("streams opened".into(), load(&c.streams)),
                ("closed by the edge".into(), load(&c.closed_by_server)),
            ]
        }
        Scenario::IdleTls => {
            let began = Instant::now();
            let attack =
                IdleConnections::open(target, args.connections.unwrap_or(5000), &[b"h2"], 64).await;
            let opened = load(&attack.counts.opened);
            tokio::time::sleep(hold.saturating_sub(began.elapsed())).await;
            let c = &attack.counts;
            vec![
                ("opened".into(), opened),
                ("refused".into(), load(&c.refused)),
                ("closed by the edge".into(), load(&c.closed_by_server)),
                ("still held at the end".into(), attack.held() as u64),
            ]
        }
        Scenario::SlowHeaders => {
            let began = Instant::now();
            let attack = SlowHeaders::open(
                target,
                args.connections.unwrap_or(1000),
                Duration::from_secs(1),
            )
            .await;
            tokio::time::sleep(hold.saturating_sub(began.elapsed())).await;
            let c = &attack.counts;
            vec![
                ("opened".into(), load(&c.opened)),
                ("refused".into(), load(&c.refused)),
                ("closed by the edge".into(), load(&c.closed_by_server)),
            ]
        }
        Scenario::RapidReset => {
            let headers = vec![("authorization".to_string(), bearer.clone())];
            match hostile::rapid_reset::run(
                target,
                "/api/items/1",
                &headers,
                args.pairs,
                args.pairs_per_ms,
                hold,
            )
            .await
            {
                Ok(report) => {
                    let mut counts = vec![
                        ("pairs sent".to_string(), report.pairs),
                        ("milliseconds".into(), report.elapsed.as_millis() as u64),
                    ];
                    match report.ended_after {
                        Some((pairs, how)) => counts.push((
                            format!("connection ended by the edge ({how}) after pairs"),
                            pairs,
                        )),
                        None => counts.push(("connection ended by the edge".into(), 0)),
                    }
                    counts
                }
                Err(err) => vec![(format!("could not attack: {err}"), 0)],
            }
        }
    };
    (counts, prober.finish().await)
}

fn render(report: &AttackReport, max_latency: f64) -> String {
    let mut out = String::new();
    let rows: Vec<Vec<String>> = report
        .attack
        .iter()
        .map(|(what, n)| vec![what.clone(), thousands(*n)])
        .collect();
    out.push_str(&table(&["attack", "count"], &rows));
    let resource = |name: &str, r: &TreeResources| {
        vec![
            name.to_string(),
            memory(r.rss_bytes),
            thousands(r.descriptors),
        ]
    };
    out.push('\n');
    out.push_str(&table(
        &["edge", "RSS", "descriptors"],
        &[
            resource("before", &report.before),
            resource("peak", &report.peak),
            resource("after settling", &report.after),
        ],
    ));
    out.push_str(&format!(
        "\nprobes: {} (GET /static/reset.css and /api/items/1, each on a new connection), slowest {:.0} ms, {} over {:.1} s or failed\n",
        report.probes,
        report.slowest_probe_ms,
        report.probe_failures.len(),
        max_latency
    ));
    for failure in report.probe_failures.iter().take(10) {
        out.push_str(&format!("   {failure}\n"));
    }
    out.push_str(&format!(
        "edge log grew by {} lines ({} bytes)\n",
        thousands(report.edge_log_lines),
        thousands(report.edge_log_bytes)
    ));
    out
}

/// (bytes, lines) of a file, 0 when missing.
fn file_stats(path: &std::path::Path) -> (u64, u64) {
    std::fs::read(path)
        .map(|bytes| {
            (
                bytes.len() as u64,
                bytes.iter().filter(|b| **b == b'\n').count() as u64,
            )
        })
        .unwrap_or((0, 0))
}
