//! `prodstack bench authsvc`: the auth sidecar alone under wrk, against two references.
//!
//! Variants, each pinned with `taskset` to one core (`--server-cpu`) while `wrk -t1` runs on
//! another (`--load-cpu`):
//! - **authsvc**: our sidecar (`authsvc` next to the `prodstack` binary), default layout;
//! - **httparena-shared**: HttpArena's shared sidecar itself (`frameworks/_shared/authsvc`,
//!   axum on a multi-thread runtime, HMAC keyed per request), built from a copy of its sources
//!   by `stack::sidecar`;
//! - **bare-hyper**: `examples/bare_hyper.rs`, an empty `200 OK` hyper server: the ceiling;
//! - optionally **authsvc-multi-thread** (`--multi-thread`) and any `--authsvc-bin PATH`
//!   (e.g. HttpArena's real binary), which get the same environment (`JWT_SECRET`,
//!   `AUTHSVC_LISTEN`).
//!
//! Runs are interleaved (A B C A B C …) so that drift in the machine (thermal, neighbours)
//! hits every variant alike. Each server is started fresh for each run, probed once (a
//! variant that rejects the token is an error, not a number), warmed up for a second, then
//! measured. The table reports the best and the median run; ratios use medians.

use contract::env;
use contract::BENCH_SECRET;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use clap::Args;

use super::wrk::{median, Wrk, WrkRun};
use stack::Project;

/// The example this benchmark needs, built on demand.
const BARE_EXAMPLE: &str = "bare_hyper";

#[derive(Debug, Args)]
pub struct AuthsvcBenchArgs {
    /// CPU the server under test is pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// CPU wrk is pinned to.
    #[arg(long, default_value_t = 1)]
    pub load_cpu: usize,
    /// Seconds per measured wrk run.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of unmeasured load after each start.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Measured runs per variant (interleaved).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// wrk connections.
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// Another authsvc-compatible binary to compare (repeatable), e.g. HttpArena's own.
    #[arg(long = "authsvc-bin", value_name = "PATH")]
    pub authsvc_bins: Vec<PathBuf>,
    /// Also measure our authsvc with `AUTHSVC_RUNTIME=multi-thread`.
    #[arg(long)]
    pub multi_thread: bool,
}

