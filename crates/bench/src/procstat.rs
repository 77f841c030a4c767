//! CPU and memory of whole services, sampled from `/proc` while the load runs.
//!
//! A service is a set of root pids plus every descendant (nginx workers under the master,
//! Postgres backends under the postmaster). CPU is accumulated per pid from `utime + stime`
//! between samples, so processes that start or exit during the run are counted for the time
//! they lived. 100 % = one CPU, as `docker stats` reports it. Memory: each service's peak
//! summed RSS, and once per second its summed private RSS (`RssAnon`), an [`RssCurve`] point.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::memory::RssCurve;

/// What one `/proc/<pid>` says about a process at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time in clock ticks after boot.
    pub start_ticks: u64,
    pub rss_bytes: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<(u32, u32, u64, u64)> {
    let pid = text.split_whitespace().next()?.parse().ok()?;
    let after_comm = &text[text.rfind(')')? + 1..];
    // after_comm starts at field 3 (state); fields are 1-based in proc(5).
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let ppid = field(4)? as u32;
    let utime = field(14)?;
    let stime = field(15)?;
    let start = field(22)?;
    Some((pid, ppid, utime + stime, start))
}

/// Parses `/proc/<pid>/statm`: the second number is resident pages.
pub fn parse_statm(text: &str, page_size: u64) -> Option<u64> {
    text.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|pages| pages * page_size)
}

/// `RssAnon` of `/proc/<pid>/status` (in kB there), in bytes.
pub fn parse_rss_anon(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Every process on the machine right now.
pub fn snapshot() -> HashMap<u32, ProcInfo> {
    let page = page_size();
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let dir = entry.path();
        let Some((pid_read, ppid, cpu_ticks, start_ticks)) =
            read(&dir.join("stat")).as_deref().and_then(parse_stat)
        else {
            continue; // the process ended between readdir and read
        };
        let rss_bytes = read(&dir.join("statm"))
            .as_deref()
            .and_then(|t| parse_statm(t, page))
            .unwrap_or(0);
        debug_assert_eq!(pid, pid_read);
        out.insert(
            pid,
            ProcInfo {
                pid,
                ppid,
                cpu_ticks,
                start_ticks,
                rss_bytes,
            },
        );
    }
    out
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// Seconds since boot, in clock ticks (to tell which processes were born during sampling).
fn uptime_ticks(ticks_per_s: u64) -> u64 {
    read(Path::new("/proc/uptime"))
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .map(|s| (s * ticks_per_s as f64) as u64)
        .unwrap_or(0)
}

/// `roots` and all their descendants in `procs`.
pub fn members(procs: &HashMap<u32, ProcInfo>, roots: &[u32]) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in procs.values() {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut out = Vec::new();
    let mut stack: Vec<u32> = roots
        .iter()
        .copied()
        .filter(|p| procs.contains_key(p))
        .collect();
    while let Some(pid) = stack.pop() {
        if out.contains(&pid) {
            continue;
        }
        out.push(pid);
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids);
        }
    }
    out
}

/// Running totals of one service over the sampling window.
#[derive(Debug, Clone, Default)]
struct Accumulator {
    last_ticks: HashMap<u32, u64>,
    used_ticks: u64,
    peak_rss: u64,
}

/// The CPU and memory one service used during the window.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceUsage {
    pub name: String,
    /// Average CPU over the window; 100 = one CPU.
    pub cpu_percent: f64,
    /// CPU time used over the window.
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

/// Accumulates samples for named groups of root pids.
#[derive(Debug)]
pub struct Tally {
    groups: Vec<(String, Vec<u32>)>,
    acc: Vec<Accumulator>,
    window_start_ticks: u64,
    samples: u64,
}

impl Tally {
    /// `window_start_ticks`: processes started after it count from zero, older ones from their
    /// first sample.
    pub fn new(groups: Vec<(String, Vec<u32>)>, window_start_ticks: u64) -> Self {
        let acc = vec![Accumulator::default(); groups.len()];
        Self {
            groups,
            acc,
            window_start_ticks,
            samples: 0,
        }
    }

    pub fn add(&mut self, procs: &HashMap<u32, ProcInfo>) {
        self.samples += 1;
        for ((_, roots), acc) in self.groups.iter().zip(&mut self.acc) {
            let mut rss = 0;
            for pid in members(procs, roots) {
                let info = procs[&pid];
                rss += info.rss_bytes;
                let baseline = match acc.last_ticks.get(&pid) {
                    Some(&last) => last,
                    None if info.start_ticks >= self.window_start_ticks => 0,
                    None => info.cpu_ticks,
                };
                acc.used_ticks += info.cpu_ticks.saturating_sub(baseline);
                acc.last_ticks.insert(pid, info.cpu_ticks);
            }
            acc.peak_rss = acc.peak_rss.max(rss);
        }
    }

