//! VJP rules of the windowed ops, written with primitives only (so they
//! differentiate again and every backend runs them with the kernels it
//! already has).
//!
//! Convolution, following XLA and JAX: for `y = conv(x, w)` with stride
//! `s`, padding `lo`/`hi`, kernel dilation `d`, input dilation `ld` and
//! `groups`, and per spatial axis `dk = dilated(K, d)`, `ld_in =
//! dilated(S, ld)`, `od = dilated(Y, s)`:
//! - `dx = conv(g, flip(w'), stride=ld, lhs_dilation=s, dilation=d,
//!   pad_low=dk-1-lo, pad_high=ld_in+dk-1-od-pad_low, groups)`, where `w'`
//!   swaps the kernel's in and out channels within each group;
//! - `dw = conv(xᵀ, gᵀ, stride=d, lhs_dilation=ld, dilation=s,
//!   pad_low=lo, pad_high=od-ld_in+dk-1-lo)ᵀ`, where `ᵀ` swaps the batch
//!   and channel axes, so the batch is what the convolution sums over; with
//!   several groups, once per group (slices of `x` and `g`) and
//!   concatenated.
//!
//! Those paddings go negative when a padding reaches the kernel extent
//! (`dx`) or a stride leaves trailing input unused (`dw`). `conv` takes no
//! negative padding, so then the dilation and padding are done explicitly
//! with `pad` (interior padding) and the excess cropped with `slice`.
//!
//! Pooling. `reduce_window_sum` is a convolution with a kernel of ones, so
//! its VJP is the same transposition: the cotangent dilated by the stride,
//! padded by `window-1-pad_low` (cropped where negative) and summed over
//! windows of the same size with stride 1. `reduce_window_max` routes each
//! output's cotangent to the element that was the maximum, built from one
//! strided `slice` per window tap: the tap's view of the (padded) input is
//! compared with the result, and the cotangent goes, via `select`, to the
//! first tap in row-major window order that holds the maximum (a tie gives
//! everything to the first, as PyTorch and XLA's `select_and_scatter`
//! do), and back with a `pad` whose interior padding undoes the stride.
//! This works for overlapping windows and padding alike, needs no
//! scatter primitive, costs one slice, compare, two selects, pad and add
//! per tap, and differentiates again.

use crate::ir::{dilated, CmpOp, ConvAttrs, DType, Dim, Graph, ReduceOp, Shape, Value, Window};

fn fixed(d: &Dim) -> usize {
    d.fixed()
        .unwrap_or_else(|| panic!("internal: conv axis {d} is not fixed"))
}

fn extent(n: usize, d: usize) -> i64 {
    dilated(n, d).unwrap_or_else(|| panic!("internal: conv extent overflows")) as i64
}

/// The permutation swapping axes 0 and 1 of a rank-`r` value.
fn swap01(r: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..r).collect();
    p.swap(0, 1);
    p
}

/// `a` with zeros: `interior` between neighbours and `low`/`high` around
/// each of its last `low.len()` axes; a negative `low`/`high` crops
/// instead (as XLA's negative padding does).
fn pad_or_crop(h: &mut Graph, a: Value, low: &[i64], high: &[i64], interior: &[usize]) -> Value {
    let r = h.ty(a).rank();
    let lead = r - low.len();
    let pos = |v: i64| v.max(0) as usize;
    let with_lead = |xs: Vec<usize>| {
        let mut v = vec![0; lead];
        v.extend(xs);
        v
    };
    let padded = h.pad(
        a,
        with_lead(low.iter().map(|&v| pos(v)).collect()),
        with_lead(high.iter().map(|&v| pos(v)).collect()),
        with_lead(interior.to_vec()),
        0.0,
    );
    if low.iter().chain(high).all(|&v| v >= 0) {
        return padded;
    }
    let dims = h.ty(padded).shape.0.clone();
    let start = with_lead(low.iter().map(|&v| pos(-v)).collect());
    let mut stop: Vec<Dim> = dims[..lead].to_vec();
    for (d, &v) in dims[lead..].iter().zip(high) {
        stop.push(match v {
            0.. => d.clone(),
            _ => Dim::Fixed(fixed(d) - pos(-v)),
        });
    }
    h.slice(padded, start, stop, vec![1; r])
}

/// A convolution whose padding may be negative: plain when it is not,
/// otherwise with the input dilated, padded and cropped explicitly.
fn conv_signed(
    h: &mut Graph,
    lhs: Value,
    rhs: Value,
    mut a: ConvAttrs,
    low: Vec<i64>,
    high: Vec<i64>,
) -> Value {
    if low.iter().chain(&high).all(|&v| v >= 0) {
        a.pad_low = low.iter().map(|&v| v as usize).collect();
        a.pad_high = high.iter().map(|&v| v as usize).collect();
        return h.conv(lhs, rhs, a);
    }
    let interior: Vec<usize> = a.lhs_dilation.iter().map(|d| d - 1).collect();
    let lhs = pad_or_crop(h, lhs, &low, &high, &interior);
    let sp = a.spatial();
    a.pad_low = vec![0; sp];
    a.pad_high = vec![0; sp];
    a.lhs_dilation = vec![1; sp];
    h.conv(lhs, rhs, a)
}

