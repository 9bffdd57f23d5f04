//! `small_gemm` against plain f64 loops, on every instruction set the
//! host supports (both, on an AVX-512 host).

use super::*;

/// Seeded values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `c` is `a·b` (plus `alpha·c0`), `a` m×k and `b` k×n row-major, to
/// within f32 rounding of f64 loops.
fn assert_product(
    (m, k, n): (usize, usize, usize),
    (a, b, c0): (&[f32], &[f32], &[f32]),
    alpha: Option<f32>,
    c: &[f32],
    what: &str,
) {
    for i in 0..m {
        for j in 0..n {
            let dot: f64 = (0..k)
                .map(|p| f64::from(a[i * k + p]) * f64::from(b[p * n + j]))
                .sum();
            let want = dot + alpha.map_or(0.0, |al| f64::from(al) * f64::from(c0[i * n + j]));
            let got = f64::from(c[i * n + j]);
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{m}x{k}x{n} {what} ({i},{j}): {got} vs {want}"
            );
        }
    }
}

/// Every block shape and tail of both layouts, with and without
/// accumulation, against plain f64 loops.
#[test]
fn agrees_with_plain_loops() {
    for isa in Isa::all_supported() {
        let tried = agrees_with_plain_loops_on(isa);
        assert_eq!(tried, 60, "every handled size and layout ran ({isa:?})");
    }
}

/// [`agrees_with_plain_loops`] on one instruction set: how many products
/// ran.
fn agrees_with_plain_loops_on(isa: Isa) -> usize {
    let mut tried = 0;
    for &(m, k, n) in &[
        (1, 8, 8),
        (13, 9, 40),
        (6, 16, 16),
        (7, 24, 27),
        (32, 128, 40),
        (3, 8, 4),
        (5, 3, 24),
        (48, 16, 8),
        (32, 16, 1),
        // Many rows against a B that fits in L1 (in place, any m).
        (203, 16, 24),
        // Many rows, a short k: copied panels (a weight gradient).
        (200, 72, 48),
        // Blocks of 7 and 8 rows, panels of 32 and a last one of 24,
        // dot products over k = 16·2 + 8.
        (15, 40, 56),
        (8, 8, 88),
    ] {
        for b_rows in [true, false] {
            for alpha in [None, Some(1.0), Some(0.5)] {
                let a = values(m * k, 1);
                let b = values(k * n, 2);
                let c0 = values(m * n, 3);
                let ar = MatRef {
                    ptr: a.as_ptr(),
                    row_stride: k as isize,
                    col_stride: 1,
                };
                // B as k×n rows, or read from its n×k transpose.
                let bt: Vec<f32> = (0..n * k).map(|q| b[(q % k) * n + q / k]).collect();
                // A one-column B has both strides 1 (a dense layer
                // with one output): it must go to the dot products.
                let br = if n == 1 {
                    MatRef {
                        ptr: b.as_ptr(),
                        row_stride: 1,
                        col_stride: 1,
                    }
                } else if b_rows {
                    MatRef {
                        ptr: b.as_ptr(),
                        row_stride: n as isize,
                        col_stride: 1,
                    }
                } else {
                    MatRef {
                        ptr: bt.as_ptr(),
                        row_stride: 1,
                        col_stride: k as isize,
                    }
                };
                if !handles((m, k, n), &ar, &br) {
                    continue;
                }
                tried += 1;
                let mut c = c0.clone();
                // SAFETY: every buffer holds the sizes' elements.
                unsafe { gemm_with(isa, (m, k, n), ar, br, (c.as_mut_ptr(), n), alpha) };
                let what = format!("{isa:?} b_rows={b_rows} alpha={alpha:?}");
                assert_product((m, k, n), (&a, &b, &c0), alpha, &c, &what);
            }
        }
    }
    tried
}

/// B packed once, products over column ranges of it (as threads split
/// them), with and without accumulation, against plain f64 loops.
#[test]
fn packed_products_agree_with_plain_loops() {
    for isa in Isa::all_supported() {
        packed_products_agree_on(isa);
    }
}

/// [`packed_products_agree_with_plain_loops`] on one instruction set.
fn packed_products_agree_on(isa: Isa) {
    for &(m, k, n) in &[(7, 9, 40), (32, 128, 512), (13, 16, 24), (9, 8, 88)] {
        let (a, b, c0) = (values(m * k, 4), values(k * n, 5), values(m * n, 6));
        let ar = MatRef {
            ptr: a.as_ptr(),
            row_stride: k as isize,
            col_stride: 1,
        };
        let br = MatRef {
            ptr: b.as_ptr(),
            row_stride: n as isize,
            col_stride: 1,
        };
        // And B read from its transpose.
        let bt: Vec<f32> = (0..n * k).map(|q| b[(q % k) * n + q / k]).collect();
        let btr = MatRef {
            ptr: bt.as_ptr(),
            row_stride: 1,
            col_stride: k as isize,
        };
        for (br, alpha) in [(br, None), (br, Some(0.5)), (btr, None), (btr, Some(0.5))] {
            assert!(packs((m, k, n), &br));
            // SAFETY: b holds k·n elements; the host supports `isa`.
            let packed = unsafe { Packed::new_with(isa, k, n, &br) };
            let w = packed.panel();
            let cut = n / w / 2 * w;
            assert!(packed.is(k, n, &br));
            let mut c = c0.clone();
            for (lo, hi) in [(0, cut), (cut, n)] {
                let to = c.as_mut_ptr().wrapping_add(lo);
                // SAFETY: a holds m·k, c m·n elements.
                unsafe { packed.gemm(m, ar, (lo, hi), (to, n), alpha) };
            }
            let what = format!("{isa:?} packed, alpha={alpha:?}");
            assert_product((m, k, n), (&a, &b, &c0), alpha, &c, &what);
        }
    }
}
