//! `prodstack bench server`: the app server alone under wrk (HTTP/1.1 keep-alive), pinned to
//! one core with `wrk -t1` on another, over a private Postgres and Redis it starts itself and
//! seeds from `datagen`.
//!
//! What it measures and prints:
//! - **hot routes** — `/healthz` (the trivial route), `/public/baseline?a=13&b=42`,
//!   `/api/items/1` (the L1-hit path: one miss per TTL second) and `/api/me` — for each server
//!   variant: the axum front end on a multi-thread runtime and on a per-core runtime, and the
//!   raw-hyper comparison front end (`SERVER_HTTP=raw-hyper`, same App and L1), and the
//!   router behind `axum::serve` instead of our hyper accept loop (`axum-serve`). Runs are
//!   interleaved; the table shows medians and each route's share of the trivial route (the
//!   issue's target: ≥ 90 % for items and baseline).
//! - **cold sweep** — ids 1..N (default 10,000), each requested `--cold-repeats` times in a
//!   row by different connections of 256 (HttpArena's every-connection-walks-the-same-ids
//!   pattern), then `/healthz` until the run ends. Pass: Postgres item queries (from the
//!   server's metrics) = N, no non-2xx, no socket errors.

use contract::env;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use clap::Args;
use stack::testing::{TestPostgres, TestRedis};

use super::metrics::Scrape;
use super::wrk::{median, Wrk, WrkRun};
use stack::Project;

#[derive(Debug, Args)]
pub struct ServerBenchArgs {
    /// CPU the server is pinned to (`SERVER_WORKERS=1`).
    #[arg(long, default_value_t = 1)]
    pub server_cpu: usize,
    /// CPU wrk (`-t1`) is pinned to.
    #[arg(long, default_value_t = 0)]
    pub load_cpu: usize,
    /// wrk connections for the hot routes.
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 4)]
    pub seconds: u64,
    /// Measured runs per route and variant (interleaved; medians reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Only these variants (comma-separated): axum-multi, axum-per-core, raw-hyper,
    /// axum-serve.
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,
    /// Connections of the cold sweep.
    #[arg(long, default_value_t = 256)]
    pub cold_connections: u32,
    /// Distinct ids in the cold sweep.
    #[arg(long, default_value_t = 10_000)]
    pub cold_ids: u32,
    /// Consecutive requests per id in the cold sweep.
    #[arg(long, default_value_t = 8)]
    pub cold_repeats: u32,
    /// Length of the cold-sweep run (it must cover the whole sweep).
    #[arg(long, default_value_t = 12)]
    pub cold_seconds: u64,
    /// Run the cold sweep once per `DATABASE_POOL_SIZE` value listed (default: the server's
    /// own default, which is the worker count clamped to 2–16).
    #[arg(long, value_delimiter = ',')]
    pub pool_sizes: Vec<u32>,
    /// Skip the hot routes (cold sweep only).
    #[arg(long)]
    pub no_hot: bool,
    /// Skip the cold sweep.
    #[arg(long)]
    pub no_cold: bool,
    /// The server binary (default: `server` next to `prodstack`).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Also measure the write path (`POST /api/items/1–20`) against Postgres with fsync on
    /// (`prodstack up`'s default) and off (the benchmark's, as HttpArena's tmpfs), both with
    /// synchronous commits, interleaved: what durability costs a write.
    #[arg(long)]
    pub durability: bool,
}

