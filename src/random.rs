//! Counter-based random numbers the compiler core can use: Philox4x32-10
//! (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1,
//! 2, 3", SC 2011), and the element-wise draws that define the IR's
//! `random_uniform` and `random_normal`. A counter-based generator is a
//! pure function of (counter, key), so element `i` of a random tensor is
//! computed on its own, by any backend, in any order, and comes out the
//! same everywhere. The runtime's seeded streams (`runtime::rng`) use the
//! same function and the same counter layout.
//!
//! Element `i` of `random_* %key stream=s` is drawn from the Philox block
//! with counter `[i, i >> 32, s, s >> 32]` and key `[key as u32, 0]` — block
//! `i` of the runtime stream `Rng::new(key as u32, s)`:
//! - uniform f32: the top 24 bits of word 0, times 2^-24;
//! - uniform f64: words 0 and 1 as a 64-bit number (word 0 high), its top
//!   53 bits times 2^-53;
//! - normal: Box–Muller on `u1` (the f64 uniform of words 0, 1) and `u2`
//!   (that of words 2, 3): `sqrt(-2 ln(1 - u1)) * cos(2π u2)`, computed in
//!   f64 (then rounded for f32). Uniforms are bit-exact on every backend;
//!   normals are as exact as the backend's `ln`, `sqrt` and `cos`.

/// Philox4x32 round multipliers and Weyl key increments, from the paper.
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block: four 32-bit outputs for a 128-bit counter and
/// a 64-bit key.
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The Philox block of element `index` of a random op with `key` and
/// `stream` (see the module doc).
pub fn element_block(key: i32, stream: u64, index: u64) -> [u32; 4] {
    let ctr = [
        index as u32,
        (index >> 32) as u32,
        stream as u32,
        (stream >> 32) as u32,
    ];
    philox4x32_10(ctr, [key as u32, 0])
}

/// Uniform in [0, 1) from the top 24 bits of `word`: every f32 multiple
/// of 2^-24, so never 1.
pub fn unit_f32(word: u32) -> f32 {
    (word >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Uniform in [0, 1) from the top 53 bits of `hi:lo`.
pub fn unit_f64(hi: u32, lo: u32) -> f64 {
    let bits = (u64::from(hi) << 32) | u64::from(lo);
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal from one block, by Box–Muller (the cosine branch).
pub fn normal_of(b: [u32; 4]) -> f64 {
    // 1 - u1 is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - unit_f64(b[0], b[1]);
    let u2 = unit_f64(b[2], b[3]);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
