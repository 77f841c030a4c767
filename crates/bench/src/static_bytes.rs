//! How many bytes of static files one cycle of the reads list costs on the wire, as the edge
//! answers h2load's `Accept-Encoding: br;q=1, gzip;q=0.8`: brotli siblings are smaller than
//! gzip ones, so an edge that negotiates brotli moves fewer bytes per request.
//!
//! Measured, not computed from the files: every distinct `/static/` URL of the reads list is
//! fetched once through the running edge with h2load's header, and its body size is weighted by
//! how often the URL occurs per cycle. The static lines repeat a fixed block (HttpArena's list:
//! 6 files × 1,000); a cycle is that block, found as the greatest common divisor of their
//! occurrence counts.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use validate::curl::{self, Request};

/// h2load's header in HttpArena's reads instance.
pub const READS_ACCEPT_ENCODING: &str = "br;q=1, gzip;q=0.8";

/// One static URL as the edge served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticAnswer {
    pub path: String,
    pub per_cycle: u64,
    pub encoding: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticBytes {
    pub answers: Vec<StaticAnswer>,
}

impl StaticBytes {
    pub fn per_cycle(&self) -> u64 {
        self.answers.iter().map(|a| a.bytes * a.per_cycle).sum()
    }

    /// `br ×5, identity ×1`-style summary of the encodings served.
    pub fn encodings(&self) -> String {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for a in &self.answers {
            *counts.entry(a.encoding.as_str()).or_default() += a.per_cycle;
        }
        counts
            .iter()
            .map(|(e, n)| format!("{e} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Occurrences per cycle of each distinct line of `list` (the cycle being the largest block
/// the list repeats a whole number of times).
pub fn per_cycle_counts(list: &str) -> BTreeMap<&str, u64> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for line in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *counts.entry(line).or_default() += 1;
    }
    let cycles = counts.values().copied().fold(0, gcd).max(1);
    counts.values_mut().for_each(|c| *c /= cycles);
    counts
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Fetches every static URL of the reads list at `reads` through `base_url`'s edge.
pub fn measure(reads: &Path, base_url: &str) -> anyhow::Result<StaticBytes> {
    let list =
        std::fs::read_to_string(reads).with_context(|| format!("reading {}", reads.display()))?;
    let static_lines: String = list
        .lines()
        .filter(|line| line.contains("/static/"))
        .flat_map(|line| [line, "\n"])
        .collect();
    let mut answers = Vec::new();
    for (url, per_cycle) in per_cycle_counts(&static_lines) {
        let Some(at) = url.find("/static/") else {
            continue;
        };
        let path = &url[at..];
        let response = curl::send(
            &Request::get(format!("{base_url}{path}"))
                .header("Accept-Encoding", READS_ACCEPT_ENCODING),
        )?;
        anyhow::ensure!(
            response.status == 200,
            "GET {path} answered {}",
            response.status
        );
        answers.push(StaticAnswer {
            path: path.to_string(),
            per_cycle,
            encoding: response
                .header("content-encoding")
                .unwrap_or("identity")
                .to_string(),
            bytes: response.body.len() as u64,
        });
    }
    Ok(StaticBytes { answers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_the_repeated_block() {
        let list = "a\nb\na\nc\na\nb\na\nc\n";
        let counts = per_cycle_counts(list);
        assert_eq!(counts["a"], 2);
        assert_eq!(counts["b"], 1);
        assert_eq!(counts["c"], 1);
        assert!(per_cycle_counts("").is_empty());
    }

    #[test]
    fn bytes_are_weighted_by_occurrence() {
        let bytes = StaticBytes {
            answers: vec![
                StaticAnswer {
                    path: "/static/a.css".into(),
                    per_cycle: 2,
                    encoding: "br".into(),
                    bytes: 100,
                },
                StaticAnswer {
                    path: "/static/b.webp".into(),
                    per_cycle: 1,
                    encoding: "identity".into(),
                    bytes: 1000,
                },
            ],
        };
        assert_eq!(bytes.per_cycle(), 1200);
        assert_eq!(bytes.encodings(), "br ×2, identity ×1");
    }
}
