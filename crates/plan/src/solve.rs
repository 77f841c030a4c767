//! The CPU-split solver: given what each service costs per client request and a
//! [`Topology`], the split of whole cores that maximizes the stack's capacity.
//!
//! A service with `n` logical CPUs and a cost of `d` CPU µs per client request can carry
//! `n × 10⁶ / d` client requests per second; the stack carries the least of its services'
//! capacities, so the best split is the one where edge, authsvc and server reach their
//! ceilings together (the reference entry's own tuning finding). Rules: every service gets
//! whole cores (both SMT threads) and at least one; authsvc and the server each get whole
//! CCXs, because their runtimes share state (a core behind another L3 costs more than it
//! adds: the reference's authsvc got slower past 4 cores); the edge (nginx workers share
//! nothing) and the cache take the cores left (the cache the last of them, next to authsvc
//! on HttpArena's box). authsvc may also be
//! capped at a number of CCXs ([`Rules::authsvc_max_ccxs`], default 1): HttpArena's reference
//! entry found it slower past one CCX, so more would be counted as capacity it does not
//! deliver. Every split is
//! tried (a few thousand on HttpArena's box); ties go to the split whose second-tightest
//! service has the most room, then to fewer cache cores.

use super::topology::Topology;

/// The four services a plan splits, in HttpArena's order.
pub const SERVICES: [&str; 4] = ["edge", "cache", "authsvc", "server"];

/// CPU µs per client request of each service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    pub edge: f64,
    pub cache: f64,
    pub authsvc: f64,
    pub server: f64,
}

impl Demand {
    pub fn of(&self, service: &str) -> f64 {
        match service {
            "edge" => self.edge,
            "cache" => self.cache,
            "authsvc" => self.authsvc,
            "server" => self.server,
            // Not a service of the plan: a cost no split can meet.
            _ => f64::NAN,
        }
    }
}

/// Limits on the split beyond whole cores and CCXs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The most CCXs authsvc may span (`None`: no cap).
    pub authsvc_max_ccxs: Option<usize>,
}

impl Default for Rules {
    /// authsvc in one CCX, as HttpArena's reference entry measured it best.
    fn default() -> Self {
        Rules {
            authsvc_max_ccxs: Some(1),
        }
    }
}

/// One service's share of the split.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub service: &'static str,
    /// First threads of its cores.
    pub cores: Vec<usize>,
    pub cpuset: String,
    /// Client requests per second it can carry.
    pub capacity_rps: f64,
    /// Its load at the stack's projected rate (1.0 = all of its CPUs).
    pub utilization: f64,
}

/// The best split.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// In [`SERVICES`] order.
    pub services: Vec<Allocation>,
    pub projected_rps: f64,
    /// The service whose capacity is the stack's.
    pub bottleneck: &'static str,
}

/// Why no split exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolveError {
    #[error("the CPU list has {0} whole CCX(s); authsvc and the server need one each")]
    TooFewCcxs(usize),
    #[error(
        "no cores are left for the edge and the cache once authsvc and the server have a CCX each"
    )]
    NoCoresLeft,
    #[error("the cost of {0} per client request is not a positive number")]
    BadDemand(&'static str),
}

