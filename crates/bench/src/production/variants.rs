//! What one `bench` run compares: the variants (the profiles, the Rust edge's modes, each
//! with optional environment overrides) and the CPU split between the stack and the load
//! generator.

use std::path::PathBuf;

use anyhow::{ensure, Context as _};
use stack::cpus::{CpuSet, CpuSplit};
use stack::profile::{EdgeKind, Profile};
use stack::Sidecar;

use super::ProductionBenchArgs;

/// One configuration of the stack to benchmark.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub profile: Profile,
    pub edge: EdgeKind,
    pub authsvc: Authsvc,
    /// Extra environment for the edge process (`engine-fused+EDGE_RUNTIME=multi-thread`).
    pub edge_env: Vec<(String, String)>,
    /// nginx knobs on top of the profile's (`production+ssl_buffer_size=4k`).
    pub nginx_knobs: Vec<(String, String)>,
    /// Another app-server binary (`server=PATH`: a build with other features); `None`: ours.
    pub server_bin: Option<PathBuf>,
    /// Extra environment for the app server (`production+SERVER_HEAP_TRIM_MS=0`).
    pub server_env: Vec<(String, String)>,
}

/// The auth sidecar a variant runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authsvc {
    /// Ours or HttpArena's shared one (built from its sources on first use).
    Sidecar(Sidecar),
    /// Another authsvc-compatible binary.
    Bin(PathBuf),
    /// None: the Rust edge verifies tokens in its own process.
    InProcess,
    /// Whatever the stack `--attach` benchmarks runs (it is not restarted).
    Attached,
}

impl Authsvc {
    /// How the reports name it.
    pub fn describe(&self) -> String {
        match self {
            Authsvc::Sidecar(sidecar) => sidecar.describe().to_string(),
            Authsvc::Bin(path) => format!("the binary {}", path.display()),
            Authsvc::InProcess => "none (the Rust edge verifies tokens in-process)".into(),
            Authsvc::Attached => "the attached stack's (--attach: not chosen by this run)".into(),
        }
    }

    /// `--authsvc-bin` when given, else `--authsvc` (nothing with `--attach`).
    fn from_args(args: &ProductionBenchArgs) -> Authsvc {
        match &args.authsvc_bin {
            _ if args.attach => Authsvc::Attached,
            Some(path) => Authsvc::Bin(path.clone()),
            None => Authsvc::Sidecar(args.authsvc),
        }
    }
}

/// The Engine-category variants: our Rust edge in each mode, production's other settings.
pub(super) const ENGINE_VARIANTS: [(&str, EdgeKind); 2] = [
    ("engine-proxy", EdgeKind::RustProxy),
    ("engine-fused", EdgeKind::RustFused),
];

impl Variant {
    /// `profile` behind nginx with this run's sidecar and nothing else changed: what each
    /// nginx variant starts from.
    fn nginx(name: impl Into<String>, profile: Profile, args: &ProductionBenchArgs) -> Self {
        Self {
            name: name.into(),
            profile,
            edge: EdgeKind::Nginx,
            authsvc: Authsvc::from_args(args),
            edge_env: Vec::new(),
            nginx_knobs: Vec::new(),
            server_bin: None,
            server_env: Vec::new(),
        }
    }
}

pub(super) fn variants(args: &ProductionBenchArgs) -> anyhow::Result<Vec<Variant>> {
    if args.compare.is_empty() {
        return Ok(vec![Variant::nginx(
            args.profile.as_str(),
            args.profile,
            args,
        )]);
    }
    ensure!(
        !args.attach,
        "--compare restarts the stack per variant; it cannot --attach"
    );
    args.compare
        .iter()
        .map(|spec| {
            if let Some(what) = spec.strip_prefix("authsvc=") {
                let (name, authsvc) = match what.parse::<Sidecar>() {
                    Ok(sidecar) => (format!("authsvc:{sidecar}"), Authsvc::Sidecar(sidecar)),
                    Err(_) => {
                        let path = binary(spec, what, "or use authsvc=ours, authsvc=shared")?;
                        let name = format!(
                            "authsvc:{}",
                            path.file_name().and_then(|n| n.to_str()).unwrap_or("bin")
                        );
                        (name, Authsvc::Bin(path))
                    }
                };
                Ok(Variant {
                    authsvc,
                    ..Variant::nginx(name, args.profile, args)
                })
            } else if let Some(what) = spec.strip_prefix("server=") {
                Ok(Variant {
                    server_bin: Some(binary(spec, what, "give the path of a server binary")?),
                    // The spec itself: two builds are both called `server`.
                    ..Variant::nginx(spec, args.profile, args)
                })
            } else if let Some(variant) = engine_variant(spec) {
                variant
            } else {
                let (base, knobs) = spec.split_once('+').unwrap_or((spec, ""));
                let profile: Profile = base.parse().map_err(|e: String| {
                    anyhow::anyhow!(
                        "{e}, or one of engine-proxy, engine-fused, authsvc=ours|shared|PATH, server=PATH"
                    )
                })?;
                let (server_env, nginx_knobs) = profile_settings(spec, knobs)?;
                let name = if nginx_knobs.is_empty() && server_env.is_empty() {
                    profile.as_str()
                } else {
                    spec
                };
                Ok(Variant {
                    nginx_knobs,
                    server_env,
                    ..Variant::nginx(name, profile, args)
                })
            }
        })
        .collect()
}

