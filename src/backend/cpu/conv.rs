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
//!
//! Kernel gradients of 2-d unit-stride convolutions (a kernel wider than
//! the output, at most eight output columns) skip im2col altogether: see
//! `conv_kgrad.rs`.

#![deny(clippy::undocumented_unsafe_blocks)]

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

    /// Whether the scatter form (`conv_by_scatter`) does less work: one
    /// group, unit stride, no input dilation, and an output with more
    /// positions than the input (a "full" convolution, such as the input
    /// gradient of a convolution, whose unfolded input is mostly padding).
    fn scatter_pays(&self) -> bool {
        let plane: usize = self.s.iter().product();
        self.c.groups == 1
            && self.c.stride.iter().all(|&s| s == 1)
            && self.c.lhs_dilation.iter().all(|&d| d == 1)
            && self.positions > plane
    }
}

/// The scatter form of a unit-stride convolution: per sample, every input
/// position times every kernel tap, `col[(o, t), p] = Σ_c w[o, c, t] ·
/// x[c, p]` (one gemm with the kernel permuted to `[O, taps, C]`), then
/// each `col` row added into the output shifted by its tap (col2im):
/// output `y = p + pad_low − t·dilation` where that is inside. Its work
/// scales with the input's positions rather than the output's.
///
/// # Safety
/// As [`conv_f32`], for a plan `p` made from these buffers' shapes.
unsafe fn conv_by_scatter(p: &Plan, x: Buf, w: Buf, out: Buf, threads: usize) {
    let n = x.shape[0];
    let (o, ch, taps) = (p.o, p.ch, p.taps);
    let plane: usize = p.s.iter().product();
    // SAFETY: the caller's contract.
    let wd = unsafe { w.f32s() };
    let mut wt = vec![0f32; o * taps * ch];
    for oc in 0..o {
        for ci in 0..ch {
            for t in 0..taps {
                wt[(oc * taps + t) * ch + ci] = wd[(oc * ch + ci) * taps + t];
            }
        }
    }
    let (xp, op) = (x.ptr as usize, out.ptr as usize);
    let wt = &wt;
    let one = |b: usize, gemm_threads: usize| {
        COLUMNS.with(|cell| {
            let mut col = cell.borrow_mut();
            let need = o * taps * plane;
            if col.len() < need {
                col.resize(need, 0.0);
            }
            // SAFETY: sample b of x and out; samples never overlap in out.
            unsafe {
                sgemm(
                    (o * taps, ch, plane),
                    MatRef {
                        ptr: wt.as_ptr(),
                        row_stride: ch as isize,
                        col_stride: 1,
                    },
                    MatRef {
                        ptr: (xp as *const f32).add(b * ch * plane),
                        row_stride: plane as isize,
                        col_stride: 1,
                    },
                    col.as_mut_ptr(),
                    None,
                    gemm_threads,
                );
                let dst = std::slice::from_raw_parts_mut(
                    (op as *mut f32).add(b * o * p.positions),
                    o * p.positions,
                );
                col2im(p, &col[..need], dst);
            }
        });
    };
    if threads > 1 && n >= threads {
        (0..n).into_par_iter().for_each(|b| one(b, 1));
    } else {
        (0..n).for_each(|b| one(b, threads));
    }
}

