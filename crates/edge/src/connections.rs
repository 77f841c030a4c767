//! The edge's client connections as a bounded set: what each one is doing, when it has been
//! idle too long, and which one gives way when the set is full.
//!
//! - **Cap from the descriptor limit.** At start the soft `RLIMIT_NOFILE` is raised to the hard
//!   one and the cap is that limit minus what the process needs besides clients (upstream
//!   pools, the app server's database and Redis connections, listeners, files). An explicit
//!   `EDGE_MAX_CONNECTIONS` above it is lowered to it, with a warning: a cap the process cannot
//!   honour only turns into `accept: Too many open files` for everyone.
//! - **Idle connections give way.** At the cap, a new connection closes the oldest connection
//!   that has no request in flight (nginx does the same with its keep-alive connections when it
//!   runs out), so a flood of connections that never send anything cannot lock visitors out.
//!   Only when every connection is busy is the newcomer refused. A request is in flight from
//!   its head until its response body is sent ([`Tracked`]), so an idle connection has
//!   nothing to finish and is dropped at once.
//! - **Idle timeouts.** A connection with no request in flight is closed after
//!   [`Limits::first_request_timeout`] if it never sent one, else after
//!   [`Limits::idle_timeout`] (HTTP/2 included, where hyper has no idle timeout of its own).
//! - **Rapid reset.** A connection that has cancelled [`MAX_CANCELLED_STREAMS`] streams (reset
//!   before their answers went out), when that is most of its streams, is closed.
//! - **Memory back after a surge.** When the set shrinks to half of a peak of at least
//!   [`TRIM_PEAK`] connections, glibc is asked to return freed memory (`malloc_trim`), and
//!   again while the set keeps halving: freed per-connection buffers otherwise stay in the
//!   allocator's arenas, and RSS stayed at the attack's peak (698 MB) after 20,000 idle
//!   connections closed. One trim at the halfway point left the buffers of the second half of
//!   a mass close in the arenas (a test of 4,000 idle connections once ended 2 MB over its
//!   bound under load).
//!
//! [`Limits::first_request_timeout`]: crate::config::Limits::first_request_timeout
//! [`Limits::idle_timeout`]: crate::config::Limits::idle_timeout

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};

use tokio::time::Instant;

use tokio::sync::Notify;

use crate::metrics::Metrics;

/// Descriptors kept for everything but client connections, beyond the upstream pools.
const RESERVED_DESCRIPTORS: usize = 1024;

/// Peaks below this are not worth a `malloc_trim`.
pub const TRIM_PEAK: usize = 1024;

/// How long a trim waits for the rest of a mass close before it checks whether to trim again.
const TRIM_SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

/// Raises the soft descriptor limit to the hard one; returns the resulting limit.
pub fn raise_descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write or read the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    Some(limit.rlim_cur)
}

/// The connection cap: `requested` (or no bound) within what `descriptors` leaves after
/// `reserved` descriptors for everything else. Returns the cap and whether `requested` had to
/// be lowered.
pub fn cap(requested: Option<usize>, descriptors: Option<u64>, reserved: usize) -> (usize, bool) {
    let room = descriptors
        .map(|d| {
            (d as usize)
                .saturating_sub(reserved + RESERVED_DESCRIPTORS)
                .max(1)
        })
        .unwrap_or(usize::MAX);
    match requested {
        Some(n) if n > room => (room, true),
        Some(n) => (n, false),
        None => (room.min(1 << 20), false),
    }
}

/// Every open client connection, oldest first.
pub struct ConnectionTable {
    cap: usize,
    epoch: Instant,
    next_id: AtomicU64,
    live: Mutex<BTreeMap<u64, Arc<ConnectionState>>>,
    /// The most connections open since the last trim.
    peak: AtomicUsize,
    trimming: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

/// One connection, as the table and its own task see it.
#[derive(Debug)]
pub struct ConnectionState {
    epoch: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Requests whose answer never went out in full.
    cancelled: AtomicU64,
    reset_flood: AtomicBool,
    /// Milliseconds after the table's epoch when the last request started or finished (or the
    /// connection opened).
    last_active_ms: AtomicU64,
    closing: AtomicBool,
    close: Notify,
}

impl ConnectionState {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Marks a request in flight until the guard drops.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.last_active_ms.store(self.now_ms(), Ordering::Relaxed);
        InFlight {
            state: Arc::clone(self),
            completed: false,
        }
    }

    /// Whether it was closed for resetting too many streams.
    pub fn reset_flood(&self) -> bool {
        self.reset_flood.load(Ordering::Relaxed)
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }

