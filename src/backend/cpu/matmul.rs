//! Contractions: f32 goes to the `gemm` crate's micro-kernels (AVX-512 where
//! the host has it, AVX2+FMA otherwise), called as Cᵀ = Bᵀ·Aᵀ, its fast
//! orientation for a row-major C (about twice the other way); f64 (gradient checks
//! only) runs plain loops. [`sgemm`] is the one entry point, shared with
//! `benches/matmul.rs`, so the bench measures exactly what the backend runs.
//!
//! Threads split C into blocks, one single-threaded gemm each: on the
//! 2-core Zen 3 this runs on, that reached 150–170 GFLOP/s at n = 1024–2048
//! where gemm's own rayon threading reached 85–140 (`benches/README.md`).

use rayon::prelude::*;

use super::{gemv, small_gemm};
use crate::ir::DType;
use crate::kernel::MatOperand;

/// Contractions with fewer multiply-adds than this run on one thread: below
/// it, splitting costs more than it saves (measured with `dlc bench` on the
/// MLP's matmuls, whose smallest useful split is the 64×784×256 forward).
pub const GEMM_PARALLEL_MIN: usize = 1 << 21;

/// A one-row product with fewer multiply-adds than this runs on one thread:
/// 512 KB of f32 weights, one core's L2 on the Zen 3 host. A smaller B
/// stays in one L2 from call to call, and splitting it would gain less than
/// the microsecond the split costs (waking a spinning pool thread, waiting
/// for it); the MLP's 784×256 first layer (800 KB, streamed from L3) runs
/// in halves that each stay in their core's L2, 5 µs faster a call.
pub const GEMV_PARALLEL_MIN: usize = 1 << 17;

/// A row-major f32 matrix operand: base pointer and element strides.
#[derive(Clone, Copy, Debug)]
pub struct MatRef {
    pub ptr: *const f32,
    pub row_stride: isize,
    pub col_stride: isize,
}

/// `c = a·b`, or `c = alpha·c + a·b` with `accumulate: Some(alpha)`; `c` is
/// row-major m×n, `a` m×k, `b` k×n with any strides; `threads > 1` splits
/// the work over rayon's pool.
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
        // SAFETY: the caller's contract: C holds m·n elements, row-major.
        let c = unsafe { std::slice::from_raw_parts_mut(c, m * n) };
        match accumulate {
            Some(alpha) => c.iter_mut().for_each(|x| *x *= alpha),
            None => c.fill(0.0),
        }
        return;
    }
    if m == 1 && a.col_stride == 1 && b.col_stride == 1 && gemv::available() {
        // One row (batch-1 inference): a streaming row-times-matrix beats
        // gemm's packing; split by B's rows, each core keeps its part of
        // the weights in its own L2 from one call to the next.
        let b_rs = b.row_stride as usize;
        // SAFETY: the caller's contract, for one row of A and C.
        unsafe {
            if threads > 1 && k * n >= GEMV_PARALLEL_MIN {
                gemv::row_times_matrix_split(k, a.ptr, (b.ptr, b_rs), c, n, accumulate, threads);
            } else {
                gemv::row_times_matrix(k, a.ptr, (b.ptr, b_rs), c, (0, n), accumulate);
            }
        }
        return;
    }
    if threads <= 1 {
        // SAFETY: the caller's contract, C with row stride n.
        unsafe { gemm_one_thread((m, k, n), a, b, (c, n), accumulate) };
        return;
    }
    // Several threads: C split into one block per thread, each block one
    // single-threaded gemm, handed out by rayon's work stealing. One
    // fork-join per product (gemm's own threading forks and joins once per
    // cache block, and each join waits for the slowest thread). Splitting
    // C's rows repacks all of B in every block, splitting its columns all
    // of A: the split goes along the side whose repacking is cheaper, and
    // into no more blocks than threads (two a thread repacked twice as
    // much: the MLP's 784×256×256 weight gradient took 677 µs against
    // 619 µs, the step at batch 256 3 % longer).
    let parts = threads;
    let by_rows = n < m;
    let (len, align) = if by_rows { (m, 16) } else { (n, 16) };
    let blocks = len.div_ceil(align);
    let parts = parts.min(blocks).max(1);
    let (pa, pb, pc) = (a.ptr as usize, b.ptr as usize, c as usize);
    (0..parts).into_par_iter().for_each(|p| {
        let lo = (blocks * p / parts * align).min(len);
        let hi = (blocks * (p + 1) / parts * align).min(len);
        if lo == hi {
            return;
        }
        let (a, b) = (
            MatRef {
                ptr: pa as *const f32,
                ..a
            },
            MatRef {
                ptr: pb as *const f32,
                ..b
            },
        );
        let c = pc as *mut f32;
        // SAFETY: block lo..hi of C's rows (or columns), with the matching
        // rows of A (or columns of B); blocks never overlap.
        unsafe {
            if by_rows {
                let a = MatRef {
                    ptr: a.ptr.wrapping_offset(lo as isize * a.row_stride),
                    ..a
                };
                let c = c.wrapping_add(lo * n);
                gemm_one_thread((hi - lo, k, n), a, b, (c, n), accumulate);
            } else {
                let b = MatRef {
                    ptr: b.ptr.wrapping_offset(lo as isize * b.col_stride),
                    ..b
                };
                let c = c.wrapping_add(lo);
                gemm_one_thread((m, k, hi - lo), a, b, (c, n), accumulate);
            }
        }
    });
}

