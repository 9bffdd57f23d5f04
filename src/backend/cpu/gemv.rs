//! One row times a matrix, `y = x·B` (batch-1 inference), with AVX2+FMA.
//! gemm would pack B first, which for a single row costs more than the
//! product: here the weights stream through once, in B's own order.
//!
//! The kernel reads four rows of B at a time, each contiguous, and adds
//! them into `y`, which stays in L1 (in chunks of 512 columns): one load
//! and one store of `y` per four multiply-adds, the rows' next four
//! prefetched. At most 16 columns keep their sums in registers instead. Streams of whole rows are what the hardware prefetchers
//! follow best; the earlier kernel, 64 columns in registers down all k
//! rows, jumped a row stride every 256 bytes and ran the MLP's 784×256
//! layer about 20 % slower (`benches/README.md`).
//!
//! With more than one thread, [`row_times_matrix_split`] cuts the *rows*
//! of B (the sum over k) into contiguous parts, one per thread, each summed
//! into its own copy of `y` and the copies added in part order. Each part
//! is then a contiguous block, so on later calls it is still in the L2 of
//! the core that read it (a split by columns leaves every row half-read,
//! and such a half uses only half the L2's sets: it never stayed). The
//! caller runs the first part itself and waits for the others by spinning,
//! not sleeping: a rayon fork-join from outside the pool costs more than
//! the whole product.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::isa::{best, Isa};

/// Whether this host runs [`row_times_matrix`] (it has AVX2+FMA; with
/// AVX-512 the 512-bit kernel runs, unless `DLC_ISA=avx2`, see `isa.rs`).
pub fn available() -> bool {
    best().is_some()
}

/// `y[j] = Σ_q x[q]·B[q][j]` (or `alpha·y[j] + …` with `accumulate`) for
/// the columns `lo..hi`; `x` holds `k` contiguous values and row `q` of B
/// starts at `b + q·rs`, its columns contiguous.
///
/// # Safety
/// [`available`] is true, and the pointers address every element read or
/// written.
#[cfg(target_arch = "x86_64")]
pub unsafe fn row_times_matrix(
    k: usize,
    x: *const f32,
    (b, rs): (*const f32, usize),
    y: *mut f32,
    (lo, hi): (usize, usize),
    accumulate: Option<f32>,
) {
    let isa = best().expect("internal: row_times_matrix without AVX2");
    // SAFETY: the caller checked the features and the bounds.
    unsafe { row_times_matrix_with(isa, k, x, (b, rs), y, (lo, hi), accumulate) }
}

/// [`row_times_matrix`] with the instruction set given.
///
/// # Safety
/// As for [`row_times_matrix`], and the host supports `isa`.
#[cfg(target_arch = "x86_64")]
unsafe fn row_times_matrix_with(
    isa: Isa,
    k: usize,
    x: *const f32,
    (b, rs): (*const f32, usize),
    y: *mut f32,
    (lo, hi): (usize, usize),
    accumulate: Option<f32>,
) {
    let mut c0 = lo;
    while c0 < hi {
        let c1 = (c0 + CHUNK).min(hi);
        // SAFETY: columns c0..c1 of the caller's range, on an instruction
        // set the host supports.
        unsafe {
            let (b, y, w) = ((b.add(c0), rs), y.add(c0), c1 - c0);
            match isa {
                Isa::Avx2 => chunk_avx2(k, x, b, y, w, accumulate),
                Isa::Avx512 => chunk_avx512(k, x, b, y, w, accumulate),
            }
        }
        c0 = c1;
    }
}

/// No AVX2 on this host: [`available`] is false, and nothing calls it.
///
/// # Safety
/// Never called.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn row_times_matrix(
    _: usize,
    _: *const f32,
    _: (*const f32, usize),
    _: *mut f32,
    _: (usize, usize),
    _: Option<f32>,
) {
    unreachable!("internal: row_times_matrix without avx2")
}