/// One way of running the server.
#[derive(Debug, Clone)]
struct Variant {
    name: &'static str,
    env: Vec<(&'static str, String)>,
}

fn all_variants() -> Vec<Variant> {
    let variant = |name, runtime: &str, http: &str| Variant {
        name,
        env: vec![
            (env::SERVER_RUNTIME, runtime.to_string()),
            (env::SERVER_HTTP, http.to_string()),
        ],
    };
    vec![
        variant("axum-multi", "multi-thread", "axum"),
        variant("axum-per-core", "per-core", "axum"),
        variant("raw-hyper", "multi-thread", "raw-hyper"),
        variant("axum-serve", "multi-thread", "axum-serve"),
    ]
}

/// The hot routes; the first is the trivial reference.
const ROUTES: [(&str, &str, Option<&str>); 4] = [
    ("trivial /healthz", "/healthz", None),
    ("/public/baseline", "/public/baseline?a=13&b=42", None),
    ("/api/items/1 (L1 hit)", "/api/items/1", None),
    ("/api/me (L1 hit)", "/api/me", Some("X-User-Id: 42")),
];

/// Postgres, Redis and the dataset file the server runs against.
struct Backends {
    pg: TestPostgres,
    redis: TestRedis,
    dataset: PathBuf,
    /// The seed, for a second Postgres (`--durability`).
    seed: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn run(project: &Project, args: ServerBenchArgs) -> anyhow::Result<ExitCode> {
    for tool in ["wrk", "taskset"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("`{tool}` is not installed (./prodstack installs wrk; taskset is in util-linux)");
        }
    }
    let server_bin = match &args.server_bin {
        Some(path) => path.clone(),
        None => {
            let path = project.bin_dir.join("server");
            if !path.is_file() {
                bail!(
                    "no server binary at {} (build it: cargo build --release -p server)",
                    path.display()
                );
            }
            path
        }
    };
    let variants: Vec<Variant> = if args.variants.is_empty() {
        all_variants()
    } else {
        let all = all_variants();
        args.variants
            .iter()
            .map(|name| {
                all.iter()
                    .find(|v| v.name == name)
                    .cloned()
                    .with_context(|| format!("unknown variant {name:?}"))
            })
            .collect::<anyhow::Result<_>>()?
    };

    eprintln!("bench server: generating the seed and starting Postgres and Redis");
    let backends = start_backends()?;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "prodstack bench server — server on CPU {} (SERVER_WORKERS=1), wrk -t1 on CPU {}, {} connections, {} s × {} runs, binary {}",
        args.server_cpu, args.load_cpu, args.connections, args.seconds, args.runs, server_bin.display()
    );

    // results[variant][route] = requests/s of each run
    let mut results: Vec<Vec<Vec<WrkRun>>> = vec![vec![Vec::new(); ROUTES.len()]; variants.len()];
    let runs = if args.no_hot { 0 } else { args.runs };
    for run in 0..runs {
        for (v, variant) in variants.iter().enumerate() {
            let mut server = ServerProcess::start(&server_bin, &args, &backends, variant)?;
            for (r, (label, path, header)) in ROUTES.iter().enumerate() {
                let url = format!("http://{}{path}", server.addr);
                let load = |seconds| {
                    let wrk = Wrk::new(&url, args.connections, seconds)
                        .pinned_to(args.load_cpu)
                        .timeout_secs(10);
                    match header {
                        Some(header) => wrk.header(header),
                        None => wrk,
                    }
                };
                // A short warm-up so connections, the L1 entry and the allocator are settled.
                load(1).run()?;
                let result = load(args.seconds).run_against(server.child.id())?;
                eprintln!(
                    "  run {}/{} {:<14} {:<24} {:>10.0} req/s {:>6.2} µs server CPU/req{}",
                    run + 1,
                    args.runs,
                    variant.name,
                    label,
                    result.requests_per_sec,
                    result.cpu_us_per_request(),
                    errors_note(&result)
                );
                results[v][r].push(result);
            }
            server.stop();
        }
    }

    let mut ok = true;
    if runs > 0 {
        ok &= hot_report(&variants, &results, &mut report);
    }
    if args.durability {
        ok &= write_durability(&server_bin, &args, &backends, &mut report)?;
    }

    if !args.no_cold {
        let pools: Vec<Option<u32>> = if args.pool_sizes.is_empty() {
            vec![None]
        } else {
            args.pool_sizes.iter().copied().map(Some).collect()
        };
        for pool in pools {
            let mut variant = all_variants().remove(0);
            if let Some(pool) = pool {
                variant
                    .env
                    .push((env::DATABASE_POOL_SIZE, pool.to_string()));
            }
            ok &= cold_sweep(&server_bin, &args, &backends, &variant, pool, &mut report)?;
        }
    }

