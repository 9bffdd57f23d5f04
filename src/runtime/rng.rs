//! Seeded, counter-based random numbers on the host: streams of
//! Philox4x32-10 blocks (the function is in `crate::random`, shared with
//! the IR's `random_*` ops). A counter-based generator is a pure function
//! of (counter, key), so the n-th number of a stream can be computed
//! anywhere — on the host, in the interpreter, in a GPU thread — and a run
//! is reproducible bit for bit on every backend. Here the key is the run's
//! seed and the counter's high 64 bits name a stream, so streams never
//! overlap.

/// One Philox4x32-10 block; it lives in `crate::random` so that the IR's
/// `random_*` ops and every backend compute exactly the numbers the host
/// generator does.
pub use crate::random::philox4x32_10;

/// A stream of random numbers: the seed is Philox's key, and `counter` is
/// the next block to draw (stream id in the high 64 bits, block index in the
/// low 64). Cloning a generator forks it: both copies produce the same
/// numbers.
#[derive(Clone, Debug)]
pub struct Rng {
    key: u64,
    counter: u128,
    block: [u32; 4],
    /// How many words of `block` are used; 4 means a new block is needed.
    used: usize,
    /// Box–Muller makes normals in pairs; the second waits here.
    spare_normal: Option<f64>,
}

impl Rng {
    /// Stream `stream` of the generator seeded with `seed`. Different
    /// streams of one seed are independent and never overlap; use
    /// [`derive`] to give every named thing (a parameter path, a split) its
    /// own stream.
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng {
            key: seed,
            counter: u128::from(stream) << 64,
            block: [0; 4],
            used: 4,
            spare_normal: None,
        }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            let c = self.counter;
            let ctr = [
                c as u32,
                (c >> 32) as u32,
                (c >> 64) as u32,
                (c >> 96) as u32,
            ];
            let key = [self.key as u32, (self.key >> 32) as u32];
            self.block = philox4x32_10(ctr, key);
            self.counter = self.counter.wrapping_add(1);
            self.used = 0;
        }
        let v = self.block[self.used];
        self.used += 1;
        v
    }

    /// The next 64 random bits: two words, the first one high.
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        let lo = u64::from(self.next_u32());
        (hi << 32) | lo
    }

    /// Uniform in [0, 1) with 53 random bits (every f64 multiple of 2^-53).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, 1) with 24 random bits, from a single word.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Standard normal, by Box–Muller on two uniforms; the pair's second
    /// value is returned by the next call.
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// Uniform in `0..n`, without modulo bias (rejection sampling).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "internal: Rng::below(0)");
        let n = n as u64;
        // The largest multiple of n that fits; draws at or above it are redrawn.
        let zone = u64::MAX - (u64::MAX % n + 1) % n;
        loop {
            let v = self.next_u64();
            if v <= zone {
                return (v % n) as usize;
            }
        }
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates, from the end).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            p.swap(i, j);
        }
        p
    }
}

/// A stream id for `name` under `seed`: FNV-1a over the seed's bytes and the
/// name's, so a parameter's initial values depend on its path alone, not on
/// the order parameters are declared in. Use as `Rng::new(seed,
/// derive(seed, "mlp.h.weight"))`.
pub fn derive(seed: u64, name: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for &b in seed.to_le_bytes().iter().chain(name.as_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}
