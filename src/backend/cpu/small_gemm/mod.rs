//! Matrix products too small for `gemm`'s full packing to pay, with AVX2+FMA
//! or AVX-512 (`isa.rs` picks). The recurrent cells' per-step products
//! (32×128 times 128×512, and its two gradients) run 32 times a step
//! against the same weights, and `gemm` repacked the 256 KB weight matrix
//! every time, reaching a third of the FMA peak. Here A is read where it
//! is; B is read in place when one row block passes it, its column panels
//! are copied one at a time into L1 when several do, and a B that stays
//! the same from call to call (a scan invariant) is packed once for all of
//! them ([`Packed`]).
//!
//! Two layouts of B are handled, the two a row-major graph produces:
//! - B's rows contiguous (`h·W`, `Xᵀ·dY`): a block of C in registers, each
//!   step broadcasting one element of each of the block's A rows against
//!   one row of a column panel of B ([`by_rows`]): 6 rows × 16 columns
//!   (twelve 8-lane registers) with AVX2, 8 rows × 32 columns (sixteen
//!   16-lane registers of the 32) with AVX-512;
//! - B's columns contiguous (`dY·Wᵀ`, read from W): C's elements are dot
//!   products of A's rows and W's rows, a 3×4 block of them as twelve
//!   partial sums over k ([`by_dots`]).
//!
//! The loops over panels and row blocks are plain code; the blocks
//! themselves are in `avx2.rs` and `avx512.rs`, one per instruction set.

mod avx2;
mod avx512;
#[cfg(test)]
mod tests;

use super::isa::{best, Isa};
use super::matmul::MatRef;

/// The most elements of B for which [`gemm`] is used: 128 K floats
/// (512 KB, the L2 per core of the AVX2 hosts; the AVX-512 ones have
/// 2 MB); B then stays in L2 while every row block of C streams past it.
const MAX_B: usize = 1 << 17;

/// The most rows of C for which [`gemm`] is used. Packing B costs about
/// what `16` rows of product do, so below a few dozen rows skipping it
/// pays; at 64 rows and more `gemm` was faster (the MLP's 64×256×128 and
/// 784×256×256 products, 3% and 20%).
const MAX_M: usize = 48;

/// Whether [`gemm`] handles this product: the host has AVX2+FMA, C has few
/// rows, B is small, and one of B's strides is 1 (for dot products, A's
/// columns too) with whole 8-lane vectors along it (no scalar tails, which
/// made a 10-column product five times slower than `gemm`).
pub fn handles((m, k, n): (usize, usize, usize), a: &MatRef, b: &MatRef) -> bool {
    let small = m <= MAX_M && k * n <= MAX_B;
    // A B that fits in L1 beside the blocks of A and C is read in place
    // by any number of rows (an LSTM's input projection, k = 16). With a
    // short k, each copied panel of B stays in L1 and all of A in L2
    // while every row block passes (a dense layer's weight gradient,
    // `xᵀ·dY` over a batch of 64).
    let rows = by_rows_fits(n, b) && (small || k * n <= L1_B || (k <= MAX_K && m * k <= MAX_A));
    let dots = by_dots_fits(k, a, b) && small;
    best().is_some() && (rows || dots)
}

/// The longest k for which [`by_rows`] takes any number of rows: a copied
/// panel of B (`k × 16` floats, 16 KB; `k × 32`, 32 KB, with AVX-512,
/// whose hosts have 48 KB of L1) then stays in L1.
const MAX_K: usize = 256;

/// The most elements of A for which [`by_rows`] takes any number of rows
/// with a short k: 64 K floats (256 KB), half the AVX2 hosts' L2, where A
/// stays while it is read once per column panel.
const MAX_A: usize = 1 << 16;

/// The most elements of B that [`by_rows`] reads in place for any number
/// of rows: 8 K floats, 32 KB (the AVX2 hosts' L1 per core).
const L1_B: usize = 1 << 13;

/// B's rows contiguous, in whole 8-lane vectors.
fn by_rows_fits(n: usize, b: &MatRef) -> bool {
    b.col_stride == 1 && n.is_multiple_of(8)
}

