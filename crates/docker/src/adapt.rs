//! What a compose file asks for that this host cannot give, as an override that lowers exactly
//! that and nothing else.
//!
//! HttpArena's compose files pin services to CPUs of its 64-CPU host (`cpuset: "0-18,64-82"`)
//! and raise resource limits (`ulimits: memlock: -1, nofile: 1048576`). On a smaller host the
//! engine refuses CPUs it does not have ("Requested CPUs are not available"), and where the
//! host's hard limits are lower and cannot be raised (this project's build machines: memlock
//! 8 MiB, nofile 20,000, `setrlimit` EPERM even as root) runc refuses to start the container.
//! [`Adaptation::for_files`] reads the files as compose merges them, and writes an override
//! that gives such a service every CPU this process may use and limits at the host's ceiling.
//! `docker-test` passes it with `-f`; the private engine's `docker compose` shim adds it for
//! scripts that call compose themselves (HttpArena's `validate.sh`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_yaml::Value;
use stack::CpuSet;

use crate::{DockerError, Result};

/// What this host can give.
#[derive(Debug, Clone)]
pub struct Host {
    pub cpus: CpuSet,
    /// Hard limits by compose's ulimit name (`nofile`, `memlock`, …); `None` = unlimited.
    pub hard_limits: BTreeMap<String, Option<u64>>,
}

const LIMITS: [(&str, libc::__rlimit_resource_t); 6] = [
    ("nofile", libc::RLIMIT_NOFILE),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("nproc", libc::RLIMIT_NPROC),
    ("core", libc::RLIMIT_CORE),
    ("stack", libc::RLIMIT_STACK),
    ("rtprio", libc::RLIMIT_RTPRIO),
];

/// The CPUs to give a service whose cpuset this host lacks, instead of all of them (e.g. the
/// stack's half while a load generator runs on the other: HttpArena's benchmark.sh).
pub const CPUS_ENV: &str = "PRODSTACK_ADAPT_CPUS";

impl Host {
    /// This process' CPUs (or [`CPUS_ENV`]'s, within them) and hard limits (containers
    /// inherit no more than these).
    pub fn current() -> Result<Self> {
        let mut cpus = CpuSet::available()
            .map_err(|e| DockerError::Invalid(format!("reading this process' CPUs: {e}")))?;
        if let Some(list) = std::env::var(CPUS_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            let chosen = CpuSet::parse(&list)
                .map_err(|e| DockerError::Invalid(format!("{CPUS_ENV}={list}: {e}")))?;
            if !chosen.cpus().iter().all(|c| cpus.cpus().contains(c)) {
                return Err(DockerError::Invalid(format!(
                    "{CPUS_ENV}={list} names CPUs this process may not use ({cpus})"
                )));
            }
            cpus = chosen;
        }
        let mut hard_limits = BTreeMap::new();
        for (name, resource) in LIMITS {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes the struct we own.
            if unsafe { libc::getrlimit(resource, &mut limit) } == 0 {
                let hard = (limit.rlim_max != libc::RLIM_INFINITY).then_some(limit.rlim_max);
                hard_limits.insert(name.to_string(), hard);
            }
        }
        Ok(Self { cpus, hard_limits })
    }
}

/// The override, and what it changes in words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Adaptation {
    pub yaml: String,
    pub changes: Vec<String>,
}

/// One service as compose sees it after merging the files: its cpuset and ulimits.
#[derive(Debug, Default, Clone)]
struct Wants {
    cpuset: Option<String>,
    ulimits: BTreeMap<String, (Option<u64>, Option<u64>)>,
}

/// A ulimit value: `-1`, `N`, or `{soft, hard}`; `None` = unlimited.
fn limit_pair(value: &Value) -> Option<(Option<u64>, Option<u64>)> {
    let one = |v: &Value| -> Option<Option<u64>> {
        match v {
            Value::Number(n) if n.as_i64() == Some(-1) => Some(None),
            Value::Number(n) => n.as_u64().map(Some),
            Value::String(s) if s.trim() == "-1" || s.trim() == "unlimited" => Some(None),
            Value::String(s) => s.trim().parse().ok().map(Some),
            _ => None,
        }
    };
    match value {
        Value::Mapping(map) => {
            let soft = one(map.get("soft")?)?;
            let hard = one(map.get("hard")?)?;
            Some((soft, hard))
        }
        other => one(other).map(|v| (v, v)),
    }
}

fn exceeds(wanted: Option<u64>, ceiling: Option<u64>) -> bool {
    match (wanted, ceiling) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(w), Some(c)) => w > c,
    }
}

fn show(limit: Option<u64>) -> String {
    limit.map_or("unlimited".into(), |n| n.to_string())
}