/// One server to measure.
#[derive(Debug, Clone)]
struct Variant {
    name: String,
    binary: PathBuf,
    env: Vec<(&'static str, String)>,
    /// Whether a 200 must carry `x-user-id: 42` (false only for the bare hyper ceiling).
    authenticates: bool,
}

pub fn run(project: &Project, args: AuthsvcBenchArgs) -> anyhow::Result<ExitCode> {
    if args.runs == 0 || args.duration == 0 || args.connections == 0 {
        bail!("--runs, --duration and --connections must be at least 1");
    }
    for tool in ["wrk", "taskset"] {
        stack::process::find_on_path(tool).with_context(|| {
            format!("`{tool}` is not installed (the ./prodstack launcher installs it)")
        })?;
    }
    if args.server_cpu == args.load_cpu {
        tracing::warn!(
            cpu = args.server_cpu,
            "server and load share one CPU: the figures will mostly measure contention"
        );
    }

    let variants = variants(project, &args)?;
    let token = bench_token();
    let header = format!("Authorization: Bearer {token}");
    let logs = project.home.logs_dir();
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;

    eprintln!(
        "bench authsvc: {} variants x {} runs, wrk -t1 -c{} -d{}s on cpu {}, servers on cpu {}",
        variants.len(),
        args.runs,
        args.connections,
        args.duration,
        args.load_cpu,
        args.server_cpu
    );
    let mut results: Vec<Vec<WrkRun>> = vec![Vec::new(); variants.len()];
    for run in 1..=args.runs {
        for (variant, runs) in variants.iter().zip(&mut results) {
            let measured = measure(variant, &args, &header, &token, &logs)
                .with_context(|| format!("run {run} of {}", variant.name))?;
            eprintln!(
                "  run {run}/{} {:<24} {:>10.0} req/s  latency avg {:>8}  server cpu {:.2} us/req, {:.0}% busy",
                args.runs,
                variant.name,
                measured.requests_per_sec,
                format_micros(measured.latency_avg_us),
                measured.cpu_us_per_request(),
                measured.server_busy.unwrap_or(f64::NAN) * 100.0
            );
            runs.push(measured);
        }
    }

    let report = render_report(&variants, &results, &args);
    print!("{report}");
    save_report(project, &report);
    Ok(ExitCode::SUCCESS)
}

/// The variants in run order, with binaries located (and built when missing).
fn variants(project: &Project, args: &AuthsvcBenchArgs) -> anyhow::Result<Vec<Variant>> {
    let ours = project.bin_dir.join("authsvc");
    let bare = project.bin_dir.join("examples").join(BARE_EXAMPLE);
    ensure_built(project, &[&ours, &bare])?;
    // HttpArena's sidecar needs its sources beside the checkout; without them the other
    // variants still run.
    let shared =
        match stack::sidecar::build_shared(project, &mut |line| eprintln!("bench authsvc: {line}"))
        {
            Ok(binary) => Some(binary),
            Err(err @ stack::Error::Missing { .. }) => {
                eprintln!("bench authsvc: skipping httparena-shared: {err}");
                None
            }
            Err(err) => return Err(err.into()),
        };

    let mut variants = vec![
        Variant {
            name: "authsvc".into(),
            binary: ours.clone(),
            env: vec![(env::AUTHSVC_RUNTIME, "per-core".into())],
            authenticates: true,
        },
        Variant {
            name: "bare-hyper".into(),
            binary: bare,
            env: Vec::new(),
            authenticates: false,
        },
    ];
    if let Some(binary) = shared {
        variants.insert(
            1,
            Variant {
                name: "httparena-shared".into(),
                binary,
                env: Vec::new(),
                authenticates: true,
            },
        );
    }
    if args.multi_thread {
        variants.insert(
            1,
            Variant {
                name: "authsvc-multi-thread".into(),
                binary: ours,
                env: vec![(env::AUTHSVC_RUNTIME, "multi-thread".into())],
                authenticates: true,
            },
        );
    }
    for path in &args.authsvc_bins {
        let binary = std::fs::canonicalize(path)
            .with_context(|| format!("--authsvc-bin {}", path.display()))?;
        let name = binary
            .file_name()
            .map_or_else(|| "external".into(), |n| n.to_string_lossy().into_owned());
        variants.push(Variant {
            name: format!("ext:{name}"),
            binary,
            env: Vec::new(),
            authenticates: true,
        });
    }
    Ok(variants)
}

/// Builds the authsvc binary and the bare-hyper example if either is missing, with the profile
/// of the running `prodstack` (release when started by the launcher).
fn ensure_built(project: &Project, binaries: &[&Path]) -> anyhow::Result<()> {
    let missing: Vec<&Path> = binaries.iter().copied().filter(|b| !b.is_file()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let release = project
        .bin_dir
        .file_name()
        .is_some_and(|name| name == "release");
    eprintln!(
        "bench authsvc: building {} (missing: {})",
        if release {
            "in release"
        } else {
            "in the dev profile (numbers will be meaningless)"
        },
        missing
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut cargo = Command::new("cargo");
    cargo
        .current_dir(&project.project_root)
        .args(["build", "--locked", "-p", "authsvc", "--bin", "authsvc"])
        .args(["--example", BARE_EXAMPLE]);
    if release {
        cargo.arg("--release");
    }
    let status = cargo.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the authsvc benchmark binaries failed ({status})");
    }
    if let Some(still) = binaries.iter().find(|b| !b.is_file()) {
        bail!("{} is still missing after the build", still.display());
    }
    Ok(())
}

/// A token like HttpArena's (`sub` "42", `name`), valid for an hour, with the default secret.
fn bench_token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "42".into());
    claims.insert("name".into(), "Alice Chen".into());
    claims.insert("exp".into(), (now + 3600).into());
    jwt::sign(&claims, BENCH_SECRET.as_bytes())
}