/// B's columns and A's rows contiguous, in whole 8-lane vectors.
fn by_dots_fits(k: usize, a: &MatRef, b: &MatRef) -> bool {
    b.row_stride == 1 && a.col_stride == 1 && k.is_multiple_of(8)
}

/// `c = a·b`, or `c = alpha·c + a·b`; `c` row-major m×n with row stride
/// `ldc`; k ≥ 1.
///
/// # Safety
/// [`handles`] is true for these operands, and the pointers address every
/// element the strides reach for these sizes.
pub unsafe fn gemm(
    dims: (usize, usize, usize),
    a: MatRef,
    b: MatRef,
    c: (*mut f32, usize),
    alpha: Option<f32>,
) {
    let isa = best().expect("internal: small_gemm without AVX2");
    // SAFETY: the caller's contract; `handles` checked `best()`.
    unsafe { gemm_with(isa, dims, a, b, c, alpha) }
}

/// [`gemm`] with the instruction set given.
///
/// # Safety
/// As for [`gemm`], and the host supports `isa`.
unsafe fn gemm_with(
    isa: Isa,
    (m, k, n): (usize, usize, usize),
    a: MatRef,
    b: MatRef,
    (c, ldc): (*mut f32, usize),
    alpha: Option<f32>,
) {
    // SAFETY: the caller's contract.
    unsafe {
        if by_rows_fits(n, &b) {
            by_rows(isa, (m, k, n), a, b, (c, ldc), alpha)
        } else {
            by_dots(isa, (m, k, n), a, b, (c, ldc), alpha)
        }
    }
}

/// Stores `v`, a product, at `c`, plus `alpha` times what was there.
///
/// # Safety
/// `c` is valid for a read and a write.
#[inline(always)]
unsafe fn put(c: *mut f32, v: f32, alpha: Option<f32>) {
    // SAFETY: the caller's contract.
    unsafe { *c = alpha.map_or(v, |al| al * *c + v) };
}

/// The rows of the block of C starting at row `i` of `m`, for blocks of at
/// most `most` rows of even sizes: 32 rows as 6, 6, 5, 5, 5, 5 rather than
/// five of 6 and one of 2, whose few accumulators would wait on the FMA
/// latency.
fn block_rows(m: usize, i: usize, most: usize) -> usize {
    let blocks = m.div_ceil(most);
    // Block b covers rows m·b/blocks .. m·(b+1)/blocks.
    let b = (i * blocks + blocks - 1) / m;
    m * (b + 1) / blocks - i
}

/// Columns in one panel of B and rows in one block of C for `isa`.
fn panel_shape(isa: Isa) -> (usize, usize) {
    match isa {
        Isa::Avx2 => (16, 6),
        Isa::Avx512 => (32, 8),
    }
}

/// The width of B's column panel starting at column `j` of `n` (a
/// multiple of 8): `most`, or what is left for the last panel.
fn panel_width(n: usize, j: usize, most: usize) -> usize {
    (n - j).min(most)
}

/// Copies columns `j..j + width` of B's `k` rows into `to`, row after row.
///
/// # Safety
/// B holds those elements and `to` has room for `k · width` floats.
unsafe fn copy_panel(k: usize, b: &MatRef, j: usize, width: usize, to: *mut f32) {
    for p in 0..k {
        let from = b
            .ptr
            .wrapping_offset(p as isize * b.row_stride)
            .wrapping_add(j);
        // SAFETY: the caller's contract, row p (a panel row is contiguous).
        unsafe { std::ptr::copy_nonoverlapping(from, to.add(p * width), width) };
    }
}

