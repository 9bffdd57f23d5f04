//! Library kernels on the cpu backend: the ops a kernel program runs as one
//! routine over whole row-major buffers (`Kernel::Library`). The hot ones
//! have code of their own here, on raw buffers:
//! - `conv` in f32: per sample, the padded and dilated input is unfolded
//!   into a column matrix (im2col) and multiplied by the kernel with the
//!   backend's `sgemm` (one product per group); samples run in parallel.
//! - `reduce_window` in f32 (pooling): direct loops over the output, planes
//!   in parallel when big.
//! - the movement ops `slice`, `pad`, `concat`, `reverse` for any dtype:
//!   strided copies of rows.
//! - `random_uniform/normal`: the Philox draw of `crate::random`, element
//!   by element, so the numbers are the interpreter's bit for bit.
//! - `gather` and `scatter_add` in f32: row copies and row adds.
//!
//! Everything else (f64 convolutions of the gradient checks, i32 pooling)
//! falls back to the interpreter's definition, `interp::apply`, on copies.

use rayon::prelude::*;

use super::conv;
use crate::backend::{interp, RunError};
use crate::ir::{DType, Dist, Op, ReduceOp};
use crate::random::{element_block, normal_of, unit_f32, unit_f64};
use crate::tensor::Tensor;

/// A buffer as a library routine sees it: storage, dtype, bound shape.
#[derive(Clone, Copy)]
pub(super) struct Buf<'a> {
    pub ptr: *mut u8,
    pub dtype: DType,
    pub shape: &'a [usize],
}

impl Buf<'_> {
    fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// # Safety
    /// The buffer is live, of dtype f32, and not written while this is used.
    pub(super) unsafe fn f32s<'b>(&self) -> &'b [f32] {
        unsafe { std::slice::from_raw_parts(self.ptr as *const f32, self.numel()) }
    }
    /// # Safety
    /// The buffer is live, of dtype f32, and nothing else reads or writes it.
    unsafe fn f32s_mut<'b>(&self) -> &'b mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut f32, self.numel()) }
    }
}

/// Whether `op` on these operands may split its work over threads (the
/// runner then starts the step on a pool thread).
pub(super) fn parallel(op: &Op, out_numel: usize) -> bool {
    match op {
        Op::Conv(_) => true,
        Op::ReduceWindow { .. } => out_numel >= super::PARALLEL_MIN,
        Op::Random { .. } => out_numel >= super::PARALLEL_MIN,
        _ => false,
    }
}

/// Runs `op` from `args` into `out`.
///
/// # Safety
/// Every buffer is live and holds its shape's elements of its dtype; `out`
/// does not overlap an argument.
pub(super) unsafe fn run(op: &Op, out: Buf, args: &[Buf], threads: usize) -> Result<(), RunError> {
    let all_f32 = out.dtype == DType::F32 && args.iter().all(|a| a.dtype == DType::F32);
    // SAFETY (every arm): the caller's contract.
    unsafe {
        match op {
            Op::Conv(c) if all_f32 => {
                conv::conv_f32(args[0], args[1], c, out, threads);
                Ok(())
            }
            Op::ReduceWindow { op: r, window } if all_f32 => {
                reduce_window_f32(*r, window, args[0], out, threads);
                Ok(())
            }
            Op::Slice { start, stride, .. } => {
                slice(args[0], start, stride, out);
                Ok(())
            }
            Op::Pad {
                low,
                interior,
                value,
                ..
            } => {
                pad(args[0], low, interior, *value, out);
                Ok(())
            }
            Op::Concat { axis } => {
                concat(args, *axis, out);
                Ok(())
            }
            Op::Reverse { axes } => {
                reverse(args[0], axes, out);
                Ok(())
            }
            Op::Random { dist, stream } => {
                let key = *(args[0].ptr as *const i32);
                random(*dist, key, *stream, out, threads);
                Ok(())
            }
            Op::Gather if out.dtype == DType::F32 => gather_f32(args[0], args[1], out),
            Op::ScatterAdd if out.dtype == DType::F32 => {
                scatter_add_f32(args[0], args[1], args[2], out)
            }
            _ => fallback(op, out, args),
        }
    }
}

