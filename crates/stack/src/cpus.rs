//! CPU sets and the split of CPUs between the four pinned services (`--cpus`).
//!
//! HttpArena pins every compose service to a `cpuset` and leaves Postgres unpinned; `prodstack
//! up` does the same with `sched_setaffinity` in the child before `exec` (the same system call
//! `taskset` makes, without an extra process). The benchmark reserves CPUs for its load
//! generator by passing a split that leaves them out.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A non-empty, sorted set of CPU numbers, written like `taskset -c` / cgroup cpusets:
/// `0-3,8,10-11`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct CpuSet(Vec<usize>);

/// `CPU_SETSIZE`: the kernel's affinity masks we build hold this many CPUs.
const MAX_CPUS: usize = 1024;

impl CpuSet {
    /// Parses `0-3,8`. Empty parts, reversed ranges and CPUs ≥ 1024 are errors.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (parse_cpu(a, text)?, parse_cpu(b, text)?),
                None => {
                    let cpu = parse_cpu(part, text)?;
                    (cpu, cpu)
                }
            };
            if first > last {
                return Err(format!("CPU range `{part}` in `{text}` runs backwards"));
            }
            cpus.extend(first..=last);
        }
        Self::from_cpus(cpus).ok_or_else(|| format!("CPU list `{text}` is empty"))
    }

    /// The set of `cpus` (sorted and de-duplicated); `None` when empty.
    pub fn from_cpus(mut cpus: Vec<usize>) -> Option<Self> {
        cpus.sort_unstable();
        cpus.dedup();
        (!cpus.is_empty()).then_some(Self(cpus))
    }

    /// The CPUs this process may run on (its affinity mask: honours `taskset` and cgroup
    /// cpusets, unlike a count of online CPUs).
    pub fn available() -> std::io::Result<Self> {
        // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: pid 0 = this thread; the size matches the buffer we pass.
        let rc =
            unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: CPU_ISSET only reads the set, cpu < CPU_SETSIZE.
        let cpus = (0..MAX_CPUS)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect();
        Self::from_cpus(cpus)
            .ok_or_else(|| std::io::Error::other("sched_getaffinity returned an empty CPU set"))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false (a `CpuSet` is never empty); here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn cpus(&self) -> &[usize] {
        &self.0
    }

    pub fn is_subset_of(&self, other: &CpuSet) -> bool {
        self.0.iter().all(|cpu| other.0.binary_search(cpu).is_ok())
    }

    /// The kernel mask for `sched_setaffinity`. Built before `fork`, so the child only makes
    /// the system call (nothing that allocates runs between fork and exec).
    pub fn to_mask(&self) -> libc::cpu_set_t {
        // SAFETY: see `available`; CPU_SET writes inside the set for cpu < CPU_SETSIZE, which
        // `parse` guarantees.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &cpu in &self.0 {
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        set
    }
}

