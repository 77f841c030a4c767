//! The machine a plan splits: its stack CPUs as whole SMT pairs (cores), and the cores grouped
//! into CCXs (the cores that share one L3).
//!
//! HttpArena's box gives the stack `0-31,64-95`: CPU N and N+64 are the two threads of one
//! core, and a CCX is 4 consecutive cores. A core is usable only when both of its threads are
//! in the list; a CCX only when all of its cores are.

use stack::CpuSet;

/// HttpArena's stack CPUs.
pub const HTTPARENA_CPUS: &str = "0-31,64-95";
/// HttpArena's SMT sibling offset (CPU N pairs with N + 64).
pub const HTTPARENA_SMT_OFFSET: usize = 64;
/// Cores per CCX on HttpArena's box.
pub const HTTPARENA_CCX_CORES: usize = 4;

/// Cores and CCXs of a CPU list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The first thread of each whole core, ascending.
    pub cores: Vec<usize>,
    pub smt_offset: usize,
    pub ccx_cores: usize,
}

/// Why a CPU list cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("--cpus: {0}")]
    Cpus(String),
    #[error("--ccx-cores must be at least 1")]
    NoCcx,
    #[error("CPU {cpu} is in the list without its SMT sibling {sibling} (--smt-offset {offset}): plans allocate whole cores")]
    HalfCore {
        cpu: usize,
        sibling: usize,
        offset: usize,
    },
}

impl Topology {
    pub fn new(cpus: &str, smt_offset: usize, ccx_cores: usize) -> Result<Self, TopologyError> {
        if ccx_cores == 0 {
            return Err(TopologyError::NoCcx);
        }
        let set = CpuSet::parse(cpus).map_err(TopologyError::Cpus)?;
        let list = set.cpus();
        let has = |cpu: usize| list.binary_search(&cpu).is_ok();
        let mut cores = Vec::new();
        for &cpu in list {
            let sibling = if cpu >= smt_offset {
                cpu - smt_offset
            } else {
                cpu + smt_offset
            };
            if !has(sibling) {
                return Err(TopologyError::HalfCore {
                    cpu,
                    sibling,
                    offset: smt_offset,
                });
            }
            if cpu < smt_offset {
                cores.push(cpu);
            }
        }
        Ok(Topology {
            cores,
            smt_offset,
            ccx_cores,
        })
    }

    /// HttpArena's box.
    pub fn httparena() -> Result<Self, TopologyError> {
        Topology::new(HTTPARENA_CPUS, HTTPARENA_SMT_OFFSET, HTTPARENA_CCX_CORES)
    }

    /// The CCX of a core: cores `0..ccx_cores` are CCX 0, and so on.
    pub fn ccx_of(&self, core: usize) -> usize {
        core / self.ccx_cores
    }

    /// The CCXs all of whose cores are in the list, in order, each as its cores.
    pub fn whole_ccxs(&self) -> Vec<Vec<usize>> {
        let mut ccxs: Vec<Vec<usize>> = Vec::new();
        for &core in &self.cores {
            match ccxs.last_mut() {
                Some(last) if self.ccx_of(last[0]) == self.ccx_of(core) => last.push(core),
                _ => ccxs.push(vec![core]),
            }
        }
        ccxs.retain(|ccx| ccx.len() == self.ccx_cores);
        ccxs
    }

    /// Both threads of `cores`, as a cpuset list (`24-31,88-95`).
    pub fn cpuset(&self, cores: &[usize]) -> String {
        let mut cpus: Vec<usize> = cores.to_vec();
        cpus.extend(cores.iter().map(|c| c + self.smt_offset));
        CpuSet::from_cpus(cpus)
            .map(|s| s.to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn httparenas_box_has_32_cores_in_8_ccxs() {
        let t = Topology::httparena().unwrap();
        assert_eq!(t.cores.len(), 32);
        assert_eq!(t.whole_ccxs().len(), 8);
        assert_eq!(t.cpuset(&[24, 25, 26, 27, 28, 29, 30, 31]), "24-31,88-95");
    }

    #[test]
    fn half_cores_and_partial_ccxs() {
        assert!(matches!(
            Topology::new("0-3,64-66", 64, 4),
            Err(TopologyError::HalfCore {
                cpu: 3,
                sibling: 67,
                ..
            })
        ));
        // Cores 2-9: CCX 0 holds only 2 and 3, CCX 2 only 8 and 9; CCX 1 is whole.
        let t = Topology::new("2-9,66-73", 64, 4).unwrap();
        assert_eq!(t.whole_ccxs(), vec![vec![4, 5, 6, 7]]);
    }
}
