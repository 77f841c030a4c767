//! The CPU split of the generated compose files, from the committed plan file
//! (`deploy/cpu-plan.json`, written by `prodstack plan` from a bench result's measured
//! per-service costs), and the reasoning every compose header and README carries.
//!
//! The four-service stack takes each service's cpuset from the plan as it is. The Engine stack
//! keeps the cache's core and gives the fused engine every other CPU of the plan's CPU list.
//! The plan is compiled in (`include_str!`), so a changed plan rebuilds the renderer, and a
//! test fails while the committed compose files do not match it.

use std::fmt::Write as _;
use std::sync::OnceLock;

use plan::PlanFile;
use stack::CpuSet;

/// The committed plan file.
const PLAN_JSON: &str = include_str!("../../../../deploy/cpu-plan.json");

/// The committed plan.
pub fn plan() -> anyhow::Result<&'static PlanFile> {
    static PLAN: OnceLock<Result<PlanFile, String>> = OnceLock::new();
    PLAN.get_or_init(|| PlanFile::parse(PLAN_JSON, plan::PLAN_FILE).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `service`'s cpuset in the four-service stack.
pub fn cpuset(service: &str) -> anyhow::Result<String> {
    let plan = plan()?;
    let cpus = plan.cpus(service);
    anyhow::ensure!(
        !cpus.is_empty(),
        "{} has no cpuset for `{service}`",
        plan::PLAN_FILE
    );
    Ok(cpus.to_string())
}

/// `service`'s cpuset in the Engine stack: the cache's core of the plan; the edge gets the
/// rest of the plan's CPUs.
pub fn engine_cpuset(service: &str) -> anyhow::Result<String> {
    let plan = plan()?;
    let cache = CpuSet::parse(&cpuset("cache")?).map_err(anyhow::Error::msg)?;
    if service == "cache" {
        return Ok(cache.to_string());
    }
    let all = CpuSet::parse(&plan.topology.cpus).map_err(anyhow::Error::msg)?;
    let rest: Vec<usize> = all
        .cpus()
        .iter()
        .copied()
        .filter(|c| !cache.cpus().contains(c))
        .collect();
    CpuSet::from_cpus(rest)
        .map(|s| s.to_string())
        .ok_or_else(|| anyhow::anyhow!("the plan leaves the engine no CPU"))
}

/// How many logical CPUs the edge gets: nginx's worker count.
pub fn edge_workers() -> anyhow::Result<usize> {
    let set = CpuSet::parse(&cpuset("edge")?).map_err(anyhow::Error::msg)?;
    Ok(set.len())
}

/// `(service, cpuset)` of the four-service stack, in HttpArena's order.
pub fn stack_split() -> anyhow::Result<Vec<(String, String)>> {
    plan::solve::SERVICES
        .iter()
        .map(|s| Ok((s.to_string(), cpuset(s)?)))
        .collect()
}

/// `(service, cpuset)` of the Engine stack.
pub fn engine_split() -> anyhow::Result<Vec<(String, String)>> {
    ["edge", "cache"]
        .iter()
        .map(|s| Ok((s.to_string(), engine_cpuset(s)?)))
        .collect()
}

fn logical(set: &str) -> usize {
    CpuSet::parse(set).map(|s| s.len()).unwrap_or(0)
}

/// The box the plan splits, as the headers describe it.
fn box_line(plan: &PlanFile) -> String {
    let cpus = CpuSet::parse(&plan.topology.cpus)
        .map(|s| s.len())
        .unwrap_or(0);
    let owner = if plan.topology.cpus == plan::topology::HTTPARENA_CPUS {
        "HttpArena's box gives the services"
    } else {
        "The plan splits"
    };
    format!(
        "{owner} the {cpus} logical CPUs {};\n\
         the SMT sibling of CPU N is N+{} and a CCX (one L3) is {} cores. Whole SMT pairs, every\n\
         CPU used once:",
        plan.topology.cpus, plan.topology.smt_offset, plan.topology.ccx_cores
    )
}

/// Why the four-service split is what it is (compose header comment, README).
pub fn reasoning() -> anyhow::Result<String> {
    let plan = plan()?;
    let mut text = format!(
        "CPU split, from {} (written by `prodstack plan`).\n{}\n\n",
        plan::PLAN_FILE,
        box_line(plan)
    );
    for s in &plan.services {
        let _ = writeln!(
            text,
            "  {:<8} {:<14} {:>2} {} / {:>2} logical   ({:.0} % busy at the projected rate)",
            s.name,
            s.cpus,
            s.cores,
            if s.cores == 1 { "core " } else { "cores" },
            s.cores * 2,
            s.utilization * 100.0
        );
    }
    let d = &plan.demand_us_per_client_request;
    let cap = match plan.topology.authsvc_max_ccxs {
        0 => "authsvc may span any number of them.".to_string(),
        1 => "authsvc gets at most one: the reference's got slower past 4 cores (the fifth sits\n\
              behind another L3)."
            .to_string(),
        n => format!("authsvc gets at most {n}."),
    };
    let _ = write!(
        text,
        "\nMeasured by `prodstack bench` ({}): {} at {} connections,\n\
         {} rps, authsvc: {}.\n\
         CPU µs per client request: edge {}, authsvc {}, server {}, cache {}.\n\
         Projected: {} rps on these CPUs, {} first at its ceiling.\n\
         \n\
         Why. A service with n logical CPUs carries n x 10^6 / (its µs per client request)\n\
         requests per second, and the stack carries the least of them; the split maximizes\n\
         that least capacity, then the next (the reference entry's tuning finding: edge,\n\
         authsvc and the server should reach their ceilings together). authsvc and the server\n\
         get whole CCXs, since their runtimes share state.\n\
         {cap}\n\
         nginx workers share nothing, so the edge and Redis take the cores left. Re-measure on\n\
         the 64-CPU box (`prodstack bench`, then `prodstack plan`) before trusting the\n\
         projection. Postgres stays unpinned, as in HttpArena's harness.",
        plan.source.file,
        plan.source.variant,
        plan.source.connections,
        plan.source.rps,
        plan.source.authsvc,
        d.edge,
        d.authsvc,
        d.server,
        d.cache,
        plan.projected_rps,
        plan.bottleneck
    );
    Ok(text)
}

/// Why the engine's split is what it is (engine compose header comment, engine README).
pub fn engine_reasoning() -> anyhow::Result<String> {
    let plan = plan()?;
    let edge = engine_cpuset("edge")?;
    let cache = engine_cpuset("cache")?;
    Ok(format!(
        "CPU split. {}\n\
\n\
\x20 edge     {edge:<24} {:>2} cores / {:>2} logical   (every core but the cache's)\n\
\x20 cache    {cache:<24} {:>2} core  / {:>2} logical   (the same core as in the 4-service stack)\n\
\n\
Why. The engine is one process doing what nginx, authsvc and the server do in three: TLS and\n\
HTTP/2, static files, JWT verification and the app, with no loopback hop between them. In the\n\
four-service stack those three share the CPUs the cache does not use; here every part of a\n\
request runs in the edge's process, so the edge gets all of them. The cache stays exactly as in\n\
the four-service stack (same image, seed entrypoint, health check and core): the reference\n\
entry's Redis used 0.14 logical CPUs per 100k rps (docker stats: 32 %) because the process-wide\n\
L1 absorbs the reads, so a second core would idle, and leaving it in place means an engine run\n\
and a production run differ only in what serves the requests. EDGE_WORKERS keeps its default,\n\
the CPUs of the cpuset; SERVER_WORKERS=4, since in fused mode the server's runtime only drives\n\
the Postgres and Redis connections (4 pipelined read connections) and the :8080 probe. The edge's cpuset spans all eight CCXs, so its one\n\
L1 map is shared across L3s: one process can only use the box by spanning it, and keeping that\n\
map shared is what makes a write's invalidation reach every reader. This split is reasoned,\n\
not measured: re-measure on the 64-CPU box (`prodstack bench` reports per-service CPU) before\n\
changing it. Postgres stays unpinned, as in HttpArena's harness.",
        box_line(plan),
        logical(&edge) / 2,
        logical(&edge),
        logical(&cache) / 2,
        logical(&cache),
    ))
}

/// `| service | cpuset | cores | logical CPUs |` rows of a split.
pub fn rows(split: &[(String, String)]) -> String {
    let mut rows = String::new();
    for (service, set) in split {
        let n = logical(set);
        let _ = writeln!(rows, "| `{service}` | `{set}` | {} | {n} |", n / 2);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench result the committed plan was solved from.
    const SOURCE: &str = include_str!("../../../../deploy/cpu-plan.bench.json");

    /// `prodstack plan --from deploy/cpu-plan.bench.json` gives the committed plan, byte for
    /// byte: the plan file is what the solver makes of those measured costs.
    #[test]
    fn the_committed_plan_is_the_solvers_answer_to_its_bench_result() {
        let committed = plan().unwrap();
        let args = plan::PlanArgs {
            from: None,
            variant: committed.source.variant.clone(),
            connections: committed.source.connections,
            cpus: committed.topology.cpus.clone(),
            smt_offset: committed.topology.smt_offset,
            ccx_cores: committed.topology.ccx_cores,
            authsvc_max_ccxs: committed.topology.authsvc_max_ccxs,
            out: None,
            check: true,
        };
        let solved = plan::plan_from_bench(SOURCE, &committed.source.file, &args).unwrap();
        assert_eq!(solved.to_json(), PLAN_JSON);
    }

    #[test]
    fn the_splits_use_every_cpu_of_the_plan_once() {
        let plan = plan().unwrap();
        let all = CpuSet::parse(&plan.topology.cpus).unwrap();
        for split in [stack_split().unwrap(), engine_split().unwrap()] {
            let mut cpus: Vec<usize> = split
                .iter()
                .flat_map(|(_, set)| CpuSet::parse(set).unwrap().cpus().to_vec())
                .collect();
            cpus.sort_unstable();
            assert_eq!(cpus, all.cpus(), "{split:?}");
        }
        assert_eq!(engine_cpuset("cache").unwrap(), cpuset("cache").unwrap());
        assert!(reasoning().unwrap().contains(&plan.source.file));
    }
}
