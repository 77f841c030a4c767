//! `prodstack chaos`: the production-stack load with one fault injected per scenario, and
//! proof of what the stack did meanwhile.
//!
//! Per scenario ([`scenario`]): the same h2load reads and writes as `bench` for a steady
//! window ([`run`]), the write ledger beside them ([`ledger`], over its own HTTP/2 client,
//! [`client`]), and the fault at a fixed second ([`fault`]). Afterwards: a per-second
//! timeline by class from h2load's per-request log ([`timeline`]), the ledger checked against
//! Postgres, and the scenario's expectations asserted ([`verdict`]). [`report`] writes the
//! terminal summary, JSON, Markdown and an SVG timeline per scenario. The command exits 1 when
//! any check fails.
//!
//! The stack is brought up by `chaos` itself (the bench's CPU split, HttpArena's shared
//! authsvc), validated, and taken down at the end; between scenarios every service is made
//! healthy again and the 1 s TTLs are left to expire.

pub mod client;
pub mod counters;
pub mod crowd;
pub mod fault;
pub mod ledger;
pub mod report;
pub mod run;
pub mod scenario;
pub mod timeline;
pub mod verdict;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use bench::production::{cpu_plan, parse_seconds, resolve_h2load, ProductionBenchArgs};
use clap::Args;
use stack::profile::{EdgeKind, Profile};
use stack::supervise::{self, UpOptions};
use stack::{Project, Sidecar, StackState};

use crate::report::ChaosReport;
use crate::scenario::{Scenario, FAULT_S};

#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// Scenarios to run, in order (default: all): redis-kill, redis-freeze, postgres-stop,
    /// postgres-freeze, authsvc-kill, server-kill, edge-reload, hostile-clients,
    /// redis-partition. The last runs on a stack of its own (--servers, at least 2, the last in
    /// its own network namespace: root with CAP_NET_ADMIN and iproute2 needed; left out of the
    /// default list where they are not there, with a note).
    #[arg(long, value_delimiter = ',', value_parser = Scenario::parse)]
    pub scenario: Vec<Scenario>,
    /// The load's steady window per scenario.
    #[arg(long, default_value = "20s", value_parser = parse_seconds)]
    pub window: u32,
    /// When the fault is injected, counted from the load's start.
    #[arg(long, default_value = "6s", value_parser = parse_seconds)]
    pub fault_at: u32,
    /// Connections of the reads instance (the writes get max(C/8, 8), as in `bench`).
    #[arg(long, default_value_t = 128)]
    pub connections: u32,
    /// Stack profile (production or tuned).
    #[arg(long, default_value = "production")]
    pub profile: Profile,
    /// The edge: `nginx`, or our Rust edge (`rust-proxy`: in front of the server process;
    /// `rust-fused`: the app server in its process). A Rust edge verifies tokens itself, so
    /// authsvc-kill does not apply to it, nor server-kill to `rust-fused`: the default list
    /// leaves them out, and asking for them is refused.
    #[arg(long, default_value = "nginx")]
    pub edge: EdgeKind,
    /// The auth sidecar behind nginx: `shared` (HttpArena's, what an entry runs) or `ours`.
    #[arg(long, value_name = "shared|ours", default_value_t = Sidecar::Shared)]
    pub authsvc: Sidecar,
    /// CPUs for h2load (default: the upper half of this machine's, as in `bench`).
    #[arg(long)]
    pub loadgen_cpus: Option<String>,
    /// Add N to every port (run beside other services).
    #[arg(long, default_value_t = 0)]
    pub ports_offset: u16,
    /// App-server instances behind nginx (`up --servers`); server-kill kills the first (with
    /// several, nginx moves new requests to the others).
    #[arg(long, default_value_t = 1)]
    pub servers: u8,
    /// hostile-clients: idle TLS connections in the crowd (with a tenth as many slowloris
    /// clients and a hundredth as many HTTP/2 connections of 128 unread streams).
    #[arg(long, default_value_t = 5000)]
    pub idle_connections: usize,
    /// The load generator: `h2load` on PATH, or the path of another h2load build.
    #[arg(long, default_value = "h2load")]
    pub h2load: PathBuf,
    /// Write every figure and check as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a Markdown report (and an SVG timeline per scenario beside it).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// Pause between scenarios: the 1 s TTLs expire, so each scenario starts from the same cache
