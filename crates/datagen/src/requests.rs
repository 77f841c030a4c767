//! `requests/`: the URL lists and body the load generator (h2load `-i`) replays.
//!
//! With the default base URL the three files are byte-identical to HttpArena's. The reads file
//! is 1,000 blocks of 20 lines: the six static files, two `/public/baseline` queries rotating
//! through three `a`/`b` pairs, ten consecutive `/api/items/{id}` (block `k` carries ids
//! `10k+1 ..= 10k+10`, so ids 1–10,000 appear once each), and two `/api/me`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::{atomic, Error};

/// HttpArena's edge address, used in their request files.
pub const DEFAULT_BASE_URL: &str = "https://localhost:8443";

/// File names inside `requests/`.
pub const READS_FILE: &str = "production-stack-reads.txt";
pub const WRITES_FILE: &str = "production-stack-writes.txt";
pub const WRITE_BODY_FILE: &str = "production-stack-write-body.json";

/// The POST body of the write load (LF-terminated, 51 bytes).
pub const WRITE_BODY: &str = "{\"name\":\"bench-updated\",\"price\":250,\"quantity\":10}\n";

/// Static files requested in every block, in order.
pub const STATIC_PATHS: [&str; 6] = [
    "/static/reset.css",
    "/static/components.css",
    "/static/app.js",
    "/static/vendor.js",
    "/static/header.html",
    "/static/hero.webp",
];

/// The `/public/baseline` queries; block `k` uses pairs `k % 3` and `(k + 1) % 3`.
pub const BASELINE_QUERIES: [&str; 3] = ["a=1&b=1", "a=13&b=42", "a=100&b=7"];

/// Number of 20-line blocks in the reads file.
pub const READ_BLOCKS: usize = 1_000;
/// Item reads per block.
pub const ITEMS_PER_BLOCK: usize = 10;
/// Ids updated by the write load (`/api/items/1` ..= `/api/items/20`).
pub const WRITE_IDS: std::ops::RangeInclusive<u32> = 1..=20;

/// The reads file for `base_url` (no trailing slash, e.g. `https://localhost:8443`).
pub fn reads(base_url: &str) -> String {
    let mut out = String::with_capacity(800_000);
    for block in 0..READ_BLOCKS {
        for path in STATIC_PATHS {
            let _ = writeln!(out, "{base_url}{path}");
        }
        for offset in 0..2 {
            let query = BASELINE_QUERIES[(block + offset) % BASELINE_QUERIES.len()];
            let _ = writeln!(out, "{base_url}/public/baseline?{query}");
        }
        for i in 1..=ITEMS_PER_BLOCK {
            let _ = writeln!(out, "{base_url}/api/items/{}", block * ITEMS_PER_BLOCK + i);
        }
        for _ in 0..2 {
            let _ = writeln!(out, "{base_url}/api/me");
        }
    }
    out
}

/// The writes file for `base_url`: one `/api/items/{id}` line per id 1–20.
pub fn writes(base_url: &str) -> String {
    WRITE_IDS.fold(String::new(), |mut out, id| {
        let _ = writeln!(out, "{base_url}/api/items/{id}");
        out
    })
}

/// Writes the three request files for `base_url` into `dir` (created if needed), each
/// atomically, and returns their paths. The benchmark uses this for stacks on offset ports
/// (`https://localhost:<port>`).
pub fn write(dir: &Path, base_url: &str) -> Result<Vec<PathBuf>, Error> {
    let base_url = base_url.trim_end_matches('/');
    let files = [
        (READS_FILE, reads(base_url)),
        (WRITES_FILE, writes(base_url)),
        (WRITE_BODY_FILE, WRITE_BODY.to_owned()),
    ];
    let mut written = Vec::with_capacity(files.len());
    for (name, content) in files {
        let path = dir.join(name);
        atomic::write(&path, content.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
