//! One scenario end to end: the load (an h2load pair), the ledger and the fault at once, then
//! the timeline, the ledger's verdict against Postgres, and the checks.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bench::h2load::{self, Invocation};
use bench::production::{wait_all, Exit, LoadGenerator};
use serde::Serialize;
use stack::supervise::UpOptions;
use stack::{Home, StackState};

use bench::results::metric;

use crate::client::Connection;
use crate::counters;
use crate::fault::{self, Timing};
use crate::ledger::{self, Ledger, LedgerResult, LEDGER_IDS};
use crate::scenario::Scenario;
use crate::timeline::{Classes, Load};
use crate::verdict::{self, Check, EffectKind, Evidence};

/// h2load's writes in `chaos`: HttpArena's body, to ids 21–40 (the ledger owns 1–20).
pub const LOAD_WRITE_IDS: std::ops::RangeInclusive<u32> = 21..=40;

/// What one scenario measured and concluded.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub description: String,
    pub window_s: u32,
    pub connections: u32,
    /// The load's protocol (`HTTP/2`, or `HTTP/1.1` across an edge reload).
    pub protocol: &'static str,
    pub timing: Timing,
    /// 2xx per second before the fault.
    pub baseline_rps: f64,
    /// 2xx per second from the fault until the service was back.
    pub during_rps: f64,
    /// h2load's requests that started before the fault, while it lasted (until the service
    /// was back) and after.
    pub before: Classes,
    pub during: Classes,
    pub after: Classes,
    /// Seconds after the service was back until throughput was ≥ 90 % of the baseline.
    pub recovery_s: Option<f64>,
    /// The server's own counters while the fault lasted (injection to lift).
    pub server_during: ServerCounters,
    /// h2load's requests per second of the window, by class.
    pub timeline: Vec<Classes>,
    pub ledger: LedgerResult,
    pub checks: Vec<Check>,
    pub passed: bool,
}

/// What the server counted while a fault lasted.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ServerCounters {
    pub l1_hits: u64,
    pub redis_errors: u64,
    pub db_errors: u64,
}

/// What every scenario shares.
pub struct Setup<'a> {
    pub home: &'a Home,
    pub opts: &'a UpOptions,
    pub h2load: &'a LoadGenerator,
    pub loadgen_cpus: Option<String>,
    pub connections: u32,
    pub threads: u32,
    pub window_s: u32,
    pub fault_at_s: f64,
    pub runtime: &'a tokio::runtime::Runtime,
    /// The hostile-clients scenario's crowd.
    pub crowd: fault::CrowdSetup,
}

