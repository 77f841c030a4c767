//! The memory of each service over a run, and the soak check on it.
//!
//! [`RssCurve`] holds every service's private resident memory (`RssAnon` of `/proc/PID/status`,
//! all of its processes summed) once per second of the run; the sampler
//! ([`crate::procstat::Sampler`]) records it while the load runs. Private, not the whole RSS:
//! the whole RSS of a Postgres backend or an nginx worker counts every shared-memory page it
//! has touched, so a summed RSS grows as backends warm their view of the shared buffers, with
//! nothing leaking. A leak is anonymous memory, and that is what this curve holds.
//!
//! [`Soak`] judges that curve. A service that leaks grows steadily once its caches, pools and
//! buffers are warm, so the check measures how far each service grows after a warm-up. It
//! compares the median of a window just after the warm-up with the median of the last window
//! of the run (both `min(60 s, warm-up)` wide, the same number of samples); medians keep one
//! allocation spike from deciding. A window holds a whole h2load pair: a long run reconnects
//! its clients every 5–60 s ([`crate::production`]'s segments), each reconnect leaves nginx
//! with an upstream pool of another size, and the services' memory moves with it from pair to
//! pair by ±6 % with no trend, so narrower windows compared two phases of that cycle rather
//! than two levels. The limit is [`SOAK_LIMIT_PERCENT`] (5 %). A judged service
//! with no memory in either window (not found, or gone) fails rather than passing unseen. Runs
//! too short to hold both windows after the warm-up get no verdict.
//!
//! The caller names the services to judge: the load generator's curve is kept for the chart
//! but is not part of the stack.

use serde::Serialize;

/// How far a service's RSS may grow after the warm-up.
pub const SOAK_LIMIT_PERCENT: f64 = 5.0;

/// The longest window whose median stands for "after the warm-up" and for "at the end": the
/// longest h2load pair of a long run, so each window spans a whole reconnect cycle.
pub const SOAK_WINDOW_S: u32 = 60;

/// Private resident memory (`RssAnon`) of each service, once per second of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RssCurve {
    /// The services, in the order of each sample's values.
    pub services: Vec<String>,
    /// Seconds since the run started, one per sample.
    pub seconds: Vec<f64>,
    /// `bytes[i][j]`: the RSS of service `i` at sample `j`.
    pub bytes: Vec<Vec<u64>>,
}

impl RssCurve {
    /// Appends one sample: `rss` of each named service at `t_s`. A service seen for the first
    /// time gets zeros for the samples before it.
    pub fn push(&mut self, t_s: f64, rss: &[(String, u64)]) {
        for (name, _) in rss {
            if !self.services.contains(name) {
                self.services.push(name.clone());
                self.bytes.push(vec![0; self.seconds.len()]);
            }
        }
        self.seconds.push(t_s);
        for (i, name) in self.services.iter().enumerate() {
            let value = rss.iter().find(|(n, _)| n == name).map_or(0, |(_, b)| *b);
            self.bytes[i].push(value);
        }
    }

    /// The soak verdict of the services named `judged` after `warmup_s`, or `None` when the
    /// run is too short for both windows or none of them is in the curve.
    pub fn soak(&self, warmup_s: u32, judged: &[&str]) -> Option<Soak> {
        let window_s = SOAK_WINDOW_S.min(warmup_s).max(1);
        let (warmup, window) = (f64::from(warmup_s), f64::from(window_s));
        let last = *self.seconds.last()?;
        if last - window < warmup + window {
            return None;
        }
        let in_window = |keep: &dyn Fn(f64) -> bool| -> Vec<usize> {
            (0..self.seconds.len())
                .filter(|&j| keep(self.seconds[j]))
                .collect()
        };
        let after = in_window(&|t| t >= warmup && t < warmup + window);
        let end = in_window(&|t| t > last - window);
        if after.is_empty() || end.is_empty() {
            return None;
        }
        let services: Vec<SoakService> = self
            .services
            .iter()
            .zip(&self.bytes)
            .filter(|(name, _)| judged.contains(&name.as_str()))
            .map(|(name, bytes)| {
                let at = |j: &usize| bytes.get(*j).copied().unwrap_or(0);
                let after_warmup = median(after.iter().map(at));
                let at_end = median(end.iter().map(at));
                let growth = (after_warmup > 0 && at_end > 0)
                    .then(|| (at_end as f64 - after_warmup as f64) / after_warmup as f64 * 100.0);
                SoakService {
                    name: name.clone(),
                    after_warmup_bytes: after_warmup,
                    end_bytes: at_end,
                    peak_bytes: bytes.iter().copied().max().unwrap_or(0),
                    growth_percent: growth,
                    passed: growth.is_some_and(|g| g <= SOAK_LIMIT_PERCENT),
                }
            })
            .collect();
        if services.is_empty() {
            return None;
        }
        Some(Soak {
            warmup_s,
            window_s,
            limit_percent: SOAK_LIMIT_PERCENT,
            passed: services.iter().all(|s| s.passed),
            services,
        })
    }
}

fn median(values: impl Iterator<Item = u64>) -> u64 {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// How much each service grew after the warm-up of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Soak {
    pub warmup_s: u32,
    /// Width of the two windows whose medians are compared.
    pub window_s: u32,
    pub limit_percent: f64,
    /// Every service within the limit.
    pub passed: bool,
    pub services: Vec<SoakService>,
}

