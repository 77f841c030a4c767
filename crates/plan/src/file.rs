//! The plan file (`deploy/cpu-plan.json`): the split the compose files and HttpArena exports
//! take their cpusets from, with the bench run it came from and the costs it was solved for,
//! and reading those costs out of a `prodstack bench --json` result.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::solve::{Demand, Rules, Solution};
use super::topology::Topology;

/// The plan file, relative to the checkout.
pub const PLAN_FILE: &str = "deploy/cpu-plan.json";

/// What `prodstack plan` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    /// The bench run the costs come from.
    pub source: Source,
    pub topology: TopologySpec,
    /// CPU µs per client request of each service, as measured.
    pub demand_us_per_client_request: DemandSpec,
    /// In HttpArena's order: edge, cache, authsvc, server.
    pub services: Vec<PlannedService>,
    /// Client requests per second the split carries at the measured costs.
    pub projected_rps: u64,
    pub bottleneck: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The bench result the costs come from (the copy kept beside the plan, relative to the
    /// checkout).
    pub file: String,
    pub variant: String,
    pub authsvc: String,
    pub connections: u32,
    pub rps: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologySpec {
    pub cpus: String,
    pub smt_offset: usize,
    pub ccx_cores: usize,
    /// The most CCXs authsvc was allowed (0: no cap).
    pub authsvc_max_ccxs: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DemandSpec {
    pub edge: f64,
    pub cache: f64,
    pub authsvc: f64,
    pub server: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedService {
    pub name: String,
    pub cpus: String,
    pub cores: usize,
    /// Of its CPUs at the projected rate (1.0 = all of them).
    pub utilization: f64,
}

/// Why a plan file or a bench result cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a plan/bench JSON file: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path} has no {variant} entry at {connections} connections (it has: {found})")]
    NoEntry {
        path: String,
        variant: String,
        connections: u32,
        found: String,
    },
    #[error("{path}: the {variant} entry at {connections} connections has no cost for {service} (a bench result from before per-service costs, or a run that did not finish)")]
    NoCost {
        path: String,
        variant: String,
        connections: u32,
        service: String,
    },
}

impl PlanFile {
    pub fn parse(text: &str, path: &str) -> Result<PlanFile, FileError> {
        serde_json::from_str(text).map_err(|source| FileError::Json {
            path: path.to_string(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<PlanFile, FileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        PlanFile::parse(&text, &path.display().to_string())
    }

    /// The plan as written to disk: pretty JSON, a newline at the end.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The cpuset of `service` (empty when the plan has no such service).
    pub fn cpus(&self, service: &str) -> &str {
        self.services
            .iter()
            .find(|s| s.name == service)
            .map(|s| s.cpus.as_str())
            .unwrap_or_default()
    }

    /// A plan from a solution; figures rounded so that the file is stable.
    pub fn from_solution(
        source: Source,
        topology: &Topology,
        cpus: &str,
        rules: &Rules,
        demand: &Demand,
        solution: &Solution,
    ) -> PlanFile {
        let round = |v: f64, places: i32| {
            let f = 10f64.powi(places);
            (v * f).round() / f
        };
        PlanFile {
            source,
            topology: TopologySpec {
                cpus: cpus.to_string(),
                smt_offset: topology.smt_offset,
                ccx_cores: topology.ccx_cores,
                authsvc_max_ccxs: rules.authsvc_max_ccxs.unwrap_or(0),
            },
            demand_us_per_client_request: DemandSpec {
                edge: round(demand.edge, 2),
                cache: round(demand.cache, 2),
                authsvc: round(demand.authsvc, 2),
                server: round(demand.server, 2),
            },
            services: solution
                .services
                .iter()
                .map(|a| PlannedService {
                    name: a.service.to_string(),
                    cpus: a.cpuset.clone(),
                    cores: a.cores.len(),
                    utilization: round(a.utilization, 3),
                })
                .collect(),
            projected_rps: solution.projected_rps.round() as u64,
            bottleneck: solution.bottleneck.to_string(),
        }
    }
}

/// The part of a `prodstack bench --json` entry the planner reads.
#[derive(Debug, Deserialize)]
struct BenchEntry {
    rps: u64,
    connections: u32,
    prodstack: BenchExtras,
}

#[derive(Debug, Deserialize)]
struct BenchExtras {
    variant: String,
    #[serde(default)]
    authsvc: String,
    #[serde(default)]
    costs: Option<BenchCosts>,
}

#[derive(Debug, Deserialize)]
struct BenchCosts {
    services: Vec<BenchCost>,
}

#[derive(Debug, Deserialize)]
struct BenchCost {
    service: String,
    unit: String,
    /// `None` when the service did not say how much it did (Redis not answering `INFO`).
    count: Option<u64>,
    cpu_seconds: f64,
}

/// The costs per client request of the `variant` entry at `connections` in a bench result:
/// each service's CPU time over the client requests of that run.
pub fn demand_from_bench(
    text: &str,
    path: &str,
    variant: &str,
    connections: u32,
) -> Result<(Demand, Source), FileError> {
    let entries: Vec<BenchEntry> =
        serde_json::from_str(text).map_err(|source| FileError::Json {
            path: path.to_string(),
            source,
        })?;
    let entry = entries
        .iter()
        .find(|e| e.prodstack.variant == variant && e.connections == connections)
        .ok_or_else(|| FileError::NoEntry {
            path: path.to_string(),
            variant: variant.to_string(),
            connections,
            found: entries
                .iter()
                .map(|e| format!("{} at {}", e.prodstack.variant, e.connections))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let no_cost = |service: &str| FileError::NoCost {
        path: path.to_string(),
        variant: variant.to_string(),
        connections,
        service: service.to_string(),
    };
    let costs = entry
        .prodstack
        .costs
        .as_ref()
        .ok_or_else(|| no_cost("any service"))?;
    let client_requests = costs
        .services
        .iter()
        .find(|c| c.unit == "client request")
        .and_then(|c| c.count)
        .filter(|n| *n > 0)
        .ok_or_else(|| no_cost("edge"))?;
    // A service measured at 0 clock ticks is counted as one tick (10 ms, the sampler's
    // resolution): it used less than that, not nothing.
    let per_request = |service: &str| -> Result<f64, FileError> {
        costs
            .services
            .iter()
            .find(|c| c.service == service)
            .map(|c| c.cpu_seconds.max(0.01) * 1e6 / client_requests as f64)
            .ok_or_else(|| no_cost(service))
    };
    let demand = Demand {
        edge: per_request("edge")?,
        cache: per_request("cache")?,
        authsvc: per_request("authsvc")?,
        server: per_request("server")?,
    };
    let file = path.to_string();
    Ok((
        demand,
        Source {
            file,
            variant: variant.to_string(),
            authsvc: entry.prodstack.authsvc.clone(),
            connections,
            rps: entry.rps,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH: &str = r#"[{"framework":"prodstack","rps":10000,"connections":256,
      "prodstack":{"variant":"production","authsvc":"shared","costs":{"services":[
        {"service":"edge","unit":"client request","count":50000,"cpu_seconds":5.0,"us_per_unit":100.0},
        {"service":"authsvc","unit":"auth check","count":25000,"cpu_seconds":1.0,"us_per_unit":40.0},
        {"service":"server","unit":"forwarded request","count":40000,"cpu_seconds":2.0,"us_per_unit":50.0},
        {"service":"cache","unit":"command","count":null,"cpu_seconds":0.0,"us_per_unit":null}],
        "stack_us_per_client_request":170.0}}}]"#;

    #[test]
    fn demand_is_cpu_per_client_request_whatever_the_unit() {
        let (d, source) = demand_from_bench(BENCH, "/x/bench-1.json", "production", 256).unwrap();
        assert_eq!(d.edge, 100.0);
        assert_eq!(
            d.authsvc, 20.0,
            "1 s over 50k client requests, not over 25k checks"
        );
        assert_eq!(d.server, 40.0);
        // Redis gave no command count and 0 ticks: one tick (10 ms) over 50k requests.
        assert_eq!(d.cache, 0.2);
        assert_eq!(source.file, "/x/bench-1.json");
        assert_eq!(source.rps, 10_000);
    }

    #[test]
    fn missing_entries_and_costs_are_named() {
        let err = demand_from_bench(BENCH, "b.json", "tuned", 256)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no tuned entry at 256") && err.contains("production at 256"),
            "{err}"
        );
        let old = r#"[{"rps":1,"connections":256,"prodstack":{"variant":"production"}}]"#;
        let err = demand_from_bench(old, "b.json", "production", 256)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no cost"), "{err}");
    }
}
