//! `cargo bench -p cache`: what an L1 hit costs, in ns, on this machine.
//!
//! Prints the best of several rounds for: the raw `get_fresh` hit (map lookup + coarse clock
//! compare + refcount bump), the full `get_or_load` hit path as the server awaits it,
//! `Instant::now()` for comparison (what the coarse clock saves), and the aggregate hit rate
//! with two threads hammering the same cache.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache::{Cache, CacheKey};

#[derive(Clone, Hash, PartialEq, Eq)]
struct Key(i32);

impl CacheKey for Key {
    fn redis_key(&self) -> String {
        format!("item:{}", self.0)
    }
    fn from_redis_key(name: &str) -> Option<Self> {
        name.strip_prefix("item:")?.parse().ok().map(Key)
    }
}

const KEYS: i32 = 10_000;
const OPS: u64 = 5_000_000;
const ROUNDS: usize = 5;

fn best_ns_per_op(mut round: impl FnMut() -> Duration) -> f64 {
    (0..ROUNDS)
        .map(|_| round().as_nanos() as f64 / OPS as f64)
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cache: Cache<Key, Bytes, String> = Cache::new(100_000, None);
    let body = Bytes::from(vec![b'x'; 131]); // a typical item body
    runtime.block_on(async {
        for id in 1..=KEYS {
            let body = body.clone();
            cache
                .get_or_load(&Key(id), Duration::from_secs(3600), || async move {
                    Ok(Some(body))
                })
                .await
                .expect("load");
        }
    });

    let get_fresh = best_ns_per_op(|| {
        let start = Instant::now();
        for i in 0..OPS {
            let key = Key((i % KEYS as u64) as i32 + 1);
            black_box(cache.get_fresh(black_box(&key)));
        }
        start.elapsed()
    });

    let get_or_load = best_ns_per_op(|| {
        runtime.block_on(async {
            let start = Instant::now();
            for i in 0..OPS {
                let key = Key((i % KEYS as u64) as i32 + 1);
                let fetched = cache
                    .get_or_load(black_box(&key), Duration::from_secs(1), || async {
                        Err("unexpected miss".to_string())
                    })
                    .await;
                black_box(fetched.ok());
            }
            start.elapsed()
        })
    });

    let instant_now = best_ns_per_op(|| {
        let start = Instant::now();
        for _ in 0..OPS {
            black_box(Instant::now());
        }
        start.elapsed()
    });

    let coarse_now = best_ns_per_op(|| {
        let start = Instant::now();
        for _ in 0..OPS {
            black_box(cache::clock::now_ms());
        }
        start.elapsed()
    });

    // Two threads, same hot keys: the shared-L1 case the server runs.
    let threads = 2;
    let two_threads = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let cache = &cache;
                    scope.spawn(move || {
                        for i in 0..OPS {
                            let key = Key(((i + t * 7919) % KEYS as u64) as i32 + 1);
                            black_box(cache.get_fresh(black_box(&key)));
                        }
                    });
                }
            });
            (threads * OPS) as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max);

    println!("L1 hit micro-benchmark ({KEYS} keys, {OPS} ops per round, best of {ROUNDS})");
    println!("  get_fresh (L1 hit)            {get_fresh:6.1} ns/op");
    println!("  get_or_load (L1 hit, awaited) {get_or_load:6.1} ns/op");
    println!("  coarse clock::now_ms()        {coarse_now:6.1} ns/op");
    println!("  Instant::now() for comparison {instant_now:6.1} ns/op");
    println!(
        "  get_fresh, {threads} threads          {:6.1} M hits/s aggregate",
        two_threads / 1e6
    );
    let stats = cache.stats();
    assert_eq!(
        stats.misses.get(),
        KEYS as u64,
        "the benchmark must only hit"
    );
}
