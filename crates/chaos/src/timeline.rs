//! The scenario's timeline, from h2load's per-request logs (start time in µs since the epoch,
//! status, duration): answers per second by class, the pre-fault rate, and how long after the
//! fault was lifted throughput was back to 90 % of it.

use serde::Serialize;

use bench::h2load::LoggedRequest;

/// Throughput counts as recovered at this share of the pre-fault rate.
pub const RECOVERED_SHARE: f64 = 0.9;

/// The recovery measurement slides a one-second window (long enough to average out a busy
/// machine's jitter) in quarter-second steps (fine enough that a "≤ 2 s" bound is not decided
/// by which whole second the restart fell into).
const RECOVERY_WINDOW_S: f64 = 1.0;
const RECOVERY_STEP_S: f64 = 0.25;

/// Requests by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Classes {
    pub s2xx: u64,
    pub s3xx: u64,
    pub s4xx: u64,
    pub s5xx: u64,
    /// Logged without an HTTP answer (status -1: the stream or connection failed).
    pub unanswered: u64,
}

impl Classes {
    fn add(&mut self, status: i32) {
        match status {
            200..=299 => self.s2xx += 1,
            300..=399 => self.s3xx += 1,
            400..=499 => self.s4xx += 1,
            500..=599 => self.s5xx += 1,
            _ => self.unanswered += 1,
        }
    }

    pub fn errors(&self) -> u64 {
        self.s3xx + self.s4xx + self.s5xx + self.unanswered
    }

    pub fn total(&self) -> u64 {
        self.s2xx + self.errors()
    }
}

/// The load's requests, placed on the scenario's clock (seconds since the load started).
#[derive(Debug, Clone, Default)]
pub struct Load {
    /// (start second, status) of every request, sorted by start.
    requests: Vec<(f64, i32)>,
}

impl Load {
    /// `logged` requests of a load that started at `t0_unix_us`.
    pub fn new(logged: &[LoggedRequest], t0_unix_us: u64) -> Self {
        let mut requests: Vec<(f64, i32)> = logged
            .iter()
            .map(|r| (r.start_us as f64 / 1e6 - t0_unix_us as f64 / 1e6, r.status))
            .collect();
        requests.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self { requests }
    }

    /// Counts of the requests that started in `[from_s, to_s)`.
    pub fn classes(&self, from_s: f64, to_s: f64) -> Classes {
        let mut classes = Classes::default();
        for &(at, status) in &self.requests {
            if at >= from_s && at < to_s {
                classes.add(status);
            }
        }
        classes
    }

    /// Every non-2xx status answered (not counting unanswered requests), with its count.
    pub fn statuses(&self) -> Vec<(i32, u64)> {
        let mut counts: std::collections::BTreeMap<i32, u64> = Default::default();
        for &(_, status) in &self.requests {
            if !(200..300).contains(&status) && status > 0 {
                *counts.entry(status).or_default() += 1;
            }
        }
        counts.into_iter().collect()
    }

    /// One [`Classes`] per whole second of `0..seconds`.
    pub fn per_second(&self, seconds: u32) -> Vec<Classes> {
        (0..seconds)
            .map(|s| self.classes(f64::from(s), f64::from(s + 1)))
            .collect()
    }

    /// 2xx per second over `[from_s, to_s)`.
    pub fn rate_2xx(&self, from_s: f64, to_s: f64) -> f64 {
        if to_s <= from_s {
            return 0.0;
        }
        self.classes(from_s, to_s).s2xx as f64 / (to_s - from_s)
    }

    /// Seconds after `back_s` until the second that starts there carries at least
    /// [`RECOVERED_SHARE`] of `baseline` 2xx/s (a window sliding in quarter seconds); `None`
    /// when that never happens before `end_s`.
    pub fn recovery_after(&self, back_s: f64, baseline: f64, end_s: f64) -> Option<f64> {
        let target = baseline * RECOVERED_SHARE;
        let mut step = 0u32;
        loop {
            let start = back_s + f64::from(step) * RECOVERY_STEP_S;
            if start + RECOVERY_WINDOW_S > end_s {
                return None;
            }
            if self.rate_2xx(start, start + RECOVERY_WINDOW_S) >= target {
                return Some(start - back_s);
            }
            step += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rate` requests a second with `status` over `[from, to)` seconds.
    fn steady(from: f64, to: f64, rate: u64, status: i32) -> Vec<LoggedRequest> {
        let n = ((to - from) * rate as f64) as u64;
        (0..n)
            .map(|i| LoggedRequest {
                start_us: 1_000_000_000 + ((from + i as f64 / rate as f64) * 1e6) as u64,
                status,
                elapsed_us: 100,
            })
            .collect()
    }

    #[test]
    fn seconds_and_classes_follow_the_log() {
        let mut logged = steady(0.0, 2.0, 100, 200);
        logged.extend(steady(1.0, 1.5, 20, 503));
        logged.extend(steady(1.5, 2.0, 10, -1));
        let load = Load::new(&logged, 1_000_000_000);
        let seconds = load.per_second(3);
        assert_eq!(seconds[0].s2xx, 100);
        assert_eq!(
            (seconds[1].s2xx, seconds[1].s5xx, seconds[1].unanswered),
            (100, 10, 5)
        );
        assert_eq!(seconds[2].total(), 0);
        assert_eq!(load.statuses(), vec![(503, 10)]);
        assert_eq!(load.classes(0.0, 3.0).errors(), 15);
    }

    #[test]
    fn recovery_is_the_first_second_back_at_ninety_percent() {
        // 1000/s, nothing from 3 s to 6.5 s, then 500/s until 7 s, then 1000/s again: the
        // second from 6.75 s holds 125 + 1000 × 0.75 = 875 (< 900), the one from 7 s 1000.
        let mut logged = steady(0.0, 3.0, 1000, 200);
        logged.extend(steady(6.5, 7.0, 500, 200));
        logged.extend(steady(7.0, 10.0, 1000, 200));
        let load = Load::new(&logged, 1_000_000_000);
        let baseline = load.rate_2xx(1.0, 3.0);
        assert!((baseline - 1000.0).abs() < 1.0);
        let recovery = load.recovery_after(6.0, baseline, 10.0).unwrap();
        assert!((recovery - 1.0).abs() < 1e-9, "{recovery}");
        assert_eq!(load.recovery_after(6.0, baseline, 7.5), None);
        // Never dropped: recovered at once.
        let flat = Load::new(&steady(0.0, 10.0, 1000, 200), 1_000_000_000);
        assert_eq!(flat.recovery_after(6.0, 1000.0, 10.0), Some(0.0));
    }
}
