//! Convolution in f32 on the cpu backend: im2col into the backend's
//! `sgemm`. For each sample, the column matrix has one row per (input
//! channel in the group, kernel tap) — the kernel's own row-major order, so
//! `w` is used as the `[O, Cg·taps]` left operand without a copy — and one
//! column per output position; the product per group lands in the
//! sample's `[O, Y...]` block of the output directly.
//!
//! Padding, input (lhs) dilation, kernel dilation and stride are all read
//! through the same index map: output position `y` and tap `t` read the
//! padded, dilated input at `q = y·stride + t·dilation − pad_low`, which is
//! input element `q / lhs_dilation` when that divides and lies inside, a
//! zero otherwise. Runs along the last spatial axis are copied as strided
//! runs between the first and last in-range positions.
//!
//! Samples run in parallel (one column buffer per worker, reused across
//! calls); with fewer samples than threads — the kernel gradient, whose
//! "batch" is the input channels — the products are split instead.

use std::cell::RefCell;

use rayon::prelude::*;

use super::library::Buf;
use super::matmul::{sgemm, MatRef};
use crate::ir::ConvAttrs;

thread_local! {
    /// Each worker's column matrix, grown as needed and kept between calls.
    static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The sizes one convolution call is made of.
struct Plan<'a> {
    c: &'a ConvAttrs,
    /// Input channels and spatial extents of one sample.
    ch: usize,
    s: &'a [usize],
    /// Output channels, channels per group, kernel extents.
    o: usize,
    cg: usize,
    k: &'a [usize],
    /// Output extents.
    y: &'a [usize],
    taps: usize,
    positions: usize,
}

impl Plan<'_> {
    /// A 1×1 kernel over an undilated, unpadded, unit-stride input: the
    /// sample itself is the column matrix.
    fn identity_columns(&self) -> bool {
        self.taps == 1
            && self.c.stride.iter().all(|&s| s == 1)
            && self.c.lhs_dilation.iter().all(|&d| d == 1)
            && self
                .c
                .pad_low
                .iter()
                .chain(&self.c.pad_high)
                .all(|&p| p == 0)
            && self.s == self.y
    }
}

/// `out = conv(x, w)` with attributes `c`; `x: [N, C, S...]`,
/// `w: [O, C/groups, K...]`, `out: [N, O, Y...]`.
///
/// # Safety
/// The buffers are live f32 buffers of their shapes; `out` overlaps neither
/// operand.
pub(super) unsafe fn conv_f32(x: Buf, w: Buf, c: &ConvAttrs, out: Buf, threads: usize) {
    let n = x.shape[0];
    let p = Plan {
        c,
        ch: x.shape[1],
        s: &x.shape[2..],
        o: w.shape[0],
        cg: w.shape[1],
        k: &w.shape[2..],
        y: &out.shape[2..],
        taps: w.shape[2..].iter().product(),
        positions: out.shape[2..].iter().product(),
    };
    let in_sample = p.ch * p.s.iter().product::<usize>();
    let out_sample = p.o * p.positions;
    if n == 0 || out_sample == 0 {
        return;
    }
    let (xp, wp, op) = (x.ptr as usize, w.ptr as usize, out.ptr as usize);
    let one = |b: usize, gemm_threads: usize| {
        // SAFETY: sample b of each buffer; samples never overlap in `out`.
        unsafe {
            sample(
                &p,
                (xp as *const f32).add(b * in_sample),
                wp as *const f32,
                (op as *mut f32).add(b * out_sample),
                gemm_threads,
            )
        }
    };
    if threads > 1 && n >= threads {
        (0..n).into_par_iter().for_each(|b| one(b, 1));
    } else {
        (0..n).for_each(|b| one(b, threads));
    }
}

