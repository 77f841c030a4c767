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
    thread: JoinHandle<Vec<(f64, Scrape)>>,
}

impl Sampler {
    /// Scrapes every URL of `urls` (one per app-server instance) every 250 ms and keeps
    /// their sum; times count from `t0`. An instance that does not answer (it is down) is
    /// left out of that sum, a round where none answers is skipped.
    pub fn start(urls: Vec<String>, t0: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let began = Instant::now();
                let mut total: Option<Scrape> = None;
                for scrape in urls.iter().filter_map(|url| Scrape::fetch(url).ok()) {
                    total.get_or_insert_with(Scrape::default).add(scrape);
                }
                if let Some(scrape) = total {
                    samples.push((began.duration_since(t0).as_secs_f64(), scrape));
                }
                std::thread::sleep(EVERY.saturating_sub(began.elapsed()));
            }
            samples
        });
        Self { stop, thread }
    }

    pub fn finish(self) -> Counters {
        self.stop.store(true, Ordering::Relaxed);
        Counters {
            samples: self.thread.join().unwrap_or_default(),
        }
    }
}

/// The scrapes of one scenario, in time order.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    samples: Vec<(f64, Scrape)>,
}

impl Counters {
    /// How much `metric` grew between scrapes taken within `[from_s, to_s]` (a counter that
    /// restarted with its server counts from zero). Only whole intervals inside the range
    /// count, so nothing from before `from_s` is included.
    pub fn increase(&self, metric: &str, from_s: f64, to_s: f64) -> u64 {
        self.samples
            .windows(2)
            .filter(|pair| pair[0].0 >= from_s && pair[1].0 <= to_s)
            .map(|pair| pair[1].1.delta(&pair[0].1).sum(metric, &[]))
            .sum::<f64>() as u64
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
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
            samples: vec![
                at(0.0, 10),
                at(1.0, 50),
                at(2.0, 90),
                at(3.0, 5),
                at(4.0, 25),
            ],
        };
        let metric = "prodstack_cache_l1_hits_total";
        assert_eq!(counters.increase(metric, 1.0, 2.0), 40);
        // 0.5 falls inside the first interval, which is left out.
        assert_eq!(counters.increase(metric, 0.5, 2.0), 40);
        // The server restarted between 2 s and 3 s: its 5 count from zero.
        assert_eq!(counters.increase(metric, 2.0, 4.0), 25);
        assert_eq!(counters.increase("other", 0.0, 4.0), 0);
    }
}
