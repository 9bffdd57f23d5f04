//! Attention and its companions lowered to primitives: scaled dot-product
//! attention (batched `matmul` over leading axes, heads split by a reshape
//! and a transpose), the key mask and the causal mask as `select`s on the
//! logits, a learned latent array broadcast over the batch, and positional
//! encodings (a learned table, or the sinusoidal one built from `iota`).

use crate::ir::{CmpOp, DType, Dim, Graph, Op, Shape, TensorType, UnaryOp, Value};

use super::softmax;

/// The logit a masked key gets: finite in f32, so that a fully masked row
/// softmaxes to a uniform average of the values instead of NaN, and far
/// enough below any real logit that `exp` of the difference is exactly 0
/// (a masked key then has no effect on any row with one key left).
pub const MASKED_LOGIT: f64 = -1e9;

/// `softmax(q kᵀ / sqrt(d)) v` over the last two axes, leading axes batched.
/// With `heads > 1`, `q`, `k`, `v` are `[N, T, D]` and are split into
/// `[N, heads, T, D / heads]` first and merged back after. `mask` is
/// `[N, Tk]` bool (true = attend); `causal` lets query `i` see keys `j <= i`.
pub(super) fn attention(
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
pub(super) fn latents(g: &mut Graph, weight: Value, shape: Shape) -> Value {
    g.broadcast_to(weight, shape, vec![1, 2])
}

/// `x + PE` for `x: [N, T, D]`: `PE` is the `[T, D]` table `weight`
/// broadcast over the batch, or the sinusoidal table
/// `PE[t, 2i] = sin(t / 10000^(2i/D))`, `PE[t, 2i+1] = cos(same)`.
pub(super) fn positional_encoding(g: &mut Graph, x: Value, weight: Option<Value>) -> Value {
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