/// C in blocks of rows × one panel of columns, B's rows contiguous.
///
/// # Safety
/// As for [`gemm_with`], with B's rows contiguous and `n` a multiple of 8.
unsafe fn by_rows(
    isa: Isa,
    (m, k, n): (usize, usize, usize),
    a: MatRef,
    b: MatRef,
    (c, ldc): (*mut f32, usize),
    alpha: Option<f32>,
) {
    let (most, block) = panel_shape(isa);
    // Several row blocks read each column panel of B: copied once into
    // contiguous rows, it stays in L1. Read in place, rows a power-of-two
    // apart (2 KB for 512 columns) fall into two cache sets and evict each
    // other, and every row block fetched the panel from L2 again.
    let copied = m > block;
    let mut panel = if copied {
        vec![0f32; k * most]
    } else {
        Vec::new()
    };
    let mut j = 0;
    while j < n {
        let width = panel_width(n, j, most);
        // SAFETY: columns j..j+width of B (in range, see `handles`), into
        // a panel of k × `most` floats; then those columns of C.
        unsafe {
            let (pb, ldb) = if copied {
                copy_panel(k, &b, j, width, panel.as_mut_ptr());
                (panel.as_ptr(), width as isize)
            } else {
                (b.ptr.wrapping_add(j), b.row_stride)
            };
            panel_rows(
                isa,
                (m, k, width),
                &a,
                (pb, ldb),
                (c.wrapping_add(j), ldc),
                alpha,
            );
        }
        j += width;
    }
}

/// B laid out as [`by_rows`] copies it, every panel once: for many products
/// against one B (a recurrent cell's weights, the same at every step), so
/// that none of them copies it again.
pub struct Packed {
    data: Vec<f32>,
    /// Where it was packed from, and its sizes.
    from: usize,
    k: usize,
    n: usize,
    /// The instruction set whose panel width it was packed for.
    isa: Isa,
}

/// Whether products `(m, k, n)` against `b` run best on B packed once:
/// several row blocks, few rows, B in L2, whole 8-lane panels. A B read
/// transposed (`dY·Wᵀ`) packs too, into the same row panels, so that it
/// runs on [`by_rows`]'s blocks rather than on dot products.
pub fn packs((m, k, n): (usize, usize, usize), b: &MatRef) -> bool {
    best().is_some()
        && (7..=MAX_M).contains(&m)
        && k * n <= MAX_B
        && n.is_multiple_of(8)
        && (b.col_stride == 1 || b.row_stride == 1)
}

impl Packed {
    /// Whether this is `b`, `k × n`, packed (whether `b`'s elements changed
    /// since is the caller's to know).
    pub fn is(&self, k: usize, n: usize, b: &MatRef) -> bool {
        (self.from, self.k, self.n) == (b.ptr as usize, k, n)
    }

    /// `b`, k × n, in column panels, each `k × width` contiguous.
    ///
    /// # Safety
    /// [`packs`] holds for `b`, which holds `k × n` elements.
    pub unsafe fn new(k: usize, n: usize, b: &MatRef) -> Packed {
        let isa = best().expect("internal: packed without AVX2");
        // SAFETY: the caller's contract.
        unsafe { Packed::new_with(isa, k, n, b) }
    }

    /// [`Packed::new`] for the panels of `isa`.
    ///
    /// # Safety
    /// As for [`Packed::new`], and the host supports `isa`.
    unsafe fn new_with(isa: Isa, k: usize, n: usize, b: &MatRef) -> Packed {
        let (most, _) = panel_shape(isa);
        let mut data = vec![0f32; k * n];
        let mut j = 0;
        while j < n {
            let width = panel_width(n, j, most);
            let panel = &mut data[k * j..k * (j + width)];
            if b.col_stride == 1 {
                // SAFETY: the caller's contract; panel j is `k × width`
                // floats at `k · j`.
                unsafe { copy_panel(k, b, j, width, panel.as_mut_ptr()) };
            } else {
                // B read transposed: its columns are contiguous rows of W.
                for (q, col) in (j..j + width).enumerate() {
                    let from = b.ptr.wrapping_offset(col as isize * b.col_stride);
                    for p in 0..k {
                        // SAFETY: element (p, col) of B, in range.
                        panel[p * width + q] = unsafe { *from.offset(p as isize * b.row_stride) };
                    }
                }
            }
            j += width;
        }
        Packed {
            data,
            from: b.ptr as usize,
            k,
            n,
            isa,
        }
    }

    /// Where column panels start: a split of columns over threads cuts at
    /// a multiple of this.
    pub fn panel(&self) -> usize {
        panel_shape(self.isa).0
    }