/// One service's growth after the warm-up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoakService {
    pub name: String,
    /// Median private RSS over the window that starts at the end of the warm-up.
    pub after_warmup_bytes: u64,
    /// Median private RSS over the run's last window.
    pub end_bytes: u64,
    /// The highest once-per-second sample of the run.
    pub peak_bytes: u64,
    /// `end / after_warmup - 1`, in percent (negative when it shrank); `None` when either
    /// median is 0 (the service was not found, or was gone).
    pub growth_percent: Option<f64>,
    /// Grew at most [`SOAK_LIMIT_PERCENT`]; `false` without a growth figure.
    pub passed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUDGED: [&str; 2] = ["edge", "server"];
    const LOADGEN: &str = "loadgen";

    /// A curve of `seconds` samples where `edge` follows `edge_at(t)` and the load generator
    /// doubles, which must not count.
    fn curve(seconds: u32, edge_at: impl Fn(u32) -> u64) -> RssCurve {
        let mut curve = RssCurve::default();
        for t in 0..=seconds {
            curve.push(
                f64::from(t),
                &[
                    ("edge".into(), edge_at(t)),
                    (LOADGEN.into(), 100 + u64::from(t) * 100),
                ],
            );
        }
        curve
    }

    #[test]
    fn a_flat_service_after_its_warmup_passes_and_the_loadgen_is_not_judged() {
        // Grows during the first minute (caches filling), then stays flat.
        let soak = curve(180, |t| {
            if t < 60 {
                1000 + u64::from(t) * 10
            } else {
                1600
            }
        })
        .soak(60, &JUDGED)
        .unwrap();
        assert!(soak.passed, "{soak:?}");
        assert_eq!(soak.services.len(), 1);
        assert_eq!(soak.services[0].after_warmup_bytes, 1600);
        assert_eq!(soak.services[0].growth_percent, Some(0.0));
        assert_eq!(soak.services[0].peak_bytes, 1600);
    }

    #[test]
    fn steady_growth_after_the_warmup_fails() {
        // +1 per second from 1000 at the warm-up: about +18 % by the end of 300 s. Both windows
        // hold 60 samples: 60..119 and 241..300.
        let soak = curve(300, |t| 940 + u64::from(t))
            .soak(60, &JUDGED)
            .unwrap();
        assert!(!soak.passed);
        let edge = &soak.services[0];
        assert_eq!(edge.after_warmup_bytes, 1030);
        assert_eq!(edge.end_bytes, 1211);
        let growth = edge.growth_percent.unwrap();
        assert!((growth - 17.573).abs() < 0.01, "{edge:?}");
    }

    /// What a long run's curve looks like: the level moves with the h2load pairs (here 20 s of
    /// every 120 s at +12 %) without a trend, and the run ends on a high phase. The 60 s
    /// windows each hold a whole cycle's mix and see no growth; the last 10 s alone would
    /// have read +12 %.
    #[test]
    fn a_level_that_moves_pair_by_pair_without_a_trend_passes() {
        let soak = curve(600, |t| if t % 120 >= 100 { 1120 } else { 1000 })
            .soak(60, &JUDGED)
            .unwrap();
        assert_eq!(soak.window_s, 60);
        assert!(soak.passed, "{soak:?}");
        assert_eq!(soak.services[0].growth_percent, Some(0.0));
        assert_eq!(soak.services[0].peak_bytes, 1120);
    }

    #[test]
    fn one_spike_does_not_decide() {
        let soak = curve(180, |t| if t == 178 { 5000 } else { 1000 })
            .soak(60, &JUDGED)
            .unwrap();
        assert!(soak.passed);
        assert_eq!(soak.services[0].peak_bytes, 5000);
    }

    #[test]
    fn a_run_too_short_for_both_windows_gets_no_verdict() {
        assert!(curve(179, |_| 1000).soak(60, &JUDGED).is_none());
        assert!(curve(180, |_| 1000).soak(60, &JUDGED).is_some());
        // A short warm-up narrows the windows: 2 s warm-up, 2 s windows, 6 s run.
        assert!(curve(6, |_| 1000).soak(2, &JUDGED).is_some());
        assert!(RssCurve::default().soak(2, &JUDGED).is_none());
        // Nothing judged is in the curve: no verdict rather than a pass.
        assert!(curve(180, |_| 1000).soak(60, &["cache"]).is_none());
    }

    #[test]
    fn a_service_without_memory_in_a_window_fails() {
        // Gone before the end: the end window's median is 0.
        let gone = curve(200, |t| if t > 160 { 0 } else { 1000 })
            .soak(60, &JUDGED)
            .unwrap();
        assert!(!gone.passed);
        assert_eq!(gone.services[0].growth_percent, None);
        // Never found.
        let never = curve(200, |_| 0).soak(60, &JUDGED).unwrap();
        assert!(!never.passed);
    }

    #[test]
    fn a_service_that_appears_late_is_zero_before() {
        let mut c = RssCurve::default();
        c.push(0.0, &[("edge".into(), 5)]);
        c.push(1.0, &[("edge".into(), 6), ("server".into(), 7)]);
        assert_eq!(c.services, ["edge", "server"]);
        assert_eq!(c.bytes, [vec![5, 6], vec![0, 7]]);
    }
}
