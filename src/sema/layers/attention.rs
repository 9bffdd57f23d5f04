//! The attention layers: scaled dot-product `attention`,
//! `multi_head_attention` (self-attention with learned projections),
//! `cross_attention` (queries from one sequence, keys and values from
//! another), the learned `latents` array, `positional_encoding`, and the
//! `mean` over one axis that pools a set of tokens. Projections are ordinary
//! `Dense` nodes, so only the attention core is a new layer. The argument
//! lists and shape rules come first, the lowering to primitives after.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{CmpOp, DType, Dim, Graph, Op, Shape, TensorType, UnaryOp, Value};
use crate::syntax::ast;

use super::arguments::{float_tensor, initializer};
use super::dense::softmax;
use crate::sema::args::{bind, ArgVal};
use crate::sema::builder::with_last;
use crate::sema::init::Init;
use crate::sema::model::{Elaborator, Frame};
use crate::sema::program::{Layer, NodeId};
use crate::sema::value::Spanned;

/// Two tensors that must agree on `axis`, with the axis named in the note.
fn axis_mismatch(
    what: &str,
    a: &TensorType,
    sa: Span,
    b: &TensorType,
    sb: Span,
    axis: usize,
) -> Diagnostic {
    Diagnostic::new(Code::ShapeMismatch, format!("{what} {a} and {b}"))
        .at(sa, format!("{a}"))
        .also(sb, format!("{b}"))
        .note(format!(
            "dimension {axis} differs: {} vs {}",
            a.shape.dims()[axis],
            b.shape.dims()[axis]
        ))
}

/// A float sequence `[N, T, F]` (or `[N, H, T, F]` when `heads_axis`) with
/// a fixed feature size.
fn sequence(
    el: &Elaborator<'_>,
    frame: &Frame,
    v: &Spanned,
    layer: &str,
    heads_axis: bool,
) -> Result<(NodeId, TensorType), Diagnostic> {
    let x = float_tensor(el, frame, v, layer, 0)?;
    let t = el.builder.ty(x).clone();
    if t.rank() != 3 && !(heads_axis && t.rank() == 4) {
        let want = if heads_axis {
            "[N, T, D] or [N, H, T, D]"
        } else {
            "[N, T, D]"
        };
        return Err(Diagnostic::new(
            Code::RankMismatch,
            format!("{layer} takes sequences {want}, got {t}"),
        )
        .at(v.span, format!("this is {t}"))
        .help("a sequence is a batch of tokens, each a feature vector; `unsqueeze(x, axis: 2)` makes [N, T] a sequence of one feature"));
    }
    if t.shape.dims().last().and_then(Dim::fixed).is_none() {
        return Err(Diagnostic::new(
            Code::BadDim,
            format!("{layer} needs a fixed feature size, got {t}"),
        )
        .at(v.span, "the last dimension is symbolic"));
    }
    Ok((x, t))
}

fn features(t: &TensorType) -> usize {
    t.shape
        .dims()
        .last()
        .and_then(Dim::fixed)
        .expect("internal: fixed features checked by `sequence`")
}

/// The key mask: `bool[N, Tk]`, true where a key may be attended.
fn key_mask(
    el: &Elaborator<'_>,
    frame: &Frame,
    v: &Spanned,
    layer: &str,
    keys: &TensorType,
) -> Result<NodeId, Diagnostic> {
    let m = el.tensor(frame, v)?;
    let mt = el.builder.ty(m).clone();
    let d = keys.shape.dims();
    let want = TensorType::new(
        DType::Bool,
        Shape(vec![d[0].clone(), d[d.len() - 2].clone()]),
    );
    if mt.dtype != DType::Bool {
        return Err(Diagnostic::new(
            Code::DTypeMismatch,
            format!("the mask of {layer} must be {want}, got {mt}"),
        )
        .at(v.span, format!("this is {mt}"))
        .help("a key mask holds one flag per key: true where the key may be attended, false at padding"));
    }
    if mt != want {
        return Err(Diagnostic::new(
            Code::ShapeMismatch,
            format!("the mask of {layer} must be {want}, got {mt}"),
        )
        .at(v.span, format!("this is {mt}"))
        .help(format!(
            "one flag per key of each sample: the keys are {keys}, {} per sample",
            d[d.len() - 2]
        )));
    }
    Ok(m)
}