    println!("{report}");
    save_report(project, &report);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The hot-route tables and verdicts; `false` when a production-layout route missed its
/// target.
fn hot_report(variants: &[Variant], results: &[Vec<Vec<WrkRun>>], report: &mut String) -> bool {
    let _ = writeln!(
        report,
        "\nHot routes: median req/s, and the share of the trivial route's req/s (median of per-run ratios; each run measures the routes back to back on one server)"
    );
    let header_line = variants
        .iter()
        .map(|v| format!("{:>28}", v.name))
        .collect::<String>();
    let _ = writeln!(report, "{:<24}{header_line}", "route");
    let mut verdicts = Vec::new();
    for (r, (label, _, _)) in ROUTES.iter().enumerate() {
        let mut line = format!("{label:<24}");
        for (v, variant) in variants.iter().enumerate() {
            let rps = median_rps(&results[v][r]);
            let share =
                100.0 * median_ratio(&results[v][r], &results[v][0], |w| w.requests_per_sec);
            let errors: u64 = results[v][r]
                .iter()
                .map(|w| w.non_2xx + w.socket_errors)
                .sum();
            let _ = write!(line, "{rps:>18.0} ({share:5.1} %)");
            if errors > 0 {
                let _ = write!(line, " [{errors} errors]");
            }
            if (r == 1 || r == 2)
                && variant.name.starts_with("axum-")
                && variant.name != "axum-serve"
            {
                let cpu_share = 100.0
                    * median_ratio(&results[v][0], &results[v][r], WrkRun::cpu_us_per_request);
                verdicts.push((
                    format!("{} {label}", variant.name),
                    share,
                    cpu_share,
                    errors,
                ));
            }
        }
        let _ = writeln!(report, "{line}");
    }
    let _ = writeln!(report, "server CPU per request, µs (median of runs):");
    for (r, (label, _, _)) in ROUTES.iter().enumerate() {
        let mut line = format!("{label:<24}");
        for runs in results {
            let mut cpu: Vec<f64> = runs[r].iter().map(WrkRun::cpu_us_per_request).collect();
            let _ = write!(line, "{:>28.2}", median(&mut cpu));
        }
        let _ = writeln!(report, "{line}");
    }
    let _ = writeln!(report, "mean latency, µs (median of runs):");
    for (r, (label, _, _)) in ROUTES.iter().enumerate() {
        let mut line = format!("{label:<24}");
        for runs in results {
            let mut lat: Vec<f64> = runs[r].iter().map(|w| w.latency_avg_us).collect();
            let _ = write!(line, "{:>28.1}", median(&mut lat));
        }
        let _ = writeln!(report, "{line}");
    }
    for other in ["raw-hyper", "axum-serve"] {
        let (Some(axum), Some(raw)) = (
            variants.iter().position(|v| v.name == "axum-multi"),
            variants.iter().position(|v| v.name == other),
        ) else {
            continue;
        };
        let _ = writeln!(
            report,
            "axum-multi vs {other} (same runtime, same App and L1):"
        );
        for (r, (label, _, _)) in ROUTES.iter().enumerate() {
            let a = median_rps(&results[axum][r]);
            let h = median_rps(&results[raw][r]);
            let mut ca: Vec<f64> = results[axum][r]
                .iter()
                .map(WrkRun::cpu_us_per_request)
                .collect();
            let mut ch: Vec<f64> = results[raw][r]
                .iter()
                .map(WrkRun::cpu_us_per_request)
                .collect();
            let _ = writeln!(
                report,
                "  {label:<24} {a:>8.0} req/s = {:5.1} % of {other}'s {h:.0}; CPU/req {:.2} vs {:.2} µs",
                100.0 * a / h,
                median(&mut ca),
                median(&mut ch)
            );
        }
    }
    let mut ok = true;
    for (what, share, cpu_share, errors) in &verdicts {
        let pass = *share >= 90.0 && *errors == 0;
        // Only the production layout (the server's defaults) decides the exit code; the
        // per-core layout is reported for comparison.
        let decides = what.starts_with("axum-multi");
        if decides {
            ok &= pass;
        }
        let _ = writeln!(
            report,
            "  {}{} {what}: {share:.1} % of trivial req/s (target ≥ 90 %); by server CPU per request {cpu_share:.1} %",
            if pass { "PASS" } else { "FAIL" },
            if decides { "" } else { " (info)" }
        );
    }

    ok
}

fn errors_note(run: &WrkRun) -> String {
    if run.non_2xx + run.socket_errors > 0 {
        format!(
            "  ({} non-2xx, {} socket errors)",
            run.non_2xx, run.socket_errors
        )
    } else {
        String::new()
    }
}

fn start_backends() -> anyhow::Result<Backends> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let dataset = datagen::dataset::generate();
    let dataset_path = dir.path().join("dataset.json");
    std::fs::write(&dataset_path, datagen::dataset::to_json(&dataset))
        .with_context(|| format!("writing {}", dataset_path.display()))?;
    let seed_path = dir.path().join("pgdb-seed.sql");
    let file = std::fs::File::create(&seed_path)
        .with_context(|| format!("creating {}", seed_path.display()))?;
    datagen::seed::write_sql(&dataset, std::io::BufWriter::new(file))
        .with_context(|| format!("writing {}", seed_path.display()))?;
    let pg = TestPostgres::start_seeded(&seed_path).context("starting Postgres")?;
    let redis = TestRedis::start().context("starting Redis")?;
    Ok(Backends {
        pg,
        redis,
        dataset: dataset_path,
        seed: seed_path,
        _dir: dir,
    })
}

