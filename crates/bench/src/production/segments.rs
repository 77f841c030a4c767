//! How long each h2load pair of a run lasts: one pair for a short run, back-to-back segments
//! for a long one (a soak).
//!
//! h2load never reconnects. When the edge closes a connection at its request limit (nginx's
//! `keepalive_requests 10000`), that client is done for the rest of
//! the process, and its in-flight requests count as unanswered. So one h2load process cannot
//! carry a long run. Measured: a 10-minute run at 256 connections on the 2-CPU build machine
//! stopped sending after 2,560,000 reads (256 × 10,000), about 270 s in, and counted 985
//! requests as unanswered.
//!
//! A run of up to [`SINGLE_RUN_MAX_S`] is one pair, as HttpArena runs it (its runs are 5 s). A
//! longer run is cut into segments sized from the per-connection rate of the segment before:
//! [`REQUESTS_PER_CONNECTION`] (half the edge's limit) at that rate, within [`MIN_SEGMENT_S`]
//! to [`MAX_SEGMENT_S`]. The first segment is [`FIRST_SEGMENT_S`], before any rate is known. A
//! remainder shorter than [`MIN_SEGMENT_S`] joins the segment before it, so that no segment is
//! mostly TLS handshakes. What that keeps under nginx's 10,000: any rate below 1,000 requests/s
//! per connection in the first segment (HttpArena's box runs about 800 at 256 connections) and
//! below 2,000 in the 5 s ones; this machine runs about 40. A new segment costs one TLS
//! handshake per connection.

use std::path::Path;

/// The longest run that is one h2load pair.
pub const SINGLE_RUN_MAX_S: u32 = 30;

/// At most this many requests per connection and segment: half of nginx's 10,000.
pub const REQUESTS_PER_CONNECTION: f64 = 5_000.0;

/// The first segment of a long run, before any rate is known.
pub const FIRST_SEGMENT_S: u32 = 10;

/// Bounds of a segment: at least a few seconds of load per handshake round, at most a minute
/// (a last segment may be up to [`MIN_SEGMENT_S`] longer, holding the remainder).
pub const MIN_SEGMENT_S: u32 = 5;
pub const MAX_SEGMENT_S: u32 = 60;

/// The longest h2load of a `duration_s` run: what a load-generator timeout must exceed.
pub fn longest_segment_s(duration_s: u32) -> u32 {
    if duration_s <= SINGLE_RUN_MAX_S {
        duration_s
    } else {
        duration_s.min(MAX_SEGMENT_S + MIN_SEGMENT_S - 1)
    }
}

/// The length of the next h2load pair of a `duration_s` run with `done_s` already run. The
/// `per_connection_rps` is the fastest connection rate of the previous segment, `None` before
/// the first. Returns 0 once the run is complete.
pub fn next_segment_s(duration_s: u32, done_s: u32, per_connection_rps: Option<f64>) -> u32 {
    let remaining = duration_s.saturating_sub(done_s);
    if duration_s <= SINGLE_RUN_MAX_S {
        return remaining;
    }
    let wanted = match per_connection_rps {
        None => FIRST_SEGMENT_S,
        Some(rate) if rate > 0.0 => {
            let seconds = (REQUESTS_PER_CONNECTION / rate).floor();
            seconds.clamp(f64::from(MIN_SEGMENT_S), f64::from(MAX_SEGMENT_S)) as u32
        }
        Some(_) => MAX_SEGMENT_S,
    };
    if remaining < wanted + MIN_SEGMENT_S {
        remaining
    } else {
        wanted
    }
}

/// Removes the segment logs (`reads-N.log`, `writes-N.log`) an earlier run left in `scratch`,
/// so that the folder only holds the logs of the run being made (a soak's are large).
pub fn remove_segment_logs(scratch: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_segment_log(name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `reads-N.log` or `writes-N.log`.
fn is_segment_log(name: &str) -> bool {
    ["reads-", "writes-"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".log"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_segment_logs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "reads-1.log",
            "writes-12.log",
            "reads.log",
            "reads-x.log",
            "reads.out",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        remove_segment_logs(dir.path());
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        left.sort();
        assert_eq!(left, ["reads-x.log", "reads.log", "reads.out"]);
    }

    #[test]
    fn a_short_run_is_one_pair() {
        assert_eq!(next_segment_s(5, 0, None), 5);
        assert_eq!(next_segment_s(5, 5, None), 0);
        assert_eq!(
            next_segment_s(SINGLE_RUN_MAX_S, 0, Some(1e6)),
            SINGLE_RUN_MAX_S
        );
    }

    #[test]
    fn a_long_run_is_cut_where_no_connection_reaches_half_the_limit() {
        assert_eq!(next_segment_s(600, 0, None), FIRST_SEGMENT_S);
        // 40 requests/s per connection (this machine): 125 s would reach 5,000; capped at 60.
        assert_eq!(next_segment_s(600, 10, Some(40.0)), 60);
        // 800/s (HttpArena's box at 256 connections): 6 s.
        assert_eq!(next_segment_s(600, 10, Some(800.0)), 6);
        // Faster still: never under 5 s.
        assert_eq!(next_segment_s(600, 10, Some(1e5)), MIN_SEGMENT_S);
        // Nothing answered: the longest segment.
        assert_eq!(next_segment_s(600, 10, Some(0.0)), MAX_SEGMENT_S);
        // The last segment is what is left, a short remainder included.
        assert_eq!(next_segment_s(600, 590, Some(40.0)), 10);
        assert_eq!(next_segment_s(600, 600, Some(40.0)), 0);
        assert_eq!(next_segment_s(600, 592, Some(800.0)), 8);
        assert_eq!(next_segment_s(600, 589, Some(800.0)), 6);
        assert_eq!(longest_segment_s(5), 5);
        assert_eq!(longest_segment_s(600), 64);
        assert_eq!(longest_segment_s(40), 40);
    }

    #[test]
    fn segments_add_up_to_the_duration() {
        let mut done = 0;
        let mut count = 0;
        loop {
            let segment = next_segment_s(600, done, (count > 0).then_some(800.0));
            if segment == 0 {
                break;
            }
            assert!(segment >= MIN_SEGMENT_S && segment <= longest_segment_s(600));
            done += segment;
            count += 1;
        }
        assert_eq!(done, 600);
        // 10 s, then 97 segments of 6 s and a last one of 8 s.
        assert_eq!(count, 1 + 97 + 1);
    }
}