/// Spatial sizes of a convolution: input, kernel, output.
struct Sizes {
    input: Vec<usize>,
    kernel: Vec<usize>,
    output: Vec<usize>,
}

impl Sizes {
    fn of(h: &Graph, x: Value, w: Value, y: Value) -> Sizes {
        let spatial = |v: Value| h.ty(v).shape.0[2..].iter().map(fixed).collect();
        Sizes {
            input: spatial(x),
            kernel: spatial(w),
            output: spatial(y),
        }
    }
}

/// The VJP of `y = conv(x[0], x[1])` for cotangent `g`.
pub(super) fn conv(
    h: &mut Graph,
    y: Value,
    x: &[Value],
    g: Value,
    c: &ConvAttrs,
    need: &[bool],
) -> Vec<Option<Value>> {
    let sizes = Sizes::of(h, x[0], x[1], y);
    let want = |i: usize| need.get(i).copied().unwrap_or(false);
    vec![
        want(0).then(|| conv_lhs(h, g, x[1], c, &sizes)),
        want(1).then(|| conv_rhs(h, g, x[0], c, &sizes)),
    ]
}

fn conv_lhs(h: &mut Graph, g: Value, w: Value, c: &ConvAttrs, z: &Sizes) -> Value {
    let sp = c.spatial();
    let wdims = h.ty(w).shape.0.clone();
    // [O, C/G, K...] to [C, O/G, K...], group by group, then flipped.
    let swapped = if c.groups == 1 {
        h.transpose(w, swap01(sp + 2))
    } else {
        let (o, cg, groups) = (fixed(&wdims[0]), fixed(&wdims[1]), c.groups);
        let mut split = vec![Dim::Fixed(groups), Dim::Fixed(o / groups), Dim::Fixed(cg)];
        split.extend(wdims[2..].iter().cloned());
        let r = h.reshape(w, Shape(split));
        let mut perm = vec![0, 2, 1];
        perm.extend(3..sp + 3);
        let t = h.transpose(r, perm);
        let mut joined = vec![Dim::Fixed(groups * cg), Dim::Fixed(o / groups)];
        joined.extend(wdims[2..].iter().cloned());
        h.reshape(t, Shape(joined))
    };
    let flipped = h.reverse(swapped, (2..sp + 2).collect());
    let (mut low, mut high) = (vec![], vec![]);
    for i in 0..sp {
        let dk = extent(z.kernel[i], c.dilation[i]);
        let ld_in = extent(z.input[i], c.lhs_dilation[i]);
        let od = extent(z.output[i], c.stride[i]);
        let pb = dk - 1 - c.pad_low[i] as i64;
        low.push(pb);
        high.push(ld_in + dk - 1 - od - pb);
    }
    let a = ConvAttrs {
        stride: c.lhs_dilation.clone(),
        pad_low: vec![],
        pad_high: vec![],
        dilation: c.dilation.clone(),
        lhs_dilation: c.stride.clone(),
        groups: c.groups,
    };
    conv_signed(h, g, flipped, a, low, high)
}

fn conv_rhs(h: &mut Graph, g: Value, x: Value, c: &ConvAttrs, z: &Sizes) -> Value {
    if c.groups == 1 {
        return conv_rhs_one_group(h, g, x, c, z);
    }
    let cg = fixed(&h.ty(x).shape.0[1]) / c.groups;
    let og = fixed(&h.ty(g).shape.0[1]) / c.groups;
    let parts: Vec<Value> = (0..c.groups)
        .map(|j| {
            let xj = h.slice_axis(x, 1, j * cg, (j + 1) * cg);
            let gj = h.slice_axis(g, 1, j * og, (j + 1) * og);
            conv_rhs_one_group(h, gj, xj, c, z)
        })
        .collect();
    h.concat(&parts, 0)
}

fn conv_rhs_one_group(h: &mut Graph, g: Value, x: Value, c: &ConvAttrs, z: &Sizes) -> Value {
    let sp = c.spatial();
    let xt = h.transpose(x, swap01(sp + 2));
    let gt = h.transpose(g, swap01(sp + 2));
    let (mut low, mut high) = (vec![], vec![]);
    for i in 0..sp {
        let dk = extent(z.kernel[i], c.dilation[i]);
        let ld_in = extent(z.input[i], c.lhs_dilation[i]);
        let od = extent(z.output[i], c.stride[i]);
        let lo = c.pad_low[i] as i64;
        low.push(lo);
        high.push(od - ld_in + dk - 1 - lo);
    }
    let a = ConvAttrs {
        stride: c.dilation.clone(),
        pad_low: vec![],
        pad_high: vec![],
        dilation: c.stride.clone(),
        lhs_dilation: c.lhs_dilation.clone(),
        groups: 1,
    };
    let dwt = conv_signed(h, xt, gt, a, low, high);
    h.transpose(dwt, swap01(sp + 2))
}

