//! When the supervisor restarts a crashed service: the restart policy and the per-service
//! backoff that applies it.
//!
//! The first restart after a crash waits [`RestartPolicy::first_delay`]; every further crash
//! of the same service while it has not yet run [`RestartPolicy::stable_after`] since its last
//! restart doubles the wait, up to [`RestartPolicy::max_delay`]; a failed restart attempt counts
//! as another crash. This is the shape of systemd's `RestartSec` with `RestartSteps` and of
//! Docker's restart policy (doubling, reset after the container stayed up): a crash loop
//! costs a bounded, shrinking share of the machine, while a one-off crash comes back after
//! one short wait.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::service::Service;

/// How the supervisor spaces its restarts of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// The wait before the first restart after a crash.
    pub first_delay: Duration,
    /// The longest wait, however many crashes came in a row.
    pub max_delay: Duration,
    /// A service that ran this long since its last restart crashed "for the first time" again.
    pub stable_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// The wait before restart number `in_a_row` (1 = the first after a stable run).
    pub fn delay(&self, in_a_row: u32) -> Duration {
        let doublings = in_a_row.saturating_sub(1).min(20);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// One line for `status` and the logs.
    pub fn describe(&self) -> String {
        format!(
            "restarts a crashed service after {:.1}s, doubling to {:.0}s while it keeps crashing within {:.0}s",
            self.first_delay.as_secs_f64(),
            self.max_delay.as_secs_f64(),
            self.stable_after.as_secs_f64()
        )
    }
}

/// One service's place in the policy.
#[derive(Debug, Clone, Default)]
struct Track {
    /// Crashes in a row (0 before the first).
    in_a_row: u32,
    /// When the pending restart is due; `None` while the service runs.
    due: Option<Instant>,
    /// When it was last restarted.
    last_restart: Option<Instant>,
    /// Restarts this supervisor made of it (the state file's count, which an `up` that
    /// forgets a dead entry would otherwise reset).
    restarts: u32,
}

/// The policy applied to every service of one stack, across its crashes.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The spacing it applies.
    policy: RestartPolicy,
    /// Per service; a service never seen down has no entry.
    tracks: BTreeMap<Service, Track>,
}

impl Backoff {
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            tracks: BTreeMap::new(),
        }
    }

    /// The policy of the latest `up` (waits already scheduled keep theirs).
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// Restarts made of `service` so far.
    pub fn restarts(&self, service: Service) -> u32 {
        self.tracks.get(&service).map_or(0, |t| t.restarts)
    }

    /// `service` was seen down at `now`. The first sighting of a crash schedules its restart
    /// and returns the wait and the crash count in a row; later sightings of the same
    /// outage return `None`.
    pub fn down(&mut self, service: Service, now: Instant) -> Option<(Duration, u32)> {
        let policy = self.policy;
        let track = self.tracks.entry(service).or_default();
        if track.due.is_some() {
            return None;
        }
        let unstable = track
            .last_restart
            .is_some_and(|at| now.duration_since(at) < policy.stable_after);
        track.in_a_row = if unstable { track.in_a_row + 1 } else { 1 };
        let wait = policy.delay(track.in_a_row);
        track.due = Some(now + wait);
        Some((wait, track.in_a_row))
    }

    /// Whether a restart of `service` is scheduled.
    pub fn is_pending(&self, service: Service) -> bool {
        self.tracks.get(&service).is_some_and(|t| t.due.is_some())
    }

    /// Whether `service`'s pending restart is due at `now`.
    pub fn is_due(&self, service: Service, now: Instant) -> bool {
        self.tracks
            .get(&service)
            .and_then(|t| t.due)
            .is_some_and(|due| now >= due)
    }

    /// `service` was restarted at `now` and is healthy; returns its restart count.
    pub fn restarted(&mut self, service: Service, now: Instant) -> u32 {
        let track = self.tracks.entry(service).or_default();
        track.due = None;
        track.last_restart = Some(now);
        track.restarts += 1;
        track.restarts
    }

    /// The restart attempt at `now` failed: the next one waits one step longer. Returns it.
    pub fn failed(&mut self, service: Service, now: Instant) -> Duration {
        let policy = self.policy;
        let track = self.tracks.entry(service).or_default();
        track.in_a_row += 1;
        let wait = policy.delay(track.in_a_row);
        track.due = Some(now + wait);
        wait
    }

    /// `service` is running again without a restart of ours (a person's `prodstack up`).
    pub fn running(&mut self, service: Service) {
        if let Some(track) = self.tracks.get_mut(&service) {
            track.due = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Service = Service::Cache;

    #[test]
    fn waits_double_while_a_service_keeps_crashing_and_reset_after_a_stable_run() {
        let policy = RestartPolicy::default();
        assert_eq!(
            (1..=7)
                .map(|n| policy.delay(n).as_secs())
                .collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 30, 30]
        );
        assert_eq!(policy.delay(u32::MAX), policy.max_delay);

        let t0 = Instant::now();
        let mut b = Backoff::new(policy);
        assert!(!b.is_due(S, t0), "nothing is pending before a crash");
        assert!(!b.is_pending(S));
        assert_eq!(b.down(S, t0), Some((Duration::from_secs(1), 1)));
        assert!(b.is_pending(S));
        assert_eq!(b.down(S, t0), None, "the same outage is scheduled once");
        assert!(!b.is_due(S, t0 + Duration::from_millis(999)));
        assert!(b.is_due(S, t0 + Duration::from_secs(1)));
        assert_eq!(b.restarted(S, t0 + Duration::from_secs(1)), 1);
        assert!(!b.is_due(S, t0 + Duration::from_secs(2)));

        // It crashes again 5 s after the restart: two in a row.
        let t1 = t0 + Duration::from_secs(6);
        assert_eq!(b.down(S, t1), Some((Duration::from_secs(2), 2)));
        // The attempt fails: a third step.
        assert_eq!(
            b.failed(S, t1 + Duration::from_secs(2)),
            Duration::from_secs(4)
        );
        assert!(!b.is_due(S, t1 + Duration::from_secs(5)));
        assert!(b.is_due(S, t1 + Duration::from_secs(6)));
        let t2 = t1 + Duration::from_secs(6);
        assert_eq!(b.restarted(S, t2), 2);
        assert_eq!(b.restarts(S), 2);

        // A crash after a stable minute starts from the first delay again.
        let t3 = t2 + policy.stable_after;
        assert_eq!(b.down(S, t3), Some((Duration::from_secs(1), 1)));
        // A person's `up` brought it back first: nothing stays pending.
        b.running(S);
        assert!(!b.is_due(S, t3 + Duration::from_secs(5)));
        // Other services are tracked apart.
        assert_eq!(b.down(Service::Edge, t3), Some((Duration::from_secs(1), 1)));
    }
}
