//! Typing rules of the movement ops (slice, pad, concat), the indexing ops
//! (gather, scatter_add), the windowed ops (conv, reduce_window) and the
//! random ops, with the attribute structs of the windowed ops and the
//! output-size arithmetic they share with autodiff. `Op::result_type`
//! dispatches here; it stays the one statement of each rule.
//!
//! Sizes come from parsed text as well as from passes, so every sum and
//! product is checked: an absurd attribute is a type error, not an overflow.

use super::super::types::{DType, Dim, Shape, TensorType};
use super::ReduceOp;

/// Which distribution a `random_*` op draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dist {
    /// Uniform in [0, 1).
    Uniform,
    /// Standard normal (mean 0, variance 1).
    Normal,
}

impl Dist {
    pub const ALL: [Dist; 2] = [Dist::Uniform, Dist::Normal];
    pub fn name(self) -> &'static str {
        match self {
            Dist::Uniform => "random_uniform",
            Dist::Normal => "random_normal",
        }
    }
}

/// The attributes of `conv`, one entry per spatial axis (the operand rank
/// minus 2). Output size per spatial axis, with `S` the input size and `K`
/// the kernel size: `(dilated(S, lhs_dilation) + pad_low + pad_high -
/// dilated(K, dilation)) / stride + 1` (see [`window_output`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvAttrs {
    pub stride: Vec<usize>,
    /// Zeros added before each spatial axis (after input dilation).
    pub pad_low: Vec<usize>,
    /// Zeros added after each spatial axis.
    pub pad_high: Vec<usize>,
    /// Kernel (rhs) dilation: kernel taps `dilation` elements apart.
    pub dilation: Vec<usize>,
    /// Input (lhs) dilation: `lhs_dilation - 1` zeros between neighbouring
    /// input elements. Above 1 this is a transposed convolution, which is
    /// how the gradient of a strided convolution is itself a `conv`.
    pub lhs_dilation: Vec<usize>,
    /// Channels split into `groups` independent convolutions: input
    /// channel group `j` feeds output channel group `j` (depthwise when
    /// `groups` is the channel count).
    pub groups: usize,
}

impl ConvAttrs {
    /// A plain convolution over `spatial` axes: stride 1, no padding, no
    /// dilation, one group.
    pub fn new(spatial: usize) -> ConvAttrs {
        ConvAttrs {
            stride: vec![1; spatial],
            pad_low: vec![0; spatial],
            pad_high: vec![0; spatial],
            dilation: vec![1; spatial],
            lhs_dilation: vec![1; spatial],
            groups: 1,
        }
    }
    pub fn spatial(&self) -> usize {
        self.stride.len()
    }
}

/// The window of a `reduce_window_*`, one entry per operand axis (pooling
/// over `[N, C, H, W]` has size 1 on `N` and `C`). Padding holds the
/// reduction's identity (0 for sum, -inf for max), so it never wins a max.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
    pub pad_low: Vec<usize>,
    pub pad_high: Vec<usize>,
}

impl Window {
    /// A window of `size` with stride 1 and no padding.
    pub fn new(size: Vec<usize>) -> Window {
        let r = size.len();
        Window {
            size,
            stride: vec![1; r],
            pad_low: vec![0; r],
            pad_high: vec![0; r],
        }
    }
}

/// The extent of `n` elements with `d - 1` gaps between neighbours.
pub fn dilated(n: usize, d: usize) -> Option<usize> {
    if n == 0 {
        return Some(0);
    }
    (n - 1).checked_mul(d)?.checked_add(1)
}

/// How many windows of `extent` fit, `stride` apart, in `size` elements
/// padded by `low` and `high`; `None` when not even one fits (or on
/// overflow).
pub fn window_output(
    size: usize,
    low: usize,
    high: usize,
    extent: usize,
    stride: usize,
) -> Option<usize> {
    let padded = size.checked_add(low)?.checked_add(high)?;
    let room = padded.checked_sub(extent)?;
    Some(room / stride + 1)
}

fn too_large(what: &str) -> String {
    format!("{what}: sizes overflow")
}

fn lengths(op: &str, rank: usize, lists: &[(&str, usize)]) -> Result<(), String> {
    for (name, len) in lists {
        if *len != rank {
            return Err(format!(
                "{op} needs one `{name}` entry per axis ({rank}), got {len}"
            ));
        }
    }
    Ok(())
}

fn positive(op: &str, name: &str, xs: &[usize]) -> Result<(), String> {
    if xs.contains(&0) {
        return Err(format!(
            "{op} `{name}` entries must be at least 1, got {xs:?}"
        ));
    }
    Ok(())
}

