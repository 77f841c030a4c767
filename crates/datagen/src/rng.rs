//! A random number generator that draws exactly what CPython's `random.Random` draws.
//!
//! HttpArena's Postgres seed comes from `scripts/generate-pgdb.py`, which uses
//! `random.Random(42)`. To reproduce its rows byte for byte we need the same Mersenne Twister
//! (MT19937), seeded the way CPython seeds it from an integer (`init_by_array` over the
//! integer's 32-bit words), and the same derivations on top of it: `getrandbits`, the rejection
//! sampler `_randbelow`, `randint`, `choice` and the pool branch of `sample` (CPython 3.11).
//!
//! The same generator also drives our own content (dataset, static files): one deterministic
//! source of randomness keeps every output reproducible from a seed.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// CPython-compatible `random.Random`: same seed, same sequence.
#[derive(Clone)]
pub struct PyRandom {
    state: [u32; N],
    index: usize,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRandom")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl PyRandom {
    /// Equivalent of Python's `random.Random(seed)` for a non-negative integer seed: the seed is
    /// split into 32-bit words, least significant first (a zero seed is the single word `0`),
    /// and fed to `init_by_array`.
    pub fn new(seed: u64) -> Self {
        let low = seed as u32;
        let high = (seed >> 32) as u32;
        if high == 0 {
            Self::from_key(&[low])
        } else {
            Self::from_key(&[low, high])
        }
    }

    /// MT19937's `init_by_array`, the reference algorithm CPython uses for integer seeds.
    fn from_key(key: &[u32]) -> Self {
        let mut rng = Self::from_u32(19_650_218);
        let mt = &mut rng.state;
        let mut i = 1usize;
        let mut j = 0usize;
        for _ in 0..N.max(key.len()) {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        // MSB is 1, assuring a non-zero initial array.
        mt[0] = 0x8000_0000;
        rng
    }

    /// MT19937's `init_genrand`.
    fn from_u32(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1] ^ (state[i - 1] >> 30);
            state[i] = 1_812_433_253u32.wrapping_mul(prev).wrapping_add(i as u32);
        }
        Self { state, index: N }
    }

    /// Regenerates the whole state block (the "twist").
    fn twist(&mut self) {
        let mt = &mut self.state;
        for k in 0..N {
            let y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 0 { 0 } else { MATRIX_A };
            mt[k] = mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// The next raw 32-bit output (`genrand_uint32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `getrandbits(k)` for `k` in `0..=32`: the top `k` bits of one output; `k = 0` draws
    /// nothing and returns 0, as CPython does.
    pub fn getrandbits(&mut self, k: u32) -> u32 {
        match k {
            0 => 0,
            1..=32 => self.next_u32() >> (32 - k),
            // Every caller in this crate asks for at most 32 bits (populations and ranges fit
            // in u32); clamping keeps this total without a panic path.
            _ => self.next_u32(),
        }
    }

    /// `_randbelow(n)`: uniform in `0..n` by rejection over `getrandbits(n.bit_length())`.
    /// `n = 0` returns 0 (CPython would raise; nothing here asks for it).
    pub fn randbelow(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let k = u32::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `randint(a, b)`: uniform in `a..=b` (`a + _randbelow(b - a + 1)`); `b < a` yields `a`.
    pub fn randint(&mut self, a: i32, b: i32) -> i32 {
        let width = (i64::from(b) - i64::from(a) + 1).clamp(0, i64::from(u32::MAX)) as u32;
        (i64::from(a) + i64::from(self.randbelow(width))) as i32
    }

    /// `choice(seq)`: one element, uniformly (`seq[_randbelow(len(seq))]`). `None` when empty.
    pub fn choice<'a, T>(&mut self, seq: &'a [T]) -> Option<&'a T> {
        if seq.is_empty() {
            return None;
        }
        let len = u32::try_from(seq.len()).unwrap_or(u32::MAX);
        seq.get(self.randbelow(len) as usize)
    }

    /// `sample(population, k)` as CPython 3.11 draws it for small populations (the "pool"
    /// branch, taken while `n <= 21`, or larger `n` for large `k`): `k` distinct elements in
    /// selection order. `k` is clamped to the population size.
    ///
    /// The set-based branch CPython uses for large populations is not implemented; callers pass
    /// small vocabularies (the 10 tags), where the pool branch is what CPython runs.
    pub fn sample<T: Clone>(&mut self, population: &[T], k: usize) -> Vec<T> {
        let n = population.len();
        let k = k.min(n);
        let mut pool: Vec<T> = population.to_vec();
        let mut result = Vec::with_capacity(k);
        for i in 0..k {
            let remaining = u32::try_from(n - i).unwrap_or(u32::MAX);
            let j = self.randbelow(remaining) as usize;
            result.push(pool[j].clone());
            pool[j] = pool[n - i - 1].clone();
        }
        result
    }

    /// A uniformly chosen index into a collection of `len` elements (`_randbelow(len)`).
    pub fn index(&mut self, len: usize) -> usize {
        self.randbelow(u32::try_from(len).unwrap_or(u32::MAX)) as usize
    }

    /// Fills `buf` with pseudo-random bytes (little-endian 32-bit outputs).
    pub fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(4) {
            let word = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers printed by CPython 3.11: `random.Random(seed)` then the calls below.

    #[test]
    fn raw_outputs_match_cpython_for_seed_42() {
        let mut rng = PyRandom::new(42);
        let got: Vec<u32> = (0..5).map(|_| rng.getrandbits(32)).collect();
        assert_eq!(
            got,
            [2746317213, 478163327, 107420369, 3184935163, 1181241943]
        );
    }

    #[test]
    fn seeds_of_zero_and_above_32_bits_match_cpython() {
        let mut zero = PyRandom::new(0);
        let got: Vec<u32> = (0..3).map(|_| zero.next_u32()).collect();
        assert_eq!(got, [3626764237, 1654615998, 3255389356]);
        let mut wide = PyRandom::new((1 << 40) + 7);
        let got: Vec<u32> = (0..3).map(|_| wide.next_u32()).collect();
        assert_eq!(got, [2635837658, 3209733218, 3500038837]);
    }

    #[test]
    fn derived_draws_match_cpython_for_seed_42() {
        let mut rng = PyRandom::new(42);
        let ints: Vec<i32> = (0..5).map(|_| rng.randint(1, 500)).collect();
        assert_eq!(ints, [328, 58, 13, 380, 141]);
        let numbers: Vec<u32> = (0..50).collect();
        let picks: Vec<u32> = (0..5).map(|_| *rng.choice(&numbers).unwrap()).collect();
        assert_eq!(picks, [15, 14, 8, 47, 6]);
        let ten: Vec<u32> = (0..10).collect();
        assert_eq!(rng.sample(&ten, 4), [8, 1, 6, 0]);
        assert_eq!(rng.sample(&ten, 10), [0, 1, 3, 8, 4, 5, 9, 2, 7, 6]);
    }

    #[test]
    fn edge_cases_stay_total() {
        let mut rng = PyRandom::new(1);
        assert_eq!(rng.randbelow(0), 0);
        assert_eq!(rng.randbelow(1), 0);
        assert_eq!(rng.randint(5, 5), 5);
        assert_eq!(rng.choice::<u8>(&[]), None);
        assert_eq!(rng.sample(&[1, 2], 5).len(), 2);
        let mut bytes = [0u8; 7];
        rng.fill_bytes(&mut bytes);
        assert!(bytes.iter().any(|&b| b != 0));
    }
}