/// The server binary, pinned with taskset, stopped (SIGTERM, then SIGKILL after 5 s) on drop.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let port = stack::ports::free_port().context("finding a free loopback port")?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

impl ServerProcess {
    fn start(
        bin: &Path,
        args: &ServerBenchArgs,
        backends: &Backends,
        variant: &Variant,
    ) -> anyhow::Result<Self> {
        let addr = free_addr()?;
        let admin = free_addr()?;
        let mut cmd = Command::new("taskset");
        cmd.arg("-c")
            .arg(args.server_cpu.to_string())
            .arg(bin)
            .env(env::LISTEN, addr.to_string())
            .env(env::ADMIN_LISTEN, admin.to_string())
            .env(env::DATABASE_URL, backends.pg.url())
            .env(env::REDIS_URL, backends.redis.url())
            .env(env::DATASET_PATH, &backends.dataset)
            .env(env::SERVER_WORKERS, "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        for (name, value) in &variant.env {
            cmd.env(name, value);
        }
        let child = stack::testing::spawn_tied_to_process(cmd, libc::SIGTERM)
            .with_context(|| format!("starting {}", bin.display()))?;
        let server = Self { child, addr, admin };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if matches!(http_get(addr, "/readyz", None), Ok((200, _))) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("the server ({}) was not ready within 20 s", variant.name)
    }

    fn metrics(&self) -> anyhow::Result<Scrape> {
        let (status, body) = http_get(self.admin, "/metrics", None)?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(Scrape::parse(&body))
    }