pub fn solve(topology: &Topology, demand: &Demand, rules: &Rules) -> Result<Solution, SolveError> {
    for service in SERVICES {
        let d = demand.of(service);
        if !(d.is_finite() && d > 0.0) {
            return Err(SolveError::BadDemand(service));
        }
    }
    let ccxs = topology.whole_ccxs();
    if ccxs.len() < 2 {
        return Err(SolveError::TooFewCcxs(ccxs.len()));
    }
    let logical = |cores: usize| (cores * 2) as f64;
    let capacity = |service: &str, cores: usize| logical(cores) * 1e6 / demand.of(service);

    // (score, cache cores) of the best so far; score = capacities sorted ascending.
    let mut best: Option<(Vec<f64>, usize, [Vec<usize>; 4])> = None;
    for server_ccxs in 1..ccxs.len() {
        let authsvc_most = rules
            .authsvc_max_ccxs
            .unwrap_or(usize::MAX)
            .min(ccxs.len() - server_ccxs);
        for authsvc_ccxs in 1..=authsvc_most {
            // The server takes the last CCXs, authsvc the ones before them.
            let server: Vec<usize> = ccxs[ccxs.len() - server_ccxs..].concat();
            let authsvc: Vec<usize> =
                ccxs[ccxs.len() - server_ccxs - authsvc_ccxs..ccxs.len() - server_ccxs].concat();
            let rest: Vec<usize> = topology
                .cores
                .iter()
                .copied()
                .filter(|c| !server.contains(c) && !authsvc.contains(c))
                .collect();
            if rest.len() < 2 {
                continue;
            }
            for cache_cores in 1..rest.len() {
                let (edge, cache) = rest.split_at(rest.len() - cache_cores);
                let caps = [
                    capacity("edge", edge.len()),
                    capacity("cache", cache.len()),
                    capacity("authsvc", authsvc.len()),
                    capacity("server", server.len()),
                ];
                let mut score = caps.to_vec();
                score.sort_by(f64::total_cmp);
                let better = match &best {
                    None => true,
                    Some((s, cc, _)) => match compare(&score, s) {
                        std::cmp::Ordering::Greater => true,
                        std::cmp::Ordering::Equal => cache_cores < *cc,
                        std::cmp::Ordering::Less => false,
                    },
                };
                if better {
                    let split = [
                        edge.to_vec(),
                        cache.to_vec(),
                        authsvc.clone(),
                        server.clone(),
                    ];
                    best = Some((score, cache_cores, split));
                }
            }
        }
    }
    let (score, _, split) = best.ok_or(SolveError::NoCoresLeft)?;
    let projected = score[0];
    let services: Vec<Allocation> = SERVICES
        .iter()
        .zip(split)
        .map(|(service, cores)| {
            let cap = capacity(service, cores.len());
            Allocation {
                service,
                cpuset: topology.cpuset(&cores),
                cores,
                capacity_rps: cap,
                utilization: projected / cap,
            }
        })
        .collect();
    let bottleneck = services
        .iter()
        .min_by(|a, b| a.capacity_rps.total_cmp(&b.capacity_rps))
        .map(|a| a.service)
        .unwrap_or("edge");
    Ok(Solution {
        services,
        projected_rps: projected,
        bottleneck,
    })
}