    /// Each group's private resident memory now (`RssAnon` of its processes in `procs`,
    /// summed), by name.
    pub fn private_rss(&self, procs: &HashMap<u32, ProcInfo>) -> Vec<(String, u64)> {
        self.groups
            .iter()
            .map(|(name, roots)| {
                let bytes = members(procs, roots)
                    .into_iter()
                    .filter_map(|pid| {
                        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                        parse_rss_anon(&status)
                    })
                    .sum();
                (name.clone(), bytes)
            })
            .collect()
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Usage over `elapsed` with `ticks_per_s` clock ticks per second.
    pub fn finish(&self, elapsed: Duration, ticks_per_s: u64) -> Vec<ServiceUsage> {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        self.groups
            .iter()
            .zip(&self.acc)
            .map(|((name, _), acc)| ServiceUsage {
                name: name.clone(),
                cpu_percent: acc.used_ticks as f64 / ticks_per_s as f64 / seconds * 100.0,
                cpu_seconds: acc.used_ticks as f64 / ticks_per_s as f64,
                peak_rss_bytes: acc.peak_rss,
            })
            .collect()
    }
}

/// A background thread sampling `/proc` every `interval` until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Tally, Duration, RssCurve)>,
}

/// What a [`Sampler`] measured.
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    pub usage: Vec<ServiceUsage>,
    pub samples: u64,
    /// RSS of each group, once per second.
    pub rss_curve: RssCurve,
}

/// Where to look for a service's processes; the load generator's pids are only known once
/// h2load runs, so groups can be given as a function evaluated at every sample.
pub type GroupSource = Box<dyn Fn() -> Vec<(String, Vec<u32>)> + Send>;

impl Sampler {
    pub fn start(groups: GroupSource, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let ticks = clock_ticks_per_second();
            let started = Instant::now();
            let mut tally = Tally::new(groups(), uptime_ticks(ticks));
            let mut curve = RssCurve::default();
            let mut next_point = Duration::ZERO;
            loop {
                tally.groups = merge_roots(&tally.groups, groups());
                let procs = snapshot();
                tally.add(&procs);
                let now = started.elapsed();
                if now >= next_point {
                    curve.push(now.as_secs_f64(), &tally.private_rss(&procs));
                    // The next whole second: a stalled sampler does not catch up in a burst.
                    next_point = Duration::from_secs(now.as_secs() + 1);
                }
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(interval);
            }
            (tally, started.elapsed(), curve)
        });
        Self { stop, handle }
    }

    /// Stops sampling (after one last sample) and returns what it measured.
    pub fn finish(self) -> Sampled {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.join() {
            Ok((tally, elapsed, rss_curve)) => Sampled {
                usage: tally.finish(elapsed, clock_ticks_per_second()),
                samples: tally.samples(),
                rss_curve,
            },
            Err(_) => Sampled::default(),
        }
    }
}

/// Keeps every root ever seen for each group (a pid that exited still counted while alive).
fn merge_roots(
    old: &[(String, Vec<u32>)],
    new: Vec<(String, Vec<u32>)>,
) -> Vec<(String, Vec<u32>)> {
    new.into_iter()
        .map(|(name, mut roots)| {
            if let Some((_, old_roots)) = old.iter().find(|(n, _)| *n == name) {
                for pid in old_roots {
                    if !roots.contains(pid) {
                        roots.push(*pid);
                    }
                }
            }
            (name, roots)
        })
        .collect()
}

/// One process tree's memory and open descriptors at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TreeResources {
    pub rss_bytes: u64,
    pub descriptors: u64,
}

/// RSS and open descriptors of `root` and its descendants (nginx's master and workers).
pub fn tree_resources(root: u32) -> TreeResources {
    let procs = snapshot();
    let mut out = TreeResources::default();
    for pid in members(&procs, &[root]) {
        if let Some(info) = procs.get(&pid) {
            out.rss_bytes += info.rss_bytes;
        }
        out.descriptors += std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
    }
    out
}

