//! Matrix products too small for `gemm`'s full packing to pay, with AVX2+FMA.
//! The recurrent cells' per-step products (32×128 times 128×512, and its
//! two gradients) run 32 times a step against the same weights, and `gemm`
//! repacked the 256 KB weight matrix every time, reaching a third of the
//! FMA peak. Here A is read where it is; B is read in place when one row
//! block passes it, its column panels are copied one at a time into L1
//! when several do, and a B that stays the same from call to call (a scan
//! invariant) is packed once for all of them ([`Packed`]).
//!
//! Two layouts of B are handled, the two a row-major graph produces:
//! - B's rows contiguous (`h·W`, `Xᵀ·dY`): a 6×16 block of C in twelve
//!   registers, each step broadcasting one element of six A rows against
//!   sixteen columns of one B row ([`by_rows`]);
//! - B's columns contiguous (`dY·Wᵀ`, read from W): C's elements are dot
//!   products of A's rows and W's rows, a 3×4 block of them as twelve
//!   8-lane partial sums over k ([`by_dots`]).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::matmul::MatRef;

/// The most elements of B for which [`gemm`] is used: 128 K floats
/// (512 KB, this host's L2 per core); B then stays in L2 while every row
/// block of C streams past it.
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
    super::gemv::available() && (rows || dots)
}

/// The longest k for which [`by_rows`] takes any number of rows: a copied
/// panel of B (`k × 16` floats, 16 KB) then stays in L1.
const MAX_K: usize = 256;

/// The most elements of A for which [`by_rows`] takes any number of rows
/// with a short k: 64 K floats (256 KB), half this host's L2, where A
/// stays while it is read once per column panel.
const MAX_A: usize = 1 << 16;

/// The most elements of B that [`by_rows`] reads in place for any number
/// of rows: 8 K floats, 32 KB (this host's L1 per core).
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
    (m, k, n): (usize, usize, usize),
    a: MatRef,
    b: MatRef,
    (c, ldc): (*mut f32, usize),
    alpha: Option<f32>,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract.
    unsafe {
        if by_rows_fits(n, &b) {
            by_rows((m, k, n), a, b, (c, ldc), alpha)
        } else {
            by_dots((m, k, n), a, b, (c, ldc), alpha)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = ((m, k, n), a, b, (c, ldc), alpha);
        unreachable!("internal: small_gemm without AVX2");
    }
}

/// Stores `v`, a product, at `c`, plus `alpha` times what was there.
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

/// The width of B's column panel starting at column `j` of `n` (a
/// multiple of 8): 16, or 8 for the last when `n` is not a multiple of 16.
fn panel_width(n: usize, j: usize) -> usize {
    if n - j >= 16 {
        16
    } else {
        8
    }
}

/// Copies columns `j..j + width` of B's `k` rows into `to`, row after row.
///
/// # Safety
/// B holds those elements and `to` has room for `k · width` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn copy_panel(k: usize, b: &MatRef, j: usize, width: usize, to: *mut f32) {
    for p in 0..k {
        let from = b
            .ptr
            .wrapping_offset(p as isize * b.row_stride)
            .wrapping_add(j);
        // SAFETY: the caller's contract, row p.
        unsafe {
            for v in 0..width / 8 {
                let x = _mm256_loadu_ps(from.add(8 * v));
                _mm256_storeu_ps(to.add(p * width + 8 * v), x);
            }
        }
    }
}