/// [`row_times_matrix`] over all `n` columns with B's `k` rows cut into
/// `parts` contiguous parts, run on the caller and rayon's pool: part 0
/// goes into `y` on the calling thread, the others into scratch rows that
/// are then added to `y` in part order (so the result depends on `parts`,
/// never on which thread ran what). A part no pool thread has picked up
/// when the caller is free, the caller runs itself.
///
/// # Safety
/// As for [`row_times_matrix`], with `lo..hi = 0..n`.
pub unsafe fn row_times_matrix_split(
    k: usize,
    x: *const f32,
    (b, rs): (*const f32, usize),
    y: *mut f32,
    n: usize,
    accumulate: Option<f32>,
    parts: usize,
) {
    let parts = parts.clamp(1, k.max(1));
    let mut scratch = vec![0f32; (parts - 1) * n];
    let (xp, bp, yp, sp) = (
        x as usize,
        b as usize,
        y as usize,
        scratch.as_mut_ptr() as usize,
    );
    // Rows k·p/parts .. k·(p+1)/parts of B; part p > 0 into scratch row p − 1.
    let part = move |p: usize| {
        let (q0, q1) = (k * p / parts, k * (p + 1) / parts);
        let (x, b) = (xp as *const f32, bp as *const f32);
        // SAFETY: the caller's contract for rows q0..q1 and all n columns;
        // scratch holds (parts − 1)·n values and lives until every claimed
        // part is done (the caller waits below).
        unsafe {
            if p == 0 {
                row_times_matrix(q1, x, (b, rs), yp as *mut f32, (0, n), accumulate);
            } else {
                let into = (sp as *mut f32).add((p - 1) * n);
                row_times_matrix(q1 - q0, x.add(q0), (b.add(q0 * rs), rs), into, (0, n), None);
            }
        }
    };
    // Parts 1.. are claimed from `next` by whoever comes first; `done`
    // counts the finished ones. A pool thread that arrives after every
    // part was claimed touches nothing but these counters.
    let claims = Arc::new((AtomicUsize::new(1), AtomicUsize::new(0)));
    let work = move |c: &(AtomicUsize, AtomicUsize)| loop {
        let p = c.0.fetch_add(1, Ordering::AcqRel);
        if p >= parts {
            break;
        }
        {
            // A part of the step on a pool thread: denormals flushed here
            // too (the caller's thread has them flushed already).
            let _flush = super::denormals::flush_here();
            super::denormals::note();
            part(p);
        }
        c.1.fetch_add(1, Ordering::Release);
    };
    for _ in 1..parts {
        let c = Arc::clone(&claims);
        rayon::spawn(move || work(&c));
    }
    part(0);
    work(&claims);
    let mut spins = 0u32;
    while claims.1.load(Ordering::Acquire) < parts - 1 {
        // Another thread is finishing a part: microseconds, unless the OS
        // took its core away; after about 100 µs (4096 pauses) the caller
        // gives its own core up instead, in case that thread shares it.
        spins += 1;
        if spins < 1 << 12 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    // SAFETY: y holds n values; every part is done.
    let y = unsafe { std::slice::from_raw_parts_mut(y, n) };
    for row in scratch.chunks_exact(n) {
        y.iter_mut().zip(row).for_each(|(a, s)| *a += s);
    }
}

/// Columns per pass over B's rows: 2 KB of `y`, which stays in L1.
const CHUNK: usize = 512;

/// [`row_times_matrix`] on `w` columns (at most [`CHUNK`]) starting at `b`
/// and `y`, with AVX2+FMA.
///
/// # Safety
/// The host has AVX2 and FMA; `x` holds `k` values, B `k` rows of `w`
/// columns `rs` apart, `y` `w` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_avx2(
    k: usize,
    x: *const f32,
    (b, rs): (*const f32, usize),
    y: *mut f32,
    w: usize,
    accumulate: Option<f32>,
) {
    const ROWS: usize = 4;
    if w <= 16 {
        // SAFETY: the caller's contract.
        return unsafe { narrow_avx2(k, x, (b, rs), y, w, accumulate) };
    }
    let full = w / 8 * 8;
    // The last w % 8 columns go through masked loads and stores.
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((w - full) as i32), lanes);
    // SAFETY (whole body): every access is x[0..k], B[q][0..w] or y[0..w]
    // (masked lanes are never touched), inside the caller's buffers.
    unsafe {
        let tail = y.add(full);
        match accumulate {
            Some(alpha) => {
                let a = _mm256_set1_ps(alpha);
                for j in (0..full).step_by(8) {
                    _mm256_storeu_ps(y.add(j), _mm256_mul_ps(a, _mm256_loadu_ps(y.add(j))));
                }
                let t = _mm256_mul_ps(a, _mm256_maskload_ps(tail, mask));
                _mm256_maskstore_ps(tail, mask, t);
            }
            None => {
                for j in (0..full).step_by(8) {
                    _mm256_storeu_ps(y.add(j), _mm256_setzero_ps());
                }
                _mm256_maskstore_ps(tail, mask, _mm256_setzero_ps());
            }
        }
        let mut q = 0;
        while q + ROWS <= k {
            let xs: [__m256; ROWS] = std::array::from_fn(|r| _mm256_set1_ps(*x.add(q + r)));
            let rows = b.add(q * rs);
            let ahead = q + 2 * ROWS <= k;
            let mut j = 0;
            while j < full {
                let at = y.add(j);
                let mut a = _mm256_loadu_ps(at);
                for (r, xr) in xs.iter().enumerate() {
                    a = _mm256_fmadd_ps(*xr, _mm256_loadu_ps(rows.add(r * rs + j)), a);
                }
                _mm256_storeu_ps(at, a);
                if ahead && j % 16 == 0 {
                    // The next four rows, one 64-byte line each.
                    for r in ROWS..2 * ROWS {
                        _mm_prefetch::<_MM_HINT_T0>(rows.add(r * rs + j) as *const i8);
                    }
                }
                j += 8;
            }
            if full < w {
                let mut a = _mm256_maskload_ps(tail, mask);
                for (r, xr) in xs.iter().enumerate() {
                    let row = _mm256_maskload_ps(rows.add(r * rs + full), mask);
                    a = _mm256_fmadd_ps(*xr, row, a);
                }
                _mm256_maskstore_ps(tail, mask, a);
            }
            q += ROWS;
        }
        while q < k {
            let xq = _mm256_set1_ps(*x.add(q));
            let row = b.add(q * rs);
            for j in (0..full).step_by(8) {
                let at = y.add(j);
                let a = _mm256_fmadd_ps(xq, _mm256_loadu_ps(row.add(j)), _mm256_loadu_ps(at));
                _mm256_storeu_ps(at, a);
            }
            if full < w {
                let a = _mm256_maskload_ps(tail, mask);
                let r = _mm256_maskload_ps(row.add(full), mask);
                _mm256_maskstore_ps(tail, mask, _mm256_fmadd_ps(xq, r, a));
            }
            q += 1;
        }
    }
}

