//! `prodstack up / down / status / logs`: the local stack as native processes. The work is in
//! `stack::supervise`; this module maps flags to its options, generates missing data first
//! (`prodstack data`), and prints progress (stderr) and the resulting tables (stdout).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use stack::cpus::{CpuSet, CpuSplit};
use stack::nginx::Template;
use stack::postgres::Durability;
use stack::profile::EdgeKind;
use stack::supervise::{self, UpOptions};
use stack::{Profile, Sidecar};
use stack::{Service, StackState};

use stack::Project;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// `production` (HttpArena's reference settings) or `tuned` (documented tuning of the
    /// same four services).
    #[arg(long, default_value = "production", value_parser = parse_profile)]
    pub profile: Profile,
    /// `nginx` (Production/Tuned: nginx + authsvc + server) or `rust` (Engine: our own edge,
    /// JWT verified in-process).
    #[arg(long, value_enum, default_value_t = EdgeArg::Nginx)]
    pub edge: EdgeArg,
    /// With `--edge rust`: `proxy` (the edge forwards to the server process over pooled
    /// HTTP/1.1) or `fused` (one process: the server's router inside the edge). Default fused.
    #[arg(long, value_enum)]
    pub mode: Option<EngineMode>,
    /// Pin services to CPUs, e.g. `edge=0-1,authsvc=1,server=0,cache=1`; services not named
    /// keep the default split (printed on start-up). Postgres is never pinned.
    #[arg(long, value_name = "SPEC")]
    pub cpus: Option<String>,
    /// Add N to every port (8443, 9090, 6379, 8080, 5432, 9091, 9092) to run beside other
    /// services.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub ports_offset: u16,
    /// Run N app-server instances (1 to 8) behind nginx, sharing Redis and Postgres (writes
    /// invalidate every instance's L1 over Redis pub/sub). Instance k listens on 8080+k-1,
    /// its metrics on 9190+k (the first: 8080 and 9091); they share the server's CPUs and
    /// HttpArena's 256 Postgres connections.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub servers: u8,
    /// Run the last server instance in a network namespace of its own, joined to this host by
    /// two veth pairs (edge and Postgres over one, Redis over the other), so its Redis link
    /// can be cut alone (`prodstack chaos --scenario redis-partition` does). Needs
    /// --servers 2 or more and root.
    #[arg(long)]
    pub isolate_server: bool,
    /// Drop the benchmark database and load data/pgdb-seed.sql again.
    #[arg(long)]
    pub reseed: bool,
    /// The auth sidecar behind the nginx edge: `ours` (crates/authsvc, which also checks `exp`
    /// and `alg`) or `shared` (HttpArena's shared authsvc, built from
    /// ../shared/httparena/frameworks/_shared/authsvc under target/: what HttpArena's
    /// Production and Tuned entries run).
    #[arg(long, value_name = "ours|shared", default_value_t = Sidecar::Ours, conflicts_with = "authsvc_bin")]
    pub authsvc: Sidecar,
    /// Run this authsvc binary instead (same environment: JWT_SECRET, AUTHSVC_LISTEN).
    #[arg(long, value_name = "PATH")]
    pub authsvc_bin: Option<PathBuf>,
    /// Set one nginx knob on top of the profile's, e.g. `--edge-knob server_socket=unix`
    /// (repeatable; the names `bench --compare production+NAME=VALUE` takes).
    #[arg(long = "edge-knob", value_name = "NAME=VALUE", value_parser = stack::nginx::parse_knob)]
    pub edge_knobs: Vec<(String, String)>,
    /// The nginx template to render (default: deploy/nginx/nginx.conf.template of the
    /// checkout).
    #[arg(long, value_name = "PATH")]
    pub nginx_template: Option<PathBuf>,
    /// Seconds one service may take to become healthy.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// What an acknowledged write survives: `full` (fsync on: a Postgres or machine crash) or
    /// `process-crash` (fsync off, commits still synchronous: a Postgres crash, as on
    /// HttpArena's tmpfs). Applies when Postgres starts.
    #[arg(long, value_name = "MODE", default_value_t = Durability::Full)]
    pub pg_durability: Durability,
    /// Leave no supervisor running: a service that crashes stays down until the next `up`
    /// (by default `prodstack-supervisor` restarts it, with backoff).
    #[arg(long)]
    pub no_supervise: bool,
    /// Seconds (0.1 to 30) the supervisor waits before restarting a crashed service; the wait doubles,
    /// up to 30 s, while the service keeps crashing within a minute of its last restart.
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = parse_delay)]
    pub restart_delay: f64,
}

