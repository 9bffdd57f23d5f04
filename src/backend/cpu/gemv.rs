//! One row times a matrix, `y = x·B` (batch-1 inference), with AVX2+FMA:
//! the weights stream through once, row by row, into 64 accumulators held
//! in eight registers, with the row eight ahead prefetched. gemm would pack
//! B first, which for a single row costs more than the product.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether this host runs [`row_times_matrix`].
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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
    // SAFETY: the caller checked the features and the bounds.
    unsafe { row_times_matrix_avx2(k, x, (b, rs), y, (lo, hi), accumulate) }
}

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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_times_matrix_avx2(
    k: usize,
    x: *const f32,
    (b, rs): (*const f32, usize),
    y: *mut f32,
    (lo, hi): (usize, usize),
    accumulate: Option<f32>,
) {
    // SAFETY (whole body): every access is x[0..k], B[q][lo..hi] or
    // y[lo..hi], inside the caller's buffers.
    unsafe {
        let finish = |acc: __m256, at: *mut f32| match accumulate {
            Some(alpha) => {
                let old = _mm256_loadu_ps(at);
                _mm256_storeu_ps(at, _mm256_fmadd_ps(_mm256_set1_ps(alpha), old, acc));
            }
            None => _mm256_storeu_ps(at, acc),
        };
        let mut j = lo;
        while j + 64 <= hi {
            let mut acc = [_mm256_setzero_ps(); 8];
            for q in 0..k {
                let xq = _mm256_set1_ps(*x.add(q));
                let row = b.add(q * rs + j);
                if q + 8 < k {
                    let ahead = b.add((q + 8) * rs + j) as *const i8;
                    for line in 0..4 {
                        _mm_prefetch::<_MM_HINT_T0>(ahead.add(64 * line));
                    }
                }
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(xq, _mm256_loadu_ps(row.add(8 * r)), *a);
                }
            }
            for (r, a) in acc.iter().enumerate() {
                finish(*a, y.add(j + 8 * r));
            }
            j += 64;
        }
        while j + 8 <= hi {
            let mut acc = _mm256_setzero_ps();
            for q in 0..k {
                let xq = _mm256_set1_ps(*x.add(q));
                acc = _mm256_fmadd_ps(xq, _mm256_loadu_ps(b.add(q * rs + j)), acc);
            }
            finish(acc, y.add(j));
            j += 8;
        }
        while j < hi {
            let mut s = 0.0f32;
            for q in 0..k {
                s = (*x.add(q)).mul_add(*b.add(q * rs + j), s);
            }
            let at = y.add(j);
            *at = match accumulate {
                Some(alpha) => alpha.mul_add(*at, s),
                None => s,
            };
            j += 1;
        }
    }
}
