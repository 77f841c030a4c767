//! The checks of one scenario: its [`Expectation`] applied to what h2load and the ledger
//! recorded. Each check says what it asserted and what it found, pass or fail.

use serde::Serialize;

use crate::fault::Timing;
use crate::ledger::{LedgerResult, Outcome, ReadKind, Records};
use crate::run::ServerCounters;
use crate::scenario::Expectation;
use crate::timeline::Load;

/// One assertion and what was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub what: String,
    pub passed: bool,
    pub found: String,
}

impl Check {
    fn new(what: impl Into<String>, passed: bool, found: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            passed,
            found: found.into(),
        }
    }
}

/// Everything a scenario's checks look at.
pub struct Evidence<'a> {
    pub expectation: &'a Expectation,
    pub load: &'a Load,
    pub records: &'a Records,
    pub ledger: &'a LedgerResult,
    pub timing: &'a Timing,
    /// 2xx per second before the fault.
    pub baseline_rps: f64,
    /// Seconds after the service was back until throughput was (`None`: never).
    pub recovery_s: Option<f64>,
    /// The server's counters while the fault lasted.
    pub server_during: &'a ServerCounters,
    /// How to tell that the fault happened.
    pub kind: EffectKind,
}

/// What shows that a scenario's fault happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectKind {
    /// The server's Redis commands failed (no client may see it).
    RedisErrors,
    /// Writes were held for most of the freeze.
    HeldWrites,
    /// Clients got errors.
    Errors,
    /// The reload replaced the workers (nginx) or was counted (the Rust edge).
    OldWorkersExited,
    /// At least half the hostile crowd got through its TLS handshake (the edge may close
    /// them afterwards: that is its defence, not a miss).
    CrowdOpened,
}

