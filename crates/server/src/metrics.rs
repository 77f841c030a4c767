//! The app server's HTTP counters: one sharded [`Counter`] per route and status, bumped on the
//! request path (a few ns, no registry, no lock). [`crate::exposition`] turns them, with the
//! cache's and the database's counters, into the `/metrics` page.

use axum::http::StatusCode;
use rt::counter::Counter;

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

    /// Every `(route, status, count)` with a count above zero; the status is the code, or
    /// `None` for the codes without a series of their own.
    pub fn counts(&self) -> impl Iterator<Item = (Route, Option<u16>, u64)> + '_ {
        Route::ALL.into_iter().flat_map(move |route| {
            STATUSES.iter().enumerate().filter_map(move |(i, &code)| {
                let n = self.requests[route as usize][i].get();
                (n > 0).then_some((route, (code != 0).then_some(code), n))
            })
        })
    }
}
