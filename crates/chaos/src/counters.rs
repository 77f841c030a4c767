//! The server's own counters over a scenario, scraped from its admin `/metrics` every 250 ms:
//! what the server did while the fault lasted (L1 hits while Postgres was down, Redis and
//! Postgres errors), which h2load's log cannot tell (it has no paths).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bench::metrics::Scrape;

/// Time between two scrapes.
const EVERY: Duration = Duration::from_millis(250);

/// Scrapes until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Vec<(f64, Scrape)>>>,
}

impl Sampler {
    /// Scrapes every URL of `urls` (one per app-server instance) every 250 ms; times count
    /// from `t0`. An instance that does not answer (it is down) has no sample that round.
    pub fn start(urls: Vec<String>, t0: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut series: Vec<Vec<(f64, Scrape)>> = vec![Vec::new(); urls.len()];
            while !stopped.load(Ordering::Relaxed) {
                let began = Instant::now();
                let at = began.duration_since(t0).as_secs_f64();
                for (url, samples) in urls.iter().zip(&mut series) {
                    if let Ok(scrape) = Scrape::fetch(url) {
                        samples.push((at, scrape));
                    }
                }
                std::thread::sleep(EVERY.saturating_sub(began.elapsed()));
            }
            series
        });
        Self { stop, thread }
    }

    pub fn finish(self) -> Counters {
        self.stop.store(true, Ordering::Relaxed);
        Counters {
            series: self.thread.join().unwrap_or_default(),
        }
    }
}

/// The scrapes of one scenario, per app-server instance, each in time order.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    series: Vec<Vec<(f64, Scrape)>>,
}

impl Counters {
    /// How much `metric` grew between scrapes taken within `[from_s, to_s]`, over every
    /// instance: each instance's own increases, added (a counter that restarted with its
    /// server counts from zero; an instance missing from a round only widens its interval).
    /// Only whole intervals inside the range count, so nothing from before `from_s` is
    /// included.
    pub fn increase(&self, metric: &str, from_s: f64, to_s: f64) -> u64 {
        self.series
            .iter()
            .flat_map(|samples| samples.windows(2))
            .filter(|pair| pair[0].0 >= from_s && pair[1].0 <= to_s)
            .map(|pair| pair[1].1.delta(&pair[0].1).sum(metric, &[]))
            .sum::<f64>() as u64
    }

    /// Scrapes taken, all instances.
    pub fn len(&self) -> usize {
        self.series.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, hits: u64) -> (f64, Scrape) {
        (
            t,
            Scrape::parse(&format!("prodstack_cache_l1_hits_total {hits}\n")),
        )
    }

    #[test]
    fn increase_counts_whole_intervals_and_survives_a_restart() {
        let counters = Counters {
            series: vec![vec![
                at(0.0, 10),
                at(1.0, 50),
                at(2.0, 90),
                at(3.0, 5),
                at(4.0, 25),
            ]],
        };
        let metric = "prodstack_cache_l1_hits_total";
        assert_eq!(counters.increase(metric, 1.0, 2.0), 40);
        // 0.5 falls inside the first interval, which is left out.
        assert_eq!(counters.increase(metric, 0.5, 2.0), 40);
        // The server restarted between 2 s and 3 s: its 5 count from zero.
        assert_eq!(counters.increase(metric, 2.0, 4.0), 25);
        assert_eq!(counters.increase("other", 0.0, 4.0), 0);
    }

    #[test]
    fn instances_count_apart_so_one_missing_a_round_adds_nothing_false() {
        let counters = Counters {
            series: vec![
                vec![at(0.0, 1000), at(1.0, 1010), at(2.0, 1020)],
                // Missed the scrape at 1 s: its one interval is 0–2 s.
                vec![at(0.0, 500), at(2.0, 530)],
            ],
        };
        let metric = "prodstack_cache_l1_hits_total";
        assert_eq!(counters.increase(metric, 0.0, 2.0), 20 + 30);
        assert_eq!(counters.len(), 5);
    }
}