pub fn scenario(setup: &Setup<'_>, scenario: Scenario) -> anyhow::Result<ScenarioResult> {
    // A scenario whose fault takes long to set up runs a longer load (see its docs).
    let window_s = setup.window_s + scenario.extra_window_s(&setup.crowd.plan);
    let home = setup.home;
    let state = StackState::load(home)?;
    let token = std::fs::read_to_string(home.token_path())
        .with_context(|| format!("reading {}", home.token_path().display()))?
        .trim()
        .to_string();
    let base_url = state.edge_url();
    let scratch = home.run_dir().join("chaos");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let requests = bench::production::requests_for(home, &scratch, &base_url)?;
    let writes_list = scratch.join("chaos-writes.txt");
    let lines: String = LOAD_WRITE_IDS
        .map(|id| format!("{base_url}/api/items/{id}\n"))
        .collect();
    std::fs::write(&writes_list, lines)
        .with_context(|| format!("writing {}", writes_list.display()))?;

    let log = |kind: &str| scratch.join(format!("{scenario}-{kind}.log"));
    let mut reads = Invocation::reads(
        &requests,
        &token,
        setup.connections,
        setup.threads,
        window_s,
        log("reads"),
    );
    let mut writes = Invocation::writes(
        &requests,
        &token,
        setup.connections,
        window_s,
        log("writes"),
    );
    writes.uri_file = writes_list;
    for invocation in [&mut reads, &mut writes] {
        invocation.h1 = scenario.h1_load();
    }

    let edge = SocketAddr::from((Ipv4Addr::LOCALHOST, state.ports.edge));
    let target = hostile::Target::localhost(edge);
    let tag = format!("{}-{}", scenario, stack::process::unix_ms());
    let static_path = datagen::requests::STATIC_PATHS[0].to_string();

    let t0 = Instant::now();
    let t0_unix_us = unix_us();
    let counters = counters::Sampler::start(state.server_metrics_urls(), t0);
    let ledger = {
        let _entered = setup.runtime.enter();
        Ledger::start(
            || Connection::new(target.clone(), token.clone()),
            tag.clone(),
            static_path,
            t0,
        )
    };
    let ledger = match ledger {
        Ok(ledger) => ledger,
        Err(err) => {
            let _ = counters.finish();
            return Err(err);
        }
    };
    let mut children = Vec::new();
    for invocation in [&reads, &writes] {
        let _ = std::fs::remove_file(&invocation.log_file);
        let out = scratch.join(format!("{scenario}-{}.out", invocation.label));
        let child = std::fs::File::create(&out)
            .with_context(|| format!("creating {}", out.display()))
            .and_then(|file| {
                invocation
                    .command(&setup.h2load.program, setup.loadgen_cpus.as_deref())
                    .stdin(Stdio::null())
                    .stdout(file)
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting h2load")
            });
        match child {
            Ok(child) => children.push((invocation, child, out)),
            Err(err) => {
                // Leave nothing behind: the h2load already started, the ledger, the sampler.
                for (_, mut child, _) in children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                let _ = setup.runtime.block_on(ledger.finish());
                let _ = counters.finish();
                return Err(err);
            }
        }
    }
    let label = format!("{scenario}");
    let timeout = Duration::from_secs(u64::from(window_s) + 40);
    let (timing, exits) = std::thread::scope(|s| {
        let injector = s.spawn(|| {
            fault::inject(
                scenario,
                home,
                setup.opts,
                &setup.crowd,
                t0,
                setup.fault_at_s,
            )
        });
        let exits = wait_all(&mut children, timeout, &label, window_s);
        let timing = injector
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the fault injector panicked")));
        (timing, exits)
    });
    let records = setup.runtime.block_on(ledger.finish());
    let counters = counters.finish();
    let timing = timing?;
    for line in &timing.log {
        eprintln!("   {line}");
    }
    let exits = exits?;
    for ((invocation, _, out), exit) in children.iter().zip(&exits) {
        if let Exit::Killed { .. } = exit {
            anyhow::bail!(
                "h2load ({}) did not exit within {} s; its output is in {}",
                invocation.label,
                timeout.as_secs(),
                out.display()
            );
        }
    }

    let rows = ledger_rows(&state)?;
    let ledger = ledger::verify(&tag, &records, &rows);
    let mut logged = Vec::new();
    for invocation in [&reads, &writes] {
        let text = std::fs::read_to_string(&invocation.log_file).unwrap_or_default();
        logged.extend(h2load::parse_log(&text).0);
    }
    let load = Load::new(&logged, t0_unix_us);
    let window = f64::from(window_s);
    // The first second holds the TLS handshakes; the baseline starts after it.
    let baseline_rps = load.rate_2xx(1.0, timing.injected_s);
    let recovery_s = load.recovery_after(timing.back_s, baseline_rps, window);
    let (from, to) = (timing.injected_s, timing.lifted_s);
    let server_during = ServerCounters {
        l1_hits: counters.increase(metric::L1_HITS, from, to),
        redis_errors: counters.increase(metric::REDIS_ERRORS, from, to),
        db_errors: counters.increase(metric::DB_ERRORS, from, to),
    };
    let expectation = scenario.expectation();
    let checks = verdict::checks(&Evidence {
        expectation: &expectation,
        load: &load,
        records: &records,
        ledger: &ledger,
        timing: &timing,
        baseline_rps,
        recovery_s,
        server_during: &server_during,
        kind: match scenario {
            Scenario::RedisKill | Scenario::RedisFreeze | Scenario::RedisPartition => {
                EffectKind::RedisErrors
            }
            Scenario::PostgresFreeze => EffectKind::HeldWrites,
            Scenario::EdgeReload => EffectKind::OldWorkersExited,
            Scenario::HostileClients => EffectKind::CrowdOpened,
            _ => EffectKind::Errors,
        },
    });
    let passed = checks.iter().all(|c| c.passed);
    Ok(ScenarioResult {
        scenario,
        description: scenario.describe(),
        window_s,
        connections: setup.connections,
        protocol: if scenario.h1_load() {
            "HTTP/1.1"
        } else {
            "HTTP/2"
        },
        before: load.classes(f64::MIN, timing.injected_s),
        during: load.classes(timing.injected_s, timing.back_s),
        after: load.classes(timing.back_s, f64::MAX),
        timeline: load.per_second(window_s),
        during_rps: load.rate_2xx(timing.injected_s, timing.back_s),
        timing,
        baseline_rps,
        recovery_s,
        server_during,
        ledger,
        checks,
        passed,
    })
}

fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The ledger ids' names as Postgres holds them now.
fn ledger_rows(state: &StackState) -> anyhow::Result<BTreeMap<u32, String>> {
    let psql = stack::postgres::PgBin::find()?.tool("psql");
    let url = stack::postgres::database_url(state.ports.postgres);
    let query = format!(
        "SELECT id, name FROM items WHERE id BETWEEN {} AND {} ORDER BY id",
        LEDGER_IDS.start(),
        LEDGER_IDS.end()
    );
    let out = std::process::Command::new(&psql)
        .args(["-X", "-At", "-F", "\t", "-d", &url, "-c", &query])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .with_context(|| format!("running {}", psql.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "reading the ledger's rows: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (id, name) = line.split_once('\t')?;
            Some((id.trim().parse().ok()?, name.to_string()))
        })
        .collect())
}

/// `<stem>-<scenario>.svg` beside the markdown report.
pub fn chart_path(markdown: &Path, scenario: Scenario) -> PathBuf {
    let stem = markdown
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "chaos".into());
    markdown.with_file_name(format!("{stem}-{scenario}.svg"))
}