/// Whether axis `i` of a window leaves the operand's axis alone.
fn whole(w: &Window, i: usize) -> bool {
    w.size[i] == 1 && w.stride[i] == 1 && w.pad_low[i] == 0 && w.pad_high[i] == 0
}

/// The multi-index of window tap `t`, row-major over `size`.
fn tap_index(mut t: usize, size: &[usize]) -> Vec<usize> {
    let mut k = vec![0; size.len()];
    for i in (0..size.len()).rev() {
        k[i] = t % size[i];
        t /= size[i];
    }
    k
}

/// The VJP of `y = reduce_window_*(x)` for cotangent `g`.
pub(super) fn reduce_window(
    h: &mut Graph,
    op: ReduceOp,
    y: Value,
    x: Value,
    g: Value,
    w: &Window,
) -> Value {
    match op {
        ReduceOp::Sum => window_sum(h, x, g, w),
        ReduceOp::Max => window_max(h, x, y, g, w),
    }
}

fn window_sum(h: &mut Graph, x: Value, g: Value, w: &Window) -> Value {
    let dims = h.ty(x).shape.0.clone();
    let out = h.ty(g).shape.0.clone();
    let r = dims.len();
    let (mut low, mut high, mut interior) = (vec![0; r], vec![0; r], vec![0; r]);
    for i in (0..r).filter(|&i| !whole(w, i)) {
        let od = extent(fixed(&out[i]), w.stride[i]);
        let pb = w.size[i] as i64 - 1 - w.pad_low[i] as i64;
        low[i] = pb;
        high[i] = fixed(&dims[i]) as i64 + w.size[i] as i64 - 1 - od - pb;
        interior[i] = w.stride[i] - 1;
    }
    let spread = pad_or_crop(h, g, &low, &high, &interior);
    h.reduce_window(ReduceOp::Sum, spread, Window::new(w.size.clone()))
}

fn window_max(h: &mut Graph, x: Value, y: Value, g: Value, w: &Window) -> Value {
    let r = h.ty(x).rank();
    let padded = w.pad_low.iter().chain(&w.pad_high).any(|&p| p > 0);
    let xp = if padded {
        h.pad(
            x,
            w.pad_low.clone(),
            w.pad_high.clone(),
            vec![0; r],
            f64::NEG_INFINITY,
        )
    } else {
        x
    };
    let pdims = h.ty(xp).shape.0.clone();
    let ydims = h.ty(y).shape.0.clone();
    let flags = h.ty(y).with_dtype(DType::Bool);
    let zero = h.constant_like(0.0, g);
    let taps: usize = w.size.iter().product();
    let mut taken: Option<Value> = None;
    let mut acc: Option<Value> = None;
    for t in 0..taps {
        let k = tap_index(t, &w.size);
        // What the tap reads for every output position, and the pad that
        // puts a value of the output's shape back where it was read.
        let (mut start, mut stop, mut stride) = (vec![0; r], pdims.clone(), vec![1; r]);
        let (mut high, mut interior) = (vec![0; r], vec![0; r]);
        for i in (0..r).filter(|&i| !whole(w, i)) {
            let span = extent(fixed(&ydims[i]), w.stride[i]) as usize;
            start[i] = k[i];
            stop[i] = Dim::Fixed(k[i] + span);
            stride[i] = w.stride[i];
            high[i] = fixed(&pdims[i]) - k[i] - span;
            interior[i] = w.stride[i] - 1;
        }
        let seen = h.slice(xp, start.clone(), stop, stride);
        let hit = h.compare(CmpOp::Eq, seen, y);
        // The first tap holding the maximum takes the whole cotangent.
        let first = match taken {
            None => hit,
            Some(tk) => {
                let no = h.constant(0.0, flags.clone());
                h.select(tk, no, hit)
            }
        };
        if t + 1 < taps {
            taken = Some(match taken {
                None => hit,
                Some(tk) => {
                    let yes = h.constant(1.0, flags.clone());
                    h.select(hit, yes, tk)
                }
            });
        }
        let routed = h.select(first, g, zero);
        let back = h.pad(routed, start, high, interior, 0.0);
        acc = Some(match acc {
            None => back,
            Some(a) => h.add(a, back),
        });
    }
    let dx = acc.unwrap_or_else(|| panic!("internal: a window has at least one tap"));
    if !padded {
        return dx;
    }
    let dims = h.ty(x).shape.0.clone();
    let stop = (0..r)
        .map(|i| match &dims[i] {
            Dim::Fixed(n) => Dim::Fixed(w.pad_low[i] + n),
            sym => sym.clone(),
        })
        .collect();
    h.slice(dx, w.pad_low.clone(), stop, vec![1; r])
}