/// The interpreter's definition on copies of the arguments.
unsafe fn fallback(op: &Op, out: Buf, args: &[Buf]) -> Result<(), RunError> {
    let tensors: Vec<Tensor> = args
        .iter()
        .map(|a| super::run::read_tensor(a.ptr, a.dtype, a.shape))
        .collect();
    let refs: Vec<&Tensor> = tensors.iter().collect();
    let r = interp::apply(op, &refs, out.dtype, out.shape)?;
    let bytes = out.numel() * out.dtype.size();
    // SAFETY: `r` has `out`'s dtype and shape in standard layout (the
    // interpreter's kernels return standard-layout arrays).
    unsafe {
        std::ptr::copy_nonoverlapping(super::run::tensor_ptr(&r), out.ptr, bytes);
    }
    Ok(())
}

/// Row-major strides (in elements) of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Calls `f(out_offset, in_offset)` for every row (all axes but the last)
/// of a strided copy: output rows in row-major order, the input offset of
/// each row's first element from `base` plus `in_step[a]` per output index
/// step on axis `a`.
fn for_each_row(
    out_shape: &[usize],
    base: isize,
    in_step: &[isize],
    mut f: impl FnMut(usize, isize),
) {
    let r = out_shape.len();
    if r == 0 {
        f(0, base);
        return;
    }
    if out_shape.contains(&0) {
        return;
    }
    let rows: usize = out_shape[..r - 1].iter().product();
    let len = out_shape[r - 1];
    let mut idx = vec![0usize; r - 1];
    let mut off = base;
    for row in 0..rows {
        f(row * len, off);
        // Next row index, carrying.
        let mut a = r - 1;
        while a > 0 {
            a -= 1;
            idx[a] += 1;
            off += in_step[a];
            if idx[a] < out_shape[a] {
                break;
            }
            off -= in_step[a] * out_shape[a] as isize;
            idx[a] = 0;
        }
    }
}

/// Copies `len` elements of `size` bytes from `src` (every `step`
/// elements) to contiguous `dst`.
unsafe fn copy_run(dst: *mut u8, src: *const u8, len: usize, step: isize, size: usize) {
    unsafe {
        if step == 1 {
            std::ptr::copy_nonoverlapping(src, dst, len * size);
            return;
        }
        macro_rules! run {
            ($t:ty) => {{
                let (d, s) = (dst as *mut $t, src as *const $t);
                for i in 0..len {
                    *d.add(i) = *s.offset(i as isize * step);
                }
            }};
        }
        match size {
            1 => run!(u8),
            4 => run!(u32),
            8 => run!(u64),
            _ => unreachable!("internal: element size {size}"),
        }
    }
}

/// `out[i] = a[start + i·stride]`.
unsafe fn slice(a: Buf, start: &[usize], stride: &[usize], out: Buf) {
    let size = a.dtype.size();
    let st = strides(a.shape);
    let base: isize = start.iter().zip(&st).map(|(&s, &t)| (s * t) as isize).sum();
    let step: Vec<isize> = stride
        .iter()
        .zip(&st)
        .map(|(&s, &t)| (s * t) as isize)
        .collect();
    let r = out.shape.len();
    let (len, last) = match r {
        0 => (1, 1),
        _ => (out.shape[r - 1], step[r - 1]),
    };
    for_each_row(out.shape, base, &step, |o, i| unsafe {
        copy_run(
            out.ptr.add(o * size),
            a.ptr.offset(i * size as isize),
            len,
            last,
            size,
        )
    });
}

/// `a`'s elements reversed along `axes`.
unsafe fn reverse(a: Buf, axes: &[usize], out: Buf) {
    let size = a.dtype.size();
    let st = strides(a.shape);
    let mut base = 0isize;
    let step: Vec<isize> = (0..a.shape.len())
        .map(|i| {
            if axes.contains(&i) {
                base += (a.shape[i].saturating_sub(1) * st[i]) as isize;
                -(st[i] as isize)
            } else {
                st[i] as isize
            }
        })
        .collect();
    let r = out.shape.len();
    let (len, last) = match r {
        0 => (1, 1),
        _ => (out.shape[r - 1], step[r - 1]),
    };
    for_each_row(out.shape, base, &step, |o, i| unsafe {
        copy_run(
            out.ptr.add(o * size),
            a.ptr.offset(i * size as isize),
            len,
            last,
            size,
        )
    });
}

