//! The layers that work on positions: embeddings (integer indices to
//! vectors), convolutions and pooling over `[N, C, ...]` with 1 or 2
//! spatial axes, global pooling and `unsqueeze`. Each layer's argument list
//! and shape rule sit above its lowering to primitives (an embedding is one
//! `gather` and `unsqueeze` one `reshape`, written in `passes::lower`).

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{
    dilated, window_output, ConvAttrs, DType, Dim, Graph, ReduceOp, Shape, TensorType, Value,
    Window,
};
use crate::syntax::ast;

use super::arguments::{activation, axis_arg, float_tensor, initializer};
use crate::sema::args::{bind, ArgVal, Bound};
use crate::sema::init::Init;
use crate::sema::model::{Elaborator, Frame};
use crate::sema::program::{Activation, Layer, NodeId};
use crate::sema::value::{Spanned, Val};

/// `embedding(x, vocab, dim)`: `x: i32[N, ...]` to `f32[N, ..., dim]`.
pub fn embedding(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "vocab", "dim", "init"], 3, args)?;
    let xv = b.req("x")?;
    let x = el.tensor(frame, xv)?;
    let xt = el.builder.ty(x).clone();
    if xt.dtype != DType::I32 {
        return Err(Diagnostic::new(
            Code::DTypeMismatch,
            format!("embedding takes integer indices, got {xt}"),
        )
        .at(xv.span, format!("this is {xt}"))
        .help("embed token ids (i32), such as the fields of a `text` data set"));
    }
    let vocab = b.req("vocab")?.positive("the vocabulary size")?;
    let dim = b.req("dim")?.positive("the embedding size")?;
    let init = match b.get("init") {
        Some(v) => initializer(v)?,
        None => Init::Normal {
            mean: 0.0,
            std: 1.0,
        },
    };
    let path = frame.next_layer_path();
    let weight = el.builder.param(
        format!("{path}.weight"),
        TensorType::new(DType::F32, Shape::fixed(&[vocab, dim])),
        init,
        (vocab, dim),
        span,
    )?;
    let mut dims = xt.shape.dims().to_vec();
    dims.push(Dim::Fixed(dim));
    el.builder.node(
        Layer::Embedding { weight },
        vec![x],
        TensorType::new(DType::F32, Shape(dims)),
        &path,
        span,
    )
}

/// A per-axis size argument: one integer for every spatial axis.
fn sizes(v: Option<&Spanned>, default: usize, what: &str) -> Result<usize, Diagnostic> {
    match v {
        Some(v) => v.positive(what),
        None => Ok(default),
    }
}

