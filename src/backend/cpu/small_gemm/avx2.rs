//! The blocks of `small_gemm` with AVX2+FMA: 8-lane registers, a block of
//! up to 6 rows × 16 columns of C from B's rows, and 3 × 4 dot products.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{put, DotOperands, Operands};

/// `rows` (1..=6) rows × `width` (8 or 16) columns of C from B's rows.
///
/// # Safety
/// The host has AVX2 and FMA; the operands hold `rows` rows of A over `k`,
/// `k` rows of `width` columns of B, and `rows` × `width` of C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_block(
    rows: usize,
    width: usize,
    k: usize,
    o: Operands,
    alpha: Option<f32>,
) {
    macro_rules! block {
        ($nv:literal) => {
            match rows {
                6 => rows_of::<6, $nv>(k, o, alpha),
                5 => rows_of::<5, $nv>(k, o, alpha),
                4 => rows_of::<4, $nv>(k, o, alpha),
                3 => rows_of::<3, $nv>(k, o, alpha),
                2 => rows_of::<2, $nv>(k, o, alpha),
                _ => rows_of::<1, $nv>(k, o, alpha),
            }
        };
    }
    // SAFETY: the caller's contract, for the block's shape.
    unsafe {
        if width == 16 {
            block!(2)
        } else {
            block!(1)
        }
    }
}

/// `MR` rows × `8·NV` columns of C from B's rows.
///
/// # Safety
/// As for [`rows_block`], with `rows = MR` and `width = 8·NV`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_of<const MR: usize, const NV: usize>(
    k: usize,
    (pa, (ars, acs), pb, ldb, pc, ldc): Operands,
    alpha: Option<f32>,
) {
    let mut acc = [[_mm256_setzero_ps(); NV]; MR];
    for p in 0..k {
        // SAFETY: row p of B, columns 0..8·NV; element (r, p) of A.
        unsafe {
            let row = pb.offset(p as isize * ldb);
            let mut bv = [_mm256_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm256_loadu_ps(row.add(8 * v));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(*pa.offset(r as isize * ars + p as isize * acs));
                for (s, &x) in acc.iter_mut().zip(&bv) {
                    *s = _mm256_fmadd_ps(av, x, *s);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &s) in acc.iter().enumerate() {
            // SAFETY: row r, columns 8v..8v+8 of the block of C.
            unsafe {
                let cp = pc.add(r * ldc + 8 * v);
                let out = match alpha {
                    Some(al) => _mm256_fmadd_ps(_mm256_set1_ps(al), _mm256_loadu_ps(cp), s),
                    None => s,
                };
                _mm256_storeu_ps(cp, out);
            }
        }
    }
}

/// `rows` (1..=3) × `cols` (1..=4) dot products over `k` (a multiple of 8).
///
/// # Safety
/// The host has AVX2 and FMA; A's `rows` rows and B's `cols` columns hold
/// `k` contiguous elements each, and C the block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dots_block(
    rows: usize,
    cols: usize,
    k: usize,
    o: DotOperands,
    alpha: Option<f32>,
) {
    macro_rules! block {
        ($mr:literal) => {
            match cols {
                4 => dots_of::<$mr, 4>(k, o, alpha),
                3 => dots_of::<$mr, 3>(k, o, alpha),
                2 => dots_of::<$mr, 2>(k, o, alpha),
                _ => dots_of::<$mr, 1>(k, o, alpha),
            }
        };
    }
    // SAFETY: the caller's contract, for the block's shape.
    unsafe {
        match rows {
            3 => block!(3),
            2 => block!(2),
            _ => block!(1),
        }
    }
}

/// `MR × NR` dot products: A's rows at `pa + r·lda`, B's columns at
/// `pw + j·ldw`, both contiguous over k (a multiple of 8); C's block at
/// `pc`.
///
/// # Safety
/// As for [`dots_block`], with `rows = MR` and `cols = NR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots_of<const MR: usize, const NR: usize>(
    k: usize,
    (pa, lda, pw, ldw, pc, ldc): DotOperands,
    alpha: Option<f32>,
) {
    let mut acc = [[_mm256_setzero_ps(); NR]; MR];
    let mut p = 0;
    while p < k {
        // SAFETY: elements p..p+8 of MR rows of A and NR columns of B.
        unsafe {
            let mut av = [_mm256_setzero_ps(); MR];
            for (r, x) in av.iter_mut().enumerate() {
                *x = _mm256_loadu_ps(pa.offset(r as isize * lda).add(p));
            }
            for j in 0..NR {
                let w = _mm256_loadu_ps(pw.offset(j as isize * ldw).add(p));
                for (acc, &x) in acc.iter_mut().zip(&av) {
                    acc[j] = _mm256_fmadd_ps(x, w, acc[j]);
                }
            }
        }
        p += 8;
    }
    for (r, acc) in acc.iter().enumerate() {
        for (j, &s) in acc.iter().enumerate() {
            // SAFETY: element (r, j) of C's block.
            unsafe { put(pc.add(r * ldc + j), hsum(s), alpha) };
        }
    }
}

/// The sum of eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
    _mm_cvtss_f32(s)
}

/// No AVX2 here: `isa::best()` is `None`, and nothing calls these.
///
/// # Safety
/// Never called.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn rows_block(_: usize, _: usize, _: usize, _: Operands, _: Option<f32>) {
    unreachable!("internal: AVX2 kernel on a host without it")
}

/// No AVX2 here: `isa::best()` is `None`, and nothing calls these.
///
/// # Safety
/// Never called.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn dots_block(_: usize, _: usize, _: usize, _: DotOperands, _: Option<f32>) {
    let _ = put;
    unreachable!("internal: AVX2 kernel on a host without it")
}
