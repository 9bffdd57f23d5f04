//! Library kernels on the cpu backend: the routines a kernel program runs
//! over whole row-major buffers (`Kernel::Library`, `kernel::Routine`), one
//! arm each in [`run`]'s `match`, so a routine added to the set does not
//! build until it has one here. The hot ones have code of their own here,
//! on raw buffers:
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
//! The other dtypes (f64 convolutions of the gradient checks, i32 pooling,
//! gathers of integer tables) run the routine's definition,
//! `kernel::reference::routine`, on copies.

#![deny(clippy::undocumented_unsafe_blocks)]

use rayon::prelude::*;

use super::conv;
use crate::backend::RunError;
use crate::ir::{DType, Dist, ReduceOp};
use crate::kernel::{reference, Routine};
use crate::random::{element_block, normal_of, unit_f32, unit_f64};
use crate::tensor::Tensor;

/// A buffer as a library routine sees it: storage, dtype, bound shape. It
/// is a plain pointer, freely copied: what may be done through it is
/// stated by the `unsafe fn`s that use it, never checked here.
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
    /// The elements, read only.
    ///
    /// # Safety
    /// `ptr` points at a live, 4-byte aligned buffer of at least `numel`
    /// f32s, which nothing writes for as long as the slice (of a lifetime
    /// the caller picks) is used.
    pub(super) unsafe fn f32s<'b>(&self) -> &'b [f32] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr as *const f32, self.numel()) }
    }
    /// The elements, to write. Taking `&self` (the handle is `Copy`) hands
    /// out `&mut` from a shared reference, so the aliasing rule is the
    /// caller's to keep.
    ///
    /// # Safety
    /// `ptr` points at a live, 4-byte aligned buffer of at least `numel`
    /// f32s, and for as long as the slice is used nothing else reads or
    /// writes that buffer — no other copy of this `Buf`, no operand of the
    /// same routine (a routine's output never overlaps its operands).
    unsafe fn f32s_mut<'b>(&self) -> &'b mut [f32] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut f32, self.numel()) }
    }
}

/// Whether `r` on these operands may split its work over threads (the
/// runner then starts the step on a pool thread).
pub(super) fn parallel(r: &Routine, out_numel: usize) -> bool {
    match r {
        Routine::Conv(_) => true,
        Routine::ReduceWindow { .. } | Routine::Random { .. } => out_numel >= super::PARALLEL_MIN,
        Routine::Slice { .. }
        | Routine::Pad { .. }
        | Routine::Concat { .. }
        | Routine::Reverse { .. }
        | Routine::Gather
        | Routine::ScatterAdd => false,
    }
}

/// Runs `r` from `args` into `out`.
///
/// # Safety
/// Every buffer is live and holds its shape's elements of its dtype, as
/// the routine's typing rule gives them; `out` does not overlap an
/// argument, and nothing else reads or writes `out` meanwhile.
pub(super) unsafe fn run(
    r: &Routine,
    out: Buf,
    args: &[Buf],
    threads: usize,
) -> Result<(), RunError> {
    let all_f32 = out.dtype == DType::F32 && args.iter().all(|a| a.dtype == DType::F32);
    // SAFETY: every arm's routine asks for live buffers of their shapes
    // and dtypes and an output apart from its operands, the caller's
    // contract; the guards check the dtypes the f32 routines assume, and
    // the random key is the i32 scalar the typing rule makes it.
    unsafe {
        match r {
            Routine::Conv(c) if all_f32 => {
                conv::conv_f32(args[0], args[1], c, out, threads);
                Ok(())
            }
            Routine::ReduceWindow { op, window } if all_f32 => {
                reduce_window_f32(*op, window, args[0], out, threads);
                Ok(())
            }
            Routine::Slice { start, stride, .. } => {
                slice(args[0], start, stride, out);
                Ok(())
            }
            Routine::Pad {
                low,
                interior,
                value,
                ..
            } => {
                pad(args[0], low, interior, *value, out);
                Ok(())
            }
            Routine::Concat { axis } => {
                concat(args, *axis, out);
                Ok(())
            }
            Routine::Reverse { axes } => {
                reverse(args[0], axes, out);
                Ok(())
            }
            Routine::Random { dist, stream } => {
                // The key operand is an i32 scalar (the typing rule's).
                let key = *(args[0].ptr as *const i32);
                random(*dist, key, *stream, out, threads);
                Ok(())
            }
            Routine::Gather if out.dtype == DType::F32 => gather_f32(args[0], args[1], out),
            Routine::ScatterAdd if out.dtype == DType::F32 => {
                scatter_add_f32(args[0], args[1], args[2], out)
            }
            Routine::Conv(_)
            | Routine::ReduceWindow { .. }
            | Routine::Gather
            | Routine::ScatterAdd => by_definition(r, out, args),
        }
    }
}