/// One sample: `out[O, P] = w[O, Cg·taps] · col[Cg·taps, P]` per group.
unsafe fn sample(p: &Plan, x: *const f32, w: *const f32, out: *mut f32, threads: usize) {
    let groups = p.c.groups;
    let og = p.o / groups;
    let rows = p.cg * p.taps;
    let gemm = |col: *const f32, g: usize| {
        // SAFETY: group g's rows of w and out; `col` holds rows × positions.
        unsafe {
            sgemm(
                (og, rows, p.positions),
                MatRef {
                    ptr: w.add(g * og * rows),
                    row_stride: rows as isize,
                    col_stride: 1,
                },
                MatRef {
                    ptr: col,
                    row_stride: p.positions as isize,
                    col_stride: 1,
                },
                out.add(g * og * p.positions),
                None,
                threads,
            )
        }
    };
    let plane: usize = p.s.iter().product();
    if p.identity_columns() {
        for g in 0..groups {
            // SAFETY: the group's channels of the sample.
            gemm(unsafe { x.add(g * p.cg * plane) }, g);
        }
        return;
    }
    COLUMNS.with(|cell| {
        let mut col = cell.borrow_mut();
        let need = rows * p.positions;
        if col.len() < need {
            col.resize(need, 0.0);
        }
        for g in 0..groups {
            // SAFETY: the group's channels of the sample.
            let xg = unsafe { std::slice::from_raw_parts(x.add(g * p.cg * plane), p.cg * plane) };
            im2col(p, xg, &mut col[..need]);
            gemm(col.as_ptr(), g);
        }
    });
}

/// Fills `col` (rows: channel, tap; columns: output positions) from the
/// `cg` channels `x` of one sample and group.
fn im2col(p: &Plan, x: &[f32], col: &mut [f32]) {
    let c = p.c;
    let sp = p.s.len();
    let last = sp - 1;
    let plane: usize = p.s.iter().product();
    let mut st = vec![1usize; sp];
    for i in (0..last).rev() {
        st[i] = st[i + 1] * p.s[i + 1];
    }
    let run = p.y[last];
    let runs: usize = p.y[..last].iter().product();
    let (step, ld, dil, lo) = (
        c.stride[last] as isize,
        c.lhs_dilation[last] as isize,
        c.dilation[last] as isize,
        c.pad_low[last] as isize,
    );
    let s_last = p.s[last] as isize;
    let mut tap = vec![0usize; sp];
    // Per run (leading output index), its input offset or None if outside.
    let mut starts: Vec<Option<usize>> = vec![None; runs];
    for t in 0..p.taps {
        let mut rest = t;
        for i in (0..sp).rev() {
            tap[i] = rest % p.k[i];
            rest /= p.k[i];
        }
        for (r, start) in starts.iter_mut().enumerate() {
            let mut rest = r;
            let mut off = Some(0usize);
            for i in (0..last).rev() {
                let yi = rest % p.y[i];
                rest /= p.y[i];
                let q =
                    (yi * c.stride[i] + tap[i] * c.dilation[i]) as isize - c.pad_low[i] as isize;
                let l = c.lhs_dilation[i] as isize;
                if q < 0 || q % l != 0 || q / l >= p.s[i] as isize {
                    off = None;
                } else if let Some(o) = off.as_mut() {
                    *o += (q / l) as usize * st[i];
                }
            }
            *start = off;
        }
        // Along the last axis: q(y) = y·step + base.
        let base = tap[last] as isize * dil - lo;
        for ci in 0..p.cg {
            let row = &mut col[(ci * p.taps + t) * p.positions..][..p.positions];
            let xc = &x[ci * plane..(ci + 1) * plane];
            for (dst, start) in row.chunks_exact_mut(run).zip(&starts) {
                let Some(start) = *start else {
                    dst.fill(0.0);
                    continue;
                };
                let src = &xc[start..];
                if ld == 1 {
                    // In range: 0 <= y·step + base < s_last.
                    let y0 = if base >= 0 {
                        0
                    } else {
                        (-base + step - 1) / step
                    };
                    let y1 = if base >= s_last {
                        0
                    } else {
                        ((s_last - base + step - 1) / step).min(run as isize)
                    };
                    let (y0, y1) = (y0.min(run as isize) as usize, y1.max(0) as usize);
                    let y1 = y1.max(y0);
                    dst[..y0].fill(0.0);
                    dst[y1..].fill(0.0);
                    if y1 > y0 {
                        let from = (y0 as isize * step + base) as usize;
                        if step == 1 {
                            dst[y0..y1].copy_from_slice(&src[from..from + (y1 - y0)]);
                        } else {
                            for (d, s) in dst[y0..y1]
                                .iter_mut()
                                .zip(src[from..].iter().step_by(step as usize))
                            {
                                *d = *s;
                            }
                        }
                    }
                } else {
                    for (yi, d) in dst.iter_mut().enumerate() {
                        let q = yi as isize * step + base;
                        *d = if q >= 0 && q % ld == 0 && q / ld < s_last {
                            src[(q / ld) as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}