fn parse_cpu(text: &str, whole: &str) -> Result<usize, String> {
    let cpu: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` in CPU list `{whole}` is not a CPU number"))?;
    if cpu >= MAX_CPUS {
        return Err(format!(
            "CPU {cpu} in `{whole}` is out of range (max {})",
            MAX_CPUS - 1
        ));
    }
    Ok(cpu)
}

impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end = self.0[i];
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

impl From<CpuSet> for String {
    fn from(set: CpuSet) -> String {
        set.to_string()
    }
}

impl TryFrom<String> for CpuSet {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        CpuSet::parse(&text)
    }
}

/// The four pinned services' CPUs. Postgres is deliberately absent: HttpArena leaves it
/// unpinned and so do we.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSplit {
    pub edge: CpuSet,
    pub authsvc: CpuSet,
    pub server: CpuSet,
    pub cache: CpuSet,
}

/// The services `--cpus` names, in the order the split is printed.
pub const PINNED_SERVICES: [&str; 4] = ["edge", "authsvc", "server", "cache"];

impl CpuSplit {
    /// The split used when `--cpus` does not name a service.
    ///
    /// * Fewer than 8 CPUs (this 2-CPU build machine): every service may use every CPU.
    ///   HttpArena's measured shares (edge ≈ 53 % of the stack's CPU time, server ≈ 33 %,
    ///   authsvc ≈ 15 %, cache < 1 %) cannot be expressed in whole CPUs here: any exclusive
    ///   split gives the edge a single CPU while authsvc or Redis idle on another. Sharing lets
    ///   the scheduler follow the load; the benchmark narrows it with `--cpus` to keep CPUs
    ///   free for the load generator.
    /// * 8 CPUs or more: HttpArena's reference proportions (15 / 1 / 4 / 12 of 32 physical
    ///   cores for edge / cache / authsvc / server), laid out in the same order over the
    ///   available CPUs, each service at least one CPU.
    pub fn default_for(available: &CpuSet) -> Self {
        let n = available.len();
        if n < 8 {
            return Self {
                edge: available.clone(),
                authsvc: available.clone(),
                server: available.clone(),
                cache: available.clone(),
            };
        }
        let share = |parts: usize| ((n * parts + 16) / 32).max(1);
        let cache = share(1);
        let authsvc = share(4);
        let server = share(12);
        let edge = n - cache - authsvc - server;
        let cpus = available.cpus();
        let take = |from: usize, count: usize| {
            CpuSet::from_cpus(cpus[from..from + count].to_vec())
                .unwrap_or_else(|| available.clone())
        };
        Self {
            edge: take(0, edge),
            cache: take(edge, cache),
            authsvc: take(edge + cache, authsvc),
            server: take(edge + cache + authsvc, server),
        }
    }

    /// `edge=0-3,authsvc=4,server=5-7,cache=4`: services not named keep their default. A CPU
    /// list may contain commas; a part without `=` continues the previous service's list.
    /// Every CPU must be one this process may use.
    pub fn parse(spec: &str, available: &CpuSet) -> Result<Self, String> {
        let mut split = Self::default_for(available);
        let mut entries: Vec<(String, Vec<String>)> = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((name, list)) => entries.push((name.trim().to_string(), vec![list.into()])),
                None => match entries.last_mut() {
                    Some((_, lists)) => lists.push(part.to_string()),
                    None => {
                        return Err(format!(
                            "`--cpus {spec}`: expected SERVICE=CPUS, e.g. edge=0-1,server=1"
                        ))
                    }
                },
            }
        }
        if entries.is_empty() {
            return Err(format!(
                "`--cpus {spec}`: expected SERVICE=CPUS, e.g. edge=0-1,server=1"
            ));
        }
        for (name, lists) in entries {
            let set =
                CpuSet::parse(&lists.join(",")).map_err(|e| format!("`--cpus` for {name}: {e}"))?;
            if !set.is_subset_of(available) {
                return Err(format!(
                    "`--cpus` for {name}: CPUs {set} are not all available to this process (available: {available})"
                ));
            }
            *split.get_mut(&name).ok_or_else(|| {
                format!(
                    "`--cpus`: unknown service `{name}` (expected one of {})",
                    PINNED_SERVICES.join(", ")
                )
            })? = set;
        }
        Ok(split)
    }

    /// The CPUs of a pinned service; `None` for a service that is not pinned (postgres).
    pub fn get(&self, service: &str) -> Option<&CpuSet> {
        match service {
            "edge" => Some(&self.edge),
            "authsvc" => Some(&self.authsvc),
            "server" => Some(&self.server),
            "cache" => Some(&self.cache),
            _ => None,
        }
    }

    fn get_mut(&mut self, service: &str) -> Option<&mut CpuSet> {
        match service {
            "edge" => Some(&mut self.edge),
            "authsvc" => Some(&mut self.authsvc),
            "server" => Some(&mut self.server),
            "cache" => Some(&mut self.cache),
            _ => None,
        }
    }
}

impl fmt::Display for CpuSplit {
    /// The same syntax `--cpus` takes, so a printed split can be pasted back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "edge={},authsvc={},server={},cache={}",
            self.edge, self.authsvc, self.server, self.cache
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> CpuSet {
        CpuSet::parse(text).unwrap()
    }

    #[test]
    fn cpu_lists_round_trip_in_compact_form() {
        assert_eq!(set("3,0-1,2,8,10-11").to_string(), "0-3,8,10-11");
        assert_eq!(set("5").to_string(), "5");
        assert_eq!(set("0-14,64-78").len(), 30);
    }

    #[test]
    fn bad_cpu_lists_are_refused_with_the_reason() {
        for (text, reason) in [
            ("", "not a CPU number"),
            ("3-1", "runs backwards"),
            ("a", "not a CPU number"),
            ("0,,1", "not a CPU number"),
            ("4096", "out of range"),
        ] {
            let err = CpuSet::parse(text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn small_machines_share_every_cpu() {
        let split = CpuSplit::default_for(&set("0-1"));
        for service in PINNED_SERVICES {
            assert_eq!(split.get(service).unwrap(), &set("0-1"));
        }
    }

    #[test]
    fn large_machines_get_httparena_proportions() {
        let split = CpuSplit::default_for(&set("0-31"));
        assert_eq!(
            split.to_string(),
            "edge=0-14,authsvc=16-19,server=20-31,cache=15"
        );
        let split = CpuSplit::default_for(&set("0-7"));
        assert_eq!(split.to_string(), "edge=0-2,authsvc=4,server=5-7,cache=3");
    }

    #[test]
    fn cpus_option_overrides_named_services_only() {
        let available = set("0-3");
        let split = CpuSplit::parse("edge=0-1,3,server=2", &available).unwrap();
        assert_eq!(split.edge, set("0-1,3"));
        assert_eq!(split.server, set("2"));
        assert_eq!(split.authsvc, available);
        // The printed form parses back to the same split.
        assert_eq!(
            CpuSplit::parse(&split.to_string(), &available).unwrap(),
            split
        );
    }

    #[test]
    fn cpus_option_errors_name_the_problem() {
        let available = set("0-1");
        for (spec, reason) in [
            ("edge=5", "not all available"),
            ("proxy=0", "unknown service `proxy`"),
            ("0-1", "expected SERVICE=CPUS"),
            ("edge=x", "not a CPU number"),
        ] {
            let err = CpuSplit::parse(spec, &available).unwrap_err();
            assert!(err.contains(reason), "{spec}: {err}");
        }
    }

    #[test]
    fn available_cpus_match_the_kernels_view() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim();
        assert_eq!(CpuSet::available().unwrap(), set(allowed));
    }
}