/// The routine's definition (`kernel::reference::routine`) on copies of
/// the arguments.
///
/// # Safety
/// As [`run`].
unsafe fn by_definition(r: &Routine, out: Buf, args: &[Buf]) -> Result<(), RunError> {
    let tensors: Vec<Tensor> = args
        .iter()
        // SAFETY: each argument is live with its shape's elements of its
        // dtype (the caller's contract).
        .map(|a| unsafe { super::run::read_tensor(a.ptr, a.dtype, a.shape) })
        .collect();
    let refs: Vec<&Tensor> = tensors.iter().collect();
    let r = reference::routine(r, &refs, out.dtype, out.shape)?;
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
///
/// # Safety
/// `size` is 1, 4 or 8; `dst` holds `len` elements and `src + i·step` is
/// an element for every `i < len`, both aligned for `size`, and the two
/// do not overlap.
unsafe fn copy_run(dst: *mut u8, src: *const u8, len: usize, step: isize, size: usize) {
    // SAFETY: the caller's contract.
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
///
/// # Safety
/// `a` and `out` are live buffers of their shapes and dtypes (both the
/// same, one of 1, 4 or 8 bytes), with `out`'s shape the op's result for
/// these attributes, and they do not overlap.
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
    // SAFETY: row `o` of `out` holds `len` elements; the typing rule puts
    // every `i + k·last` (k < len) inside `a`; the buffers are apart.
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
///
/// # Safety
/// `a` and `out` are live buffers of their shapes and dtypes (both the
/// same, one of 1, 4 or 8 bytes), with `out`'s shape the op's result for
/// these attributes, and they do not overlap.
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
    // SAFETY: row `o` of `out` holds `len` elements; the typing rule puts
    // every `i + k·last` (k < len) inside `a`; the buffers are apart.
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
///
/// # Safety
/// `a` and `out` are live buffers of their shapes and dtypes (both the
/// same, one of 1, 4 or 8 bytes), with `out`'s shape the op's result for
/// these attributes, and they do not overlap.
unsafe fn pad(a: Buf, low: &[usize], interior: &[usize], value: f64, out: Buf) {
    let size = a.dtype.size();
    let n = out.numel();
    // SAFETY: `out` holds `n` elements of its dtype, and nothing else
    // touches it (the caller's contract).
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
    // SAFETY: row `i` of `a` holds `len` elements, and the result shape
    // (low + dilated size + high) puts every `o + k·last` inside `out`.
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
///
/// # Safety
/// As [`copy_run`], with the strided side being `dst`.
unsafe fn scatter_run(dst: *mut u8, src: *const u8, len: usize, step: isize, size: usize) {
    // SAFETY: the caller's contract.
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
///
/// # Safety
/// Every part and `out` are live buffers of their shapes and of `out`'s
/// dtype, `out`'s shape being the parts' joined along `axis`, and `out`
/// overlaps no part.
unsafe fn concat(parts: &[Buf], axis: usize, out: Buf) {
    let size = out.dtype.size();
    let outer: usize = out.shape[..axis].iter().product();
    let inner: usize = out.shape[axis + 1..].iter().product();
    let row = out.shape[axis] * inner * size;
    let mut at = 0usize;
    for p in parts {
        let block = p.shape[axis] * inner * size;
        for o in 0..outer {
            // SAFETY: block `o` of the part, inside it, lands in row `o` of
            // `out` at `at`, inside it since the parts' blocks add up to a
            // row; the buffers are apart.
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
///
/// # Safety
/// `out` is a live f32 or f64 buffer of its shape that nothing else
/// touches meanwhile.
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

/// An index operand's elements.
///
/// # Safety
/// `b` is a live i32 buffer of its shape that nothing writes while the
/// slice is used.
unsafe fn indices<'b>(b: Buf) -> &'b [i32] {
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(b.ptr as *const i32, b.numel()) }
}

/// `out[i] = table[indices[i]]`, one row each.
///
/// # Safety
/// `table` and `out` are live f32 buffers and `idx` a live i32 buffer, of
/// their shapes (`out`'s being the gather's result), and `out` overlaps
/// neither operand nor is touched by anything else meanwhile.
unsafe fn gather_f32(table: Buf, idx: Buf, out: Buf) -> Result<(), RunError> {
    let rows = table.shape[0];
    let len: usize = table.shape[1..].iter().product();
    // SAFETY: the caller's contract: the operands are only read, `out` is
    // written through this one slice.
    let (t, o) = unsafe { (table.f32s(), out.f32s_mut()) };
    // SAFETY: the caller's contract.
    for (flat, &k) in unsafe { indices(idx) }.iter().enumerate() {
        let r = row_of(k, flat, idx, rows, "gather")?;
        o[flat * len..(flat + 1) * len].copy_from_slice(&t[r * len..(r + 1) * len]);
    }
    Ok(())
}

/// `out = operand`, then row `i` of `updates` added to row `indices[i]`.
///
/// # Safety
/// `operand`, `updates` and `out` are live f32 buffers and `idx` a live
/// i32 buffer, of their shapes (`out`'s being `operand`'s), and `out`
/// overlaps no operand nor is touched by anything else meanwhile.
unsafe fn scatter_add_f32(operand: Buf, idx: Buf, updates: Buf, out: Buf) -> Result<(), RunError> {
    let rows = operand.shape[0];
    let len: usize = operand.shape[1..].iter().product();
    // SAFETY: the caller's contract: the operands are only read, `out` is
    // written through this one slice.
    let (a, u, o) = unsafe { (operand.f32s(), updates.f32s(), out.f32s_mut()) };
    o.copy_from_slice(a);
    // SAFETY: the caller's contract.
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
///
/// # Safety
/// `a` and `out` are live f32 buffers of their shapes (`out`'s being the
/// windowed reduction's result), apart, and nothing else touches `out`
/// meanwhile.
unsafe fn reduce_window_f32(op: ReduceOp, w: &crate::ir::Window, a: Buf, out: Buf, threads: usize) {
    // SAFETY: the caller's contract: `a` is only read, `out` is written
    // through this one slice.
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