/// Lexicographic comparison of ascending capacity lists, equal within 0.01 %.
fn compare(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if (x - y).abs() > 1e-4 * x.abs().max(y.abs()) {
            return x.total_cmp(y);
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No cap on authsvc: only whole cores and whole CCXs.
    const FREE: Rules = Rules {
        authsvc_max_ccxs: None,
    };

    fn cores_of(solution: &Solution, service: &str) -> usize {
        solution
            .services
            .iter()
            .find(|a| a.service == service)
            .unwrap()
            .cores
            .len()
    }

    #[test]
    fn whole_ccxs_can_leave_no_room_or_set_the_split() {
        // 8 cores in 2 CCXs; edge 4x, authsvc 1x, server 2x, cache tiny. Without CCX rules
        // the ideal is 4.3 / 1.1 / 2.2 cores; whole CCXs force authsvc 4 and server 4, which
        // leaves no room: the solver must refuse rather than overlap.
        let t = Topology::new("0-7,64-71", 64, 4).unwrap();
        let d = Demand {
            edge: 40.0,
            cache: 0.1,
            authsvc: 10.0,
            server: 20.0,
        };
        assert_eq!(solve(&t, &d, &FREE), Err(SolveError::NoCoresLeft));

        // 16 cores in 4 CCXs: authsvc and server get one CCX each, edge 7 cores, cache 1.
        let t = Topology::new("0-15,64-79", 64, 4).unwrap();
        let s = solve(&t, &d, &FREE).unwrap();
        assert_eq!(cores_of(&s, "authsvc"), 4);
        assert_eq!(cores_of(&s, "server"), 4);
        assert_eq!(cores_of(&s, "cache"), 1);
        assert_eq!(cores_of(&s, "edge"), 7);
        assert_eq!(s.bottleneck, "edge");
        // 14 logical CPUs x 1e6 / 40 µs = 350k rps.
        assert!((s.projected_rps - 350_000.0).abs() < 1e-6);
        let edge = &s.services[0];
        assert!((edge.utilization - 1.0).abs() < 1e-9);
        assert_eq!(s.services[3].cpuset, "12-15,76-79");
    }

    #[test]
    fn httparenas_box_with_the_reference_costs() {
        // The reference entry's docker stats per 100k rps: edge 12.2 logical CPUs, server 7.5,
        // authsvc 3.4, Redis 0.14 → 122 / 75 / 34 / 1.4 µs per request.
        let t = Topology::httparena().unwrap();
        let d = Demand {
            edge: 122.0,
            cache: 1.4,
            authsvc: 34.0,
            server: 75.0,
        };
        let s = solve(&t, &d, &FREE).unwrap();
        let total: usize = SERVICES.iter().map(|n| cores_of(&s, n)).sum();
        assert_eq!(total, 32, "every core is used");
        // Proportional shares would be 16.7 / 0.2 / 4.6 / 10.3 cores; whole CCXs give
        // authsvc 1 CCX (its 8 logical CPUs carry 235k) and the server 3 (12 cores).
        assert_eq!(cores_of(&s, "authsvc"), 4);
        assert_eq!(cores_of(&s, "server"), 12);
        assert_eq!(cores_of(&s, "cache"), 1);
        assert_eq!(cores_of(&s, "edge"), 15);
        assert_eq!(s.bottleneck, "authsvc");
    }

    #[test]
    fn the_authsvc_ccx_cap_binds_and_the_rest_goes_where_it_helps_most() {
        // Costs where authsvc would want 4.6 cores: uncapped it gets two CCXs and the edge
        // is the bottleneck; capped at one CCX (the reference's cliff), authsvc is the
        // bottleneck at 4 cores, and of the splits it bounds, the one whose next-tightest
        // service has the most room wins (server 2 CCXs, edge 19 cores).
        let t = Topology::httparena().unwrap();
        let d = Demand {
            edge: 64.81,
            cache: 0.81,
            authsvc: 19.99,
            server: 19.59,
        };
        let free = solve(&t, &d, &FREE).unwrap();
        assert_eq!(cores_of(&free, "authsvc"), 8);
        assert_eq!(free.bottleneck, "edge");
        let capped = solve(&t, &d, &Rules::default()).unwrap();
        assert_eq!(cores_of(&capped, "authsvc"), 4);
        assert_eq!(cores_of(&capped, "server"), 8);
        assert_eq!(cores_of(&capped, "cache"), 1);
        assert_eq!(cores_of(&capped, "edge"), 19);
        assert_eq!(capped.bottleneck, "authsvc");
        assert!(capped.projected_rps < free.projected_rps);
        assert_eq!(capped.services[2].cpuset, "20-23,84-87");
    }

    #[test]
    fn whole_ccx_granularity_binds_when_a_service_needs_less_than_one() {
        // authsvc and the server so cheap that one core each would do: they still get a
        // whole CCX each (the granularity binds, no cap is set), so the edge gets everything
        // else but the cache's core.
        let t = Topology::httparena().unwrap();
        let d = Demand {
            edge: 100.0,
            cache: 1.0,
            authsvc: 1.0,
            server: 1.0,
        };
        let s = solve(&t, &d, &FREE).unwrap();
        assert_eq!(cores_of(&s, "authsvc"), 4);
        assert_eq!(cores_of(&s, "server"), 4);
        assert_eq!(cores_of(&s, "cache"), 1);
        assert_eq!(cores_of(&s, "edge"), 23);
        assert_eq!(s.bottleneck, "edge");
    }

    #[test]
    fn bad_inputs_are_refused() {
        let t = Topology::httparena().unwrap();
        let d = Demand {
            edge: 0.0,
            cache: 1.0,
            authsvc: 1.0,
            server: 1.0,
        };
        assert_eq!(solve(&t, &d, &FREE), Err(SolveError::BadDemand("edge")));
        let one_ccx = Topology::new("0-3,64-67", 64, 4).unwrap();
        let d = Demand { edge: 1.0, ..d };
        assert_eq!(solve(&one_ccx, &d, &FREE), Err(SolveError::TooFewCcxs(1)));
    }
}
