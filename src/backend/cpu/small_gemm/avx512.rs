//! The blocks of `small_gemm` with AVX-512: 16-lane registers, a block of
//! up to 8 rows × 32 columns of C from B's rows (sixteen accumulators of
//! the 32 registers: each step of k then issues sixteen multiply-adds for
//! eight broadcasts and two loads of B), and 3 × 4 dot products. A panel
//! narrower than 32 (the last, 8, 16 or 24 columns) ends in a masked
//! vector: masked-off lanes are neither read nor written.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{put, DotOperands, Operands};

/// `rows` (1..=8) rows × `width` (8, 16, 24 or 32) columns of C from B's
/// rows.
///
/// # Safety
/// The host has AVX-512F; the operands hold `rows` rows of A over `k`, `k`
/// rows of `width` columns of B, and `rows` × `width` of C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn rows_block(
    rows: usize,
    width: usize,
    k: usize,
    o: Operands,
    alpha: Option<f32>,
) {
    // The lanes of the last vector: all, or the low 8.
    let last: __mmask16 = if width % 16 == 8 { 0x00ff } else { 0xffff };
    macro_rules! block {
        ($nv:literal) => {
            match rows {
                8 => rows_of::<8, $nv>(k, o, alpha, last),
                7 => rows_of::<7, $nv>(k, o, alpha, last),
                6 => rows_of::<6, $nv>(k, o, alpha, last),
                5 => rows_of::<5, $nv>(k, o, alpha, last),
                4 => rows_of::<4, $nv>(k, o, alpha, last),
                3 => rows_of::<3, $nv>(k, o, alpha, last),
                2 => rows_of::<2, $nv>(k, o, alpha, last),
                _ => rows_of::<1, $nv>(k, o, alpha, last),
            }
        };
    }
    // SAFETY: the caller's contract, for the block's shape.
    unsafe {
        if width > 16 {
            block!(2)
        } else {
            block!(1)
        }
    }
}

/// `MR` rows × `NV` vectors of C from B's rows, the last vector's lanes
/// `last`.
///
/// # Safety
/// As for [`rows_block`], with `rows = MR` and `width = 16·(NV − 1)` plus
/// the lanes of `last`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rows_of<const MR: usize, const NV: usize>(
    k: usize,
    (pa, (ars, acs), pb, ldb, pc, ldc): Operands,
    alpha: Option<f32>,
    last: __mmask16,
) {
    let mask = |v: usize| if v + 1 == NV { last } else { 0xffff };
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    for p in 0..k {
        // SAFETY: row p of B, the block's columns (masked lanes are not
        // read); element (r, p) of A.
        unsafe {
            let row = pb.offset(p as isize * ldb);
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_maskz_loadu_ps(mask(v), row.add(16 * v));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*pa.offset(r as isize * ars + p as isize * acs));
                for (s, &x) in acc.iter_mut().zip(&bv) {
                    *s = _mm512_fmadd_ps(av, x, *s);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &s) in acc.iter().enumerate() {
            // SAFETY: row r, the lanes of vector v of the block of C.
            unsafe {
                let cp = pc.add(r * ldc + 16 * v);
                let out = match alpha {
                    Some(al) => {
                        _mm512_fmadd_ps(_mm512_set1_ps(al), _mm512_maskz_loadu_ps(mask(v), cp), s)
                    }
                    None => s,
                };
                _mm512_mask_storeu_ps(cp, mask(v), out);
            }
        }
    }
}

/// `rows` (1..=3) × `cols` (1..=4) dot products over `k` (a multiple of 8).
///
/// # Safety
/// The host has AVX-512F; A's `rows` rows and B's `cols` columns hold `k`
/// contiguous elements each, and C the block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
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
/// `pw + j·ldw`, both contiguous over k (a multiple of 8: the last chunk
/// of 16 may be half masked); C's block at `pc`.
///
/// # Safety
/// As for [`dots_block`], with `rows = MR` and `cols = NR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_of<const MR: usize, const NR: usize>(
    k: usize,
    (pa, lda, pw, ldw, pc, ldc): DotOperands,
    alpha: Option<f32>,
) {
    let mut acc = [[_mm512_setzero_ps(); NR]; MR];
    let mut p = 0;
    while p < k {
        let mask: __mmask16 = if k - p >= 16 { 0xffff } else { 0x00ff };
        // SAFETY: elements p..min(p+16, k) of MR rows of A and NR columns
        // of B (masked lanes are not read).
        unsafe {
            let mut av = [_mm512_setzero_ps(); MR];
            for (r, x) in av.iter_mut().enumerate() {
                *x = _mm512_maskz_loadu_ps(mask, pa.offset(r as isize * lda).add(p));
            }
            for j in 0..NR {
                let w = _mm512_maskz_loadu_ps(mask, pw.offset(j as isize * ldw).add(p));
                for (acc, &x) in acc.iter_mut().zip(&av) {
                    acc[j] = _mm512_fmadd_ps(x, w, acc[j]);
                }
            }
        }
        p += 16;
    }
    for (r, acc) in acc.iter().enumerate() {
        for (j, &s) in acc.iter().enumerate() {
            // SAFETY: element (r, j) of C's block.
            unsafe { put(pc.add(r * ldc + j), _mm512_reduce_add_ps(s), alpha) };
        }
    }
}

/// No AVX-512 here: `isa::best()` is `None`, and nothing calls these.
///
/// # Safety
/// Never called.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn rows_block(_: usize, _: usize, _: usize, _: Operands, _: Option<f32>) {
    unreachable!("internal: AVX-512 kernel on a host without it")
}

/// No AVX-512 here: `isa::best()` is `None`, and nothing calls these.
///
/// # Safety
/// Never called.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn dots_block(_: usize, _: usize, _: usize, _: DotOperands, _: Option<f32>) {
    let _ = put;
    unreachable!("internal: AVX-512 kernel on a host without it")
}