/// The absolute path of the binary `what` a `--compare` `spec` names, which must exist and
/// not be a script (the stack knows its processes by executable), checked before any run.
fn binary(spec: &str, what: &str, hint: &str) -> anyhow::Result<PathBuf> {
    let path = std::path::absolute(what).with_context(|| format!("resolving {what}"))?;
    ensure!(path.is_file(), "--compare {spec}: no such file ({hint})");
    stack::supervise::check_not_a_script(&path)
        .map_err(|e| anyhow::anyhow!("--compare {spec}: {e}"))?;
    Ok(path)
}

/// The `+NAME=VALUE` settings of a profile variant: `SERVER_*` environment for the app
/// server (`production+SERVER_HEAP_TRIM_MS=0`), and nginx knobs
/// (`production+ssl_buffer_size=4k`), checked against the knobs the template has.
fn profile_settings(spec: &str, text: &str) -> anyhow::Result<(Pairs, Pairs)> {
    let mut server_env = Vec::new();
    let mut knobs = Vec::new();
    for setting in text.split('+').filter(|s| !s.is_empty()) {
        match setting.split_once('=') {
            Some((key, value)) if key.starts_with("SERVER_") => {
                server_env.push(server_setting(spec, key, value)?)
            }
            _ => knobs.push(
                stack::nginx::parse_knob(setting)
                    .map_err(|e| anyhow::anyhow!("--compare {spec}: {e}"))?,
            ),
        }
    }
    Ok((server_env, knobs))
}

/// `KEY=VALUE` for the app server, when KEY is one of its tuning variables: a misspelt name
/// would run the same server as the baseline under another name.
fn server_setting(spec: &str, key: &str, value: &str) -> anyhow::Result<(String, String)> {
    ensure!(
        contract::env::SERVER_TUNING.contains(&key),
        "--compare {spec}: the app server reads no `{key}` (its settings: {})",
        contract::env::SERVER_TUNING.join(", ")
    );
    Ok((key.to_string(), value.to_string()))
}

/// Settings as (name, value) pairs.
type Pairs = Vec<(String, String)>;

/// `engine-proxy` / `engine-fused`, optionally with `+NAME=VALUE` settings; `None` when
/// `spec` names no engine variant.
pub(super) fn engine_variant(spec: &str) -> Option<anyhow::Result<Variant>> {
    let (base, settings) = spec.split_once('+').unwrap_or((spec, ""));
    let (_, edge) = ENGINE_VARIANTS.iter().find(|(name, _)| *name == base)?;
    Some(
        engine_settings(spec, *edge, settings).map(|(edge_env, server_env)| Variant {
            name: spec.to_string(),
            profile: Profile::Production,
            edge: *edge,
            authsvc: Authsvc::InProcess,
            edge_env,
            nginx_knobs: Vec::new(),
            server_bin: None,
            server_env,
        }),
    )
}

/// The `+NAME=VALUE` settings of an engine variant: the edge's environment and the app
/// server's. `SERVER_*` settings go to the process that runs the app server: the separate
/// server behind the proxy, the edge itself when fused.
fn engine_settings(spec: &str, edge: EdgeKind, text: &str) -> anyhow::Result<(Pairs, Pairs)> {
    let (mut edge_env, mut server_env) = (Vec::new(), Vec::new());
    for setting in text.split('+').filter(|s| !s.is_empty()) {
        let (key, value) = setting
            .split_once('=')
            .with_context(|| format!("--compare {spec}: `{setting}` is not NAME=VALUE"))?;
        if key.starts_with("SERVER_") {
            let pair = server_setting(spec, key, value)?;
            match edge {
                EdgeKind::RustFused => edge_env.push(pair),
                _ => server_env.push(pair),
            }
        } else {
            ensure!(
                ["EDGE_", "JWT_"].iter().any(|p| key.starts_with(p)),
                "--compare {spec}: only EDGE_*, SERVER_* and JWT_* settings apply to the edge"
            );
            edge_env.push((key.to_string(), value.to_string()));
        }
    }
    Ok((edge_env, server_env))
}

/// How the machine's CPUs are shared between the stack and the load generator.
#[derive(Debug, Clone)]
pub struct CpuPlan {
    pub stack: CpuSet,
    pub loadgen: Option<CpuSet>,
    pub split: CpuSplit,
}

pub fn cpu_plan(args: &ProductionBenchArgs) -> anyhow::Result<CpuPlan> {
    let available = CpuSet::available().context("reading this process' CPUs")?;
    let loadgen = match &args.loadgen_cpus {
        Some(list) => {
            Some(CpuSet::parse(list).map_err(|e| anyhow::anyhow!("--loadgen-cpus: {e}"))?)
        }
        None if available.len() >= 2 => {
            let cpus = available.cpus();
            CpuSet::from_cpus(cpus[cpus.len() / 2..].to_vec())
        }
        None => None,
    };
    let stack = match &loadgen {
        Some(lg) => CpuSet::from_cpus(
            available
                .cpus()
                .iter()
                .copied()
                .filter(|c| !lg.cpus().contains(c))
                .collect(),
        )
        .unwrap_or_else(|| available.clone()),
        None => available.clone(),
    };
    let split = match &args.cpus {
        Some(spec) => CpuSplit::parse(spec, &available).map_err(|e| anyhow::anyhow!(e))?,
        None => CpuSplit::default_for(&stack),
    };
    Ok(CpuPlan {
        stack,
        loadgen,
        split,
    })
}