/// [`chunk_avx2`] for at most 16 columns (a classifier's last layer): the
/// sum over rows kept in registers, four rows at a time in four separate
/// sums, so no multiply-add waits for the one before (through `y`, each
/// would).
///
/// # Safety
/// As for [`chunk_avx2`], with `w ≤ 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn narrow_avx2(
    k: usize,
    x: *const f32,
    (b, rs): (*const f32, usize),
    y: *mut f32,
    w: usize,
    accumulate: Option<f32>,
) {
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let masks = [
        _mm256_cmpgt_epi32(_mm256_set1_epi32(w.min(8) as i32), lanes),
        _mm256_cmpgt_epi32(_mm256_set1_epi32(w.saturating_sub(8) as i32), lanes),
    ];
    let mut acc = [[_mm256_setzero_ps(); 2]; 4];
    // SAFETY (whole body): every access is x[0..k], B[q][0..w] or y[0..w]
    // through masks that cover exactly those columns.
    unsafe {
        let row = |q: usize, h: usize| _mm256_maskload_ps(b.add(q * rs + 8 * h), masks[h]);
        let mut q = 0;
        while q + 4 <= k {
            for (r, a) in acc.iter_mut().enumerate() {
                let xr = _mm256_set1_ps(*x.add(q + r));
                a[0] = _mm256_fmadd_ps(xr, row(q + r, 0), a[0]);
                if w > 8 {
                    a[1] = _mm256_fmadd_ps(xr, row(q + r, 1), a[1]);
                }
            }
            q += 4;
        }
        while q < k {
            let xq = _mm256_set1_ps(*x.add(q));
            acc[0][0] = _mm256_fmadd_ps(xq, row(q, 0), acc[0][0]);
            if w > 8 {
                acc[0][1] = _mm256_fmadd_ps(xq, row(q, 1), acc[0][1]);
            }
            q += 1;
        }
        for (h, mask) in masks.iter().enumerate() {
            let s = _mm256_add_ps(
                _mm256_add_ps(acc[0][h], acc[1][h]),
                _mm256_add_ps(acc[2][h], acc[3][h]),
            );
            let at = y.add(8 * h);
            let s = match accumulate {
                Some(alpha) => {
                    _mm256_fmadd_ps(_mm256_set1_ps(alpha), _mm256_maskload_ps(at, *mask), s)
                }
                None => s,
            };
            _mm256_maskstore_ps(at, *mask, s);
        }
    }
}