    /// Resolves when the table asks this connection to give way.
    pub async fn evicted(&self) {
        loop {
            if self.closing.load(Ordering::Acquire) {
                return;
            }
            let notified = self.close.notified();
            if self.closing.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once the connection has had no request in flight for `first` (no request
    /// yet) or `idle` (after one).
    pub async fn idle_expired(&self, first: Duration, idle: Duration) {
        loop {
            let limit = if self.requests.load(Ordering::Relaxed) == 0 {
                first
            } else {
                idle
            };
            let since = Duration::from_millis(
                self.now_ms()
                    .saturating_sub(self.last_active_ms.load(Ordering::Relaxed)),
            );
            if self.is_idle() && since >= limit {
                return;
            }
            let wait = limit.saturating_sub(since).max(Duration::from_millis(50));
            tokio::time::sleep(wait).await;
        }
    }

    fn ask_to_close(&self) -> bool {
        if self.closing.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.close.notify_one();
        true
    }
}

/// A request in flight on its connection: from its head until its response body is sent
/// (or dropped). A connection without one has nothing to finish, so it may close at once.
/// One dropped before its response was complete was cancelled (the client reset the stream,
/// or went away).
pub struct InFlight {
    state: Arc<ConnectionState>,
    completed: bool,
}

/// A response body that keeps its request [`InFlight`] until the last byte is sent.
pub struct Tracked<B> {
    body: B,
    in_flight: InFlight,
    /// hyper saw the end of the body (it asks `is_end_stream` before the last frame).
    ended: std::cell::Cell<bool>,
}

impl<B> Tracked<B> {
    pub fn new(body: B, in_flight: InFlight) -> Self {
        Self {
            body,
            in_flight,
            ended: std::cell::Cell::new(false),
        }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.in_flight.completed = self.ended.get();
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            self.ended.set(true);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        let end = self.body.is_end_stream();
        if end {
            self.ended.set(true);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &self.state;
        state
            .last_active_ms
            .store(state.now_ms(), Ordering::Relaxed);
        state.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.completed {
            let cancelled = state.cancelled.fetch_add(1, Ordering::Relaxed) + 1;
            // The rapid-reset pattern: most of this connection's streams were reset before
            // their answers went out. Close it (at once, like an eviction).
            if cancelled == MAX_CANCELLED_STREAMS
                && cancelled * 2 > state.requests.load(Ordering::Relaxed)
            {
                state.reset_flood.store(true, Ordering::Relaxed);
                state.ask_to_close();
            }
        }
    }
}

/// Streams a connection may cancel (reset before their answer went out), when that is most of
/// its streams, before it is closed: HTTP/2 rapid reset (CVE-2023-44487) makes the edge start
/// a request per reset. h2load never resets; a browser resets a handful.
pub const MAX_CANCELLED_STREAMS: u64 = 1000;

/// A place in the table; the connection leaves it when this drops.
pub struct Admitted {
    table: Arc<ConnectionTable>,
    id: u64,
    pub state: Arc<ConnectionState>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let open = match self.table.live.lock() {
            Ok(mut live) => {
                live.remove(&self.id);
                live.len()
            }
            Err(poisoned) => {
                let mut live = poisoned.into_inner();
                live.remove(&self.id);
                live.len()
            }
        };
        self.table
            .metrics
            .connections_open
            .store(open as u64, Ordering::Relaxed);
        self.table.maybe_trim(open);
    }
}

impl ConnectionTable {
    pub fn new(cap: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            live: Mutex::new(BTreeMap::new()),
            peak: AtomicUsize::new(0),
            trimming: Arc::new(AtomicBool::new(false)),
            metrics,
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A place for a new connection: at the cap the oldest idle connection is asked to close
    /// to make room; `None` when every connection is busy (the newcomer is refused).
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut live = match self.live.lock() {
            Ok(live) => live,
            Err(poisoned) => poisoned.into_inner(),
        };
        if live.len() >= self.cap && !self.make_room(&live) {
            self.metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnectionState {
            epoch: self.epoch,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            reset_flood: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
            closing: AtomicBool::new(false),
            close: Notify::new(),
        });
        live.insert(id, Arc::clone(&state));
        let open = live.len();
        drop(live);
        self.metrics
            .connections_open
            .store(open as u64, Ordering::Relaxed);
        self.peak.fetch_max(open, Ordering::Relaxed);
        Some(Admitted {
            table: Arc::clone(self),
            id,
            state,
        })
    }

    /// At the cap: whether a newcomer may come in. Connections already asked to close count
    /// until they are gone, so room is made once per newcomer: if those leaving do not cover
    /// the overshoot, the oldest idle connection is asked to close too. Never beyond half the
    /// descriptor reserve over the cap, whatever is leaving.
    fn make_room(&self, live: &BTreeMap<u64, Arc<ConnectionState>>) -> bool {
        if live.len() >= self.cap + RESERVED_DESCRIPTORS / 2 {
            return false;
        }
        let leaving = live
            .values()
            .filter(|c| c.closing.load(Ordering::Relaxed))
            .count();
        if live.len() - leaving < self.cap {
            return true;
        }
        let evicted = live
            .values()
            .find(|c| c.is_idle() && !c.closing.load(Ordering::Relaxed))
            .is_some_and(|c| c.ask_to_close());
        if evicted {
            self.metrics
                .connections_evicted
                .fetch_add(1, Ordering::Relaxed);
        }
        evicted
    }

    /// After a surge: once the set is down to half its peak, hand freed memory back.
    fn maybe_trim(&self, open: usize) {
        let peak = self.peak.load(Ordering::Relaxed);
        if peak < TRIM_PEAK || open > peak / 2 {
            return;
        }
        if self.trimming.swap(true, Ordering::AcqRel) {
            return;
        }
        self.peak.store(open, Ordering::Relaxed);
        let trimming = Arc::clone(&self.trimming);
        let metrics = Arc::clone(&self.metrics);
        // Off the worker: trimming a large heap takes milliseconds. A surge usually ends in a
        // mass close, and most of it happens after this first trim: trim again while the set
        // keeps halving, so the tail's buffers go back too (a few trims at most).
        let spawned = std::thread::Builder::new()
            .name("edge-trim".into())
            .spawn(move || {
                let mut trimmed_at = open;
                loop {
                    trim_heap();
                    std::thread::sleep(TRIM_SETTLE);
                    let now = metrics.connections_open.load(Ordering::Relaxed) as usize;
                    if trimmed_at == 0 || now > trimmed_at / 2 {
                        break;
                    }
                    trimmed_at = now;
                }
                trimming.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.trimming.store(false, Ordering::Release);
        }
    }
}

/// glibc's trim ([`rt::heap::trim`]); mimalloc gives memory back by itself.
fn trim_heap() {
    if !cfg!(feature = "mimalloc") {
        rt::heap::trim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_everything_else() {
        assert_eq!(cap(None, Some(20_000), 64), (20_000 - 64 - 1024, false));
        assert_eq!(cap(Some(65_536), Some(20_000), 64), (18_912, true));
        assert_eq!(cap(Some(100), Some(20_000), 64), (100, false));
        assert_eq!(cap(Some(100), None, 64), (100, false));
        assert_eq!(cap(None, Some(10), 64), (1, false));
    }

    #[tokio::test]
    async fn at_the_cap_the_oldest_idle_connection_gives_way() {
        let metrics = Arc::new(Metrics::default());
        let table = ConnectionTable::new(2, Arc::clone(&metrics));
        let first = table.admit().unwrap();
        let second = table.admit().unwrap();
        let second_busy = second.state.request();
        // Full: the idle first connection is asked to close, the newcomer gets in.
        let third = table.admit().unwrap();
        tokio::time::timeout(Duration::from_secs(1), first.state.evicted())
            .await
            .expect("the idle connection was asked to close");
        assert_eq!(metrics.connections_evicted.load(Ordering::Relaxed), 1);
        let _third_busy = third.state.request();
        // First is leaving (still counted); second and third are busy: refused.
        assert!(table.admit().is_none(), "every staying connection is busy");
        drop(first);
        assert!(table.admit().is_none(), "every connection is busy");
        assert_eq!(metrics.connections_refused.load(Ordering::Relaxed), 2);
        drop(second_busy);
        let _sixth = table.admit().expect("second is idle now and gives way");
        assert_eq!(metrics.connections_evicted.load(Ordering::Relaxed), 2);
        assert_eq!(metrics.connections_open.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_connection_that_resets_most_of_its_streams_is_closed() {
        let table = ConnectionTable::new(8, Arc::new(Metrics::default()));
        let honest = table.admit().unwrap();
        for _ in 0..5000 {
            let request = honest.state.request();
            drop(Tracked::new(http_body_util::Empty::<bytes::Bytes>::new(), request).check_end());
        }
        assert!(
            !honest.state.reset_flood(),
            "complete answers are not resets"
        );
        let flood = table.admit().unwrap();
        for _ in 0..MAX_CANCELLED_STREAMS {
            drop(flood.state.request());
        }
        assert!(flood.state.reset_flood());
        assert!(flood.state.closing.load(Ordering::Relaxed));
    }

    impl<B: Body + Unpin> Tracked<B> {
        /// What hyper does before sending the last frame.
        fn check_end(self) -> Self {
            let _ = self.is_end_stream();
            self
        }
    }

    #[tokio::test]
    async fn idle_connections_expire_and_busy_ones_do_not() {
        let table = ConnectionTable::new(8, Arc::new(Metrics::default()));
        let conn = table.admit().unwrap();
        let (first, idle) = (Duration::from_millis(100), Duration::from_millis(400));
        let busy = conn.state.request();
        let waited = tokio::time::timeout(
            Duration::from_millis(800),
            conn.state.idle_expired(first, idle),
        )
        .await;
        assert!(
            waited.is_err(),
            "a connection with a request in flight expired"
        );
        drop(busy);
        let began = Instant::now();
        conn.state.idle_expired(first, idle).await;
        let waited = began.elapsed();
        assert!(
            waited >= Duration::from_millis(350),
            "after a request the idle limit applies, not the first-request one: {waited:?}"
        );
    }
}
