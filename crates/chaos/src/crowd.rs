//! The hostile-clients scenario's crowd, opened against the edge while the load runs: idle TLS
//! connections that never send a request, slowloris clients that trickle a request head a
//! byte a second, and HTTP/2 connections whose static-file streams are never read
//! ([`hostile`]'s clients). It is held for [`FAULT_S`] once every client was tried, then
//! dropped, while the edge's process tree is sampled for memory and descriptors.
//!
//! The clients run on a runtime of their own, pinned to the load generator's CPUs, so the
//! stack's CPUs do only the stack's work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bench::procstat::{TreeResources, TreeSampler};
use hostile::idle::IdleConnections;
use hostile::slow_headers::SlowHeaders;
use hostile::unread::{UnreadPlan, UnreadStreams};
use hostile::Target;
use serde::Serialize;
use stack::CpuSet;

use crate::scenario::FAULT_S;

/// How many of each client (`chaos --idle-connections N`: N idle, N/10 slowloris, N/100
/// connections of 128 unread streams each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CrowdPlan {
    pub idle: usize,
    pub slow_headers: usize,
    pub unread_connections: usize,
    pub unread_streams: usize,
}

impl CrowdPlan {
    pub fn new(idle: usize) -> Self {
        Self {
            idle,
            slow_headers: (idle / 10).max(1),
            unread_connections: (idle / 100).max(1),
            unread_streams: 128,
        }
    }
}

/// What the crowd managed and what it cost the edge.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrowdFigures {
    pub plan: Option<CrowdPlan>,
    /// Clients whose TLS handshake completed, all kinds (the edge may have closed some since).
    pub opened: u64,
    /// Connections held when the hold began, by kind.
    pub idle_held: u64,
    pub slow_headers_held: u64,
    pub unread_connections_held: u64,
    /// Streams the edge accepted on the unread connections.
    pub unread_streams: u64,
    /// Connects or handshakes the edge refused, all kinds.
    pub refused: u64,
    /// Held connections the edge closed before the crowd let go, all kinds.
    pub closed_by_edge: u64,
    /// When every client had been tried (seconds since the load started): the hold begins.
    pub held_from_s: f64,
    /// When the crowd was gone (its connections closed).
    pub released_s: f64,
    /// The edge's process tree before the crowd came, at its peak, and 1 s after it left.
    pub edge_before: TreeResources,
    pub edge_peak: TreeResources,
    pub edge_after: TreeResources,
}

impl CrowdFigures {
    /// Hostile connections held at once.
    pub fn held(&self) -> u64 {
        self.idle_held + self.slow_headers_held + self.unread_connections_held
    }
}

/// Opens `plan`'s crowd against `target`, holds it [`FAULT_S`], lets go; `edge_root` is the
/// edge's main process. Times count from `t0`.
pub fn hold(
    target: &Target,
    plan: CrowdPlan,
    cpus: Option<&CpuSet>,
    edge_root: u32,
    t0: Instant,
) -> anyhow::Result<CrowdFigures> {
    let mask = cpus.map(CpuSet::to_mask);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(move || {
            if let Some(mask) = &mask {
                // SAFETY: the mask is a valid cpu_set_t owned by the closure; pid 0 is this
                // thread. A failure leaves the thread unpinned, which only costs precision.
                unsafe {
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), mask);
                }
            }
        })
        .build()
        .context("starting the hostile clients' runtime")?;
    let sampler = TreeSampler::start(edge_root);
    let mut figures = CrowdFigures {
        plan: Some(plan),
        edge_before: sampler.now(),
        ..CrowdFigures::default()
    };
    let load = |n: &AtomicUsize| n.load(Ordering::Relaxed) as u64;
    runtime.block_on(async {
        let unread = UnreadPlan::new(
            plan.unread_connections,
            plan.unread_streams,
            "/static/vendor.js",
        );
        let (idle, slow, unread) = tokio::join!(
            IdleConnections::open(target, plan.idle, &[b"h2"], 64),
            SlowHeaders::open(target, plan.slow_headers, Duration::from_secs(1)),
            UnreadStreams::open(target, &unread),
        );
        figures.held_from_s = t0.elapsed().as_secs_f64();
        figures.opened = load(&idle.counts.opened)
            + load(&slow.counts.opened)
            + load(&unread.counts.connections);
        figures.idle_held = idle.held() as u64;
        figures.slow_headers_held = slow.held() as u64;
        let u = &unread.counts;
        figures.unread_connections_held =
            load(&u.connections).saturating_sub(load(&u.closed_by_server));
        figures.unread_streams = load(&u.streams);
        tokio::time::sleep(Duration::from_secs_f64(FAULT_S)).await;
        figures.refused =
            load(&idle.counts.refused) + load(&slow.counts.refused) + load(&u.refused);
        figures.closed_by_edge = load(&idle.counts.closed_by_server)
            + load(&slow.counts.closed_by_server)
            + load(&u.closed_by_server);
        // Dropped here: every connection is aborted.
    });
    drop(runtime);
    figures.released_s = t0.elapsed().as_secs_f64();
    figures.edge_peak = sampler.peak();
    std::thread::sleep(Duration::from_secs(1));
    figures.edge_after = sampler.now();
    sampler.stop();
    Ok(figures)
}
