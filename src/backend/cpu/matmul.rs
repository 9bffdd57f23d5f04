//! Contractions: f32 goes to the `gemm` crate's micro-kernels (AVX-512 where
//! the host has it, AVX2+FMA otherwise), called as Cᵀ = Bᵀ·Aᵀ, its fast
//! orientation for a row-major C (`TOOLCHAIN.md` §3); f64 (gradient checks
//! only) runs plain loops. [`sgemm`] is the one entry point, shared with
//! `benches/matmul.rs`, so the bench measures exactly what the backend runs.

use rayon::prelude::*;

use super::gemv;
use crate::ir::DType;
use crate::kernel::MatOperand;

/// Contractions with fewer multiply-adds than this run on one thread: below
/// it, splitting costs more than it saves (measured with `dlc bench` on the
/// MLP's matmuls, whose smallest useful split is the 64×784×256 forward).
pub const GEMM_PARALLEL_MIN: usize = 1 << 21;

/// A one-row product with fewer multiply-adds than this runs on one thread.
/// The MLP's 784×256 row (12 µs) is below it: on a shared 2-core machine,
/// waking the second thread cost more than halving the row saved.
const GEMV_PARALLEL_MIN: usize = 1 << 20;

/// A row-major f32 matrix operand: base pointer and element strides.
#[derive(Clone, Copy, Debug)]
pub struct MatRef {
    pub ptr: *const f32,
    pub row_stride: isize,
    pub col_stride: isize,
}

/// `c = a·b`, or `c = alpha·c + a·b` with `accumulate: Some(alpha)`; `c` is
/// row-major m×n, `a` m×k, `b` k×n with any strides; `threads > 1` lets
/// gemm split the work over rayon's pool.
///
/// # Safety
/// The pointers address live, non-overlapping-with-`c` buffers holding every
/// element the strides reach for these sizes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    (m, k, n): (usize, usize, usize),
    a: MatRef,
    b: MatRef,
    c: *mut f32,
    accumulate: Option<f32>,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        let c = unsafe { std::slice::from_raw_parts_mut(c, m * n) };
        match accumulate {
            Some(alpha) => c.iter_mut().for_each(|x| *x *= alpha),
            None => c.fill(0.0),
        }
        return;
    }
    if m == 1 && a.col_stride == 1 && b.col_stride == 1 && gemv::available() {
        // One row (batch-1 inference): a streaming row-times-matrix beats
        // gemm's packing, and split by columns each core keeps its share
        // of the weights in its own L2.
        let (pa, pb, pc) = (a.ptr as usize, b.ptr as usize, c as usize);
        let b_rs = b.row_stride as usize;
        let run = move |lo: usize, hi: usize| {
            let (a, b, c) = (pa as *const f32, pb as *const f32, pc as *mut f32);
            // SAFETY: the caller's contract; columns lo..hi of one row.
            unsafe { gemv::row_times_matrix(k, a, (b, b_rs), c, (lo, hi), accumulate) };
        };
        let parts = if threads > 1 && k * n >= GEMV_PARALLEL_MIN {
            threads.min(n / 64).max(1)
        } else {
            1
        };
        if parts == 1 {
            run(0, n);
        } else {
            (0..parts).into_par_iter().for_each(|p| {
                // Column ranges in whole 64-column blocks.
                let blocks = n.div_ceil(64);
                let lo = (blocks * p / parts * 64).min(n);
                let hi = (blocks * (p + 1) / parts * 64).min(n);
                run(lo, hi);
            });
        }
        return;
    }
    let par = if threads > 1 {
        gemm_common::Parallelism::Rayon(threads)
    } else {
        gemm_common::Parallelism::None
    };
    let f = gemm_f32::gemm::f32::get_gemm_fn();
    // SAFETY: the caller's contract. gemm computes dst = alpha·dst +
    // beta·lhs·rhs with (column, row) strides; as Cᵀ = Bᵀ·Aᵀ, Bᵀ's column
    // stride is B's row stride, and so on.
    unsafe {
        f(
            n,
            m,
            k,
            c,
            n as isize,
            1,
            accumulate.is_some(),
            b.ptr,
            b.row_stride,
            b.col_stride,
            a.ptr,
            a.row_stride,
            a.col_stride,
            accumulate.unwrap_or(0.0),
            1.0,
            false,
            false,
            false,
            par,
        )
    };
}

/// `out = a · b` (or `out = alpha·out + a · b`) for `bs` matrices laid end
/// to end, operands by buffer from `ptrs`.
pub(super) fn run_matmul(
    ptrs: &[*mut u8],
    out: usize,
    (bs, m, k, n): (usize, usize, usize, usize),
    (a, b): (&MatOperand, &MatOperand),
    dtype: DType,
    accumulate: Option<f32>,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Element strides of A (m×k) and B (k×n) as stored.
    let (a_rs, a_cs) = if a.transposed { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if b.transposed { (1, k) } else { (n, 1) };
    let (pa, pb, pc) = (
        ptrs[a.buf] as usize,
        ptrs[b.buf] as usize,
        ptrs[out] as usize,
    );
    let one = |z: usize, threads: usize| match dtype {
        DType::F32 => {
            let a = MatRef {
                ptr: (pa as *const f32).wrapping_add(z * m * k),
                row_stride: a_rs as isize,
                col_stride: a_cs as isize,
            };
            let b = MatRef {
                ptr: (pb as *const f32).wrapping_add(z * k * n),
                row_stride: b_rs as isize,
                col_stride: b_cs as isize,
            };
            let c = (pc as *mut f32).wrapping_add(z * m * n);
            // SAFETY: the buffers hold bs·m·k, bs·k·n and bs·m·n elements
            // (the layout sized them from the same bindings), and the output
            // never shares storage with an operand.
            unsafe { sgemm((m, k, n), a, b, c, accumulate, threads) };
        }
        _ => {
            let (a, b, c) = (
                (pa as *const f64).wrapping_add(z * m * k),
                (pb as *const f64).wrapping_add(z * k * n),
                (pc as *mut f64).wrapping_add(z * m * n),
            );
            let alpha = accumulate.map_or(0.0, f64::from);
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0;
                    for q in 0..k {
                        // SAFETY: indices stay inside the sized buffers.
                        unsafe { s += *a.add(i * a_rs + q * a_cs) * *b.add(q * b_rs + j * b_cs) };
                    }
                    // SAFETY: as above.
                    unsafe {
                        let d = c.add(i * n + j);
                        *d = if accumulate.is_some() {
                            alpha * *d + s
                        } else {
                            s
                        };
                    }
                }
            }
        }
    };
    let threads = rayon::current_num_threads();
    let big = m * n * k >= GEMM_PARALLEL_MIN && threads > 1;
    if bs > 1 && big {
        (0..bs).into_par_iter().for_each(|z| one(z, 1));
    } else {
        for z in 0..bs {
            one(z, if big { threads } else { 1 });
        }
    }
}