fn causal_arg(v: Option<&Spanned>) -> Result<bool, Diagnostic> {
    v.map_or(Ok(false), Spanned::bool)
}

/// `attention(q, k, v, mask:, causal:)`: softmax(q kᵀ / sqrt(d)) v.
pub fn attention(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["q", "k", "v", "mask", "causal"], 3, args)?;
    let (qv, kv, vv) = (b.req("q")?, b.req("k")?, b.req("v")?);
    let (q, qt) = sequence(el, frame, qv, name, true)?;
    let (k, kt) = sequence(el, frame, kv, name, true)?;
    let (v, vt) = sequence(el, frame, vv, name, true)?;
    for (t, s) in [(&kt, kv.span), (&vt, vv.span)] {
        if t.dtype != qt.dtype {
            return Err(Diagnostic::new(
                Code::DTypeMismatch,
                format!("{name} takes q, k and v of one dtype, got {qt} and {t}"),
            )
            .at(qv.span, format!("{qt}"))
            .also(s, format!("{t}")));
        }
        if t.rank() != qt.rank() {
            return Err(crate::sema::shape::mismatch(
                &format!("{name} takes q, k and v of one rank, got"),
                &qt,
                qv.span,
                t,
                s,
            ));
        }
    }
    let r = qt.rank();
    // Batch (and head) axes, then keys and values of one length.
    for axis in 0..r - 2 {
        if kt.shape.dims()[axis] != qt.shape.dims()[axis] {
            return Err(axis_mismatch(
                &format!("{name} pairs queries and keys of types"),
                &qt,
                qv.span,
                &kt,
                kv.span,
                axis,
            )
            .help("queries and keys need the same batch (and head) axes"));
        }
    }
    if features(&qt) != features(&kt) {
        return Err(axis_mismatch(
            &format!("{name} compares queries and keys of types"),
            &qt,
            qv.span,
            &kt,
            kv.span,
            r - 1,
        )
        .help("a query is compared with each key by a dot product: both need the same feature size (the last axis); project one with `dense`"));
    }
    for axis in 0..r - 1 {
        if vt.shape.dims()[axis] != kt.shape.dims()[axis] {
            return Err(axis_mismatch(
                &format!("{name} pairs keys and values of types"),
                &kt,
                kv.span,
                &vt,
                vv.span,
                axis,
            )
            .help(
                "every key needs its value: keys and values need the same batch axes and length",
            ));
        }
    }
    let mut node_args = vec![q, k, v];
    let masked = match b.get("mask") {
        Some(mv) => {
            node_args.push(key_mask(el, frame, mv, name, &kt)?);
            true
        }
        None => false,
    };
    let causal = causal_arg(b.get("causal"))?;
    el.builder.node(
        Layer::Attention {
            heads: 1,
            causal,
            masked,
        },
        node_args,
        with_last(&qt, features(&vt)),
        &frame.binding,
        span,
    )
}

/// `heads` and `dim`, with `dim` divisible by `heads`.
fn heads_and_dim(b: &crate::sema::args::Bound, name: &str) -> Result<(usize, usize), Diagnostic> {
    let hv = b.req("heads")?;
    let heads = hv.positive("the number of heads")?;
    let dv = b.req("dim")?;
    let dim = dv.positive("the attention size")?;
    if !dim.is_multiple_of(heads) {
        let lower = dim / heads * heads;
        let upper = lower + heads;
        let mut fixes = vec![format!("`dim: {upper}`")];
        if lower > 0 {
            fixes.insert(0, format!("`dim: {lower}`"));
        }
        return Err(Diagnostic::new(
            Code::BadValue,
            format!(
                "`dim` of {name} must be divisible by `heads`: {dim} is not a multiple of {heads}"
            ),
        )
        .at(dv.span, format!("{dim} features"))
        .also(hv.span, format!("{heads} heads"))
        .help(format!(
            "each head attends over dim / heads features; try {}",
            fixes.join(" or ")
        )));
    }
    Ok((heads, dim))
}

