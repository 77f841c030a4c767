//! Giving freed heap memory back to the kernel, on an interval: [`Trimmer`].
//!
//! glibc's malloc returns memory to the kernel only from the top of a heap. Memory freed
//! below a chunk still in use stays in the process, counted in its resident set, until
//! `malloc_trim(3)` hands the free pages inside the heap back (`madvise(MADV_DONTNEED)`). An
//! app server behind nginx is the case that needs it: each upstream connection nginx opens
//! holds a few buffers, nginx keeps up to 2,048 idle ones per worker, and when the pool shrinks
//! the freed buffers sit between live ones. Without a trim, the server's memory follows the
//! pool's high-water mark for the life of the process; with one, it follows the pool.
//!
//! The trim runs on a thread of its own, so it never takes a runtime worker's turn; it holds
//! each arena's lock while it walks that arena (about a millisecond for tens of MiB). Off glibc
//! (musl) [`trim`] does nothing. A binary whose global allocator is mimalloc, which gives
//! memory back by itself, starts no [`Trimmer`]: that choice is the binary's (its `mimalloc`
//! feature), so it is made there.

use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Hands the free pages of every malloc arena back to the kernel; `true` when it released
/// any. A no-op (`false`) off glibc.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena).
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// A thread that calls [`trim`] every `interval` until dropped.
#[derive(Debug)]
pub struct Trimmer {
    /// Dropping it wakes the thread, which then ends.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Trimmer {
    /// Starts the thread (`heap-trim`); the first trim is one `interval` from now.
    pub fn start(interval: Duration) -> io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("heap-trim".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    trim();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// This process' private resident memory (`RssAnon`), bytes.
    fn rss_anon() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// The case the module exists for: buffers freed between buffers still in use stay
    /// resident until a trim, and the trimmer gives them back.
    #[test]
    fn freed_buffers_between_live_ones_go_back_to_the_kernel_on_the_next_trim() {
        const BUFFERS: usize = 6_000;
        const SIZE: usize = 8 * 1024;
        // Below glibc's mmap threshold, so they come from the heap; touched, so resident.
        let mut buffers: Vec<Vec<u8>> = (0..BUFFERS).map(|i| vec![i as u8 | 1; SIZE]).collect();
        let before_free = rss_anon();
        // Keep every tenth: nothing freed is at the top of the heap any more.
        let mut i = 0;
        buffers.retain(|_| {
            i += 1;
            i % 10 == 0
        });
        let freed = (BUFFERS - buffers.len()) * SIZE;
        let after_free = rss_anon();
        let _trimmer = Trimmer::start(Duration::from_millis(20)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut after_trim = rss_anon();
        while after_free.saturating_sub(after_trim) < freed as u64 / 2
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
            after_trim = rss_anon();
        }
        assert!(
            after_free.saturating_sub(after_trim) >= freed as u64 / 2,
            "freed {freed} B: RssAnon {before_free} with the buffers, {after_free} after free, \
             {after_trim} after the trims"
        );
        assert!(buffers.iter().all(|b| b.len() == SIZE && b[0] != 0));
    }

    #[test]
    fn dropping_the_trimmer_ends_its_thread_at_once() {
        let started = std::time::Instant::now();
        drop(Trimmer::start(Duration::from_secs(3600)).unwrap());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
