//! What one benchmark run measured, and the figures derived from it.

use serde::Serialize;

use super::h2load::{Latency, Logged, Summary};
use super::memory::{RssCurve, Soak};
use super::metrics::Scrape;
use super::procstat::ServiceUsage;

/// The four compose services, in HttpArena's breakdown order, then what runs beside them.
pub const STACK_SERVICES: [&str; 4] = ["edge", "authsvc", "server", "cache"];
pub const POSTGRES: &str = "postgres";
pub const LOADGEN: &str = "loadgen";

/// One run of the two h2load processes.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub variant: String,
    /// The auth sidecar that ran (`Authsvc::describe`).
    pub authsvc: String,
    /// CPU per unit of work of each service over the run (the planner's inputs).
    pub costs: Costs,
    pub connections: u32,
    pub run: u32,
    pub threads: u32,
    pub duration_s: u32,
    #[serde(skip)]
    pub reads: Summary,
    #[serde(skip)]
    pub writes: Summary,
    pub reads_latency: LatencyReport,
    pub writes_latency: LatencyReport,
    pub usage: Vec<UsageReport>,
    pub cache: CacheHierarchy,
    pub templates: TemplateCounts,
    /// URLs of the first failing requests, from the h2load logs and the server's routes.
    pub failures: Vec<String>,
    /// h2load instances that printed no summary (hung and killed, or crashed). A run with
    /// any counts nothing.
    pub unfinished: Vec<Unfinished>,
    /// The running Postgres' durability (`fsync=…, synchronous_commit=…: what that means`).
    pub postgres: String,
    /// Each service's RSS once per second of the run.
    pub rss_curve: RssCurve,
    /// The memory check after `--soak-warmup`; `None` for a run too short to judge.
    pub soak: Option<Soak>,
}

/// An h2load instance of a run that did not finish with a summary. HttpArena runs each under
/// `timeout 45` and parses its summary, so such a run counts nothing there (measured: its own
/// `benchmark.sh` on this project's 2-CPU machine scored three such 1024-connection runs
/// "Best: 0 req/s"); here too.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unfinished {
    /// `reads` or `writes`.
    pub instance: String,
    /// What happened, e.g. `did not exit within 45 s and was killed`.
    pub reason: String,
    /// Client connections it still held when it was killed (`/proc/PID/fd` sockets).
    pub open_connections: Option<u64>,
    /// What its `--log-file` recorded: a diagnostic, never the score.
    pub logged: Logged,
    /// `logged.status_2xx` over the run's duration, the rate h2load was seeing.
    pub logged_rps: u64,
}

impl RunResult {
    /// Whether the run counts: every h2load instance finished with a summary.
    pub fn scored(&self) -> bool {
        self.unfinished.is_empty()
    }

    /// HttpArena's score: 2xx of both instances divided by the reads duration (the writes
    /// duration only when the reads one is zero), floored; 0 for a run that does not count.
    pub fn rps(&self) -> u64 {
        if !self.scored() {
            return 0;
        }
        let ok = self.reads.status_2xx + self.writes.status_2xx;
        let duration = if self.reads.duration_s > 0.0 {
            self.reads.duration_s
        } else {
            self.writes.duration_s
        };
        if duration <= 0.0 {
            return 0;
        }
        (ok as f64 / duration).floor() as u64
    }

    /// Answers of `class` (2 = 2xx, …) in h2load's summaries; 0 for a run that does not count.
    pub fn status(&self, class: u32) -> u64 {
        if !self.scored() {
            return 0;
        }
        let pick = |s: &Summary| match class {
            2 => s.status_2xx,
            3 => s.status_3xx,
            4 => s.status_4xx,
            5 => s.status_5xx,
            _ => 0,
        };
        pick(&self.reads) + pick(&self.writes)
    }

    pub fn unanswered(&self) -> u64 {
        if !self.scored() {
            return 0;
        }
        self.reads.unanswered() + self.writes.unanswered()
    }

    /// Summed CPU of the four services (what HttpArena's `cpu` field holds).
    pub fn stack_cpu(&self) -> f64 {
        self.usage
            .iter()
            .filter(|u| STACK_SERVICES.contains(&u.service.as_str()))
            .map(|u| u.cpu_percent)
            .sum()
    }