/// A learned projection `x · W (+ b)` to `units`, with parameters
/// `<path>.<name>.weight` and `.bias` (Glorot uniform and zeros, as
/// `dense`); a `Dense` node.
fn project(
    el: &mut Elaborator<'_>,
    path: &str,
    name: &str,
    x: NodeId,
    units: usize,
    bias: bool,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let xt = el.builder.ty(x).clone();
    let fan_in = features(&xt);
    let weight = el.builder.param(
        format!("{path}.{name}.weight"),
        TensorType::new(xt.dtype, Shape::fixed(&[fan_in, units])),
        Init::GlorotUniform,
        (fan_in, units),
        span,
    )?;
    let bias = if bias {
        Some(el.builder.param(
            format!("{path}.{name}.bias"),
            TensorType::new(xt.dtype, Shape::fixed(&[units])),
            Init::Zeros,
            (fan_in, units),
            span,
        )?)
    } else {
        None
    };
    el.builder.node(
        Layer::Dense { weight, bias },
        vec![x],
        with_last(&xt, units),
        path,
        span,
    )
}

/// Projections of queries (from `qx`) and keys and values (from `kx`),
/// attention with `heads`, and the output projection: the body shared by
/// self- and cross-attention. The key projection has no bias: it would add
/// `q · b` to every logit of a query's row, which the softmax cancels, so
/// its gradient is exactly 0 and an optimizer like Adam would only move it
/// by rounding noise.
#[allow(clippy::too_many_arguments)]
fn projected_attention(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    qx: NodeId,
    kx: NodeId,
    heads: usize,
    dim: usize,
    causal: bool,
    mask: Option<NodeId>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let path = frame.next_layer_path();
    let q = project(el, &path, "wq", qx, dim, true, span)?;
    let k = project(el, &path, "wk", kx, dim, false, span)?;
    let v = project(el, &path, "wv", kx, dim, true, span)?;
    let ty = el.builder.ty(q).clone();
    let mut node_args = vec![q, k, v];
    node_args.extend(mask);
    let a = el.builder.node(
        Layer::Attention {
            heads,
            causal,
            masked: mask.is_some(),
        },
        node_args,
        ty,
        &path,
        span,
    )?;
    project(el, &path, "wo", a, dim, true, span)
}

/// `multi_head_attention(x, heads, dim, causal:, mask:)`: self-attention
/// over `x: [N, T, E]` to `[N, T, dim]`.
pub fn multi_head_attention(
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
        &["x", "heads", "dim", "causal", "mask"],
        3,
        args,
    )?;
    let (x, xt) = sequence(el, frame, b.req("x")?, name, false)?;
    let (heads, dim) = heads_and_dim(&b, name)?;
    let causal = causal_arg(b.get("causal"))?;
    let mask = match b.get("mask") {
        Some(mv) => Some(key_mask(el, frame, mv, name, &xt)?),
        None => None,
    };
    projected_attention(el, frame, x, x, heads, dim, causal, mask, span)
}