pub(super) fn slice(
    a: &TensorType,
    start: &[usize],
    stop: &[Dim],
    stride: &[usize],
) -> Result<TensorType, String> {
    let r = a.rank();
    lengths(
        "slice",
        r,
        &[
            ("start", start.len()),
            ("stop", stop.len()),
            ("stride", stride.len()),
        ],
    )?;
    positive("slice", "stride", stride)?;
    let mut dims = Vec::with_capacity(r);
    for i in 0..r {
        let d = match (&a.shape.0[i], &stop[i]) {
            (Dim::Fixed(n), Dim::Fixed(e)) => {
                if start[i] > *e || *e > *n {
                    return Err(format!(
                        "slice axis {i} of {a}: start {} and stop {e} must satisfy start <= stop <= {n}",
                        start[i]
                    ));
                }
                Dim::Fixed((e - start[i]).div_ceil(stride[i]))
            }
            (Dim::Sym(x), Dim::Sym(y)) if x == y && start[i] == 0 && stride[i] == 1 => {
                Dim::Sym(x.clone())
            }
            (Dim::Sym(x), _) => {
                return Err(format!(
                "slice axis {i} of {a} is symbolic: it is kept whole (start 0, stop {x}, stride 1)"
            ))
            }
            (Dim::Fixed(_), Dim::Sym(y)) => {
                return Err(format!(
                    "slice axis {i} of {a} is fixed, but its stop is the symbol {y}"
                ))
            }
        };
        dims.push(d);
    }
    Ok(TensorType::new(a.dtype, Shape(dims)))
}

pub(super) fn pad(
    a: &TensorType,
    low: &[usize],
    high: &[usize],
    interior: &[usize],
) -> Result<TensorType, String> {
    let r = a.rank();
    lengths(
        "pad",
        r,
        &[
            ("low", low.len()),
            ("high", high.len()),
            ("interior", interior.len()),
        ],
    )?;
    let mut dims = Vec::with_capacity(r);
    for i in 0..r {
        let d = match &a.shape.0[i] {
            Dim::Fixed(n) => {
                let grown = dilated(
                    *n,
                    interior[i].checked_add(1).ok_or_else(|| too_large("pad"))?,
                )
                .and_then(|m| m.checked_add(low[i]))
                .and_then(|m| m.checked_add(high[i]))
                .ok_or_else(|| too_large("pad"))?;
                Dim::Fixed(grown)
            }
            Dim::Sym(x) if low[i] == 0 && high[i] == 0 && interior[i] == 0 => Dim::Sym(x.clone()),
            Dim::Sym(x) => {
                return Err(format!(
                    "pad cannot grow axis {i} of {a}: its size {x} is symbolic"
                ))
            }
        };
        dims.push(d);
    }
    Ok(TensorType::new(a.dtype, Shape(dims)))
}

pub(super) fn concat(operands: &[&TensorType], axis: usize) -> Result<TensorType, String> {
    let first = operands[0];
    let r = first.rank();
    if axis >= r {
        return Err(format!("concat axis {axis} out of range for {first}"));
    }
    let mut total = 0usize;
    for t in operands {
        if t.dtype != first.dtype || t.rank() != r {
            return Err(format!(
                "concat needs operands of one dtype and rank, got {first} and {t}"
            ));
        }
        for i in (0..r).filter(|&i| i != axis) {
            if t.shape.0[i] != first.shape.0[i] {
                return Err(format!(
                    "concat along axis {axis}: {first} and {t} differ on axis {i}"
                ));
            }
        }
        match &t.shape.0[axis] {
            Dim::Fixed(n) => total = total.checked_add(*n).ok_or_else(|| too_large("concat"))?,
            Dim::Sym(x) => {
                return Err(format!(
                    "concat along axis {axis} of {t}: its size {x} is symbolic"
                ))
            }
        }
    }
    let mut dims = first.shape.0.clone();
    dims[axis] = Dim::Fixed(total);
    Ok(TensorType::new(first.dtype, Shape(dims)))
}

pub(super) fn gather(table: &TensorType, indices: &TensorType) -> Result<TensorType, String> {
    if table.rank() == 0 {
        return Err(format!("gather needs a table of rank >= 1, got {table}"));
    }
    if indices.dtype != DType::I32 {
        return Err(format!("gather indices must be i32, got {indices}"));
    }
    let mut dims = indices.shape.0.clone();
    dims.extend(table.shape.0[1..].iter().cloned());
    Ok(TensorType::new(table.dtype, Shape(dims)))
}

pub(super) fn scatter_add(
    operand: &TensorType,
    indices: &TensorType,
    updates: &TensorType,
) -> Result<TensorType, String> {
    if operand.dtype == DType::Bool {
        return Err(format!("scatter_add is not defined on bool, got {operand}"));
    }
    let want = gather(operand, indices)?;
    if *updates != want {
        return Err(format!(
            "scatter_add of {indices} indices into {operand} needs updates {want}, got {updates}"
        ));
    }
    Ok(operand.clone())
}

/// A fixed size, or an error naming what must be fixed.
fn fixed(d: &Dim, what: impl Fn() -> String) -> Result<usize, String> {
    d.fixed()
        .ok_or_else(|| format!("{} must have a fixed size, not {d}", what()))
}

