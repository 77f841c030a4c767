//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// HttpArena's files (`data/`, `requests/`, `certs/`), when the fixture folder is present.
/// Tests that need it print why they skip otherwise.
pub fn httparena(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/httparena");
    if dir.join("data/dataset.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping {test}: HttpArena fixture not found at {}",
            dir.display()
        );
        None
    }
}

/// Every regular file under `root`, relative to it, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

pub fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Options for a quiet run into `home` with a fixed secret (tests never read `JWT_SECRET`).
pub fn options(home: &Path) -> datagen::Options {
    let mut options = datagen::Options::new(home);
    options.jwt_secret = "test-secret".into();
    options
}
