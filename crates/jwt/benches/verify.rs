//! `cargo bench -p jwt`: nanoseconds per verification of HttpArena's benchmark token.
//!
//! Dependency-free on purpose (no criterion: compile time matters in this workspace). Each
//! variant runs a warm-up, then several samples of a fixed number of iterations; the best
//! and median sample are printed. `black_box` keeps the optimiser from hoisting the work.
//!
//! Variants:
//! - `hmac keyed per call`: `Hmac::new_from_slice(secret)` + update + `verify_slice`, what
//!   HttpArena's authsvc does per request;
//! - `hmac pre-keyed clone`: clone of a keyed `Hmac` + update + `verify_slice`, what
//!   `jwt::Verifier` does;
//! - `full verify_at`: the whole strict path (framing, header, signature, claims, subject).

use std::hint::black_box;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const SECRET: &[u8] = b"httparena-bench-secret-do-not-use-in-production";
/// HttpArena's `data/jwt-token.txt` payload: `{"sub":"42","name":"Alice Chen","exp":1807902621}`.
const EXP: u64 = 1_807_902_621;
const SAMPLES: usize = 7;
const ITERATIONS: u32 = 500_000;

/// `JWT_BENCH_ITERATIONS` overrides the iterations per sample (e.g. a few thousand under
/// valgrind, where instruction counts replace timings on VMs without hardware counters).
fn iterations() -> u32 {
    std::env::var("JWT_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(ITERATIONS)
}

fn main() {
    let token = benchmark_token();
    let header = format!("Bearer {token}");
    let (signing_input, signature_b64) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .expect("valid signature");
    let verifier = jwt::Verifier::new(SECRET);
    let now = EXP - 3600;
    assert_eq!(
        verifier.verify_at(header.as_bytes(), now).unwrap().as_str(),
        "42"
    );

    println!(
        "token: {} bytes, signing input {} bytes; {SAMPLES} samples x {} iterations",
        token.len(),
        signing_input.len(),
        iterations()
    );
    measure("hmac keyed per call", || {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(SECRET)).unwrap();
        mac.update(black_box(signing_input.as_bytes()));
        mac.verify_slice(black_box(&signature)).is_ok()
    });
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).unwrap();
    measure("hmac pre-keyed clone", || {
        let mut mac = black_box(&keyed).clone();
        mac.update(black_box(signing_input.as_bytes()));
        mac.verify_slice(black_box(&signature)).is_ok()
    });
    measure("full verify_at (jwt::Verifier)", || {
        black_box(&verifier)
            .verify_at(black_box(header.as_bytes()), black_box(now))
            .is_ok()
    });
    measure("full verify (system clock)", || {
        black_box(&verifier)
            .verify(black_box(header.as_bytes()))
            .is_ok()
    });
    // Change one character in the middle of the signature: decodes fine, fails the HMAC.
    let mut rejected = header.clone().into_bytes();
    let middle = rejected.len() - 20;
    rejected[middle] = if rejected[middle] == b'A' { b'B' } else { b'A' };
    measure("rejection: bad signature", || {
        black_box(&verifier).verify_at(black_box(&rejected), black_box(now))
            == Err(jwt::VerifyError::BadSignature)
    });
}

/// The fixture when present (byte-identical to what the load generator sends), else the same
/// claims minted here, so the bench runs anywhere.
fn benchmark_token() -> String {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/httparena/data/jwt-token.txt"
    );
    match std::fs::read_to_string(fixture) {
        Ok(token) => token,
        Err(_) => {
            println!("({fixture} not found: minting an equivalent token)");
            jwt::sign_payload(
                br#"{"sub":"42","name":"Alice Chen","exp":1807902621}"#,
                SECRET,
            )
        }
    }
}

/// `cargo bench -p jwt -- <filter>` runs only the variants whose name contains `<filter>`
/// (e.g. to count instructions of one variant with `perf stat`).
fn selected(name: &str) -> bool {
    std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .all(|filter| name.contains(&filter))
}

fn measure(name: &str, mut op: impl FnMut() -> bool) {
    if !selected(name) {
        return;
    }
    let iterations = iterations();
    for _ in 0..iterations / 10 {
        assert!(
            op(),
            "{name}: the operation did not give the expected outcome"
        );
    }
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(op());
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    println!(
        "{name:<34} best {:>7.1} ns   median {:>7.1} ns   worst {:>7.1} ns",
        samples[0],
        samples[SAMPLES / 2],
        samples[SAMPLES - 1]
    );
}