fn list(counts: &[(i32, u64)]) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(status, n)| format!("{n} × {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ledger's answers other than its 204s and 200s, by status.
fn ledger_errors(records: &Records) -> Vec<(i32, u64)> {
    let mut counts: std::collections::BTreeMap<i32, u64> = Default::default();
    let writes = records
        .writes
        .iter()
        .filter_map(|w| w.outcome.status().filter(|s| *s != 204));
    let reads = records
        .reads
        .iter()
        .filter_map(|r| r.outcome.status().filter(|s| *s != 200));
    for status in writes.chain(reads) {
        *counts.entry(i32::from(status)).or_default() += 1;
    }
    counts.into_iter().collect()
}

fn outcomes(records: &Records) -> impl Iterator<Item = &Outcome> {
    records
        .writes
        .iter()
        .map(|w| &w.outcome)
        .chain(records.reads.iter().map(|r| &r.outcome))
}

pub fn checks(e: &Evidence<'_>) -> Vec<Check> {
    let x = e.expectation;
    let mut out = Vec::new();
    out.push(Check::new(
        "the load ran before the fault",
        e.baseline_rps > 0.0,
        format!("{:.0} 2xx/s before the fault", e.baseline_rps),
    ));

    out.push(took_effect(e));
    crowd_checks(e, &mut out);

    let allowed = |status: i32| x.allowed_errors.iter().any(|&a| i32::from(a) == status);
    let allowed_text = if x.allowed_errors.is_empty() {
        "no status other than 2xx".to_string()
    } else {
        format!(
            "no status other than 2xx and {}",
            x.allowed_errors
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join("/")
        )
    };
    let load_errors = e.load.statuses();
    let ledger_errors = ledger_errors(e.records);
    let bad: Vec<(i32, u64)> = load_errors
        .iter()
        .chain(&ledger_errors)
        .filter(|(s, _)| !allowed(*s))
        .copied()
        .collect();
    out.push(Check::new(
        allowed_text,
        bad.is_empty(),
        format!(
            "h2load: {}; ledger: {}",
            list(&load_errors),
            list(&ledger_errors)
        ),
    ));

    let load_unanswered = e.load.classes(f64::MIN, f64::MAX).unanswered;
    let failed: Vec<&String> = outcomes(e.records)
        .filter_map(|o| match o {
            Outcome::Failed(why) => Some(why),
            Outcome::Answered { .. } => None,
        })
        .collect();
    out.push(Check::new(
        "every request got an HTTP answer",
        load_unanswered == 0 && failed.is_empty(),
        format!(
            "h2load: {load_unanswered} unanswered; ledger: {} unanswered{}",
            failed.len(),
            failed
                .first()
                .map(|w| format!(" (first: {w})"))
                .unwrap_or_default()
        ),
    ));

    if !x.allowed_errors.is_empty() {
        let errors: Vec<(u16, bool, bool)> = outcomes(e.records)
            .filter_map(|o| match o {
                Outcome::Answered {
                    status,
                    json,
                    retry_after,
                    ..
                } if !(200..300).contains(status) => Some((*status, *json, *retry_after)),
                _ => None,
            })
            .collect();
        let not_json = errors.iter().filter(|(_, json, _)| !json).count();
        out.push(Check::new(
            "every error answer is JSON",
            not_json == 0,
            format!("{not_json} of {} error answers were not JSON", errors.len()),
        ));
        if x.retry_after {
            let unavailable: Vec<_> = errors.iter().filter(|(s, _, _)| *s == 503).collect();
            let without = unavailable.iter().filter(|(_, _, r)| !r).count();
            out.push(Check::new(
                "every 503 carries Retry-After",
                without == 0,
                format!("{without} of {} 503s without it", unavailable.len()),
            ));
        }
    }

    let reads_of = |kind: ReadKind| -> (usize, usize) {
        let reads: Vec<_> = e.records.reads.iter().filter(|r| r.kind == kind).collect();
        let ok = reads
            .iter()
            .filter(|r| r.outcome.status() == Some(200))
            .count();
        (ok, reads.len())
    };
    for (wanted, kind, path) in [
        (x.public_unaffected, ReadKind::Public, "/public/*"),
        (x.static_unaffected, ReadKind::Static, "/static/*"),
    ] {
        if wanted {
            let (ok, all) = reads_of(kind);
            out.push(Check::new(
                format!("{path} kept answering 200"),
                ok == all && all > 0,
                format!("{ok} of {all} reads answered 200"),
            ));
        }
    }
    if x.l1_hits_answer {
        let during: Vec<_> = e
            .records
            .reads
            .iter()
            .filter(|r| {
                r.kind == ReadKind::Hot
                    && r.started_s >= e.timing.injected_s
                    && r.started_s < e.timing.lifted_s
            })
            .collect();
        let hits = during
            .iter()
            .filter(|r| r.outcome.status() == Some(200))
            .count();
        // The server's L1 counter is the measure (thousands of hits in the TTL's last second
        // before entries expire); the ledger's hot-item reads are a sample of them, reported.
        let l1 = e.server_during.l1_hits;
        out.push(Check::new(
            "L1 hits went on being answered while the fault lasted",
            l1 > 0,
            format!(
                "the server counted {l1} L1 hits; {hits} of {} ledger reads of a hot item answered 200",
                during.len()
            ),
        ));
    }

    out.push(Check::new(
        format!(
            "throughput back to 90 % within {} s of the service being back",
            x.recovery_bound_s
        ),
        e.recovery_s.is_some_and(|r| r <= x.recovery_bound_s),
        match e.recovery_s {
            Some(r) => format!("{r:.2} s"),
            None => "never, within the window".into(),
        },
    ));

    if let Some(by_supervisor) = e.timing.restarted_by_supervisor {
        out.push(Check::new(
            format!(
                "the supervisor restarted it, within {} s",
                crate::fault::RESTART_TIMEOUT.as_secs()
            ),
            by_supervisor,
            if by_supervisor {
                format!(
                    "restart began {:.2} s after the fault, answering {:.2} s after it",
                    e.timing.lifted_s - e.timing.injected_s,
                    e.timing.back_s - e.timing.injected_s
                )
            } else {
                "no restart came: chaos started it itself".to_string()
            },
        ));
    }

    let l = e.ledger;
    let bound = x.stale_bound_s;
    out.push(Check::new(
        if bound > 0.0 {
            format!("no acknowledged write lost, no read staler than {bound} s (the item TTL)")
        } else {
            "no acknowledged write lost, no stale read".to_string()
        },
        l.passed_within(bound),
        format!(
            "{} writes, {} acknowledged, {} lost, {} applied without a 204, {} applied after a 4xx, {} rows unreadable; {} reads checked, {} stale{}, {} without a name{}",
            l.writes_sent,
            l.acknowledged,
            l.lost,
            l.applied_unacknowledged,
            l.applied_refused,
            l.unreadable,
            l.reads_checked,
            l.stale_reads,
            if l.stale_reads > 0 {
                format!(" (the stalest started {:.3} s after the 204 it missed)", l.max_stale_s)
            } else {
                String::new()
            },
            l.malformed_reads,
            l.problems
                .first()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        ),
    ));
    if bound > 0.0 {
        // Stale reads are allowed only while invalidations cannot flow: from the cut until
        // the backplane delivers again.
        let healed = e.timing.lifted_s + crate::scenario::HEAL_S;
        let after = l.stale_from(healed);
        let during = l.stale_from(e.timing.injected_s) - after;
        let before = l.stale.len() - during - after;
        out.push(Check::new(
            format!(
                "coherent outside the cut: no stale read before it, none from {} s after the link came back",
                crate::scenario::HEAL_S
            ),
            before == 0 && after == 0,
            format!(
                "{before} stale read(s) before the cut, {during} between the cut and then, {after} after"
            ),
        ));
    }
    out
}

/// Whether the fault did anything at all: a scenario that expects no error must not pass
/// because its fault missed (a freeze that stopped one process of many).
fn took_effect(e: &Evidence<'_>) -> Check {
    let during = e.load.classes(e.timing.injected_s, e.timing.back_s);
    let slowest_write = e
        .records
        .writes
        .iter()
        .filter(|w| w.sent_s >= e.timing.injected_s && w.sent_s < e.timing.lifted_s)
        .map(|w| w.answered_s - w.sent_s)
        .fold(0.0, f64::max);
    let (passed, found) = match e.kind {
        EffectKind::RedisErrors => (
            e.server_during.redis_errors > 0,
            format!(
                "the server counted {} Redis errors",
                e.server_during.redis_errors
            ),
        ),
        EffectKind::HeldWrites => (
            slowest_write >= 1.0,
            format!("the slowest ledger write sent during the fault took {slowest_write:.2} s"),
        ),
        EffectKind::Errors => (
            during.errors() > 0,
            format!("{} h2load requests failed while it lasted", during.errors()),
        ),
        EffectKind::CrowdOpened => {
            let (opened, held) = e
                .timing
                .crowd
                .as_ref()
                .map_or((0, 0), |c| (c.opened, c.held()));
            let planned = e.timing.crowd.as_ref().and_then(|c| c.plan).map_or(0, |p| {
                (p.idle + p.slow_headers + p.unread_connections) as u64
            });
            (
                planned > 0 && opened * 2 >= planned,
                format!("{opened} of {planned} hostile clients completed their TLS handshake; {held} still held when the hold began (the edge's timeouts closed the rest)"),
            )
        }
        EffectKind::OldWorkersExited => (
            e.timing.reload_finished == Some(true),
            if e.timing.reload_finished == Some(true) {
                format!(
                    "the reload was over (nginx: old workers exited; Rust edge: reload counted) {:.2} s after the signal",
                    e.timing.back_s - e.timing.injected_s
                )
            } else {
                format!(
                    "the reload was not over {:.2} s after the signal",
                    e.timing.back_s - e.timing.injected_s
                )
            },
        ),
    };
    Check::new("the fault took effect", passed, found)
}

/// The most a hostile connection may cost the edge's memory at the peak, on average.
pub const CROWD_BYTES_PER_CONNECTION: u64 = 64 * 1024;

/// How far above its peak while the crowd was held the edge's memory may be a second after
/// it left (the load goes on meanwhile; nginx keeps what it allocated).
pub const CROWD_AFTER_SLACK: f64 = 1.05;

/// The hostile-clients checks: legitimate throughput while the crowd was held, no service
/// restarted, and the edge's memory bounded while it held them and not growing after.
fn crowd_checks(e: &Evidence<'_>, out: &mut Vec<Check>) {
    let Some(c) = &e.timing.crowd else {
        return;
    };
    let floor = e.expectation.throughput_floor;
    let during = e.load.rate_2xx(c.held_from_s, c.released_s);
    // Reported, not asserted: while the crowd handshakes, the edge spends its CPU on full TLS
    // handshakes at the pace the attacker chooses (hardening against that is rate limiting,
    // which loopback load cannot tell apart from the crowd).
    let opening = e.load.rate_2xx(e.timing.injected_s, c.held_from_s);
    out.push(Check::new(
        format!(
            "legitimate throughput while the crowd was held ≥ {:.0} % of before",
            floor * 100.0
        ),
        e.baseline_rps > 0.0 && during >= floor * e.baseline_rps,
        format!(
            "{during:.0} 2xx/s while {} hostile connections were held ({:.0} % of {:.0}); {opening:.0} 2xx/s ({:.0} %) over the {:.1} s of their handshakes",
            c.held(),
            100.0 * during / e.baseline_rps.max(1e-9),
            e.baseline_rps,
            100.0 * opening / e.baseline_rps.max(1e-9),
            c.held_from_s - e.timing.injected_s
        ),
    ));
    out.push(Check::new(
        "nothing crashed: every service kept its process",
        e.timing.crashed.is_empty(),
        if e.timing.crashed.is_empty() {
            "every service has the pid it had before".to_string()
        } else {
            format!("changed or gone: {}", e.timing.crashed.join(", "))
        },
    ));
    // Per client that got through its handshake: each held a connection for a while.
    let grew = c
        .edge_peak
        .rss_bytes
        .saturating_sub(c.edge_before.rss_bytes);
    let bound = c.opened.max(1) * CROWD_BYTES_PER_CONNECTION;
    let mib = |b: u64| b as f64 / 1048576.0;
    out.push(Check::new(
        format!(
            "the edge's memory stayed bounded: ≤ {} KiB per hostile connection at the peak, no more than {:.0} % above that peak once they left",
            CROWD_BYTES_PER_CONNECTION / 1024,
            (CROWD_AFTER_SLACK - 1.0) * 100.0
        ),
        grew <= bound
            && c.edge_after.rss_bytes as f64 <= c.edge_peak.rss_bytes as f64 * CROWD_AFTER_SLACK,
        format!(
            "RSS {:.1} MiB before, {:.1} MiB at the peak (+{:.1} MiB, {:.1} KiB per connection opened), {:.1} MiB 1 s after; descriptors {} / {} / {}",
            mib(c.edge_before.rss_bytes),
            mib(c.edge_peak.rss_bytes),
            mib(grew),
            grew as f64 / 1024.0 / c.opened.max(1) as f64,
            mib(c.edge_after.rss_bytes),
            c.edge_before.descriptors,
            c.edge_peak.descriptors,
            c.edge_after.descriptors
        ),
    ));
}