fn parse_delay(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        // Above 0, so that the doubling backs a crash loop off.
        Ok(secs) if secs.is_finite() && (0.1..=30.0).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0.1 to 30"
        )),
    }
}

fn parse_profile(text: &str) -> Result<Profile, String> {
    text.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EdgeArg {
    Nginx,
    Rust,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineMode {
    Proxy,
    Fused,
}

/// `--edge` and `--mode` as one [`EdgeKind`].
pub fn edge_kind(edge: EdgeArg, mode: Option<EngineMode>) -> anyhow::Result<EdgeKind> {
    Ok(match (edge, mode) {
        (EdgeArg::Nginx, None) => EdgeKind::Nginx,
        (EdgeArg::Nginx, Some(_)) => {
            anyhow::bail!("--mode applies to `--edge rust` only (nginx always proxies)")
        }
        (EdgeArg::Rust, Some(EngineMode::Proxy)) => EdgeKind::RustProxy,
        (EdgeArg::Rust, Some(EngineMode::Fused) | None) => EdgeKind::RustFused,
    })
}

#[derive(Debug, Args)]
pub struct DownArgs {}

#[derive(Debug, Args)]
pub struct StatusArgs {}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// postgres, cache, authsvc, server (server-2, … for the other instances) or edge.
    pub service: String,
    /// How many lines from the end.
    #[arg(long, short = 'n', default_value_t = 50)]
    pub lines: usize,
}

pub fn up(project: &Project, args: UpArgs) -> anyhow::Result<ExitCode> {
    let began = Instant::now();
    let home = &project.home;
    let mut opts = UpOptions::new(&project.project_root)?;
    opts.profile = args.profile;
    opts.edge = edge_kind(args.edge, args.mode)?;
    anyhow::ensure!(
        !(opts.edge.is_rust() && (args.authsvc_bin.is_some() || args.authsvc == Sidecar::Shared)),
        "--authsvc-bin and --authsvc shared apply to the nginx edge only: the Rust edge verifies tokens itself"
    );
    opts.ports_offset = args.ports_offset;
    opts.servers = args.servers;
    opts.isolate_server = args.isolate_server;
    opts.check_servers()?;
    opts.reseed = args.reseed;
    opts.authsvc_bin = match (args.authsvc_bin, args.authsvc) {
        (Some(path), _) => Some(path),
        (None, Sidecar::Shared) => Some(stack::sidecar::build_shared(project, &mut |line| {
            eprintln!("prodstack up: {line}")
        })?),
        (None, Sidecar::Ours) => None,
    };
    opts.start_timeout = Duration::from_secs(args.timeout.max(1));
    opts.pg_durability = args.pg_durability;
    opts.supervise = !args.no_supervise;
    opts.restart.first_delay = Duration::from_secs_f64(args.restart_delay);
    anyhow::ensure!(
        args.edge_knobs.is_empty() || !opts.edge.is_rust(),
        "--edge-knob sets nginx knobs; the Rust edge has none"
    );
    opts.nginx_knobs = args.edge_knobs;
    if let Some(path) = &args.nginx_template {
        opts.template = Template::load(path)?;
    }
    let available = CpuSet::available().context("reading this process' CPUs")?;
    opts.cpus = match &args.cpus {
        Some(spec) => CpuSplit::parse(spec, &available).map_err(anyhow::Error::msg)?,
        None => CpuSplit::default_for(&available),
    };
    eprintln!("home: {}", home.root().display());
    eprintln!(
        "CPU split: {}{}",
        opts.cpus,
        if args.cpus.is_none() {
            format!(
                " (default for the {} CPUs available: {})",
                available.len(),
                if available.len() < 8 {
                    "every service shares every CPU"
                } else {
                    "HttpArena's edge/cache/authsvc/server proportions"
                }
            )
        } else {
            String::new()
        }
    );

    let missing = supervise::missing_data(home);
    if !missing.is_empty() {
        eprintln!(
            "data missing ({}); generating it first (prodstack data)",
            missing
                .iter()
                .map(|p| p
                    .strip_prefix(home.root())
                    .unwrap_or(p)
                    .display()
                    .to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut data = datagen::Options::new(home.root());
        data.jwt_secret = opts.jwt_secret.clone();
        data.progress = true;
        let report = datagen::generate(&data).context("generating the stack's data")?;
        eprintln!("{report}");
    }

    let report = supervise::up(home, &opts, &mut |line| eprintln!("  {line}"))?;
    let rows: Vec<Vec<String>> = report
        .services
        .iter()
        .map(|s| {
            vec![
                s.state.service.to_string(),
                join_ports(&s.state.ports),
                s.state.pid().to_string(),
                s.state
                    .cpus
                    .as_ref()
                    .map(CpuSet::to_string)
                    .unwrap_or_else(|| "any".into()),
                s.action.as_str().to_string(),
                s.state.log.display().to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(&["SERVICE", "PORTS", "PID", "CPUS", "STATE", "LOG"], &rows)
    );
    let started = report
        .services
        .iter()
        .filter(|s| s.action != supervise::Action::AlreadyRunning)
        .count();
    println!(
        "stack up ({} profile, {} edge): {} started, {} already running; took {:.1}s",
        report.state.profile,
        report.state.edge,
        started,
        report.services.len() - started,
        began.elapsed().as_secs_f64()
    );
    println!("edge: {}", report.state.edge_url());
    Ok(ExitCode::SUCCESS)
}

pub fn down(project: &Project, _args: DownArgs) -> anyhow::Result<ExitCode> {
    let began = Instant::now();
    let reports = supervise::down(&project.home, &mut |line| println!("{line}"))?;
    if !reports.is_empty() {
        println!(
            "stack down: {} services handled in {:.1}s",
            reports.len(),
            began.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit code 0 when every service runs and is healthy, 1 otherwise (scriptable).
pub fn status(project: &Project, _args: StatusArgs) -> anyhow::Result<ExitCode> {
    let Some((state, rows)) = supervise::status(&project.home)? else {
        println!(
            "no stack is running from {} (start one with `prodstack up`)",
            project.home.root().display()
        );
        return Ok(ExitCode::FAILURE);
    };
    let all_healthy = rows
        .iter()
        .all(|r| r.running && matches!(r.health, Some(Ok(()))));
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.service.to_string(),
                join_ports(&r.ports),
                r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                if r.running { "yes" } else { "no" }.to_string(),
                r.restarts.to_string(),
                match &r.health {
                    Some(Ok(())) => "yes".to_string(),
                    Some(Err(reason)) => format!("no: {reason}"),
                    None => "-".to_string(),
                },
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["SERVICE", "PORTS", "PID", "RUNNING", "RESTARTS", "HEALTHY"],
            &table_rows
        )
    );
    match state
        .supervisor
        .as_ref()
        .filter(|s| s.liveness() == stack::process::Liveness::Running)
    {
        Some(supervisor) => println!(
            "supervisor: running (pid {}), log {}",
            supervisor.pid,
            supervise::watch::log_path(&project.home).display()
        ),
        None => println!(
            "supervisor: not running (crashed services stay down; `prodstack up` starts one)"
        ),
    }
    if let Some(iso) = &state.isolation {
        println!(
            "{} runs in network namespace {}: edge and Postgres over {} <-> {}, Redis over {} <-> {} ({})",
            Service::Server(iso.instance),
            iso.netns,
            iso.serve.host_ip,
            iso.serve.ns_ip,
            iso.redis.host_ip,
            iso.redis.ns_ip,
            match iso.redis_is_up() {
                Some(true) => "link up",
                Some(false) => "link down: cut off from Redis",
                None => "link missing (prodstack down, then up, makes it again)",
            }
        );
    }
    println!(
        "profile {}, edge {}, {} server instance(s), ports offset {}, up since {}; edge: {}",
        state.profile,
        state.edge,
        state.servers,
        state.ports_offset,
        stack::process::format_utc(state.started_at_unix_ms / 1000),
        state.edge_url()
    );
    Ok(if all_healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn logs(project: &Project, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let service = Service::parse(&args.service)?;
    let path = StackState::load_if_present(&project.home)?
        .and_then(|s| s.service(service).map(|e| e.log.clone()))
        .unwrap_or_else(|| supervise::log_path(&project.home, service));
    if !path.is_file() {
        anyhow::bail!(
            "no log for {service} at {} (has the stack been started from this home?)",
            path.display()
        );
    }
    println!("{}", stack::process::tail(&path, args.lines));
    Ok(ExitCode::SUCCESS)
}

fn join_ports(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A left-aligned text table.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let text = table(
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
        );
        assert_eq!(text, "A    BB\nxxx  y\nz");
    }

    #[test]
    fn edge_and_mode_make_one_kind() {
        assert_eq!(edge_kind(EdgeArg::Nginx, None).unwrap(), EdgeKind::Nginx);
        assert_eq!(edge_kind(EdgeArg::Rust, None).unwrap(), EdgeKind::RustFused);
        assert_eq!(
            edge_kind(EdgeArg::Rust, Some(EngineMode::Proxy)).unwrap(),
            EdgeKind::RustProxy
        );
        let err = edge_kind(EdgeArg::Nginx, Some(EngineMode::Fused)).unwrap_err();
        assert!(err.to_string().contains("--edge rust"), "{err}");
    }
}