/// Starts the variant pinned, checks it, warms it up, measures one wrk run, stops it.
fn measure(
    variant: &Variant,
    args: &AuthsvcBenchArgs,
    header: &str,
    token: &str,
    logs: &Path,
) -> anyhow::Result<WrkRun> {
    let port = stack::ports::free_port().context("finding a free loopback port")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log_path = logs.join(format!(
        "bench-authsvc-{}.log",
        variant.name.replace(':', "_")
    ));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut command = Command::new("taskset");
    command
        .arg("-c")
        .arg(args.server_cpu.to_string())
        .arg(&variant.binary)
        .env(env::JWT_SECRET, BENCH_SECRET)
        .env(env::AUTHSVC_LISTEN, addr.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    for (name, value) in &variant.env {
        command.env(name, value);
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", variant.binary.display()))?;
    let mut server = ServerProcess(child);

    probe(addr, token, variant.authenticates, Duration::from_secs(15)).with_context(|| {
        format!(
            "{} did not answer correctly (log: {})",
            variant.name,
            log_path.display()
        )
    })?;
    let url = format!("http://{addr}/_auth");
    let load = |seconds| {
        Wrk::new(&url, args.connections, seconds)
            .pinned_to(args.load_cpu)
            .latency_distribution()
            .header(header)
    };
    if args.warmup > 0 {
        load(args.warmup).run()?;
    }
    let measured = load(args.duration).run_against(server.0.id())?;
    server.stop();
    if measured.non_2xx > 0 {
        bail!(
            "{}: {} of {} responses were not 2xx; the figure would be meaningless",
            variant.name,
            measured.non_2xx,
            measured.requests
        );
    }
    Ok(measured)
}

/// A server child process, stopped with SIGTERM (then SIGKILL after 10 s) even on early
/// return.
struct ServerProcess(Child);

impl ServerProcess {
    fn stop(&mut self) {
        stack::process::terminate(&mut self.0, libc::SIGTERM, Duration::from_secs(10));
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until the server answers `GET /_auth` with the token: 200, and `x-user-id: 42` when
/// the variant authenticates.
fn probe(
    addr: SocketAddr,
    token: &str,
    authenticates: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last_error = String::from("no answer");
    while Instant::now() < deadline {
        match probe_once(addr, token) {
            Ok((200, user)) if !authenticates || user.as_deref() == Some("42") => return Ok(()),
            Ok((status, user)) => bail!("GET /_auth answered {status} with x-user-id {user:?}"),
            Err(err) => last_error = err.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("not ready after {timeout:?}: {last_error}")
}

fn probe_once(addr: SocketAddr, token: &str) -> std::io::Result<(u16, Option<String>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET /_auth HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut user = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("x-user-id") {
                user = Some(value.trim().to_owned());
            }
        }
    }
    Ok((status, user))
}

fn format_micros(us: f64) -> String {
    if us >= 1_000.0 {
        format!("{:.2}ms", us / 1_000.0)
    } else {
        format!("{us:.0}us")
    }
}

/// The results table plus a verdict on the two targets.
fn render_report(variants: &[Variant], results: &[Vec<WrkRun>], args: &AuthsvcBenchArgs) -> String {
    struct Row<'a> {
        name: &'a str,
        best: f64,
        median: f64,
        latency_avg: f64,
        p50: f64,
        p99: f64,
        cpu_per_request: f64,
        busy: f64,
        socket_errors: u64,
    }
    let rows: Vec<Row> = variants
        .iter()
        .zip(results)
        .map(|(variant, runs)| {
            let pick = |f: fn(&WrkRun) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
            Row {
                name: &variant.name,
                best: runs
                    .iter()
                    .map(|r| r.requests_per_sec)
                    .fold(f64::NAN, f64::max),
                median: pick(|r| r.requests_per_sec),
                latency_avg: pick(|r| r.latency_avg_us),
                p50: pick(|r| r.latency_p50_us),
                p99: pick(|r| r.latency_p99_us),
                cpu_per_request: pick(WrkRun::cpu_us_per_request),
                busy: pick(|r| r.server_busy.unwrap_or(f64::NAN)),
                socket_errors: runs.iter().map(|r| r.socket_errors).sum(),
            }
        })
        .collect();
    let median_of = |name: &str| rows.iter().find(|r| r.name == name).map(|r| r.median);
    let shared = median_of("httparena-shared");
    let bare = median_of("bare-hyper");
    let ratio = |value: f64, base: Option<f64>| match base {
        Some(base) if base > 0.0 => format!("{:.2}x", value / base),
        _ => "-".into(),
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nauthsvc benchmark: GET /_auth, wrk -t1 -c{} -d{}s (cpu {}), server on cpu {}, {} runs each; ratios use medians",
        args.connections, args.duration, args.load_cpu, args.server_cpu, args.runs
    );
    let _ = writeln!(
        out,
        "{:<24} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>6} {:>7}",
        "variant",
        "best req/s",
        "median",
        "vs shared",
        "vs bare",
        "lat avg",
        "p50",
        "p99",
        "cpu us/req",
        "busy",
        "sockerr"
    );
    for row in &rows {
        let _ = writeln!(
            out,
            "{:<24} {:>11.0} {:>11.0} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11.2} {:>5.0}% {:>7}",
            row.name,
            row.best,
            row.median,
            ratio(row.median, shared),
            ratio(row.median, bare),
            format_micros(row.latency_avg),
            format_micros(row.p50),
            format_micros(row.p99),
            row.cpu_per_request,
            row.busy * 100.0,
            row.socket_errors
        );
    }
    if let (Some(ours), Some(shared), Some(bare)) = (median_of("authsvc"), shared, bare) {
        let vs_shared = ours / shared;
        let vs_bare = ours / bare;
        let _ = writeln!(
            out,
            "targets: >= 1.60x HttpArena's shared sidecar: {:.2}x {} | >= 0.90x bare hyper: {:.2}x {}",
            vs_shared,
            if vs_shared >= 1.6 { "MET" } else { "MISSED" },
            vs_bare,
            if vs_bare >= 0.9 { "MET" } else { "MISSED" }
        );
        let cpu_of = |name: &str| {
            rows.iter()
                .find(|r| r.name == name)
                .map(|r| r.cpu_per_request)
        };
        if let (Some(ours), Some(shared), Some(bare)) = (
            cpu_of("authsvc"),
            cpu_of("httparena-shared"),
            cpu_of("bare-hyper"),
        ) {
            let _ = writeln!(
                out,
                "capacity from cpu us/req (1 / cpu per request): {:.2}x HttpArena's shared sidecar, {:.2}x bare hyper",
                shared / ours,
                bare / ours
            );
        }
        let _ = writeln!(
            out,
            "(a server well below 100% busy was held back by the load generator or by other \
             work on the machine; cpu us/req is then the fairer comparison)"
        );
    }
    out
}

/// Keeps a copy under `results/` (best effort: the table was printed already).
fn save_report(project: &Project, report: &str) {
    let dir = project.home.results_dir();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = dir.join(format!("bench-authsvc-{stamp}.txt"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, report)) {
        Ok(()) => eprintln!("bench authsvc: report saved to {}", path.display()),
        Err(err) => tracing::warn!(%err, path = %path.display(), "could not save the report"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_token_verifies_with_the_default_secret() {
        let header = format!("Bearer {}", bench_token());
        let subject = jwt::Verifier::new(BENCH_SECRET.as_bytes())
            .verify(header.as_bytes())
            .unwrap();
        assert_eq!(subject.as_str(), "42");
    }

    #[test]
    fn report_shows_ratios_and_verdicts() {
        let variant = |name: &str| Variant {
            name: name.into(),
            binary: PathBuf::new(),
            env: Vec::new(),
            authenticates: true,
        };
        let run = |rps: f64, cpu: f64| WrkRun {
            requests_per_sec: rps,
            requests: 1,
            non_2xx: 0,
            socket_errors: 0,
            latency_avg_us: 400.0,
            latency_p50_us: 390.0,
            latency_p99_us: 900.0,
            duration_us: 10_000_000.0,
            server_cpu_us_per_request: Some(cpu),
            server_busy: Some(0.97),
        };
        let variants = [
            variant("authsvc"),
            variant("httparena-shared"),
            variant("bare-hyper"),
        ];
        let results = vec![
            vec![
                run(150_000.0, 6.0),
                run(160_000.0, 6.0),
                run(155_000.0, 6.0),
            ],
            vec![run(85_000.0, 9.0), run(90_000.0, 9.0), run(80_000.0, 9.0)],
            vec![
                run(170_000.0, 5.7),
                run(165_000.0, 5.7),
                run(160_000.0, 5.7),
            ],
        ];
        let args = AuthsvcBenchArgs {
            server_cpu: 0,
            load_cpu: 1,
            duration: 10,
            warmup: 1,
            runs: 3,
            connections: 64,
            authsvc_bins: Vec::new(),
            multi_thread: false,
        };
        let report = render_report(&variants, &results, &args);
        assert!(
            report.contains("160000") && report.contains("155000"),
            "{report}"
        );
        // 155000 / 85000 = 1.82; 155000 / 165000 = 0.94.
        assert!(
            report.contains("1.82x") && report.contains("0.94x"),
            "{report}"
        );
        assert!(
            report.contains("1.82x MET") && report.contains("0.94x MET"),
            "{report}"
        );
        assert!(
            report.contains("cpu us/req") && report.contains("97%"),
            "{report}"
        );
        // 9.0 / 6.0 = 1.50; 5.7 / 6.0 = 0.95.
        assert!(
            report.contains("1.50x HttpArena's shared sidecar, 0.95x bare hyper"),
            "{report}"
        );
    }
}
