//! Atomic file writes: content goes to a temporary file in the destination's folder, is flushed
//! to disk, and is then renamed over the destination. A run that is interrupted (Ctrl-C, a full
//! disk, a crash) leaves either the old file or the new one, never a truncated file that a later
//! run would take for complete and keep.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// Writes `bytes` to `path` atomically, creating the parent folders.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_with(path, |out| out.write_all(bytes))
}

/// Streams content produced by `fill` into `path` atomically, creating the parent folders.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| Error::io("creating folder", dir, source))?;
    let temp = temp_path(path);
    let result = (|| {
        let file = File::create(&temp)?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        fill(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    result.map_err(|source| {
        // Best effort: the temporary file is ours and useless now.
        let _ = fs::remove_file(&temp);
        Error::io("writing", path, source)
    })
}

/// A hidden sibling name, unique per process and call, so concurrent writers never share one.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Whether `name` is one of our temporary files (tests check that none is left behind).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_neither_temp_nor_destination() {
        let dir = std::env::temp_dir().join(format!("datagen-atomic-{}", std::process::id()));
        let path = dir.join("out.txt");
        let err = write_with(&path, |out| {
            out.write_all(b"partial")?;
            Err(io::Error::other("interrupted"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("out.txt"), "{err}");
        assert!(!path.exists());
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        write(&path, b"whole").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"whole");
        fs::remove_dir_all(&dir).unwrap();
    }
}
