//! The app server: HttpArena production-stack's `server` service. Public routes, and
//! authenticated API routes (the edge has already verified the JWT and set `X-User-Id`) over a
//! cache-aside L1 → Redis → Postgres ([`cache`] crate).
//!
//! | route | answer |
//! |---|---|
//! | `GET /public/baseline?a=&b=` | `200 text/plain` decimal sum; missing/non-integer/overflow → 400 JSON |
//! | `GET /public/json/{count}[?m=]` | first `count` (0–50) dataset items with `total`, `{"items":[…],"count":N}` |
//! | `GET /api/items/{id}` | item JSON, `X-Cache: MISS` only for the request that ran the SQL; unknown → 404 |
//! | `POST /api/items/{id}` | `{"name","price","quantity"}` → UPDATE, invalidate, `204`; bad body → 400 naming the field; > 64 KiB → 413; unknown id → 404 |
//! | `GET /api/me` | the `X-User-Id` user's JSON; missing/non-integer header → 401 |
//! | `GET /baseline11` | HttpArena's readiness probe (answered like the baseline) |
//! | `GET /healthz`, `GET /readyz` | listening; Postgres reachable (503 otherwise) |
//! | admin `GET /metrics` | Prometheus text, names in [`metrics`] |
//!
//! Errors are `{"error":"…"}`; Postgres outages answer `503` with `Retry-After: 1`. The server
//! never reads `Authorization`.
//!
//! Configuration: [`configuration`] (environment variables). Start a server in-process with
//! [`spawn`] (port 0 works; tests do that).
//!
//! ## Measured decisions (`prodstack bench server`, 2-vCPU VM shared with other work; server
//! pinned to one core with `SERVER_WORKERS=1`, `wrk -t1 -c64` on the other)
//!
//! - **axum** on hyper's HTTP/1.1 connection: the trivial route ran at 126k req/s vs 127k for
//!   a raw hyper `service_fn` on the same runtime and App (CPU per request 7.54 vs 7.66 µs);
//!   `/public/baseline` 97 %, the L1-hit item path 91 % of raw hyper's req/s (8.19 vs 7.46 µs
//!   CPU). Routing and extractors cost well under a microsecond; the kernel's socket work
//!   dominates.
//! - **Targets**: `/api/items/{id}` L1 hit 96.0 % / 97.6 % and `/public/baseline`
//!   98.0 % / 101.6 % of the trivial route's req/s (two sessions, median of 5 interleaved runs
//!   each).
//! - **Runtime**: one multi-thread runtime vs per-core `current_thread` runtimes with
//!   `SO_REUSEPORT`: within noise of each other on this box (7.5–8.2 vs 7.7–8.6 µs CPU per
//!   request); multi-thread is the default (simpler, database and Redis I/O stay on the
//!   request's runtime), `SERVER_RUNTIME=per-core` remains for many-core hosts.
//! - **Allocator**: mimalloc made no measurable difference (±10 % noise), so it is an opt-in
//!   feature, not the default.
//! - **Postgres connections**: the cold sweep (10,000 ids × 8 requests, 256 connections) took
//!   1.72 / 1.78 / 1.93 / 1.99 s with 1 / 2 / 4 / 8 read connections — pipelining makes one
//!   connection enough on two cores, where Postgres competes for the same CPUs; the default
//!   (one per worker, 2–16) leaves Postgres parallelism to many-core hosts.
//! - **Single-flight**: that sweep issued exactly 10,000 item queries for 80,000 requests
//!   (69,854 waited on another request's load), zero errors; 1.60–1.66 s per sweep.
//! - **L1 hit**: 22–31 ns (`cargo bench -p cache`, two runs; `Instant::now()` alone is
//!   24–28 ns, the coarse clock 0.5 ns).

pub mod accept;
pub mod body;
pub mod configuration;
pub mod dataset;
pub mod db;
pub mod edge_proof;
pub mod error;
pub mod exposition;
pub mod keys;
pub mod metrics;
pub mod raw_hyper;
pub mod routes;
pub mod startup;
pub mod state;

pub use configuration::{HttpFrontend, RuntimeLayout, Settings};
pub use startup::{spawn, RunningServer, StartError};