/// The spatial sizes of `[N, C, s...]` with `d` spatial axes, all fixed.
fn spatial(
    el: &Elaborator<'_>,
    frame: &Frame,
    xv: &Spanned,
    d: usize,
    layer: &str,
) -> Result<(NodeId, TensorType, Vec<usize>), Diagnostic> {
    let x = float_tensor(el, frame, xv, layer, 0)?;
    let t = el.builder.ty(x).clone();
    if t.rank() != d + 2 {
        let want = if d == 1 { "[N, C, L]" } else { "[N, C, H, W]" };
        return Err(Diagnostic::new(
            Code::RankMismatch,
            format!("{layer} takes a tensor {want}, got {t}"),
        )
        .at(xv.span, format!("this is {t}"))
        .help("add a channel axis with `unsqueeze(x, axis: 1)`"));
    }
    let s = t.shape.dims()[2..]
        .iter()
        .map(|d| {
            d.fixed().ok_or_else(|| {
                Diagnostic::new(
                    Code::BadDim,
                    format!("{layer} needs fixed spatial sizes, got {t}"),
                )
                .at(xv.span, "symbolic")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((x, t, s))
}

/// Padding from `padding: 0 | n | "same" | "valid"`: low and high per axis.
fn padding(
    b: &Bound,
    size: &[usize],
    extent: usize,
    stride: usize,
) -> Result<(Vec<usize>, Vec<usize>), Diagnostic> {
    let Some(v) = b.get("padding") else {
        return Ok((vec![0; size.len()], vec![0; size.len()]));
    };
    match &v.val {
        Val::Int(_) => {
            let p = usize::try_from(v.int()?).map_err(|_| {
                Diagnostic::new(Code::BadValue, "padding cannot be negative").at(v.span, "negative")
            })?;
            Ok((vec![p; size.len()], vec![p; size.len()]))
        }
        _ => match v.symbol()? {
            "valid" => Ok((vec![0; size.len()], vec![0; size.len()])),
            "same" => {
                // TensorFlow's rule: the output has ceil(size / stride)
                // positions; an odd total puts the extra zero after.
                let (mut lo, mut hi) = (vec![], vec![]);
                for &s in size {
                    let out = s.div_ceil(stride);
                    let total = ((out - 1) * stride + extent).saturating_sub(s);
                    lo.push(total / 2);
                    hi.push(total - total / 2);
                }
                Ok((lo, hi))
            }
            other => Err(
                Diagnostic::new(Code::BadValue, format!("unknown padding `{other}`"))
                    .at(v.span, "not a padding")
                    .help("write a number of zeros, `same` or `valid`"),
            ),
        },
    }
}

fn output_sizes(
    size: &[usize],
    lo: &[usize],
    hi: &[usize],
    extent: usize,
    stride: usize,
    at: Span,
    layer: &str,
) -> Result<Vec<usize>, Diagnostic> {
    size.iter()
        .zip(lo.iter().zip(hi))
        .map(|(&s, (&l, &h))| {
            window_output(s, l, h, extent, stride).ok_or_else(|| {
                Diagnostic::new(Code::ShapeMismatch, format!("{layer}'s window ({extent}) does not fit in a spatial size of {s} with padding {l}+{h}"))
                    .at(at, "no output position")
                    .help("use a smaller kernel, more padding, or `padding: same`")
            })
        })
        .collect()
}

/// The options every convolution takes after its sizes: `bias` (default
/// true), `activation` and `init` (default Glorot uniform).
struct ConvOptions {
    act: Option<Activation>,
    bias: bool,
    init: Init,
}

impl ConvOptions {
    fn from(b: &Bound) -> Result<ConvOptions, Diagnostic> {
        Ok(ConvOptions {
            act: b.get("activation").map(activation).transpose()?,
            bias: b.get("bias").map(|v| v.bool()).transpose()?.unwrap_or(true),
            init: b
                .get("init")
                .map(initializer)
                .transpose()?
                .unwrap_or(Init::GlorotUniform),
        })
    }

    /// The parameters under `path`: `weight` of shape `wshape`, drawn from
    /// `init` with `fans`, and with `bias` a zero `bias` of one per filter.
    #[allow(clippy::too_many_arguments)]
    fn params(
        &self,
        el: &mut Elaborator<'_>,
        path: &str,
        dtype: DType,
        wshape: &[usize],
        filters: usize,
        fans: (usize, usize),
        span: Span,
    ) -> Result<(NodeId, Option<NodeId>), Diagnostic> {
        let weight = el.builder.param(
            format!("{path}.weight"),
            TensorType::new(dtype, Shape::fixed(wshape)),
            self.init.clone(),
            fans,
            span,
        )?;
        let bias = if self.bias {
            Some(el.builder.param(
                format!("{path}.bias"),
                TensorType::new(dtype, Shape::fixed(&[filters])),
                Init::Zeros,
                fans,
                span,
            )?)
        } else {
            None
        };
        Ok((weight, bias))
    }
}

/// `conv1d`/`conv2d(x, filters, kernel, stride:, padding:, dilation:, groups:, bias:, activation:, init:)`
pub fn conv(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    d: usize,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(
        name,
        call.span,
        &[
            "x",
            "filters",
            "kernel",
            "stride",
            "padding",
            "dilation",
            "groups",
            "bias",
            "activation",
            "init",
        ],
        3,
        args,
    )?;
    let xv = b.req("x")?;
    let (x, xt, size) = spatial(el, frame, xv, d, name)?;
    let channels = xt.shape.dims()[1].fixed().unwrap_or(0);
    let filters = b.req("filters")?.positive("the number of filters")?;
    let kernel = b.req("kernel")?.positive("the kernel size")?;
    let stride = sizes(b.get("stride"), 1, "the stride")?;
    let dilation = sizes(b.get("dilation"), 1, "the dilation")?;
    let groups = sizes(b.get("groups"), 1, "the number of groups")?;
    if channels % groups != 0 || filters % groups != 0 {
        let at = b.get("groups").map(|v| v.span).unwrap_or(call.span);
        return Err(Diagnostic::new(Code::BadValue, format!("{groups} groups must divide both the {channels} input channels and the {filters} filters"))
            .at(at, "does not divide")
            .help("each group convolves channels / groups input channels into filters / groups outputs, so `groups` divides both"));
    }
    let extent = dilated(kernel, dilation).unwrap_or(usize::MAX);
    let (lo, hi) = padding(&b, &size, extent, stride)?;
    let out = output_sizes(&size, &lo, &hi, extent, stride, call.span, name)?;
    let opts = ConvOptions::from(&b)?;
    let path = frame.next_layer_path();
    let per_group = channels / groups;
    let taps = kernel.pow(d as u32);
    let mut wshape = vec![filters, per_group];
    wshape.extend(std::iter::repeat_n(kernel, d));
    // PyTorch's fans, from the weight's shape: a grouped conv's fan-out
    // counts every filter, as its weight's first axis does.
    let fans = (per_group * taps, filters * taps);
    let (weight, bias) = opts.params(el, &path, xt.dtype, &wshape, filters, fans, span)?;
    let attrs = ConvAttrs {
        stride: vec![stride; d],
        pad_low: lo,
        pad_high: hi,
        dilation: vec![dilation; d],
        lhs_dilation: vec![1; d],
        groups,
    };
    let mut dims = vec![xt.shape.dims()[0].clone(), Dim::Fixed(filters)];
    dims.extend(out.into_iter().map(Dim::Fixed));
    let ty = TensorType::new(xt.dtype, Shape(dims));
    let y = el.builder.node(
        Layer::Conv {
            weight,
            bias,
            attrs,
        },
        vec![x],
        ty,
        &path,
        span,
    )?;
    el.builder.activated(y, opts.act, &path, span)
}

/// `max_pool2d(x, size: 2, stride: size, padding: 0)` and friends.
pub fn pool(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    d: usize,
    max: bool,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(
        name,
        call.span,
        &["x", "size", "stride", "padding"],
        2,
        args,
    )?;
    let xv = b.req("x")?;
    let (x, xt, size) = spatial(el, frame, xv, d, name)?;
    let k = sizes(b.get("size"), 2, "the window size")?;
    let stride = sizes(b.get("stride"), k, "the stride")?;
    let (lo, hi) = padding(&b, &size, k, stride)?;
    if let Some(v) = b.get("padding").filter(|_| lo[0] > k / 2) {
        // PyTorch's rule; a larger padding makes windows that see only
        // padding, where a max pool has nothing to take the maximum of.
        return Err(Diagnostic::new(
            Code::BadValue,
            format!("{name} takes a padding of at most half its window ({k} / 2 = {}), got {}", k / 2, lo[0]),
        )
        .at(v.span, "more than half the window")
        .help(format!("padding is at most size / 2, so every window holds at least one input element; use `padding: {}` or a larger `size:`", k / 2)));
    }
    let out = output_sizes(&size, &lo, &hi, k, stride, call.span, name)?;
    let pad = |v: Vec<usize>| [0, 0].into_iter().chain(v).collect::<Vec<_>>();
    let window = Window {
        size: [1, 1]
            .into_iter()
            .chain(std::iter::repeat_n(k, d))
            .collect(),
        stride: [1, 1]
            .into_iter()
            .chain(std::iter::repeat_n(stride, d))
            .collect(),
        pad_low: pad(lo),
        pad_high: pad(hi),
    };
    let mut dims = xt.shape.dims()[..2].to_vec();
    dims.extend(out.into_iter().map(Dim::Fixed));
    el.builder.node(
        Layer::Pool { max, window },
        vec![x],
        TensorType::new(xt.dtype, Shape(dims)),
        &frame.binding,
        span,
    )
}

/// `global_avg_pool(x)`: `[N, C, ...] -> [N, C]`.
pub fn global_avg_pool(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x"], 1, args)?;
    let x = float_tensor(el, frame, b.req("x")?, name, 3)?;
    let t = el.builder.ty(x).clone();
    let ty = TensorType::new(t.dtype, Shape(t.shape.dims()[..2].to_vec()));
    el.builder
        .node(Layer::GlobalAvgPool, vec![x], ty, &frame.binding, span)
}

/// `unsqueeze(x, axis: 1)`: a new axis of size 1 (a channel axis for images).
pub fn unsqueeze(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "axis"], 2, args)?;
    let x = el.tensor(frame, b.req("x")?)?;
    let t = el.builder.ty(x).clone();
    let axis = axis_arg(b.req("axis")?, t.rank() + 1)?;
    if axis == 0 {
        let v = b.req("axis")?;
        return Err(Diagnostic::new(
            Code::BadValue,
            "axis 0 is the batch; a new axis goes after it",
        )
        .at(v.span, "the batch axis"));
    }
    let mut dims = t.shape.dims().to_vec();
    dims.insert(axis, Dim::Fixed(1));
    el.builder.node(
        Layer::Reshape,
        vec![x],
        TensorType::new(t.dtype, Shape(dims)),
        &frame.binding,
        span,
    )
}

/// `conv_transpose2d(x, filters, kernel, stride: 1, padding: 0,
/// output_padding: 0, bias:, activation:, init:)`, PyTorch's
/// `ConvTranspose2d` with one group: `[N, C, H, W]` to `[N, filters, H', W']`
/// with `H' = (H - 1) * stride - 2 * padding + kernel + output_padding`.
/// The weight is `[C, filters, k, k]`, PyTorch's layout.
pub fn conv_transpose(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(
        name,
        call.span,
        &[
            "x",
            "filters",
            "kernel",
            "stride",
            "padding",
            "output_padding",
            "bias",
            "activation",
            "init",
        ],
        3,
        args,
    )?;
    let xv = b.req("x")?;
    let (x, xt, size) = spatial(el, frame, xv, 2, name)?;
    let channels = xt.shape.dims()[1].fixed().unwrap_or(0);
    let filters = b.req("filters")?.positive("the number of filters")?;
    let kernel = b.req("kernel")?.positive("the kernel size")?;
    let stride = sizes(b.get("stride"), 1, "the stride")?;
    let count = |key: &str| -> Result<(usize, Span), Diagnostic> {
        match b.get(key) {
            Some(v) => {
                let n = usize::try_from(v.int()?).map_err(|_| {
                    Diagnostic::new(Code::BadValue, format!("`{key}` cannot be negative"))
                        .at(v.span, "negative")
                })?;
                Ok((n, v.span))
            }
            None => Ok((0, call.span)),
        }
    };
    let (pad, pad_at) = count("padding")?;
    let (extra, extra_at) = count("output_padding")?;
    if extra >= stride {
        return Err(Diagnostic::new(
            Code::BadValue,
            format!("{name} takes an output_padding below the stride ({stride}), got {extra}"),
        )
        .at(extra_at, "not below the stride")
        .help("output_padding picks one of the `stride` output sizes that a strided convolution maps to the same input size"));
    }
    let mut out = Vec::with_capacity(2);
    for &s in &size {
        // PyTorch's rule: the full output, `(s - 1) * stride + kernel +
        // output_padding`, loses `padding` positions at each end.
        let y = ((s - 1) * stride + kernel + extra).checked_sub(2 * pad);
        match y {
            Some(y) if y > 0 => out.push(y),
            _ => {
                return Err(Diagnostic::new(
                    Code::ShapeMismatch,
                    format!("{name} of a spatial size of {s} with kernel {kernel} and padding {pad} has no output position"),
                )
                .at(pad_at, "too much padding")
                .help(format!("the output is (size - 1) * stride - 2 * padding + kernel + output_padding = ({s} - 1) * {stride} - 2 * {pad} + {kernel} + {extra}, which must be at least 1; use less padding")))
            }
        }
    }
    let opts = ConvOptions::from(&b)?;
    let path = frame.next_layer_path();
    let taps = kernel * kernel;
    // PyTorch's fans for this layout: axis 1 is the fan-in.
    let fans = (filters * taps, channels * taps);
    let wshape = [channels, filters, kernel, kernel];
    let (weight, bias) = opts.params(el, &path, xt.dtype, &wshape, filters, fans, span)?;
    // A padding beyond `kernel - 1` would pad the equivalent conv by a
    // negative amount: it pads as for `kernel - 1`, and the lowering crops
    // the rest, as much at each end, to the type given here.
    let kept = pad.min(kernel - 1);
    let attrs = ConvAttrs {
        stride: vec![1; 2],
        pad_low: vec![kernel - 1 - kept; 2],
        pad_high: vec![kernel - 1 - kept + extra; 2],
        dilation: vec![1; 2],
        lhs_dilation: vec![stride; 2],
        groups: 1,
    };
    let mut dims = vec![xt.shape.dims()[0].clone(), Dim::Fixed(filters)];
    dims.extend(out.into_iter().map(Dim::Fixed));
    let ty = TensorType::new(xt.dtype, Shape(dims));
    let y = el.builder.node(
        Layer::ConvTranspose {
            weight,
            bias,
            attrs,
        },
        vec![x],
        ty,
        &path,
        span,
    )?;
    el.builder.activated(y, opts.act, &path, span)
}

// Lowering: the layers above as primitives.

/// A convolution (`conv` with the checked attributes), then the bias per
/// channel (axis 1).
pub(crate) fn lower_conv(
    g: &mut Graph,
    x: Value,
    w: Value,
    b: Option<Value>,
    attrs: &ConvAttrs,
) -> Value {
    let y = g.conv(x, w, attrs.clone());
    add_channel_bias(g, y, b)
}

/// A transposed convolution as the conv of the stride-dilated input (the
/// attributes' `lhs_dilation`) with the mirrored kernel: `[C, F, k, k]` to
/// the `[F, C, k, k]` of a conv, flipped in both spatial axes.
/// A padding beyond `kernel - 1` crops the rest equally from both ends of
/// each spatial axis, down to the layer's type `out`.
pub(crate) fn lower_conv_transpose(
    g: &mut Graph,
    x: Value,
    w: Value,
    b: Option<Value>,
    attrs: &ConvAttrs,
    out: &TensorType,
) -> Value {
    let w = g.transpose(w, vec![1, 0, 2, 3]);
    let w = g.reverse(w, vec![2, 3]);
    let mut y = g.conv(x, w, attrs.clone());
    for axis in 2..4 {
        let have = g.ty(y).shape.dims()[axis].fixed();
        let want = out.shape.dims()[axis].fixed();
        if let (Some(have), Some(want)) = (have, want) {
            if have > want {
                let crop = (have - want) / 2;
                y = g.slice_axis(y, axis, crop, crop + want);
            }
        }
    }
    add_channel_bias(g, y, b)
}

fn add_channel_bias(g: &mut Graph, y: Value, b: Option<Value>) -> Value {
    match b {
        Some(b) => {
            let shape = g.ty(y).shape.clone();
            let bb = g.broadcast_to(b, shape, vec![1]);
            g.add(y, bb)
        }
        None => y,
    }
}

/// Max pooling as a windowed max; average pooling as a windowed sum over
/// the number of taps (padding counts as zeros, as in PyTorch's default).
pub(crate) fn lower_pool(g: &mut Graph, x: Value, max: bool, window: &Window) -> Value {
    if max {
        g.reduce_window(ReduceOp::Max, x, window.clone())
    } else {
        let s = g.reduce_window(ReduceOp::Sum, x, window.clone());
        let taps: usize = window.size.iter().product();
        g.scale(s, 1.0 / taps as f64)
    }
}

/// The mean over every spatial axis (all axes after the first two).
pub(crate) fn lower_global_avg_pool(g: &mut Graph, x: Value) -> Value {
    let r = g.ty(x).rank();
    g.mean(x, (2..r).collect())
}
