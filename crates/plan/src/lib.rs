//! `prodstack plan`: the Docker CPU split, computed from measured costs instead of forecast.
//!
//! It reads what each service spent per client request in a bench result (`prodstack bench`
//! writes every result to `$PRODSTACK_HOME/results/`, the newest also as
//! `bench-latest.json`), solves the split of a CPU list that maximizes the stack's capacity
//! ([`solve`], over the [`topology`] of whole cores and CCXs), prints each service's CPUs,
//! projected utilization and the projected rps, and writes the plan file ([`file`],
//! `deploy/cpu-plan.json`) that the compose files and `export-httparena` take their cpusets
//! from, keeping the bench result beside it (`deploy/cpu-plan.bench.json`) so that the plan
//! can be reproduced from what is committed. `--check` solves a result and fails when its
//! split differs from the committed one.

pub mod file;
pub mod solve;
pub mod topology;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use stack::Project;

pub use file::{PlanFile, PLAN_FILE};
pub use solve::{solve, Demand, Rules, Solution};
pub use topology::Topology;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A `prodstack bench --json` result (default: the newest bench result of this home).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// The variant of the result whose costs are planned for.
    #[arg(long, default_value = "production")]
    pub variant: String,
    /// The connection count of the result whose costs are planned for.
    #[arg(long, default_value_t = 256)]
    pub connections: u32,
    /// The stack's CPUs (HttpArena's box: 0-31,64-95; the load generator has the others).
    #[arg(long, default_value = topology::HTTPARENA_CPUS)]
    pub cpus: String,
    /// CPU N and N + this are the two threads of one core.
    #[arg(long, default_value_t = topology::HTTPARENA_SMT_OFFSET)]
    pub smt_offset: usize,
    /// Cores per CCX (the cores that share one L3).
    #[arg(long, default_value_t = topology::HTTPARENA_CCX_CORES)]
    pub ccx_cores: usize,
    /// The most CCXs authsvc may span (0: no cap). HttpArena's reference entry measured its
    /// authsvc slower past one CCX.
    #[arg(long, default_value_t = 1)]
    pub authsvc_max_ccxs: usize,
    /// Where to write the plan (default: deploy/cpu-plan.json of the checkout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 when this plan's split differs from the one at --out.
    #[arg(long)]
    pub check: bool,
}

pub fn run(project: &Project, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let from = args.from.clone().unwrap_or_else(|| {
        project
            .home
            .results_dir()
            .join(contract::LATEST_BENCH_RESULT)
    });
    let text = std::fs::read_to_string(&from).with_context(|| {
        format!(
            "reading the bench result {} (run `prodstack bench` first, or pass --from FILE)",
            from.display()
        )
    })?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| project.project_root.join(PLAN_FILE));
    // The result the plan is solved from is kept beside it (`cpu-plan.bench.json`), and the
    // plan names that copy, so that the plan can be reproduced from what is committed.
    let kept = out.with_extension("bench.json");
    let kept_name = kept
        .strip_prefix(&project.project_root)
        .unwrap_or(&kept)
        .display()
        .to_string();
    let plan = plan_from_bench(&text, &kept_name, &args)?;
    print!("{}", describe(&plan));
    if args.check {
        let current = std::fs::read_to_string(&out)
            .with_context(|| format!("reading the plan {}", out.display()))?;
        let current = PlanFile::parse(&current, &out.display().to_string())?;
        let split = |p: &PlanFile| -> Vec<(String, String)> {
            p.services
                .iter()
                .map(|s| (s.name.clone(), s.cpus.clone()))
                .collect()
        };
        if split(&current) == split(&plan) {
            println!(
                "{}: the same split (costs from {} may differ; the split does not)",
                out.display(),
                from.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{} has another split; `prodstack plan` writes this one, then `prodstack export-httparena --write-deploy` regenerates the compose files",
            out.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    if std::fs::canonicalize(&from).ok() != std::fs::canonicalize(&kept).ok() {
        std::fs::write(&kept, &text).with_context(|| format!("writing {}", kept.display()))?;
    }
    std::fs::write(&out, plan.to_json()).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} (from {}, kept as {}); `prodstack export-httparena --write-deploy` regenerates the compose files from it",
        out.display(),
        from.display(),
        kept.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The plan for the costs in a bench result (`path` names it in messages and the plan).
pub fn plan_from_bench(text: &str, path: &str, args: &PlanArgs) -> anyhow::Result<PlanFile> {
    let (demand, source) = file::demand_from_bench(text, path, &args.variant, args.connections)?;
    let topology = Topology::new(&args.cpus, args.smt_offset, args.ccx_cores)?;
    let rules = Rules {
        authsvc_max_ccxs: (args.authsvc_max_ccxs > 0).then_some(args.authsvc_max_ccxs),
    };
    let solution = solve(&topology, &demand, &rules)?;
    Ok(PlanFile::from_solution(
        source, &topology, &args.cpus, &rules, &demand, &solution,
    ))
}

/// The plan as a table.
pub fn describe(plan: &PlanFile) -> String {
    let d = &plan.demand_us_per_client_request;
    let mut out = format!(
        "costs from {} ({} at {} connections, {} rps, authsvc: {}), CPU µs per client request: edge {}, cache {}, authsvc {}, server {}\n\n",
        plan.source.file,
        plan.source.variant,
        plan.source.connections,
        plan.source.rps,
        plan.source.authsvc,
        d.edge,
        d.cache,
        d.authsvc,
        d.server
    );
    out.push_str(&format!(
        "{:<8} {:<24} {:>5} {:>8} {:>12}\n",
        "service", "cpus", "cores", "logical", "utilization"
    ));
    for s in &plan.services {
        out.push_str(&format!(
            "{:<8} {:<24} {:>5} {:>8} {:>11.1}%\n",
            s.name,
            s.cpus,
            s.cores,
            s.cores * 2,
            s.utilization * 100.0
        ));
    }
    out.push_str(&format!(
        "\nprojected: {} rps on {} (bottleneck: {})\n",
        plan.projected_rps, plan.topology.cpus, plan.bottleneck
    ));
    out
}