/// `out[o, y] = Σ_t col[(o, t), p]` over the taps `t` and input positions
/// `p` with `y = p + pad_low − t·dilation` inside the output.
fn col2im(p: &Plan, col: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    let c = p.c;
    let sp = p.s.len();
    let last = sp - 1;
    let plane: usize = p.s.iter().product();
    let mut yst = vec![1usize; sp];
    for i in (0..last).rev() {
        yst[i] = yst[i + 1] * p.y[i + 1];
    }
    let run = p.s[last];
    let runs: usize = p.s[..last].iter().product();
    let y_last = p.y[last] as isize;
    let mut tap = vec![0usize; sp];
    let mut starts: Vec<Option<usize>> = vec![None; runs];
    for t in 0..p.taps {
        let mut rest = t;
        for i in (0..sp).rev() {
            tap[i] = rest % p.k[i];
            rest /= p.k[i];
        }
        // Each input run's output offset along the leading axes, if inside.
        for (r, start) in starts.iter_mut().enumerate() {
            let mut rest = r;
            let mut off = Some(0usize);
            for i in (0..last).rev() {
                let pi = rest % p.s[i];
                rest /= p.s[i];
                let y = (pi + c.pad_low[i]) as isize - (tap[i] * c.dilation[i]) as isize;
                if y < 0 || y >= p.y[i] as isize {
                    off = None;
                } else if let Some(o) = off.as_mut() {
                    *o += y as usize * yst[i];
                }
            }
            *start = off;
        }
        // Along the last axis: y = p + shift, inside for p in p0..p1.
        let shift = c.pad_low[last] as isize - (tap[last] * c.dilation[last]) as isize;
        let p0 = (-shift).clamp(0, run as isize) as usize;
        let p1 = (y_last - shift).clamp(p0 as isize, run as isize) as usize;
        if p1 <= p0 {
            continue;
        }
        for oc in 0..p.o {
            let row = &col[(oc * p.taps + t) * plane..][..plane];
            let dst = &mut out[oc * p.positions..(oc + 1) * p.positions];
            for (src, start) in row.chunks_exact(run).zip(&starts) {
                let Some(start) = *start else { continue };
                let at = (start as isize + p0 as isize + shift) as usize;
                for (d, s) in dst[at..at + (p1 - p0)].iter_mut().zip(&src[p0..p1]) {
                    *d += *s;
                }
            }
        }
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
    #[cfg(target_arch = "x86_64")]
    if super::conv_kgrad::applies(x.shape, w.shape, c, out.shape) {
        // SAFETY: the caller's contract; it applies.
        unsafe { super::conv_kgrad::conv_kgrad_f32(x, w, c, out, threads) };
        return;
    }
    if p.scatter_pays() {
        // SAFETY: the caller's contract.
        unsafe { conv_by_scatter(&p, x, w, out, threads) };
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
///
/// # Safety
/// `x` points at one sample's `C·S...` f32s, `w` at the whole kernel and
/// `out` at the sample's `O·positions` f32s, as plan `p` sizes them; `out`
/// overlaps neither and nothing else touches it meanwhile.
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
        // Runs along the longer of the last output and kernel axes: a
        // kernel gradient (kernel as big as the image, a few outputs) is
        // unfolded transposed, one row per output position.
        let transposed = p.k[p.k.len() - 1] > p.y[p.y.len() - 1];
        for g in 0..groups {
            // SAFETY: the group's channels of the sample.
            let xg = unsafe { std::slice::from_raw_parts(x.add(g * p.cg * plane), p.cg * plane) };
            if transposed {
                im2col_transposed(p, xg, &mut col[..need]);
                // SAFETY: as `gemm`, with the columns read transposed.
                unsafe {
                    sgemm(
                        (og, rows, p.positions),
                        MatRef {
                            ptr: w.add(g * og * rows),
                            row_stride: rows as isize,
                            col_stride: 1,
                        },
                        MatRef {
                            ptr: col.as_ptr(),
                            row_stride: 1,
                            col_stride: rows as isize,
                        },
                        out.add(g * og * p.positions),
                        None,
                        threads,
                    )
                }
            } else {
                im2col(p, xg, &mut col[..need]);
                gemm(col.as_ptr(), g);
            }
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
        let map = RunMap::new(run, step, tap[last] as isize * dil - lo, ld, s_last);
        for ci in 0..p.cg {
            let row = &mut col[(ci * p.taps + t) * p.positions..][..p.positions];
            let xc = &x[ci * plane..(ci + 1) * plane];
            for (dst, start) in row.chunks_exact_mut(run).zip(&starts) {
                let Some(start) = *start else {
                    dst.fill(0.0);
                    continue;
                };
                map.fill(dst, &xc[start..]);
            }
        }
    }
}

/// Where a run of the column matrix reads along the input's last axis:
/// `dst[j]` = the padded, dilated input at `q = j·step + base`, which is
/// `src[q / ld]` when `q` is a multiple of `ld` inside the `s_last`
/// elements, zero otherwise. Worked out once per tap (or output position),
/// then applied to every channel and run, so the divisions stay out of the
/// copying loops.
struct RunMap {
    step: isize,
    base: isize,
    ld: isize,
    s_last: isize,
    /// With `ld == 1`: the in-range `j`s, and where the first one reads.
    j0: usize,
    j1: usize,
    from: usize,
}

impl RunMap {
    fn new(run: usize, step: isize, base: isize, ld: isize, s_last: isize) -> RunMap {
        // In range: 0 <= j·step + base < s_last.
        let j0 = if base >= 0 {
            0
        } else {
            (-base + step - 1) / step
        };
        let j1 = if base >= s_last {
            0
        } else {
            (s_last - base + step - 1) / step
        };
        let j0 = (j0.max(0) as usize).min(run);
        let j1 = (j1.max(0) as usize).min(run).max(j0);
        let from = if j1 > j0 {
            (j0 as isize * step + base) as usize
        } else {
            0
        };
        RunMap {
            step,
            base,
            ld,
            s_last,
            j0,
            j1,
            from,
        }
    }

    fn fill(&self, dst: &mut [f32], src: &[f32]) {
        if self.ld != 1 {
            for (j, d) in dst.iter_mut().enumerate() {
                let q = j as isize * self.step + self.base;
                *d = if q >= 0 && q % self.ld == 0 && q / self.ld < self.s_last {
                    src[(q / self.ld) as usize]
                } else {
                    0.0
                };
            }
            return;
        }
        let (j0, j1) = (self.j0, self.j1);
        dst[..j0].fill(0.0);
        dst[j1..].fill(0.0);
        if self.step == 1 {
            for (d, s) in dst[j0..j1].iter_mut().zip(&src[self.from..]) {
                *d = *s;
            }
        } else {
            let src = &src[self.from..];
            for (k, d) in dst[j0..j1].iter_mut().enumerate() {
                *d = src[k * self.step as usize];
            }
        }
    }
}

/// Fills `col` transposed (rows: output positions; columns: channel, tap)
/// from the `cg` channels `x` of one sample and group: runs go along the
/// last kernel axis, for kernels wider than the output.
fn im2col_transposed(p: &Plan, x: &[f32], col: &mut [f32]) {
    let c = p.c;
    let sp = p.s.len();
    let last = sp - 1;
    let plane: usize = p.s.iter().product();
    let mut st = vec![1usize; sp];
    for i in (0..last).rev() {
        st[i] = st[i + 1] * p.s[i + 1];
    }
    let rows = p.cg * p.taps;
    let k_last = p.k[last];
    let kruns: usize = p.k[..last].iter().product();
    let (dil, ld, lo) = (
        c.dilation[last] as isize,
        c.lhs_dilation[last] as isize,
        c.pad_low[last] as isize,
    );
    let s_last = p.s[last] as isize;
    let mut y = vec![0usize; sp];
    let mut starts: Vec<Option<usize>> = vec![None; kruns];
    for pos in 0..p.positions {
        let mut rest = pos;
        for i in (0..sp).rev() {
            y[i] = rest % p.y[i];
            rest /= p.y[i];
        }
        for (r, start) in starts.iter_mut().enumerate() {
            let mut rest = r;
            let mut off = Some(0usize);
            for i in (0..last).rev() {
                let ki = rest % p.k[i];
                rest /= p.k[i];
                let q = (y[i] * c.stride[i] + ki * c.dilation[i]) as isize - c.pad_low[i] as isize;
                let l = c.lhs_dilation[i] as isize;
                if q < 0 || q % l != 0 || q / l >= p.s[i] as isize {
                    off = None;
                } else if let Some(o) = off.as_mut() {
                    *o += (q / l) as usize * st[i];
                }
            }
            *start = off;
        }
        let base = (y[last] * c.stride[last]) as isize - lo;
        let map = RunMap::new(k_last, dil, base, ld, s_last);
        let row = &mut col[pos * rows..(pos + 1) * rows];
        for ci in 0..p.cg {
            let xc = &x[ci * plane..(ci + 1) * plane];
            let taps = &mut row[ci * p.taps..(ci + 1) * p.taps];
            for (dst, start) in taps.chunks_exact_mut(k_last).zip(&starts) {
                match *start {
                    Some(start) => map.fill(dst, &xc[start..]),
                    None => dst.fill(0.0),
                }
            }
        }
    }
}
