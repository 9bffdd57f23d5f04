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

use crate::ir::{dilated, ConvAttrs, Dim, Graph, Shape, Value};

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
        stop.push(Dim::Fixed(fixed(d) - pos(-v)));
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
