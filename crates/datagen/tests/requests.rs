//! `requests/`: the read mix, the write list and body, and byte-compatibility with HttpArena.

mod common;

use std::collections::BTreeMap;

use datagen::requests;

#[test]
fn reads_file_has_the_production_stack_mix() {
    let reads = requests::reads(requests::DEFAULT_BASE_URL);
    assert!(reads.ends_with('\n'));
    let lines: Vec<&str> = reads.lines().collect();
    assert_eq!(lines.len(), 20_000);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut item_ids = vec![0u32; 10_001];
    for line in &lines {
        let path = line.strip_prefix("https://localhost:8443").unwrap();
        let kind = if path.starts_with("/static/") {
            "static"
        } else if path.starts_with("/public/baseline?a=") {
            "baseline"
        } else if let Some(id) = path.strip_prefix("/api/items/") {
            item_ids[id.parse::<usize>().unwrap()] += 1;
            "items"
        } else if path == "/api/me" {
            "me"
        } else {
            panic!("unexpected line {line}");
        };
        *kinds.entry(kind).or_default() += 1;
    }
    assert_eq!(kinds["static"], 6_000);
    assert_eq!(kinds["baseline"], 2_000);
    assert_eq!(kinds["items"], 10_000);
    assert_eq!(kinds["me"], 2_000);
    assert_eq!(item_ids[0], 0);
    assert!(
        item_ids[1..].iter().all(|&n| n == 1),
        "ids 1..=10000 once each"
    );
    // The 20-line block: 6 static, 2 baseline, 10 consecutive items, 2 me.
    for (k, block) in lines.chunks(20).enumerate() {
        assert!(block[..6].iter().all(|l| l.contains("/static/")));
        assert!(block[6..8].iter().all(|l| l.contains("/public/baseline?")));
        for (i, line) in block[8..18].iter().enumerate() {
            assert!(line.ends_with(&format!("/api/items/{}", 10 * k + i + 1)));
        }
        assert!(block[18..].iter().all(|l| l.ends_with("/api/me")));
    }
}

#[test]
fn writes_file_and_body() {
    let writes = requests::writes(requests::DEFAULT_BASE_URL);
    let lines: Vec<&str> = writes.lines().collect();
    assert_eq!(lines.len(), 20);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("https://localhost:8443/api/items/{}", i + 1));
    }
    assert_eq!(
        requests::WRITE_BODY.as_bytes(),
        b"{\"name\":\"bench-updated\",\"price\":250,\"quantity\":10}\n"
    );
    assert_eq!(requests::WRITE_BODY.len(), 51);
}

#[test]
fn files_for_another_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let written = requests::write(dir.path(), "https://localhost:18443/").unwrap();
    assert_eq!(written.len(), 3);
    let reads = std::fs::read_to_string(dir.path().join(requests::READS_FILE)).unwrap();
    assert_eq!(reads.lines().count(), 20_000);
    assert!(reads
        .lines()
        .all(|l| l.starts_with("https://localhost:18443/")));
    assert!(
        !reads.contains("18443//"),
        "trailing slash of the base is trimmed"
    );
    let writes = std::fs::read_to_string(dir.path().join(requests::WRITES_FILE)).unwrap();
    assert_eq!(
        writes.lines().next(),
        Some("https://localhost:18443/api/items/1")
    );
    let body = std::fs::read(dir.path().join(requests::WRITE_BODY_FILE)).unwrap();
    assert_eq!(body, requests::WRITE_BODY.as_bytes());
}

#[test]
fn default_files_are_byte_identical_to_httparenas() {
    let Some(fixture) = common::httparena("default_files_are_byte_identical_to_httparenas") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    requests::write(dir.path(), requests::DEFAULT_BASE_URL).unwrap();
    for name in [
        requests::READS_FILE,
        requests::WRITES_FILE,
        requests::WRITE_BODY_FILE,
    ] {
        let ours = std::fs::read(dir.path().join(name)).unwrap();
        let theirs = std::fs::read(fixture.join("requests").join(name)).unwrap();
        assert!(ours == theirs, "{name} differs from HttpArena's");
    }
}
