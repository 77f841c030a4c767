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
//! | admin `GET /metrics` | OpenMetrics text, names in [`exposition`] |
//!
//! Errors are `{"error":"…"}`; Postgres outages answer `503` with `Retry-After: 1`. The server
//! never reads `Authorization`.
//!
//! Configuration: [`configuration`] (environment variables). Start a server in-process with
//! [`spawn`] (port 0 works; tests do that).
//!
//! ## Choices, each measured (figures in docs/BENCHMARKS.md, "server design choices")
//!
//! axum on hyper's HTTP/1.1 connection (routing and extractors cost well under a microsecond;
//! the kernel's socket work dominates); one multi-thread runtime by default (per-core was
//! within noise on two cores; `SERVER_RUNTIME=per-core` remains for many-core hosts); glibc's
//! allocator, with freed pages handed back every 5 s (`rt::heap`, started by `main`;
//! mimalloc is an opt-in feature that cost more CPU at 1,024 connections); one pipelined read
//! connection per worker;
//! single-flight loads (one query per id however many requests wait).

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