/// `cross_attention(latents, x, heads, dim, mask:)`: queries from
/// `latents: [N, M, D]`, keys and values from `x: [N, T, E]`; `[N, M, dim]`.
pub fn cross_attention(
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
        &["latents", "x", "heads", "dim", "mask"],
        4,
        args,
    )?;
    let (lv, xv) = (b.req("latents")?, b.req("x")?);
    let (l, lt) = sequence(el, frame, lv, name, false)?;
    let (x, xt) = sequence(el, frame, xv, name, false)?;
    if lt.dtype != xt.dtype {
        return Err(Diagnostic::new(
            Code::DTypeMismatch,
            format!("{name} takes latents and inputs of one dtype, got {lt} and {xt}"),
        )
        .at(lv.span, format!("{lt}"))
        .also(xv.span, format!("{xt}")));
    }
    if lt.shape.dims()[0] != xt.shape.dims()[0] {
        return Err(axis_mismatch(
            &format!("{name} pairs latents and inputs of types"),
            &lt,
            lv.span,
            &xt,
            xv.span,
            0,
        )
        .help("the latents and the inputs need the same batch; `latents(x, count:, dim:)` makes latents with x's batch"));
    }
    let (heads, dim) = heads_and_dim(&b, name)?;
    let mask = match b.get("mask") {
        Some(mv) => Some(key_mask(el, frame, mv, name, &xt)?),
        None => None,
    };
    projected_attention(el, frame, l, x, heads, dim, false, mask, span)
}

/// `latents(x, count, dim, init:)`: a learned `[count, dim]` array
/// broadcast over `x`'s batch (only `x`'s first axis is used).
pub fn latents(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "count", "dim", "init"], 3, args)?;
    let xv = b.req("x")?;
    let x = el.tensor(frame, xv)?;
    let xt = el.builder.ty(x).clone();
    if xt.rank() == 0 {
        return Err(Diagnostic::new(
            Code::RankMismatch,
            format!("{name} takes a batch of samples to size its result, got {xt}"),
        )
        .at(xv.span, "a scalar has no batch axis"));
    }
    let count = b.req("count")?.positive("the number of latents")?;
    let dim = b.req("dim")?.positive("the latent size")?;
    let init = match b.get("init") {
        Some(v) => initializer(v)?,
        None => Init::Normal {
            mean: 0.0,
            std: 1.0,
        },
    };
    let dtype = if xt.dtype.is_float() {
        xt.dtype
    } else {
        DType::F32
    };
    let path = frame.next_layer_path();
    let weight = el.builder.param(
        format!("{path}.weight"),
        TensorType::new(dtype, Shape::fixed(&[count, dim])),
        init,
        (count, dim),
        span,
    )?;
    let ty = TensorType::new(
        dtype,
        Shape(vec![
            xt.shape.dims()[0].clone(),
            Dim::Fixed(count),
            Dim::Fixed(dim),
        ]),
    );
    el.builder
        .node(Layer::Latents { weight }, vec![x], ty, &path, span)
}

