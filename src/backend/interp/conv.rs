//! The interpreter's convolution: im2col and one library matrix product per
//! group, so the arithmetic runs in `general_mat_mul` and the copying in
//! ndarray's strided assignment rather than in loops of our own (this crate
//! is built at a low optimization level in tests).
//!
//! 1. The input is padded and dilated once (`pad` with interior padding),
//!    so every kernel tap reads a plain strided window of it.
//! 2. The column matrix has one row per (group, kernel tap, channel in the
//!    group) and one column per (batch, output position); it is filled one
//!    kernel tap and group at a time, each a single strided block copy.
//! 3. Per group, `[Og, taps * Cg] x [taps * Cg, N * Y]`, with the kernel
//!    permuted to `[O, K..., Cg]` to match the rows.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayD, IxDyn, NdFloat};

use super::movement;
use crate::ir::ConvAttrs;

/// `x: [N, C, S...]`, `w: [O, C/groups, K...]` to `[N, O, Y...]` = `out`.
pub fn conv<T: NdFloat>(x: &ArrayD<T>, w: &ArrayD<T>, c: &ConvAttrs, out: &[usize]) -> ArrayD<T> {
    let sp = c.spatial();
    let (n, ch) = (x.shape()[0], x.shape()[1]);
    let (o, cg) = (w.shape()[0], w.shape()[1]);
    let groups = c.groups;
    let og = o / groups;
    let kernel = &w.shape()[2..];
    let ys = &out[2..];
    let taps: usize = kernel.iter().product();
    let positions: usize = ys.iter().product();

    // 1. Pad and dilate the input.
    let plain = c.pad_low.iter().chain(&c.pad_high).all(|&p| p == 0)
        && c.lhs_dilation.iter().all(|&d| d == 1);
    let padded;
    let xp = if plain {
        x
    } else {
        let mut low = vec![0, 0];
        low.extend(&c.pad_low);
        let mut interior = vec![0, 0];
        interior.extend(c.lhs_dilation.iter().map(|d| d - 1));
        let mut shape = vec![n, ch];
        for i in 0..sp {
            let s = x.shape()[2 + i];
            shape.push(c.pad_low[i] + (s - 1) * c.lhs_dilation[i] + 1 + c.pad_high[i]);
        }
        padded = movement::pad(x, &low, &interior, T::zero(), &shape);
        &padded
    };

    // 2. im2col: rows (group, tap, channel in group), columns (batch, position).
    let xp = xp.as_standard_layout();
    let xd = xp.as_slice().expect("internal: standard layout is a slice");
    let mut col = Array2::<T>::zeros((groups * taps * cg, n * positions));
    let cd = col
        .as_slice_mut()
        .expect("internal: a new array is a slice");
    im2col(xd, xp.shape(), c, kernel, ys, groups, cg, cd);

    // 3. One matrix product per group, the kernel as [O, taps * Cg].
    let mut wperm = vec![0];
    wperm.extend(2..sp + 2);
    wperm.push(1);
    let w2 = w
        .view()
        .permuted_axes(IxDyn(&wperm))
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((o, taps * cg))
        .expect("internal: kernel reshape");
    let mut prod = Array2::<T>::zeros((o, n * positions));
    let k = taps * cg;
    for gi in 0..groups {
        general_mat_mul(
            T::one(),
            &w2.slice(s![gi * og..(gi + 1) * og, ..]),
            &col.slice(s![gi * k..(gi + 1) * k, ..]),
            T::zero(),
            &mut prod.slice_mut(s![gi * og..(gi + 1) * og, ..]),
        );
    }

    // [O, N, Y...] to [N, O, Y...], one run of positions at a time.
    let pd = prod.as_slice().expect("internal: a new array is a slice");
    let mut result = vec![T::zero(); n * o * positions];
    for (oc, from) in pd.chunks_exact(n * positions.max(1)).enumerate() {
        for (b, run) in from.chunks_exact(positions.max(1)).enumerate() {
            let at = (b * o + oc) * positions;
            result[at..at + positions].copy_from_slice(run);
        }
    }
    ArrayD::from_shape_vec(IxDyn(out), result).expect("internal: conv result shape")
}

/// Fills the column matrix `col` (rows: group, kernel tap, channel in
/// the group; columns: batch, output position) from the padded, dilated
/// input `x` of shape `shape`. Each copy is one run of output positions
/// along the last spatial axis: a `copy_from_slice` at stride 1, a short
/// strided loop otherwise. Where each run starts is worked out once per
/// kernel tap.
#[allow(clippy::too_many_arguments)]
fn im2col<T: Copy>(
    x: &[T],
    shape: &[usize],
    c: &ConvAttrs,
    kernel: &[usize],
    ys: &[usize],
    groups: usize,
    cg: usize,
    col: &mut [T],
) {
    let sp = ys.len();
    let last = sp - 1;
    let n = shape[0];
    // Row-major strides of the padded input.
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len() - 1).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let positions: usize = ys.iter().product();
    let runs: usize = ys[..last].iter().product();
    let run = ys[last];
    let step = c.stride[last];
    let taps: usize = kernel.iter().product();
    let mut tap = vec![0usize; sp];
    let mut starts = vec![0usize; runs];
    let mut rows = col.chunks_exact_mut(n * positions);
    for gi in 0..groups {
        for t in 0..taps {
            let mut rest = t;
            for i in (0..sp).rev() {
                tap[i] = rest % kernel[i];
                rest /= kernel[i];
            }
            // Offset of each run's first element within one channel.
            for (r, start) in starts.iter_mut().enumerate() {
                let mut rest = r;
                let mut off = tap[last] * c.dilation[last];
                for i in (0..last).rev() {
                    let yi = rest % ys[i];
                    rest /= ys[i];
                    off += (yi * c.stride[i] + tap[i] * c.dilation[i]) * strides[2 + i];
                }
                *start = off;
            }
            for ci in 0..cg {
                let row = rows.next().expect("internal: im2col row count");
                let channel = (gi * cg + ci) * strides[1];
                for (b, row_b) in row.chunks_exact_mut(positions).enumerate() {
                    let base = b * strides[0] + channel;
                    for (dst, &start) in row_b.chunks_exact_mut(run).zip(&starts) {
                        let src = &x[base + start..];
                        if step == 1 {
                            dst.copy_from_slice(&src[..run]);
                        } else {
                            for (d, s) in dst.iter_mut().zip(src.iter().step_by(step)) {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    }
}