/// state.
const BETWEEN_SCENARIOS: Duration = Duration::from_secs(2);

/// The window must hold the pre-fault baseline (at least 2 s after the first second of
/// handshakes), the fault, and the recovery bound plus a second to measure it in.
fn check_timing(args: &ChaosArgs) -> anyhow::Result<()> {
    ensure!(
        args.fault_at >= 3,
        "--fault-at {}s: the fault must come at least 3 s in, so a pre-fault rate can be measured",
        args.fault_at
    );
    let bound = Scenario::ALL
        .iter()
        .map(|s| s.expectation().recovery_bound_s)
        .fold(0.0, f64::max);
    let needed = f64::from(args.fault_at) + FAULT_S + bound + 1.0;
    ensure!(
        f64::from(args.window) >= needed,
        "--window {}s is too short: a fault at {} s lasts {FAULT_S} s and recovery is judged over {bound} s after it, so at least {needed} s",
        args.window,
        args.fault_at
    );
    ensure!(args.connections >= 1, "--connections must be at least 1");
    Ok(())
}

pub fn run(project: &Project, args: ChaosArgs) -> anyhow::Result<ExitCode> {
    check_timing(&args)?;
    let applies = |s: &Scenario| {
        if s.needs_isolated_server() {
            !args.edge.is_rust()
        } else {
            args.edge.services().contains(&s.service())
        }
    };
    let netns_missing = stack::netns::unavailable();
    let scenarios: Vec<Scenario> = if args.scenario.is_empty() {
        Scenario::ALL
            .into_iter()
            .filter(applies)
            .filter(|s| {
                let left_out = s.needs_isolated_server() && netns_missing.is_some();
                if left_out {
                    eprintln!(
                        "prodstack chaos: note: leaving out {s}: {}",
                        netns_missing.as_deref().unwrap_or_default()
                    );
                }
                !left_out
            })
            .collect()
    } else {
        args.scenario.clone()
    };
    if let Some(missing) = scenarios.iter().find(|s| !applies(s)) {
        bail!(
            "{missing} breaks {}, which a stack with the {} edge does not run",
            missing.service(),
            args.edge
        );
    }
    if let (Some(s), Some(why)) = (
        scenarios.iter().find(|s| s.needs_isolated_server()),
        &netns_missing,
    ) {
        bail!("{s} cannot run here: {why}");
    }
    let h2load = resolve_h2load(&args.h2load)?;
    let home = &project.home;
    if !supervise::missing_data(home).is_empty() {
        eprintln!("prodstack chaos: generating the data first (prodstack data)");
        let mut options = datagen::Options::new(home.root());
        options.progress = true;
        datagen::generate(&options).context("generating the stack's data")?;
    }
    if StackState::load_if_present(home)?.is_some_and(|state| {
        let running = stack::process::Liveness::Running;
        state.services.iter().any(|s| s.liveness() == running)
            || state
                .supervisor
                .as_ref()
                .is_some_and(|s| s.liveness() == running)
    }) {
        bail!(
            "a stack is already running in {} (prodstack down first: chaos starts, breaks and stops its own)",
            home.root().display()
        );
    }
    let plan = cpu_plan(&ProductionBenchArgs {
        loadgen_cpus: args.loadgen_cpus.clone(),
        ..Default::default()
    })?;
    let threads = plan.loadgen.as_ref().map_or(1, |l| l.len() as u32).max(1);
    let mut opts = UpOptions::new(&project.project_root)?;
    opts.profile = args.profile;
    opts.edge = args.edge;
    opts.ports_offset = args.ports_offset;
    opts.servers = args.servers;
    opts.check_servers()?;
    opts.cpus = plan.split.clone();
    // The supervisor brings killed services back, its first restart [`FAULT_S`] after the
    // crash: the scenarios' "restarted 3 s later" is the supervisor's doing, not `chaos`'.
    opts.supervise = true;
    opts.restart.first_delay = Duration::from_secs_f64(FAULT_S);
    let authsvc = match args.authsvc {
        _ if args.edge.is_rust() => "none (the Rust edge verifies tokens itself)".to_string(),
        Sidecar::Ours => Sidecar::Ours.describe().to_string(),
        Sidecar::Shared => {
            match stack::sidecar::build_shared(project, &mut |line| eprintln!("   {line}")) {
                Ok(binary) => {
                    opts.authsvc_bin = Some(binary);
                    Sidecar::Shared.describe().to_string()
                }
                Err(err @ stack::Error::Missing { .. }) => {
                    eprintln!("   !! running our authsvc instead of HttpArena's shared one: {err}");
                    format!(
                        "{} (HttpArena's sources not found)",
                        Sidecar::Ours.describe()
                    )
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the ledger's runtime")?;

    // The scenarios in order, each group on a stack of its own shape: the partition needs
    // an isolated second server instance, which the others must not run with.
    let mut groups: Vec<(bool, Vec<Scenario>)> = Vec::new();
    for &scenario in &scenarios {
        let isolated = scenario.needs_isolated_server();
        match groups.last_mut() {
            Some((shape, list)) if *shape == isolated => list.push(scenario),
            _ => groups.push((isolated, vec![scenario])),
        }
    }
    let mut results = Vec::new();
    let mut failed = None;
    for (isolated, group) in &groups {
        let mut opts = opts.clone();
        if *isolated {
            opts.servers = opts.servers.max(2);
            opts.isolate_server = true;
            opts.check_servers()?;
        }
        let setup = run::Setup {
            home,
            opts: &opts,
            h2load: &h2load,
            loadgen_cpus: plan.loadgen.as_ref().map(|c| c.to_string()),
            connections: args.connections,
            threads,
            window_s: args.window,
            fault_at_s: f64::from(args.fault_at),
            runtime: &runtime,
            crowd: fault::CrowdSetup {
                plan: crowd::CrowdPlan::new(args.idle_connections),
                cpus: plan.loadgen.clone(),
            },
        };
        let first = results.is_empty();
        if let Err(err) = run_on_one_stack(&setup, group, first, &mut results) {
            if results.is_empty() {
                return Err(err);
            }
            // The scenarios that ran still get their report; the command fails after it.
            eprintln!("prodstack chaos: {err:#}");
            failed = Some(err);
            break;
        }
    }
    let report = ChaosReport {
        setup: format!(
            "Profile {}, edge {}, {} app-server instance(s){}, authsvc: {authsvc}. Load: h2load reads -c {} -m 16 -t {threads} and writes (ids {}–{}) -c {} -m 8, {} s per scenario, fault at {} s for {FAULT_S} s. Stack CPUs {}, load generator CPUs {}. Machine: {} CPUs.",
            args.profile,
            args.edge,
            args.servers,
            if groups.iter().any(|(isolated, _)| *isolated) {
                format!(
                    " ({} on a stack of {} with the last isolated)",
                    Scenario::RedisPartition,
                    args.servers.max(2)
                )
            } else {
                String::new()
            },
            args.connections,
            run::LOAD_WRITE_IDS.start(),
            run::LOAD_WRITE_IDS.end(),
            (args.connections / 8).max(8),
            args.window,
            args.fault_at,
            plan.stack,
            plan.loadgen.as_ref().map_or_else(|| "any".to_string(), |c| c.to_string()),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ),
        scenarios: results,
    };

    println!("{}", report::summary(&report));
    for r in &report.scenarios {
        println!("\n{}: {}\n{}", r.scenario, r.description, report::checks(r));
    }
    let json = serde_json::to_string_pretty(&report)?;
    let latest = home.results_dir().join("chaos-latest.json");
    if std::fs::create_dir_all(home.results_dir())
        .and_then(|()| std::fs::write(&latest, &json))
        .is_err()
    {
        tracing::warn!(path = %latest.display(), "could not save the result");
    }
    for path in args.json.iter().chain(&args.markdown) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.markdown {
        let charts = report::write_markdown(&report, path)?;
        println!("wrote {} (+ {} timelines)", path.display(), charts.len());
    }
    if let Some(err) = failed {
        return Err(err.context(
            "a later stack of scenarios could not run (the report above has the ones that did)",
        ));
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Brings a stack up with `setup.opts`, validates it, runs `scenarios` on it (making every
/// service healthy again after each), and takes it down, also when something failed. Each
/// finished scenario's result goes to `results` at once, so an error later (in a scenario, or
/// taking the stack down) loses none of them.
fn run_on_one_stack(
    setup: &run::Setup<'_>,
    scenarios: &[Scenario],
    first: bool,
    results: &mut Vec<run::ScenarioResult>,
) -> anyhow::Result<()> {
    let home = setup.home;
    eprintln!(
        "== bringing the stack up ({} profile, {} server instance(s){})",
        setup.opts.profile,
        setup.opts.servers,
        if setup.opts.isolate_server {
            ", the last in its own network namespace"
        } else {
            ""
        }
    );
    let mut outcome = || -> anyhow::Result<()> {
        // Inside, so that a failed `up` is torn down like everything else.
        supervise::up(home, setup.opts, &mut |line| eprintln!("   {line}"))?;
        validate_stack(home)?;
        for (i, &scenario) in scenarios.iter().enumerate() {
            if i > 0 || !first {
                std::thread::sleep(BETWEEN_SCENARIOS);
            }
            eprintln!("== {scenario}: {}", scenario.describe());
            let result = run::scenario(setup, scenario)?;
            eprintln!(
                "   {}: {}",
                scenario,
                if result.passed { "pass" } else { "FAIL" }
            );
            results.push(result);
            let restarted = fault::restore(home, setup.opts)?;
            if !restarted.is_empty() {
                eprintln!(
                    "   !! had to start again after the scenario: {}",
                    restarted
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        Ok(())
    };
    let outcome = outcome();
    eprintln!("== tearing the stack down");
    let down = supervise::down(home, &mut |line| eprintln!("   {line}"));
    outcome?;
    down?;
    Ok(())
}

/// HttpArena's checks and the extended ones must pass before anything is broken.
fn validate_stack(home: &stack::Home) -> anyhow::Result<()> {
    let state = StackState::load(home)?;
    let target = validate::Target {
        base_url: state.edge_url(),
        token: std::fs::read_to_string(home.token_path())
            .with_context(|| format!("reading {}", home.token_path().display()))?
            .trim()
            .to_string(),
        database_url: stack::postgres::database_url(state.ports.postgres),
        dataset: home.dataset_path(),
    };
    let results = validate::run_checks(&target, true, |_| {});
    let failures: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    for failure in &failures {
        validate::print_result(failure);
    }
    ensure!(
        failures.is_empty(),
        "the stack failed {} of {} validation checks before any fault",
        failures.len(),
        results.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        chaos: ChaosArgs,
    }

    #[test]
    fn scenarios_and_windows_parse_and_are_checked() {
        let cli = Cli::try_parse_from([
            "chaos",
            "--scenario",
            "redis-kill,edge-reload",
            "--window",
            "10s",
            "--fault-at",
            "3s",
        ])
        .unwrap();
        assert_eq!(
            cli.chaos.scenario,
            [Scenario::RedisKill, Scenario::EdgeReload]
        );
        assert!(check_timing(&cli.chaos).is_ok());
        assert!(Cli::try_parse_from(["chaos", "--scenario", "disk-full"]).is_err());
        let short = Cli::try_parse_from(["chaos", "--window", "8s", "--fault-at", "3s"]).unwrap();
        let err = check_timing(&short.chaos).unwrap_err().to_string();
        assert!(err.contains("at least 9 s"), "{err}");
        let early = Cli::try_parse_from(["chaos", "--fault-at", "1s"]).unwrap();
        assert!(check_timing(&early.chaos).is_err());
    }
}