/// Fills `out` with `value`, then scatters `a` into it: element `i` of `a`
/// lands at `low + i·(interior + 1)`.
unsafe fn pad(a: Buf, low: &[usize], interior: &[usize], value: f64, out: Buf) {
    let size = a.dtype.size();
    let n = out.numel();
    unsafe {
        match out.dtype {
            DType::F32 => std::slice::from_raw_parts_mut(out.ptr as *mut f32, n).fill(value as f32),
            DType::F64 => std::slice::from_raw_parts_mut(out.ptr as *mut f64, n).fill(value),
            DType::I32 => std::slice::from_raw_parts_mut(out.ptr as *mut i32, n).fill(value as i32),
            DType::Bool => std::slice::from_raw_parts_mut(out.ptr, n).fill((value != 0.0) as u8),
        }
    }
    if a.numel() == 0 {
        return;
    }
    let ost = strides(out.shape);
    let base: isize = low.iter().zip(&ost).map(|(&l, &t)| (l * t) as isize).sum();
    let step: Vec<isize> = interior
        .iter()
        .zip(&ost)
        .map(|(&i, &t)| ((i + 1) * t) as isize)
        .collect();
    let r = a.shape.len();
    let (len, last) = match r {
        0 => (1, 1),
        _ => (a.shape[r - 1], step[r - 1]),
    };
    // Walk `a`'s rows; each lands strided in `out`.
    for_each_row(a.shape, base, &step, |i, o| unsafe {
        scatter_run(
            out.ptr.offset(o * size as isize),
            a.ptr.add(i * size),
            len,
            last,
            size,
        )
    });
}

/// Copies `len` contiguous elements of `src` to `dst`, every `step`.
unsafe fn scatter_run(dst: *mut u8, src: *const u8, len: usize, step: isize, size: usize) {
    unsafe {
        if step == 1 {
            std::ptr::copy_nonoverlapping(src, dst, len * size);
            return;
        }
        macro_rules! run {
            ($t:ty) => {{
                let (d, s) = (dst as *mut $t, src as *const $t);
                for i in 0..len {
                    *d.offset(i as isize * step) = *s.add(i);
                }
            }};
        }
        match size {
            1 => run!(u8),
            4 => run!(u32),
            8 => run!(u64),
            _ => unreachable!("internal: element size {size}"),
        }
    }
}

/// The parts one after another along `axis`: each part is `outer` blocks
/// of `part[axis]·inner` contiguous elements.
unsafe fn concat(parts: &[Buf], axis: usize, out: Buf) {
    let size = out.dtype.size();
    let outer: usize = out.shape[..axis].iter().product();
    let inner: usize = out.shape[axis + 1..].iter().product();
    let row = out.shape[axis] * inner * size;
    let mut at = 0usize;
    for p in parts {
        let block = p.shape[axis] * inner * size;
        for o in 0..outer {
            unsafe {
                std::ptr::copy_nonoverlapping(
                    p.ptr.add(o * block),
                    out.ptr.add(o * row + at),
                    block,
                )
            };
        }
        at += block;
    }
}

