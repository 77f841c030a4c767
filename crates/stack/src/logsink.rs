//! Size-capped service logs. `prodstack up` starts every service with its stdout and stderr on
//! a pipe, and one `prodstack-logsink` process per service copies the pipe into
//! `logs/<service>.log`. When that file passes [`LogLimits::max_bytes`] it becomes
//! `<service>.log.1` (the previous `.1` becomes `.2`, and so on up to [`LogLimits::keep`];
//! the oldest is deleted), so a service can never fill the disk: an outage that makes nginx log
//! two lines per failed request costs at most `(keep + 1) × max_bytes` per service.
//!
//! The sink reads until every writer has closed the pipe (the service and its children have
//! exited), then exits. It never blocks a service on disk space: if a write fails, what was
//! read is dropped and the sink keeps reading.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// How large a log may grow, and how many rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    pub max_bytes: u64,
    pub keep: u32,
}

impl Default for LogLimits {
    /// 16 MiB per file, two rotated files: at most 48 MiB per service.
    fn default() -> Self {
        Self {
            max_bytes: 16 << 20,
            keep: 2,
        }
    }
}

/// The name of the binary that runs [`copy`].
pub const BINARY: &str = "prodstack-logsink";

/// `path.N` for rotation `n`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

struct Sink {
    path: PathBuf,
    limits: LogLimits,
    file: Option<File>,
    written: u64,
}

impl Sink {
    fn open(path: &Path, limits: LogLimits) -> Self {
        let file = OpenOptions::new().create(true).append(true).open(path).ok();
        let written = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
            .unwrap_or(0);
        Self {
            path: path.to_path_buf(),
            limits,
            file,
            written,
        }
    }

    fn rotate(&mut self) {
        self.file = None;
        let _ = std::fs::remove_file(rotated(&self.path, self.limits.keep));
        for n in (1..self.limits.keep).rev() {
            let _ = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
        }
        if self.limits.keep > 0 {
            let _ = std::fs::rename(&self.path, rotated(&self.path, 1));
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
        *self = Self::open(&self.path.clone(), self.limits);
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.written > 0 && self.written + bytes.len() as u64 > self.limits.max_bytes {
            self.rotate();
        }
        if let Some(file) = &mut self.file {
            if file.write_all(bytes).is_ok() {
                self.written += bytes.len() as u64;
            }
        }
    }
}

/// Copies `input` into `path` with rotation until `input` ends.
pub fn copy(mut input: impl Read, path: &Path, limits: LogLimits) -> io::Result<()> {
    let mut sink = Sink::open(path, limits);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink.write(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_rotated_and_never_grows_past_its_limits() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("edge.log");
        let limits = LogLimits {
            max_bytes: 1000,
            keep: 2,
        };
        let line = "2026/12/01 [error] connect() failed (111: Connection refused)\n";
        // One read per line, as a service writes them (also across sink restarts: append).
        for _ in 0..500 {
            copy(line.as_bytes(), &log, limits).unwrap();
        }
        let sizes: Vec<u64> = [log.clone(), rotated(&log, 1), rotated(&log, 2)]
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect();
        assert!(sizes.iter().all(|s| *s <= 1000), "{sizes:?}");
        assert!(
            sizes[1] > 900 && sizes[2] > 900,
            "rotated files exist: {sizes:?}"
        );
        assert!(!rotated(&log, 3).exists(), "only two rotations are kept");
        assert!(sizes.iter().sum::<u64>() <= 3000);
        // The newest lines are in the current file.
        let current = std::fs::read_to_string(&log).unwrap();
        assert!(current.ends_with(line), "{current:?}");
    }

    #[test]
    fn appends_to_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        std::fs::write(&log, "==== prodstack: starting ====\n").unwrap();
        copy(&b"hello\n"[..], &log, LogLimits::default()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "==== prodstack: starting ====\nhello\n"
        );
    }
}
