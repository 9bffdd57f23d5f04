//! The one-row product (`m = 1`, batch-1 inference) through
//! `dlc::backend::cpu::sgemm` against a plain f64 loop: odd `k` and `n`
//! (row groups of four and 8-column vectors with remainders, masked
//! tails, `n` below 8, at most 16 (sums in registers) and just above,
//! above the 512-column chunk), B at every offset in a 32-byte block and
//! as a window of a wider matrix, accumulation on and off, and the split
//! over B's rows on 1, 2 and 3 threads, above and below
//! `GEMV_PARALLEL_MIN`.

use dlc::backend::cpu::{sgemm, MatRef, GEMV_PARALLEL_MIN};

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| {
            (i.wrapping_mul(2654435761)
                .wrapping_add(seed.wrapping_mul(40503))
                >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}

/// `y = alpha·y0 + x·B` by sgemm and by a plain loop, B `k×n` stored with
/// row stride `rs ≥ n`; they agree within 1e-5 of the terms' magnitude.
fn check(k: usize, n: usize, rs: usize, alpha: Option<f32>, threads: usize) {
    check_at(k, n, (rs, 0), alpha, threads)
}

/// [`check`] with B starting `off` values into its allocation.
fn check_at(k: usize, n: usize, (rs, off): (usize, usize), alpha: Option<f32>, threads: usize) {
    let x = values(k, 1);
    let stored = values(k * rs + off, 2);
    let b = &stored[off..];
    let y0 = values(n, 3);
    let mut y = y0.clone();
    let a = MatRef {
        ptr: x.as_ptr(),
        row_stride: k as isize,
        col_stride: 1,
    };
    let bm = MatRef {
        ptr: b.as_ptr(),
        row_stride: rs as isize,
        col_stride: 1,
    };
    // SAFETY: x holds k values, b k rows of rs ≥ n, y n.
    unsafe { sgemm((1, k, n), a, bm, y.as_mut_ptr(), alpha, threads) };
    for j in 0..n {
        let (mut want, mut size) = (0f64, 0f64);
        for q in 0..k {
            let t = x[q] as f64 * b[q * rs + j] as f64;
            want += t;
            size += t.abs();
        }
        if let Some(al) = alpha {
            want += al as f64 * y0[j] as f64;
            size += (al as f64 * y0[j] as f64).abs();
        }
        let got = y[j] as f64;
        assert!(
            (got - want).abs() <= 1e-5 * (1.0 + size),
            "k {k}, n {n}, rs {rs}, off {off}, alpha {alpha:?}, threads {threads}: column {j}: {got} vs {want}"
        );
    }
}

#[test]
fn one_row_products_match_a_plain_loop() {
    for (k, n) in [
        (1, 1),
        (3, 7),
        (4, 8),
        (5, 8),
        (9, 13),
        (70, 75),
        (128, 10),
        (200, 16),
        (6, 17),
        (257, 64),
        (130, 1027),
    ] {
        for alpha in [None, Some(0.9)] {
            check(k, n, n, alpha, 1);
            check(k, n, n + 5, alpha, 1);
        }
    }
}

#[test]
fn one_row_products_match_a_plain_loop_from_any_alignment() {
    // Row strides of whole 8-value vectors, B starting anywhere in a
    // 32-byte block (unaligned loads; a masked tail past each row).
    for off in 0..8 {
        for (k, n, rs) in [
            (5, 17, 24),
            (33, 40, 40),
            (70, 45, 48),
            (9, 256, 256),
            (6, 600, 608),
        ] {
            for alpha in [None, Some(0.9)] {
                check_at(k, n, (rs, off), alpha, 1);
            }
        }
    }
    check_at(
        301,
        GEMV_PARALLEL_MIN / 301 / 8 * 8 + 8,
        (GEMV_PARALLEL_MIN / 301 / 8 * 8 + 8, 3),
        Some(0.9),
        2,
    );
}

#[test]
fn one_row_products_split_over_threads_match_a_plain_loop() {
    // Above the threshold whatever the shape: k·n ≥ GEMV_PARALLEL_MIN.
    let n_for = |k: usize| GEMV_PARALLEL_MIN / k + 37;
    for k in [301, 784, 1030] {
        let n = n_for(k);
        assert!(k * n >= GEMV_PARALLEL_MIN);
        for threads in [1, 2, 3] {
            for alpha in [None, Some(0.9)] {
                check(k, n, n, alpha, threads);
            }
        }
        check(k, n, n + 3, Some(0.5), 2);
    }
    // Wide rows (several column chunks) and a few rows.
    check(
        9,
        GEMV_PARALLEL_MIN / 9 + 5,
        GEMV_PARALLEL_MIN / 9 + 5,
        None,
        2,
    );
    // Below the threshold several threads change nothing.
    check(70, 75, 75, Some(0.9), 2);
}
