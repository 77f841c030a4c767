//! The stack lock, `run/stack.lock`: one writer of the running stack at a time.
//!
//! `prodstack up`, `prodstack down`, the benchmark's partial stops and the supervisor
//! (`prodstack-supervisor`) all read the state file, start or stop processes, and write the
//! file back. Without a lock, a supervisor restarting a crashed service could race a `down`
//! that is stopping it, and start it again after `down` returned. Each of them holds this
//! lock for the whole read-act-write.
//!
//! It is an advisory `flock` on an open file (std's `File::lock`), so the kernel releases it
//! when its holder exits, however it exits: a killed `up` never leaves a stale lock behind.
//! The file holds the pid of the last holder, for the message of whoever waits.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::home::Home;

/// How long `up` and `down` wait for another holder before giving up: longer than any `up`
/// takes (five services, each bounded by its start timeout).
pub const WAIT_LIMIT: Duration = Duration::from_secs(600);

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct StackLock {
    /// The open lock file; the `flock` lives as long as this descriptor.
    file: File,
}

impl StackLock {
    /// `run/stack.lock` of `home`.
    pub fn path(home: &Home) -> PathBuf {
        home.run_dir().join("stack.lock")
    }

    /// Takes the lock, waiting at most `limit` for another holder (saying once that it waits).
    pub fn acquire(home: &Home, limit: Duration, say: &mut dyn FnMut(&str)) -> Result<Self> {
        let began = Instant::now();
        let mut said = false;
        loop {
            if let Some(lock) = Self::try_acquire(home)? {
                return Ok(lock);
            }
            let holder = Self::holder(home);
            if !said {
                say(&format!(
                    "waiting for the stack lock {} (held by {holder}: another `prodstack up`/`down` or the supervisor)",
                    Self::path(home).display()
                ));
                said = true;
            }
            if began.elapsed() >= limit {
                return Err(Error::Invalid(format!(
                    "gave up after {}s waiting for the stack lock {} held by {holder}",
                    limit.as_secs(),
                    Self::path(home).display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Takes the lock if nobody holds it; `None` when somebody does.
    pub fn try_acquire(home: &Home) -> Result<Option<Self>> {
        let path = Self::path(home);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).io_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .io_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(Error::Io {
                    what: format!("locking {}", path.display()),
                    source,
                })
            }
        }
        // Best effort: the pid is only for the message of whoever waits next.
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "{}", std::process::id());
        Ok(Some(Self { file }))
    }

    /// Who holds the lock, as far as its file says.
    fn holder(home: &Home) -> String {
        let mut text = String::new();
        let pid = File::open(Self::path(home))
            .and_then(|mut f| f.read_to_string(&mut text))
            .ok()
            .and_then(|_| text.trim().parse::<u32>().ok());
        match pid {
            Some(pid) => format!("pid {pid} ({})", crate::ports::process_command(pid)),
            None => "an unknown process".into(),
        }
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let first = StackLock::try_acquire(&home).unwrap().expect("free lock");
        // A second open file description conflicts even within one process.
        assert!(StackLock::try_acquire(&home).unwrap().is_none());
        let mut said = Vec::new();
        let err = StackLock::acquire(&home, Duration::from_millis(120), &mut |l| {
            said.push(l.to_string())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("gave up after"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert_eq!(said.len(), 1, "{said:?}");
        drop(first);
        assert!(StackLock::try_acquire(&home).unwrap().is_some());
    }
}