    /// `c = a·B` (or `c = alpha·c + a·B`) for columns `lo..hi` of B and C
    /// (`lo` a multiple of [`Packed::panel`]); `c` points at column `lo`
    /// of C's first row.
    ///
    /// # Safety
    /// [`packs`] held for this product, `a` holds `m × k` elements, and `c`
    /// has room for `m` rows of `ldc`.
    pub unsafe fn gemm(
        &self,
        m: usize,
        a: MatRef,
        (lo, hi): (usize, usize),
        (c, ldc): (*mut f32, usize),
        alpha: Option<f32>,
    ) {
        let (k, (most, _)) = (self.k, panel_shape(self.isa));
        let mut j = lo;
        while j < hi {
            let width = panel_width(self.n, j, most);
            let pb = self.data.as_ptr().wrapping_add(k * j);
            // SAFETY: panel j of the packed B; columns j..j+width of C;
            // the host ran `new_with` for this instruction set.
            unsafe {
                panel_rows(
                    self.isa,
                    (m, k, width),
                    &a,
                    (pb, width as isize),
                    (c.wrapping_add(j - lo), ldc),
                    alpha,
                )
            };
            j += width;
        }
    }
}

/// A, its (row, column) strides, B, its row stride, C, its row stride.
type Operands = (
    *const f32,
    (isize, isize),
    *const f32,
    isize,
    *mut f32,
    usize,
);

/// Every row block of C against one column panel of B (`width` columns, a
/// multiple of 8 up to the panel width of `isa`, at `pb`, rows `ldb`
/// apart); `c` at the panel's first column.
///
/// # Safety
/// The host supports `isa`; A holds `m` rows of `k`, the panel `k` rows of
/// `width`, and C `m` rows of `width` at these strides.
unsafe fn panel_rows(
    isa: Isa,
    (m, k, width): (usize, usize, usize),
    a: &MatRef,
    (pb, ldb): (*const f32, isize),
    (c, ldc): (*mut f32, usize),
    alpha: Option<f32>,
) {
    let sa = (a.row_stride, a.col_stride);
    let (_, most) = panel_shape(isa);
    let mut i = 0;
    while i < m {
        let rows = block_rows(m, i, most);
        let pa = a.ptr.wrapping_offset(i as isize * a.row_stride);
        let pc = c.wrapping_add(i * ldc);
        let o = (pa, sa, pb, ldb, pc, ldc);
        // SAFETY: rows i..i+rows, `width` columns of C, in range (the
        // caller's contract), on an instruction set the host supports.
        unsafe {
            match isa {
                Isa::Avx2 => avx2::rows_block(rows, width, k, o, alpha),
                Isa::Avx512 => avx512::rows_block(rows, width, k, o, alpha),
            }
        }
        i += rows;
    }
}

/// C in blocks of up to 3 rows × 4 columns, each element the dot product of
/// a row of A and a column of B (both contiguous).
///
/// # Safety
/// As for [`gemm_with`], with A's rows and B's columns contiguous and `k` a
/// multiple of 8.
unsafe fn by_dots(
    isa: Isa,
    (m, k, n): (usize, usize, usize),
    a: MatRef,
    b: MatRef,
    (c, ldc): (*mut f32, usize),
    alpha: Option<f32>,
) {
    let (lda, ldw) = (a.row_stride, b.col_stride);
    let mut i = 0;
    while i < m {
        let rows = block_rows(m, i, 3);
        let mut j = 0;
        while j < n {
            let cols = (n - j).min(4);
            let o = (
                a.ptr.wrapping_offset(i as isize * lda),
                lda,
                b.ptr.wrapping_offset(j as isize * ldw),
                ldw,
                c.wrapping_add(i * ldc + j),
                ldc,
            );
            // SAFETY: rows i..i+rows, columns j..j+cols of C, in range, on
            // an instruction set the host supports.
            unsafe {
                match isa {
                    Isa::Avx2 => avx2::dots_block(rows, cols, k, o, alpha),
                    Isa::Avx512 => avx512::dots_block(rows, cols, k, o, alpha),
                }
            }
            j += cols;
        }
        i += rows;
    }
}

/// A's rows, their stride, B's columns, their stride, C, its row stride:
/// the operands of a block of dot products.
type DotOperands = (*const f32, isize, *const f32, isize, *mut f32, usize);