/// Element `i` from Philox block `i`, as `crate::random` defines it.
unsafe fn random(dist: Dist, key: i32, stream: u64, out: Buf, threads: usize) {
    let n = out.numel();
    let chunk = 1 << 14;
    let parts = if threads > 1 && n >= super::PARALLEL_MIN {
        n.div_ceil(chunk)
    } else {
        1
    };
    let ptr = out.ptr as usize;
    let dtype = out.dtype;
    let fill = move |lo: usize, hi: usize| {
        for i in lo..hi {
            let b = element_block(key, stream, i as u64);
            // SAFETY: `i < n`, and parts write disjoint elements.
            unsafe {
                match (dtype, dist) {
                    (DType::F32, Dist::Uniform) => *(ptr as *mut f32).add(i) = unit_f32(b[0]),
                    (DType::F32, Dist::Normal) => *(ptr as *mut f32).add(i) = normal_of(b) as f32,
                    (DType::F64, Dist::Uniform) => *(ptr as *mut f64).add(i) = unit_f64(b[0], b[1]),
                    (DType::F64, Dist::Normal) => *(ptr as *mut f64).add(i) = normal_of(b),
                    _ => unreachable!("internal: random of dtype {dtype}"),
                }
            }
        }
    };
    if parts == 1 {
        fill(0, n);
    } else {
        (0..parts)
            .into_par_iter()
            .for_each(|c| fill(c * chunk, ((c + 1) * chunk).min(n)));
    }
}

/// The row an index names, or the interpreter's error for it.
fn row_of(k: i32, flat: usize, indices: Buf, rows: usize, op: &str) -> Result<usize, RunError> {
    match usize::try_from(k) {
        Ok(r) if r < rows => Ok(r),
        _ => {
            let mut pos = vec![0; indices.shape.len()];
            let mut rest = flat;
            for (p, &n) in pos.iter_mut().zip(indices.shape).rev() {
                *p = rest % n;
                rest /= n;
            }
            Err(RunError(format!(
                "{op} index {k} at position {pos:?} is outside the {rows} rows of the table"
            )))
        }
    }
}

unsafe fn indices<'b>(b: Buf) -> &'b [i32] {
    unsafe { std::slice::from_raw_parts(b.ptr as *const i32, b.numel()) }
}

/// `out[i] = table[indices[i]]`, one row each.
unsafe fn gather_f32(table: Buf, idx: Buf, out: Buf) -> Result<(), RunError> {
    let rows = table.shape[0];
    let len: usize = table.shape[1..].iter().product();
    let (t, o) = unsafe { (table.f32s(), out.f32s_mut()) };
    for (flat, &k) in unsafe { indices(idx) }.iter().enumerate() {
        let r = row_of(k, flat, idx, rows, "gather")?;
        o[flat * len..(flat + 1) * len].copy_from_slice(&t[r * len..(r + 1) * len]);
    }
    Ok(())
}

/// `out = operand`, then row `i` of `updates` added to row `indices[i]`.
unsafe fn scatter_add_f32(operand: Buf, idx: Buf, updates: Buf, out: Buf) -> Result<(), RunError> {
    let rows = operand.shape[0];
    let len: usize = operand.shape[1..].iter().product();
    let (a, u, o) = unsafe { (operand.f32s(), updates.f32s(), out.f32s_mut()) };
    o.copy_from_slice(a);
    for (flat, &k) in unsafe { indices(idx) }.iter().enumerate() {
        let r = row_of(k, flat, idx, rows, "scatter_add")?;
        for (d, &x) in o[r * len..(r + 1) * len]
            .iter_mut()
            .zip(&u[flat * len..(flat + 1) * len])
        {
            *d += x;
        }
    }
    Ok(())
}