/// `positional_encoding(x, kind: sinusoidal|learned, init:)` on `[N, T, D]`.
pub fn positional_encoding(
    el: &mut Elaborator<'_>,
    frame: &mut Frame,
    call: &ast::Call,
    args: Vec<ArgVal>,
    span: Span,
) -> Result<NodeId, Diagnostic> {
    let name = call.callee.name.as_str();
    let b = bind(name, call.span, &["x", "kind", "init"], 1, args)?;
    let xv = b.req("x")?;
    let (x, xt) = sequence(el, frame, xv, name, false)?;
    let d = features(&xt);
    let learned = match b.get("kind") {
        None => false,
        Some(v) => match v.symbol()? {
            "sinusoidal" => false,
            "learned" => true,
            other => {
                return Err(Diagnostic::new(
                    Code::BadValue,
                    format!("unknown positional encoding `{other}`"),
                )
                .at(v.span, "not a kind of encoding")
                .help("the kinds are: sinusoidal, learned"))
            }
        },
    };
    if b.get("init").is_some() && !learned {
        let v = b.req("init")?;
        return Err(Diagnostic::new(
            Code::BadValue,
            "only a learned positional encoding has an initializer",
        )
        .at(v.span, "nothing to initialize")
        .help("add `kind: learned`, or remove `init:`"));
    }
    let weight = if learned {
        let t = xt.shape.dims()[1].fixed().ok_or_else(|| {
            Diagnostic::new(
                Code::BadDim,
                format!("a learned positional encoding needs a fixed length, got {xt}"),
            )
            .at(xv.span, "the length (dimension 1) is symbolic")
            .help("`kind: sinusoidal` encodes sequences of any length")
        })?;
        let init = match b.get("init") {
            Some(v) => initializer(v)?,
            None => Init::Normal {
                mean: 0.0,
                std: 0.02,
            },
        };
        let path = frame.next_layer_path();
        Some(el.builder.param(
            format!("{path}.weight"),
            TensorType::new(xt.dtype, Shape::fixed(&[t, d])),
            init,
            (t, d),
            span,
        )?)
    } else {
        if !d.is_multiple_of(2) {
            return Err(Diagnostic::new(
                Code::BadValue,
                format!("the sinusoidal encoding pairs features as sin and cos, but {xt} has an odd feature size"),
            )
            .at(xv.span, format!("{d} features"))
            .help("make the feature size even, or use `kind: learned`"));
        }
        None
    };
    el.builder.node(
        Layer::PositionalEncoding { weight },
        vec![x],
        xt,
        &frame.binding,
        span,
    )
}

// Lowering: Attention and its companions lowered to primitives: scaled dot-product
// attention (batched `matmul` over leading axes, heads split by a reshape
// and a transpose), the key mask and the causal mask as `select`s on the
// logits, a learned latent array broadcast over the batch, and positional
// encodings (a learned table, or the sinusoidal one built from `iota`).

/// The logit a masked key gets: finite in f32, so that a fully masked row
/// softmaxes to a uniform average of the values instead of NaN, and far
/// enough below any real logit that `exp` of the difference is exactly 0
/// (a masked key then has no effect on any row with one key left).
pub const MASKED_LOGIT: f64 = -1e9;

/// `softmax(q kᵀ / sqrt(d)) v` over the last two axes, leading axes batched.
/// With `heads > 1`, `q`, `k`, `v` are `[N, T, D]` and are split into
/// `[N, heads, T, D / heads]` first and merged back after. `mask` is
/// `[N, Tk]` bool (true = attend); `causal` lets query `i` see keys `j <= i`.
pub(crate) fn lower_attention(
    g: &mut Graph,
    q: Value,
    k: Value,
    v: Value,
    mask: Option<Value>,
    heads: usize,
    causal: bool,
) -> Value {
    let (q, k, v) = if heads > 1 {
        (
            split_heads(g, q, heads),
            split_heads(g, k, heads),
            split_heads(g, v, heads),
        )
    } else {
        (q, k, v)
    };
    let d = g.ty(q).shape.dims().last().and_then(Dim::fixed);
    let d = d.expect("internal: attention features are fixed (checked by sema)");
    // Scaling q (Tq·d elements) is cheaper than scaling the logits (Tq·Tk).
    let qs = g.scale(q, 1.0 / (d as f64).sqrt());
    let kt = g.transpose_last2(k);
    let mut logits = g.matmul(qs, kt);
    let lt = g.ty(logits).clone();
    let r = lt.rank();
    if let Some(m) = mask {
        let mb = g.broadcast_to(m, lt.shape.clone(), vec![0, r - 1]);
        let neg = g.constant_like(MASKED_LOGIT, logits);
        logits = g.select(mb, logits, neg);
    }
    if causal {
        let ity = TensorType::new(DType::I32, lt.shape.clone());
        let qi = g.push(Op::Iota { axis: r - 2 }, &[], Some(ity.clone()));
        let ki = g.push(Op::Iota { axis: r - 1 }, &[], Some(ity));
        let seen = g.compare(CmpOp::Le, ki, qi);
        let neg = g.constant_like(MASKED_LOGIT, logits);
        logits = g.select(seen, logits, neg);
    }
    let p = softmax(g, logits, r - 1, false);
    let out = g.matmul(p, v);
    if heads > 1 {
        merge_heads(g, out)
    } else {
        out
    }
}