/// [`chunk_avx2`] with AVX-512: 16-lane vectors, the last `w % 16`
/// columns through masked loads and stores (masked-off lanes are neither
/// read nor written).
///
/// # Safety
/// The host has AVX-512F; `x` holds `k` values, B `k` rows of `w` columns
/// `rs` apart, `y` `w` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chunk_avx512(
    k: usize,
    x: *const f32,
    (b, rs): (*const f32, usize),
    y: *mut f32,
    w: usize,
    accumulate: Option<f32>,
) {
    const ROWS: usize = 4;
    if w <= 32 {
        // SAFETY: the caller's contract.
        return unsafe { narrow_avx512(k, x, (b, rs), y, w, accumulate) };
    }
    let full = w / 16 * 16;
    let mask: __mmask16 = ((1u32 << (w - full)) - 1) as __mmask16;
    // SAFETY (whole body): every access is x[0..k], B[q][0..w] or y[0..w]
    // (masked lanes are never touched), inside the caller's buffers.
    unsafe {
        let tail = y.add(full);
        let start = |v: __m512| match accumulate {
            Some(alpha) => _mm512_mul_ps(_mm512_set1_ps(alpha), v),
            None => _mm512_setzero_ps(),
        };
        for j in (0..full).step_by(16) {
            _mm512_storeu_ps(y.add(j), start(_mm512_loadu_ps(y.add(j))));
        }
        _mm512_mask_storeu_ps(tail, mask, start(_mm512_maskz_loadu_ps(mask, tail)));
        let mut q = 0;
        while q + ROWS <= k {
            let xs: [__m512; ROWS] = std::array::from_fn(|r| _mm512_set1_ps(*x.add(q + r)));
            let rows = b.add(q * rs);
            let ahead = q + 2 * ROWS <= k;
            let mut j = 0;
            while j < full {
                let at = y.add(j);
                let mut a = _mm512_loadu_ps(at);
                for (r, xr) in xs.iter().enumerate() {
                    a = _mm512_fmadd_ps(*xr, _mm512_loadu_ps(rows.add(r * rs + j)), a);
                }
                _mm512_storeu_ps(at, a);
                if ahead {
                    // The next four rows, one 64-byte line each.
                    for r in ROWS..2 * ROWS {
                        _mm_prefetch::<_MM_HINT_T0>(rows.add(r * rs + j) as *const i8);
                    }
                }
                j += 16;
            }
            if full < w {
                let mut a = _mm512_maskz_loadu_ps(mask, tail);
                for (r, xr) in xs.iter().enumerate() {
                    let row = _mm512_maskz_loadu_ps(mask, rows.add(r * rs + full));
                    a = _mm512_fmadd_ps(*xr, row, a);
                }
                _mm512_mask_storeu_ps(tail, mask, a);
            }
            q += ROWS;
        }
        while q < k {
            let xq = _mm512_set1_ps(*x.add(q));
            let row = b.add(q * rs);
            for j in (0..full).step_by(16) {
                let at = y.add(j);
                let a = _mm512_fmadd_ps(xq, _mm512_loadu_ps(row.add(j)), _mm512_loadu_ps(at));
                _mm512_storeu_ps(at, a);
            }
            if full < w {
                let a = _mm512_maskz_loadu_ps(mask, tail);
                let r = _mm512_maskz_loadu_ps(mask, row.add(full));
                _mm512_mask_storeu_ps(tail, mask, _mm512_fmadd_ps(xq, r, a));
            }
            q += 1;
        }
    }
}