/// C in blocks of up to 6 rows × 16 (or 8) columns, B's rows contiguous.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn by_rows(
    (m, k, n): (usize, usize, usize),
    a: MatRef,
    b: MatRef,
    (c, ldc): (*mut f32, usize),
    alpha: Option<f32>,
) {
    // Several row blocks read each column panel of B: copied once into
    // contiguous rows, it stays in L1. Read in place, rows a power-of-two
    // apart (2 KB for 512 columns) fall into two cache sets and evict each
    // other, and every row block fetched the panel from L2 again.
    let copied = m > 6;
    let mut panel = if copied {
        vec![0f32; k * 16]
    } else {
        Vec::new()
    };
    let mut j = 0;
    while j < n {
        let width = panel_width(n, j);
        // SAFETY: columns j..j+width of B (in range, see `handles`), into
        // a panel of k × 16 floats; then those columns of C.
        unsafe {
            let (pb, ldb) = if copied {
                copy_panel(k, &b, j, width, panel.as_mut_ptr());
                (panel.as_ptr(), width as isize)
            } else {
                (b.ptr.wrapping_add(j), b.row_stride)
            };
            panel_rows(
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
}

/// Whether products `(m, k, n)` against `b` run best on B packed once:
/// several row blocks, few rows, B in L2, whole 8-lane panels. A B read
/// transposed (`dY·Wᵀ`) packs too, into the same row panels, so that it
/// runs on [`by_rows`]'s blocks rather than on dot products.
pub fn packs((m, k, n): (usize, usize, usize), b: &MatRef) -> bool {
    super::gemv::available()
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
        let mut data = vec![0f32; k * n];
        let mut j = 0;
        while j < n {
            let width = panel_width(n, j);
            let panel = &mut data[k * j..k * (j + width)];
            if b.col_stride == 1 {
                // SAFETY: the caller's contract; panel j is `k × width`
                // floats at `k · j`.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    copy_panel(k, b, j, width, panel.as_mut_ptr())
                };
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
        }
    }

    /// `c = a·B` (or `c = alpha·c + a·B`) for columns `lo..hi` of B and C
    /// (`lo` a multiple of 16); `c` points at column `lo` of C's first row.
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
        let k = self.k;
        let mut j = lo;
        while j < hi {
            let width = panel_width(self.n, j);
            let pb = self.data.as_ptr().wrapping_add(k * j);
            // SAFETY: panel j of the packed B; columns j..j+width of C.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                panel_rows(
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

/// Every row block of C against one column panel of B (`width` 8 or 16
/// columns at `pb`, rows `ldb` apart); `c` at the panel's first column.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_rows(
    (m, k, width): (usize, usize, usize),
    a: &MatRef,
    (pb, ldb): (*const f32, isize),
    (c, ldc): (*mut f32, usize),
    alpha: Option<f32>,
) {
    let sa = (a.row_stride, a.col_stride);
    let mut i = 0;
    while i < m {
        let rows = block_rows(m, i, 6);
        let pa = a.ptr.wrapping_offset(i as isize * a.row_stride);
        let pc = c.wrapping_add(i * ldc);
        let o = (pa, sa, pb, ldb, pc, ldc);
        macro_rules! block {
            ($nv:literal) => {
                match rows {
                    6 => rows_block::<6, $nv>(k, o, alpha),
                    5 => rows_block::<5, $nv>(k, o, alpha),
                    4 => rows_block::<4, $nv>(k, o, alpha),
                    3 => rows_block::<3, $nv>(k, o, alpha),
                    2 => rows_block::<2, $nv>(k, o, alpha),
                    _ => rows_block::<1, $nv>(k, o, alpha),
                }
            };
        }
        // SAFETY: rows i.., `width` columns of C, in range (the caller's
        // contract).
        unsafe {
            if width == 16 {
                block!(2)
            } else {
                block!(1)
            }
        }
        i += rows;
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

/// `MR` rows × `8·NV` columns of C from B's rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_block<const MR: usize, const NV: usize>(
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

/// C in blocks of up to 3 rows × 4 columns, each element the dot product of
/// a row of A and a column of B (both contiguous).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn by_dots(
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
            macro_rules! block {
                ($mr:literal) => {
                    match cols {
                        4 => dots_block::<$mr, 4>(k, o, alpha),
                        3 => dots_block::<$mr, 3>(k, o, alpha),
                        2 => dots_block::<$mr, 2>(k, o, alpha),
                        _ => dots_block::<$mr, 1>(k, o, alpha),
                    }
                };
            }
            // SAFETY: rows i..i+rows, columns j..j+cols of C, in range.
            unsafe {
                match rows {
                    3 => block!(3),
                    2 => block!(2),
                    _ => block!(1),
                }
            }
            j += cols;
        }
        i += rows;
    }
}

/// `MR × NR` dot products: A's rows at `pa + r·lda`, B's columns at
/// `pw + j·ldw`, both contiguous over k (a multiple of 8); C's block at
/// `pc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots_block<const MR: usize, const NR: usize>(
    k: usize,
    (pa, lda, pw, ldw, pc, ldc): (*const f32, isize, *const f32, isize, *mut f32, usize),
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

#[cfg(test)]
mod tests {
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
        if !super::super::gemv::available() {
            return;
        }
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
                    unsafe { gemm((m, k, n), ar, br, (c.as_mut_ptr(), n), alpha) };
                    let what = format!("b_rows={b_rows} alpha={alpha:?}");
                    assert_product((m, k, n), (&a, &b, &c0), alpha, &c, &what);
                }
            }
        }
        assert_eq!(tried, 48, "every handled size and layout ran");
    }

    /// B packed once, products over column ranges of it (as threads split
    /// them), with and without accumulation, against plain f64 loops.
    #[test]
    fn packed_products_agree_with_plain_loops() {
        if !super::super::gemv::available() {
            return;
        }
        for &(m, k, n) in &[(7, 9, 40), (32, 128, 512), (13, 16, 24)] {
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
            let cut = n / 16 / 2 * 16;
            for (br, alpha) in [(br, None), (br, Some(0.5)), (btr, None), (btr, Some(0.5))] {
                assert!(packs((m, k, n), &br));
                // SAFETY: b holds k·n elements.
                let packed = unsafe { Packed::new(k, n, &br) };
                assert!(packed.is(k, n, &br));
                let mut c = c0.clone();
                for (lo, hi) in [(0, cut), (cut, n)] {
                    let to = c.as_mut_ptr().wrapping_add(lo);
                    // SAFETY: a holds m·k, c m·n elements.
                    unsafe { packed.gemm(m, ar, (lo, hi), (to, n), alpha) };
                }
                let what = format!("packed, alpha={alpha:?}");
                assert_product((m, k, n), (&a, &b, &c0), alpha, &c, &what);
            }
        }
    }
}
