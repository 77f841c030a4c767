//! Prometheus counters, served as text on the admin listener (`GET /metrics`).
//!
//! Hand-rolled: a fixed table of sharded counters ([`rt::counter::Counter`]) costs a few ns per
//! request and needs no registry. Names (all prefixed `prodstack_`):
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `prodstack_http_requests_total` | `route`, `status` | responses sent; `route` ∈ `public_baseline`, `public_json`, `item_get`, `item_post`, `me`, `healthz`, `readyz`, `baseline11`, `unmatched`; `status` is the code, or `other`. Only non-zero series are printed. |
//! | `prodstack_cache_l1_hits_total` | | lookups answered by the L1 |
//! | `prodstack_cache_l2_hits_total` | | lookups answered by Redis |
//! | `prodstack_cache_l2_misses_total` | | Redis lookups that found nothing (or failed) |
//! | `prodstack_cache_misses_total` | | lookups that ran the SQL (`X-Cache: MISS`) |
//! | `prodstack_singleflight_waiters_total` | | lookups that waited for another request's load |
//! | `prodstack_cache_invalidations_total` | | keys invalidated by writes here |
//! | `prodstack_cache_remote_invalidations_total` | | keys dropped on another instance's announcement |
//! | `prodstack_cache_stale_fills_discarded_total` | | loads not cached because a write raced them |
//! | `prodstack_cache_l1_flushes_total` | | whole-L1 flushes (backplane re-subscribed after a loss) |
//! | `prodstack_backplane_subscriptions_total` | | backplane subscriptions (1 + reconnections) |
//! | `prodstack_backplane_ack_timeouts_total` | | writes answered before every other instance confirmed its L1 drop |
//! | `prodstack_cache_l1_entries` | | gauge: L1 entries (fresh or expired) |
//! | `prodstack_redis_errors_total` | | failed or timed-out Redis commands |
//! | `prodstack_redis_up` | | gauge: 1 unless Redis is in an outage (absent without `REDIS_URL`) |
//! | `prodstack_db_queries_total` | `query` ∈ `item`, `user`, `update_item` | statements sent to Postgres |
//! | `prodstack_db_errors_total` | | statements that failed, timed out, or found no connection to Postgres to run on (an outage) |
//! | `prodstack_db_pool_waits_total` | | requests that found no live connection and waited |
//! | `prodstack_db_connects_total` | | connections (re)established |
//! | `prodstack_db_connections` | `role` ∈ `read`, `write` | gauge: live connections |

use std::fmt::Write as _;

use axum::http::StatusCode;
use rt::counter::Counter;

use crate::db::QueryKind;
use crate::state::App;

/// The routes requests are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    PublicBaseline,
    PublicJson,
    ItemGet,
    ItemPost,
    Me,
    Healthz,
    Readyz,
    Baseline11,
    Unmatched,
    /// Refused for want of the edge's proof (`X-Edge-Secret`).
    NoEdgeProof,
}

impl Route {
    pub const ALL: [Route; 10] = [
        Route::PublicBaseline,
        Route::PublicJson,
        Route::ItemGet,
        Route::ItemPost,
        Route::Me,
        Route::Healthz,
        Route::Readyz,
        Route::Baseline11,
        Route::Unmatched,
        Route::NoEdgeProof,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Route::PublicBaseline => "public_baseline",
            Route::PublicJson => "public_json",
            Route::ItemGet => "item_get",
            Route::ItemPost => "item_post",
            Route::Me => "me",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Baseline11 => "baseline11",
            Route::Unmatched => "unmatched",
            Route::NoEdgeProof => "no_edge_proof",
        }
    }
}

/// Status codes with their own series; everything else is counted as `other`.
const STATUSES: [u16; 11] = [200, 204, 400, 401, 404, 405, 413, 415, 500, 503, 0];

fn status_index(status: StatusCode) -> usize {
    let code = status.as_u16();
    STATUSES
        .iter()
        .position(|&s| s == code)
        .unwrap_or(STATUSES.len() - 1)
}

/// HTTP counters.
pub struct Metrics {
    requests: Vec<[Counter; STATUSES.len()]>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Route::ALL
                .iter()
                .map(|_| std::array::from_fn(|_| Counter::new()))
                .collect(),
        }
    }
}

impl Metrics {
    #[inline]
    pub fn record(&self, route: Route, status: StatusCode) {
        self.requests[route as usize][status_index(status)].inc();
    }

    pub fn requests(&self, route: Route, status: StatusCode) -> u64 {
        self.requests[route as usize][status_index(status)].get()
    }
}

/// The whole `/metrics` page.
pub fn render(app: &App) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("# TYPE prodstack_http_requests_total counter\n");
    for route in Route::ALL {
        for (i, status) in STATUSES.iter().enumerate() {
            let n = app.metrics.requests[route as usize][i].get();
            if n == 0 {
                continue;
            }
            let status = if *status == 0 {
                "other".to_string()
            } else {
                status.to_string()
            };
            let _ = writeln!(
                out,
                "prodstack_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                route.label()
            );
        }
    }
    let cache = app.cache.stats();
    let counters: [(&str, &Counter); 12] = [
        ("prodstack_cache_l1_hits_total", &cache.l1_hits),
        ("prodstack_cache_l2_hits_total", &cache.l2_hits),
        ("prodstack_cache_l2_misses_total", &cache.l2_misses),
        ("prodstack_cache_misses_total", &cache.misses),
        (
            "prodstack_singleflight_waiters_total",
            &cache.singleflight_waiters,
        ),
        ("prodstack_cache_invalidations_total", &cache.invalidations),
        (
            "prodstack_cache_remote_invalidations_total",
            &cache.remote_invalidations,
        ),
        (
            "prodstack_cache_stale_fills_discarded_total",
            &cache.stale_fills_discarded,
        ),
        ("prodstack_cache_l1_flushes_total", &cache.l1_flushes),
        (
            "prodstack_backplane_subscriptions_total",
            &cache.backplane_subscriptions,
        ),
        (
            "prodstack_backplane_ack_timeouts_total",
            &cache.ack_timeouts,
        ),
        ("prodstack_redis_errors_total", &cache.redis_errors),
    ];
    for (name, counter) in counters {
        let _ = writeln!(out, "# TYPE {name} counter\n{name} {}", counter.get());
    }
    let _ = writeln!(
        out,
        "# TYPE prodstack_cache_l1_entries gauge\nprodstack_cache_l1_entries {}",
        app.cache.l1_len()
    );
    if let Some(l2) = app.cache.l2() {
        let _ = writeln!(
            out,
            "# TYPE prodstack_redis_up gauge\nprodstack_redis_up {}",
            u8::from(!l2.outage().is_down())
        );
    }
    let db = app.db.stats();
    out.push_str("# TYPE prodstack_db_queries_total counter\n");
    for kind in QueryKind::ALL {
        let _ = writeln!(
            out,
            "prodstack_db_queries_total{{query=\"{}\"}} {}",
            kind.label(),
            db.queries[kind as usize].get()
        );
    }
    for (name, counter) in [
        ("prodstack_db_errors_total", &db.errors),
        ("prodstack_db_pool_waits_total", &db.pool_waits),
        ("prodstack_db_connects_total", &db.connects),
    ] {
        let _ = writeln!(out, "# TYPE {name} counter\n{name} {}", counter.get());
    }
    let (read, write) = app.db.live_connections();
    let _ = writeln!(
        out,
        "# TYPE prodstack_db_connections gauge\nprodstack_db_connections{{role=\"read\"}} {read}\nprodstack_db_connections{{role=\"write\"}} {write}"
    );
    out
}