/// Samples one process tree every 100 ms and keeps the peak of each figure (what an attack
/// took from the edge while it lasted).
pub struct TreeSampler {
    root: u32,
    peak: Arc<std::sync::Mutex<TreeResources>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TreeSampler {
    pub fn start(root: u32) -> Self {
        let peak: Arc<std::sync::Mutex<TreeResources>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let now = tree_resources(root);
                if let Ok(mut peak) = p.lock() {
                    peak.rss_bytes = peak.rss_bytes.max(now.rss_bytes);
                    peak.descriptors = peak.descriptors.max(now.descriptors);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            root,
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The tree's figures right now.
    pub fn now(&self) -> TreeResources {
        tree_resources(self.root)
    }

    /// The highest figures sampled so far.
    pub fn peak(&self) -> TreeResources {
        self.peak.lock().map(|p| *p).unwrap_or_default()
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TreeSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, ppid: u32, cpu_ticks: u64, start_ticks: u64, rss: u64) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            cpu_ticks,
            start_ticks,
            rss_bytes: rss,
        }
    }

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line = "4242 (nginx: worker) p) S 4000 4000 4000 0 -1 4194624 100 0 0 0 150 25 0 0 20 0 1 0 987654 1000000 300 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some((4242, 4000, 175, 987654)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(
            parse_statm("1000 300 200 1 0 100 0", 4096),
            Some(300 * 4096)
        );
    }

    #[test]
    fn reads_this_process_from_proc() {
        let procs = snapshot();
        let me = procs
            .get(&std::process::id())
            .expect("this process is in /proc");
        assert!(me.rss_bytes > 0);
        assert_eq!(
            members(&procs, &[std::process::id()])[0],
            std::process::id()
        );
    }

    #[test]
    fn members_include_descendants_only() {
        let procs: HashMap<u32, ProcInfo> = [
            proc(1, 0, 0, 0, 0),
            proc(10, 1, 0, 0, 0),
            proc(11, 10, 0, 0, 0),
            proc(12, 11, 0, 0, 0),
            proc(20, 1, 0, 0, 0),
        ]
        .into_iter()
        .map(|p| (p.pid, p))
        .collect();
        let mut m = members(&procs, &[10]);
        m.sort();
        assert_eq!(m, vec![10, 11, 12]);
        assert!(members(&procs, &[99]).is_empty());
    }

    #[test]
    fn tally_counts_cpu_deltas_births_and_deaths() {
        // Window starts at tick 1000. Master 10 existed before (baseline 500 ticks); worker 11
        // is born during the window; worker 12 dies after the first sample.
        let mut tally = Tally::new(vec![("edge".into(), vec![10])], 1000);
        let first: HashMap<u32, ProcInfo> = [proc(10, 1, 500, 10, 1000), proc(12, 10, 50, 20, 500)]
            .into_iter()
            .map(|p| (p.pid, p))
            .collect();
        tally.add(&first);
        let second: HashMap<u32, ProcInfo> =
            [proc(10, 1, 600, 10, 1000), proc(11, 10, 40, 1200, 3000)]
                .into_iter()
                .map(|p| (p.pid, p))
                .collect();
        tally.add(&second);
        // 100 ticks of the master + 40 of the new worker; the dead worker's pre-window 50 do not
        // count. 140 ticks over 2 s at 100 ticks/s = 70 %.
        let usage = tally.finish(Duration::from_secs(2), 100);
        assert_eq!(usage.len(), 1);
        assert!((usage[0].cpu_percent - 70.0).abs() < 1e-9, "{usage:?}");
        assert_eq!(usage[0].peak_rss_bytes, 4000);
        assert_eq!(tally.samples(), 2);
    }

    #[test]
    fn private_memory_is_read_from_status() {
        let status = "Name:\tsh\nVmRSS:\t    3000 kB\nRssAnon:\t     120 kB\nRssFile:\t 2880 kB\n";
        assert_eq!(parse_rss_anon(status), Some(120 * 1024));
        assert_eq!(parse_rss_anon("Name:\tkthreadd\n"), None);
        let me = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(parse_rss_anon(&me).unwrap() > 0);
    }

    #[test]
    fn sampler_sees_a_busy_child() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let pid = child.id();
        let sampler = Sampler::start(
            Box::new(move || vec![("busy".into(), vec![pid])]),
            Duration::from_millis(50),
        );
        std::thread::sleep(Duration::from_millis(1500));
        let sampled = sampler.finish();
        let _ = child.kill();
        let _ = child.wait();
        assert!(sampled.samples >= 5, "{} samples", sampled.samples);
        assert!(sampled.usage[0].cpu_percent > 20.0, "{:?}", sampled.usage);
        // One RSS point per second: at 0 s and at 1 s, the shell's memory in both.
        let curve = &sampled.rss_curve;
        assert_eq!(curve.services, ["busy"]);
        assert_eq!(curve.seconds.len(), 2, "{curve:?}");
        assert!(
            curve.seconds[1] >= 1.0 && curve.seconds[1] < 1.3,
            "{curve:?}"
        );
        assert!(curve.bytes[0].iter().all(|&b| b > 0), "{curve:?}");
    }
}