    fn stop(&mut self) {
        stack::process::terminate(&mut self.child, libc::SIGTERM, Duration::from_secs(5));
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

const REQUESTS: &str = "prodstack_http_requests_total";
const ITEM_GET_200: [(&str, &str); 2] = [("route", "item_get"), ("status", "200")];

/// One `GET` with `Connection: close`: (status, body).
fn http_get(addr: SocketAddr, path: &str, header: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let extra = header.map(|h| format!("{h}\r\n")).unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status line")?;
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn cold_sweep(
    bin: &Path,
    args: &ServerBenchArgs,
    backends: &Backends,
    variant: &Variant,
    pool: Option<u32>,
    report: &mut String,
) -> anyhow::Result<bool> {
    // Everything cached by the hot runs has expired (TTL ≤ 1 s) and Redis is emptied, so
    // every id starts cold.
    std::thread::sleep(Duration::from_millis(1100));
    let _ = Command::new("redis-cli")
        .args(["-p", &backends.redis.port().to_string(), "FLUSHALL"])
        .output();
    let mut server = ServerProcess::start(bin, args, backends, variant)?;
    let before = server.metrics()?;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("sweep.lua");
    std::fs::write(
        &script,
        format!(
            "local ids, repeats, n = {ids}, {repeats}, 0\n\
             request = function()\n\
               n = n + 1\n\
               if n > ids * repeats then return wrk.format(\"GET\", \"/healthz\") end\n\
               return wrk.format(\"GET\", \"/api/items/\" .. (math.floor((n - 1) / repeats) + 1))\n\
             end\n",
            ids = args.cold_ids,
            repeats = args.cold_repeats
        ),
    )?;
    let url = format!("http://{}/", server.addr);
    let expected_requests = f64::from(args.cold_ids) * f64::from(args.cold_repeats);
    // wrk runs in a thread; meanwhile /metrics is polled to time the sweep itself (the run
    // goes on with /healthz requests afterwards).
    let result = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            Wrk::new(&url, args.cold_connections, args.cold_seconds)
                .pinned_to(args.load_cpu)
                .timeout_secs(10)
                .script(&script)
                .run()
        });
        let started = Instant::now();
        let mut swept = None;
        while !load.is_finished() {
            std::thread::sleep(Duration::from_millis(20));
            if swept.is_some() {
                continue;
            }
            if let Ok(now) = server.metrics() {
                let done = now.sum(REQUESTS, &ITEM_GET_200);
                if done >= expected_requests - f64::from(args.cold_repeats) {
                    swept = Some(started.elapsed());
                }
            }
        }
        load.join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the wrk thread panicked")))
            .map(|run| (run, swept))
    });
    let (result, swept) = result?;
    let during = server.metrics()?.delta(&before);
    server.stop();
    let answered = during.sum(REQUESTS, &ITEM_GET_200);
    // Every item_get series (any status) minus the 200s: item requests that failed.
    let failed = during.sum(REQUESTS, &[("route", "item_get")]) - answered;
    let queries = during.sum("prodstack_db_queries_total", &[("query", "item")]);
    let waiters = during.sum("prodstack_singleflight_waiters_total", &[]);
    let l1 = during.sum("prodstack_cache_l1_hits_total", &[]);
    // wrk calls `request()` once before the run to build its first request, so the sweep
    // sends one request fewer than ids × repeats; every id is still requested.
    let pass = queries == f64::from(args.cold_ids)
        && failed == 0.0
        && answered >= expected_requests - f64::from(args.cold_repeats)
        && result.non_2xx == 0
        && result.socket_errors == 0;
    let _ = writeln!(
        report,
        "\nCold sweep ({}, DATABASE_POOL_SIZE={}): ids 1–{} × {} consecutive requests, {} connections, {} s run",
        variant.name,
        pool.map_or("default".to_string(), |p| p.to_string()),
        args.cold_ids,
        args.cold_repeats,
        args.cold_connections,
        args.cold_seconds
    );
    match swept {
        Some(took) => {
            let _ = writeln!(
                report,
                "  sweep took {:.2} s: {:.0} item requests/s, {:.0} distinct ids (DB loads)/s",
                took.as_secs_f64(),
                expected_requests / took.as_secs_f64(),
                f64::from(args.cold_ids) / took.as_secs_f64()
            );
        }
        None => {
            let _ = writeln!(report, "  the sweep did not finish within the run");
        }
    }
    let _ = writeln!(
        report,
        "  item requests answered 200: {answered:.0} (sent ≈ {expected_requests:.0}), failed: {failed:.0}; Postgres item queries: {queries:.0} (distinct ids: {}); single-flight waiters: {waiters:.0}; L1 hits: {l1:.0}",
        args.cold_ids
    );
    let _ = writeln!(
        report,
        "  wrk: {:.0} req/s overall (sweep + /healthz tail), mean latency {:.0} µs, non-2xx {}, socket errors {}",
        result.requests_per_sec, result.latency_avg_us, result.non_2xx, result.socket_errors
    );
    let _ = writeln!(
        report,
        "  {} DB queries = distinct ids, all answered, zero errors",
        if pass { "PASS" } else { "FAIL" }
    );
    Ok(pass)
}

