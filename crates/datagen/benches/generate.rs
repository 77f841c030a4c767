//! Prints how long the generator's parts take: `cargo bench -p datagen`.
//!
//! The figures that matter: drawing the 100,000 seed rows must stay well under a second (other
//! crates' tests call `seed::items` to compute expected responses), and brotli at quality 11
//! dominates a full `prodstack data` run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use datagen::{dataset, seed, static_files};

/// Best of `runs` timings of `f`.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            black_box(f());
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:9.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let items = dataset::generate();
    println!(
        "dataset::generate (50 items)           {}",
        ms(best(20, dataset::generate))
    );
    println!(
        "seed::items, all 100,000 rows          {}",
        ms(best(10, || seed::items(&items).count()))
    );
    println!(
        "seed::items(..).nth(9_999) (row 10k)   {}",
        ms(best(10, || seed::items(&items).nth(9_999)))
    );
    let mut sql = Vec::with_capacity(8 << 20);
    println!(
        "seed::write_sql into memory            {}",
        ms(best(5, || {
            sql.clear();
            seed::write_sql(&items, &mut sql).map(|()| sql.len())
        }))
    );
    println!("  ({} bytes)", sql.len());

    let mut text_bytes = 0;
    let (mut content, mut gzip, mut brotli) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for file in &static_files::FILES {
        content += best(3, || static_files::content(file));
        if file.kind.is_text() {
            let data = static_files::content(file);
            text_bytes += data.len();
            gzip += best(1, || static_files::gzip(&data));
            brotli += best(1, || static_files::brotli(&data));
        }
    }
    println!("static_files::content, all 20          {}", ms(content));
    println!(
        "gzip -9 of the 15 text files           {}  ({text_bytes} bytes in)",
        ms(gzip)
    );
    println!(
        "brotli -q 11 of the 15 text files      {}  (one core)",
        ms(brotli)
    );
}