/// [`sgemm`] on the calling thread, C row-major with row stride `ldc`.
///
/// # Safety
/// As for [`sgemm`].
unsafe fn gemm_one_thread(
    (m, k, n): (usize, usize, usize),
    a: MatRef,
    b: MatRef,
    (c, ldc): (*mut f32, usize),
    accumulate: Option<f32>,
) {
    if small_gemm::handles((m, k, n), &a, &b) {
        // SAFETY: the caller's contract.
        unsafe { small_gemm::gemm((m, k, n), a, b, (c, ldc), accumulate) };
        return;
    }
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
            ldc as isize,
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
            gemm_common::Parallelism::None,
        )
    };
}

/// `out = a · b` (or `out = alpha·out + a · b`) for `bs` matrices laid end
/// to end, operands by buffer from `ptrs`; with `summed`, `out` is one m×n
/// matrix, the sum of the `bs` products.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_matmul(
    ptrs: &[*mut u8],
    out: usize,
    (bs, m, k, n): (usize, usize, usize, usize),
    (a, b): (&MatOperand, &MatOperand),
    dtype: DType,
    accumulate: Option<f32>,
    summed: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Element strides of A (m×k) and B (k×n) as stored.
    let (a_rs, a_cs) = a.strides(m, k);
    let (b_rs, b_cs) = b.strides(k, n);
    let (pa, pb, pc) = (
        ptrs[a.buf] as usize,
        ptrs[b.buf] as usize,
        ptrs[out] as usize,
    );
    let threads = rayon::current_num_threads();
    // Products whose batch merges into one dimension of a single product.
    let merged = if dtype != DType::F32 || bs < 2 {
        None
    } else if summed && !a.shared && !b.shared && a.transposed && !b.transposed {
        // A's [bs, k, m] is one (bs·k)×m matrix read transposed, B's
        // [bs, k, n] one (bs·k)×n matrix: batch and k merge.
        let a = MatRef {
            ptr: pa as *const f32,
            row_stride: 1,
            col_stride: m as isize,
        };
        let b = MatRef {
            ptr: pb as *const f32,
            row_stride: n as isize,
            col_stride: 1,
        };
        Some(((m, bs * k, n), a, b))
    } else if !summed && b.shared && !a.shared && !a.transposed {
        // One B for every batch index and A's rows contiguous: batch and m
        // merge, one (bs·m)×k times k×n product.
        let a = MatRef {
            ptr: pa as *const f32,
            row_stride: k as isize,
            col_stride: 1,
        };
        let b = MatRef {
            ptr: pb as *const f32,
            row_stride: b_rs as isize,
            col_stride: b_cs as isize,
        };
        Some(((bs * m, k, n), a, b))
    } else {
        None
    };
    if let Some((dims, a, b)) = merged {
        let t = if m * n * k * bs >= GEMM_PARALLEL_MIN {
            threads
        } else {
            1
        };
        // SAFETY: the buffers hold the elements of all bs products (one of
        // them for a shared operand, one C for a summed product).
        unsafe { sgemm(dims, a, b, pc as *mut f32, accumulate, t) };
        return;
    }
    let (za, zb) = (
        if a.shared { 0 } else { m * k },
        if b.shared { 0 } else { k * n },
    );
    // Product z into C's matrix `zc`, adding `alpha·C` with `Some(alpha)`.
    let one = |z: usize, zc: usize, accumulate: Option<f32>, threads: usize| match dtype {
        DType::F32 => {
            let a = MatRef {
                ptr: (pa as *const f32).wrapping_add(z * za),
                row_stride: a_rs as isize,
                col_stride: a_cs as isize,
            };
            let b = MatRef {
                ptr: (pb as *const f32).wrapping_add(z * zb),
                row_stride: b_rs as isize,
                col_stride: b_cs as isize,
            };
            let c = (pc as *mut f32).wrapping_add(zc * m * n);
            // SAFETY: the buffers hold bs·m·k, bs·k·n and bs·m·n elements
            // (the layout sized them from the same bindings), and the output
            // never shares storage with an operand.
            unsafe { sgemm((m, k, n), a, b, c, accumulate, threads) };
        }
        _ => {
            let (a, b, c) = (
                (pa as *const f64).wrapping_add(z * za),
                (pb as *const f64).wrapping_add(z * zb),
                (pc as *mut f64).wrapping_add(zc * m * n),
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
    let big = m * n * k >= GEMM_PARALLEL_MIN && threads > 1;
    // A one-row product big enough to split (`sgemm` splits B's rows).
    let row = m == 1 && !b.transposed && k * n >= GEMV_PARALLEL_MIN && dtype == DType::F32;
    let threads_of_one = if big || row { threads } else { 1 };
    if summed {
        // Into one C, each product after the first added to it.
        for z in 0..bs {
            let acc = if z == 0 { accumulate } else { Some(1.0) };
            one(z, 0, acc, threads_of_one);
        }
    } else if bs > 1 && big {
        (0..bs)
            .into_par_iter()
            .for_each(|z| one(z, z, accumulate, 1));
    } else {
        for z in 0..bs {
            one(z, z, accumulate, threads_of_one);
        }
    }
}

/// [`run_matmul`] for an f32 product whose B stays the same from one call
/// to the next (a scan body's invariant), when packing B once pays
/// (`small_gemm::packs`): packed into `cache` at the first call (or when B
/// moved), then read from there. With several threads and enough work,
/// C's columns are split, each part reading its own panels. Returns
/// whether it ran the product (else the caller runs [`run_matmul`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn run_with_packed_b(
    ptrs: &[*mut u8],
    out: usize,
    (bs, m, k, n): (usize, usize, usize, usize),
    (a, b): (&MatOperand, &MatOperand),
    summed: bool,
    cache: &mut Option<small_gemm::Packed>,
    accumulate: Option<f32>,
) -> bool {
    let (b_rs, b_cs) = b.strides(k, n);
    let b_ref = MatRef {
        ptr: ptrs[b.buf] as *const f32,
        row_stride: b_rs as isize,
        col_stride: b_cs as isize,
    };
    if bs != 1 || summed || !small_gemm::packs((m, k, n), &b_ref) {
        return false;
    }
    if !cache.as_ref().is_some_and(|p| p.is(k, n, &b_ref)) {
        // SAFETY: `packs` holds; B holds k·n elements.
        *cache = Some(unsafe { small_gemm::Packed::new(k, n, &b_ref) });
    }
    let b = cache.as_ref().expect("packed above");
    let (a_rs, a_cs) = a.strides(m, k);
    let (pa, pc) = (ptrs[a.buf] as usize, ptrs[out] as usize);
    let threads = rayon::current_num_threads();
    let w = b.panel();
    let parts = if m * k * n >= GEMM_PARALLEL_MIN {
        threads.min(n / w).max(1)
    } else {
        1
    };
    let part = |p: usize| {
        // Columns in whole panels.
        let (lo, hi) = (n / w * p / parts * w, (n / w * (p + 1) / parts * w));
        let hi = if p + 1 == parts { n } else { hi };
        let a = MatRef {
            ptr: pa as *const f32,
            row_stride: a_rs as isize,
            col_stride: a_cs as isize,
        };
        let c = (pc as *mut f32).wrapping_add(lo);
        // SAFETY: A holds m·k elements, C m·n (the layout sized both from
        // the same bindings); parts write disjoint columns.
        unsafe { b.gemm(m, a, (lo, hi), (c, n), accumulate) };
    };
    if parts > 1 {
        (0..parts).into_par_iter().for_each(part);
    } else {
        part(0);
    }
    true
}