/// `[N, T, D] -> [N, heads, T, D / heads]`: head `h` takes features
/// `h·d .. (h+1)·d`, as PyTorch's `nn.MultiheadAttention` splits them.
fn split_heads(g: &mut Graph, x: Value, heads: usize) -> Value {
    let dims = g.ty(x).shape.dims().to_vec();
    let d = dims[2].fixed().expect("internal: fixed features") / heads;
    let r = g.reshape(
        x,
        Shape(vec![
            dims[0].clone(),
            dims[1].clone(),
            Dim::Fixed(heads),
            Dim::Fixed(d),
        ]),
    );
    g.transpose(r, vec![0, 2, 1, 3])
}

/// `[N, heads, T, d] -> [N, T, heads·d]`, the inverse of [`split_heads`].
fn merge_heads(g: &mut Graph, x: Value) -> Value {
    let t = g.transpose(x, vec![0, 2, 1, 3]);
    let dims = g.ty(t).shape.dims().to_vec();
    let f = dims[2].fixed().expect("internal: fixed heads") * dims[3].fixed().expect("fixed d");
    g.reshape(
        t,
        Shape(vec![dims[0].clone(), dims[1].clone(), Dim::Fixed(f)]),
    )
}

/// The `[M, D]` parameter broadcast to `shape` (`[N, M, D]`).
pub(crate) fn lower_latents(g: &mut Graph, weight: Value, shape: Shape) -> Value {
    g.broadcast_to(weight, shape, vec![1, 2])
}

/// `x + PE` for `x: [N, T, D]`: `PE` is the `[T, D]` table `weight`
/// broadcast over the batch, or the sinusoidal table
/// `PE[t, 2i] = sin(t / 10000^(2i/D))`, `PE[t, 2i+1] = cos(same)`.
pub(crate) fn lower_positional_encoding(g: &mut Graph, x: Value, weight: Option<Value>) -> Value {
    let xt = g.ty(x).clone();
    let table = match weight {
        Some(w) => w,
        None => sinusoidal(g, &xt),
    };
    let pe = g.broadcast_to(table, xt.shape.clone(), vec![1, 2]);
    g.add(x, pe)
}

/// The `[T, D]` sinusoidal table (D even), built as `[T, D/2, 2]` from
/// `iota`s: position `t`, pair `i`, and phase `p` (0 for sin, 1 for cos, as
/// `cos a = sin(a + π/2)`), then reshaped so pairs interleave.
fn sinusoidal(g: &mut Graph, xt: &TensorType) -> Value {
    let dims = xt.shape.dims();
    let (t, d) = (dims[1].clone(), dims[2].fixed().expect("internal: fixed D"));
    let ty = TensorType::new(
        xt.dtype,
        Shape(vec![t.clone(), Dim::Fixed(d / 2), Dim::Fixed(2)]),
    );
    let pos = g.push(Op::Iota { axis: 0 }, &[], Some(ty.clone()));
    let pair = g.push(Op::Iota { axis: 1 }, &[], Some(ty.clone()));
    let phase = g.push(Op::Iota { axis: 2 }, &[], Some(ty));
    // 10000^(-2i/D) = exp(-2i ln(10000) / D)
    let e = g.scale(pair, -2.0 * 10000f64.ln() / d as f64);
    let freq = g.unary(UnaryOp::Exp, e);
    let a = g.mul(pos, freq);
    let shift = g.scale(phase, std::f64::consts::FRAC_PI_2);
    let a = g.add(a, shift);
    let s = g.unary(UnaryOp::Sin, a);
    g.reshape(s, Shape(vec![t, Dim::Fixed(d)]))
}
