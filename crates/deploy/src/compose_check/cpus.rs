//! The CPU rules: every cpuset whole SMT pairs inside the stack's CPUs (`0-31,64-95` on
//! HttpArena's host), no overlaps, and exactly the 64 logical CPUs of the budget in all.

use std::collections::BTreeMap;

use stack::CpuSet;

use crate::compose::Service;

use super::findings::Findings;
use super::shape::{CPU_BUDGET, SMT_SIBLING_OFFSET};

pub(super) fn check_cpuset(service: &Service, out: &mut Findings) -> Option<CpuSet> {
    let name = service.name.as_str();
    let Some(text) = service.cpuset.as_deref() else {
        out.service(
            name,
            "cpuset",
            "missing; every service is pinned (HttpArena splits 0-31,64-95 between the four)"
                .into(),
        );
        return None;
    };
    let set = match CpuSet::parse(text) {
        Ok(set) => set,
        Err(err) => {
            out.service(name, "cpuset", err);
            return None;
        }
    };
    let outside: Vec<usize> = set
        .cpus()
        .iter()
        .copied()
        .filter(|&c| !is_stack_cpu(c))
        .collect();
    if !outside.is_empty() {
        out.service(
            name,
            "cpuset",
            format!(
                "CPUs {} are outside 0-31,64-95 (32-63,96-127 belong to the load generator)",
                join(&outside)
            ),
        );
    }
    for &cpu in set.cpus() {
        if !is_stack_cpu(cpu) {
            continue;
        }
        let sibling = smt_sibling(cpu);
        if set.cpus().binary_search(&sibling).is_err() {
            out.service(
                name,
                "cpuset",
                format!("half an SMT pair: CPU {cpu} without its sibling {sibling} (allocate whole pairs N and N+64)"),
            );
        }
    }
    Some(set)
}

pub(super) fn is_stack_cpu(cpu: usize) -> bool {
    cpu < 32 || (SMT_SIBLING_OFFSET..SMT_SIBLING_OFFSET + 32).contains(&cpu)
}

pub(super) fn smt_sibling(cpu: usize) -> usize {
    if cpu < SMT_SIBLING_OFFSET {
        cpu + SMT_SIBLING_OFFSET
    } else {
        cpu - SMT_SIBLING_OFFSET
    }
}

pub(super) fn check_cpu_total(cpusets: &[(String, CpuSet)], out: &mut Findings) -> usize {
    let mut owner: BTreeMap<usize, &str> = BTreeMap::new();
    for (name, set) in cpusets {
        for &cpu in set.cpus() {
            if let Some(first) = owner.insert(cpu, name) {
                out.service(
                    name,
                    "cpuset",
                    format!("CPU {cpu} is also in the cpuset of `{first}`; services must not share CPUs"),
                );
            }
        }
    }
    let total: usize = cpusets.iter().map(|(_, set)| set.len()).sum();
    if total != CPU_BUDGET {
        out.file(
            "cpuset",
            format!(
                "the cpusets total {total} logical CPUs; the four services must use exactly {CPU_BUDGET} (0-31,64-95)"
            ),
        );
    }
    total
}

pub(super) fn join(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