/// The write path against Postgres with fsync on and off (both with synchronous commits),
/// interleaved run by run: req/s, latency and server CPU of `POST /api/items/1–20`.
fn write_durability(
    bin: &Path,
    args: &ServerBenchArgs,
    backends: &Backends,
    report: &mut String,
) -> anyhow::Result<bool> {
    use stack::postgres::Durability;
    eprintln!("bench server: starting a second Postgres with fsync on");
    let full = TestPostgres::start_seeded_with(&backends.seed, Durability::Full)
        .context("starting Postgres with fsync on")?;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("writes.lua");
    std::fs::write(
        &script,
        r#"local n = 0
request = function()
  n = n + 1
  local body = string.format('{"name":"bench-%d","price":%d,"quantity":1}', n, n % 1000)
  local headers = {["Content-Type"] = "application/json", ["X-User-Id"] = "42"}
  return wrk.format("POST", "/api/items/" .. (n % 20 + 1), headers, body)
end
"#,
    )?;
    let modes = [
        (Durability::Full, full.url()),
        (Durability::ProcessCrash, backends.pg.url()),
    ];
    let mut results: Vec<Vec<WrkRun>> = vec![Vec::new(); modes.len()];
    for run in 0..args.runs.max(1) {
        for (m, (mode, url)) in modes.iter().enumerate() {
            let mut variant = all_variants().remove(0);
            variant.env.push((env::DATABASE_URL, url.clone()));
            let mut server = ServerProcess::start(bin, args, backends, &variant)?;
            let base = format!("http://{}/", server.addr);
            let load = |seconds| {
                Wrk::new(&base, args.connections, seconds)
                    .pinned_to(args.load_cpu)
                    .timeout_secs(10)
                    .script(&script)
            };
            load(1).run()?;
            let result = load(args.seconds).run_against(server.child.id())?;
            eprintln!(
                "  run {}/{} writes, durability {:<14} {:>8.0} req/s {:>7.0} µs mean {:>6.2} µs server CPU/req{}",
                run + 1,
                args.runs,
                mode.as_str(),
                result.requests_per_sec,
                result.latency_avg_us,
                result.cpu_us_per_request(),
                errors_note(&result)
            );
            results[m].push(result);
            server.stop();
        }
    }
    let _ = writeln!(
        report,
        "
Write path, POST /api/items/1–20 ({} connections, median of {} interleaved runs; synchronous commits in both):",
        args.connections, args.runs
    );
    let mut errors = 0;
    for (m, (mode, _)) in modes.iter().enumerate() {
        let mut lat: Vec<f64> = results[m].iter().map(|w| w.latency_avg_us).collect();
        let mut cpu: Vec<f64> = results[m].iter().map(WrkRun::cpu_us_per_request).collect();
        errors += results[m]
            .iter()
            .map(|w| w.non_2xx + w.socket_errors)
            .sum::<u64>();
        let _ = writeln!(
            report,
            "  {:<14} {:>8.0} req/s, mean latency {:>7.0} µs, server CPU {:>6.2} µs/request{}",
            mode.as_str(),
            median_rps(&results[m]),
            median(&mut lat),
            median(&mut cpu),
            match mode {
                Durability::Full => " (fsync on: `prodstack up`)",
                Durability::ProcessCrash => " (fsync off: the benchmark, HttpArena's tmpfs)",
            }
        );
    }
    let ratio = median_ratio(&results[0], &results[1], |w| w.requests_per_sec);
    let _ = writeln!(
        report,
        "  fsync on runs at {:.2}× the write rate of fsync off (median of per-run ratios); {errors} errors",
        ratio
    );
    Ok(errors == 0)
}

/// Median over runs of `metric(a[i]) / metric(b[i])`.
fn median_ratio(a: &[WrkRun], b: &[WrkRun], metric: impl Fn(&WrkRun) -> f64) -> f64 {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| metric(x) / metric(y))
        .collect();
    median(&mut ratios)
}

fn median_rps(runs: &[WrkRun]) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(|r| r.requests_per_sec).collect();
    median(&mut values)
}

fn save_report(project: &Project, report: &str) {
    let dir = project.home.results_dir();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = dir.join(format!("bench-server-{stamp}.txt"));
    match std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, report)) {
        Ok(()) => eprintln!("report saved to {}", path.display()),
        Err(err) => eprintln!("could not save the report to {}: {err}", path.display()),
    }
}