pub(super) fn conv(x: &TensorType, w: &TensorType, c: &ConvAttrs) -> Result<TensorType, String> {
    if x.dtype != w.dtype || !x.dtype.is_float() {
        return Err(format!(
            "conv needs two float operands of one dtype, got {x} and {w}"
        ));
    }
    if x.rank() < 3 || x.rank() != w.rank() {
        return Err(format!(
            "conv needs [N, C, spatial...] and [O, C/groups, kernel...] of equal rank >= 3, got {x} and {w}"
        ));
    }
    let sp = x.rank() - 2;
    lengths(
        "conv",
        sp,
        &[
            ("stride", c.stride.len()),
            ("pad_low", c.pad_low.len()),
            ("pad_high", c.pad_high.len()),
            ("dilation", c.dilation.len()),
            ("lhs_dilation", c.lhs_dilation.len()),
        ],
    )
    .map_err(|e| e.replace("per axis", "per spatial axis"))?;
    positive("conv", "stride", &c.stride)?;
    positive("conv", "dilation", &c.dilation)?;
    positive("conv", "lhs_dilation", &c.lhs_dilation)?;
    if c.groups == 0 {
        return Err("conv `groups` must be at least 1".into());
    }
    let (ch, ch_g, out_ch) = (&x.shape.0[1], &w.shape.0[1], &w.shape.0[0]);
    if c.groups == 1 {
        if ch != ch_g {
            return Err(format!(
                "conv input has {ch} channels but the kernel {w} expects {ch_g}"
            ));
        }
    } else {
        let g = c.groups;
        let n = fixed(ch, || format!("the channel axis of grouped conv input {x}"))?;
        let k = fixed(ch_g, || {
            format!("the channel axis of grouped conv kernel {w}")
        })?;
        let o = fixed(out_ch, || {
            format!("the output channels of grouped conv kernel {w}")
        })?;
        if k.checked_mul(g) != Some(n) {
            return Err(format!(
                "conv with {g} groups of the kernel's {k} channels needs {} input channels, got {x}",
                k.saturating_mul(g)
            ));
        }
        if o % g != 0 {
            return Err(format!(
                "conv output channels {o} of {w} do not split into {g} groups"
            ));
        }
    }
    let mut dims = vec![x.shape.0[0].clone(), out_ch.clone()];
    for i in 0..sp {
        let s = fixed(&x.shape.0[2 + i], || {
            format!("spatial axis {i} of conv input {x}")
        })?;
        let k = fixed(&w.shape.0[2 + i], || {
            format!("spatial axis {i} of conv kernel {w}")
        })?;
        if s == 0 || k == 0 {
            return Err(format!("conv spatial axis {i} is empty in {x} or {w}"));
        }
        let size = dilated(s, c.lhs_dilation[i]).ok_or_else(|| too_large("conv"))?;
        let extent = dilated(k, c.dilation[i]).ok_or_else(|| too_large("conv"))?;
        let y = window_output(size, c.pad_low[i], c.pad_high[i], extent, c.stride[i])
            .ok_or_else(|| {
                format!(
                    "conv output is empty along spatial axis {i}: input {s} (padded {}+{}, dilated by {}) is smaller than the kernel extent {extent}",
                    c.pad_low[i], c.pad_high[i], c.lhs_dilation[i]
                )
            })?;
        dims.push(Dim::Fixed(y));
    }
    Ok(TensorType::new(x.dtype, Shape(dims)))
}

pub(super) fn reduce_window(
    a: &TensorType,
    op: ReduceOp,
    w: &Window,
) -> Result<TensorType, String> {
    let name = op.window_name();
    if a.dtype == DType::Bool {
        return Err(format!("{name} is not defined on bool, got {a}"));
    }
    let r = a.rank();
    lengths(
        name,
        r,
        &[
            ("window", w.size.len()),
            ("stride", w.stride.len()),
            ("pad_low", w.pad_low.len()),
            ("pad_high", w.pad_high.len()),
        ],
    )?;
    positive(name, "window", &w.size)?;
    positive(name, "stride", &w.stride)?;
    let mut dims = Vec::with_capacity(r);
    for i in 0..r {
        let whole = w.size[i] == 1 && w.stride[i] == 1 && w.pad_low[i] == 0 && w.pad_high[i] == 0;
        let d = &a.shape.0[i];
        if whole {
            dims.push(d.clone());
            continue;
        }
        let n = fixed(d, || format!("windowed axis {i} of {name} operand {a}"))?;
        let y = window_output(n, w.pad_low[i], w.pad_high[i], w.size[i], w.stride[i])
            .ok_or_else(|| {
                format!(
                    "{name} output is empty along axis {i}: {n} (padded {}+{}) is smaller than the window {}",
                    w.pad_low[i], w.pad_high[i], w.size[i]
                )
            })?;
        dims.push(Dim::Fixed(y));
    }
    Ok(TensorType::new(a.dtype, Shape(dims)))
}

pub(super) fn random(
    key: &TensorType,
    dist: Dist,
    declared: TensorType,
) -> Result<TensorType, String> {
    if *key != TensorType::scalar(DType::I32) {
        return Err(format!("{} needs an i32[] key, got {key}", dist.name()));
    }
    if !declared.dtype.is_float() {
        return Err(format!("{} produces floats, not {declared}", dist.name()));
    }
    Ok(declared)
}