    /// Summed peak memory of the four services.
    pub fn stack_memory(&self) -> u64 {
        self.usage
            .iter()
            .filter(|u| STACK_SERVICES.contains(&u.service.as_str()))
            .map(|u| u.peak_rss_bytes)
            .sum()
    }

    /// rps per CPU of the four services plus Postgres: the figure that compares across
    /// machine sizes.
    pub fn rps_per_cpu(&self) -> f64 {
        let cpus: f64 = self
            .usage
            .iter()
            .filter(|u| u.service != LOADGEN)
            .map(|u| u.cpu_percent / 100.0)
            .sum();
        if cpus > 0.0 {
            self.rps() as f64 / cpus
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LatencyReport {
    pub requests: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl From<&Latency> for LatencyReport {
    fn from(l: &Latency) -> Self {
        Self {
            requests: l.count,
            mean_ms: l.mean_ms,
            p50_ms: l.p50_ms,
            p90_ms: l.p90_ms,
            p99_ms: l.p99_ms,
            max_ms: l.max_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UsageReport {
    pub service: String,
    pub cpu_percent: f64,
    /// CPU time over the sampled window (the run).
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

impl From<&ServiceUsage> for UsageReport {
    fn from(u: &ServiceUsage) -> Self {
        Self {
            service: u.name.clone(),
            cpu_percent: u.cpu_percent,
            cpu_seconds: u.cpu_seconds,
            peak_rss_bytes: u.peak_rss_bytes,
        }
    }
}

/// What each service spent per unit of the work it did in a run: CPU microseconds per client
/// request (edge), per auth check (authsvc), per forwarded request (server), per command
/// (Redis) and per query (Postgres), and the whole stack's per client request. A unit count of
/// zero gives no figure (`None`), never a division by zero.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Costs {
    pub services: Vec<ServiceCost>,
    /// CPU µs of edge, authsvc, server, cache and Postgres together per client request.
    pub stack_us_per_client_request: Option<f64>,
}

/// One service's cost per unit of its work.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceCost {
    pub service: String,
    /// What the service handled: `client request`, `auth check`, `forwarded request`,
    /// `command`, `query`.
    pub unit: &'static str,
    /// How many it handled during the run (`None`: it did not say, e.g. Redis not answering
    /// `INFO`; its CPU time is still reported).
    pub count: Option<u64>,
    pub cpu_seconds: f64,
    pub us_per_unit: Option<f64>,
}

/// The work counts of one run, from h2load, the server's counters and Redis.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkCounts {
    /// Answers the load generator got (both instances, every status).
    pub client_requests: u64,
    /// `/api/*` requests, each of which the edge checked with authsvc.
    pub auth_checks: u64,
    /// Requests the edge forwarded to the server.
    pub forwarded: u64,
    /// Redis commands processed (`None`: Redis did not say).
    pub redis_commands: Option<u64>,
    /// Queries the server sent Postgres.
    pub db_queries: u64,
}

impl WorkCounts {
    /// The server-side counts from its counters over the run; the others are the caller's.
    pub fn from_server(delta: &Scrape) -> WorkCounts {
        let routes = |routes: &[&str]| -> u64 {
            routes
                .iter()
                .map(|route| delta.sum(metric::REQUESTS, &[("route", route)]))
                .sum::<f64>() as u64
        };
        WorkCounts {
            auth_checks: routes(&metric::API_ROUTES),
            forwarded: routes(&metric::FORWARDED_ROUTES),
            db_queries: delta.sum(metric::DB_QUERIES, &[]) as u64,
            ..WorkCounts::default()
        }
    }
}

impl Costs {
    pub fn measure(usage: &[UsageReport], work: &WorkCounts) -> Costs {
        let cpu = |name: &str| {
            usage
                .iter()
                .find(|u| u.service == name)
                .map(|u| u.cpu_seconds)
        };
        let per = |seconds: f64, count: u64| (count > 0).then(|| seconds * 1e6 / count as f64);
        let mut services = Vec::new();
        for (service, unit, count) in [
            ("edge", "client request", Some(work.client_requests)),
            ("authsvc", "auth check", Some(work.auth_checks)),
            ("server", "forwarded request", Some(work.forwarded)),
            ("cache", "command", work.redis_commands),
            (POSTGRES, "query", Some(work.db_queries)),
        ] {
            let Some(seconds) = cpu(service) else {
                continue;
            };
            services.push(ServiceCost {
                service: service.to_string(),
                unit,
                count,
                cpu_seconds: seconds,
                us_per_unit: count.and_then(|count| per(seconds, count)),
            });
        }
        let stack: f64 = usage
            .iter()
            .filter(|u| u.service != LOADGEN)
            .map(|u| u.cpu_seconds)
            .sum();
        Costs {
            services,
            stack_us_per_client_request: per(stack, work.client_requests),
        }
    }
}

/// Metric names the server exposes (see `crates/server`'s exposition module).
pub mod metric {
    pub const REQUESTS: &str = "prodstack_http_requests_total";
    pub const L1_HITS: &str = "prodstack_cache_l1_hits_total";
    pub const L2_HITS: &str = "prodstack_cache_l2_hits_total";
    pub const MISSES: &str = "prodstack_cache_misses_total";
    /// Labelled `query="item" | "user" | "update_item"`.
    pub const DB_QUERIES: &str = "prodstack_db_queries_total";
    pub const WAITERS: &str = "prodstack_singleflight_waiters_total";
    pub const INVALIDATIONS: &str = "prodstack_cache_invalidations_total";
    pub const REDIS_ERRORS: &str = "prodstack_redis_errors_total";
    pub const DB_ERRORS: &str = "prodstack_db_errors_total";
    /// Server routes behind the edge's auth check (`/api/*`).
    pub const API_ROUTES: [&str; 3] = ["item_get", "item_post", "me"];
    /// Server routes the edge forwards (`route` label values); health probes are not among
    /// them.
    pub const FORWARDED_ROUTES: [&str; 5] = [
        "public_baseline",
        "public_json",
        "item_get",
        "item_post",
        "me",
    ];
}

/// The cache hierarchy under load, from the server's counters over the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CacheHierarchy {
    pub seconds: f64,
    pub l1_hits: f64,
    pub l2_hits: f64,
    pub singleflight_waiters: f64,
    /// Reads that reached Postgres (`item` and `user` queries).
    pub db_queries: f64,
    /// `UPDATE`s of the write path.
    pub db_writes: f64,
    pub invalidations: f64,
    pub redis_errors: f64,
    pub db_errors: f64,
}

impl CacheHierarchy {
    pub fn from_delta(delta: &Scrape, seconds: f64) -> Self {
        Self {
            seconds,
            l1_hits: delta.sum(metric::L1_HITS, &[]),
            l2_hits: delta.sum(metric::L2_HITS, &[]),
            singleflight_waiters: delta.sum(metric::WAITERS, &[]),
            db_queries: delta.sum(metric::DB_QUERIES, &[("query", "item")])
                + delta.sum(metric::DB_QUERIES, &[("query", "user")]),
            db_writes: delta.sum(metric::DB_QUERIES, &[("query", "update_item")]),
            invalidations: delta.sum(metric::INVALIDATIONS, &[]),
            redis_errors: delta.sum(metric::REDIS_ERRORS, &[]),
            db_errors: delta.sum(metric::DB_ERRORS, &[]),
        }
    }

    /// Reads answered by each layer, as fractions of all cached reads: (L1, L2 + waiters, DB).
    pub fn ratios(&self) -> (f64, f64, f64) {
        let total = self.l1_hits + self.l2_hits + self.singleflight_waiters + self.db_queries;
        if total <= 0.0 {
            return (0.0, 0.0, 0.0);
        }
        (
            self.l1_hits / total,
            (self.l2_hits + self.singleflight_waiters) / total,
            self.db_queries / total,
        )
    }

    pub fn per_second(&self, count: f64) -> f64 {
        if self.seconds > 0.0 {
            count / self.seconds
        } else {
            0.0
        }
    }
}

/// Requests per template, measured: the API templates from the server's per-route counters,
/// static from the edge's request counter (nginx `stub_status`) minus everything it forwarded.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TemplateCounts {
    pub static_files: u64,
    pub baseline: u64,
    pub items: u64,
    pub me: u64,
}

impl TemplateCounts {
    /// `server` is the delta of the server's metrics, `edge_requests` the edge's request
    /// delta (`None` when the edge exposes no counter).
    pub fn measure(server: &Scrape, edge_requests: Option<f64>) -> Self {
        let ok = |route: &str| {
            server
                .samples
                .iter()
                .filter(|(key, _)| {
                    key.starts_with(metric::REQUESTS)
                        && key.contains(&format!("route=\"{route}\""))
                        && key.contains("status=\"2")
                })
                .map(|(_, v)| *v)
                .sum::<f64>() as u64
        };
        let forwarded: f64 = metric::FORWARDED_ROUTES
            .iter()
            .map(|route| server.sum(metric::REQUESTS, &[("route", route)]))
            .sum();
        Self {
            static_files: edge_requests
                .map(|edge| (edge - forwarded).max(0.0) as u64)
                .unwrap_or(0),
            baseline: ok("public_baseline"),
            items: ok("item_get") + ok("item_post"),
            me: ok("me"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(ok: u64, duration_s: f64) -> Summary {
        Summary {
            status_2xx: ok,
            duration_s,
            ..Summary::default()
        }
    }

    fn run(reads: Summary, writes: Summary, usage: Vec<UsageReport>) -> RunResult {
        RunResult {
            variant: "production".into(),
            authsvc: String::new(),
            costs: Costs::default(),
            connections: 256,
            run: 1,
            threads: 1,
            duration_s: 5,
            reads,
            writes,
            reads_latency: LatencyReport::default(),
            writes_latency: LatencyReport::default(),
            usage,
            cache: CacheHierarchy::default(),
            templates: TemplateCounts::default(),
            failures: vec![],
            unfinished: vec![],
            postgres: String::new(),
            rss_curve: RssCurve::default(),
            soak: None,
        }
    }

    fn usage(service: &str, cpu: f64, rss: u64) -> UsageReport {
        UsageReport {
            service: service.into(),
            cpu_percent: cpu,
            cpu_seconds: cpu / 100.0 * 5.0,
            peak_rss_bytes: rss,
        }
    }

    #[test]
    fn costs_are_cpu_microseconds_per_unit_of_each_services_work() {
        // 5 s runs: edge 100% = 5 CPU s, authsvc 20% = 1 s, server 40% = 2 s, cache 2% =
        // 0.1 s, postgres 10% = 0.5 s; the load generator is not the stack's.
        let usage = vec![
            usage("edge", 100.0, 0),
            usage("authsvc", 20.0, 0),
            usage("server", 40.0, 0),
            usage("cache", 2.0, 0),
            usage(POSTGRES, 10.0, 0),
            usage(LOADGEN, 300.0, 0),
        ];
        let work = WorkCounts {
            client_requests: 100_000,
            auth_checks: 50_000,
            forwarded: 80_000,
            redis_commands: Some(1_000),
            db_queries: 0,
        };
        let costs = Costs::measure(&usage, &work);
        let of = |name: &str| costs.services.iter().find(|c| c.service == name).unwrap();
        assert_eq!(of("edge").us_per_unit, Some(50.0));
        assert_eq!(of("authsvc").us_per_unit, Some(20.0));
        assert_eq!(of("server").us_per_unit, Some(25.0));
        assert_eq!(of("cache").unit, "command");
        assert!((of("cache").us_per_unit.unwrap() - 100.0).abs() < 1e-9);
        // No query: no figure, not a division by zero.
        assert_eq!(of(POSTGRES).us_per_unit, None);
        // (5 + 1 + 2 + 0.1 + 0.5) s over 100k requests = 86 µs.
        assert!((costs.stack_us_per_client_request.unwrap() - 86.0).abs() < 1e-9);
        let costs = Costs::measure(
            &usage,
            &WorkCounts {
                redis_commands: None,
                ..work
            },
        );
        // Redis that did not answer keeps its CPU time, with no count and no figure.
        let cache = costs
            .services
            .iter()
            .find(|c| c.service == "cache")
            .unwrap();
        assert_eq!((cache.count, cache.us_per_unit), (None, None));
        assert!((cache.cpu_seconds - 0.1).abs() < 1e-9);
    }

    #[test]
    fn rps_of_a_real_run_is_what_httparena_would_compute() {
        use crate::h2load::tests::{STACK_READS, STACK_WRITES};
        let r = run(
            Summary::parse(STACK_READS).unwrap(),
            Summary::parse(STACK_WRITES).unwrap(),
            vec![],
        );
        // floor((15,658 + 1,024) / 5.17)
        assert_eq!(r.rps(), 3226);
        assert_eq!(r.status(2), 16_682);
    }

    #[test]
    fn rps_is_both_2xx_over_the_reads_duration_floored() {
        let r = run(summary(1000, 2.0), summary(301, 2.5), vec![]);
        assert_eq!(r.rps(), 650);
        let r = run(summary(0, 0.0), summary(300, 3.0), vec![]);
        assert_eq!(r.rps(), 100);
    }

    #[test]
    fn a_run_with_an_unfinished_instance_counts_nothing() {
        let mut r = run(summary(1000, 2.0), summary(300, 2.0), vec![]);
        assert_eq!((r.rps(), r.status(2)), (650, 1300));
        r.unfinished.push(Unfinished {
            instance: "reads".into(),
            reason: "did not exit within 45 s and was killed".into(),
            open_connections: Some(183),
            logged: Logged {
                requests: 10,
                status_2xx: 10,
                other: 0,
            },
            logged_rps: 5,
        });
        assert!(!r.scored());
        assert_eq!((r.rps(), r.status(2), r.unanswered()), (0, 0, 0));
    }

    #[test]
    fn cpu_sums_the_four_services_and_efficiency_adds_postgres() {
        let r = run(
            summary(1000, 1.0),
            summary(0, 1.0),
            vec![
                usage("edge", 50.0, 10),
                usage("authsvc", 20.0, 1),
                usage("server", 20.0, 2),
                usage("cache", 10.0, 3),
                usage("postgres", 100.0, 100),
                usage("loadgen", 90.0, 5),
            ],
        );
        assert_eq!(r.stack_cpu(), 100.0);
        assert_eq!(r.stack_memory(), 16);
        assert_eq!(r.rps_per_cpu(), 500.0);
    }

    #[test]
    fn cache_ratios_and_template_counts_come_from_metrics() {
        let after = Scrape::parse(
            "prodstack_cache_l1_hits_total 90\nprodstack_cache_l2_hits_total 4\n\
             prodstack_singleflight_waiters_total 2\nprodstack_db_queries_total{query=\"item\"} 3\n\
             prodstack_db_queries_total{query=\"user\"} 1\n\
             prodstack_db_queries_total{query=\"update_item\"} 10\n\
             prodstack_http_requests_total{route=\"item_get\",status=\"200\"} 50\n\
             prodstack_http_requests_total{route=\"item_post\",status=\"204\"} 10\n\
             prodstack_http_requests_total{route=\"item_get\",status=\"404\"} 3\n\
             prodstack_http_requests_total{route=\"public_baseline\",status=\"200\"} 20\n\
             prodstack_http_requests_total{route=\"me\",status=\"200\"} 20\n\
             prodstack_http_requests_total{route=\"healthz\",status=\"200\"} 7\n",
        );
        let delta = after.delta(&Scrape::default());
        let cache = CacheHierarchy::from_delta(&delta, 2.0);
        assert_eq!(cache.ratios(), (0.9, 0.06, 0.04));
        assert_eq!(cache.db_writes, 10.0);
        assert_eq!(cache.per_second(cache.l1_hits), 45.0);
        let t = TemplateCounts::measure(&delta, Some(163.0));
        assert_eq!(
            t,
            TemplateCounts {
                static_files: 60,
                baseline: 20,
                items: 60,
                me: 20
            }
        );
    }
}