/// [`narrow_avx2`] with AVX-512, for at most 32 columns: two masked
/// 16-lane halves, four rows at a time in four separate sums.
///
/// # Safety
/// As for [`chunk_avx512`], with `w ≤ 32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn narrow_avx512(
    k: usize,
    x: *const f32,
    (b, rs): (*const f32, usize),
    y: *mut f32,
    w: usize,
    accumulate: Option<f32>,
) {
    let lanes = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
    let masks = [lanes(w), lanes(w.saturating_sub(16))];
    let mut acc = [[_mm512_setzero_ps(); 2]; 4];
    // SAFETY (whole body): every access is x[0..k], B[q][0..w] or y[0..w]
    // through masks that cover exactly those columns.
    unsafe {
        let row = |q: usize, h: usize| _mm512_maskz_loadu_ps(masks[h], b.add(q * rs + 16 * h));
        let mut q = 0;
        while q + 4 <= k {
            for (r, a) in acc.iter_mut().enumerate() {
                let xr = _mm512_set1_ps(*x.add(q + r));
                a[0] = _mm512_fmadd_ps(xr, row(q + r, 0), a[0]);
                if w > 16 {
                    a[1] = _mm512_fmadd_ps(xr, row(q + r, 1), a[1]);
                }
            }
            q += 4;
        }
        while q < k {
            let xq = _mm512_set1_ps(*x.add(q));
            acc[0][0] = _mm512_fmadd_ps(xq, row(q, 0), acc[0][0]);
            if w > 16 {
                acc[0][1] = _mm512_fmadd_ps(xq, row(q, 1), acc[0][1]);
            }
            q += 1;
        }
        for (h, &mask) in masks.iter().enumerate() {
            let s = _mm512_add_ps(
                _mm512_add_ps(acc[0][h], acc[1][h]),
                _mm512_add_ps(acc[2][h], acc[3][h]),
            );
            let at = y.add(16 * h);
            let s = match accumulate {
                Some(alpha) => {
                    _mm512_fmadd_ps(_mm512_set1_ps(alpha), _mm512_maskz_loadu_ps(mask, at), s)
                }
                None => s,
            };
            _mm512_mask_storeu_ps(at, mask, s);
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Every column count up to past a chunk (registers, masked tails,
    /// whole vectors), row counts with and without a remainder of four,
    /// with and without accumulation, on every instruction set the host
    /// supports, against plain f64 loops.
    #[test]
    fn each_instruction_set_agrees_with_plain_loops() {
        let value = |i: usize| ((i * 7919 % 211) as f32 / 211.0) - 0.5;
        for isa in Isa::all_supported() {
            for &(k, n) in &[
                (1, 1),
                (5, 7),
                (9, 16),
                (13, 24),
                (4, 32),
                (7, 33),
                (21, 100),
                (6, 530),
            ] {
                let rs = n + 3;
                let x: Vec<f32> = (0..k).map(value).collect();
                let b: Vec<f32> = (0..k * rs).map(|i| value(i + 11)).collect();
                let y0: Vec<f32> = (0..n).map(|i| value(i + 5)).collect();
                for alpha in [None, Some(0.5)] {
                    let mut y = y0.clone();
                    // SAFETY: x holds k, b k rows of rs ≥ n, y n values;
                    // the host supports `isa`.
                    unsafe {
                        row_times_matrix_with(
                            isa,
                            k,
                            x.as_ptr(),
                            (b.as_ptr(), rs),
                            y.as_mut_ptr(),
                            (0, n),
                            alpha,
                        )
                    };
                    for j in 0..n {
                        let dot: f64 = (0..k)
                            .map(|q| f64::from(x[q]) * f64::from(b[q * rs + j]))
                            .sum();
                        let want = dot + alpha.map_or(0.0, |a| f64::from(a * y0[j]));
                        let got = f64::from(y[j]);
                        assert!(
                            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{isa:?} k={k} n={n} alpha={alpha:?} column {j}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
