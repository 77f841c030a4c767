//! The app server's `/metrics` page (admin listener), in the OpenMetrics text format written by
//! `prometheus-client`. The values are read at scrape time from the sharded counters the
//! request path bumps ([`crate::metrics`], the cache's and the database's statistics), through
//! one [`Collector`]: the hot path pays for a counter, not for a registry. Names (all prefixed
//! `prodstack_`; counters end in `_total`):
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

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use rt::counter::Counter;

use crate::db::QueryKind;
use crate::state::AppState;

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The whole `/metrics` page.
pub fn render(app: &AppState) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot(app.clone())));
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// Reads every counter of one app when scraped.
#[derive(Debug)]
struct Snapshot(AppState);

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: i64,
) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let app = &self.0;

        let mut family = encoder.encode_descriptor(
            "prodstack_http_requests",
            "Responses sent, by route and status (`other`: a code without its own series).",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (route, status, n) in app.metrics.counts() {
            let status = status.map_or_else(|| "other".to_string(), |code| code.to_string());
            let labels = [("route", route.label().to_string()), ("status", status)];
            ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
        }

        let cache = app.cache.stats();
        let counters: [(&str, &str, &Counter); 12] = [
            (
                "prodstack_cache_l1_hits",
                "Lookups answered by the L1.",
                &cache.l1_hits,
            ),
            (
                "prodstack_cache_l2_hits",
                "Lookups answered by Redis.",
                &cache.l2_hits,
            ),
            (
                "prodstack_cache_l2_misses",
                "Redis lookups that found nothing (or failed).",
                &cache.l2_misses,
            ),
            (
                "prodstack_cache_misses",
                "Lookups that ran the SQL.",
                &cache.misses,
            ),
            (
                "prodstack_singleflight_waiters",
                "Lookups that waited for another request's load.",
                &cache.singleflight_waiters,
            ),
            (
                "prodstack_cache_invalidations",
                "Keys invalidated by writes here.",
                &cache.invalidations,
            ),
            (
                "prodstack_cache_remote_invalidations",
                "Keys dropped on another instance's announcement.",
                &cache.remote_invalidations,
            ),
            (
                "prodstack_cache_stale_fills_discarded",
                "Loads not cached because a write raced them.",
                &cache.stale_fills_discarded,
            ),
            (
                "prodstack_cache_l1_flushes",
                "Whole-L1 flushes (backplane re-subscribed after a loss).",
                &cache.l1_flushes,
            ),
            (
                "prodstack_backplane_subscriptions",
                "Backplane subscriptions (1 + reconnections).",
                &cache.backplane_subscriptions,
            ),
            (
                "prodstack_backplane_ack_timeouts",
                "Writes answered before every other instance confirmed its L1 drop.",
                &cache.ack_timeouts,
            ),
            (
                "prodstack_redis_errors",
                "Failed or timed-out Redis commands.",
                &cache.redis_errors,
            ),
        ];
        for (name, help, value) in counters {
            counter(&mut encoder, name, help, value.get())?;
        }
        gauge(
            &mut encoder,
            "prodstack_cache_l1_entries",
            "L1 entries (fresh or expired).",
            i64::try_from(app.cache.l1_len()).unwrap_or(i64::MAX),
        )?;
        if let Some(l2) = app.cache.l2() {
            gauge(
                &mut encoder,
                "prodstack_redis_up",
                "1 unless Redis is in an outage.",
                i64::from(!l2.outage().is_down()),
            )?;
        }

        let db = app.db.stats();
        let mut family = encoder.encode_descriptor(
            "prodstack_db_queries",
            "Statements sent to Postgres, by query.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for kind in QueryKind::ALL {
            let labels = [("query", kind.label())];
            ConstCounter::new(db.queries[kind as usize].get())
                .encode(family.encode_family(&labels)?)?;
        }
        for (name, help, value) in [
            (
                "prodstack_db_errors",
                "Statements that failed, timed out, or found no connection to run on.",
                &db.errors,
            ),
            (
                "prodstack_db_pool_waits",
                "Requests that found no live connection and waited.",
                &db.pool_waits,
            ),
            (
                "prodstack_db_connects",
                "Connections (re)established.",
                &db.connects,
            ),
        ] {
            counter(&mut encoder, name, help, value.get())?;
        }
        let (read, write) = app.db.live_connections();
        let mut family = encoder.encode_descriptor(
            "prodstack_db_connections",
            "Live Postgres connections, by role.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (role, live) in [("read", read), ("write", write)] {
            let labels = [("role", role)];
            ConstGauge::new(i64::try_from(live).unwrap_or(i64::MAX))
                .encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