impl Adaptation {
    /// The override for `files` (in compose's `-f` order) on `host`; empty when the host can
    /// give everything.
    pub fn for_files(files: &[&Path], host: &Host) -> Result<Self> {
        let mut services: BTreeMap<String, Wants> = BTreeMap::new();
        for file in files {
            let text = std::fs::read_to_string(file)
                .map_err(|e| DockerError::Invalid(format!("reading {}: {e}", file.display())))?;
            let doc: Value = serde_yaml::from_str(&text).map_err(|e| {
                DockerError::Invalid(format!("{} is not YAML: {e}", file.display()))
            })?;
            let Some(Value::Mapping(list)) = doc.get("services") else {
                continue;
            };
            for (name, service) in list {
                let Some(name) = name.as_str() else { continue };
                let wants = services.entry(name.to_string()).or_default();
                if let Some(cpuset) = service.get("cpuset").and_then(Value::as_str) {
                    wants.cpuset = Some(cpuset.to_string());
                }
                if let Some(Value::Mapping(limits)) = service.get("ulimits") {
                    for (limit, value) in limits {
                        if let (Some(limit), Some(pair)) = (limit.as_str(), limit_pair(value)) {
                            wants.ulimits.insert(limit.to_string(), pair);
                        }
                    }
                }
            }
        }
        Ok(Self::for_services(&services, host))
    }

    fn for_services(services: &BTreeMap<String, Wants>, host: &Host) -> Self {
        let mut yaml = String::new();
        let mut changes = Vec::new();
        for (name, wants) in services {
            let mut lines = String::new();
            if let Some(cpuset) = &wants.cpuset {
                let fits = CpuSet::parse(cpuset)
                    .is_ok_and(|set| set.cpus().iter().all(|c| host.cpus.cpus().contains(c)));
                if !fits {
                    let _ = writeln!(lines, "    cpuset: \"{}\"", host.cpus);
                    changes.push(format!(
                        "{name}: cpuset {cpuset} → {} (this host's CPUs)",
                        host.cpus
                    ));
                }
            }
            let mut limits = String::new();
            for (limit, (soft, hard)) in &wants.ulimits {
                let Some(ceiling) = host.hard_limits.get(limit).copied() else {
                    continue;
                };
                if !exceeds(*hard, ceiling) && !exceeds(*soft, ceiling) {
                    continue;
                }
                let Some(top) = ceiling else { continue };
                let new_soft = soft.map_or(top, |s| s.min(top));
                let _ = writeln!(
                    limits,
                    "      {limit}:\n        soft: {new_soft}\n        hard: {top}"
                );
                changes.push(format!(
                    "{name}: ulimit {limit} {}/{} → {new_soft}/{top} (this host's hard limit)",
                    show(*soft),
                    show(*hard)
                ));
            }
            if !limits.is_empty() {
                let _ = write!(lines, "    ulimits:\n{limits}");
            }
            if !lines.is_empty() {
                let _ = write!(yaml, "  {name}:\n{lines}");
            }
        }
        if yaml.is_empty() {
            return Self::default();
        }
        Self {
            yaml: format!(
                "# prodstack: what this host cannot give, lowered to what it has (nothing else).\nservices:\n{yaml}"
            ),
            changes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host {
            cpus: CpuSet::parse("0-1").unwrap(),
            hard_limits: BTreeMap::from([
                ("nofile".to_string(), Some(20_000)),
                ("memlock".to_string(), Some(8 << 20)),
                ("core".to_string(), None),
            ]),
        }
    }

    #[test]
    fn lowers_only_what_the_host_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yml");
        std::fs::write(
            &file,
            "services:\n  edge:\n    cpuset: \"0-18,64-82\"\n    ulimits:\n      memlock: -1\n      nofile:\n        soft: 1048576\n        hard: 1048576\n      core: -1\n  small:\n    cpuset: \"1\"\n    ulimits:\n      nofile: 1024\n  none:\n    image: x\n",
        )
        .unwrap();
        let a = Adaptation::for_files(&[&file], &host()).unwrap();
        let doc: Value = serde_yaml::from_str(&a.yaml).unwrap();
        let edge = &doc["services"]["edge"];
        assert_eq!(edge["cpuset"], "0-1");
        assert_eq!(edge["ulimits"]["memlock"]["hard"], 8u64 << 20);
        assert_eq!(edge["ulimits"]["nofile"]["soft"], 20_000);
        assert!(
            edge["ulimits"].get("core").is_none(),
            "core is unlimited here"
        );
        assert!(doc["services"].get("small").is_none(), "{}", a.yaml);
        assert!(doc["services"].get("none").is_none());
        assert_eq!(a.changes.len(), 3, "{:?}", a.changes);
    }

    #[test]
    fn later_files_win_and_a_fitting_file_needs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("a.yml");
        let over = dir.path().join("b.yml");
        std::fs::write(&base, "services:\n  s:\n    cpuset: \"0-63\"\n").unwrap();
        std::fs::write(&over, "services:\n  s:\n    cpuset: \"0\"\n").unwrap();
        assert!(Adaptation::for_files(&[&base, &over], &host())
            .unwrap()
            .is_empty());
        assert!(!Adaptation::for_files(&[&base], &host()).unwrap().is_empty());
    }
}