/// Sum or max over windows, padding holding the identity (so it never
/// wins a max and adds nothing to a sum): for each output element, the
/// in-range taps of its window.
unsafe fn reduce_window_f32(op: ReduceOp, w: &crate::ir::Window, a: Buf, out: Buf, threads: usize) {
    let (x, o) = unsafe { (a.f32s(), out.f32s_mut()) };
    let r = a.shape.len();
    let ist = strides(a.shape);
    // Fast path: windows only over the last two axes (2-d pooling).
    let lead_plain = (0..r.saturating_sub(2))
        .all(|i| w.size[i] == 1 && w.stride[i] == 1 && w.pad_low[i] == 0 && w.pad_high[i] == 0);
    let (init, f): (f32, fn(f32, f32) -> f32) = match op {
        ReduceOp::Sum => (0.0, |a, b| a + b),
        ReduceOp::Max => (f32::NEG_INFINITY, f32::max),
    };
    if r >= 2 && lead_plain {
        let (h, wd) = (a.shape[r - 2], a.shape[r - 1]);
        let (oh, ow) = (out.shape[r - 2], out.shape[r - 1]);
        let planes: usize = out.shape[..r - 2].iter().product();
        let (kh, kw) = (w.size[r - 2], w.size[r - 1]);
        let (sh, sw) = (w.stride[r - 2], w.stride[r - 1]);
        let (ph, pw) = (w.pad_low[r - 2] as isize, w.pad_low[r - 1] as isize);
        let unpadded = w.pad_low[r - 2..]
            .iter()
            .chain(&w.pad_high[r - 2..])
            .all(|&p| p == 0);
        let pool2 = op == ReduceOp::Max && (kh, kw, sh, sw) == (2, 2, 2, 2);
        let plane = |p: usize, dst: &mut [f32]| {
            let src = &x[p * h * wd..(p + 1) * h * wd];
            if pool2 && unpadded {
                // 2x2 max pooling, taps in the interpreter's order.
                for (yi, out_row) in dst.chunks_exact_mut(ow).enumerate() {
                    let r0 = &src[2 * yi * wd..][..2 * ow];
                    let r1 = &src[(2 * yi + 1) * wd..][..2 * ow];
                    for ((slot, a), b) in out_row
                        .iter_mut()
                        .zip(r0.chunks_exact(2))
                        .zip(r1.chunks_exact(2))
                    {
                        *slot = init.max(a[0]).max(a[1]).max(b[0]).max(b[1]);
                    }
                }
                return;
            }
            if unpadded {
                // Every window lies inside the plane (the output's size
                // says so): no bounds to test per tap.
                for (yi, out_row) in dst.chunks_exact_mut(ow).enumerate() {
                    for (xi, slot) in out_row.iter_mut().enumerate() {
                        let mut acc = init;
                        for dy in 0..kh {
                            let at = (yi * sh + dy) * wd + xi * sw;
                            for &v in &src[at..at + kw] {
                                acc = f(acc, v);
                            }
                        }
                        *slot = acc;
                    }
                }
                return;
            }
            for yi in 0..oh {
                let y0 = yi as isize * sh as isize - ph;
                for xi in 0..ow {
                    let x0 = xi as isize * sw as isize - pw;
                    let mut acc = init;
                    for dy in 0..kh as isize {
                        let yy = y0 + dy;
                        if yy < 0 || yy >= h as isize {
                            continue;
                        }
                        let row = &src[yy as usize * wd..(yy as usize + 1) * wd];
                        for dx in 0..kw as isize {
                            let xx = x0 + dx;
                            if xx >= 0 && xx < wd as isize {
                                acc = f(acc, row[xx as usize]);
                            }
                        }
                    }
                    dst[yi * ow + xi] = acc;
                }
            }
        };
        if threads > 1 && out.numel() >= super::PARALLEL_MIN && oh * ow > 0 {
            o.par_chunks_mut(oh * ow)
                .enumerate()
                .for_each(|(p, dst)| plane(p, dst));
        } else {
            for (p, dst) in o.chunks_mut((oh * ow).max(1)).enumerate().take(planes) {
                plane(p, dst);
            }
        }
        return;
    }
    // General: every output index, every tap.
    let taps: usize = w.size.iter().product();
    let mut idx = vec![0usize; r];
    let n = out.numel();
    for (flat, slot) in o.iter_mut().enumerate().take(n) {
        let mut rest = flat;
        for i in (0..r).rev() {
            idx[i] = rest % out.shape[i];
            rest /= out.shape[i];
        }
        let mut acc = init;
        'tap: for t in 0..taps {
            let mut rest = t;
            let mut off = 0usize;
            for i in (0..r).rev() {
                let k = rest % w.size[i];
                rest /= w.size[i];
                let pos = (idx[i] * w.stride[i] + k) as isize - w.pad_low[i] as isize;
                if pos < 0 || pos >= a.shape[i] as isize {
                    continue 'tap;
                }
                off += pos as usize * ist[i];
            }
            acc = f(acc, x[off]);
        }
        *slot = acc;
    }
}
